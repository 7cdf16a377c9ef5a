"""Shortcuts of the fast paths against what they replace."""

import warnings

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.linear_model import LinearRegression
from sklearn.metrics import get_scorer
from sklearn.svm import LinearSVC

from skdni._errors import InputError
from skdni.probing import NeuronProbeSearch
from skdni.probing._engines import _fitted_linear_regression
from skdni.probing._fast_svm import svm_fit_1d
from skdni.probing._sorted import unit_major
from skdni.probing._stats import chance_fold_scores

from ._data import planted, realistic


def _binary(Y):
    return [
        j for j in range(Y.shape[1]) if np.unique(Y[~np.isnan(Y[:, j]), j]).size == 2
    ]


@pytest.mark.parametrize("data", ["planted", "realistic"])
def test_svm_best_estimators_predict_as_linearsvc_fit(data):
    """best_estimators_ come from the fast solver's exact (w, b), not a liblinear
    refit: they predict exactly what LinearSVC().fit predicts, on every unit."""
    if data == "planted":
        X, Y = planted(n=900)
    else:
        X, Y, _ = realistic()
    Yb = Y[:, _binary(Y)]
    search = NeuronProbeSearch(cv=5).fit(X, Yb)
    assert set(search.methods_) == {"svm"}
    for j, name in enumerate(search.target_names_):
        fast = search.best_estimators_[name]
        assert (
            isinstance(fast, LinearSVC)
            and fast.get_params() == LinearSVC().get_params()
        )
        labelled = ~np.isnan(Yb[:, j])
        for u in range(X.shape[1]):
            x = X[labelled][:, [u]]
            ref = LinearSVC().fit(x, Yb[labelled, j])
            tight = LinearSVC(tol=1e-10, max_iter=100_000).fit(x, Yb[labelled, j])
            w, b, _ = svm_fit_1d(
                X[:, u].copy(), np.where(labelled, Yb[:, j], -1).astype(np.int8)
            )
            mine = clone(fast)
            mine.coef_, mine.intercept_ = np.array([[w]]), np.array([b])
            mine.classes_, mine.n_features_in_ = fast.classes_, 1
            np.testing.assert_array_equal(
                mine.predict(X[:, [u]]), ref.predict(X[:, [u]])
            )
            # liblinear stops at a gradient tolerance, so only near the minimiser
            np.testing.assert_allclose(
                [w, b], [tight.coef_[0, 0], tight.intercept_[0]], rtol=1e-4, atol=1e-6
            )
        u = search.best_units_[j]
        ref = LinearSVC().fit(X[labelled][:, [u]], Yb[labelled, j])
        np.testing.assert_array_equal(fast.classes_, ref.classes_)
        np.testing.assert_array_equal(fast.predict(X[:, [u]]), ref.predict(X[:, [u]]))
        np.testing.assert_allclose(
            fast.decision_function(X[:, [u]]),
            ref.decision_function(X[:, [u]]),
            rtol=1e-3,
            atol=1e-4,
        )
    assert search.score(X, Yb) == pytest.approx(
        np.mean(
            [
                get_scorer("accuracy")(
                    LinearSVC().fit(
                        X[~np.isnan(Yb[:, j])][:, [u]], Yb[~np.isnan(Yb[:, j]), j]
                    ),
                    X[~np.isnan(Yb[:, j])][:, [u]],
                    Yb[~np.isnan(Yb[:, j]), j],
                )
                for j, u in enumerate(search.best_units_)
            ]
        )
    )


def test_ols_best_estimators_agree_with_linear_regression_fit():
    """The closed-form refit is LinearRegression().fit's line (to ~1e-15): same
    attributes, coefficients and predictions to 1e-12 relative."""
    X, Y, _ = realistic()
    search = NeuronProbeSearch("ols", cv=4).fit(X, Y)
    for j, name in enumerate(search.target_names_):
        u = search.best_units_[j]
        labelled = ~np.isnan(Y[:, j])
        ref = LinearRegression().fit(X[labelled][:, [u]], Y[labelled, j])
        got = search.best_estimators_[name]
        assert type(got) is LinearRegression
        assert set(vars(got)) == set(vars(ref))
        assert got.rank_ == ref.rank_ and got.n_features_in_ == 1
        assert got.coef_.shape == ref.coef_.shape == (1,)
        np.testing.assert_allclose(got.coef_, ref.coef_, rtol=1e-12)
        np.testing.assert_allclose(got.singular_, ref.singular_, rtol=1e-12)
        np.testing.assert_allclose(got.intercept_, ref.intercept_, rtol=1e-12)
        np.testing.assert_allclose(
            got.predict(X[:, [u]]), ref.predict(X[:, [u]]), rtol=1e-12, atol=1e-14
        )


@pytest.mark.parametrize("seed", range(20))
def test_closed_form_linear_regression_refit_agrees_with_fit(seed):
    """_fitted_linear_regression against LinearRegression().fit on random columns
    (offsets, scales, NaN labels); a constant column is left to fit (None)."""
    rng = np.random.default_rng(seed)
    n = int(rng.integers(2, 2000))
    loc, scale = rng.normal() * 10 ** rng.uniform(-2, 2), 10 ** rng.uniform(-2, 2)
    x = rng.normal(loc, scale, size=(n, 1))
    y = rng.normal(size=n) * 10 ** rng.uniform(-2, 2) + rng.normal() * x[:, 0]
    y[rng.random(n) < 0.1] = np.nan
    labelled = ~np.isnan(y)
    got = _fitted_linear_regression(LinearRegression(), x, y)
    if labelled.sum() < 2:
        assert got is None
        return
    ref = LinearRegression().fit(x[labelled], y[labelled])
    np.testing.assert_allclose(got.coef_, ref.coef_, rtol=1e-12)
    spread = np.abs(ref.intercept_) + np.abs(ref.coef_[0] * x[:, 0])
    assert np.max(np.abs(got.predict(x) - ref.predict(x)) / spread) < 1e-12
    const = np.full((50, 1), 0.1)  # a mean not representable: lstsq's noise
    assert _fitted_linear_regression(LinearRegression(), const, y[:50]) is None
    assert (
        _fitted_linear_regression(LinearRegression(fit_intercept=False), x, y) is None
    )


@pytest.mark.parametrize("grouped", [False, True])
def test_vectorized_chance_equals_fitted_dummies(grouped):
    """chance_scores_ (closed forms for all features at once, folds sorted or not)
    equal the per-fold DummyClassifier / DummyRegressor scores."""
    X, Y, groups = realistic(nan_rate=0.2)
    search = NeuronProbeSearch("ols", cv=5).fit(X, Y, groups if grouped else None)
    search_auto = NeuronProbeSearch(cv=5).fit(X, Y, groups if grouped else None)
    splits, _ = search._splits(X, groups if grouped else None)
    for j in range(Y.shape[1]):
        for fitted, binary in ((search, False), (search_auto, j in _binary(Y))):
            scorer = get_scorer("accuracy" if binary else "r2")
            dummy = chance_fold_scores(Y[:, j], splits, None, binary, scorer=scorer)
            assert fitted.chance_scores_.iloc[j] == pytest.approx(
                np.nanmean(dummy), abs=1e-12
            )


def test_finite_check_survives_a_sum_that_overflows():
    """The one-pass finite check (a finite sum) must not reject huge finite values."""
    X, Y = planted(n=200)
    X[:, 0] = 1e306  # 200 of them sum to more than the largest float
    assert not np.isfinite(np.sum(X))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # the probes overflow, fine
        NeuronProbeSearch(cv=4).fit(X, Y)  # no InputError: every value is finite
    X[7, 3] = np.inf
    with pytest.raises(InputError, match=r"'x3' \(index 3\), row 7"):
        NeuronProbeSearch(cv=4).fit(X, Y)


def test_unit_major_is_a_transposed_row_gather():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(203, 9))
    rows = rng.permutation(203)
    np.testing.assert_array_equal(unit_major(X, rows, 2, 7), X[rows][:, 2:7].T)
    assert unit_major(X, rows, 2, 7).flags.c_contiguous


def test_label_statistics_are_computed_once_per_column(monkeypatch):
    """The OLS label ranges and every engine's chance share one LabelStats pass
    per column (three passes per fit before)."""
    from skdni.probing import _engines

    seen = []
    real = _engines.fold_label_stats

    def counting(Y, *args, **kwargs):
        seen.append(Y.shape[1])
        return real(Y, *args, **kwargs)

    monkeypatch.setattr(_engines, "fold_label_stats", counting)
    X, Y, groups = realistic()
    search = NeuronProbeSearch(cv=4).fit(X, Y, groups)
    assert set(search.methods_) == {"svm", "ols"}
    assert sum(seen) == Y.shape[1]
    seen.clear()
    NeuronProbeSearch(cv=4, n_permutations=2, random_state=0).fit(X, Y, groups)
    n_ols = int((search.methods_ == "ols").sum())
    assert sum(seen) == Y.shape[1] + 2 * n_ols  # a null labelling: OLS columns only
