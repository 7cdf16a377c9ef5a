"""Statistics for probe scores: chance levels, permutations, BH, control tasks."""

import numpy as np
from sklearn.base import clone
from sklearn.dummy import DummyClassifier, DummyRegressor

__all__ = [
    "benjamini_hochberg",
    "chance_fold_scores",
    "control_labels",
    "permutation_index",
]


def _default_chance(y, fold, n_folds, binary):
    """Chance per fold for accuracy (training majority) or R² (training mean)."""
    n_te = np.bincount(fold, minlength=n_folds).astype(float)
    n_tr = n_te.sum() - n_te
    out = np.full(n_folds, np.nan)
    if binary:
        values = np.unique(y)
        pos_te = np.bincount(fold, weights=(y == values[-1]), minlength=n_folds)
        pos_tr = pos_te.sum() - pos_te
        # DummyClassifier(most_frequent) breaks ties towards the smaller class.
        majority_pos = pos_tr > n_tr - pos_tr
        with np.errstate(invalid="ignore", divide="ignore"):
            acc = np.where(majority_pos, pos_te, n_te - pos_te) / n_te
        return np.where((n_te > 0) & (n_tr > 0), acc, np.nan)
    s_te = np.bincount(fold, weights=y, minlength=n_folds)
    with np.errstate(invalid="ignore", divide="ignore"):
        m_te = s_te / n_te
        m_tr = (s_te.sum() - s_te) / n_tr
        dev = y - m_te[fold]
        cyy = np.bincount(fold, weights=dev * dev, minlength=n_folds)
        r2 = 1.0 - (cyy + n_te * (m_te - m_tr) ** 2) / cyy
    lo = np.full(n_folds, np.inf)
    hi = np.full(n_folds, -np.inf)
    np.minimum.at(lo, fold, y)
    np.maximum.at(hi, fold, y)
    constant = lo == hi
    r2 = np.where(constant, np.where(m_tr == lo, 1.0, 0.0), r2)
    out[:] = np.where((n_te >= 2) & (n_tr > 0), r2, np.nan)
    return out


def chance_fold_scores(y, splits, fold_id, binary, scorer=None):
    """Per-fold score of the constant predictor (majority class / training mean).

    ``y`` has NaN for unlabelled rows. With the default metric (``scorer=None``) this is
    closed form; otherwise a ``DummyClassifier(strategy="most_frequent")`` or
    ``DummyRegressor()`` is fitted and scored per fold.
    """
    valid = ~np.isnan(y)
    if scorer is None and fold_id is not None:
        return _default_chance(y[valid], fold_id[valid], len(splits), binary)
    dummy = DummyClassifier(strategy="most_frequent") if binary else DummyRegressor()
    out = np.full(len(splits), np.nan)
    zeros = np.zeros((y.shape[0], 1))
    for k, (train, test) in enumerate(splits):
        train, test = train[valid[train]], test[valid[test]]
        if train.size and test.size:
            model = clone(dummy).fit(zeros[train], y[train])
            out[k] = scorer(model, zeros[test], y[test])
    return out


def benjamini_hochberg(pvalues):
    """Benjamini–Hochberg adjusted p-values (q-values); NaN entries are left out."""
    p = np.asarray(pvalues, dtype=float)
    q = np.full(p.shape, np.nan)
    finite = np.flatnonzero(~np.isnan(p.ravel()))
    if finite.size == 0:
        return q
    flat = p.ravel()[finite]
    order = np.argsort(flat, kind="stable")
    m = flat.size
    ranked = flat[order] * m / np.arange(1, m + 1)
    adjusted = np.minimum(1.0, np.minimum.accumulate(ranked[::-1])[::-1])
    out = np.empty(m)
    out[order] = adjusted
    q.ravel()[finite] = out
    return q


def permutation_index(n_rows, groups, rng):
    """Row order of one label permutation that keeps sequence structure.

    With ``groups``, the label blocks of whole texts are concatenated in a random text
    order (each text's labels stay contiguous and in order); otherwise the labels are
    shifted circularly by a random offset in ``[1, n_rows)``.
    """
    if groups is None:
        return np.roll(np.arange(n_rows), int(rng.randint(1, max(2, n_rows))))
    _, first, codes = np.unique(groups, return_index=True, return_inverse=True)
    # Texts in order of first appearance, each text's rows in their original order.
    rank = np.argsort(np.argsort(first, kind="stable"), kind="stable")[codes]
    rows = np.argsort(rank, kind="stable")
    bounds = np.flatnonzero(np.diff(rank[rows])) + 1
    blocks = np.split(rows, bounds)
    return np.concatenate([blocks[i] for i in rng.permutation(len(blocks))])


def control_labels(Y, char_types, rng):
    """Hewitt & Liang's control task: every character type gets one random label.

    For each feature, each distinct type gets the label of a character drawn uniformly
    from the feature's labelled rows (so labels follow the feature's own distribution);
    unlabelled rows stay NaN.
    """
    _, codes = np.unique(np.asarray(char_types), return_inverse=True)
    codes = codes.ravel()
    n_types = codes.max() + 1
    out = np.full(Y.shape, np.nan)
    for j in range(Y.shape[1]):
        labelled = np.flatnonzero(~np.isnan(Y[:, j]))
        donors = labelled[rng.randint(0, labelled.size, size=n_types)]
        out[labelled, j] = Y[donors, j][codes[labelled]]
    return out
