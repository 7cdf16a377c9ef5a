"""Lag profile: does a unit anticipate or remember a feature, and for how long?

Objective. For every (feature, unit, lag) the cross-validated score of the 1-D probe
that predicts the label at character t from the unit's activation at t + lag, within
texts only: a label whose partner t + lag falls outside its text is left out (never
padded). At a positive lag the unit is read after the character it is scored
for (it remembers the feature), at a negative lag before it (it anticipates it).
MNE-Python's ``ReceptiveField`` is the sklearn-native relative (it
fits all lags jointly; here each lag is scored alone, as the paper scores units).

Folds are ``GroupKFold(cv)`` on the texts, made once on all rows, so every lag is
scored on the same texts in the same folds and a partner is always in its label's
fold.

Algorithm (fast OLS path). Whole texts are reordered so each fold is one contiguous
block (texts stay contiguous). Activations and labels are centred on their global
means (so the sums below do not cancel). For each lag and fold, with the label rows'
weights ``M`` (labelled and with a partner) and the partner activations ``Xₗ`` (a
slice of the block shifted by the lag), the fold's count, sums and centred second
moments are three products ``XₗᵀM``, ``(Xₗ²)ᵀM``, ``XₗᵀY`` (one product and two
matrix-vector products when every label is present), and
:func:`skdni.probing._fast_ols.moment_scores` turns them into held-out R² exactly
as the OLS engine of ``NeuronProbeSearch`` does (training moments pooled with Chan's
formula; ``LinearRegression()``'s fit). The cost is one pass of those products per
lag, with no copy of the activations per lag.

Other probes (``"svm"``, ``"svc"``, an estimator, any scoring) and ``method="exact"``
run one :class:`~skdni.probing.NeuronProbeSearch` per lag on the shifted activations
with the labels without a partner set to NaN; with ``method="exact"`` that search
clones and fits the sklearn probe (the reference the agreement test compares with).
"""

import warnings

import numpy as np
import pandas as pd
from sklearn.model_selection import GroupKFold

from .._errors import InputError, InvalidParameterError
from ._fast_ols import moment_scores
from ._localization import check_activations, check_same_rows

__all__ = ["lag_profile"]


def _check(X, Y, groups, lags, units):
    unit_names = None
    if isinstance(X, pd.DataFrame):
        unit_names = [str(c) for c in X.columns]
    X = check_activations(X)
    if isinstance(Y, pd.DataFrame):
        names = [str(c) for c in Y.columns]
    elif isinstance(Y, pd.Series):
        names = [str(Y.name) if Y.name is not None else "y"]
    else:
        names = None
    Y = np.asarray(Y, dtype=np.float64)
    if Y.ndim == 1:
        Y = Y[:, None]
        names = names or ["y"]
    names = names or [f"y{i}" for i in range(Y.shape[1])]
    check_same_rows(X, Y.shape[0])
    if groups is None:
        raise InputError(
            "lag_profile needs groups (the text index of every row): lags are taken "
            "within texts only."
        )
    groups = np.asarray(groups)
    if groups.shape != (X.shape[0],):
        raise InputError(f"groups has shape {groups.shape}; expected ({X.shape[0]},).")
    starts = np.r_[0, np.flatnonzero(groups[1:] != groups[:-1]) + 1]
    run_groups = groups[starts]
    if np.unique(run_groups).size != run_groups.size:
        seen = pd.Series(run_groups).duplicated()
        g = run_groups[np.argmax(seen.to_numpy())]
        raise InputError(
            f"text {g.item()!r} is not one contiguous run of rows in groups: the "
            "rows of a "
            "text must be consecutive (in reading order) for lags to mean anything."
        )
    lengths = np.diff(np.r_[starts, X.shape[0]])
    lags = np.asarray(list(lags), dtype=np.int64)
    if lags.size == 0:
        raise InvalidParameterError("lags is empty.")
    shortest = int(lengths.min())
    too_far = lags[np.abs(lags) >= shortest]
    if too_far.size:
        which = int(np.argmin(lengths))
        raise InputError(
            f"lag {int(too_far[0])} is as long as or longer than the shortest text "
            f"(text {run_groups[which].item()!r}, row {int(starts[which])}, {shortest} "
            f"characters): no character of it has a partner at that lag. Use lags "
            f"within ±{shortest - 1}, or leave out short texts."
        )
    if units is None:
        units = np.arange(X.shape[1])
    units = np.asarray(units, dtype=np.int64).ravel()
    bad = units[(units < 0) | (units >= X.shape[1])]
    if bad.size:
        raise InputError(
            f"units names unit {int(bad[0])}, but X has {X.shape[1]} units."
        )
    if unit_names is None:
        unit_names = [f"x{j}" for j in range(X.shape[1])]
    return X, Y, groups, starts, lengths, lags, units, unit_names, names


def _positions(starts, lengths):
    """Each row's position in its text and its text's length."""
    n = int(lengths.sum())
    pos = np.arange(n) - np.repeat(starts, lengths)
    return pos, np.repeat(lengths, lengths)


def _ols_lag_scores(X, Y, fold_id, n_folds, pos, length, lags):
    """Held-out R² per (lag, feature, unit, fold), shape (n_lags, q, p, n_folds)."""
    order = np.argsort(fold_id, kind="stable")  # whole texts move together
    X = X[order] - X.mean(axis=0)
    with np.errstate(invalid="ignore"):
        y_center = np.where(np.isnan(Y).all(axis=0), 0.0, np.nanmean(Y, axis=0))
    Y = Y[order] - y_center
    pos, length, fid = pos[order], length[order], fold_id[order]
    bounds = np.searchsorted(fid, np.arange(n_folds + 1))
    labelled = ~np.isnan(Y)
    Y0 = np.where(labelled, Y, 0.0)
    n_units, q = X.shape[1], Y.shape[1]
    out = np.empty((lags.size, q, n_units, n_folds))
    for li, lag in enumerate(lags):
        test = {
            key: np.zeros((n_folds, n_units, q))
            for key in ("n", "mx", "my", "cxx", "cxy", "cyy")
        }
        y_min = np.full((n_folds, q), np.nan)
        y_max = np.full((n_folds, q), np.nan)
        for k in range(n_folds):
            lo, hi = bounds[k], bounds[k + 1]
            # Label rows t in [a, b) whose partner t + lag is in [a + lag, b + lag)
            # and in the same text (the position test): slices, no gather.
            a, b = (lo, hi - lag) if lag >= 0 else (lo - lag, hi)
            if b <= a:
                continue
            partner = X[a + lag : b + lag]
            has = (pos[a:b] + lag >= 0) & (pos[a:b] + lag < length[a:b])
            lab = labelled[a:b] & has[:, None]
            y0 = np.where(has[:, None], Y0[a:b], 0.0)
            m = lab.astype(np.float64)
            cnt = m.sum(axis=0)
            if (lab == has[:, None]).all():  # every label present: shared sums
                v = has.astype(np.float64)
                sx = np.repeat((partner.T @ v)[:, None], q, axis=1)
                sxx = np.repeat(((partner * partner).T @ v)[:, None], q, axis=1)
            else:
                sx = partner.T @ m
                sxx = (partner * partner).T @ m
            sxy = partner.T @ y0
            sy = y0.sum(axis=0)
            syy = (y0 * y0).sum(axis=0)
            safe = np.where(cnt > 0, cnt, 1.0)
            test["n"][k] = cnt
            test["mx"][k] = np.where(cnt > 0, sx / safe, 0.0)
            test["my"][k] = np.where(cnt > 0, sy / safe, 0.0)
            test["cxx"][k] = sxx - sx * sx / safe
            test["cxy"][k] = sxy - sx * sy / safe
            test["cyy"][k] = syy - sy * sy / safe
            if cnt.any():
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN column
                    vals = np.where(lab, Y[a:b], np.nan)
                    y_min[k] = np.nanmin(vals, axis=0)
                    y_max[k] = np.nanmax(vals, axis=0)
        out[li] = moment_scores(test, y_min, y_max)
    return out


def _shifted(X, Y, pos, length, lag):
    """Activations at t + lag (0 where there is no partner) and labels with NaN where
    there is none: one lag's data for a NeuronProbeSearch."""
    n = X.shape[0]
    idx = np.arange(n) + lag
    has = (pos + lag >= 0) & (pos + lag < length)
    Xs = np.zeros_like(X)
    Xs[has] = X[idx[has]]
    Ys = Y.copy()
    Ys[~has] = np.nan
    return Xs, Ys


def lag_profile(
    X,
    y,
    groups,
    lags=range(-5, 6),
    *,
    units=None,
    cv=5,
    probe="ols",
    scoring=None,
    method="auto",
    n_jobs=None,
):
    """Score of unit j at character t + lag for the label at t, per lag, within texts.

    Parameters
    ----------
    X : array-like or DataFrame of shape (n_chars, n_units)
        Activations, texts one after another (each text's rows consecutive).
    y : array-like, Series or DataFrame of shape (n_chars,) or (n_chars, n_features)
        Labels; NaN where a feature does not label a character.
    groups : array-like of shape (n_chars,)
        Text index of every row.
    lags : iterable of int, default=range(-5, 6)
        Offsets of the unit's character from the labelled one; positive: the unit
        later (memory of the feature), negative: earlier (anticipation). Each must
        be shorter than the shortest text.
    units : array-like of int, optional
        Units to profile (default: all).
    cv : int, default=5
        ``GroupKFold(cv)`` over the texts, the same folds for every lag.
    probe : str or estimator, default="ols"
        ``"ols"`` (``LinearRegression``, R²) has the fast path; any probe of
        :class:`~skdni.probing.NeuronProbeSearch` is scored by one search per lag.
    scoring : str, optional
        As in :class:`~skdni.probing.NeuronProbeSearch`.
    method : {"auto", "fast", "exact"}, default="auto"
        ``"exact"``: one ``NeuronProbeSearch(method="exact")`` per lag (sklearn fits).
    n_jobs : int, optional
        Passed to the per-lag searches.

    Returns
    -------
    DataFrame
        One row per (feature, unit, lag): ``feature``, ``unit`` (name),
        ``unit_index``, ``lag``, ``score`` (mean held-out score over folds),
        ``score_std``, ``n_rows`` (labelled rows with a partner at that lag).

    Raises
    ------
    InputError
        No groups, a text split into several runs, a lag as long as the shortest
        text (the message names that text and its first row), a unit outside X.

    Examples
    --------
    >>> import numpy as np
    >>> from skdni.probing import lag_profile
    >>> rng = np.random.default_rng(0)
    >>> groups = np.repeat(np.arange(20), 50)
    >>> y = rng.normal(size=1000)
    >>> X = rng.normal(size=(1000, 2))
    >>> X[2:, 0] += y[:-2]        # unit 0 holds the label 2 characters on
    >>> prof = lag_profile(X, y, groups, lags=range(-3, 4))
    >>> best = prof[prof.unit_index == 0].sort_values("score").iloc[-1]
    >>> int(best.lag)
    2
    """
    X, Y, groups, starts, lengths, lags, units, unit_names, names = _check(
        X, y, groups, lags, units
    )
    if method not in ("auto", "fast", "exact"):
        raise InvalidParameterError(f"method must be auto, fast or exact: {method!r}.")
    fast = method != "exact" and isinstance(probe, str) and probe == "ols"
    fast = fast and scoring in (None, "r2")
    if method == "fast" and not fast:
        raise InvalidParameterError("method='fast' needs probe='ols' (R²).")
    pos, length = _positions(starts, lengths)
    folds = list(GroupKFold(cv).split(X, None, groups))
    n_folds = len(folds)
    Xu = X[:, units]
    if fast:
        fold_id = np.empty(X.shape[0], dtype=np.int64)
        for k, (_, te) in enumerate(folds):
            fold_id[te] = k
        scores = _ols_lag_scores(Xu, Y, fold_id, n_folds, pos, length, lags)
    else:
        from ._search import NeuronProbeSearch

        scores = np.empty((lags.size, Y.shape[1], units.size, n_folds))
        for li, lag in enumerate(lags):
            Xs, Ys = _shifted(Xu, Y, pos, length, int(lag))
            search = NeuronProbeSearch(
                probe, cv=folds, scoring=scoring, method=method, n_jobs=n_jobs
            ).fit(Xs, Ys)
            r = search.cv_results_
            split = np.column_stack([r[f"split{k}_test_score"] for k in range(n_folds)])
            scores[li] = split.reshape(Y.shape[1], units.size, n_folds)
    rows = []
    labelled = ~np.isnan(Y)
    for li, lag in enumerate(lags):
        has = (pos + lag >= 0) & (pos + lag < length)
        n_rows = (labelled & has[:, None]).sum(axis=0)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN folds
            mean = np.nanmean(scores[li], axis=2)
            std = np.nanstd(scores[li], axis=2)
        for f, name in enumerate(names):
            for i, j in enumerate(units):
                rows.append(
                    (
                        name,
                        unit_names[j],
                        int(j),
                        int(lag),
                        mean[f, i],
                        std[f, i],
                        int(n_rows[f]),
                    )
                )
    return pd.DataFrame(
        rows,
        columns=[
            "feature",
            "unit",
            "unit_index",
            "lag",
            "score",
            "score_std",
            "n_rows",
        ],
    )
