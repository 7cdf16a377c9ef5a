"""Shared machinery of the sort-based binary probes (SVM, logistic, threshold).

Every 1-D linear classifier is a threshold rule on one unit, so each unit's column
is sorted once and every (feature, fold) question about it is answered from that
order: global prefix sums minus the fold's own. Labels travel as int8 codes (1 =
``classes_[1]``, 0 = ``classes_[0]``, -1 = unlabelled), one contiguous row per
feature. Rows are first put in fold order once for all units, so each fold's
held-out rows are a contiguous slice. Units are independent: chunks of units go to
worker processes and come back as arrays.
"""

import numpy as np
from numba import njit
from sklearn.utils.parallel import Parallel, delayed

__all__ = ["binary_fold_scores", "label_codes", "sorted_unit"]


def label_codes(Yb):
    """int8 codes, shape (q, n): 1 / 0 for the two classes, -1 where NaN."""
    codes = (Yb == 1).astype(np.int8)
    unlabelled = np.isnan(Yb)
    if unlabelled.any():  # no int64 temporary for the usual fully labelled case
        codes[unlabelled] = -1
    return np.ascontiguousarray(codes.T)


@njit(cache=True)
def _gather_columns(codes, order):
    out = np.empty((codes.shape[0], order.size), dtype=codes.dtype)
    for j in range(codes.shape[0]):
        row = codes[j]
        dest = out[j]
        for i in range(order.size):
            dest[i] = row[order[i]]
    return out


@njit(cache=True)
def _unit_major(X, rows, lo, hi):
    """``X[rows, lo:hi].T`` as a C-ordered copy, in row blocks: a plain transposed
    copy of a row-major (n, p) array misses the cache on almost every element."""
    n = rows.size
    out = np.empty((hi - lo, n))
    for r0 in range(0, n, 64):
        r1 = min(r0 + 64, n)
        for c in range(lo, hi):
            for r in range(r0, r1):
                out[c - lo, r] = X[rows[r], c]
    return out


def sorted_unit(xf, ff, cf):
    """One unit's rows (given in fold order) in ascending activation order.

    Returns ``xs`` (sorted activations), ``fs`` (their folds) and ``cs`` (label codes in
    that order, shape (q, n)).
    """
    # Any deterministic order of tied activations will do: every engine treats equal
    # values as one group.
    order = np.argsort(xf)
    return xf[order], ff[order], _gather_columns(cf, order)


def _chunk_scores(kernel, XfT, ff, cf, fold_off, n_folds, options):
    out = np.empty((XfT.shape[0], cf.shape[0], n_folds))
    for i, xf in enumerate(XfT):
        xs, fs, cs = sorted_unit(xf, ff, cf)
        out[i] = kernel(xs, fs, cs, xf, cf, fold_off, n_folds, *options)
    return out


def binary_fold_scores(
    kernel, X, Yb, fold_id, n_folds, *, options=(), n_jobs=None, verbose=0
):
    """Held-out accuracy of a sort-based probe for every (feature, unit, fold).

    ``Yb`` holds 0/1 labels (1 = the larger class, ``classes_[1]``) and NaN. Returns an
    array of shape (q, p, n_folds).
    """
    by_fold = np.argsort(fold_id, kind="stable")
    in_order = np.array_equal(by_fold, np.arange(fold_id.size))
    ff = fold_id if in_order else fold_id[by_fold]
    cf = label_codes(Yb if in_order else Yb[by_fold])
    fold_off = np.zeros(n_folds + 1, dtype=np.int64)
    np.cumsum(np.bincount(ff, minlength=n_folds), out=fold_off[1:])
    n_units = X.shape[1]
    n_chunks = max(1, min(n_units, 4 * max(1, abs(n_jobs or 1))))
    chunks = [c for c in np.array_split(np.arange(n_units), n_chunks) if c.size]
    rows = np.arange(fold_id.size) if in_order else by_fold
    parts = Parallel(n_jobs=n_jobs, verbose=max(0, verbose - 1))(
        delayed(_chunk_scores)(
            kernel,
            # unit-major rows: each unit's column is contiguous for its sort
            _unit_major(X, rows, c[0], c[-1] + 1),
            ff,
            cf,
            fold_off,
            n_folds,
            options,
        )
        for c in chunks
    )
    return np.concatenate(parts, axis=0).transpose(1, 0, 2)
