"""NeuronProbeSearch: estimator contract, ranking, selector/predictor, bad input."""

import pickle

import numpy as np
import pandas as pd
import pytest
from sklearn.base import BaseEstimator, TransformerMixin, clone
from sklearn.model_selection import GroupKFold, KFold, ShuffleSplit
from sklearn.pipeline import Pipeline
from sklearn.utils.estimator_checks import parametrize_with_checks

from skdni import InputError, SkdniError
from skdni.probing import NeuronProbeSearch, ThresholdClassifier

from ._data import planted, realistic


@parametrize_with_checks([NeuronProbeSearch(cv=3, top_k=2), ThresholdClassifier()])
def test_sklearn_compatible(estimator, check):
    check(estimator)


@pytest.mark.parametrize("method", ["fast", "exact"])
def test_planted_units_rank_first(method):
    X, Y = planted()
    search = NeuronProbeSearch(cv=5, top_k=3, method=method).fit(X, Y)
    assert search.top_units_["y0"][0] == 2
    assert search.top_units_["y1"][0] == 5
    assert search.feature_kinds_.tolist() == ["binary", "continuous"]
    assert search.best_units_.tolist() == [2, 5]
    r = search.cv_results_
    assert r["rank_test_score"][r["unit_index"] == 2][0] == 1
    assert search.scores_.loc["y0", "x2"] > search.chance_scores_["y0"] + 0.2
    assert search.scores_.loc["y1", "x5"] > 0.6
    # every other unit is noise: near chance
    noise = search.scores_.drop(columns=["x2", "x5"])
    assert (noise.loc["y0"] < search.chance_scores_["y0"] + 0.05).all()
    assert (noise.loc["y1"] < 0.02).all()


def test_fitted_attributes_shapes_and_names():
    X, Y = planted(n=300)
    Xdf = pd.DataFrame(X, columns=[f"h{j}" for j in range(X.shape[1])])
    Ydf = pd.DataFrame(Y, columns=["range:add", "depth:paren"])
    search = NeuronProbeSearch(cv=4, top_k=2, min_score=0.3).fit(Xdf, Ydf)
    assert search.scores_.shape == (2, 8)
    assert list(search.scores_.index) == ["range:add", "depth:paren"]
    assert list(search.scores_.columns) == list(Xdf.columns)
    assert search.n_splits_ == 4
    r = search.cv_results_
    assert len(r["mean_test_score"]) == 16
    assert {f"split{k}_test_score" for k in range(4)} <= set(r)
    np.testing.assert_allclose(
        r["mean_test_score"].reshape(2, 8), search.scores_.to_numpy()
    )
    # min_score filters: only the planted unit of the continuous feature is above 0.3
    assert search.top_units_["depth:paren"].tolist() == [5]
    assert search.get_feature_names_out().tolist() == ["h2", "h5"] or set(
        search.get_feature_names_out()
    ) >= {"h5"}
    out = search.transform(Xdf)
    assert out.shape[1] == search.get_support().sum()
    frame = search.to_frame()
    assert list(frame.columns) == [
        "feature",
        "unit",
        "kind",
        "score",
        "std",
        "chance",
        "skill",
        "above_chance",
        "rank",
        "n_splits",
        "pvalue",
        "qvalue",
        "selectivity",
    ]
    assert len(frame) == 16


def test_predict_and_score_use_best_units():
    X, Y = planted(n=600)
    search = NeuronProbeSearch(cv=3).fit(X, Y)
    pred = search.predict(X)
    assert pred.shape == Y.shape
    best = search.best_estimators_["y0"]
    np.testing.assert_array_equal(pred[:, 0], best.predict(X[:, [2]]))
    acc = np.mean(pred[:, 0] == Y[:, 0])
    r2 = 1 - np.sum((Y[:, 1] - pred[:, 1]) ** 2) / np.sum(
        (Y[:, 1] - Y[:, 1].mean()) ** 2
    )
    assert search.score(X, Y) == pytest.approx((acc + r2) / 2)
    one = NeuronProbeSearch(cv=3).fit(X, Y[:, 0])
    assert one.predict(X).shape == (600,)


def test_nan_labels_excluded_per_feature():
    X, Y = planted(n=400)
    Y2 = Y.copy()
    Y2[::3, 0] = np.nan
    full = NeuronProbeSearch(cv=4, method="exact").fit(X, Y2)
    fast = NeuronProbeSearch(cv=4).fit(X, Y2)
    np.testing.assert_allclose(full.scores_, fast.scores_, atol=1e-9)
    # the continuous feature is untouched by the first feature's NaNs
    ref = NeuronProbeSearch(cv=4).fit(X, Y[:, 1])
    np.testing.assert_allclose(fast.scores_.iloc[1], ref.scores_.iloc[0])


def test_groups_make_group_kfold_and_check_cv_splitters():
    X, Y, groups = realistic(n_texts=12)
    search = NeuronProbeSearch(cv=4).fit(X, Y, groups)
    ref = NeuronProbeSearch(cv=GroupKFold(4)).fit(X, Y, groups)
    pd.testing.assert_frame_equal(search.scores_, ref.scores_)
    plain = NeuronProbeSearch(cv=KFold(4)).fit(X, Y)
    assert not np.allclose(plain.scores_, search.scores_, equal_nan=True)
    # a splitter whose test sets do not partition the rows takes the exact path
    shuffled = NeuronProbeSearch(cv=ShuffleSplit(3, random_state=0)).fit(X, Y)
    assert set(shuffled.methods_) == {"exact"}
    with pytest.raises(InputError, match="partition"):
        NeuronProbeSearch(cv=ShuffleSplit(3), method="fast").fit(X, Y)


@pytest.mark.parametrize("method", ["fast", "exact"])
def test_deterministic_across_n_jobs(method):
    X, Y, groups = realistic(n_texts=15)
    kw = dict(cv=3, method=method, n_permutations=3, random_state=0)
    a = NeuronProbeSearch(n_jobs=1, **kw).fit(X, Y, groups)
    b = NeuronProbeSearch(n_jobs=2, **kw).fit(X, Y, groups)
    pd.testing.assert_frame_equal(a.scores_, b.scores_)
    pd.testing.assert_frame_equal(a.pvalues_, b.pvalues_)


def test_custom_estimator_and_scoring_take_exact_path():
    from sklearn.tree import DecisionTreeClassifier

    X, Y = planted(n=300)
    search = NeuronProbeSearch(
        DecisionTreeClassifier(max_depth=1),
        cv=3,
        scoring={"binary": "balanced_accuracy"},
    ).fit(X, Y)
    assert search.methods_.tolist() == ["exact", "ols"]
    assert search.top_units_["y0"][0] == 2
    assert search.chance_scores_["y0"] == pytest.approx(0.5)
    with pytest.raises(InputError, match="fast engine for feature 'y0'"):
        NeuronProbeSearch(cv=3, scoring="f1", method="fast").fit(X, Y[:, :1])


def test_pickle_and_clone():
    X, Y = planted(n=200)
    search = NeuronProbeSearch(cv=3).fit(X, Y)
    again = pickle.loads(pickle.dumps(search))
    np.testing.assert_array_equal(again.predict(X), search.predict(X))
    assert clone(search).get_params() == search.get_params()


class _CharCodes(TransformerMixin, BaseEstimator):
    """A dummy text transformer: three 'units' per character."""

    def fit(self, texts, y=None):
        return self

    def transform(self, texts):
        chars = np.array([ord(c) for c in "".join(texts)], dtype=float)
        return np.c_[chars == ord("("), np.sin(chars), np.cos(3 * chars)]


def test_pipeline_after_text_transformer():
    texts = ["(a)b", "((c))", "ab(c)"] * 10
    chars = "".join(texts)
    Y = np.c_[[c == "(" for c in chars], [c.isalpha() for c in chars]].astype(float)
    pipe = Pipeline([("acts", _CharCodes()), ("search", NeuronProbeSearch(cv=3))])
    pipe.fit(texts, Y, search__char_types=list(chars))
    assert pipe.named_steps["search"].top_units_["y0"][0] == 0
    assert pipe.predict(texts).shape == Y.shape
    assert pipe.score(texts, Y) > 0.9
    search = NeuronProbeSearch(cv=3, control="shuffle_types", random_state=0)
    pipe = Pipeline([("acts", _CharCodes()), ("search", search)])
    pipe.fit(texts, Y, search__char_types=list(chars))
    fitted = pipe.named_steps["search"]
    pd.testing.assert_frame_equal(
        fitted.selectivity_, fitted.scores_ - fitted.control_scores_
    )


# --------------------------------------------------------------------- bad input
def test_row_count_mismatch_names_both_counts():
    X, Y = planted(n=100)
    with pytest.raises(InputError, match="X has 100 rows .* Y has 99"):
        NeuronProbeSearch(cv=3).fit(X, Y[:99])


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_non_finite_activations(bad):
    X, Y = planted(n=100)
    X = pd.DataFrame(X, columns=[f"h{j}" for j in range(8)])
    X.iloc[7, 4] = bad
    with pytest.raises(InputError, match="unit column 'h4' .*row 7"):
        NeuronProbeSearch(cv=3).fit(X, Y)


def test_feature_all_nan():
    X, Y = planted(n=100)
    Y = pd.DataFrame(Y, columns=["range:add", "depth:paren"])
    Y["depth:paren"] = np.nan
    with pytest.raises(InputError, match="'depth:paren'.*no label"):
        NeuronProbeSearch(cv=3).fit(X, Y)


def test_one_class_only():
    X, _ = planted(n=100)
    Y = pd.DataFrame({"impulse:paren": np.ones(100)})
    with pytest.raises(InputError, match="'impulse:paren'.*one class only"):
        NeuronProbeSearch(cv=3).fit(X, Y)


def test_cv_larger_than_number_of_groups():
    X, Y = planted(n=100)
    groups = np.repeat(np.arange(4), 25)
    with pytest.raises(InputError, match="groups \\(texts\\): 4") as info:
        NeuronProbeSearch(cv=5).fit(X, Y, groups)
    assert isinstance(info.value, SkdniError)


def test_control_without_char_types():
    X, Y = planted(n=100)
    with pytest.raises(InputError, match="char_types"):
        NeuronProbeSearch(cv=3, control="shuffle_types").fit(X, Y)


def test_units_at_chance_are_not_findings():
    """Units at chance tie with each other: they get no rank (never rank 1), stay out
    of top_units_, and a feature with none above chance is listed apart."""
    X, Y = planted(n=600)
    rng = np.random.default_rng(5)
    # rare noise features: every probe predicts the majority, exactly at chance
    rare = (rng.random((600, 3)) < 0.03).astype(float)
    Ydf = pd.DataFrame(np.c_[Y, rare], columns=["bin", "cont", "r0", "r1", "r2"])
    search = NeuronProbeSearch(cv=4, top_k=3).fit(X, Ydf)
    assert set(search.features_at_chance_) == {"r0", "r1", "r2"}
    for name in ("r0", "r1", "r2"):
        assert search.top_units_[name].size == 0
        assert not search.above_chance_.loc[name].any()
    frame = search.to_frame()
    first = frame.query("rank == 1")
    # one row per feature with a finding (no ties at chance), the planted units
    assert first.set_index("feature")["unit"].to_dict() == {"bin": "x2", "cont": "x5"}
    assert frame.loc[~frame["above_chance"], "rank"].isna().all()
    assert frame.loc[frame["above_chance"], "rank"].notna().all()
    # skill: (score - chance) / (1 - chance) for accuracy, the R² itself for R²
    acc, chance = search.scores_.loc["bin", "x2"], search.chance_scores_["bin"]
    assert search.skill_.loc["bin", "x2"] == pytest.approx(
        (acc - chance) / (1 - chance)
    )
    assert search.skill_.loc["cont", "x5"] == search.scores_.loc["cont", "x5"]
    assert 0.5 < search.skill_.loc["bin", "x2"] <= 1.0
    # every unit in top_units_ is above chance, and the selector keeps only those
    for name, units in search.top_units_.items():
        assert search.above_chance_.loc[name].iloc[units].all()
    assert set(np.flatnonzero(search.get_support())) == {
        u for units in search.top_units_.values() for u in units
    }


def test_r2_below_zero_is_not_a_finding_even_above_chance():
    """CV chance R² is below 0; a unit between chance and 0 has negative skill."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 6))
    y = rng.normal(size=200)
    search = NeuronProbeSearch(cv=5).fit(X, y)
    scores = search.scores_.loc["y"]
    between = (scores > search.chance_scores_["y"]) & (scores <= 0)
    assert between.any()  # the case exists in this data
    assert not search.above_chance_.loc["y", between].any()
    assert (search.skill_.loc["y"] == scores).all()
