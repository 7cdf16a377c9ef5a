"""Fast engines against the exact sklearn path, fold by fold."""

import numpy as np
import pytest
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.svm import LinearSVC

from skdni.probing import NeuronProbeSearch, ThresholdClassifier

from ._data import planted, realistic

REFERENCES = {
    "svm": LinearSVC(tol=1e-10, max_iter=100_000),
    "logistic": LogisticRegression(tol=1e-10, max_iter=10_000),
    "threshold": ThresholdClassifier(),
}


def _split_scores(search):
    r = search.cv_results_
    return np.column_stack([r[f"split{k}_test_score"] for k in range(search.n_splits_)])


def _test_sizes(Y, search, groups):
    """Labelled held-out rows per (feature, unit, fold), in cv_results_ order."""
    splits = list(search._splits(np.zeros((Y.shape[0], 1)), groups)[0])
    p = search.n_features_in_
    sizes = np.array(
        [[np.sum(~np.isnan(Y[te, j])) for _, te in splits] for j in range(Y.shape[1])]
    )
    return np.repeat(sizes, p, axis=0)


def _datasets():
    X, Y = planted(n=900)
    X2, Y2, groups = realistic()
    rng = np.random.default_rng(3)
    Y1 = Y.copy()
    Y1[rng.random(Y1.shape) < 0.1] = np.nan
    return [("random", X, Y1, None), ("realistic", X2, Y2, groups)]


@pytest.mark.parametrize("name,X,Y,groups", _datasets())
@pytest.mark.parametrize("probe", ["svm", "logistic", "threshold"])
def test_binary_engines_match_exact(name, X, Y, groups, probe):
    binary = [
        j for j in range(Y.shape[1]) if np.unique(Y[~np.isnan(Y[:, j]), j]).size == 2
    ]
    Yb = Y[:, binary]
    fast = NeuronProbeSearch(probe, cv=5, method="fast").fit(X, Yb, groups)
    assert set(fast.methods_) == {probe}
    exact = NeuronProbeSearch(REFERENCES[probe], cv=5, method="exact").fit(
        X, Yb, groups
    )
    a, b = _split_scores(fast), _split_scores(exact)
    assert np.array_equal(np.isnan(a), np.isnan(b))
    finite = ~np.isnan(a)
    same = a[finite] == b[finite]
    assert same.mean() >= 0.999, (name, probe, same.mean())
    sizes = _test_sizes(Yb, fast, groups)
    assert np.all(np.abs(a - b)[finite] * sizes[finite] <= 1 + 1e-9)
    # The planted or informative units must be among those compared.
    assert (
        np.nanmax(fast.scores_.to_numpy() - fast.chance_scores_.to_numpy()[:, None])
        > 0.05
    )


@pytest.mark.parametrize("name,X,Y,groups", _datasets())
def test_ols_matches_exact_per_fold(name, X, Y, groups):
    fast = NeuronProbeSearch("ols", cv=5, method="fast").fit(X, Y, groups)
    exact = NeuronProbeSearch(LinearRegression(), cv=5, method="exact").fit(
        X, Y, groups
    )
    a, b = _split_scores(fast), _split_scores(exact)
    assert np.array_equal(np.isnan(a), np.isnan(b))
    # Unit 6 of "realistic" is constant at tanh(3), whose mean is not representable:
    # sklearn's slope there is rounding noise (documented in _fast_ols); the fast path
    # predicts the training mean, i.e. scores the chance level.
    constant = np.tile(np.ptp(X, axis=0) == 0, Y.shape[1])
    finite = ~np.isnan(a) & ~constant[:, None]
    np.testing.assert_allclose(a[finite], b[finite], rtol=1e-9, atol=1e-9)
    assert np.nanmax(a) > 0.2  # an informative pair is in the comparison
    for j in range(Y.shape[1]):
        for u in np.flatnonzero(np.ptp(X, axis=0) == 0):
            assert fast.scores_.iloc[j, u] == pytest.approx(
                fast.chance_scores_.iloc[j], abs=1e-12
            )


def test_default_linearsvc_exact_path_matches_fast_on_planted():
    X, Y = planted(n=600)
    fast = NeuronProbeSearch(cv=4).fit(X, Y)
    exact = NeuronProbeSearch(cv=4, method="exact").fit(X, Y)
    assert fast.methods_.tolist() == ["svm", "ols"]
    assert exact.methods_.tolist() == ["exact", "exact"]
    np.testing.assert_allclose(_split_scores(fast), _split_scores(exact), atol=1e-9)


def test_degenerate_folds_agree():
    """One class in a training fold and a constant unit: same answer on both paths."""
    rng = np.random.default_rng(0)
    n = 200
    X = np.c_[rng.normal(size=n), np.zeros(n), np.full(n, 0.5)]
    y = np.zeros(n)
    y[:40] = 1.0  # every positive is in fold 0 of KFold(5): its training fold has none
    y[:20] = np.nan
    for probe in ["svm", "logistic", "threshold"]:
        fast = NeuronProbeSearch(probe, cv=5, method="fast").fit(X, y)
        exact = NeuronProbeSearch(REFERENCES[probe], cv=5, method="exact").fit(X, y)
        np.testing.assert_array_equal(_split_scores(fast), _split_scores(exact))
        # fold 0 trains on negatives only and predicts "0": its 20 labelled positives
        # are all wrong
        assert _split_scores(fast)[0, 0] == 0.0
    Yc = np.c_[rng.normal(size=n)]
    fast = NeuronProbeSearch("ols", cv=5, method="fast").fit(X, Yc)
    exact = NeuronProbeSearch("ols", cv=5, method="exact").fit(X, Yc)
    np.testing.assert_allclose(_split_scores(fast), _split_scores(exact), atol=1e-12)


@pytest.mark.parametrize("scoring", [None, "balanced_accuracy", "roc_auc"])
def test_feature_blocks_score_each_feature_as_alone(scoring):
    """The SVM engines build prefix sums for 16 features per pass (packed label
    codes, padded blocks): 21 features scored together (n_jobs=2) equal each feature
    scored alone (n_jobs=1), bit for bit, unlabelled rows and tied activations
    included."""
    rng = np.random.default_rng(7)
    X, _ = planted(n=600)
    X = np.round(X, 1)  # ties
    Y = (X @ rng.normal(size=(X.shape[1], 21)) + rng.normal(size=(600, 21))) > 0.5
    Y = Y.astype(float)
    Y[rng.random(Y.shape) < 0.07] = np.nan
    together = NeuronProbeSearch(cv=4, scoring=scoring, n_jobs=2).fit(X, Y)
    assert set(together.methods_) == {"svm"}
    scores = _split_scores(together).reshape(21, X.shape[1], 4)
    for j in (0, 9, 15, 16, 20):  # both blocks, their edges
        alone = NeuronProbeSearch(cv=4, scoring=scoring).fit(X, Y[:, [j]])
        np.testing.assert_array_equal(scores[j], _split_scores(alone))
