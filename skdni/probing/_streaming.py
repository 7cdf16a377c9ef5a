"""Out-of-core probe search: activations larger than memory, read in blocks.

Which probes stream, and how:

* **OLS** (R²) streams *exactly*: its per-fold sufficient statistics (count, means,
  centred moments of x, y, xy for every (unit, feature) pair) are computed on row
  chunks and pooled with Chan's formula (:func:`~._fast_ols.merge_moments`). Memory is
  one row chunk (``_BLOCK_BYTES``) plus ``K × p × q`` moments, independent of
  ``n_chars``. The same statistics back :meth:`NeuronProbeSearch.partial_fit`.
* The **sort-based binary probes** (SVM, logistic, threshold) need each unit's whole
  column sorted. A row-major activation file is first transposed, in one pass over row
  chunks, into a unit-major scratch file beside it; workers then read blocks of units
  (contiguous) from it, so memory is ``n_chars × block``, not ``n_chars × n_units``.

Workers read the activations **by path** (``np.fromfile`` with the ``.npy`` header's
offset), so neither the parent nor a Dask scheduler ships activation blocks: a task
carries a file name, a row or unit range and the (small) labels. This needs the file
on a filesystem every worker sees (always true for a ``LocalCluster`` or joblib's
processes). An in-memory array or a view of a memmap is sliced in the parent instead.

Task boundaries depend only on the data's shape, never on ``n_jobs``, and partial
results are pooled in task order, so every backend gives bit-identical results.
"""

import functools
import mmap
import os
import tempfile
import warnings

import numpy as np
from sklearn.utils.parallel import delayed

from .._errors import InputError
from ._fast_ols import chan_merge, fold_moments, merge_moments, moment_scores
from ._sorted import unit_major
from ._stats import fold_label_stats

__all__ = [
    "ActivationSource",
    "check_finite_blocks",
    "file_source",
    "fold_of_groups",
    "is_out_of_core",
    "load",
    "refit_columns",
    "row_part",
    "source_of",
    "stream_label_stats",
    "stream_ols_fold_scores",
    "StreamingOLSState",
]

# Working memory of one block (float64 rows or unit columns) in a task.
_BLOCK_BYTES = 64 * 2**20
# Row chunks pooled inside one task before it returns its moments.
_CHUNKS_PER_TASK = 8


def is_out_of_core(X) -> bool:
    """Whether ``X`` is a memory-mapped array (processed in blocks, never copied)."""
    return isinstance(X, np.memmap)


def file_source(X):
    """``(path, offset, (n, p), dtype)`` of a whole C-ordered memmap, else None.

    Only a memmap covering its whole file mapping (``np.load(..., mmap_mode="r")``,
    ``open_memmap``, ``np.memmap``, or a reshape of one, such as a 1-D label column
    seen as ``(n, 1)``) qualifies: a slice keeps its parent's file offset, so it is
    read through the array instead.
    """
    if (
        not isinstance(X, np.memmap)
        or X.ndim not in (1, 2)
        or not X.flags.c_contiguous
        or getattr(X, "filename", None) is None
    ):
        return None
    root = X
    while isinstance(root.base, np.memmap):
        root = root.base
    if (
        not isinstance(root.base, mmap.mmap)
        or root.size != X.size
        or root.__array_interface__["data"][0] != X.__array_interface__["data"][0]
    ):
        return None
    shape = (X.shape[0], X.shape[1] if X.ndim == 2 else 1)
    return (os.fspath(X.filename), int(X.offset), shape, X.dtype.str)


def source_of(A):
    """What a task reads rows of ``A`` from: its file source, else ``A`` itself."""
    source = file_source(A) if is_out_of_core(A) else None
    return A if source is None else source


def _read_rows(source, lo, hi, cols=None):
    """Rows ``lo:hi`` (columns ``cols``, default all) as float64, from a file source or
    an array; columns are picked before the cast, so only they are converted."""
    if isinstance(source, tuple):
        path, offset, (_, p), dtype = source
        itemsize = np.dtype(dtype).itemsize
        block = np.fromfile(
            path, dtype=dtype, count=(hi - lo) * p, offset=offset + lo * p * itemsize
        ).reshape(hi - lo, p)
    else:
        block = np.asarray(source[lo:hi])
        if block.ndim == 1:
            block = block[:, None]
    if cols is not None:
        block = block[:, cols]
    return block.astype(np.float64, copy=False)


def _row_chunk(n_units):
    # fold_moments holds about three float64 copies of a chunk (x, centred x, x²)
    return max(256, _BLOCK_BYTES // (24 * max(1, n_units)))


# ---------------------------------------------------------------------------- OLS
def _empty_moments(n_folds, n_units, n_feats):
    shape = (n_folds, n_units, n_feats)
    return {k: np.zeros(shape) for k in ("n", "mx", "my", "cxx", "cxy", "cyy")}


def _moments_task(xpart, ypart, feats, fold, step, n_folds, n_units):
    """Pooled per-fold moments of one row range: ``xpart`` and ``ypart`` are what
    :func:`row_part` gives for it (read from row 0), ``fold`` those rows' folds."""
    total = _empty_moments(n_folds, n_units, len(feats))
    for start in range(0, fold.size, step):
        stop = min(start + step, fold.size)
        Y = _read_rows(ypart, start, stop, feats)
        part = fold_moments(
            _read_rows(xpart, start, stop), Y, fold[start:stop], n_folds
        )
        total = merge_moments(total, part)
    return total


def _fold_ranges(Y, fold_id, n_folds):
    """Smallest and largest label per (fold, feature); NaN where none."""
    lo = np.full((n_folds, Y.shape[1]), np.nan)
    hi = np.full((n_folds, Y.shape[1]), np.nan)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        for k in range(n_folds):
            rows = Y[fold_id == k]
            if rows.size:
                lo[k] = np.nanmin(rows, axis=0)
                hi[k] = np.nanmax(rows, axis=0)
    return lo, hi


def stream_ols_fold_scores(source, Y, fold_id, n_folds, y_min, y_max, feats, parallel):
    """:func:`~._fast_ols.ols_fold_scores` over row chunks of an out-of-core ``X``.

    Parameters
    ----------
    source : ActivationSource
        The activations.
    Y : ndarray or memmap of shape (n_rows, q)
        Labels (a memmap is read by path like ``X``); only the columns ``feats``
        are scored, sliced chunk by chunk, never copied whole.
    fold_id : ndarray of shape (n_rows,)
        The test fold of every row.
    n_folds : int
        Number of folds.
    y_min, y_max : ndarray of shape (n_folds, len(feats))
        Label range of every test fold (see :func:`~._fast_ols.ols_fold_scores`).
    feats : list of int
        The columns of ``Y`` to score.
    parallel : sklearn.utils.parallel.Parallel
        Runs the tasks (a generator-returning ``Parallel``, or any).

    Returns
    -------
    scores : ndarray of shape (len(feats), n_units, n_folds)
        Held-out R² of every (feature, unit, fold).

    Notes
    -----
    Each task pools the moments of ``_CHUNKS_PER_TASK`` row chunks; the parent pools
    the tasks' moments in row order, so the result does not depend on ``n_jobs``.
    """
    n_rows, n_units = source.shape
    step = _row_chunk(n_units)
    span = step * _CHUNKS_PER_TASK
    bounds = [(lo, min(lo + span, n_rows)) for lo in range(0, n_rows, span)]
    parts = parallel(
        delayed(_moments_task)(
            source.rows_part(lo, hi),
            row_part(Y, lo, hi),
            feats,
            fold_id[lo:hi],
            step,
            n_folds,
            n_units,
        )
        for lo, hi in bounds
    )
    total = _empty_moments(n_folds, n_units, len(feats))
    for part in parts:
        total = merge_moments(total, part)
    return moment_scores(total, y_min, y_max)


def _merge_label_stats(a, b):
    """Pool :func:`~._stats.fold_label_stats` of two disjoint row sets (Chan et al.,
    :func:`~._fast_ols.chan_merge`)."""
    finite = [
        {"n": s["n"], "mean": np.where(s["n"] > 0, s["mean"], 0.0), "css": s["css"]}
        for s in (a, b)
    ]
    pooled = chan_merge(*finite, ("mean",), {"css": ("mean", "mean")})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return {
            "n": pooled["n"],
            "pos": a["pos"] + b["pos"],
            "css": pooled["css"],
            "mean": np.where(pooled["n"] > 0, pooled["mean"], np.nan),
            "min": np.fmin(a["min"], b["min"]),
            "max": np.fmax(a["max"], b["max"]),
        }


def stream_label_stats(Y, fold_id, n_folds, top=None, feats=None):
    """:func:`~._stats.fold_label_stats` of ``Y[:, feats]`` pooled over row chunks.

    Memory is one chunk of rows (``Y`` may be a memmap, read by path), not a
    fold-ordered copy of ``Y``. Counts, ``pos``, ``min`` and ``max`` are exact; the
    mean and centred sum of squares are pooled with Chan's formula (equal to rounding).
    """
    feats = list(range(Y.shape[1])) if feats is None else list(feats)
    top = None if top is None else np.asarray(top, dtype=np.float64)
    source = source_of(Y)
    step = max(256, _BLOCK_BYTES // (32 * max(1, len(feats))))
    total = None
    for lo in range(0, Y.shape[0], step):
        hi = min(lo + step, Y.shape[0])
        part = fold_label_stats(
            _read_rows(source, lo, hi, feats), fold_id[lo:hi], n_folds, top
        )
        total = part if total is None else _merge_label_stats(total, part)
    return total


# ---------------------------------------------------------------- sort-based probes
def _transpose_to_file(X, path):
    """Write ``X.T`` (unit-major, same dtype) to a raw file in one pass over rows."""
    n_rows, n_units = X.shape
    source = file_source(X)
    itemsize = X.dtype.itemsize
    step = max(1, _BLOCK_BYTES // (8 * max(1, n_units)))
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.ftruncate(fd, n_rows * n_units * itemsize)
        for lo in range(0, n_rows, step):
            hi = min(lo + step, n_rows)
            if source is not None:
                block = np.fromfile(
                    source[0],
                    dtype=X.dtype,
                    count=(hi - lo) * n_units,
                    offset=source[1] + lo * n_units * itemsize,
                ).reshape(hi - lo, n_units)
            else:
                block = np.asarray(X[lo:hi])
            # Plain writes, not a writable memmap: written pages are not kept in
            # this process's resident set.
            cols = np.ascontiguousarray(block.T)
            for u in range(n_units):
                os.pwrite(fd, cols[u].tobytes(), (u * n_rows + lo) * itemsize)
    finally:
        os.close(fd)


def _read_unit_file(path, dtype, n_rows, u0, u1, rows):
    """Units ``u0:u1`` of a unit-major raw file as float64 (u1 - u0, n_rows), their
    rows in the order ``rows`` (all, in file order, if None)."""
    itemsize = np.dtype(dtype).itemsize
    block = np.fromfile(
        path, dtype=dtype, count=(u1 - u0) * n_rows, offset=u0 * n_rows * itemsize
    ).reshape(u1 - u0, n_rows)
    if rows is not None:
        block = block[:, rows]
    return np.ascontiguousarray(block, dtype=np.float64)


def row_part(A, lo, hi):
    """What a task reads rows ``lo:hi`` of ``A`` (2-D, or 1-D seen as one column)
    from, indexed from 0: for a whole-file memmap a file source whose offset starts
    at row ``lo`` (workers read by path), else the slice ``A[lo:hi]``."""
    source = source_of(A)
    if not isinstance(source, tuple):
        return A[lo:hi]
    path, offset, (_, p), dtype = source
    start = offset + lo * p * np.dtype(dtype).itemsize
    return (path, start, (hi - lo, p), dtype)


def load(part):
    """A block handed to a task: the array itself, or a deferred read to run."""
    return part() if callable(part) else part


class ActivationSource:
    """The activations ``X`` of a search as the engines read them.

    ``X`` is an in-memory array or a ``numpy.memmap`` (out of core, never loaded
    whole). Engines read *rows* (the OLS moments, refits) or *units* (the sort-based
    probes, which need each unit's whole column); for tasks they get a *part*: the
    block itself when ``X`` is in memory (sliced in the parent), or a small
    picklable reference that the worker reads by path (a whole-file memmap), so
    neither the parent nor a Dask scheduler ships activation blocks.

    A source is a context manager: an out-of-core source writes a unit-major
    scratch copy of ``X`` next to its file on the first unit read (one pass over
    rows) and deletes it on exit, so all labellings of one fit share it.

    Parameters
    ----------
    X : ndarray or numpy.memmap of shape (n_rows, n_units)
        The activations (finite; validated by the search).

    Attributes
    ----------
    X : ndarray or numpy.memmap
        The activations as given.
    shape : tuple of int
        ``(n_rows, n_units)``.
    out_of_core : bool
        Whether ``X`` is a memmap.
    """

    def __init__(self, X):
        self.X = X
        self.shape = X.shape
        self.out_of_core = is_out_of_core(X)
        self._units_path = None

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()

    def close(self):
        """Delete the unit-major scratch file, if one was written."""
        if self._units_path is not None:
            os.unlink(self._units_path)
            self._units_path = None

    def read_rows(self, lo, hi, cols=None):
        """Rows ``lo:hi`` (columns ``cols``, default all) as float64.

        Parameters
        ----------
        lo, hi : int
            Row range.
        cols : list of int, default=None
            Columns to read (all if None).

        Returns
        -------
        block : ndarray of shape (hi - lo, n_cols)
        """
        return _read_rows(self.rows_part(lo, hi), 0, hi - lo, cols)

    def rows_part(self, lo, hi):
        """What a task reads rows ``lo:hi`` from (see :func:`row_part`)."""
        return row_part(self.X, lo, hi)

    def read_units(self, u0, u1, rows=None):
        """Units ``u0:u1`` as a unit-major float64 block.

        Parameters
        ----------
        u0, u1 : int
            Unit range.
        rows : ndarray of int, default=None
            Row order of the block (e.g. fold order); all rows in order if None.

        Returns
        -------
        block : ndarray of shape (u1 - u0, n_rows), C-ordered
            Each unit's column is one contiguous row.
        """
        return load(self.units_part(u0, u1, rows))

    def units_part(self, u0, u1, rows=None):
        """What a task reads units ``u0:u1`` from: the block (in memory) or a
        deferred read of the scratch file (out of core). See :meth:`read_units`."""
        n_rows = self.shape[0]
        if not self.out_of_core:
            order = np.arange(n_rows) if rows is None else rows
            return unit_major(self.X, order, u0, u1)
        if self._units_path is None:
            source = file_source(self.X)
            folder = os.path.dirname(source[0]) if source is not None else None
            fd, path = tempfile.mkstemp(
                prefix="skdni-units-", suffix=".raw", dir=folder
            )
            os.close(fd)
            self._units_path = path
            _transpose_to_file(self.X, path)
        return functools.partial(
            _read_unit_file, self._units_path, self.X.dtype.str, n_rows, u0, u1, rows
        )

    def unit_ranges(self, n_tasks):
        """Unit ranges ``(u0, u1)`` for tasks: ``n_tasks`` near-equal ones in memory;
        out of core, as many units as two float64 copies of ``_BLOCK_BYTES`` hold
        (boundaries then depend on the shape only)."""
        n_rows, n_units = self.shape
        if self.out_of_core:
            step = max(1, _BLOCK_BYTES // (16 * n_rows))
            return [(u, min(u + step, n_units)) for u in range(0, n_units, step)]
        blocks = np.array_split(np.arange(n_units), max(1, min(n_units, n_tasks)))
        return [(int(b[0]), int(b[-1]) + 1) for b in blocks if b.size]


# ---------------------------------------------------------------- partial_fit state
class StreamingOLSState:
    """What :meth:`NeuronProbeSearch.partial_fit` keeps between chunks.

    Per-fold moments of every (unit, feature) pair, of a constant unit (the chance
    level: slope 0 is the training mean), per-fold label ranges, and up to three
    distinct labels per feature. Its size is ``K × (p + 1) × q`` moments, whatever
    the number of rows seen.
    """

    def __init__(self, n_folds, n_units, n_feats):
        self.n_folds = n_folds
        self.moments = _empty_moments(n_folds, n_units + 1, n_feats)
        self.y_min = np.full((n_folds, n_feats), np.nan)
        self.y_max = np.full((n_folds, n_feats), np.nan)
        self.distinct = [np.empty(0) for _ in range(n_feats)]
        self.n_rows = 0

    def update(self, X, Y, fold):
        """Pool the moments of one chunk (``X`` float64, ``fold`` its rows' folds)."""
        step = _row_chunk(X.shape[1] + 1)
        for lo in range(0, X.shape[0], step):
            hi = min(lo + step, X.shape[0])
            # The zero column is the constant predictor whose score is chance.
            Xc = np.hstack([X[lo:hi], np.zeros((hi - lo, 1))])
            part = fold_moments(Xc, Y[lo:hi], fold[lo:hi], self.n_folds)
            self.moments = merge_moments(self.moments, part)
        lo, hi = _fold_ranges(Y, fold, self.n_folds)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            self.y_min = np.fmin(self.y_min, lo)
            self.y_max = np.fmax(self.y_max, hi)
        for j in range(Y.shape[1]):
            if self.distinct[j].size < 3:
                seen = np.unique(np.concatenate([self.distinct[j], Y[:, j]]))
                self.distinct[j] = seen[~np.isnan(seen)][:3]
        self.n_rows += X.shape[0]

    def scores(self):
        """Fold scores (q, p, K) of the units and (q, K) of the constant predictor."""
        with np.errstate(invalid="ignore", divide="ignore"):
            scores = moment_scores(self.moments, self.y_min, self.y_max)
        return scores[:, :-1], scores[:, -1]

    def coefficients(self, unit):
        """Least-squares slope and intercept per feature on all rows of ``unit``."""
        pooled = {key: val[0, unit] for key, val in self.moments.items()}
        for k in range(1, self.n_folds):
            pooled = merge_moments(
                pooled, {key: val[k, unit] for key, val in self.moments.items()}
            )
        noise = pooled["n"] * (8 * np.finfo(np.float64).eps * pooled["mx"]) ** 2
        with np.errstate(invalid="ignore", divide="ignore"):
            slope = np.where(pooled["cxx"] > noise, pooled["cxy"] / pooled["cxx"], 0.0)
        return slope, pooled["my"] - slope * pooled["mx"]


def check_finite_blocks(X, unit_names):
    """Raise if an out-of-core ``X`` holds NaN or infinity, reading it in row blocks."""
    source = file_source(X)
    step = _row_chunk(X.shape[1])
    for lo in range(0, X.shape[0], step):
        hi = min(lo + step, X.shape[0])
        block = _read_rows(source if source is not None else X, lo, hi)
        bad = ~np.isfinite(block)
        if bad.any():
            row, col = np.argwhere(bad)[0]
            raise InputError(
                f"X (activations) contains NaN or infinity: unit column "
                f"{unit_names[col]!r} (index {col}), row {lo + row}; activations "
                "must be finite."
            )


# Rows per chunk of refit_columns on in-memory arrays.
_REFIT_ROWS = 2048


def refit_columns(X, Y, best):
    """Yield ``(j, X[:, [best[j]]], Y[:, j])`` as float64 for every feature ``j``.

    The columns are gathered in passes over row chunks into unit-major buffers (so
    each yielded column is contiguous), each pass filling at most ``4 ×
    _BLOCK_BYTES`` of float64 columns (the unit and label columns of a few
    features; features sharing a best unit share its column): memory does not grow
    with the number of features, and a memmap is read by row chunks, never whole.
    One pass reads each row of ``X`` once for all its features, not once per
    feature (a column of a row-major ``X`` is a strided gather, one cache line a
    row). Features are yielded in order of their best unit.
    """
    best = [int(u) for u in best]
    n_rows = X.shape[0]
    budget = max(2, 4 * _BLOCK_BYTES // (8 * max(1, n_rows)))
    batches, feats, units = [], [], []
    for j in sorted(range(len(best)), key=best.__getitem__):  # stable: by unit
        extra = best[j] not in units
        if feats and len(feats) + len(units) + 1 + extra > budget:
            batches.append((feats, units))
            feats, units = [], []
            extra = True
        feats.append(j)
        if extra:
            units.append(best[j])
    batches.append((feats, units))
    xsource, ysource = source_of(X), source_of(Y)
    # Files are read in large chunks; in memory, chunks that stay in cache make
    # the transposed copies into the unit-major buffers cheap.
    on_disk = isinstance(xsource, tuple) or isinstance(ysource, tuple)
    step = _row_chunk(X.shape[1]) if on_disk else _REFIT_ROWS
    for feats, units in batches:
        xcols = np.empty((len(units), n_rows))
        ycols = np.empty((len(feats), n_rows))
        for lo in range(0, n_rows, step):
            hi = min(lo + step, n_rows)
            xcols[:, lo:hi] = _read_rows(xsource, lo, hi, units).T
            ycols[:, lo:hi] = _read_rows(ysource, lo, hi, feats).T
        for i, j in enumerate(feats):
            yield j, xcols[units.index(best[j])][:, None], ycols[i]
        del xcols, ycols


def fold_of_groups(groups, n_splits, where):
    """``partial_fit``'s fold of every row: its integer group id modulo ``n_splits``."""
    groups = np.asarray(groups)
    if groups.dtype.kind not in "iu":
        raise InputError(
            f"partial_fit needs integer group ids (text indices) in {where} to assign "
            f"folds as group % n_splits, got dtype {groups.dtype}."
        )
    if groups.size and groups.min() < 0:
        raise InputError(f"partial_fit needs non-negative group ids in {where}.")
    return (groups % n_splits).astype(np.int64)
