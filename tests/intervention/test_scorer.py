"""NeuronAblationScorer (paper §5.2): ablation, oracle, clamp, mean; top-k vs random."""

import numpy as np
import pandas as pd
import pytest

from skdni import InputError, NoRecurrentLayerError, sequence_ids
from skdni._backend import import_keras
from skdni.activations import LSTMActivationTransformer
from skdni.intervention import NeuronAblationScorer, char_class, next_char_in
from skdni.models._keras_inspect import recurrent_layers
from skdni.probing import NeuronProbeSearch

DIGITS = "0123456789"


@pytest.fixture(scope="module")
def texts(arithmetic_texts):
    return arithmetic_texts


def _next_chars(texts):
    return np.array([c for t in texts for c in t[1:]])


def _digit_labels(texts):
    return np.array([c.isdigit() for t in texts for c in t], dtype=float)


@pytest.fixture(scope="module")
def digit_ranking(trained_lm, texts):
    # every unit ranked by its cross-validated OLS R² for "current char is a digit"
    h = LSTMActivationTransformer(trained_lm).fit_transform(texts)
    y = pd.DataFrame({"digit": _digit_labels(texts)})
    search = NeuronProbeSearch(probe="ols", cv=5, top_k=h.shape[1])
    return search.fit(h, y, groups=sequence_ids(texts)).top_units_["digit"]


def test_zero_every_unit_falls_to_a_constant_prediction(trained_lm, texts):
    n_units = recurrent_layers(trained_lm.model_)[0].units
    scorer = NeuronAblationScorer(trained_lm, np.arange(n_units))
    accuracy = scorer.score(texts)
    # every h is 0, so the output is softmax(Dense bias) at every step: the accuracy is
    # exactly the frequency of the bias's argmax among the next characters
    bias = np.asarray(trained_lm.model_.layers[-1].bias)
    constant = trained_lm.vocabulary_[int(np.argmax(bias))]
    nexts = _next_chars(texts)
    assert accuracy == pytest.approx(np.mean(nexts == constant), abs=1e-12)
    _, counts = np.unique(nexts, return_counts=True)
    assert accuracy <= counts.max() / counts.sum() + 1e-12  # at most the unigram rate
    assert accuracy < trained_lm.score(texts) - 0.1


def test_zero_no_unit_changes_nothing(trained_lm, texts):
    scorer = NeuronAblationScorer(trained_lm, [])
    assert scorer.score(texts) == pytest.approx(trained_lm.score(texts), abs=1e-3)
    ce = NeuronAblationScorer(trained_lm, [], metric="cross_entropy").score(texts)
    assert ce == pytest.approx(trained_lm.cross_entropy(texts), abs=1e-4)


def test_oracle_respects_the_mapping_and_is_reproducible(
    trained_lm, texts, digit_ranking
):
    y = _digit_labels(texts)
    top = digit_ranking[:5]
    oracle = NeuronAblationScorer(trained_lm, top, mode="oracle", oracle_range=(-1, 1))
    first, second = oracle.score(texts, y), oracle.score(texts, y)
    assert first == second
    # all-ones labels mapped to [-1, 0.5] put every unit at 0.5 == clamp at 0.5
    ones = NeuronAblationScorer(trained_lm, top, mode="oracle", oracle_range=(-1, 0.5))
    clamp = NeuronAblationScorer(trained_lm, top, mode="clamp", value=0.5)
    assert ones.score(texts, np.ones_like(y)) == clamp.score(texts)
    # labels mapped to (0, 0) is ablation
    flat = NeuronAblationScorer(trained_lm, top, mode="oracle", oracle_range=(0, 0))
    zero = NeuronAblationScorer(trained_lm, top, mode="zero")
    assert flat.score(texts, y) == zero.score(texts)
    # a DataFrame y with several columns: feature= picks one
    frame = pd.DataFrame({"digit": y, "other": 1 - y})
    named = NeuronAblationScorer(trained_lm, top, mode="oracle", feature="digit")
    assert named.score(texts, frame) == first
    # NaN labels leave the units alone: all-NaN is the baseline
    nan = oracle.score(texts, np.full_like(y, np.nan))
    assert nan == NeuronAblationScorer(trained_lm, []).score(texts)


def test_mean_mode_is_a_clamp_at_the_corpus_means(trained_lm, texts):
    units = [3, 7, 11]
    means = LSTMActivationTransformer(trained_lm).fit_transform(texts).mean(0)[units]
    mean = NeuronAblationScorer(trained_lm, units, mode="mean", metric="cross_entropy")
    clamp = NeuronAblationScorer(
        trained_lm, units, mode="clamp", metric="cross_entropy"
    )
    mean_score = mean.score(texts)
    # clamp with one value per unit is not a parameter: check via the stack instead
    from skdni.intervention import Intervention
    from skdni.models._recurrence import RecurrentStack

    stack = RecurrentStack.from_keras(trained_lm.model_)
    ids = trained_lm.encode(texts[:1])[0][None]
    a = stack.run(
        ids, interventions=Intervention(units=units, mode="mean", values=means)
    )
    assert np.allclose(a["hidden"][0][0, :, units].T, means)
    assert np.isfinite(mean_score) and mean_score != clamp.score(texts)


ARITHMETIC = sorted("()*+-/0123456789")


@pytest.fixture(scope="module")
def digit_model():
    """An LSTM(32) whose units 0..9 detect "current char is a digit" and alone drive the
    output (digit -> an operator comes next, else a digit); units 10..31 are random.

    The session ``trained_lm`` (LSTM(32), 30k chars, accuracy ~0.33) spreads the digit
    feature over most of its units (|corr| 0.6-0.9 for the top 12), and top-10 vs
    random-10 ablation does not separate on it; here the answer is known by
    construction, so the whole chain ranking -> ablation -> statistics is checked.
    The same check on a trained model (LSTM(128) on parentheses, depth units) is in
    ``test_trained_ablation.py``.
    """
    from skdni.models import CharLanguageModel

    keras = import_keras()
    n, u = len(ARITHMETIC), 32
    model = keras.Sequential(
        [
            keras.Input(shape=(None,), dtype="int32"),
            keras.layers.Embedding(n + 1, n + 1),
            keras.layers.LSTM(u, return_sequences=True),
            keras.layers.Dense(n, activation="softmax"),
        ]
    )
    rng = np.random.default_rng(0)
    kernel = rng.normal(0, 1, (n + 1, 4 * u))
    recurrent = rng.normal(0, 0.3, (u, 4 * u))
    bias = np.zeros(4 * u)
    is_digit = np.array([False] + [c.isdigit() for c in ARITHMETIC])
    detectors = np.arange(10)
    for gate, value in ((0, 10.0), (1, -10.0), (3, 10.0)):  # i open, f shut, o open
        kernel[:, gate * u + detectors] = 0
        bias[gate * u + detectors] = value
    kernel[:, 2 * u + detectors] = np.where(is_digit, 3.0, -3.0)[:, None]
    recurrent[:, np.concatenate([g * u + detectors for g in range(4)])] = 0
    readout = np.zeros((u, n))
    readout[:10] = np.where([c.isdigit() for c in ARITHMETIC], -1.0, 1.0)
    model.set_weights([np.eye(n + 1), kernel, recurrent, bias, readout, np.zeros(n)])
    return CharLanguageModel.from_keras(model, ARITHMETIC)


def test_topk_digit_ablation_hurts_more_than_randomk(digit_model, texts):
    h = LSTMActivationTransformer(digit_model).fit_transform(texts)
    y = pd.DataFrame({"digit": _digit_labels(texts)})
    search = NeuronProbeSearch(cv=5, top_k=h.shape[1])
    ranking = search.fit(h, y, groups=sequence_ids(texts)).top_units_["digit"]
    assert set(ranking[:10]) == set(range(10))
    scorer = NeuronAblationScorer(
        digit_model,
        ranking,
        k=[1, 5, 10],
        metric="class_accuracy",
        class_map=str.isdigit,
        n_random=10,
        random_state=0,
    )
    frame = scorer.evaluate(texts).set_index("k")
    assert frame.loc[10, "baseline"] > 0.75
    # margin: top-10 is below the random-10 mean by more than 0.15 and below every draw
    # (no detector left: the output is constant, right only where a non-digit follows)
    assert frame.loc[10, "top"] < frame.loc[10, "random_mean"] - 0.15
    assert frame.loc[10, "top"] < min(frame.attrs["random_scores"][10])
    # the curve: more top units removed, more damage
    assert frame.loc[10, "top"] < frame.loc[5, "top"] <= frame.loc[1, "top"]


def test_evaluate_frame_and_n_jobs_independence(trained_lm, texts, digit_ranking):
    kwargs = dict(k=[1, 5], n_random=3, random_state=42, positions=next_char_in(DIGITS))
    one = NeuronAblationScorer(trained_lm, digit_ranking, n_jobs=1, **kwargs)
    two = NeuronAblationScorer(trained_lm, digit_ranking, n_jobs=2, **kwargs)
    a, b = one.evaluate(texts[:20]), two.evaluate(texts[:20])
    pd.testing.assert_frame_equal(a, b)
    assert list(a["k"]) == [1, 5]
    assert {
        "baseline",
        "top",
        "random_mean",
        "random_std",
        "random_low",
        "random_high",
        "random_min",
        "random_max",
        "effect_size",
    } <= set(a.columns)
    assert (a["random_low"] <= a["random_high"]).all()
    for row in a.itertuples():
        draws = a.attrs["random_scores"][row.k]
        assert row.random_min == min(draws) and row.random_max == max(draws)
        assert row.random_min <= row.random_low <= row.random_high <= row.random_max
    assert a["n_scored"].iloc[0] == next_char_in(DIGITS)(texts[:20]).sum()
    # the baseline under positions is the accuracy on those rows only
    proba = trained_lm.predict_proba(texts[:20])
    mask = next_char_in(DIGITS)(texts[:20])
    nexts = np.array(
        [t[i + 1] if i + 1 < len(t) else "" for t in texts[:20] for i in range(len(t))]
    )
    pred = np.asarray(trained_lm.vocabulary_)[proba.argmax(1)]
    assert a["baseline"].iloc[0] == pytest.approx(
        np.mean(pred[mask] == nexts[mask]), abs=2e-3
    )


def test_call_is_an_sklearn_scorer(trained_lm, texts):
    scorer = NeuronAblationScorer(units=[0, 1], metric="cross_entropy")
    direct = NeuronAblationScorer(trained_lm, [0, 1], metric="cross_entropy")
    assert scorer(trained_lm, texts[:10]) == -direct.score(texts[:10])
    from sklearn.base import clone

    assert clone(direct).model is trained_lm


def test_class_accuracy_uses_the_class_map(trained_lm, texts):
    assert char_class("7") == "digit" and char_class("(") == "paren"
    coarse = NeuronAblationScorer(trained_lm, [], metric="class_accuracy")
    fine = NeuronAblationScorer(trained_lm, [], metric="accuracy")
    assert coarse.score(texts) >= fine.score(texts)
    # one class for everything: always right
    everything = NeuronAblationScorer(
        trained_lm, [], metric="class_accuracy", class_map=lambda c: "any"
    )
    assert everything.score(texts) == 1.0


def test_bad_input(trained_lm, texts):
    y = _digit_labels(texts)
    with pytest.raises(InputError, match="Unit 32 is out of range.*32 units"):
        NeuronAblationScorer(trained_lm, [0, 32]).score(texts)
    with pytest.raises(InputError, match="needs y"):
        NeuronAblationScorer(trained_lm, [0], mode="oracle").score(texts)
    with pytest.raises(
        InputError, match=f"y has {len(y) - 1} rows.*{len(y)} characters"
    ):
        NeuronAblationScorer(trained_lm, [0], mode="oracle").score(texts, y[:-1])
    with pytest.raises(InputError, match="k=33 is larger than layer"):
        NeuronAblationScorer(trained_lm, np.arange(32), k=[5, 33]).evaluate(texts)
    with pytest.raises(InputError, match="one k"):
        NeuronAblationScorer(trained_lm, np.arange(32), k=[1, 5]).score(texts)
    with pytest.raises(InputError, match="positions has shape"):
        NeuronAblationScorer(trained_lm, [0], positions=[True]).score(texts)
    with pytest.raises(InputError, match="Give units="):
        NeuronAblationScorer(trained_lm).score(texts)
    with pytest.raises(InputError, match="state='cell' needs an LSTM"):
        _gru_scorer().score(["ab"])
    keras = import_keras()
    no_rnn = keras.Sequential(
        [
            keras.Input(shape=(None,), dtype="int32"),
            keras.layers.Embedding(4, 3),
            keras.layers.Dense(3, activation="softmax"),
        ]
    )
    with pytest.raises(NoRecurrentLayerError):
        NeuronAblationScorer(no_rnn, [0], vocabulary="abc").score(["abc"])


def _gru_scorer():
    keras = import_keras()
    model = keras.Sequential(
        [
            keras.Input(shape=(None,), dtype="int32"),
            keras.layers.Embedding(4, 3),
            keras.layers.GRU(4, return_sequences=True),
            keras.layers.Dense(3, activation="softmax"),
        ]
    )
    return NeuronAblationScorer(model, [0], state="cell", vocabulary="abc")


class _FakeSearch:
    top_units_ = {"digit": np.array([5, 2, 9, 1])}


def test_units_from_a_search(trained_lm, texts):
    by_search = NeuronAblationScorer(
        trained_lm, search=_FakeSearch(), feature="digit", k=3
    )
    explicit = NeuronAblationScorer(trained_lm, [5, 2, 9])
    assert by_search.score(texts[:10]) == explicit.score(texts[:10])
    with pytest.raises(InputError, match="'plus' is not in the search's features"):
        NeuronAblationScorer(
            trained_lm, search=_FakeSearch(), feature="plus", k=1
        ).score(texts)
    with pytest.raises(InputError, match="needs k="):
        NeuronAblationScorer(trained_lm, search=_FakeSearch(), feature="digit").score(
            texts
        )


def test_frames_concatenate_and_no_random_draws(trained_lm, texts):
    a = NeuronAblationScorer(trained_lm, [0, 1, 2], k=[1, 3], n_random=0).evaluate(
        texts[:10]
    )
    assert a["random_mean"].isna().all() and (a["n_random"] == 0).all()
    b = NeuronAblationScorer(trained_lm, [5, 6], k=[2], n_random=2, random_state=0)
    both = pd.concat([a, b.evaluate(texts[:10])], ignore_index=True)
    assert len(both) == 3


def test_bad_intervention_values(trained_lm, texts):
    from skdni.intervention import Intervention
    from skdni.models import RecurrentStack

    stack = RecurrentStack.from_keras(trained_lm.model_)
    ids = trained_lm.encode(texts[:1])[0][None]
    with pytest.raises(InputError, match=r"one value per unit \(2,\)"):
        stack.run(
            ids,
            interventions=Intervention(
                units=[0, 1], mode="clamp", values=[1.0, 2.0, 3.0]
            ),
        )
    with pytest.raises(InputError, match="integers"):
        Intervention(units=[0.5])
    with pytest.raises(InputError, match="twice"):
        Intervention(units=[1, 1])


@pytest.mark.slow  # trains two small models (JAX compiles): ~10-30 s
def test_scorer_in_cross_validate(texts):
    from sklearn.model_selection import cross_validate

    from skdni.models import CharLanguageModel

    lm = CharLanguageModel(units=4, embedding_dim=4, epochs=1, random_state=0)
    scorer = NeuronAblationScorer(units=[0, 1], metric="cross_entropy")
    result = cross_validate(
        lm, texts[:16], cv=2, scoring={"ablated": scorer}, error_score="raise"
    )
    scores = result["test_ablated"]
    assert scores.shape == (2,) and np.all(scores < 0)  # negated cross-entropy


def test_effect_size_is_nan_when_the_random_draws_do_not_vary(digit_model, texts):
    # units 10..31 of digit_model neither feed the detectors nor the readout, so every
    # random-10 draw (from the units outside the top 10) scores exactly the baseline
    scorer = NeuronAblationScorer(
        digit_model, np.arange(32), k=[10], n_random=4, random_state=0
    )
    row = scorer.evaluate(texts[:40]).iloc[0]
    assert row["random_std"] == 0.0
    assert row["random_mean"] == row["baseline"] != row["top"]
    assert np.isnan(row["effect_size"])


def test_frames_with_random_draws_concatenate(trained_lm, texts):
    kwargs = dict(n_random=2, random_state=0)
    a = NeuronAblationScorer(trained_lm, [0, 1, 2], k=[1, 3], **kwargs)
    b = NeuronAblationScorer(trained_lm, [5, 6], k=[2], mode="clamp", **kwargs)
    frames = [a.evaluate(texts[:10]), b.evaluate(texts[:10])]
    both = pd.concat(frames, ignore_index=True)
    assert both["k"].tolist() == [1, 3, 2]
    assert both["mode"].tolist() == ["zero", "zero", "clamp"]
    # the same frame twice keeps its raw draws
    same = pd.concat([frames[0], frames[0]])
    assert same.attrs["random_scores"] == frames[0].attrs["random_scores"]
    assert all(len(draws) == 2 for draws in same.attrs["random_scores"].values())
    np.testing.assert_allclose(
        [np.mean(d) for d in frames[0].attrs["random_scores"].values()],
        frames[0]["random_mean"],
    )


def test_unknown_next_characters_follow_the_language_models_policy(trained_lm):
    from skdni.models import CharLanguageModel

    lm = CharLanguageModel.from_keras(
        trained_lm.model_, trained_lm.vocabulary_, unknown="ignore"
    )
    # "x" is not in the vocabulary: as a target it is an error for the accuracies and
    # left out of the cross-entropy, as in CharLanguageModel.score / cross_entropy
    texts = ["(1+x)*2", "x9-3", "4/(x)"]
    ce = NeuronAblationScorer(lm, [], metric="cross_entropy").score(texts)
    assert ce == pytest.approx(lm.cross_entropy(texts), abs=1e-4)
    acc = NeuronAblationScorer(lm, [], metric="accuracy").score(texts)
    assert acc == pytest.approx(lm.score(texts), abs=1e-9)
    # with one class for every known character, only the unknown targets are wrong
    # for the class accuracy, and the within-class accuracy is the accuracy
    n_targets = sum(len(t) - 1 for t in texts)
    n_unknown = sum(t[1:].count("x") for t in texts)
    assert n_unknown == 2
    one_class = dict(class_map=lambda c: "any")
    classes = NeuronAblationScorer(lm, [], metric="class_accuracy", **one_class)
    assert classes.score(texts) == pytest.approx(1 - n_unknown / n_targets, abs=1e-12)
    within = NeuronAblationScorer(lm, [], metric="within_class_accuracy", **one_class)
    assert within.score(texts) == pytest.approx(acc, abs=1e-12)


def test_oracle_y_may_be_one_label_array_per_text(trained_lm, texts):
    # per-text labels split with the texts, so the scorer works inside
    # cross_validate(lm, texts, y) for mode="oracle"
    few = texts[:6]
    flat = _digit_labels(few)
    per_text = [np.array([c.isdigit() for c in t], dtype=float) for t in few]
    oracle = NeuronAblationScorer(trained_lm, [0, 3, 5], mode="oracle")
    assert oracle.score(few, per_text) == oracle.score(few, flat)
    assert oracle.score(few, np.array(per_text, dtype=object)) == oracle.score(
        few, flat
    )
    with pytest.raises(InputError, match=f"y\\[2\\] has {len(few[2]) - 1} labels"):
        oracle.score(few, per_text[:2] + [per_text[2][:-1]] + per_text[3:])
    with pytest.raises(InputError, match="5 per-text label arrays for 6 texts"):
        oracle.score(few, per_text[:5])


@pytest.mark.slow  # trains two small models (JAX compiles): ~10-30 s
def test_oracle_scorer_in_cross_validate(texts):
    from sklearn.model_selection import cross_validate

    from skdni.models import CharLanguageModel

    few = texts[:16]
    per_text = [np.array([c.isdigit() for c in t], dtype=float) for t in few]
    lm = CharLanguageModel(units=4, embedding_dim=4, epochs=1, random_state=0)
    scorer = NeuronAblationScorer(units=[0, 1], mode="oracle")
    result = cross_validate(
        lm, few, per_text, cv=2, scoring={"oracle": scorer}, error_score="raise"
    )
    assert result["test_oracle"].shape == (2,)
    assert np.all((result["test_oracle"] >= 0) & (result["test_oracle"] <= 1))


def test_a_search_over_other_columns_is_refused(trained_lm, texts):
    # a search fitted on h and c of the layer (64 columns) ranks columns, not units
    class BothStates(_FakeSearch):
        n_features_in_ = 64

    scorer = NeuronAblationScorer(trained_lm, search=BothStates(), feature="digit", k=2)
    with pytest.raises(InputError, match="64 columns.*'lstm_0' has 32 units"):
        scorer.score(texts[:5])


def test_cross_entropy_needs_probabilities():
    # a model that outputs logits (linear Dense) has no probabilities to take the log
    # of; its accuracy is still meaningful
    keras = import_keras()
    logits = keras.Sequential(
        [
            keras.Input(shape=(None,), dtype="int32"),
            keras.layers.Embedding(4, 3),
            keras.layers.LSTM(4, return_sequences=True),
            keras.layers.Dense(3, name="logits"),
        ]
    )
    with pytest.raises(InputError, match="'linear' output.*softmax"):
        NeuronAblationScorer(
            logits, [0], vocabulary="abc", metric="cross_entropy"
        ).score(["abcab"])
    accuracy = NeuronAblationScorer(logits, [0], vocabulary="abc").score(["abcab"])
    assert 0.0 <= accuracy <= 1.0


def test_n_jobs_zero_after_set_params_is_an_invalid_parameter(trained_lm, texts):
    from skdni import InvalidParameterError

    scorer = NeuronAblationScorer(trained_lm, [0, 1], k=1)
    scorer.score(texts[:3])
    scorer.set_params(n_jobs=0)
    with pytest.raises(InvalidParameterError, match="n_jobs"):
        scorer.score(texts[:3])
    with pytest.raises(InvalidParameterError, match="n_jobs"):
        scorer.evaluate(texts[:3])


def test_random_summary_min_max_are_the_extreme_draws():
    from skdni.models._interventions import random_summary

    draws = [0.1, 0.9, 0.5, 0.3, 0.7, 0.2, 0.4, 0.6, 0.8, 0.55]
    summary = random_summary(draws)
    assert summary["random_min"] == 0.1 and summary["random_max"] == 0.9
    # with 10 draws the percentiles sit strictly inside: a value above
    # random_high can still be below the best draw
    assert summary["random_min"] < summary["random_low"]
    assert summary["random_high"] < summary["random_max"]
    assert summary["n_random"] == 10
    one = random_summary([0.4])
    assert one["random_min"] == one["random_max"] == 0.4
    assert np.isnan(one["random_std"])
    none = random_summary([])
    assert none["n_random"] == 0
    for name in (
        "random_mean",
        "random_low",
        "random_high",
        "random_min",
        "random_max",
    ):
        assert np.isnan(none[name])
