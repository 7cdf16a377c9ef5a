"""The compiled condition scan (JAX) agrees with the NumPy reference scan."""

import numpy as np
import pytest

from skdni._backend import import_keras
from skdni.models._compiled import scan_probs, supports
from skdni.models._conditions import ConditionSet, scan_conditions
from skdni.models._recurrence import RecurrentStack

TOL = 2e-5  # float32 XLA vs float32 NumPy
N_VOCAB = 6


def build_model(cells, seed=0, units=8):
    keras = import_keras()
    keras.utils.set_random_seed(seed)
    layers = [
        keras.Input(shape=(None,), dtype="int32"),
        keras.layers.Embedding(N_VOCAB + 1, 4),
    ]
    for cell in cells:
        kind, _, option = cell.partition(":")
        if kind == "lstm":
            layers.append(keras.layers.LSTM(units, return_sequences=True))
        elif kind == "gru":
            layers.append(
                keras.layers.GRU(
                    units, return_sequences=True, reset_after=option != "before"
                )
            )
        else:
            layers.append(keras.layers.SimpleRNN(units, return_sequences=True))
    layers.append(keras.layers.Dense(N_VOCAB, activation="softmax"))
    model = keras.Sequential(layers)
    rng = np.random.default_rng(seed)
    model.set_weights(
        [w + rng.normal(0, 0.3, w.shape).astype(w.dtype) for w in model.get_weights()]
    )
    return model


def reference_probs(stack, ids, lengths, items, n_conditions):
    steps = [
        stack._output(h.reshape(-1, h.shape[-1])).reshape(h.shape[:2] + (-1,))
        for _, h in scan_conditions(stack, ids, lengths, items, n_conditions)
    ]
    return np.stack(steps)  # (time, n_conditions, n_texts, n_vocab)


def compiled_probs(stack, ids, lengths, items, n_conditions):
    return np.concatenate(
        [p for _, p in scan_probs(stack, ids, lengths, items, n_conditions)]
    )


def conditions(rng, units, n_conditions, n_rows, state, with_pattern):
    mask = rng.random((n_conditions, units)) < 0.4
    mask[0] = False  # the baseline
    offset = rng.normal(size=units)
    if not with_pattern:
        return ConditionSet(layer=0, state=state, mask=mask, offset=offset)
    pattern = rng.normal(size=(n_rows, units))
    pattern[rng.random(pattern.shape) < 0.2] = np.nan  # NaN keeps the unit's value
    return ConditionSet(
        layer=0,
        state=state,
        mask=mask,
        offset=offset,
        scale=rng.normal(size=units),
        pattern=pattern,
    )


@pytest.mark.parametrize("case", ["lstm", "gru", "gru:before", "simple", "lstm,gru"])
@pytest.mark.parametrize("with_pattern", [False, True])
def test_compiled_scan_equals_numpy_scan(case, with_pattern, rng):
    stack = RecurrentStack.from_keras(build_model(case.split(",")))
    lengths = np.array([40, 23, 1, 37])
    ids = rng.integers(1, N_VOCAB + 1, size=(4, 40)).astype("int32")
    item = conditions(rng, 8, 5, int(lengths.sum()), "hidden", with_pattern)
    assert supports(stack, [item])
    want = reference_probs(stack, ids, lengths, [item], 5)
    got = compiled_probs(stack, ids, lengths, [item], 5)
    assert got.shape == want.shape
    valid = (np.arange(40)[:, None] < lengths[None, :])[:, None, :]
    diff = np.abs(got - want).max(axis=-1)
    assert np.max(np.where(valid, diff, 0.0)) < TOL
    # the conditions really differ (the test can fail)
    assert np.abs(want[:, 1:] - want[:, :1]).max() > 1e-2


def test_compiled_scan_cell_state_long_text_and_mask(rng):
    keras = import_keras()
    keras.utils.set_random_seed(1)
    model = keras.Sequential(
        [
            keras.Input(shape=(None,), dtype="int32"),
            keras.layers.Embedding(N_VOCAB + 1, 4, mask_zero=True),
            keras.layers.LSTM(8, return_sequences=True),
            keras.layers.Dense(N_VOCAB, activation="softmax"),
        ]
    )
    stack = RecurrentStack.from_keras(model)
    # longer than one compiled chunk: the state carries over between chunks
    lengths = np.array([1300, 700])
    ids = rng.integers(1, N_VOCAB + 1, size=(2, 1300)).astype("int32")
    ids[0, 5:9] = 0  # masked steps keep the state
    ids[1, 700:] = 0
    item = conditions(rng, 8, 4, int(lengths.sum()), "cell", False)
    want = reference_probs(stack, ids, lengths, [item], 4)
    got = compiled_probs(stack, ids, lengths, [item], 4)
    assert np.abs(got[:, :, 0] - want[:, :, 0]).max() < TOL
    assert np.abs(got[:700, :, 1] - want[:700, :, 1]).max() < TOL


def test_many_conditions_take_shorter_chunks_with_the_same_probs(rng, monkeypatch):
    from skdni.models import _compiled

    stack = RecurrentStack.from_keras(build_model(["lstm"]))
    lengths = np.array([300, 180, 77])
    ids = rng.integers(1, N_VOCAB + 1, size=(3, 300)).astype("int32")
    item = conditions(rng, 8, 6, int(lengths.sum()), "hidden", True)
    want = compiled_probs(stack, ids, lengths, [item], 6)
    # room for 40 steps of 6 conditions x 3 texts x 6 classes: chunks of 8 steps
    # (the 64- and 512-step buckets do not fit)
    monkeypatch.setattr(_compiled, "_PROBS_CELLS", 40 * 6 * 3 * N_VOCAB)
    chunks = list(scan_probs(stack, ids, lengths, [item], 6))
    assert [start for start, _ in chunks] == list(range(0, 300, 8))
    assert max(p.size for _, p in chunks) <= 40 * 6 * 3 * N_VOCAB
    got = np.concatenate([p for _, p in chunks])
    valid = (np.arange(300)[:, None] < lengths[None, :])[:, None, :]
    diff = np.abs(got - want).max(axis=-1)
    assert np.max(np.where(valid, diff, 0.0)) < TOL
    reference = reference_probs(stack, ids, lengths, [item], 6)
    diff = np.abs(got - reference).max(axis=-1)
    assert np.max(np.where(valid, diff, 0.0)) < TOL


def test_float64_stacks_take_the_numpy_path():
    stack = RecurrentStack.from_keras(build_model(["lstm"]))
    mask = np.zeros((2, 8), dtype=bool)
    gate = ConditionSet(layer=0, state="forget", mask=mask, offset=np.zeros(8))
    hidden = ConditionSet(layer=0, state="hidden", mask=mask, offset=np.zeros(8))
    assert supports(stack, [gate]) and supports(stack, [hidden])
    assert not supports(
        RecurrentStack.from_keras(build_model(["lstm"]), dtype=np.float64), [hidden]
    )


@pytest.mark.parametrize("case", ["lstm", "gru", "lstm,gru"])
def test_compiled_stepper_equals_numpy_steps(case, rng):
    """One compiled step per call, each condition reading its own ids (generation),
    against step_conditions; 11 sequences per condition (a row bucket of 12)."""
    from skdni.models._compiled import CompiledStepper
    from skdni.models._conditions import step_conditions

    stack = RecurrentStack.from_keras(build_model(case.split(",")))
    item = conditions(rng, 8, 3, 0, "hidden", False)
    stepper = CompiledStepper(stack, [item], 3, 11)
    state = stack.initial_state(33)
    for _ in range(6):
        ids = rng.integers(1, N_VOCAB + 1, size=33)
        want, state = step_conditions(stack, ids, state, [item], 3)
        got = stepper.step(ids)
        assert got.shape == want.shape == (33, N_VOCAB)
        assert np.abs(got - want).max() < TOL


@pytest.mark.parametrize("state", ["input", "forget", "candidate", "output", "cell"])
def test_compiled_gate_sites_equal_numpy_scan(state, rng):
    """Gate overwrites compile too: short texts, 11 of them (a row bucket of 12),
    a length that is no multiple of the shortest chunk."""
    stack = RecurrentStack.from_keras(build_model(["lstm", "lstm"]))
    lengths = rng.integers(1, 30, size=11)
    lengths[0] = 29
    ids = rng.integers(1, N_VOCAB + 1, size=(11, 29)).astype("int32")
    item = conditions(rng, 8, 4, int(lengths.sum()), state, True)
    item = ConditionSet(
        layer=1,
        state=state,
        mask=item.mask,
        offset=np.abs(item.offset) / 4,
        scale=np.abs(item.scale) / 4,
        pattern=np.abs(item.pattern),
    )
    want = reference_probs(stack, ids, lengths, [item], 4)
    got = compiled_probs(stack, ids, lengths, [item], 4)
    valid = (np.arange(29)[:, None] < lengths[None, :])[:, None, :]
    diff = np.abs(got - want).max(axis=-1)
    assert np.max(np.where(valid, diff, 0.0)) < TOL
    assert np.abs(want[:, 1:] - want[:, :1]).max() > 1e-3


def test_shape_buckets():
    from skdni.models._compiled import _bucket, _chunk_sizes

    assert [_bucket(n) for n in (1, 5, 8, 9, 13, 209, 256, 257)] == [
        1, 5, 8, 10, 14, 224, 256, 320
    ]  # fmt: skip
    assert _chunk_sizes(20_008) == [512] * 39 + [8] * 5
    assert _chunk_sizes(600) == [512, 64, 8, 8, 8]
    assert sum(_chunk_sizes(48)) == 48


def test_conditions_in_groups_equal_one_batch(monkeypatch, rng):
    """A batch of many conditions x texts runs as groups of conditions (the last
    padded with conditions that overwrite nothing): the same probabilities."""
    from skdni.models import _compiled

    stack = RecurrentStack.from_keras(build_model(["lstm"]))
    lengths = np.array([17, 9, 12, 3])
    ids = rng.integers(1, N_VOCAB + 1, size=(4, 17)).astype("int32")
    item = conditions(rng, 8, 5, int(lengths.sum()), "hidden", True)
    whole = compiled_probs(stack, ids, lengths, [item], 5)
    monkeypatch.setattr(_compiled, "_GROUP_ROWS", 8)
    assert _compiled._groups(5, 4) == (2, 3)
    grouped = compiled_probs(stack, ids, lengths, [item], 5)
    assert grouped.shape == whole.shape == (17, 5, 4, N_VOCAB)
    np.testing.assert_allclose(grouped, whole, rtol=0, atol=1e-6)
    want = reference_probs(stack, ids, lengths, [item], 5)
    valid = (np.arange(17)[:, None] < lengths[None, :])[:, None, :]
    assert np.max(np.where(valid, np.abs(grouped - want).max(-1), 0)) < TOL
