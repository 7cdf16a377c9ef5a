"""Dose-response with damage (issue 12)."""

import numpy as np
import pytest

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
