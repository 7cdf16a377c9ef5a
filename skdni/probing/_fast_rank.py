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

* *Balanced accuracy* (:func:`rule_fold_scores`, ``metric=0``): one pass over each
  fold's held-out rows counts true/false positives and negatives of ``d > 0``; the
  score is the mean recall over the classes present in the fold, as
  :func:`sklearn.metrics.balanced_accuracy_score` computes it.
* *ROC AUC* (``metric=1``): the Mann–Whitney statistic of the held-out decisions,
  from ranks. ``d`` is monotone in ``x`` (floating-point products and sums are), so
  walking the unit's globally sorted rows visits each fold's rows in decision order:
  one pass keeps, per fold, the negatives below and the current group of equal
  decisions (ties count one half). With ``w > 0`` the AUC is ``U / (P·N)``, with
  ``w < 0`` (the sign chosen on the training rows) it is ``1 − U / (P·N)``.

Degenerate cases, the same on the exact path: a fold without labelled held-out or
training rows scores NaN; a training fold with one class predicts that class (``w =
0``, ``b = ±1``: balanced accuracy from the counts, AUC 0.5 as all decisions tie; the
exact path fits ``DummyClassifier(strategy="most_frequent")`` aware of both classes);
a held-out fold with one class has an undefined AUC (NaN, as sklearn returns) and a
balanced accuracy equal to that class's recall. Chance is 0.5 for both scores.
"""

import numpy as np
from numba import njit

from ._fast_svm import _n_checkpoints, build_prefix, fold_layout, solve_svm

__all__ = ["RANK_METRICS", "rule_fold_scores", "svm_rank_scores"]

# Scorer name → the code the kernels take.
RANK_METRICS = {"balanced_accuracy": 0, "roc_auc": 1}


@njit(cache=True)
def _balanced(tp, fn, tn, fp):
    """Mean recall over the classes with held-out rows (sklearn's definition)."""
    n_pos, n_neg = tp + fn, tn + fp
    if n_pos > 0 and n_neg > 0:
        return (tp / n_pos + tn / n_neg) / 2.0
    if n_pos > 0:
        return tp / n_pos
    return tn / n_neg


@njit(cache=True)
def rule_fold_scores(xs, fs, codes, xf, cfj, fold_off, w, b, metric, out):
    """Score the rule ``x * w[k] + b[k] > 0`` on fold k's labelled held-out rows.

    ``xs``, ``fs``, ``codes``: the unit's rows in ascending order, their folds and
    this feature's label codes (1, 0, -1 unlabelled); ``xf``, ``cfj``: the same rows
    in fold order (fold k is ``fold_off[k]:fold_off[k + 1]``). ``metric`` 0 is
    balanced accuracy, 1 ROC AUC. Folds with ``w[k]`` NaN are left as they are in
    ``out`` (NaN).
    """
    n_folds = w.size
    if metric == 0:
        for k in range(n_folds):
            if np.isnan(w[k]):
                continue
            tp = fn = tn = fp = 0
            for s in range(fold_off[k], fold_off[k + 1]):
                v = cfj[s]
                if v < 0:
                    continue
                positive = xf[s] * w[k] + b[k] > 0
                if v == 1:
                    if positive:
                        tp += 1
                    else:
                        fn += 1
                elif positive:
                    fp += 1
                else:
                    tn += 1
            if tp + fn + tn + fp > 0:
                out[k] = _balanced(tp, fn, tn, fp)
        return
    # ROC AUC: per fold, negatives in closed groups below, the open group of equal
    # decisions (its positives and negatives) and the Mann-Whitney sum so far.
    below = np.zeros(n_folds)
    g_pos = np.zeros(n_folds)
    g_neg = np.zeros(n_folds)
    n_pos = np.zeros(n_folds)
    u = np.zeros(n_folds)
    last = np.full(n_folds, np.nan)
    for i in range(xs.size):
        v = codes[i]
        if v < 0:
            continue
        k = fs[i]
        if np.isnan(w[k]):
            continue
        d = xs[i] * w[k] + b[k]
        if d != last[k]:
            u[k] += g_pos[k] * (below[k] + 0.5 * g_neg[k])
            below[k] += g_neg[k]
            g_pos[k] = 0.0
            g_neg[k] = 0.0
            last[k] = d
        if v == 1:
            g_pos[k] += 1.0
            n_pos[k] += 1.0
        else:
            g_neg[k] += 1.0
    for k in range(n_folds):
        if np.isnan(w[k]):
            continue
        u[k] += g_pos[k] * (below[k] + 0.5 * g_neg[k])
        n_neg = below[k] + g_neg[k]
        if n_pos[k] == 0 or n_neg == 0:
            continue  # one class held out: AUC undefined (NaN, as sklearn)
        auc = u[k] / (n_pos[k] * n_neg)
        out[k] = 1.0 - auc if w[k] < 0 else auc


@njit(cache=True)
def _class_weights(metric, n_pos, n_neg):
    """Per-class C of the probe: ``class_weight="balanced"`` (sklearn's
    ``n / (2 · count)``) for balanced accuracy, none for ROC AUC."""
    if metric != 0:
        return 1.0, 1.0
    n = n_pos + n_neg
    return n / (2.0 * n_pos), n / (2.0 * n_neg)


@njit(cache=True)
def svm_rank_scores(xs, fs, cs, xf, cf, fold_off, n_folds, metric):
    """Held-out balanced accuracy (``metric=0``) of the exact
    ``LinearSVC(class_weight="balanced")`` fit, or ROC AUC (``metric=1``) of the exact
    ``LinearSVC()`` fit, per feature and fold, shape (q, n_folds)."""
    q, n = cs.shape
    out = np.full((q, n_folds), np.nan)
    fpos, cp_off = fold_layout(fs, fold_off)
    xfs = np.empty(n)
    for i in range(n):
        xfs[fpos[i]] = xs[i]
    prefix = np.empty((_n_checkpoints(n), 6))
    fprefix = np.empty((cp_off[-1], 6))
    fcodes = np.empty(n, dtype=cs.dtype)
    w = np.empty(n_folds)
    b = np.empty(n_folds)
    for j in range(q):
        codes = cs[j]
        build_prefix(xs, codes, fs, fpos, fold_off, cp_off, prefix, fcodes, fprefix)
        data = (xs, codes, prefix, xfs, fcodes, fprefix, fold_off, cp_off)
        n_pos, n_neg = prefix[-1, 0], prefix[-1, 3]
        w0, b0 = 0.0, 0.0
        if n_pos > 0 and n_neg > 0:
            c1, c0 = _class_weights(metric, n_pos, n_neg)
            w0, b0 = solve_svm(data, -1, 0.0, 0.0, 100, c1, c0)
        for k in range(n_folds):
            t_pos = fprefix[cp_off[k + 1] - 1, 0]
            t_neg = fprefix[cp_off[k + 1] - 1, 3]
            tr_pos, tr_neg = n_pos - t_pos, n_neg - t_neg
            if t_pos + t_neg == 0 or tr_pos + tr_neg == 0:
                w[k], b[k] = np.nan, np.nan
            elif tr_pos == 0 or tr_neg == 0:
                # One class to train on: the constant rule predicting it.
                w[k], b[k] = 0.0, (1.0 if tr_pos > 0 else -1.0)
            else:
                c1, c0 = _class_weights(metric, tr_pos, tr_neg)
                w[k], b[k] = solve_svm(data, k, w0, b0, 100, c1, c0)
        rule_fold_scores(xs, fs, codes, xf, cf[j], fold_off, w, b, metric, out[j])
    return out
