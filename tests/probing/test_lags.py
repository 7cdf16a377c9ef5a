"""Lag profile: fast OLS fold moments against per-lag sklearn fits, every fold."""

import numpy as np
import pytest
from sklearn.linear_model import LinearRegression
from sklearn.model_selection import GroupKFold, cross_val_score

from skdni import InputError
from skdni.probing import lag_profile
from skdni.probing._lags import _ols_lag_scores, _positions

from ._data import realistic


def test_fast_lag_scores_match_cross_val_score_every_fold():
    X, Y, groups = realistic(n_texts=25, n_units=7)
    starts = np.r_[0, np.flatnonzero(np.diff(groups)) + 1]
    lengths = np.diff(np.r_[starts, groups.size])
    pos, length = _positions(starts, lengths)
    splits = list(GroupKFold(4).split(X, None, groups))
    fold_id = np.empty(groups.size, dtype=np.int64)
    for k, (_, te) in enumerate(splits):
        fold_id[te] = k
    lags = np.array([-4, -1, 0, 2, 5])
    fast = _ols_lag_scores(X, Y, fold_id, 4, pos, length, lags)
    for li, lag in enumerate(lags):
        has = (pos + lag >= 0) & (pos + lag < length)
        for f in (0, 3):
            keep = has & ~np.isnan(Y[:, f])
            rows = np.flatnonzero(keep)
            sub = [
                (np.flatnonzero(np.isin(rows, tr)), np.flatnonzero(np.isin(rows, te)))
                for tr, te in splits
            ]
            for j in range(X.shape[1]):
                x = X[rows + lag, j : j + 1]
                ref = cross_val_score(LinearRegression(), x, Y[rows, f], cv=sub)
                np.testing.assert_allclose(fast[li, f, j], ref, rtol=0, atol=1e-9)


def test_fast_equals_exact_search_path_and_finds_the_lag():
    rng = np.random.default_rng(3)
    groups = np.repeat(np.arange(30), 40)
    y = rng.normal(size=groups.size)
    X = rng.normal(size=(groups.size, 3))
    X[3:, 1] += y[:-3]  # unit 1 holds the label three characters on
    fast = lag_profile(X, y, groups, lags=range(-4, 5))
    exact = lag_profile(X, y, groups, lags=range(-4, 5), method="exact")
    np.testing.assert_allclose(fast.score, exact.score, atol=1e-9)
    np.testing.assert_array_equal(fast.n_rows, exact.n_rows)
    best = fast[fast.unit_index == 1].sort_values("score").iloc[-1]
    assert best.lag == 3 and best.score > 0.3
    # Rows without a partner are left out: at lag 4 each 40-row text keeps 36.
    assert fast[fast.lag == 4].n_rows.iloc[0] == 30 * 36


def test_other_probes_run_one_search_per_lag():
    X, Y, groups = realistic(n_texts=20, n_units=7)
    prof = lag_profile(X, Y[:, 0], groups, lags=(-1, 0, 1), probe="svm")
    assert prof.shape[0] == 7 * 3
    assert prof.score.between(0, 1).all()


def test_lag_longer_than_shortest_text_is_refused():
    groups = np.repeat([0, 1, 2], [10, 4, 10])
    X = np.zeros((24, 2))
    with pytest.raises(
        InputError, match=r"lag -4 .* shortest text \(text 1, row 10, 4"
    ):
        lag_profile(X, np.zeros(24), groups, lags=range(-4, 2))
    with pytest.raises(InputError, match="needs groups"):
        lag_profile(X, np.zeros(24), None)
    split = np.r_[np.zeros(5), np.ones(5), np.zeros(5)].astype(int)
    with pytest.raises(InputError, match="not one contiguous run"):
        lag_profile(np.zeros((15, 1)), np.zeros(15), split, lags=(0,))
