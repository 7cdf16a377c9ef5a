"""Permutations, BH q-values, control task, chance levels, the threshold model."""

import numpy as np
import pytest
from sklearn.dummy import DummyClassifier, DummyRegressor
from sklearn.metrics import get_scorer

from skdni.probing import NeuronProbeSearch, ThresholdClassifier
from skdni.probing._stats import (
    benjamini_hochberg,
    chance_fold_scores,
    control_labels,
    permutation_index,
)

from ._data import planted, realistic


def test_benjamini_hochberg_by_hand():
    p = np.array([[0.01, 0.04], [0.03, np.nan], [0.5, 0.02]])
    q = benjamini_hochberg(p)
    # sorted: .01 .02 .03 .04 .5 (m=5) → .05 .05 .05 .05 .5
    np.testing.assert_allclose(q[~np.isnan(p)], [0.05, 0.05, 0.05, 0.5, 0.05])
    assert np.isnan(q[1, 1])


def test_permutation_index_keeps_text_blocks():
    groups = np.repeat([0, 1, 2, 3], [3, 1, 4, 2])
    idx = permutation_index(groups.size, groups, np.random.RandomState(0))
    assert sorted(idx) == list(range(10))
    # every text's rows appear contiguously and in their original order
    runs = np.split(idx, np.flatnonzero(np.diff(groups[idx])) + 1)
    assert len(runs) == 4
    for run in runs:
        assert np.all(np.diff(run) == 1)
    shift = permutation_index(10, None, np.random.RandomState(0))
    assert shift[0] != 0 and np.all(np.diff(shift) % 10 == 1)


def test_permutation_pvalues_planted_vs_noise():
    X, Y = planted(n=600)
    s = NeuronProbeSearch(cv=3, n_permutations=19, random_state=0).fit(X, Y)
    assert s.pvalues_.loc["y0", "x2"] == pytest.approx(1 / 20)
    assert s.pvalues_.loc["y1", "x5"] == pytest.approx(1 / 20)
    noise = s.pvalues_.drop(columns=["x2", "x5"]).to_numpy()
    assert noise.mean() > 0.2
    assert (s.qvalues_.to_numpy() >= s.pvalues_.to_numpy() - 1e-12).all()
    frame = s.to_frame()
    assert frame["pvalue"].notna().all()
    again = NeuronProbeSearch(cv=3, n_permutations=19, random_state=0).fit(X, Y)
    np.testing.assert_array_equal(again.pvalues_, s.pvalues_)


def test_control_labels_constant_per_type():
    rng = np.random.RandomState(0)
    types = np.array(list("abcabcaab"))
    Y = np.c_[np.arange(9.0), np.r_[np.nan, np.ones(8)]]
    C = control_labels(Y, types, rng)
    for t in "abc":
        col = C[types == t, 0]
        assert np.all(col == col[0]) and col[0] in Y[:, 0]
    assert np.isnan(C[0, 1]) and np.all(C[1:, 1] == 1.0)


def test_selectivity_low_for_a_type_identity_unit():
    """A unit that only encodes the character type is as good on the control task."""
    rng = np.random.default_rng(0)
    chars = rng.choice(list("abcdefgh"), size=1500)
    codes = np.searchsorted(np.unique(chars), chars).astype(float)
    is_vowel = np.isin(chars, list("ae")).astype(float)
    context = (np.r_[0, codes[:-1]] > 3).astype(float)  # depends on the previous char
    X = np.c_[
        np.isin(chars, list("ae")) + 0.01 * rng.normal(size=1500),
        context + 0.3 * rng.normal(size=1500),
    ]
    s = NeuronProbeSearch(cv=5, control="shuffle_types", random_state=1).fit(
        X, np.c_[is_vowel, context], char_types=chars
    )
    # the context unit predicts "context" far better than any type-based control
    assert s.selectivity_.iloc[1, 1] > 0.2
    np.testing.assert_allclose(s.selectivity_, s.scores_ - s.control_scores_)


def test_chance_matches_dummy_estimators():
    X, Y, groups = realistic(n_texts=10)
    search = NeuronProbeSearch(cv=4).fit(X, Y, groups)
    splits, fold_id = search._splits(X, groups)
    for j in range(Y.shape[1]):
        binary = search.feature_kinds_.iloc[j] == "binary"
        scorer = get_scorer("accuracy" if binary else "r2")
        closed = chance_fold_scores(Y[:, j], splits, fold_id, binary)
        fitted = chance_fold_scores(Y[:, j], splits, None, binary, scorer=scorer)
        np.testing.assert_allclose(closed, fitted, atol=1e-12)
        assert search.chance_scores_.iloc[j] == pytest.approx(np.nanmean(closed))
    assert DummyClassifier and DummyRegressor  # the references chance_fold_scores fits


def test_threshold_classifier_tie_breaks_and_midpoints():
    # perfectly separable: the midpoint between 0.2 and 0.8
    clf = ThresholdClassifier().fit([[0.2], [0.1], [0.9], [0.8]], [0, 0, 1, 1])
    assert (clf.threshold_, clf.direction_) == (0.5, 1)
    # reversed classes: direction -1
    clf = ThresholdClassifier().fit([[0.2], [0.1], [0.9], [0.8]], [1, 1, 0, 0])
    assert (clf.threshold_, clf.direction_) == (0.5, -1)
    assert clf.predict([[0.0], [1.0]]).tolist() == [1, 0]
    # every candidate scores 1/2: the first wins, "everything is class 1"
    clf = ThresholdClassifier().fit([[1.0], [1.0], [2.0], [2.0]], [0, 1, 0, 1])
    assert (clf.threshold_, clf.direction_) == (-np.inf, 1)
    # tied values cannot be separated
    # (x < 1.5 → 1 also reaches 2/3, but direction +1 comes first)
    clf = ThresholdClassifier().fit([[1.0], [1.0], [2.0]], [0, 1, 0])
    assert (clf.threshold_, clf.direction_) == (np.inf, 1)
    assert clf.score([[1.0], [1.0], [2.0]], [0, 1, 0]) == pytest.approx(2 / 3)


def test_threshold_classifier_is_training_optimal():
    rng = np.random.default_rng(0)
    x = rng.normal(size=60).round(1)
    y = (x + rng.normal(size=60) > 0).astype(int)
    clf = ThresholdClassifier().fit(x[:, None], y)
    best = max(
        max(np.mean((x > t) == y), np.mean((x < t) == y))
        for t in np.r_[-np.inf, np.unique(x) + 1e-9, np.inf]
    )
    assert clf.score(x[:, None], y) == pytest.approx(best)
