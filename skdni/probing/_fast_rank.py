"""Balanced accuracy and ROC AUC of fitted 1-D probes: exact, one sort per unit.

Objective. For every (feature, unit, fold), the held-out score that
``get_scorer("balanced_accuracy")`` or ``get_scorer("roc_auc")`` gives the probe
fitted on the fold's training rows, i.e. what
``cross_val_score(probe, x, y, cv=..., scoring=...)`` returns fold by fold. Imbalanced
binary features need these: a unit that separates a 10%-positive feature can leave
every linear probe predicting the majority class, so its accuracy equals chance while
its ROC AUC and balanced accuracy do not.

The probe. For balanced accuracy the SVM probe is ``LinearSVC(class_weight=
"balanced")``: fitted to plain accuracy, its threshold on an imbalanced feature sits
past the data (it predicts the majority, balanced accuracy 0.5, however well the unit
separates the classes), so balanced accuracy of that fit would see nothing either.
For ROC AUC only the sign of the slope matters; the probe is ``LinearSVC()``.

Algorithm. A fitted 1-D linear probe is the rule ``d(x) = x * w + b`` (sklearn's own
arithmetic; ``d > 0`` → ``classes_[1]``), so only ``(w, b)`` per fold is needed from
the fit; the SVM engine gets them from the exact solver of :mod:`._fast_svm` (class
weights scale each class's squared hinge), on the unit's one sorted column (no extra
sort). Then, per feature:

* *Balanced accuracy* (:func:`fold_balanced`): the predicted positives of a fold are
  a prefix or suffix of its sorted held-out rows, found by binary search; true
  positives and negatives come from the fold's prefix counts (the SVM engine's own
  checkpoints). The score is the mean recall over the classes present in the fold, as
  :func:`sklearn.metrics.balanced_accuracy_score` computes it.
* *ROC AUC*: the Mann–Whitney statistic of the held-out decisions, from ranks.
  ``d`` is monotone in ``x`` (floating-point products and sums are), so the fold's
  rows in ascending ``x`` are in decision order, and while ``d`` keeps distinct
  activations distinct (:func:`_distinct`, a bound on the rounding: all but
  vanishing slopes) the count is the one over ``x`` — for each positive, the
  negatives below it, ties one half — which the prefix pass keeps per fold for
  every feature, whatever the fit. Otherwise :func:`fold_auc` counts over the
  decisions themselves. With ``w > 0`` the AUC is ``U / (P·N)``, with ``w < 0``
  (the sign chosen on the training rows) it is ``1 − U / (P·N)``.

Degenerate cases, the same on the exact path: a fold without labelled held-out or
training rows scores NaN; a training fold with one class predicts that class (``w =
0``, ``b = ±1``: balanced accuracy from the counts, AUC 0.5 as all decisions tie; the
exact path fits ``DummyClassifier(strategy="most_frequent")`` aware of both classes);
a held-out fold with one class has an undefined AUC (NaN, as sklearn returns) and a
balanced accuracy equal to that class's recall. Chance is 0.5 for both scores.
"""

import numpy as np

from .._numba import helper, kernel
from ._fast_svm import (
    _BLOCK,
    _C0,
    FEATURE_BLOCK,
    _first_positive,
    _last_positive,
    _prefix_at,
    build_prefix_block,
    svm_block,
    svm_feature,
    svm_fold_fits,
    svm_layout,
)

__all__ = ["RANK_METRICS", "fold_auc", "fold_balanced", "svm_rank_scores"]

# Scorer name → the code the kernels take.
RANK_METRICS = {"balanced_accuracy": 0, "roc_auc": 1}


@helper
def _balanced(tp, fn, tn, fp):
    """Mean recall over the classes with held-out rows (sklearn's definition)."""
    n_pos, n_neg = tp + fn, tn + fp
    if n_pos > 0 and n_neg > 0:
        return (tp / n_pos + tn / n_neg) / 2.0
    if n_pos > 0:
        return tp / n_pos
    return tn / n_neg


@helper
def fold_balanced(data, k, w, b):
    """Balanced accuracy of ``x * w + b > 0`` → class 1 on fold k's held-out rows.

    The predicted positives are a prefix or suffix of the fold's sorted run (the
    decision is monotone in x), found by binary search with sklearn's arithmetic;
    the class counts on each side come from the fold's checkpointed prefix sums.
    """
    _, _, _, xfs, fwords, fprefix, fold_off, cp_off, jj = data
    lo, hi = fold_off[k], fold_off[k + 1]
    fx, fw = xfs[lo:hi], fwords[lo:hi]
    cp = fprefix[cp_off[k] : cp_off[k + 1]]
    n_pos = cp[cp.shape[0] - 1, jj]
    n_neg = cp[cp.shape[0] - 1, _C0 + jj]
    if w > 0:
        i = _first_positive(fx, w, b)  # rows i: are predicted positive
        tp = n_pos - _prefix_at(fx, fw, cp, i, jj, 1, _BLOCK)[0]
        tn = _prefix_at(fx, fw, cp, i, jj, 0, _BLOCK)[0]
    elif w < 0:
        i = _last_positive(fx, w, b)  # rows :i are predicted positive
        tp = _prefix_at(fx, fw, cp, i, jj, 1, _BLOCK)[0]
        tn = n_neg - _prefix_at(fx, fw, cp, i, jj, 0, _BLOCK)[0]
    else:
        tp, tn = (n_pos, 0.0) if b > 0 else (0.0, n_neg)
    return _balanced(tp, n_pos - tp, tn, n_neg - tn)


@kernel
def fold_auc(fx, fw, jj, w, b):
    """ROC AUC of the decisions ``x * w + b`` on one fold's sorted run (``fx``
    ascending; labels: feature ``jj`` of the packed words ``fw``, see
    :func:`~._fast_svm.pack_codes`): the Mann-Whitney count over groups of equal
    decisions (ties count one half), reversed when ``w < 0``. NaN if a class is
    missing (sklearn returns NaN there too)."""
    below = 0.0  # negatives in closed groups
    g_pos = 0.0
    g_neg = 0.0
    n_pos = 0.0
    u = 0.0
    last = np.nan
    for i in range(fx.size):
        pos = (fw[i] >> jj) & 1
        if not pos and not (fw[i] >> (16 + jj)) & 1:
            continue  # unlabelled
        d = fx[i] * w + b
        if d != last:
            u += g_pos * (below + 0.5 * g_neg)
            below += g_neg
            g_pos = 0.0
            g_neg = 0.0
            last = d
        if pos:
            g_pos += 1.0
            n_pos += 1.0
        else:
            g_neg += 1.0
    u += g_pos * (below + 0.5 * g_neg)
    n_neg = below + g_neg
    if n_pos == 0 or n_neg == 0:
        return np.nan
    auc = u / (n_pos * n_neg)
    return 1.0 - auc if w < 0 else auc


@kernel
def fold_gaps(xfs, fold_off):
    """Per fold of a fold-split sorted unit: the smallest gap between distinct
    activations and the largest |activation| (see :func:`_distinct`)."""
    n_folds = fold_off.size - 1
    gap = np.empty(n_folds)
    top = np.empty(n_folds)
    gap[:] = np.inf
    top[:] = 0.0
    for k in range(n_folds):
        lo, hi = fold_off[k], fold_off[k + 1]
        if hi > lo:
            top[k] = max(abs(xfs[lo]), abs(xfs[hi - 1]))
        for i in range(lo + 1, hi):
            d = xfs[i] - xfs[i - 1]
            if 0.0 < d < gap[k]:
                gap[k] = d
    return gap, top


@kernel
def _distinct(gap, top, w, b):
    """Whether ``x * w + b`` (w ≠ 0), computed in float64, keeps every two distinct
    activations of the fold distinct: the exact decisions differ by at least
    |w|·gap, each computed one by at most ~2.01·2⁻⁵³·(|x w| + |b|)."""
    return abs(w) * gap > 1e-15 * (top * abs(w) + abs(b))


@kernel
def svm_rank_scores(xs, fs, cs, xf, cf, fold_off, n_folds, metric):
    """Held-out balanced accuracy (``metric=0``) of the exact
    ``LinearSVC(class_weight="balanced")`` fit, or ROC AUC (``metric=1``) of the exact
    ``LinearSVC()`` fit, per feature and fold, shape (q', n_folds); ``cs`` holds the
    sorted label codes packed per row (:func:`~._fast_svm.pack_codes`: feature j at
    row j), q' = 16 × its columns.

    The AUC of a fold whose decisions keep distinct activations distinct (all but
    vanishing slopes) is the Mann-Whitney count over x that the prefix pass keeps;
    the others are counted over their decisions (:func:`fold_auc`)."""
    n, n_words = cs.shape
    out = np.empty((n_words * FEATURE_BLOCK, n_folds))
    out[:, :] = np.nan
    layout = svm_layout(xs, fs, cs, fold_off)
    cp_off, xfs, fws, nbs = layout
    gap, top = fold_gaps(xfs, fold_off)
    block = svm_block(n, cp_off, n_folds)
    fprefix, fmw = block[1], block[2]
    for blk in range(n_words):
        build_prefix_block(
            xs, fs, cs, blk, nbs[blk], fold_off, cp_off, block, metric == 1
        )
        for jj in range(nbs[blk]):
            j = jj * n_words + blk
            data = svm_feature(xs, cs, fold_off, layout, block, blk, jj)
            w, b, n_test = svm_fold_fits(data, n_folds, metric == 0)
            for k in range(n_folds):
                if n_test[k] == 0:
                    continue
                if metric == 0:
                    out[j, k] = fold_balanced(data, k, w[k], b[k])
                    continue
                last = fprefix[cp_off[k + 1] - 1]
                n_pos, n_neg = last[jj], last[_C0 + jj]
                if n_pos == 0 or n_neg == 0:
                    continue  # undefined, as sklearn's NaN
                if w[k] == 0:
                    out[j, k] = 0.5  # every decision ties
                elif _distinct(gap[k], top[k], w[k], b[k]):
                    auc = fmw[k, jj] / (n_pos * n_neg)
                    out[j, k] = 1.0 - auc if w[k] < 0 else auc
                else:
                    lo, hi = fold_off[k], fold_off[k + 1]
                    fx, fw = xfs[lo:hi], fws[lo:hi, blk]
                    out[j, k] = fold_auc(fx, fw, jj, w[k], b[k])
    return out
