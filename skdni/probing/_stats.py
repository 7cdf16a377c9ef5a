"""Statistics for probe scores: chance levels, permutations, BH, control tasks."""

import numpy as np
from scipy.stats import rankdata
from sklearn.base import clone
from sklearn.dummy import DummyClassifier, DummyRegressor

from ._folds import fold_order

__all__ = [
    "benjamini_hochberg",
    "chance_fold_scores",
    "control_labels",
    "default_chance_scores",
    "fold_label_stats",
    "permutation_index",
    "above_chance",
    "finding_ranks",
    "rank_units",
    "skill_kind",
    "skill_scores",
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


def fold_label_stats(Y, fold_id, n_folds, top=None):
    """Per test fold and feature: labelled count, mean, centred Σ(y − mean)², min, max.

    One pass over ``Y`` (n, q) in fold order for every feature at once (each fold is a
    slice when ``fold_id`` is sorted, as with ``KFold``). ``top`` (q,) gives each binary
    feature's larger class, whose per-fold count is returned as ``pos``. Statistics of
    a fold without labels are 0 (count, sums) or NaN (mean, min, max).
    """
    by_fold, bounds = fold_order(fold_id, n_folds)
    if by_fold is not None:
        Y = Y[by_fold]
    shape = (n_folds, Y.shape[1])
    out = {key: np.zeros(shape) for key in ("n", "pos", "css")}
    out.update({key: np.full(shape, np.nan) for key in ("mean", "min", "max")})
    for k in range(n_folds):
        yk = Y[bounds[k] : bounds[k + 1]]
        mask = ~np.isnan(yk)
        complete = bool(mask.all())
        # Fully labelled folds (the common case) skip the masking copies; the values
        # are the same.
        filled = yk if complete else np.where(mask, yk, 0.0)
        cnt = mask.sum(axis=0).astype(np.float64)
        seen = cnt > 0
        with np.errstate(invalid="ignore", divide="ignore"):
            mean = filled.sum(axis=0) / cnt
        dev = yk - mean if complete else np.where(mask, yk - mean, 0.0)
        low = yk if complete else np.where(mask, yk, np.inf)
        high = yk if complete else np.where(mask, yk, -np.inf)
        out["n"][k] = cnt
        out["css"][k] = (dev * dev).sum(axis=0)
        out["mean"][k] = np.where(seen, mean, np.nan)
        out["min"][k] = np.where(seen, low.min(axis=0, initial=np.inf), np.nan)
        out["max"][k] = np.where(seen, high.max(axis=0, initial=-np.inf), np.nan)
        if top is not None:
            out["pos"][k] = (yk == top).sum(axis=0)
    return out


def default_chance_scores(stats, binary):
    """Per-fold chance of every feature from :func:`fold_label_stats`, shape (K, q).

    The closed forms of :func:`chance_fold_scores` (training majority class for
    binary features, training mean's R² for the others), for all features at once.
    """
    n_te = stats["n"]
    n_tr = n_te.sum(axis=0) - n_te
    pos_te = stats["pos"]
    pos_tr = pos_te.sum(axis=0) - pos_te
    s_te = np.where(n_te > 0, stats["mean"] * n_te, 0.0)
    cyy = stats["css"]
    with np.errstate(invalid="ignore", divide="ignore"):
        # DummyClassifier(most_frequent) breaks ties towards the smaller class.
        acc = np.where(pos_tr > n_tr - pos_tr, pos_te, n_te - pos_te) / n_te
        m_tr = (s_te.sum(axis=0) - s_te) / n_tr
        r2 = 1.0 - (cyy + n_te * (stats["mean"] - m_tr) ** 2) / cyy
    constant = stats["min"] == stats["max"]
    r2 = np.where(constant, np.where(m_tr == stats["min"], 1.0, 0.0), r2)
    acc = np.where((n_te > 0) & (n_tr > 0), acc, np.nan)
    r2 = np.where((n_te >= 2) & (n_tr > 0), r2, np.nan)
    return np.where(np.asarray(binary)[None, :], acc, r2)


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


def skill_kind(metric, classifier):
    """How a feature's scores become skill: ``"r2"``, ``"loss"`` or ``"fraction"``.

    ``metric`` is the scorer name (None: the default, accuracy for a classifier
    probe, R² for a regressor; a callable:
    treated as a fraction-like score whose best value is 1). R² is its own skill;
    ``neg_*`` scorers (errors, best value 0) and every other scorer (best value 1,
    such as accuracy, balanced accuracy, ROC AUC, F1) are scaled between chance and
    their best value.
    """
    if metric is None:
        return "fraction" if classifier else "r2"
    if isinstance(metric, str):
        if metric == "r2":
            return "r2"
        if metric.startswith("neg_"):
            return "loss"
    return "fraction"


def skill_scores(mean, chance, kinds):
    """Bounded skill of every (feature, unit) mean score, shape (q, p).

    ``"fraction"`` scores (best value 1): ``(s − c) / (1 − c)``, so 0 is chance and 1
    perfect (for balanced accuracy and ROC AUC, chance 0.5, this is Youden's J and
    2·AUC − 1); ``"loss"`` scores (``neg_*``, best value 0): ``(s − c) / (0 − c)``;
    R²: the R² itself (its chance, the training mean's CV R², is ≤ 0). NaN where the
    score is NaN or chance is already the best value.
    """
    mean = np.asarray(mean, dtype=np.float64)
    chance = np.asarray(chance, dtype=np.float64)[:, None]
    best = np.array([0.0 if k == "loss" else 1.0 for k in kinds])[:, None]
    with np.errstate(invalid="ignore", divide="ignore"):
        scaled = np.where(best > chance, (mean - chance) / (best - chance), np.nan)
    is_r2 = np.array([k == "r2" for k in kinds])[:, None]
    return np.where(is_r2, mean, scaled)


def above_chance(mean, chance, skill):
    """Findings: units whose score beats chance and whose skill is positive."""
    chance = np.asarray(chance, dtype=np.float64)[:, None]
    with np.errstate(invalid="ignore"):
        return (mean > chance) & (skill > 0)


def finding_ranks(mean, found):
    """Per feature, rank of every finding by mean score (1 = best, ties share the
    smallest rank); units that are not findings get NaN, so no unit at chance is
    ever rank 1."""
    ranks = np.full(mean.shape, np.nan)
    for j in range(mean.shape[0]):
        idx = np.flatnonzero(found[j])
        if idx.size:
            ranks[j, idx] = rankdata(-mean[j, idx], method="min")
    return ranks


def rank_units(mean, names, top_k, min_score, found=None):
    """Per feature, the units best first (at most ``top_k``, only findings — see
    :func:`above_chance` — and only those reaching ``min_score``; stable order
    breaks ties), and each feature's best unit (the highest score, finding or not).
    ``found=None`` treats every unit with a score as a finding."""
    top_units = {}
    best = np.zeros(len(names), dtype=np.int64)
    for j, name in enumerate(names):
        finite = np.flatnonzero(~np.isnan(mean[j]))
        order = finite[np.argsort(-mean[j, finite], kind="stable")]
        if order.size:
            best[j] = order[0]
        if found is not None:
            order = order[found[j, order]]
        if min_score is not None:
            order = order[mean[j, order] >= min_score]
        top_units[name] = order[:top_k]
    return top_units, best
