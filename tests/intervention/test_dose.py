"""Dose-response with damage (issue 12)."""

import numpy as np
import pandas as pd
import pytest

from skdni import InputError
from skdni.datasets import compile_grammar
from skdni.intervention import (
    NeuronAblationScorer,
    clamped_generation,
    dose_response,
    is_valid_prefix,
)


def test_is_valid_prefix():
    parser = compile_grammar("arithmetic")
    assert is_valid_prefix(parser, "(1+2)*")
    assert is_valid_prefix(parser, "")
    assert not is_valid_prefix(parser, "1+*")
    assert not is_valid_prefix(parser, "(1))")


def test_dose_response_reports_share_and_damage(trained_lm, arithmetic_texts):
    held_out = arithmetic_texts[:30]
    units = np.arange(32)
    frame = dose_response(
        trained_lm,
        units,
        values=[-1.0, 1.0],
        chars="0123456789",
        grammar="arithmetic",
        held_out=held_out,
        k=32,
        n_chars=30,
        n_samples=6,
        random_state=0,
    )
    assert frame["value"].tolist() == ["none", "-1", "1"]
    assert ((frame["target_share"] >= 0) & (frame["target_share"] <= 1)).all()
    assert ((frame["valid_prefix"] >= 0) & (frame["valid_prefix"] <= 1)).all()
    # Wilson intervals of a share stay inside [0, 1] and hold the share
    assert (frame["valid_low"] >= 0).all() and (frame["valid_high"] <= 1).all()
    assert (frame["valid_low"] <= frame["valid_prefix"]).all()
    assert (frame["valid_prefix"] <= frame["valid_high"]).all()
    plain = NeuronAblationScorer(trained_lm, [], metric="cross_entropy")
    assert frame["held_out_cross_entropy"].iloc[0] == pytest.approx(
        plain.score(held_out), abs=1e-9
    )
    # clamping every unit damages the model: a worse held-out cross-entropy
    assert (frame["held_out_cross_entropy"].iloc[1:] > frame.iloc[0, 7] + 0.1).all()
    # the shares are those of clamped_generation's samples (same streams)
    _, samples = clamped_generation(
        trained_lm,
        units,
        seeds=["("],
        n_chars=30,
        ks=[32],
        n_random=0,
        value=1.0,
        n_samples=6,
        random_state=0,
    )
    parser = compile_grammar("arithmetic")
    valid = np.mean([is_valid_prefix(parser, t) for t in samples["top-32"]])
    assert frame["valid_prefix"].iloc[2] == pytest.approx(valid)
    digits = np.mean([np.mean([c.isdigit() for c in t[1:]]) for t in samples["top-32"]])
    assert frame["target_share"].iloc[2] == pytest.approx(digits)


class _Levels:
    """A stand-in for a fitted search: each unit's off / on level of feature "f"."""

    def __init__(self, n_units=32, seed=0):
        rng = np.random.default_rng(seed)
        off, on = rng.uniform(-0.6, 0.6, (2, n_units))
        self.unit_levels_ = {"f": {"off": off, "on": on, "sign": np.sign(on - off)}}


def _dose_kwargs(held_out, **kwargs):
    return {
        "chars": "0123456789",
        "grammar": "arithmetic",
        "held_out": held_out,
        "k": 5,
        "n_random": 3,
        "n_chars": 15,
        "n_samples": 4,
        "random_state": 0,
        **kwargs,
    }


def test_doses_are_each_units_own_levels(trained_lm, arithmetic_texts):
    from skdni.intervention._dose import _dose_values

    search = _Levels()
    levels = search.unit_levels_["f"]
    _, dosed = _dose_values([0, 1, 2], (-1, 1), search, "f")
    # every unit of the layer (top or random) gets its own level
    np.testing.assert_array_equal(dosed(0), levels["off"])
    np.testing.assert_array_equal(dosed(1), levels["on"])
    two = np.clip(2 * levels["on"] - levels["off"], -1, 1)
    np.testing.assert_allclose(dosed(2), two)
    held_out = arithmetic_texts[:10]
    units = np.arange(32)[::-1]
    by_dose = dose_response(
        trained_lm,
        units,
        **_dose_kwargs(held_out, doses=[0, 1], search=search, feature="f"),
    )
    by_value = dose_response(
        trained_lm,
        units,
        **_dose_kwargs(held_out, values=[levels["off"], levels["on"]]),
    )
    assert by_dose["value"].tolist() == ["none", "off+0*(on-off)", "off+1*(on-off)"]
    assert by_dose["dose"].iloc[1:].tolist() == [0.0, 1.0]
    numbers = by_value.columns.drop(["value", "dose", "generation"])
    pd.testing.assert_frame_equal(by_dose[numbers], by_value[numbers])
    # the random draws are clamped at their own levels: their held-out cross-entropy
    # is that of the scorer with those units set to their "on" levels
    from skdni.intervention._generation import _run_conditions

    _, _, _, _, sets = _run_conditions(
        trained_lm,
        units[:5],
        seeds=["("],
        n_chars=15,
        ks=[5],
        n_random=3,
        value=levels["on"],
        layer=0,
        state="hidden",
        temperature=1.0,
        random_state=0,
        n_jobs=None,
        vocabulary=None,
        n_samples=4,
        search=None,
        feature=None,
        with_units=True,
    )
    draws = [chosen for _, draw, chosen in sets if draw >= 0]
    assert len(draws) == 3 and not any(set(d) & set(units[:5]) for d in draws)
    losses = [
        NeuronAblationScorer(
            trained_lm,
            chosen,
            mode="clamp",
            value="on",
            search=search,
            feature="f",
            layer=0,
            metric="cross_entropy",
        ).score(held_out)
        for chosen in draws
    ]
    row = by_dose.iloc[2]
    assert row["random_cross_entropy"] == pytest.approx(np.mean(losses), abs=1e-9)
    assert row["random_cross_entropy_low"] == pytest.approx(
        np.percentile(losses, 2.5), abs=1e-9
    )
    assert row["random_cross_entropy_high"] == pytest.approx(
        np.percentile(losses, 97.5), abs=1e-9
    )
    assert row["random_cross_entropy_min"] == pytest.approx(min(losses), abs=1e-9)
    assert row["random_cross_entropy_max"] == pytest.approx(max(losses), abs=1e-9)
    assert row["n_random"] == 3
    # no clamp has no random comparator
    assert np.isnan(by_dose.iloc[0]["random_target_share"])
    for name in ("random_target", "random_valid"):
        assert (
            by_dose[f"{name}_low"].iloc[1:] <= by_dose[f"{name}_high"].iloc[1:]
        ).all()


def test_dose_random_draws_deterministic_and_n_jobs(trained_lm, arithmetic_texts):
    held_out = arithmetic_texts[:10]
    kwargs = _dose_kwargs(
        held_out, doses=[0.5, 1.5], clip=(-1, 1), search=_Levels(), feature="f"
    )
    first = dose_response(trained_lm, np.arange(32), **kwargs)
    again = dose_response(trained_lm, np.arange(32), **kwargs)
    parallel = dose_response(trained_lm, np.arange(32), n_jobs=2, **kwargs)
    pd.testing.assert_frame_equal(first, again)
    pd.testing.assert_frame_equal(first, parallel)
    other = dose_response(trained_lm, np.arange(32), **{**kwargs, "random_state": 1})
    assert not first.equals(other)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"doses": [0, 1]}, "pass search="),
        (
            {"doses": [0, 1], "values": [1.0], "search": _Levels(), "feature": "f"},
            "exactly one of",
        ),
        ({}, "exactly one of"),
        ({"doses": [0, np.nan], "search": _Levels(), "feature": "f"}, "finite"),
        ({"doses": 1.0, "search": _Levels(), "feature": "f"}, "non-empty list"),
        ({"doses": [1], "clip": (1, -1), "search": _Levels(), "feature": "f"}, "clip"),
        ({"values": [1.0], "clip": (-1, 1)}, "clip"),
        ({"doses": [3.0], "search": _Levels(), "feature": "f"}, "outside the range"),
        ({"values": [1.0], "n_random": -1}, "n_random"),
    ],
)
def test_dose_response_bad_input(trained_lm, arithmetic_texts, kwargs, message):
    with pytest.raises(InputError, match=message):
        dose_response(
            trained_lm,
            np.arange(32),
            chars="0123456789",
            grammar="arithmetic",
            held_out=arithmetic_texts[:5],
            k=5,
            n_chars=5,
            n_samples=2,
            **kwargs,
        )
