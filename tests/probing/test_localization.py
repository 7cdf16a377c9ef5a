"""Localization curve and forward selection: the fast Gram path against sklearn."""

import warnings

import numpy as np
import pandas as pd
import pytest
from sklearn.discriminant_analysis import LinearDiscriminantAnalysis
from sklearn.feature_selection import SequentialFeatureSelector
from sklearn.linear_model import LinearRegression
from sklearn.model_selection import GroupKFold

from skdni import InputError
from skdni.probing import forward_selection, localization_curve
from skdni.probing._localization import _exact_fold_scores, _FoldStats, _splits

from ._data import realistic


def _data():
    X, Y, groups = realistic(n_texts=40, n_units=7)
    return X[:, :6], Y, groups  # unit 6 is constant (see the constant-unit test)


@pytest.mark.parametrize("scoring", ["accuracy", "balanced_accuracy", "roc_auc"])
def test_localization_fast_equals_exact_binary(scoring):
    X, Y, groups = _data()
    kw = dict(
        ks=(1, 2, 4, 6), groups=groups, scoring=scoring, n_random=4, random_state=0
    )
    fast = localization_curve(X, Y[:, 0], [1, 4, 0, 2, 3, 5], **kw)
    exact = localization_curve(X, Y[:, 0], [1, 4, 0, 2, 3, 5], method="exact", **kw)
    num = fast.select_dtypes("number").columns
    np.testing.assert_allclose(fast[num], exact[num], rtol=0, atol=1e-9)
    assert fast.top_k.iloc[-1] == pytest.approx(fast.whole_layer.iloc[0])
    assert fast.top_k.iloc[0] > fast.random_mean.iloc[0]


def test_localization_every_fold_matches_lda_and_ols():
    X, Y, groups = _data()
    for y, kind, est, scoring in [
        (Y[:, 0], "lda", LinearDiscriminantAnalysis(solver="lsqr"), "accuracy"),
        (Y[:, 3], "ols", LinearRegression(), "r2"),
    ]:
        splits = _splits(X, y, 5, groups)
        stats = _FoldStats(X, y, splits, kind == "lda")
        for units in ([1], [1, 4], [0, 2, 3, 5]):
            fast = [
                stats.fold_score(k, np.array(units), kind, scoring) for k in range(5)
            ]
            ref = _exact_fold_scores(est, X[:, units], y, splits, scoring)
            np.testing.assert_allclose(fast, ref, rtol=0, atol=1e-9)


def test_localization_continuous_has_no_diff_means():
    X, Y, groups = _data()
    curve = localization_curve(
        X, Y[:, 3], [4, 1], ks=(1, 2), groups=groups, n_random=3, random_state=1
    )
    assert curve.diff_means.isna().all()
    assert curve.scoring.iloc[0] == "r2"
    exact = localization_curve(
        X,
        Y[:, 3],
        [4, 1],
        ks=(1, 2),
        groups=groups,
        n_random=3,
        random_state=1,
        method="exact",
    )
    np.testing.assert_allclose(curve.top_k, exact.top_k, atol=1e-9)


def test_constant_unit_gets_the_prior_rule():
    X, Y, groups = realistic(n_texts=40, n_units=7)
    y = Y[:, 0]
    splits = _splits(X, y, 5, groups)
    stats = _FoldStats(X, y, splits, True)
    coef, intercept = stats.fit(0, np.array([6]), "lda")
    assert coef.tolist() == [0.0]
    (n0, _, _), (n1, _, _) = stats.train[0]
    assert intercept == pytest.approx(np.log(n1 / n0))


@pytest.mark.parametrize(
    "col,est", [(0, LinearDiscriminantAnalysis(solver="lsqr")), (3, LinearRegression())]
)
def test_forward_selection_matches_sequential_feature_selector(col, est):
    X, Y, groups = _data()
    y = Y[:, col]
    lab = ~np.isnan(y)
    X, y, groups = X[lab], y[lab], groups[lab]
    splits = list(GroupKFold(4).split(X, None, groups))
    fast = forward_selection(X, y, n_select=4, cv=splits)
    exact = forward_selection(X, y, n_select=4, cv=splits, method="exact")
    assert fast.unit.tolist() == exact.unit.tolist()
    np.testing.assert_allclose(fast.score, exact.score, atol=1e-9)
    for m in range(1, 4):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            sfs = SequentialFeatureSelector(est, n_features_to_select=m, cv=splits).fit(
                X, y
            )
        assert sorted(np.flatnonzero(sfs.get_support())) == sorted(fast.unit[:m])


def test_bad_k_and_units():
    X, Y, groups = _data()
    with pytest.raises(InputError, match="k = 9 is larger than the 3 ranked units"):
        localization_curve(X, Y[:, 0], [1, 4, 0], ks=(1, 9), groups=groups)
    with pytest.raises(InputError, match="names unit 17"):
        localization_curve(X, Y[:, 0], [1, 17], ks=(1,), groups=groups)
    with pytest.raises(InputError, match="names unit 4 more than once"):
        localization_curve(X, Y[:, 0], [4, 1, 4], ks=(1, 3), groups=groups)
    with pytest.raises(InputError, match="n_select = 7 is larger than the 6 units"):
        forward_selection(X, Y[:, 0], n_select=7)
    assert isinstance(
        localization_curve(X, Y[:, 0], [1], ks=(1,), n_random=2), pd.DataFrame
    )


@pytest.mark.parametrize("splitter", ["group", "shuffle"])
def test_batch_scores_match_sklearn_every_fold(splitter):
    """All the curve's probes at once (one product per fold) against sklearn fits,
    fold by fold, on grouped K-fold (the grouped-copy statistics) and on
    ShuffleSplit (training rows' own Gram)."""
    from sklearn.model_selection import ShuffleSplit

    X, Y, groups = _data()
    for y, kind, est, scoring in [
        (Y[:, 0], "lda", LinearDiscriminantAnalysis(solver="lsqr"), "accuracy"),
        (Y[:, 0], "lda", LinearDiscriminantAnalysis(solver="lsqr"), "roc_auc"),
        (Y[:, 3], "ols", LinearRegression(), "r2"),
    ]:
        cv = 5 if splitter == "group" else ShuffleSplit(4, random_state=0)
        splits = _splits(X, y, cv, groups if splitter == "group" else None)
        stats = _FoldStats(X, y, splits, kind == "lda")
        sets = [np.array(u) for u in ([1], [1, 4], [0, 2, 3, 5], [5, 0])]
        table = stats.batch_scores([(u, kind) for u in sets], scoring)
        for u, row in zip(sets, table, strict=True):
            ref = _exact_fold_scores(est, X[:, u], y, splits, scoring)
            np.testing.assert_allclose(row, ref, rtol=0, atol=1e-9)


def test_forward_selection_balanced_accuracy_matches_exact():
    X, Y, groups = _data()
    y = Y[:, 0]
    kw = dict(n_select=3, groups=groups, scoring="balanced_accuracy")
    fast = forward_selection(X, y, **kw)
    exact = forward_selection(X, y, method="exact", **kw)
    assert fast.unit.tolist() == exact.unit.tolist()
    np.testing.assert_allclose(fast.score, exact.score, atol=1e-9)


def test_segments_and_constant_units_match_sklearn_every_fold(monkeypatch):
    """The K-fold path reads rows in segments (many chunks here), from shuffled
    folds (gathered rows) with unlabelled rows; a unit constant on one training
    fold only gets coefficient 0 there, and a unit whose training rows barely
    vary (a suspect, checked on the raw values) does not: scores equal
    sklearn's fold by fold."""
    from sklearn.model_selection import KFold

    from skdni.probing import _localization

    monkeypatch.setattr(_localization, "_CHUNK_ROWS", 64)
    X, Y, groups = _data()
    X = X.copy()
    fold2 = list(KFold(5, shuffle=True, random_state=0).split(X))[2][1]
    X[:, 5] = 0.25
    X[fold2, 5] = 0.75  # varies only in fold 2: constant on its training rows
    X[:, 0] = 0.25 + 1e-9 * X[:, 0]
    X[fold2, 0] = 0.75  # fold 2's training rows: a spread of 1e-9, not constant
    for y, kind, est, scoring in [
        (Y[:, 0], "lda", LinearDiscriminantAnalysis(solver="lsqr"), "accuracy"),
        (
            Y[:, 0],
            "lda",
            LinearDiscriminantAnalysis(solver="lsqr"),
            "balanced_accuracy",
        ),
        (Y[:, 3], "ols", LinearRegression(), "r2"),
    ]:
        y = y.copy()
        y[::11] = np.nan
        splits = _splits(X, y, KFold(5, shuffle=True, random_state=0), None)
        stats = _FoldStats(X, y, splits, kind == "lda")
        assert stats.partition and len(stats._segs) > 2 * 5
        assert [bool(c[5]) for c in stats.const] == [k == 2 for k in range(5)]
        assert not any(c[0] for c in stats.const)
        sets = [np.array(u) for u in ([1], [5], [1, 5], [2, 3, 5], [1, 2, 4])]
        table = stats.batch_scores([(u, kind) for u in sets], scoring)
        for u, row in zip(sets, table, strict=True):
            ref = _exact_fold_scores(est, X[:, u], y, splits, scoring)
            np.testing.assert_allclose(row, ref, rtol=0, atol=1e-9)
