"""Compiled fill of range / depth labels from node spans (numba).

The reference is :meth:`ParseTreeFeaturizer._count_blocks` (difference arrays and
cumulative sums over every (row, column) cell); this kernel gives the same labels
while writing only the nonzero cells: it sweeps the rows once, keeps the nesting
count of every column and the set of columns open at the current row, and writes
those. With a hundred node types and a syntax-tree depth of ten, that is ~30 writes
per row instead of 300 — the output stays zero (fresh pages) elsewhere.
"""

import numpy as np

from .._numba import kernel


@kernel(nogil=True)
def _fill(
    out, start, end, col, by_end, n_cols, range_at, depth_at, scale, tree, tree_scale
):
    n_spans = start.shape[0]
    counts = np.zeros(n_cols, dtype=np.int64)
    # open columns: active[:n_active]; slot[c] is c's index in active (or -1)
    active = np.empty(n_cols, dtype=np.int64)
    slot = np.full(n_cols, -1, dtype=np.int64)
    n_active = 0
    i = 0
    j = 0
    for t in range(out.shape[0]):
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
        while i < n_spans and start[i] <= t:
            c = col[i]
            if counts[c] == 0:
                active[n_active] = c
                slot[c] = n_active
                n_active += 1
            counts[c] += 1
            i += 1
        for a in range(n_active):
            c = active[a]
            if range_at >= 0:
                out[t, range_at + c] = 1.0
            if depth_at >= 0:
                out[t, depth_at + c] = min(counts[c] / scale[c], 1.0)
        if tree.shape[0]:
            out[t, out.shape[1] - 1] = min(tree[t] / tree_scale, 1.0)


def fill_spans(
    out, start, end, col, n_cols, range_at, depth_at, scale, tree, tree_scale
):
    """Write ``range`` (1 where a span of a column covers a row) and ``depth``
    (covering spans / ``scale``, clipped to 1) into the zeros of ``out``.

    Parameters
    ----------
    out : ndarray of shape (n_rows, n_columns), zeros
    start, end : ndarray of int64
        Row spans ``[start, end)``, nonempty.
    col : ndarray of int64
        Column (0 .. n_cols - 1) of each span, relative to ``range_at`` /
        ``depth_at``.
    n_cols : int
    range_at, depth_at : int
        First output column of the range / depth block; -1 to leave it out.
    scale : ndarray of float64 of shape (n_cols,)
        Divisor of the depth counts.
    tree : ndarray of int of shape (n_rows,) or (0,)
        Counts written to the last column divided by ``tree_scale`` (clipped to
        1); empty to leave the last column alone.
    tree_scale : float
    """
    order = np.argsort(start, kind="stable")
    start, end, col = start[order], end[order], col[order]
    by_end = np.argsort(end, kind="stable")
    _fill(
        out,
        start,
        end,
        col,
        by_end,
        n_cols,
        range_at,
        depth_at,
        scale,
        tree,
        float(tree_scale),
    )
