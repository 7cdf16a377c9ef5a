"""The engine structure of NeuronProbeSearch and the sklearn behaviours it adds:
engine registration, error_score, nested parameter validation, scorer names, task
counts from effective_n_jobs, sklearn's checks with permutations."""

import numpy as np
import pandas as pd
import pytest
from joblib import cpu_count, parallel_config
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.exceptions import FitFailedWarning
from sklearn.svm import LinearSVC
from sklearn.utils.estimator_checks import parametrize_with_checks

from skdni import InvalidParameterError
from skdni.probing import NeuronProbeSearch, ThresholdClassifier, _engines, _sorted
from skdni.probing._folds import Folds, fold_order

from ._data import planted, realistic


@parametrize_with_checks(
    [
        NeuronProbeSearch(cv=5),
        NeuronProbeSearch(cv=5, n_permutations=3, random_state=0),
    ]
)
def test_sklearn_compatible_with_and_without_permutations(estimator, check):
    check(estimator)


def test_threshold_classifier_is_binary_only_by_its_tags():
    assert ThresholdClassifier().__sklearn_tags__().classifier_tags.multi_class is False
    with pytest.raises(ValueError, match="Only binary classification"):
        ThresholdClassifier().fit([[0.0], [1.0], [2.0]], [0, 1, 2])


# ------------------------------------------------------------------- the engines
def test_every_feature_has_exactly_one_engine():
    X, Y, groups = realistic()
    folds, _ = NeuronProbeSearch(cv=4)._splits(X, groups)
    kinds = ["binary", "binary", "binary", "continuous", "continuous"]
    classes = [np.array([0.0, 1.0])] * 3 + [np.array([0.0, np.nan, 1.0])] * 2
    names = [f"y{j}" for j in range(5)]
    engines = _engines.plan_engines(
        "auto", None, "auto", names, kinds, classes, folds, np.nan
    )
    assert sorted(j for e in engines for j in e.features) == list(range(5))
    assert [type(e).__name__ for e in engines] == ["SVMEngine", "OLSEngine"]
    engines = _engines.plan_engines(
        "auto",
        {"binary": "roc_auc"},
        "auto",
        names,
        kinds,
        classes,
        folds,
        np.nan,
    )
    assert [type(e).__name__ for e in engines] == ["SVMRankEngine", "OLSEngine"]


class _ToyF1Engine(_engines.ProbeEngine):
    """A registered engine for (threshold probe, f1): the exact path's scores under
    another name, to show that one class and its registration are enough."""

    name = "toy"
    probe = "threshold"

    @classmethod
    def supports(cls, kind, scoring):
        return kind == "binary" and scoring == "f1"

    @classmethod
    def estimator(cls, kind, scoring):
        return ThresholdClassifier()

    def fold_scores(self, source, Y, folds, parallel):
        return _engines.ExactEngine.fold_scores(self, source, Y, folds, parallel)


def test_a_registered_engine_scores_its_features(monkeypatch):
    X, Y = planted(n=400)
    exact = NeuronProbeSearch("threshold", cv=4, scoring="f1", method="exact")
    exact.fit(X, Y[:, :1])
    monkeypatch.setattr(_engines, "ENGINES", [*_engines.ENGINES, _ToyF1Engine])
    toy = NeuronProbeSearch("threshold", cv=4, scoring="f1").fit(X, Y[:, :1])
    assert toy.methods_.tolist() == ["toy"]
    np.testing.assert_array_equal(toy.scores_, exact.scores_)
    assert toy.top_units_["y0"][0] == 2


def test_folds_order_and_offsets():
    fold_id = np.array([1, 0, 1, 2, 0], dtype=np.int8)
    order, offsets = fold_order(fold_id, 3)
    assert order.tolist() == [1, 4, 0, 2, 3]
    assert offsets.tolist() == [0, 2, 4, 5]
    assert fold_order(np.array([0, 0, 1, 2]), 3)[0] is None  # already in order
    folds = Folds([None, None, None], fold_id, partition=True)
    assert folds.in_fold_order(np.arange(5)).tolist() == [1, 4, 0, 2, 3]
    train, test = folds[1]
    assert train.tolist() == [1, 3, 4] and test.tolist() == [0, 2]


# ------------------------------------------------------------------- error_score
class _FailsOnUnit(ClassifierMixin, BaseEstimator):
    """A 1-D classifier whose fit raises on the column it was told to refuse."""

    def __init__(self, marker=99.0):
        self.marker = marker

    def fit(self, X, y):
        if np.any(np.asarray(X) == self.marker):
            raise RuntimeError("cannot fit this unit")
        self.classes_ = np.unique(y)
        self.majority_ = self.classes_[
            np.argmax([np.sum(y == c) for c in self.classes_])
        ]
        return self

    def predict(self, X):
        return np.full(len(X), self.majority_)


def _with_marked_unit(n=300):
    X, Y = planted(n=n)
    X[5, 4] = 99.0  # unit 4 holds the marker: every fold training on row 5 fails
    return X, Y[:, :1]


def test_a_failing_fit_scores_error_score_and_warns_naming_the_pair():
    X, y = _with_marked_unit()
    with pytest.warns(FitFailedWarning, match=r"feature 'y0', unit 4 \(fold \d\)"):
        search = NeuronProbeSearch(_FailsOnUnit(), cv=3).fit(X, y)
    r = search.cv_results_
    splits = np.column_stack([r[f"split{k}_test_score"] for k in range(3)])
    # row 5 is in fold 0's test set: folds 1 and 2 trained on it and failed
    assert np.isnan(splits[4, 1:]).all() and np.isfinite(splits[4, 0])
    assert np.isfinite(np.delete(splits, 4, axis=0)).all()
    assert search.scores_.loc["y0", "x4"] == splits[4, 0]  # mean over the rest
    with pytest.warns(FitFailedWarning, match="error_score=0"):
        zero = NeuronProbeSearch(_FailsOnUnit(), cv=3, error_score=0).fit(X, y)
    r = zero.cv_results_
    assert [r[f"split{k}_test_score"][4] for k in (1, 2)] == [0.0, 0.0]


def test_error_score_raise_reraises():
    X, y = _with_marked_unit()
    with pytest.raises(RuntimeError, match="cannot fit this unit"):
        NeuronProbeSearch(_FailsOnUnit(), cv=3, error_score="raise").fit(X, y)


# ------------------------------------------------------- parameter validation
def test_nested_parameters_are_validated_before_any_fit():
    X, Y = planted(n=200)
    with pytest.raises(InvalidParameterError, match="'C' parameter of LinearSVC"):
        NeuronProbeSearch(LinearSVC(C=-1), cv=3).fit(X, Y[:, 0])


@pytest.mark.parametrize("scoring", ["acuracy", "r3"])
def test_scoring_must_be_a_scorer_name(scoring):
    X, Y = planted(n=200)
    with pytest.raises(InvalidParameterError, match="'scoring' parameter"):
        NeuronProbeSearch(cv=3, scoring=scoring).fit(X, Y)


def test_error_score_validated():
    X, Y = planted(n=200)
    with pytest.raises(InvalidParameterError, match="'error_score' parameter"):
        NeuronProbeSearch(cv=3, error_score="ignore").fit(X, Y)


# ------------------------------------------------------------------- task counts
@pytest.fixture
def count_blocks(monkeypatch):
    """Count the unit blocks the sort-based engines hand to joblib."""
    calls = []
    original = _sorted._chunk_scores

    def counting(kernel, part, *args):
        calls.append(np.shape(part)[0])
        return original(kernel, part, *args)

    monkeypatch.setattr(_sorted, "_chunk_scores", counting)
    return calls


def test_task_counts_follow_effective_n_jobs(count_blocks):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, 64))
    y = (X[:, 3] > 0).astype(float)
    ref = NeuronProbeSearch(cv=3, n_jobs=1).fit(X, y)
    assert len(count_blocks) == 4  # 4 blocks per worker
    count_blocks.clear()
    with parallel_config(backend="threading", n_jobs=3):
        got = NeuronProbeSearch(cv=3).fit(X, y)  # n_jobs=None: the config's 3
    assert len(count_blocks) == 12 and sum(count_blocks) == 64
    count_blocks.clear()
    with parallel_config(backend="threading"):
        NeuronProbeSearch(cv=3, n_jobs=-1).fit(X, y)
    assert len(count_blocks) == min(64, 4 * cpu_count())  # not 4 for n_jobs=-1
    pd.testing.assert_frame_equal(got.scores_, ref.scores_)
