"""InterchangeScorer and make_interchange_pairs (issue 12)."""

import numpy as np
import pandas as pd
import pytest

from skdni import InputError
from skdni.datasets import make_interchange_pairs
from skdni.intervention import InterchangeScorer, Intervention


@pytest.fixture(scope="module")
def cases(arithmetic_texts):
    rng = np.random.RandomState(0)
    texts = [t for t in arithmetic_texts if len(t) > 6][:40]
    base, source = texts[:20], texts[20:40]
    base_pos = np.array([rng.randint(len(t) - 1) for t in base])
    source_pos = np.array([rng.randint(len(t)) for t in source])
    return base, source, base_pos, source_pos


def test_patching_every_unit_copies_the_source_prediction(trained_lm, cases):
    base, source, base_pos, source_pos = cases
    chars = np.asarray(trained_lm.vocabulary_)
    # the source's own prediction after source_pos: patching all of h (the only
    # input of the output layer) must reproduce it
    targets = []
    for text, pos in zip(source, source_pos, strict=True):
        proba = trained_lm.predict_proba([text])
        targets.append(str(chars[np.argmax(proba[pos])]))
    base_pred = [
        str(chars[np.argmax(trained_lm.predict_proba([t])[p])])
        for t, p in zip(base, base_pos, strict=True)
    ]
    scorer = InterchangeScorer(
        trained_lm, np.arange(32), k=[1, 8], n_random=3, random_state=0
    )
    frame = scorer.evaluate(base, source, base_pos, source_pos, targets)
    assert (frame["all"] == 1.0).all()
    expected = np.mean([a == b for a, b in zip(base_pred, targets, strict=True)])
    assert frame["baseline"].iloc[0] == pytest.approx(expected)
    assert (frame["top_low"] <= frame["top"]).all()
    assert (frame["top"] <= frame["top_high"]).all()
    assert frame["off_target_all"].iloc[0] > 0.01  # the patch carries on
    assert (frame["scoring"] == "teacher-forced").all()


def test_batched_interchange_equals_one_by_one(trained_lm, cases):
    base, source, base_pos, source_pos = cases
    chars = list(trained_lm.vocabulary_)
    targets = ["1"] * len(base)
    units = np.array([3, 7, 11, 19, 30])
    scorer = InterchangeScorer(
        trained_lm, units, k=[5], n_random=0, candidates="0123456789"
    )
    frame = scorer.evaluate(base, source, base_pos, source_pos, targets)
    runtime = trained_lm.runtime_
    digits = np.array([c.isdigit() for c in chars])
    hits = []
    for i in range(len(base)):
        src = runtime.run(runtime.encode([source[i]])[0][None])["hidden"][0][0]
        ids = runtime.encode([base[i]])[0]
        pattern = np.full((len(ids), len(units)), np.nan)
        pattern[base_pos[i]] = src[source_pos[i], units]
        out = runtime.run(
            ids[None],
            interventions=Intervention(units=units, mode="pattern", values=pattern),
        )
        probs = out["probs"][0][base_pos[i]]
        hits.append(chars[int(np.argmax(np.where(digits, probs, -1)))] == "1")
    assert frame["top"].iloc[0] == pytest.approx(np.mean(hits))


def test_bad_interchange_input(trained_lm, cases):
    base, source, base_pos, source_pos = cases
    scorer = InterchangeScorer(trained_lm, [0, 1], k=1, n_random=0)
    with pytest.raises(InputError, match=r"base_positions\[0\] = 99 is outside"):
        scorer.evaluate(base, source, np.full(20, 99), source_pos, ["1"] * 20)
    with pytest.raises(InputError, match="one per case"):
        scorer.evaluate(base, source, base_pos, source_pos, ["1"])
    with pytest.raises(InputError, match="never predicts"):
        scorer.evaluate(base, source, base_pos, source_pos, ["x"] * 20)
    with pytest.raises(InputError, match="20 base texts but 19"):
        scorer.evaluate(base, source[:19], base_pos, source_pos[:19], ["1"] * 20)


def test_make_interchange_pairs():
    pairs = make_interchange_pairs("parentheses", 30, random_state=0)
    again = make_interchange_pairs("parentheses", 30, random_state=0)
    assert pairs["base_texts"] == again["base_texts"]
    for i in range(30):
        base, pos = pairs["base_texts"][i], pairs["base_positions"][i]
        source, spos = pairs["source_texts"][i], pairs["source_positions"][i]
        depth = base[: pos + 1].count("(") - base[: pos + 1].count(")")
        assert base[pos + 1] == str(depth)
        assert source[spos + 1] == pairs["targets"][i] != base[pos + 1]
    with pytest.raises(InputError, match="knows"):
        make_interchange_pairs("arithmetic", 3)


def test_compiled_interchange_equals_the_numpy_scan(trained_lm, cases, monkeypatch):
    """The patched runs go through the compiled scan; the NumPy scan (the
    reference) gives the same shares and the same off-target losses to float32
    rounding."""
    from skdni.intervention import _interchange

    base, source, base_pos, source_pos = cases
    scorer = InterchangeScorer(
        trained_lm, np.arange(32), k=[1, 4, 16], n_random=3, random_state=0
    )
    targets = ["1"] * len(base)
    fast = scorer.evaluate(base, source, base_pos, source_pos, targets)
    monkeypatch.setattr(_interchange, "supports_compiled", lambda *args: False)
    exact = scorer.evaluate(base, source, base_pos, source_pos, targets)
    shares = ["baseline", "top", "random_mean", "all"]
    pd.testing.assert_frame_equal(fast[shares], exact[shares])
    losses = ["off_target_top", "off_target_random", "off_target_all"]
    np.testing.assert_allclose(fast[losses], exact[losses], rtol=1e-4, atol=1e-6)
    assert fast["off_target_all"].iloc[0] > 1e-3
