"""Shared machinery of the sort-based binary probes (SVM, logistic, threshold, SVC).

Every 1-D linear classifier is a threshold rule on one unit, so each unit's column
is sorted once and every (feature, fold) question about it is answered from that
order: global prefix sums minus the fold's own. The sort is a stable LSD radix sort
(:mod:`._radix`): a few O(n) passes over 64-bit keys instead of a comparison sort's
O(n log n), with the rows' folds and label codes gathered in the same kernel into
arrays reused across units (at 200k rows about 2.5x less CPU than ``np.argsort`` and
a gather: ``benchmarks/bench_probe_search.py --floors-only``). ``SORT = "argsort"``
selects the reference path (``np.argsort`` and a separate gather) the tests compare
it with: every engine treats equal values as one group, so both give the same
scores. Labels travel as int8 codes (1 = ``classes_[1]``, 0 = ``classes_[0]``, -1 =
unlabelled), one contiguous row per feature, or (for kernels taking ``rows``) packed
two bits a feature into one small array row per row, so putting them in a unit's
sorted order reads a few bytes per row from an array that stays in cache. Rows are
first put in fold order once for all units, so each fold's held-out rows are a
contiguous slice. Units are independent: chunks of units go to worker processes and
come back as arrays.
"""

import numpy as np
from joblib import effective_n_jobs
from sklearn.utils.parallel import delayed

from .._numba import kernel
from ._fast_svm import pack_codes
from ._radix import radix_sort_gather, sort_scratch

__all__ = ["binary_fold_scores", "fold_label_codes", "label_codes", "sorted_unit"]

# How sorted_unit sorts: "radix" (the fast path) or "argsort" (the reference).
SORT = "radix"

# Label rows read at a time by fold_label_codes: float64 temporaries of a few MB.
_CODE_ROWS = 1 << 15


def fold_label_codes(Y, features, top, folds):
    """int8 label codes of ``Y[:, features]`` with rows in fold order, shape (n, q):
    1 where the label is the feature's ``top`` class, 0 for the other class, -1
    where NaN; read in row blocks (no float64 copy of the columns, which a memmap
    ``Y`` keeps on disk)."""
    n = Y.shape[0]
    features = np.asarray(features, dtype=np.int64)
    whole = features.size == Y.shape[1] and (features == np.arange(Y.shape[1])).all()
    codes = np.empty((n, features.size), dtype=np.int8)
    for lo in range(0, n, _CODE_ROWS):
        hi = min(lo + _CODE_ROWS, n)
        rows = slice(lo, hi) if folds.order is None else folds.order[lo:hi]
        block = Y[rows] if whole else Y[rows][:, features]
        block = np.asarray(block, dtype=np.float64)
        out = codes[lo:hi]
        np.equal(block, top, out=out, casting="unsafe")
        unlabelled = np.isnan(block)
        if unlabelled.any():
            out[unlabelled] = -1
    return codes


def label_codes(Yb, rows=False):
    """int8 codes, shape (q, n): 1 / 0 for the two classes, -1 where NaN; or if
    ``rows``, the same packed per row (:func:`~._fast_svm.pack_codes`). ``Yb``
    holds 0/1 labels and NaN, or already such codes (int8, shape (n, q))."""
    if Yb.dtype == np.int8:
        codes = Yb
    else:
        codes = (Yb == 1).astype(np.int8)
        unlabelled = np.isnan(Yb)
        if unlabelled.any():  # no int64 temporary for the usual fully labelled case
            codes[unlabelled] = -1
    if rows:
        return pack_codes(codes)
    return np.ascontiguousarray(codes.T)


@kernel
def _gather_sorted(xf, ff, cf, order):
    """``xf[order], ff[order], cf[order]`` in one pass (row-packed codes ``cf``)."""
    n = order.size
    xs = np.empty(n)
    fs = np.empty(n, dtype=ff.dtype)
    cs = np.empty((n, cf.shape[1]), dtype=cf.dtype)
    for i in range(n):
        r = order[i]
        xs[i] = xf[r]
        fs[i] = ff[r]
        for b in range(cf.shape[1]):
            cs[i, b] = cf[r, b]
    return xs, fs, cs


@kernel
def _gather_columns(codes, order):
    out = np.empty((codes.shape[0], order.size), dtype=codes.dtype)
    for j in range(codes.shape[0]):
        row = codes[j]
        dest = out[j]
        for i in range(order.size):
            dest[i] = row[order[i]]
    return out


@kernel
def _unit_major(X, rows, lo, hi, out):
    """Write ``X[rows, lo:hi].T`` to ``out`` (C-ordered, shape (hi - lo, rows.size)),
    in row blocks: a plain transposed copy of a row-major (n, p) array misses the
    cache on almost every element. ``out`` comes from numpy: its large allocations
    are backed by huge pages, while one made here faults in every 4 kB page (at
    200k rows that doubled the copy's time)."""
    n = rows.size
    for r0 in range(0, n, 64):
        r1 = min(r0 + 64, n)
        for c in range(lo, hi):
            dest = out[c - lo]
            for r in range(r0, r1):
                dest[r] = X[rows[r], c]


def unit_major(X, rows, lo, hi):
    """``X[rows, lo:hi].T`` as a C-ordered float64 copy (see :func:`_unit_major`)."""
    out = np.empty((hi - lo, rows.size))
    _unit_major(X, rows, lo, hi, out)
    return out


class _UnitSorter:
    """:func:`sorted_unit` of many units' columns over the same rows, into arrays
    reused from one unit to the next (valid until the next call)."""

    def __init__(self, ff, cf, rows):
        n = ff.size
        self.ff, self.cf, self.rows = ff, cf, rows
        self.radix = SORT == "radix" and n < 2**32
        if self.radix:
            self.keys, self.idx = sort_scratch(n)
            self.xs = np.empty(n)
            self.fs = np.empty(n, dtype=ff.dtype)
            shape = (n, cf.shape[1]) if rows else (cf.shape[0], n)
            self.cs = np.empty(shape, dtype=cf.dtype)

    def __call__(self, xf):
        ff, cf = self.ff, self.cf
        if not self.radix:
            # Any deterministic order of tied activations will do: every engine
            # treats equal values as one group.
            order = np.argsort(xf)
            if self.rows:
                return _gather_sorted(xf, ff, cf, order)
            return xf[order], ff[order], _gather_columns(cf, order)
        bits = np.ascontiguousarray(xf, dtype=np.float64).view(np.uint64)
        radix_sort_gather(
            bits,
            ff,
            cf,
            self.rows,
            self.keys,
            self.idx,
            self.xs.view(np.uint64),
            self.fs,
            self.cs,
        )
        return self.xs, self.fs, self.cs


def sorted_unit(xf, ff, cf, rows=False):
    """One unit's rows (given in fold order) in ascending activation order.

    Returns ``xs`` (sorted activations), ``fs`` (their folds) and ``cs`` (label codes in
    that order, shape (q, n); if ``rows``, ``cf`` holds them packed per row (see
    :func:`label_codes`), and ``cs`` is its rows in sorted order: a few bytes of
    one small array per row, so this gather stays in cache). Tied activations keep
    their row order (a stable sort) on the radix path.
    """
    return _UnitSorter(ff, cf, rows)(xf)


def _chunk_scores(kernel, part, ff, cf, fold_off, n_folds, options, q, rows=False):
    """Fold scores of a block of units, shape (n_units_block, q, n_folds); ``part``
    is the unit-major block or a deferred read of it (see ``ActivationSource``)."""
    XfT = part() if callable(part) else part
    out = np.empty((XfT.shape[0], q, n_folds))
    sort = _UnitSorter(ff, cf, rows)
    for i, xf in enumerate(XfT):
        xs, fs, cs = sort(xf)
        out[i] = kernel(xs, fs, cs, xf, cf, fold_off, n_folds, *options)[:q]
    return out


def binary_fold_scores(
    kernel, source, codes, folds, parallel, *, options=(), rows=False
):
    """Held-out scores of a sort-based probe for every (feature, unit, fold).

    Parameters
    ----------
    kernel : numba function
        ``kernel(xs, fs, cs, xf, cf, fold_off, n_folds, *options)`` → (q, n_folds)
        scores of one unit (see :func:`sorted_unit` for its arguments).
    source : ActivationSource
        The activations (in memory or out of core).
    codes : ndarray of int8, shape (n_rows, q)
        :func:`fold_label_codes`: rows in fold order, 1 = the larger class
        (``classes_[1]``), 0 = the other, -1 = unlabelled.
    folds : Folds
        K-fold style folds (``folds.is_partition``).
    parallel : sklearn.utils.parallel.Parallel
        Runs one task per block of units.
    options : tuple, default=()
        Extra arguments of ``kernel``.
    rows : bool, default=False
        Whether ``kernel`` takes the label codes row by row (``cs``, ``cf`` of
        shape (n, q)) rather than feature by feature ((q, n)).

    Returns
    -------
    scores : ndarray of shape (q, n_units, n_folds)
    """
    ff = folds.sorted_fold_id
    cf = label_codes(codes, rows)
    n_tasks = 4 * effective_n_jobs(parallel.n_jobs)
    parts = parallel(
        delayed(_chunk_scores)(
            kernel,
            # unit-major rows: each unit's column is contiguous for its sort
            source.units_part(u0, u1, folds.order),
            ff,
            cf,
            folds.offsets,
            folds.n_folds,
            options,
            codes.shape[1],
            rows,
        )
        for u0, u1 in source.unit_ranges(n_tasks)
    )
    return np.concatenate(list(parts), axis=0).transpose(1, 0, 2)
