"""Cross-validated R² of every 1-D least-squares probe, from per-fold statistics.

For each fold the test rows' count, means and centred second moments (x, y, xy) are
computed for every (unit, feature) pair in a few matrix products; the training
statistics of fold k are the test statistics of all other folds pooled with Chan's
parallel formula (prefix ⊕ suffix), never a raw "sum of squares minus square of
sums" over the whole data. The per-fold fit ``b = Cxy / Cxx, a = ȳ − b x̄`` is
``LinearRegression()``'s on one column, and the held-out R² is expanded around the
test fold's own means, so it equals ``r2_score`` to ~1e-15 wherever R² is finite.

Degenerate cases, documented: a constant training column gets slope 0 (R² of the
training mean). ``LinearRegression`` agrees when the column's mean is exactly
representable (0, ±1, 0.5, ...); otherwise its centred column is rounding noise and
its slope is noise / noise, which the fast path does not imitate. A constant test
fold gets ``r2_score``'s ``force_finite`` value (1.0 if predicted exactly, else
0.0).
"""

import numpy as np

from ._folds import fold_order

__all__ = [
    "chan_merge",
    "fold_moments",
    "merge_moments",
    "moment_scores",
    "ols_fold_scores",
]


def fold_moments(X, Y, fold_id, n_folds, feats=None):
    """Per-fold count, means and centred moments for every (unit, feature) pair.

    One pass over the rows, fold by fold: per fold one product ``X̃ᵀỸ`` (all units ×
    all features) and the units' own sums; rows not in fold order are gathered a
    fold at a time (no fold-ordered copy of ``X``).

    Parameters
    ----------
    X : ndarray of shape (n, p)
    Y : ndarray of shape (n, q_all), NaN where a row has no label for a feature.
    fold_id : ndarray of shape (n,), the test fold of every row.
    n_folds : int
    feats : list of int, default=None
        The columns of ``Y`` to use (all if None); sliced fold by fold.

    Returns
    -------
    dict of ndarrays of shape (n_folds, p, q): ``n``, ``mx``, ``my``, ``cxx``, ``cxy``,
    ``cyy`` (means are 0 where a fold has no labelled row).
    """
    if feats is not None and list(feats) == list(range(Y.shape[1])):
        feats = None
    n_units = X.shape[1]
    n_feats = Y.shape[1] if feats is None else len(feats)
    shape = (n_folds, n_units, n_feats)
    out = {k: np.zeros(shape) for k in ("n", "mx", "my", "cxx", "cxy", "cyy")}
    by_fold, bounds = fold_order(fold_id, n_folds)
    for k in range(n_folds):
        lo, hi = bounds[k], bounds[k + 1]
        if lo == hi:
            continue
        rows = slice(lo, hi) if by_fold is None else by_fold[lo:hi]
        xk = X[rows]
        if feats is None:
            yk = Y[rows]
        else:  # only the OLS columns of the fold's rows (not every column of Y)
            yk = Y[rows, feats] if by_fold is None else Y[np.ix_(rows, feats)]
        mask = ~np.isnan(yk)
        # Shift by the fold's own means first so the moments below do not cancel.
        x_mean = xk.mean(axis=0)
        xc = xk - x_mean
        cnt = mask.sum(axis=0).astype(np.float64)
        with np.errstate(invalid="ignore", divide="ignore"):
            shift_y = np.where(cnt > 0, np.where(mask, yk, 0.0).sum(axis=0) / cnt, 0.0)
        yc = np.where(mask, yk - shift_y, 0.0)
        sxy = xc.T @ yc
        # Features labelled on every row of the fold share the units' moments; only
        # features with NaNs need masked products.
        sx = np.empty((n_units, n_feats))
        sxx = np.empty((n_units, n_feats))
        partial = np.flatnonzero(~mask.all(axis=0))
        sx[:] = xc.sum(axis=0)[:, None]
        sxx[:] = np.einsum("ij,ij->j", xc, xc)[:, None]  # no (rows, p) temporary
        if partial.size:
            m = mask[:, partial].astype(np.float64)
            sx[:, partial] = xc.T @ m
            sxx[:, partial] = (xc * xc).T @ m
        sy = yc.sum(axis=0)
        syy = (yc * yc).sum(axis=0)
        safe = np.where(cnt > 0, cnt, 1.0)
        out["n"][k] = cnt
        out["mx"][k] = np.where(cnt > 0, x_mean[:, None] + sx / safe, 0.0)
        out["my"][k] = np.where(cnt > 0, shift_y + sy / safe, 0.0)
        out["cxx"][k] = sxx - sx * sx / safe
        out["cxy"][k] = sxy - sx * sy / safe
        out["cyy"][k] = syy - sy * sy / safe
    return out


def chan_merge(a, b, means, products):
    """Chan et al.'s pooled statistics of two disjoint row sets (either may be empty).

    Parameters
    ----------
    a, b : dict of ndarrays
        Statistics of each set: the count ``"n"``, the means named in ``means`` and
        the centred sums of products named in ``products`` (means of an empty set
        must be finite, e.g. 0).
    means : tuple of str
        Keys of the means.
    products : dict
        Key of each centred sum of products → the two means it centres, e.g.
        ``{"cxy": ("mx", "my")}``.

    Returns
    -------
    pooled : dict of ndarrays
        ``"n"``, the means and the centred sums of the union.
    """
    n = a["n"] + b["n"]
    safe = np.where(n > 0, n, 1.0)
    wa, wb = a["n"] / safe, b["n"] / safe
    cross = a["n"] * wb
    out = {"n": n}
    delta = {}
    for key in means:
        delta[key] = b[key] - a[key]
        out[key] = a[key] * wa + b[key] * wb
    for key, (u, v) in products.items():
        out[key] = a[key] + b[key] + delta[u] * delta[v] * cross
    return out


_MOMENTS = {"cxx": ("mx", "mx"), "cxy": ("mx", "my"), "cyy": ("my", "my")}


def merge_moments(a, b):
    """Pooled :func:`fold_moments` of two disjoint row sets (see :func:`chan_merge`)."""
    return chan_merge(a, b, ("mx", "my"), _MOMENTS)


def _take(mom, k):
    return {key: val[k] for key, val in mom.items()}


def training_moments(mom):
    """Moments of every fold's training set: all other folds pooled, prefix ⊕ suffix."""
    n_folds = mom["n"].shape[0]
    empty = {key: np.zeros_like(val[0]) for key, val in mom.items()}
    prefix = [empty]
    for k in range(n_folds - 1):
        prefix.append(merge_moments(prefix[-1], _take(mom, k)))
    suffix = [empty]
    for k in range(n_folds - 1, 0, -1):
        suffix.append(merge_moments(_take(mom, k), suffix[-1]))
    suffix.reverse()
    return [merge_moments(prefix[k], suffix[k]) for k in range(n_folds)]


def ols_fold_scores(X, Y, fold_id, n_folds, y_min, y_max, feats=None):
    """Held-out R² of ``LinearRegression()`` on each unit, per feature and fold.

    Parameters
    ----------
    X, Y, fold_id, n_folds, feats : see :func:`fold_moments`.
    y_min, y_max : ndarray of shape (n_folds, q)
        The smallest and largest label of each feature in each test fold (NaN if none).
        A constant test fold gets ``r2_score``'s ``force_finite`` value: 1.0 for a
        perfect prediction, else 0.0.

    Returns
    -------
    ndarray of shape (q, p, n_folds); NaN where the test fold has fewer than two
    labelled rows or the training fold none (as ``r2_score`` / ``fit`` would fail).
    """
    return moment_scores(fold_moments(X, Y, fold_id, n_folds, feats), y_min, y_max)


def moment_scores(test, y_min, y_max):
    """Held-out R² from the per-fold test moments of :func:`fold_moments`.

    The moments may come from :func:`fold_moments` on all rows at once or pooled over
    row chunks with :func:`merge_moments` (``skdni.probing._streaming``); see
    :func:`ols_fold_scores` for ``y_min``, ``y_max`` and the result.
    """
    train = training_moments(test)
    n_folds, n_units, n_feats = test["n"].shape
    scores = np.empty((n_feats, n_units, n_folds))
    for k in range(n_folds):
        tr, te = train[k], _take(test, k)
        # A constant training column has slope 0 (the minimum-norm least-squares
        # solution). Its centred moment is rounding noise, not exactly 0, whenever the
        # column's mean is not representable; sklearn then divides noise by noise.
        noise = tr["n"] * (8 * np.finfo(np.float64).eps * tr["mx"]) ** 2
        with np.errstate(invalid="ignore", divide="ignore"):
            slope = np.where(tr["cxx"] > noise, tr["cxy"] / tr["cxx"], 0.0)
            intercept = tr["my"] - slope * tr["mx"]
            offset = te["my"] - intercept - slope * te["mx"]
            sse = (
                te["cyy"]
                - 2 * slope * te["cxy"]
                + slope * slope * te["cxx"]
                + te["n"] * offset * offset
            )
            r2 = 1.0 - sse / te["cyy"]
        constant = (y_min[k] == y_max[k])[None, :]
        # A constant test fold is predicted perfectly only by a flat fit at its value,
        # which happens when the training labels are that same constant.
        perfect = constant & (slope == 0) & (intercept == y_min[k][None, :])
        r2 = np.where(constant, np.where(perfect, 1.0, 0.0), r2)
        r2 = np.where((te["n"] < 2) | (tr["n"] < 1), np.nan, r2)
        scores[:, :, k] = r2.T
    return scores
