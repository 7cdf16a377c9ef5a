"""The cross-validation folds of a probe search, kept once for every engine."""

from collections.abc import Sequence
from functools import cached_property

import numpy as np

__all__ = ["Folds", "fold_order"]


def fold_order(fold_id, n_folds):
    """Rows in fold order and where each fold starts.

    Parameters
    ----------
    fold_id : ndarray of int, shape (n_rows,)
        The test fold of every row.
    n_folds : int
        Number of folds.

    Returns
    -------
    order : ndarray of int64, shape (n_rows,), or None
        A stable sort of the rows by fold (each fold's rows keep their order);
        None when the rows already are in fold order (as with ``KFold``), so
        callers can skip the copy.
    offsets : ndarray of int64, shape (n_folds + 1,)
        Fold ``k`` is rows ``offsets[k]:offsets[k + 1]`` of the fold-ordered rows.
    """
    order = np.argsort(fold_id, kind="stable")
    if np.array_equal(order, np.arange(fold_id.size)):
        order = None
    offsets = np.zeros(n_folds + 1, dtype=np.int64)
    np.cumsum(np.bincount(fold_id, minlength=n_folds), out=offsets[1:])
    return order, offsets


def _fold_dtype(n_folds):
    for dtype in (np.int8, np.int16, np.int32):
        if n_folds <= np.iinfo(dtype).max:
            return dtype
    return np.int64


class Folds(Sequence):
    """The ``(train, test)`` index pairs of the CV splits, kept compactly.

    A fold whose test rows are sorted, new and whose training rows are exactly the
    others is stored as ``None`` and rebuilt from the one small ``fold_id`` array on
    access (``np.flatnonzero``: the same sorted indices the splitter gave); other
    folds keep their index arrays. So K-fold style CV holds ``n_chars`` small ints,
    not ``K × n_chars`` int64 indices.

    Parameters
    ----------
    pairs : list
        Per fold, ``None`` (rebuilt from the fold ids) or its ``(train, test)``
        index arrays.
    fold_id : ndarray of int, shape (n_rows,)
        The test fold of every row, as far as the folds partition the rows.
    partition : bool
        Whether the test sets partition the rows (K-fold style CV).

    Attributes
    ----------
    fold_id : ndarray of int or None
        The test fold of every row; None unless the test sets partition the rows
        (then only the exact engine can score these folds).
    n_folds : int
        Number of folds.
    order, offsets
        :func:`fold_order` of ``fold_id`` (computed once, on first use).
    """

    def __init__(self, pairs, fold_id, partition):
        self._pairs = pairs
        self._fold_id = fold_id
        self.fold_id = fold_id if partition else None
        self.n_folds = len(pairs)

    @classmethod
    def from_cv(cls, cv, X, groups):
        """Run ``cv.split(X, None, groups)`` once and keep its folds.

        Parameters
        ----------
        cv : cross-validation generator
            A splitter (after :func:`sklearn.model_selection.check_cv`).
        X : array-like of shape (n_rows, n_units)
            Passed to the splitter (only its length is read by the usual ones).
        groups : array-like of shape (n_rows,) or None
            Group of every row, passed to the splitter.

        Returns
        -------
        folds : Folds
        """
        n_rows = X.shape[0]
        fold_id = np.full(
            n_rows, -1, dtype=_fold_dtype(cv.get_n_splits(X, None, groups))
        )
        partition = True
        pairs = []
        for k, (tr, te) in enumerate(cv.split(X, None, groups)):
            tr = np.asarray(tr, dtype=np.int64)
            te = np.asarray(te, dtype=np.int64)
            if k > np.iinfo(fold_id.dtype).max:  # a cv miscounting its splits
                fold_id = fold_id.astype(np.int64)
            partition = (
                partition
                and tr.size + te.size == n_rows
                and bool((fold_id[te] == -1).all())
            )
            rebuilt = False
            if partition:  # fold_id is frozen once the folds overlap
                fold_id[te] = k
                # Keep the indices unless fold_id rebuilds exactly these arrays.
                rebuilt = bool((np.diff(te) > 0).all()) and np.array_equal(
                    tr, np.flatnonzero(fold_id != k)
                )
            pairs.append(None if rebuilt else (tr, te))
        partition = partition and not (fold_id == -1).any()
        return cls(pairs, fold_id, partition)

    def __len__(self):
        return len(self._pairs)

    def __getitem__(self, k):
        if self._pairs[k] is not None:
            return self._pairs[k]
        test = self._fold_id == k
        return np.flatnonzero(~test), np.flatnonzero(test)

    @property
    def is_partition(self):
        """Whether the test sets partition the rows (the fast engines need it)."""
        return self.fold_id is not None

    @cached_property
    def _layout(self):
        return fold_order(self.fold_id, self.n_folds)

    @property
    def order(self):
        """Rows in fold order, or None if they already are (see :func:`fold_order`)."""
        return self._layout[0]

    @property
    def offsets(self):
        """Start of every fold in the fold-ordered rows, shape (n_folds + 1,)."""
        return self._layout[1]

    def in_fold_order(self, A):
        """The rows of ``A`` in fold order (``A`` itself when already in order)."""
        return A if self.order is None else A[self.order]

    @property
    def sorted_fold_id(self):
        """``fold_id`` in fold order."""
        return self.in_fold_order(self.fold_id)
