"""How many units carry a feature: the localization curve and greedy forward selection.

Objective. For a ranking of units (e.g. a search's order for one feature), the CV
score of *one* probe fitted on the top-k units jointly, for several k, next to three
references: the whole layer (the ceiling), a difference-in-means direction (the
nearest-centroid rule on the same k units) and k units drawn at random (the floor).
A feature is localized when a few top units reach the ceiling and random units do
not.

Probes. ``"lda"``: ``LinearDiscriminantAnalysis(solver="lsqr")`` for binary features
(accuracy, balanced accuracy or ROC AUC of its decision function); ``"ols"``:
``LinearRegression()`` (R²). Any other sklearn estimator takes the exact path.

Algorithm (fast path). On K-fold style folds the labelled rows are read once in
segments (a chunk of consecutive rows, one (fold, class) group of it) into a small
buffer, centred on every unit's mean, and per fold and class the count, the sums and
the Gram matrix ``XᵀX`` of every unit pair are accumulated (``dsyrk``: n·p²/2
multiply-adds in all, no copy of X). A training fold's statistics are the totals
minus the fold's own, and any subset of units reads its block: LDA's pooled
within-class covariance (``Σ_c (G_c − n_c μ_c μ_cᵀ) / n``, sklearn's prior-weighted
empirical covariance), its ``coef_`` and ``intercept_`` by ``lstsq`` as sklearn
solves them; OLS's normal equations on the centred moments (the same minimiser as
sklearn's ``lstsq`` on the centred design when it is unique). A second pass over the
segments scores every probe of the curve at once: one product of the segment's rows
with the coefficients, and per fold only the counts (or squared errors) the score
needs (ROC AUC keeps the decisions for ranks). Units constant on a training fold are
found from the Gram diagonal (suspects checked on the raw values). Other splitters
use the training rows' own Gram. Greedy forward selection scores every candidate
unit of a step in one batched solve and one pass over each fold's rows.

Exact path. ``method="exact"`` fits the sklearn estimators with ``clone`` per fold;
forward selection mirrors ``SequentialFeatureSelector(direction="forward")`` (mean
CV score, the first best candidate), with which the tests compare it.

Degenerate cases. Rows without a label are dropped from both sides of each fold; a
training fold with one class predicts it (both paths); a fold without held-out rows
is left out of the mean.
"""

from numbers import Integral

import numpy as np
import pandas as pd
from scipy.linalg.blas import dsyrk
from scipy.stats import rankdata
from sklearn.base import clone, is_classifier
from sklearn.discriminant_analysis import LinearDiscriminantAnalysis
from sklearn.linear_model import LinearRegression
from sklearn.metrics import (
    accuracy_score,
    balanced_accuracy_score,
    get_scorer,
    roc_auc_score,
)
from sklearn.model_selection import GroupKFold, KFold, check_cv
from sklearn.neighbors import NearestCentroid
from sklearn.utils import check_random_state

from .._errors import InputError, InvalidParameterError
from .._numba import kernel

__all__ = ["forward_selection", "localization_curve"]

# Rows read at a time on the K-fold path: a block of activations stays in cache.
_CHUNK_ROWS = 4096

_CLASSIFIER_SCORES = {
    "accuracy": accuracy_score,
    "balanced_accuracy": balanced_accuracy_score,
    "roc_auc": roc_auc_score,
}


# --------------------------------------------------------------------- validation
def check_activations(X, *, return_sums=False):
    """``X`` as a finite 2-D float array (rows x units), or a clear error; with
    ``return_sums`` also its column sums."""
    X = np.asarray(X, dtype=np.float64)
    if X.ndim != 2:
        raise InputError(f"X must be 2-D (rows × units), got {X.ndim} dimensions.")
    # A finite column sum proves the column finite without an n × p mask; only a
    # non-finite sum (or an overflow) needs the element-wise check.
    sums = X.sum(axis=0)
    if not np.isfinite(sums).all():
        bad = np.argwhere(~np.isfinite(X))
        if bad.size:
            row, col = bad[0]
            raise InputError(f"X contains NaN or infinity: unit {col}, row {row}.")
    return (X, sums) if return_sums else X


def check_same_rows(X, n_labels):
    """Refuse labels that do not describe the rows of ``X``."""
    if n_labels != X.shape[0]:
        raise InputError(
            f"X has {X.shape[0]} rows (characters) but y has {n_labels}: they must "
            "describe the same characters."
        )


def _check_inputs(X, y, groups):
    """``(X, y, column means of X)``, checked."""
    X, sums = check_activations(X, return_sums=True)
    y = np.asarray(y, dtype=np.float64).ravel()
    check_same_rows(X, y.size)
    if groups is not None and len(groups) != X.shape[0]:
        raise InputError(
            f"groups has {len(groups)} entries but X has {X.shape[0]} rows."
        )
    # X.mean(axis=0), bit for bit, without another pass
    return X, y, sums / max(X.shape[0], 1)


def _check_units(units, n_units, what):
    units = np.asarray(units, dtype=np.int64).ravel()
    bad = units[(units < 0) | (units >= n_units)]
    if bad.size:
        raise InputError(
            f"{what} names unit {int(bad[0])}, but X has {n_units} units "
            f"(0 … {n_units - 1})."
        )
    # a repeated unit would count twice in "the top k" and make the joint probe's
    # Gram matrix singular
    values, counts = np.unique(units, return_counts=True)
    if (counts > 1).any():
        raise InputError(
            f"{what} names unit {int(values[counts > 1][0])} more than once; give "
            "each unit once."
        )
    return units


def _check_ks(ks, n_ranked):
    ks = np.asarray(list(ks), dtype=np.int64)
    if ks.size == 0 or (ks < 1).any():
        raise InvalidParameterError(f"ks must be positive integers, got {ks.tolist()}.")
    if (ks > n_ranked).any():
        raise InputError(
            f"k = {int(ks.max())} is larger than the {n_ranked} ranked units: pass ks "
            f"up to {n_ranked} (or a longer ranking)."
        )
    return ks


def _resolve_probe(probe, y, scoring):
    """The probe's name ("lda", "ols" or "estimator"), its sklearn estimator and the
    scoring name."""
    labels = np.unique(y[~np.isnan(y)])
    binary = labels.size == 2
    if isinstance(probe, str):
        if probe == "auto":
            probe = "lda" if binary else "ols"
        if probe == "lda":
            if not binary:
                raise InputError(
                    f"probe='lda' needs a binary feature; y has {labels.size} distinct "
                    "labels (use probe='ols')."
                )
            scoring = scoring or "accuracy"
            if scoring not in _CLASSIFIER_SCORES:
                raise InvalidParameterError(
                    f"scoring={scoring!r} is not one of {sorted(_CLASSIFIER_SCORES)} "
                    "for probe='lda'."
                )
            return "lda", LinearDiscriminantAnalysis(solver="lsqr"), scoring
        if probe == "ols":
            scoring = scoring or "r2"
            if scoring != "r2":
                raise InvalidParameterError(
                    f"probe='ols' is scored by 'r2', got scoring={scoring!r}."
                )
            return "ols", LinearRegression(), scoring
        raise InvalidParameterError(
            "probe must be 'auto', 'lda', 'ols' or an sklearn estimator, "
            f"got {probe!r}."
        )
    if not hasattr(probe, "fit"):
        raise InvalidParameterError(f"probe {probe!r} has no fit method.")
    scoring = scoring or ("accuracy" if is_classifier(probe) else "r2")
    return "estimator", probe, scoring


def _splits(X, y, cv, groups):
    """The CV splits on all rows, then rows without a label dropped from both sides."""
    if isinstance(cv, Integral):
        cv = GroupKFold(cv) if groups is not None else KFold(cv)
    cv = check_cv(cv)
    labelled = ~np.isnan(y)
    out = []
    for train, test in cv.split(X, None, groups):
        out.append((train[labelled[train]], test[labelled[test]]))
    return out


# ------------------------------------------------------------------ fold statistics
class _FoldStats:
    """Per fold: the training rows' count, sums and Gram matrices of all units (per
    class for a classifier) and the held-out rows' scores of any probe fitted on
    them."""

    def __init__(self, X, y, splits, classifier, center=None):
        self.center = X.mean(axis=0) if center is None else center
        self.classifier = classifier
        self.splits = splits
        if classifier:
            self.classes = np.unique(y[~np.isnan(y)])
        labelled = np.flatnonzero(~np.isnan(y))
        tests = np.concatenate([te for _, te in splits]) if splits else labelled
        partition = tests.size == labelled.size and bool(
            (np.bincount(tests, minlength=y.size) <= 1).all()
        )
        partition = partition and all(
            tr.size + te.size == labelled.size for tr, te in splits
        )
        self._X, self._y, self.partition = X, y, partition
        if partition:
            self._grouped(X, y, splits, labelled)
            return
        Xc = X - self.center
        self._test_X = [Xc[te] for _, te in splits]
        self.n_test = np.array([te.size for _, te in splits], dtype=float)
        # Units constant on a training fold get coefficient 0: their centred moments
        # are rounding noise (so is sklearn's result there), not information.
        self.const = [
            np.ptp(X[tr], axis=0) == 0 if tr.size else np.ones(X.shape[1], bool)
            for tr, _ in splits
        ]
        self.train = []
        for tr, _ in splits:
            # Other splitters: the training rows' own Gram, one product per fold.
            xt, yt = Xc[tr], y[tr]
            if classifier:
                stats = []
                for c in self.classes:
                    xc = xt[yt == c]
                    stats.append((float(xc.shape[0]), xc.sum(axis=0), xc.T @ xc))
                self.train.append(stats)
            else:
                n = float(xt.shape[0])
                mx, my = xt.mean(axis=0), yt.mean()
                d = xt - mx
                self.train.append((n, mx, my, d.T @ d, d.T @ (yt - my)))

    def _test_rows(self, k):
        """Fold k's labelled held-out rows (grouped order on the K-fold path)."""
        if not self.partition:
            return self.splits[k][1]
        segs = self._segs[self._segs[:, 0] // self._n_cls == k]
        if not len(segs):
            return np.zeros(0, dtype=np.int64)
        return np.concatenate([self._order[a:b] for _, a, b in segs])

    @property
    def test_X(self):
        """Per fold, the centred held-out rows (a copy, made on first use)."""
        if not hasattr(self, "_test_X"):
            self._test_X = [
                self._X[self._test_rows(k)] - self.center
                for k in range(len(self.splits))
            ]
        return self._test_X

    @property
    def test_y(self):
        """Per fold, the held-out labels (in the order of :attr:`test_X`)."""
        if not hasattr(self, "_test_y"):
            self._test_y = [
                self._y[self._test_rows(k)] for k in range(len(self.splits))
            ]
        return self._test_y

    def _grouped(self, X, y, splits, labelled):
        """K-fold style: per (fold, class) the count, sums and Gram matrix of the
        centred labelled rows, accumulated over segments (see :meth:`_segments`)
        read into one small buffer (no copy of X); a training fold's statistics
        are the totals minus the fold's own (centred data: no cancellation to
        speak of; the agreement tests hold to 1e-9)."""
        n_folds, p = len(splits), X.shape[1]
        n_cls = self._n_cls = len(self.classes) if self.classifier else 1
        self._segments(X, y, splits, labelled, n_cls)
        n_groups = n_folds * n_cls
        count = np.zeros(n_groups)
        sums = np.zeros((n_groups, p))
        # dsyrk fills the upper triangle of a Fortran-ordered matrix in place
        grams = [np.zeros((p, p), order="F") for _ in range(n_groups)]
        if not self.classifier:
            y_mean = float(np.mean(y[labelled]))
            sum_y, gram_xy = np.zeros(n_folds), np.zeros((n_folds, p))
        for g, rows, block in self._blocks(X, centre=True):
            k = g // n_cls
            count[g] += block.shape[0]
            sums[g] += block.sum(axis=0)
            grams[g] = dsyrk(1.0, block.T, beta=1.0, c=grams[g], overwrite_c=1)
            if not self.classifier:
                yt = y[rows] - y_mean
                sum_y[k] += yt.sum()
                gram_xy[k] += yt @ block
        upper = np.triu(np.ones((p, p), dtype=bool), 1)
        grams = np.stack([np.where(upper.T, g.T, g) for g in grams])
        self.const = self._constant_units(X, count, sums, grams)
        if self.classifier:
            parts = [
                [
                    (count[g], sums[g], grams[g])
                    for g in range(k * n_cls, (k + 1) * n_cls)
                ]
                for k in range(n_folds)
            ]
            total = [
                tuple(sum(part[i][j] for part in parts) for j in range(3))
                for i in range(n_cls)
            ]
            self.train = [
                [
                    tuple(total[i][j] - part[i][j] for j in range(3))
                    for i in range(n_cls)
                ]
                for part in parts
            ]
            return
        parts = [
            (count[k], sums[k], sum_y[k], grams[k], gram_xy[k]) for k in range(n_folds)
        ]
        total = tuple(sum(part[j] for part in parts) for j in range(5))
        self.train = []
        for part in parts:
            n, sx, sy, g, gxy = (total[j] - part[j] for j in range(5))
            safe = n if n > 0 else 1.0
            mx, my = sx / safe, sy / safe
            cxx = g - n * np.outer(mx, mx)
            cxy = gxy - n * mx * my
            self.train.append((n, mx, my + y_mean, cxx, cxy))

    def _constant_units(self, X, count, sums, grams):
        """Per fold, the units constant on its training rows: they get coefficient
        0 (their centred moments are rounding noise, so is sklearn's result
        there). A constant unit's centred sum of squares about the training mean
        is rounding noise next to its sum of squares (< 1e-6 of it); only units
        that small are checked on the raw values."""
        n_folds, n_cls = len(self.splits), self._n_cls
        shape = (n_folds, n_cls, -1)
        n = count.reshape(n_folds, n_cls).sum(axis=1)
        s = sums.reshape(shape).sum(axis=1)
        q = np.diagonal(grams, axis1=1, axis2=2).reshape(shape).sum(axis=1)
        n, s, q = n.sum() - n, s.sum(axis=0) - s, q.sum(axis=0) - q
        with np.errstate(invalid="ignore", divide="ignore"):
            spread = q - s * s / n[:, None]
        fold = self._group // n_cls
        const = []
        for k in range(n_folds):
            if not n[k]:
                const.append(np.ones(X.shape[1], bool))
                continue
            flags = np.zeros(X.shape[1], bool)
            suspects = np.flatnonzero(~(spread[k] > 1e-6 * q[k]))
            if suspects.size:
                # only the suspect columns: a copy of every training row would
                # undo the segment passes' point
                rows = np.flatnonzero((fold >= 0) & (fold != k))
                train = X[np.ix_(rows, suspects)]
                flags[suspects] = train.min(axis=0) == train.max(axis=0)
            const.append(flags)
        return const

    def _segments(self, X, y, splits, labelled, n_cls):
        """The labelled rows cut into segments: one per chunk of ``_CHUNK_ROWS``
        consecutive rows and (fold, class) group present in it. ``self._order``
        holds the rows chunk by chunk, group by group; ``self._segs`` the (group,
        start, stop) of every segment in it; ``self.count`` the rows per group."""
        n = X.shape[0]
        n_groups = len(splits) * n_cls
        group = np.full(n, -1, dtype=np.int64)
        for k, (_, te) in enumerate(splits):
            group[te] = k * n_cls
        if self.classifier:
            group[labelled] += np.searchsorted(self.classes, y[labelled])
        self._group = group
        key = (np.arange(n) // _CHUNK_ROWS) * (n_groups + 1) + (group + 1)
        counts = np.bincount(key)
        bounds = np.zeros(counts.size + 1, dtype=np.int64)
        np.cumsum(counts, out=bounds[1:])
        # a stable sort of small ints is a radix sort
        small = key.astype(np.int16) if counts.size <= 2**15 else key
        self._order = np.argsort(small, kind="stable")
        slots = np.flatnonzero(counts)
        slots = slots[slots % (n_groups + 1) != 0]  # group -1: unlabelled rows
        self._segs = np.column_stack(
            [slots % (n_groups + 1) - 1, bounds[slots], bounds[slots + 1]]
        )
        self.count = np.bincount(group[labelled], minlength=n_groups).astype(float)
        self.n_test = self.count.reshape(len(splits), n_cls).sum(axis=1)

    def _blocks(self, X, centre):
        """``(group, rows, block)`` per segment, ``block`` = ``X[rows]`` (minus the
        centre if ``centre``) in a buffer that the next segment overwrites."""
        if not len(self._segs):
            return
        buffer = np.empty(
            (int((self._segs[:, 2] - self._segs[:, 1]).max()), X.shape[1])
        )
        for g, a, b in self._segs:
            rows = self._order[a:b]
            block = buffer[: b - a]
            if rows[-1] - rows[0] == b - a - 1:  # consecutive rows: a slice of X
                if centre:
                    np.subtract(X[rows[0] : rows[-1] + 1], self.center, out=block)
                else:
                    block[...] = X[rows[0] : rows[-1] + 1]
            else:
                np.take(X, rows, axis=0, out=block, mode="clip")
                if centre:
                    block -= self.center
            yield int(g), rows, block

    def fit(self, k, units, kind):
        """(coef, intercept) of ``kind`` ("lda", "ols", "centroid") on fold k's
        training rows and ``units``; None when the fold has one class (or none)."""
        s = np.asarray(units)
        if kind == "mean":  # no usable unit: the constant fit of the probe
            if self.classifier:
                (n0, _, _), (n1, _, _) = self.train[k]
                if n0 == 0 or n1 == 0:
                    return None
                return np.zeros(1), np.log(n1 / n0)
            n, mx, my, cxx, cxy = self.train[k]
            return (np.zeros(1), my) if n >= 1 else None
        keep = ~self.const[k][s]
        if not keep.all():
            coef = np.zeros(s.size)
            fitted = self.fit(k, s[keep], kind) if keep.any() else None
            if fitted is None and keep.any():
                return None
            if fitted is None:
                fitted = self.fit(k, s[:1], "mean")
                if fitted is None:
                    return None
                return coef, fitted[1]
            coef[keep] = fitted[0]
            return coef, fitted[1]
        if kind == "ols":
            n, mx, my, cxx, cxy = self.train[k]
            if n < 1:
                return None
            coef = np.linalg.lstsq(cxx[np.ix_(s, s)], cxy[s], rcond=None)[0]
            return coef, my - mx[s] @ coef
        (n0, s0, g0), (n1, s1, g1) = self.train[k]
        if n0 == 0 or n1 == 0:
            return None
        m0, m1 = s0[s] / n0, s1[s] / n1
        if kind == "centroid":
            # ||x − m0||² − ||x − m1||² > 0 → class 1 (NearestCentroid's argmin).
            return 2 * (m1 - m0), m0 @ m0 - m1 @ m1
        w0 = g0[np.ix_(s, s)] - n0 * np.outer(m0, m0)
        w1 = g1[np.ix_(s, s)] - n1 * np.outer(m1, m1)
        cov = (w0 + w1) / (n0 + n1)
        a = np.linalg.lstsq(cov, np.c_[m0, m1], rcond=None)[0]
        coef = a[:, 1] - a[:, 0]
        prior1, prior0 = n1 / (n0 + n1), n0 / (n0 + n1)
        intercept = -0.5 * (m1 @ a[:, 1] - m0 @ a[:, 0]) + np.log(prior1 / prior0)
        return coef, intercept

    def fold_score(self, k, units, kind, scoring):
        yt = self.test_y[k]
        if yt.size == 0:
            return np.nan
        fitted = self.fit(k, units, kind)
        if fitted is None:
            if not self.classifier:
                return np.nan
            # One class to train on: predict it (decisions all tie).
            (n0, _, _), (n1, _, _) = self.train[k]
            d = np.full(yt.size, 1.0 if n1 > 0 else -1.0)
        else:
            coef, intercept = fitted
            d = self.test_X[k][:, units] @ coef + intercept
        return _score(d, yt, self.classes if self.classifier else None, scoring)

    def batch_scores(self, sets, scoring):
        """Held-out scores of many probes, shape (len(sets), n_folds): per fold, every
        ``(units, kind)`` of ``sets`` fitted on its block of the Gram matrices, then
        all decisions in one product of the held-out rows with the coefficients
        (zero outside each set's units)."""
        n_units, n_folds = self.center.size, len(self.splits)
        coefs = np.zeros((n_folds, n_units, len(sets)))
        intercepts = np.zeros((n_folds, len(sets)))
        unfitted = np.zeros((n_folds, len(sets)), dtype=bool)
        batches = {}  # probes of one kind and size: one batched solve per fold
        for i, (units, kind) in enumerate(sets):
            batches.setdefault((kind, len(units)), []).append(i)
        for k in range(n_folds):
            if not self.n_test[k]:
                continue
            single = []
            for (kind, _), rows in batches.items():
                if kind == "centroid":
                    single += rows
                    continue
                units = np.array([sets[i][0] for i in rows], dtype=np.int64)
                fitted = _batched_fit(self, k, units, kind)
                if fitted is None:
                    single += rows
                    continue
                for i, u, c, b in zip(rows, units, *fitted, strict=True):
                    np.add.at(coefs[k, :, i], u, c)
                    intercepts[k, i] = b
            for i in single:
                units, kind = sets[i]
                fitted = self.fit(k, units, kind)
                if fitted is None:
                    unfitted[k, i] = True
                    if self.classifier:
                        # One class to train on: predict it (decisions all tie).
                        (n0, _, _), (n1, _, _) = self.train[k]
                        intercepts[k, i] = 1.0 if n1 > 0 else -1.0
                    continue
                np.add.at(coefs[k, :, i], units, fitted[0])
                intercepts[k, i] = fitted[1]
        if self.partition and scoring != "roc_auc":
            out = self._segment_scores(coefs, intercepts, scoring)
        else:
            out = np.full((len(sets), n_folds), np.nan)
            for k in range(n_folds):
                yt = self.test_y[k]
                if yt.size == 0:
                    continue
                d = self.test_X[k] @ coefs[k] + intercepts[k]
                if scoring == "roc_auc":
                    out[:, k] = [_score(col, yt, self.classes, scoring) for col in d.T]
                else:
                    classes = self.classes if self.classifier else None
                    out[:, k] = _column_scores(d, yt, classes, scoring)
        if not self.classifier:
            out[unfitted.T] = np.nan
        return out

    def _segment_scores(self, coefs, intercepts, scoring):
        """:meth:`batch_scores`' held-out scores (accuracy, balanced accuracy, R²)
        from one pass over the segments: per fold and class the count of positive
        decisions (or the squared errors), never all decisions at once."""
        n_folds, _, m = coefs.shape
        n_cls = self._n_cls
        positive = np.zeros((n_folds, n_cls, m))
        sse = np.zeros((n_folds, m))
        # decisions on the raw rows: (x − centre) · w + b = x · w + (b − centre · w)
        weights = np.ascontiguousarray(coefs.transpose(0, 2, 1))
        offsets = intercepts - self.center @ coefs
        buffer = np.empty(m * _CHUNK_ROWS)
        for g, rows, block in self._blocks(self._X, centre=False):
            k, c = divmod(g, n_cls)
            d = buffer[: m * block.shape[0]].reshape(m, block.shape[0])
            np.matmul(weights[k], block.T, out=d)  # (m, rows): one set per row
            d += offsets[k][:, None]
            if self.classifier:
                positive[k, c] += np.count_nonzero(d > 0, axis=1)
            else:
                d -= self._y[rows]
                sse[k] += np.einsum("ij,ij->i", d, d)
        out = np.full((m, n_folds), np.nan)
        for k in range(n_folds):
            if not self.n_test[k]:
                continue
            if not self.classifier:
                yt = self.test_y[k]
                if yt.size < 2:
                    continue
                sst = ((yt - yt.mean()) ** 2).sum()
                out[:, k] = (
                    np.where(sse[k] == 0, 1.0, 0.0) if sst == 0 else 1 - sse[k] / sst
                )
                continue
            n_c = self.count[k * n_cls : (k + 1) * n_cls]
            # class 1 right where d > 0, class 0 where d <= 0 (sklearn's predict)
            right = [positive[k, 1], n_c[0] - positive[k, 0]]
            if scoring == "accuracy":
                out[:, k] = (right[0] + right[1]) / self.n_test[k]
            else:
                recalls = [right[1 - c] / n_c[c] for c in range(n_cls) if n_c[c]]
                out[:, k] = np.mean(recalls, axis=0)
        return out


def _score(d, y, classes, scoring):
    """Held-out score of decisions ``d`` against ``y``, computed in NumPy (sklearn's
    metric functions cost ~7 ms a call in input checks, the bulk of a curve); the
    exact path's sklearn scores agree (tests)."""
    if classes is None:
        return _column_scores(d[:, None], y, None, scoring)[0]
    if scoring == "roc_auc":
        positive = y == classes[1]
        n1 = int(positive.sum())
        n0 = positive.size - n1
        if n1 == 0 or n0 == 0:
            return np.nan
        # Mann-Whitney: ties get average ranks, as sklearn's trapezoids count them
        ranks = rankdata(d)
        return (ranks[positive].sum() - n1 * (n1 + 1) / 2) / (n1 * n0)
    return _column_scores(d[:, None], y, classes, scoring)[0]


def _exact_fold_scores(estimator, X, y, splits, scoring):
    """``clone(estimator)`` fitted per fold on ``X``; one-class folds predict it."""
    scorer = get_scorer(scoring)
    out = np.full(len(splits), np.nan)
    for k, (tr, te) in enumerate(splits):
        if te.size == 0 or tr.size == 0:
            continue
        if is_classifier(estimator) and np.unique(y[tr]).size < 2:
            pred = np.full(te.size, y[tr][0])
            if scoring == "roc_auc":
                out[k] = 0.5 if np.unique(y[te]).size == 2 else np.nan
            else:
                out[k] = _CLASSIFIER_SCORES[scoring](y[te], pred)
            continue
        if scoring == "roc_auc" and np.unique(y[te]).size < 2:
            continue
        if not is_classifier(estimator) and te.size < 2:
            continue
        out[k] = scorer(clone(estimator).fit(X[tr], y[tr]), X[te], y[te])
    return out


def _exact_centroid_scores(X, y, splits, scoring):
    """Difference-in-means reference: ``NearestCentroid()`` (accuracy-like scores) or
    the ROC AUC of the projection on the training means' difference."""
    if scoring != "roc_auc":
        return _exact_fold_scores(NearestCentroid(), X, y, splits, scoring)
    classes = np.unique(y[~np.isnan(y)])
    out = np.full(len(splits), np.nan)
    for k, (tr, te) in enumerate(splits):
        if np.unique(y[te]).size < 2 or np.unique(y[tr]).size < 2:
            continue
        m0 = X[tr][y[tr] == classes[0]].mean(axis=0)
        m1 = X[tr][y[tr] == classes[1]].mean(axis=0)
        out[k] = roc_auc_score(y[te] == classes[1], X[te] @ (m1 - m0))
    return out


def _mean(scores):
    scores = np.asarray(scores, dtype=np.float64)
    return np.nan if np.isnan(scores).all() else float(np.nanmean(scores))


# ---------------------------------------------------------------------- public API
def localization_curve(
    X,
    y,
    ranking,
    ks=(1, 2, 4, 8, 16, 32),
    *,
    cv=5,
    groups=None,
    probe="auto",
    scoring=None,
    n_random=20,
    method="auto",
    random_state=None,
):
    """CV score of one probe on the top-k ranked units jointly, for several k.

    Parameters
    ----------
    X : array-like of shape (n_chars, n_units)
        Activations.
    y : array-like of shape (n_chars,)
        One feature's labels (NaN: unlabelled row, left out of both sides of a fold).
    ranking : array-like of int
        Unit indices, best first (e.g. ``search.scores_.loc[f].sort_values(
        ascending=False)`` positions, or ``search.top_units_[f]``).
    ks : iterable of int, default=(1, 2, 4, 8, 16, 32)
        Numbers of top units; each at most ``len(ranking)``.
    cv : int or cross-validation generator, default=5
        ``KFold(cv)``, or ``GroupKFold(cv)`` with ``groups`` (whole texts per fold).
    groups : array-like of shape (n_chars,), optional
        Text index of every row.
    probe : {"auto", "lda", "ols"} or estimator, default="auto"
        ``"auto"``: ``"lda"`` for a binary feature, ``"ols"`` otherwise. An estimator
        takes the exact path.
    scoring : str, optional
        ``"accuracy"`` (default), ``"balanced_accuracy"`` or ``"roc_auc"`` for LDA;
        ``"r2"`` for OLS.
    n_random : int, default=20
        Random draws of k units per k (the floor and its interval).
    method : {"auto", "fast", "exact"}, default="auto"
        ``"exact"`` fits sklearn estimators per fold (the reference path).
    random_state : int, RandomState or None, default=None
        The random draws; the same for both methods.

    Returns
    -------
    DataFrame
        One row per k: ``k``; ``top_k`` and ``top_k_std`` (mean and std over folds
        of the probe on the top-k units); ``diff_means`` (nearest-centroid rule on
        the top-k units: the difference-in-means direction; NaN for OLS);
        ``random_mean``, ``random_low``, ``random_high`` (mean, 2.5% and 97.5% of the
        mean CV score of ``n_random`` random k-unit sets); ``whole_layer`` (the probe
        on every unit, the same on every row); ``probe``, ``scoring``.

    Raises
    ------
    InputError
        A k larger than the ranking, a unit outside X or named twice, mismatched
        lengths.

    Examples
    --------
    >>> import numpy as np
    >>> from skdni.probing import localization_curve
    >>> rng = np.random.default_rng(0)
    >>> y = (rng.random(600) < 0.5).astype(float)
    >>> X = rng.normal(size=(600, 6))
    >>> X[:, 2] += 2 * y
    >>> curve = localization_curve(X, y, [2, 0, 1], ks=(1, 3), n_random=5,
    ...                            random_state=0)
    >>> curve[["k", "top_k"]].round(2).values.tolist()
    [[1.0, 0.84], [3.0, 0.84]]
    """
    X, y, center = _check_inputs(X, y, groups)
    ranking = _check_units(ranking, X.shape[1], "ranking")
    ks = _check_ks(ks, ranking.size)
    if method not in ("auto", "fast", "exact"):
        raise InvalidParameterError(f"method must be auto, fast or exact: {method!r}.")
    kind, estimator, scoring = _resolve_probe(probe, y, scoring)
    if kind == "estimator" and method == "fast":
        raise InvalidParameterError("method='fast' needs probe 'lda' or 'ols'.")
    exact = method == "exact" or kind == "estimator"
    splits = _splits(X, y, cv, groups)
    rng = check_random_state(random_state)
    n_units = X.shape[1]
    draws = [
        [rng.choice(n_units, size=k, replace=False) for _ in range(n_random)]
        for k in ks
    ]
    classifier = kind == "lda" or (kind == "estimator" and is_classifier(estimator))
    sets = [(np.arange(n_units), kind)]
    for i, k in enumerate(ks):
        sets += [(ranking[:k], kind)] + [(u, kind) for u in draws[i]]
        if classifier:
            sets.append((ranking[:k], "centroid"))
    if not exact:
        # every probe of the curve scored at once: one product per fold
        stats = _FoldStats(X, y, splits, classifier, center)
        table = stats.batch_scores(sets, scoring)
        fast = {(w, tuple(u)): row for (u, w), row in zip(sets, table, strict=True)}

    def scores(units, which):
        if exact:
            if which == "centroid":
                return _exact_centroid_scores(X[:, units], y, splits, scoring)
            return _exact_fold_scores(estimator, X[:, units], y, splits, scoring)
        return fast[which, tuple(units)]

    whole = _mean(scores(np.arange(n_units), kind))
    rows = []
    for i, k in enumerate(ks):
        top = scores(ranking[:k], kind)
        random_means = np.array([_mean(scores(u, kind)) for u in draws[i]])
        diff = _mean(scores(ranking[:k], "centroid")) if classifier else np.nan
        ok = random_means[~np.isnan(random_means)]
        rows.append(
            {
                "k": int(k),
                "top_k": _mean(top),
                "top_k_std": float(np.nanstd(top))
                if not np.isnan(top).all()
                else np.nan,
                "diff_means": diff,
                "random_mean": float(ok.mean()) if ok.size else np.nan,
                "random_low": float(np.percentile(ok, 2.5)) if ok.size else np.nan,
                "random_high": float(np.percentile(ok, 97.5)) if ok.size else np.nan,
                "whole_layer": whole,
                "probe": kind if kind != "estimator" else type(estimator).__name__,
                "scoring": scoring,
            }
        )
    return pd.DataFrame(rows)


def forward_selection(
    X,
    y,
    n_select=8,
    *,
    cv=5,
    groups=None,
    probe="auto",
    scoring=None,
    method="auto",
):
    """Greedy forward selection of units: at each step the unit whose addition gives
    the best mean CV score of one joint probe.

    Parameters
    ----------
    X : array-like of shape (n_chars, n_units)
        Activations.
    y : array-like of shape (n_chars,)
        One feature's labels (NaN rows are left out of both sides of each fold).
    n_select : int, default=8
        Number of steps (units selected); at most the number of units.
    cv : int or cross-validation generator, default=5
        As in :func:`localization_curve`.
    groups : array-like of shape (n_chars,), optional
        Text index of every row.
    probe : {"auto", "lda", "ols"} or estimator, default="auto"
        As in :func:`localization_curve`.
    scoring : str, optional
        ``"accuracy"`` (default) or ``"balanced_accuracy"`` for LDA (fast path;
        ``"roc_auc"`` takes the exact path), ``"r2"`` for OLS.
    method : {"auto", "fast", "exact"}, default="auto"
        ``"exact"``: ``cross_val_score``-style fits of every candidate, the algorithm
        of ``SequentialFeatureSelector(direction="forward")``.

    Returns
    -------
    DataFrame
        One row per step: ``step`` (1-based), ``unit`` (index selected), ``score``
        (mean CV score of the probe on the units selected so far).

    Raises
    ------
    InputError
        ``n_select`` larger than the number of units.

    Examples
    --------
    >>> import numpy as np
    >>> from skdni.probing import forward_selection
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(500, 5))
    >>> y = X[:, 3] - X[:, 1] + 0.1 * rng.normal(size=500)
    >>> forward_selection(X, y, n_select=2)["unit"].tolist()
    [3, 1]
    """
    X, y, center = _check_inputs(X, y, groups)
    n_units = X.shape[1]
    if not isinstance(n_select, Integral) or n_select < 1:
        raise InvalidParameterError(
            f"n_select must be a positive int, got {n_select!r}."
        )
    if n_select > n_units:
        raise InputError(
            f"n_select = {n_select} is larger than the {n_units} units of X."
        )
    kind, estimator, scoring = _resolve_probe(probe, y, scoring)
    splits = _splits(X, y, cv, groups)
    exact = method == "exact" or kind == "estimator" or scoring == "roc_auc"
    if exact and method == "fast":
        raise InvalidParameterError(
            "method='fast' needs probe 'lda' (accuracy, balanced_accuracy) or 'ols'."
        )
    classifier = kind == "lda" or (kind == "estimator" and is_classifier(estimator))
    selected, rows = [], []
    if exact:
        for step in range(n_select):
            best, best_score = None, -np.inf
            for j in range(n_units):
                if j in selected:
                    continue
                units = selected + [j]
                s = _mean(
                    _exact_fold_scores(estimator, X[:, units], y, splits, scoring)
                )
                if s > best_score:  # first best, as SequentialFeatureSelector
                    best, best_score = j, s
            selected.append(best)
            rows.append({"step": step + 1, "unit": best, "score": best_score})
        return pd.DataFrame(rows)
    stats = _FoldStats(X, y, splits, classifier, center)
    for step in range(n_select):
        candidates = np.array([j for j in range(n_units) if j not in selected])
        fold_scores = np.vstack(
            [
                _candidate_scores(stats, k, selected, candidates, kind, scoring)
                for k in range(len(splits))
            ]
        )
        with np.errstate(invalid="ignore"):
            means = np.nanmean(
                np.where(np.isnan(fold_scores), np.nan, fold_scores), axis=0
            )
        i = int(np.argmax(np.where(np.isnan(means), -np.inf, means)))
        selected.append(int(candidates[i]))
        rows.append(
            {"step": step + 1, "unit": int(candidates[i]), "score": float(means[i])}
        )
    return pd.DataFrame(rows)


def _candidate_scores(stats, k, selected, candidates, kind, scoring):
    """Fold k's held-out score of the probe on ``selected + [j]`` for every candidate
    j: one batched solve and one product."""
    yt = stats.test_y[k]
    m = candidates.size
    if yt.size == 0:
        return np.full(m, np.nan)
    sets = np.column_stack([np.tile(selected, (m, 1)).astype(np.int64), candidates])
    fitted = _batched_fit(stats, k, sets, kind)
    if fitted is None and kind == "ols":
        return np.full(m, np.nan)  # no training row
    if fitted is None:
        (n0, _, _), (n1, _, _) = stats.train[k]
        d = np.full((yt.size, m), 1.0 if n1 > 0 else -1.0)
        return _column_scores(d, yt, stats.classes, scoring)
    coef, intercept = fitted
    yt_code = yt if kind == "ols" else (yt == stats.classes[1]).astype(np.float64)
    counts = _candidate_counts(
        stats.test_X[k],
        yt_code,
        np.asarray(selected, dtype=np.int64),
        candidates,
        np.ascontiguousarray(coef[:, :-1].T),
        np.ascontiguousarray(coef[:, -1]),
        intercept,
        kind == "ols",
    )
    return _count_scores(counts, yt_code, kind == "ols", scoring)


@kernel
def _candidate_counts(Xt, target, selected, candidates, A, c, b, regression):
    """Over the held-out rows ``Xt``, per candidate j the decision ``b[j] + Σ_s
    Xt[:, selected[s]] A[s, j] + Xt[:, candidates[j]] c[j]`` scored against
    ``target``: the sum of squared errors (``regression``), else the true positives
    and true negatives of ``d > 0`` → class 1 (target 1.0 / 0.0). Shape (2, m); one
    pass over the rows, no (rows × candidates) temporaries."""
    m = candidates.size
    out = np.zeros((2, m))
    d = np.empty(m)
    for i in range(Xt.shape[0]):
        row = Xt[i]
        for j in range(m):
            d[j] = b[j]
        for s in range(selected.size):
            v = row[selected[s]]
            for j in range(m):
                d[j] += v * A[s, j]
        t = target[i]
        for j in range(m):
            dj = d[j] + row[candidates[j]] * c[j]
            if regression:
                out[0, j] += (t - dj) * (t - dj)
            elif t == 1.0:
                out[0, j] += dj > 0
            else:
                out[1, j] += dj <= 0
    return out


def _count_scores(counts, target, regression, scoring):
    """Scores from :func:`_candidate_counts` (as :func:`_column_scores` computes
    them from the decisions)."""
    if regression:
        if target.size < 2:
            return np.full(counts.shape[1], np.nan)
        sst = ((target - target.mean()) ** 2).sum()
        if sst == 0:
            return np.where(counts[0] == 0, 1.0, 0.0)
        return 1.0 - counts[0] / sst
    n_pos = float(target.sum())
    n_neg = target.size - n_pos
    if scoring == "accuracy":
        return (counts[0] + counts[1]) / target.size
    recalls = []
    if n_pos:
        recalls.append(counts[0] / n_pos)
    if n_neg:
        recalls.append(counts[1] / n_neg)
    return np.mean(recalls, axis=0)


def _batched_fit(stats, k, sets, kind):
    """(coef (m, s), intercept (m,)) of ``kind`` ("lda" or "ols") on fold k's
    training rows for every row of unit sets ``sets`` (m, s): one batched solve (as
    :meth:`_FoldStats.fit` per set; constant units get 0). None when the training
    fold has one class (or no row)."""
    idx_r, idx_c = sets[:, :, None], sets[:, None, :]
    const = stats.const[k][sets]  # (m, s): units constant on the training fold
    if kind == "ols":
        n, mx, my, cxx, cxy = stats.train[k]
        if n < 1:
            return None
        A = cxx[idx_r, idx_c]
        coef = _batched_solve(*_pin(A, cxy[sets][:, :, None], const))[:, :, 0]
        return coef, my - np.einsum("ms,ms->m", mx[sets], coef)
    (n0, s0, g0), (n1, s1, g1) = stats.train[k]
    if n0 == 0 or n1 == 0:
        return None
    m0, m1 = s0[sets] / n0, s1[sets] / n1
    outer0 = m0[:, :, None] * m0[:, None, :]
    outer1 = m1[:, :, None] * m1[:, None, :]
    cov = (g0[idx_r, idx_c] - n0 * outer0 + g1[idx_r, idx_c] - n1 * outer1) / (n0 + n1)
    a = _batched_solve(*_pin(cov, np.stack([m0, m1], axis=2), const))
    coef = a[:, :, 1] - a[:, :, 0]
    intercept = -0.5 * (
        np.einsum("ms,ms->m", m1, a[:, :, 1]) - np.einsum("ms,ms->m", m0, a[:, :, 0])
    ) + np.log(n1 / n0)
    return coef, intercept


def _pin(A, B, const):
    """Systems with the rows and columns of constant units replaced by identity rows
    and zero right-hand sides: their coefficients are 0."""
    if not const.any():
        return A, B
    A, B = A.copy(), B.copy()
    i, r = np.nonzero(const)
    A[i, r, :] = 0.0
    A[i, :, r] = 0.0
    A[i, r, r] = 1.0
    B[i, r, :] = 0.0
    return A, B


def _batched_solve(A, B):
    """``lstsq(A[i], B[i])`` for a stack: LU where every matrix is regular, lstsq
    (the minimum-norm solution sklearn's solvers give) where one is singular."""
    try:
        out = np.linalg.solve(A, B)
        if np.isfinite(out).all():
            return out
    except np.linalg.LinAlgError:
        pass
    return np.stack(
        [np.linalg.lstsq(a, b, rcond=None)[0] for a, b in zip(A, B, strict=True)]
    )


def _column_scores(d, y, classes, scoring):
    """Score of every column of decisions d (n_test, m) against y."""
    if classes is None:
        if y.size < 2:
            return np.full(d.shape[1], np.nan)
        sst = ((y - y.mean()) ** 2).sum()
        sse = ((y[:, None] - d) ** 2).sum(axis=0)
        if sst == 0:
            return np.where(sse == 0, 1.0, 0.0)
        return 1.0 - sse / sst
    truth = (y == classes[1])[:, None]
    pred = d > 0
    if scoring == "accuracy":
        return (pred == truth).mean(axis=0)
    pos, neg = truth[:, 0], ~truth[:, 0]
    recalls = []
    if pos.any():
        recalls.append(pred[pos].mean(axis=0))
    if neg.any():
        recalls.append((~pred[neg]).mean(axis=0))
    return np.mean(recalls, axis=0)
