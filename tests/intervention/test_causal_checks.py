"""Causal checks 2.0: class-mass metrics, input-side positions, values per unit,
resampling, and every condition in one batched recurrence (issue 12)."""

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from skdni import InputError
from skdni.intervention import (
    NeuronAblationScorer,
    after_char_in,
    char_class,
    next_char_in,
)
from skdni.intervention._scorer import (
    _score_batch,
    _score_conditions,
    _score_each,
    resample_rows,
)
from skdni.models import RecurrentStack
from skdni.models._conditions import ConditionSet

DIGITS = "0123456789"


@pytest.fixture(scope="module")
def texts(arithmetic_texts):
    return arithmetic_texts[:60]


def _flat_next(texts):
    return np.array(
        [t[i + 1] if i + 1 < len(t) else "" for t in texts for i in range(len(t))]
    )


def test_class_metrics_use_the_class_probability_mass(trained_lm, texts):
    proba = trained_lm.predict_proba(texts)
    chars = np.asarray(trained_lm.vocabulary_)
    nexts = _flat_next(texts)
    scored = nexts != ""
    names = sorted({char_class(c) for c in chars})
    onehot = np.array([[char_class(c) == n for n in names] for c in chars], float)
    mass = proba[scored] @ onehot
    true = np.array([names.index(char_class(c)) for c in nexts[scored]])
    expected = np.mean(mass.argmax(1) == true)
    got = NeuronAblationScorer(trained_lm, [], metric="class_accuracy").score(texts)
    assert got == pytest.approx(expected, abs=2e-3)
    # the class of the single most likely character is a different (worse) rule
    by_argmax = np.mean(
        np.array([names.index(char_class(c)) for c in chars[proba[scored].argmax(1)]])
        == true
    )
    assert got >= by_argmax
    ce = NeuronAblationScorer(trained_lm, [], metric="class_cross_entropy")
    expected_ce = -np.mean(np.log(mass[np.arange(len(true)), true]))
    assert ce.score(texts) == pytest.approx(expected_ce, rel=1e-3)
    assert ce(trained_lm, texts) == -ce.score(texts)  # a loss: negated as a scorer
    # one class for all: zero class cross-entropy
    one = NeuronAblationScorer(
        trained_lm, [], metric="class_cross_entropy", class_map=lambda c: "any"
    )
    assert one.score(texts) == pytest.approx(0.0, abs=1e-5)


def test_after_char_in_selects_by_the_input(trained_lm, texts):
    rows = after_char_in(DIGITS + ")")(texts)
    flat = np.array([c for t in texts for c in t])
    np.testing.assert_array_equal(rows, np.isin(flat, list(DIGITS + ")")))
    scorer = NeuronAblationScorer(
        trained_lm, [], metric="class_accuracy", positions=after_char_in(DIGITS + ")")
    )
    frame = NeuronAblationScorer(
        trained_lm,
        np.arange(5),
        k=[1],
        n_random=0,
        metric="class_accuracy",
        positions=after_char_in(DIGITS + ")"),
    ).evaluate(texts)
    has_next = _flat_next(texts) != ""
    assert frame["n_scored"].iloc[0] == (rows & has_next).sum()
    assert frame["baseline"].iloc[0] == pytest.approx(scorer.score(texts), abs=1e-12)


def test_batched_conditions_equal_one_by_one_runs(trained_lm, texts, rng):
    """The fast path (all conditions in one batch) against one pass per condition,
    for constants, per-unit values and per-character patterns, float64."""
    stack = RecurrentStack.from_keras(trained_lm.model_, dtype=np.float64)
    runtime = trained_lm.runtime_
    ids_list = runtime.encode(texts)
    targets, has_next = runtime.next_classes(ids_list)
    n_rows = len(targets)
    classes = np.array([DIGITS.find(c) >= 0 for c in trained_lm.vocabulary_], int)
    batches = [
        (ids, lengths, rows) for _, ids, lengths, rows in runtime.batches(ids_list, 16)
    ]
    mask = np.zeros((6, 32), dtype=bool)
    for row in range(1, 6):
        mask[row, rng.choice(32, size=row * 3, replace=False)] = True
    offset = rng.uniform(-1, 1, 32)
    scale = rng.uniform(-1, 1, 32)
    labels = rng.uniform(0, 1, (n_rows, 1))
    labels[rng.random(n_rows) < 0.2] = np.nan
    per_unit = rng.uniform(-1, 1, (n_rows, 32))
    for metric in ("cross_entropy", "class_accuracy", "class_cross_entropy"):
        scoring = {
            "targets": targets,
            "scored": has_next,
            "classes": classes,
            "class_onehot": np.eye(2)[classes],
            "metric": metric,
        }
        for state in ("hidden", "cell"):
            for scale_, pattern in ((None, None), (scale, labels), (scale, per_unit)):
                item = ConditionSet(0, state, mask, offset, scale_, pattern)
                batched = _score_conditions(stack, batches, item, scoring)
                each = _score_each(stack, batches, item, scoring)
                np.testing.assert_allclose(batched, each, rtol=0, atol=1e-9)
                assert np.ptp(batched) > 1e-3  # the conditions do differ


def test_resample_draws_other_texts_at_the_same_step():
    lengths = np.array([3, 5, 2, 5])
    donors = resample_rows(lengths, np.random.RandomState(0))
    offsets = np.concatenate([[0], np.cumsum(lengths)[:-1]])
    text = np.repeat(np.arange(4), lengths)
    step = np.arange(lengths.sum()) - offsets[text]
    for row, donor in enumerate(donors):
        if step[row] == 4:  # texts 1 and 3 only: each takes the other
            assert donor == offsets[4 - text[row]] + 4
            continue
        donor_text = np.searchsorted(offsets, donor, side="right") - 1
        assert donor_text != text[row]
        assert donor - offsets[donor_text] == step[row]
    assert (donors >= 0).all()
    assert (resample_rows(np.array([1, 3]), np.random.RandomState(0))[-2:] == -1).all()
    # every other long-enough text is drawn, about uniformly
    draws = [
        resample_rows(np.array([2, 2, 2, 2]), np.random.RandomState(seed))[0] // 2
        for seed in range(300)
    ]
    counts = np.bincount(draws, minlength=4)
    assert counts[0] == 0 and counts[1:].min() > 70


def test_resample_mode_rows_name_mode_and_value_and_ignore_n_jobs(trained_lm, texts):
    kwargs = dict(k=[1, 5], n_random=2, random_state=3, mode="resample", batch_size=8)
    one = NeuronAblationScorer(trained_lm, np.arange(32), n_jobs=1, **kwargs)
    two = NeuronAblationScorer(trained_lm, np.arange(32), n_jobs=2, **kwargs)
    a, b = one.evaluate(texts), two.evaluate(texts)
    pd.testing.assert_frame_equal(a, b)
    assert (a["mode"] == "resample").all() and (a["value"] == "resample").all()
    assert (a["scoring"] == "teacher-forced").all()
    # resampling all units to another text's states hurts; no unit changes nothing
    every = NeuronAblationScorer(trained_lm, np.arange(32), mode="resample")
    assert every.score(texts) < a["baseline"].iloc[0] - 0.05
    assert NeuronAblationScorer(trained_lm, [], mode="resample", random_state=0).score(
        texts
    ) == pytest.approx(a["baseline"].iloc[0], abs=1e-12)
    for mode, value, label in (
        ("zero", None, "0"),
        ("clamp", None, "1"),
        ("clamp", -0.5, "-0.5"),
        ("clamp", np.linspace(-1, 1, 32), "per-unit"),
        ("mean", None, "mean"),
    ):
        frame = NeuronAblationScorer(
            trained_lm, np.arange(32), k=[2], n_random=0, mode=mode, value=value
        ).evaluate(texts[:5])
        assert frame["value"].iloc[0] == label and frame["mode"].iloc[0] == mode


def test_values_and_labels_are_checked(trained_lm, texts):
    y = np.array([c.isdigit() for t in texts for c in t], dtype=float)
    for value, match in (
        (np.nan, "must be finite"),
        (np.inf, "must be finite"),
        (1.5, r"outside the range \[-1, 1\]"),
        (np.ones(3), "one value per unit"),
        ("on", "pass search= and feature="),
    ):
        with pytest.raises(InputError, match=match):
            NeuronAblationScorer(trained_lm, [0, 1], mode="clamp", value=value).score(
                texts
            )
    with pytest.raises(InputError, match=r"oracle_range.*outside the range"):
        NeuronAblationScorer(
            trained_lm, [0], mode="oracle", oracle_range=(-2, 1)
        ).score(texts, y)
    with pytest.raises(InputError, match=r"oracle_range.*finite"):
        NeuronAblationScorer(
            trained_lm, [0], mode="oracle", oracle_range=(np.nan, 1)
        ).score(texts, y)
    bad = y.copy()
    bad[7] = 2.0
    with pytest.raises(InputError, match=r"y\[7\] \(text 0\) is 2.0.*\[0, 1\]"):
        NeuronAblationScorer(trained_lm, [0], mode="oracle").score(texts, bad)
    bad[7] = np.inf
    with pytest.raises(InputError, match=r"y\[7\]"):
        NeuronAblationScorer(trained_lm, [0], mode="oracle").score(texts, bad)
    # the cell state is unbounded: a clamp at 3 is allowed there
    NeuronAblationScorer(trained_lm, [0], mode="clamp", value=3.0, state="cell").score(
        texts
    )


def test_an_oracle_reading_a_shifted_feature_warns(trained_lm, texts):
    current = np.array([c.isdigit() for t in texts for c in t], dtype=float)
    ahead = np.concatenate(
        [[float(c.isdigit()) for c in t[1:]] + [np.nan] for t in texts]
    )
    scorer = NeuronAblationScorer(trained_lm, [0, 1], mode="oracle")
    with pytest.warns(UserWarning, match="look ahead.*NaN at the last character"):
        scorer.score(texts, ahead)
    named = NeuronAblationScorer(trained_lm, [0], mode="oracle", feature="next:digit")
    with pytest.warns(UserWarning, match="later character"):
        named.score(texts, pd.DataFrame({"next:digit": current}))
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        scorer.score(texts, current)


def test_next_char_in_is_biased_towards_its_class(trained_lm, texts):
    """Documented bias: clamping every unit makes a constant prediction; on the rows
    chosen by that prediction's class (next_char_in), it looks perfect."""
    scorer = NeuronAblationScorer(trained_lm, np.arange(32), metric="class_accuracy")
    stack = RecurrentStack.from_keras(trained_lm.model_)
    probs = stack._output(np.zeros((1, 32)))[0]
    mass = pd.Series(probs).groupby([char_class(c) for c in trained_lm.vocabulary_])
    favourite = mass.sum().idxmax()
    members = [c for c in trained_lm.vocabulary_ if char_class(c) == favourite]
    scorer.set_params(mode="zero", positions=next_char_in(members))
    assert scorer.score(texts) == 1.0
    scorer.set_params(positions=after_char_in(trained_lm.vocabulary_))
    assert scorer.score(texts) < 0.9


@pytest.fixture(scope="module")
def digit_search(trained_lm, texts):
    from skdni import sequence_ids
    from skdni.activations import LSTMActivationTransformer
    from skdni.probing import NeuronProbeSearch

    H = LSTMActivationTransformer(trained_lm).fit_transform(texts)
    digit = np.array([c.isdigit() for t in texts for c in t], dtype=float)
    depth = np.concatenate(
        [np.cumsum([(c == "(") - (c == ")") for c in t]) for t in texts]
    ).astype(float)
    Y = pd.DataFrame({"digit": digit, "depth": depth})
    search = NeuronProbeSearch(cv=3, top_k=32).fit(H, Y, groups=sequence_ids(texts))
    return search, np.asarray(H, dtype=np.float64), Y


def test_search_records_unit_levels_and_signs(digit_search):
    search, H, Y = digit_search
    levels = search.unit_levels_["digit"]
    on, off = Y["digit"] == 1, Y["digit"] == 0
    np.testing.assert_allclose(levels["on"], H[on].mean(0), rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(levels["off"], H[off].mean(0), rtol=1e-9, atol=1e-12)
    np.testing.assert_array_equal(levels["sign"], np.sign(levels["on"] - levels["off"]))
    assert levels["n_on"] == on.sum() and levels["n_off"] == off.sum()
    # both signs occur among the units
    assert set(levels["sign"].tolist()) == {-1, 1}
    # continuous: the low / high tenth of the labels
    depth = search.unit_levels_["depth"]
    low, high = np.quantile(Y["depth"], [0.1, 0.9])
    lo_rows = Y["depth"] <= low
    hi_rows = Y["depth"] >= high if low < high else Y["depth"] == Y["depth"].max()
    np.testing.assert_allclose(depth["off"], H[lo_rows].mean(0), rtol=1e-9)
    np.testing.assert_allclose(depth["on"], H[hi_rows].mean(0), rtol=1e-9)


def test_levels_of_a_look_ahead_feature_average_the_rows_before_a_digit(
    trained_lm, texts
):
    """A shift=1 feature (the arithmetic example's next:digit): its "on" level is
    the unit's mean over rows whose NEXT character is a digit (its "off" level over
    rows followed by a non-digit; a text's last row has no label)."""
    from skdni import sequence_ids
    from skdni.activations import LSTMActivationTransformer
    from skdni.features import ParseTreeFeaturizer
    from skdni.probing import NeuronProbeSearch

    H = LSTMActivationTransformer(trained_lm).fit_transform(texts)
    ahead = ParseTreeFeaturizer(
        "arithmetic", representations=("range",), rules=["digit"], shift=1
    ).set_output(transform="pandas")
    Y = ahead.fit_transform(texts).rename(columns={"range:digit": "next:digit"})
    levels = (
        NeuronProbeSearch(cv=3)
        .fit(H, Y, groups=sequence_ids(texts))
        .unit_levels_["next:digit"]
    )
    H = np.asarray(H, dtype=np.float64)
    following = _flat_next(texts)
    on = np.char.isdigit(following) & (following != "")
    off = ~np.char.isdigit(following) & (following != "")
    np.testing.assert_array_equal(np.isnan(Y["next:digit"]), following == "")
    np.testing.assert_allclose(levels["on"], H[on].mean(0), rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(levels["off"], H[off].mean(0), rtol=1e-9, atol=1e-12)
    assert levels["n_on"] == on.sum() and levels["n_off"] == off.sum()


def test_on_off_values_come_from_the_search_levels(trained_lm, texts, digit_search):
    search, _, _ = digit_search
    levels = search.unit_levels_["digit"]
    common = dict(search=search, feature="digit", k=5, mode="clamp")
    for side in ("on", "off"):
        by_level = NeuronAblationScorer(trained_lm, value=side, **common)
        explicit = NeuronAblationScorer(
            trained_lm, value=np.clip(levels[side], -1, 1), **common
        )
        assert by_level.score(texts) == explicit.score(texts)
    frame = NeuronAblationScorer(
        trained_lm, value="on", n_random=2, random_state=0, **dict(common, k=[5])
    ).evaluate(texts)
    assert frame["value"].iloc[0] == "on"
    # generation with "on": the same as with the levels given one per unit
    from skdni.intervention import clamped_generation

    kwargs = dict(seeds=["("], n_chars=10, ks=[3], n_random=1, n_samples=3)
    a, sa = clamped_generation(
        trained_lm,
        search.top_units_["digit"],
        value="on",
        search=search,
        feature="digit",
        random_state=0,
        **kwargs,
    )
    b, sb = clamped_generation(
        trained_lm,
        search.top_units_["digit"],
        value=levels["on"],
        random_state=0,
        **kwargs,
    )
    assert sa == sb
    assert (a["value"] == "on").all()


def test_calibrated_oracle_reproduces_the_units_own_means(
    trained_lm, texts, digit_search
):
    """With every unit under a calibrated oracle, each unit's mean activation where
    the feature is on / off is exactly its own level from the search."""
    from skdni.intervention import Intervention

    search, _, Y = digit_search
    levels = search.unit_levels_["digit"]
    y = Y["digit"].to_numpy()
    units = np.arange(32)
    # the scorer's calibrated mapping, applied through the recurrence
    stack = trained_lm.runtime_.require_stack()
    ids_list = trained_lm.runtime_.encode(texts)
    states, probs = [], []
    start = 0
    for ids in ids_list:
        n = len(ids)
        pattern = (
            levels["off"] + (levels["on"] - levels["off"]) * y[start : start + n, None]
        )
        out = stack.run(
            ids[None],
            interventions=Intervention(units=units, mode="pattern", values=pattern),
        )
        states.append(out["hidden"][0][0])
        probs.append(out["probs"][0].astype(np.float64))
        start += n
    states = np.concatenate(states).astype(np.float64)
    np.testing.assert_allclose(states[y == 1].mean(0), levels["on"], atol=1e-6)
    np.testing.assert_allclose(states[y == 0].mean(0), levels["off"], atol=1e-6)
    # the scorer does exactly that mapping: its cross-entropy is that of the run
    calibrated = NeuronAblationScorer(
        trained_lm,
        units,  # every unit (top_units_ holds only those above chance)
        search=search,
        feature="digit",
        k=32,
        mode="oracle",
        oracle_range="calibrated",
        metric="cross_entropy",
    )
    literal = NeuronAblationScorer(
        trained_lm, units, mode="oracle", oracle_range=(0, 1), metric="cross_entropy"
    )
    targets, has_next = trained_lm.runtime_.next_classes(ids_list)
    probs = np.concatenate(probs)[has_next]
    expected = -np.mean(np.log(probs[np.arange(len(probs)), targets[has_next]]))
    assert calibrated.score(texts, y) == pytest.approx(expected, rel=1e-6)
    assert calibrated.score(texts, y) != literal.score(texts, y)
    frame = calibrated.set_params(k=[32], n_random=0).evaluate(texts, y)
    assert frame["value"].iloc[0] == "labels->calibrated"


def test_compiled_conditions_on_long_texts_equal_the_numpy_scan(trained_lm, texts, rng):
    """Long texts (two of >= 256 steps: 512-step chunks of the compiled scan and
    a tail): it agrees with the NumPy reference scan to float32 rounding, constants
    and per-character patterns."""
    stack = trained_lm.runtime_.stack  # float32: the compiled path's dtype
    runtime = trained_lm.runtime_
    ids_list = runtime.encode(["".join(texts[:30]), "".join(texts[30:])])
    assert min(map(len, ids_list)) >= 256
    targets, has_next = runtime.next_classes(ids_list)
    n_rows = len(targets)
    classes = np.array([DIGITS.find(c) >= 0 for c in trained_lm.vocabulary_], int)
    batches = [
        (ids, lengths, rows) for _, ids, lengths, rows in runtime.batches(ids_list, 2)
    ]
    mask = np.zeros((5, 32), dtype=bool)
    for row in range(1, 5):
        mask[row, rng.choice(32, size=row * 4, replace=False)] = True
    labels = rng.uniform(0, 1, (n_rows, 1))
    for metric in ("cross_entropy", "class_cross_entropy"):
        scoring = {
            "targets": targets,
            "scored": has_next,
            "classes": classes,
            "class_onehot": np.eye(2)[classes],
            "metric": metric,
        }
        for scale, pattern in ((None, None), (rng.uniform(-1, 1, 32), labels)):
            item = ConditionSet(
                0, "hidden", mask, rng.uniform(-1, 1, 32), scale, pattern
            )
            fast = _score_conditions(stack, batches, item, scoring)
            exact = sum(
                _score_batch(
                    stack,
                    ids,
                    lengths,
                    targets[rows],
                    has_next[rows],
                    item if pattern is None else replace(item, pattern=pattern[rows]),
                    scoring,
                    compiled=False,
                )
                for ids, lengths, rows in batches
            ) / int(has_next.sum())
            np.testing.assert_allclose(fast, exact, rtol=1e-5, atol=1e-6)
            assert np.ptp(fast) > 1e-3


@pytest.mark.parametrize("state", ["hidden", "cell", "forget"])
def test_compiled_conditions_on_short_texts_equal_one_by_one_runs(
    trained_lm, texts, rng, state
):
    """Short texts take the compiled (JAX) scan too: every condition in one compiled
    batch (13 texts: padded to a row bucket of 14) against one NumPy pass per
    condition, float32, constants and per-character patterns, a gate site too."""
    from skdni.models._compiled import supports

    stack = trained_lm.runtime_.stack  # float32: the compiled path's dtype
    runtime = trained_lm.runtime_
    ids_list = runtime.encode(texts)
    targets, has_next = runtime.next_classes(ids_list)
    n_rows = len(targets)
    classes = np.array([DIGITS.find(c) >= 0 for c in trained_lm.vocabulary_], int)
    batches = [
        (ids, lengths, rows) for _, ids, lengths, rows in runtime.batches(ids_list, 13)
    ]
    assert max(ids.shape[1] for ids, _, _ in batches) < 256
    mask = np.zeros((5, 32), dtype=bool)
    for row in range(1, 5):
        mask[row, rng.choice(32, size=row * 4, replace=False)] = True
    low = 0.0 if state == "forget" else -1.0
    labels = rng.uniform(0, 1, (n_rows, 1))
    labels[rng.random(n_rows) < 0.2] = np.nan
    for metric in ("cross_entropy", "class_accuracy"):
        scoring = {
            "targets": targets,
            "scored": has_next,
            "classes": classes,
            "class_onehot": np.eye(2)[classes],
            "metric": metric,
        }
        for scale, pattern in ((None, None), (rng.uniform(0, 1 - low, 32), labels)):
            item = ConditionSet(
                0, state, mask, rng.uniform(low, 0.5, 32), scale, pattern
            )
            assert supports(stack, [item])
            fast = _score_conditions(stack, batches, item, scoring)
            each = _score_each(stack, batches, item, scoring)
            np.testing.assert_allclose(fast, each, rtol=1e-5, atol=1e-6)
            if metric == "cross_entropy":
                assert np.ptp(fast) > 1e-3  # the conditions do differ
