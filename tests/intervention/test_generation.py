"""Generation with clamped units (paper's Figure 4) and the class-count helper."""

import numpy as np
import pandas as pd
import pytest

from skdni import InputError, UnknownCharacterError
from skdni.intervention import (
    Intervention,
    count_class_in_generations,
    generate_with_interventions,
)

DIGITS = "0123456789"


def test_greedy_generation_matches_the_model(trained_lm):
    ours = generate_with_interventions(trained_lm, "(1+", 30, temperature=0)
    assert ours == trained_lm.generate("(1+", 30, temperature=0)
    assert ours.startswith("(1+") and len(ours) == 33


def test_reproducible_and_batched(trained_lm):
    a = generate_with_interventions(trained_lm, "1", 40, random_state=3, n_samples=3)
    b = generate_with_interventions(trained_lm, "1", 40, random_state=3, n_samples=3)
    assert a == b and len(a) == 3 and len(set(a)) > 1
    assert all(set(t) <= set(trained_lm.vocabulary_) for t in a)


def test_clamping_changes_the_text_and_zero_units_change_nothing(trained_lm):
    base = generate_with_interventions(trained_lm, "(", 60, random_state=0)
    none = generate_with_interventions(
        trained_lm, "(", 60, random_state=0, interventions=Intervention(units=[])
    )
    assert none == base
    clamped = generate_with_interventions(
        trained_lm,
        "(",
        60,
        random_state=0,
        interventions=Intervention(units=np.arange(32), mode="clamp", values=1.0),
    )
    assert clamped != base
    # every h is 1: the output distribution is constant, so greedy text is one char
    greedy = generate_with_interventions(
        trained_lm,
        "(",
        20,
        temperature=0,
        interventions=Intervention(units=np.arange(32), mode="clamp", values=1.0),
    )
    assert len(set(greedy[1:])) == 1


def test_count_class_in_generations(trained_lm):
    units = np.arange(32)[::-1]
    kwargs = dict(
        seed="(", n_chars=40, k=(1, 5), n_random=3, n_samples=2, random_state=0
    )
    frame = count_class_in_generations(trained_lm, units, DIGITS, **kwargs)
    again = count_class_in_generations(trained_lm, units, set(DIGITS), **kwargs)
    assert frame.drop(columns=["top_example", "random_example"]).equals(
        again.drop(columns=["top_example", "random_example"])
    )
    assert list(frame["k"]) == [1, 5]
    rates = frame[["baseline_rate", "top_rate", "random_mean"]].to_numpy()
    assert ((rates >= 0) & (rates <= 1)).all()
    # the baseline is the digit share of unclamped samples with the same sampling seed
    example = frame["top_example"].iloc[0]
    assert len(example) == 40
    with pytest.raises(InputError, match="k=40 is larger"):
        count_class_in_generations(trained_lm, units, DIGITS, seed="(", k=40)


def test_bad_generation_input(trained_lm):
    with pytest.raises(InputError, match="non-empty"):
        generate_with_interventions(trained_lm, "", 5)
    with pytest.raises(InputError, match="temperature must be a number >= 0"):
        generate_with_interventions(trained_lm, "1", 5, temperature=-1.0)
    with pytest.raises(InputError, match="n_chars must be a non-negative int"):
        generate_with_interventions(trained_lm, "1", 2.5)
    with pytest.raises(InputError, match="temperature must be a number >= 0"):
        count_class_in_generations(
            trained_lm, [0], DIGITS, seed="(", k=1, temperature=-0.5
        )
    with pytest.raises(UnknownCharacterError, match="position 1"):
        generate_with_interventions(trained_lm, "1x", 5)
    with pytest.raises(InputError, match="oracle"):
        generate_with_interventions(
            trained_lm,
            "1",
            5,
            interventions=Intervention(units=[0], mode="oracle", values=np.zeros(3)),
        )


def test_clamped_generation_table_and_samples(trained_lm):
    from skdni.intervention import clamped_generation

    kwargs = dict(seeds=["(", "1"], n_chars=30, ks=(1, 5), n_random=2, random_state=0)
    frame, samples = clamped_generation(trained_lm, np.arange(32), **kwargs)
    again, _ = clamped_generation(trained_lm, np.arange(32), **kwargs)
    assert frame.equals(again)
    assert set(frame["units"]) == {"none", "top", "random"}
    assert set(samples) == {"none", "top-1", "random-1", "top-5", "random-5"}
    assert [t[0] for t in samples["none"]] == ["(", "1"]
    assert all(len(t) == 31 for t in samples["top-5"])
    # the shares of the classes of one condition add up to 1
    for (_, _), group in frame.groupby(["k", "units"]):
        assert group["rate"].sum() == pytest.approx(1.0)
    # the unclamped digit share is what the samples show
    digits = sum(c.isdigit() for t in samples["none"] for c in t[1:]) / 60
    none = frame[(frame["units"] == "none") & (frame["class"] == "digit")]
    assert none["rate"].iloc[0] == pytest.approx(digits)


def test_count_class_baseline_and_n_jobs_independence(trained_lm):
    units = np.arange(32)[::-1]
    kwargs = dict(seed="(", n_chars=30, k=(1, 3), n_random=2, n_samples=2)
    one = count_class_in_generations(
        trained_lm, units, DIGITS, random_state=5, n_jobs=1, **kwargs
    )
    two = count_class_in_generations(
        trained_lm, units, DIGITS, random_state=5, n_jobs=2, **kwargs
    )
    pd.testing.assert_frame_equal(one, two)
    # the baseline samples with the first number the random_state draws
    sampling_seed = np.random.RandomState(5).randint(np.iinfo(np.int32).max)
    plain = generate_with_interventions(
        trained_lm, "(", 30, random_state=sampling_seed, n_samples=2
    )
    share = sum(c in DIGITS for t in plain for c in t[1:]) / 60
    assert one["baseline_rate"].iloc[0] == pytest.approx(share, abs=1e-12)
    # and the top-1 row clamps the first ranked unit (31) to 1
    clamped = generate_with_interventions(
        trained_lm,
        "(",
        30,
        random_state=sampling_seed,
        n_samples=2,
        interventions=Intervention(units=[31], mode="clamp", values=1.0),
    )
    assert one["top_example"].iloc[0] == clamped[0][1:]
    with pytest.raises(InputError, match="Unit 32 is out of range.*32 units"):
        count_class_in_generations(trained_lm, [32, 0], DIGITS, seed="(", k=1)
