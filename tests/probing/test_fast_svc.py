"""The paper's probe, SVC(kernel="linear"): the exact 1-D solver against libsvm, fold
by fold, and its objective against libsvm's at a tight tolerance."""

import warnings

import numpy as np
import pytest
from sklearn.model_selection import GroupKFold, KFold, cross_val_score
from sklearn.svm import SVC

from skdni.probing import NeuronProbeSearch
from skdni.probing._fast_svc import svc_fit_1d, svc_fold_scores

from ._data import planted, realistic


def _objective(w, b, x, y):
    return 0.5 * w * w + np.maximum(0.0, 1.0 - (2 * y - 1) * (w * x + b)).sum()


@pytest.mark.parametrize("seed", range(6))
def test_solver_reaches_libsvm_objective(seed):
    rng = np.random.default_rng(seed)
    n = 150
    y = (rng.random(n) < rng.uniform(0.2, 0.8)).astype(int)
    x = rng.normal(size=n) + rng.uniform(0.5, 3.0) * y
    if seed % 2:
        x = np.round(x, 1)  # ties
    w, b = svc_fit_1d(x, y.astype(np.int8))
    ref = SVC(kernel="linear", tol=1e-8).fit(x[:, None], y)
    w_ref, b_ref = ref.coef_[0, 0], ref.intercept_[0]
    # The exact minimiser is never worse than libsvm's, and libsvm's is close to it.
    assert _objective(w, b, x, y) <= _objective(w_ref, b_ref, x, y) + 1e-9
    assert w == pytest.approx(w_ref, rel=1e-4, abs=1e-6)
    assert b == pytest.approx(b_ref, rel=1e-4, abs=1e-5)


def test_fold_accuracies_match_sklearn_svc_on_99_percent_of_folds():
    X, Y, groups = realistic(n_texts=40, n_units=7, nan_rate=0.0)
    X2, Y2 = planted(n=900)
    cases = [(X, Y[:, j], groups) for j in (0, 1, 2)] + [(X2, Y2[:, 0], None)]
    equal = total = 0
    worst = 0.0
    for x_all, y, g in cases:
        fold_id = np.empty(len(y), dtype=np.int64)
        splitter = GroupKFold(5) if g is not None else KFold(5)
        splits = list(splitter.split(x_all, None, g))
        for k, (_, te) in enumerate(splits):
            fold_id[te] = k
        codes = (y == y.max()).astype(np.int8)
        for j in range(x_all.shape[1]):
            if np.ptp(x_all[:, j]) == 0:
                continue
            fast = svc_fold_scores(x_all[:, j].copy(), codes, fold_id, 5)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                ref = cross_val_score(
                    SVC(kernel="linear"), x_all[:, j : j + 1], y, cv=splits
                )
            diff = np.abs(fast - ref)
            equal += int((diff < 1e-12).sum())
            total += diff.size
            worst = max(worst, float(diff.max()))
    assert total >= 100
    assert equal / total >= 0.99, (equal, total, worst)
    # libsvm stops at tol=1e-3: where a fold differs, by a row or two of the fold.
    assert worst < 0.01


def test_search_svc_engine_matches_exact_path_every_fold():
    X, Y, groups = realistic(n_texts=30, n_units=7)
    Yb = Y[:, :3]
    fast = NeuronProbeSearch("svc", cv=4, method="fast").fit(X, Yb, groups)
    assert set(fast.methods_) == {"svc"}
    exact = NeuronProbeSearch("svc", cv=4, method="exact").fit(X, Yb, groups)
    r_f, r_e = fast.cv_results_, exact.cv_results_
    a = np.column_stack([r_f[f"split{k}_test_score"] for k in range(4)])
    b = np.column_stack([r_e[f"split{k}_test_score"] for k in range(4)])
    same = np.isclose(a, b, rtol=0, atol=1e-12) | (np.isnan(a) & np.isnan(b))
    assert same.mean() >= 0.99
    assert np.nanmax(np.abs(a - b)) < 0.02


def test_one_class_training_fold_predicts_that_class():
    x = np.arange(20, dtype=np.float64)
    codes = np.r_[np.ones(10), np.zeros(10)].astype(np.int8)
    fold_id = np.r_[np.zeros(10), np.ones(10)].astype(np.int64)
    # Fold 0 trains on class 0 only and predicts 0 for its (class 1) rows.
    assert svc_fold_scores(x, codes, fold_id, 2).tolist() == [0.0, 0.0]


def test_refit_holds_the_exact_minimiser_and_predicts_as_svc():
    X, Y = planted(n=600)
    y = Y[:, 0]
    search = NeuronProbeSearch("svc", cv=3).fit(X, y)
    best = search.best_units_[0]
    refit = search.best_estimators_["y"]
    w, b = svc_fit_1d(X[:, best].copy(), (y == 1).astype(np.int8))
    assert refit.coef_[0, 0] == pytest.approx(w, rel=1e-6)  # libsvm on 2 points
    assert refit.intercept_[0] == pytest.approx(b, rel=1e-6, abs=1e-9)
    ref = SVC(kernel="linear").fit(X[:, [best]], y)
    agree = (refit.predict(X[:, [best]]) == ref.predict(X[:, [best]])).mean()
    assert agree >= 0.995


def test_zero_slope_refit_predicts_the_majority_like_svc():
    rng = np.random.default_rng(5)
    n = 1500
    y = (rng.random(n) < 0.2).astype(float)
    X = np.c_[rng.normal(size=n) + 0.3 * y]  # weak unit, imbalanced: w* = 0
    w, _ = svc_fit_1d(X[:, 0].copy(), y.astype(np.int8))
    assert w == 0.0
    refit = NeuronProbeSearch("svc", cv=3).fit(X, y).best_estimators_["y"]
    ref = SVC(kernel="linear").fit(X, y)
    assert (refit.predict(X) == ref.predict(X)).all()
    assert (refit.predict(X) == 0.0).all()
