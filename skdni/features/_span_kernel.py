"""Compiled fill of range / impulse / depth labels from node spans (numba).

The reference is :meth:`ParseTreeFeaturizer._count_blocks` (difference arrays and
cumulative sums over every (row, column) cell); this kernel gives the same labels
while writing only the nonzero cells: it sweeps the rows once, keeps the nesting
count of every column and the set of columns open at the current row, and writes
those. With a hundred node types and a syntax-tree depth of ten, that is ~30 writes
per row instead of 300 — the output stays zero (fresh pages) elsewhere. Each row is
finished (impulses too) before the next, so every page of the output is written
while it is hot, and the sweep can stop after any row and resume later: the
``out=`` path fills one small reused block of rows at a time.
"""

import numpy as np

from .._numba import kernel

# state slots: next span to open (by start), to close (by end), to mark its last
# row (by end), number of open columns, next row
_OPEN, _CLOSE, _LAST, _N_ACTIVE, _ROW = range(5)


@kernel(nogil=True)
def _sweep(
    out,
    row_end,
    start,
    end,
    col,
    by_end,
    state,
    counts,
    active,
    slot,
    range_at,
    impulse_at,
    depth_at,
    scale,
    tree,
    tree_scale,
    write_from,
):
    """Advance the sweep to ``row_end``, writing rows ``write_from`` .. on into
    ``out[row - write_from]`` (rows before ``write_from`` are only counted)."""
    n_spans = start.shape[0]
    i, j, m, n_active, first = state[0], state[1], state[2], state[3], state[4]
    last_col = out.shape[1] - 1
    for t in range(first, row_end):
        # spans [s, e) with e == t close before row t; those with s == t open
        while j < n_spans and end[by_end[j]] <= t:
            c = col[by_end[j]]
            counts[c] -= 1
            if counts[c] == 0:
                last = active[n_active - 1]
                active[slot[c]] = last
                slot[last] = slot[c]
                slot[c] = -1
                n_active -= 1
            j += 1
        write = t >= write_from
        r = t - write_from
        while i < n_spans and start[i] <= t:
            c = col[i]
            if counts[c] == 0:
                active[n_active] = c
                slot[c] = n_active
                n_active += 1
            counts[c] += 1
            if write and impulse_at >= 0:
                out[r, impulse_at + c] = 1.0
            i += 1
        # spans whose last row is t
        while m < n_spans and end[by_end[m]] <= t + 1:
            if write and impulse_at >= 0:
                out[r, impulse_at + col[by_end[m]]] = 1.0
            m += 1
        if not write:
            continue
        for a in range(n_active):
            c = active[a]
            if range_at >= 0:
                out[r, range_at + c] = 1.0
            if depth_at >= 0:
                out[r, depth_at + c] = min(counts[c] / scale[c], 1.0)
        if tree.shape[0]:
            out[r, last_col] = min(tree[t] / tree_scale, 1.0)
    state[0], state[1], state[2], state[3] = i, j, m, n_active
    state[4] = max(first, row_end)


class SpanFill:
    """Writes ``range`` (1 where a span of a column covers a row), ``impulse`` (1 on
    a span's first and last row) and ``depth`` (covering spans / ``scale``, clipped
    to 1) into zeros, rows in increasing order, in one call or block by block.

    Parameters
    ----------
    start, end : ndarray of int64
        Row spans ``[start, end)``, nonempty.
    col : ndarray of int64
        Column (0 .. n_cols - 1) of each span, relative to ``range_at`` /
        ``impulse_at`` / ``depth_at``.
    n_cols : int
    range_at, impulse_at, depth_at : int
        First output column of each block; -1 to leave it out.
    scale : ndarray of float64 of shape (n_cols,)
        Divisor of the depth counts.
    tree : ndarray of int of shape (n_rows,) or (0,)
        Counts written to the last column divided by ``tree_scale`` (clipped to
        1); empty to leave the last column alone.
    tree_scale : float
    """

    def __init__(
        self,
        start,
        end,
        col,
        n_cols,
        range_at,
        impulse_at,
        depth_at,
        scale,
        tree,
        tree_scale,
    ):
        order = np.argsort(start, kind="stable")
        self.start, self.end, self.col = start[order], end[order], col[order]
        self.by_end = np.argsort(self.end, kind="stable")
        self.state = np.zeros(5, dtype=np.int64)
        self.counts = np.zeros(n_cols, dtype=np.int64)
        # open columns: active[:n_active]; slot[c] is c's index in active (or -1)
        self.active = np.empty(n_cols, dtype=np.int64)
        self.slot = np.full(n_cols, -1, dtype=np.int64)
        self.at = (int(range_at), int(impulse_at), int(depth_at))
        self.scale = np.asarray(scale, dtype=np.float64)
        self.tree = tree
        self.tree_scale = float(tree_scale)

    def fill(self, out, row_start):
        """Write rows ``row_start .. row_start + len(out)`` into ``out`` (zeros);
        ``row_start`` never goes back (the rows before are skipped)."""
        if row_start < self.state[_ROW]:
            raise ValueError("SpanFill writes rows in increasing order")
        _sweep(
            out,
            row_start + out.shape[0],
            self.start,
            self.end,
            self.col,
            self.by_end,
            self.state,
            self.counts,
            self.active,
            self.slot,
            *self.at,
            self.scale,
            self.tree,
            self.tree_scale,
            row_start,
        )
