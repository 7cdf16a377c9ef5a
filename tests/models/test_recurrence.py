"""RecurrentStack reproduces Keras's own per-step states and outputs."""

import numpy as np
import pytest

from skdni import InputError, LayerNotFoundError, NoRecurrentLayerError
from skdni._backend import import_keras
from skdni.intervention import Intervention
from skdni.models._keras_inspect import predict_states, state_sequence_model
from skdni.models._recurrence import RecurrentStack

N_VOCAB = 6
TOL = 1e-5


def build_model(cells, seed=0, *, units=8, use_bias=True, embedding=4):
    """A random-weight model of the contract shape; ``cells`` like ["lstm", "gru"]."""
    keras = import_keras()
    keras.utils.set_random_seed(seed)
    layers = [
        keras.Input(shape=(None,), dtype="int32"),
        keras.layers.Embedding(N_VOCAB + 1, embedding),
    ]
    for cell in cells:
        kind, _, option = cell.partition(":")
        kwargs = {"return_sequences": True, "use_bias": use_bias}
        if kind == "lstm":
            layers.append(keras.layers.LSTM(units, **kwargs))
        elif kind == "gru":
            layers.append(
                keras.layers.GRU(units, reset_after=option != "before", **kwargs)
            )
        elif kind == "simple":
            layers.append(keras.layers.SimpleRNN(units, **kwargs))
        elif kind == "rnn":
            layers.append(
                keras.layers.RNN(
                    keras.layers.LSTMCell(units), **{"return_sequences": True}
                )
            )
    layers.append(keras.layers.Dense(N_VOCAB, activation="softmax"))
    model = keras.Sequential(layers)
    # biases start at zero (or one for the LSTM forget gate): randomize them so a
    # bias read wrongly shows up
    rng = np.random.default_rng(seed)
    model.set_weights(
        [w + rng.normal(0, 0.3, w.shape).astype(w.dtype) for w in model.get_weights()]
    )
    return model


def random_ids(rng, batch=3, time=7):
    ids = rng.integers(1, N_VOCAB + 1, size=(batch, time)).astype("int32")
    return ids


CASES = ["lstm", "gru", "gru:before", "simple", "rnn", "lstm,gru", "simple,lstm"]


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("use_bias", [True, False])
def test_run_matches_keras(case, use_bias, rng):
    cells = case.split(",")
    model = build_model(cells, use_bias=use_bias)
    stack = RecurrentStack.from_keras(model)
    ids = random_ids(rng)
    lstm_layers = [i for i, c in enumerate(cells) if c in ("lstm", "rnn")]
    states = ("hidden", "cell") if lstm_layers else ("hidden",)
    out = stack.run(ids, return_states=("hidden",))
    items = [(i, "hidden") for i in range(len(cells))]
    items += [(i, "cell") for i in lstm_layers]
    expected = predict_states(state_sequence_model(model, items), ids)
    for n, (index, state) in enumerate(items):
        if state == "cell":
            got = stack.run(ids, return_states=states, layers=[index])["cell"][index]
        else:
            got = out["hidden"][index]
        np.testing.assert_allclose(
            got, expected[n], atol=TOL, err_msg=f"{index} {state}"
        )
    probs = model.predict_on_batch(ids)
    np.testing.assert_allclose(out["probs"], probs, atol=TOL)
    assert stack.n_vocab == N_VOCAB


def test_float64_matches_keras(rng):
    model = build_model(["lstm"])
    stack = RecurrentStack.from_keras(model, dtype=np.float64)
    ids = random_ids(rng)
    out = stack.run(ids)
    assert out["probs"].dtype == np.float64
    np.testing.assert_allclose(out["probs"], model.predict_on_batch(ids), atol=TOL)


@pytest.mark.parametrize("case", ["lstm,gru", "simple"])
def test_step_repeated_equals_run(case, rng):
    model = build_model(case.split(","))
    stack = RecurrentStack.from_keras(model)
    ids = random_ids(rng)
    interventions = [Intervention(layer=-1, units=[1, 4], mode="clamp", values=0.7)]
    out = stack.run(ids, interventions=interventions)
    state = stack.initial_state(ids.shape[0])
    for t in range(ids.shape[1]):
        probs, state = stack.step(ids[:, t], state, interventions=interventions)
        np.testing.assert_allclose(probs, out["probs"][:, t], atol=1e-6)
        np.testing.assert_allclose(state.h[-1], out["hidden"][len(state.h) - 1][:, t])


def test_padding_does_not_change_valid_steps(rng):
    stack = RecurrentStack.from_keras(build_model(["lstm"]))
    ids = random_ids(rng, batch=2, time=6)
    padded = ids.copy()
    padded[0, 3:] = 0
    short = stack.run(ids[:1, :3])["hidden"][0]
    both = stack.run(padded, lengths=[3, 6])["hidden"][0]
    np.testing.assert_array_equal(both[0, :3], short[0])


def test_zero_intervention_writes_zero_and_changes_output(rng):
    stack = RecurrentStack.from_keras(build_model(["lstm", "lstm"]))
    ids = random_ids(rng)
    base = stack.run(ids)
    hit = stack.run(ids, interventions=Intervention(layer=0, units=[0, 2, 5]))
    assert np.all(hit["hidden"][0][:, :, [0, 2, 5]] == 0)
    untouched = [1, 3, 4, 6, 7]
    # the first step's other units are computed before any overwrite feeds back
    np.testing.assert_allclose(
        hit["hidden"][0][:, 0, untouched], base["hidden"][0][:, 0, untouched]
    )
    assert np.abs(hit["probs"] - base["probs"]).max() > 1e-3
    nothing = stack.run(ids, interventions=Intervention(layer=0, units=[]))
    np.testing.assert_array_equal(nothing["probs"], base["probs"])


def test_cell_intervention_overwrites_c_and_shapes_next_h(rng):
    stack = RecurrentStack.from_keras(build_model(["lstm"]))
    ids = random_ids(rng)
    base = stack.run(ids, return_states=("hidden", "cell"))
    hit = stack.run(
        ids,
        return_states=("hidden", "cell"),
        interventions=Intervention(units=[3], state="cell", mode="clamp", values=2.0),
    )
    assert np.all(hit["cell"][0][:, :, 3] == 2.0)
    # h at step 0 is computed from the cell's own c; from step 1 on it differs
    np.testing.assert_allclose(hit["hidden"][0][:, 0], base["hidden"][0][:, 0])
    assert np.abs(hit["hidden"][0][:, 1:, 3] - base["hidden"][0][:, 1:, 3]).max() > 1e-4


def test_oracle_maps_labels_and_nan_keeps_own_value(rng):
    stack = RecurrentStack.from_keras(build_model(["gru"]))
    ids = random_ids(rng, batch=2, time=4)
    lengths = np.array([4, 2])
    labels = np.array([0.0, 1.0, 0.5, np.nan, 1.0, 0.0])  # 4 + 2 rows
    base = stack.run(ids, lengths)["hidden"][0]
    out = stack.run(
        ids,
        lengths,
        interventions=Intervention(
            units=[2], mode="oracle", values=labels, oracle_range=(-2.0, 2.0)
        ),
    )["hidden"][0]
    np.testing.assert_allclose(out[0, :3, 2], [-2.0, 2.0, 0.0])
    np.testing.assert_allclose(out[1, :2, 2], [2.0, -2.0])
    # row 3 is NaN: the unit keeps the value the cell computed at that step
    assert out[0, 3, 2] != base[0, 3, 2]  # history changed ...
    assert -1 <= out[0, 3, 2] <= 1  # ... but it is the GRU's own (bounded) value


def test_bad_interventions(rng):
    stack = RecurrentStack.from_keras(build_model(["gru"]))
    ids = random_ids(rng)
    with pytest.raises(InputError, match="unit 8 is out of range"):
        stack.run(ids, interventions=Intervention(units=[8]))
    with pytest.raises(InputError, match="needs an LSTM"):
        stack.run(ids, interventions=Intervention(units=[1], state="cell"))
    with pytest.raises(InputError, match=r"expected \(21,\)"):
        stack.run(
            ids,
            interventions=Intervention(units=[1], mode="oracle", values=np.zeros(5)),
        )
    with pytest.raises(LayerNotFoundError, match="recurrent layers are 0: 'gru"):
        stack.run(ids, interventions=Intervention(layer="nope", units=[1]))
    with pytest.raises(InputError, match="needs values"):
        Intervention(units=[1], mode="mean")


def test_unsupported_models():
    keras = import_keras()
    dense_only = keras.Sequential(
        [
            keras.Input(shape=(None,), dtype="int32"),
            keras.layers.Embedding(5, 3),
            keras.layers.Dense(4),
        ]
    )
    with pytest.raises(NoRecurrentLayerError):
        RecurrentStack.from_keras(dense_only)
    # one-hot input is supported (tests/models/test_model_contract.py); a Masking
    # other than 0.0 on it is not
    masked = keras.Sequential(
        [
            keras.Input(shape=(None, 5)),
            keras.layers.Masking(mask_value=1.0),
            keras.layers.LSTM(3, return_sequences=True),
            keras.layers.Dense(4, activation="softmax"),
        ]
    )
    with pytest.raises(InputError, match="Masking"):
        RecurrentStack.from_keras(masked)
    backwards = keras.Sequential(
        [
            keras.Input(shape=(None,), dtype="int32"),
            keras.layers.Embedding(5, 3),
            keras.layers.LSTM(3, return_sequences=True, go_backwards=True),
        ]
    )
    with pytest.raises(InputError, match="go_backwards"):
        RecurrentStack.from_keras(backwards)


def test_hard_sigmoid_matches_keras(rng):
    keras = import_keras()
    keras.utils.set_random_seed(1)
    model = keras.Sequential(
        [
            keras.Input(shape=(None,), dtype="int32"),
            keras.layers.Embedding(N_VOCAB + 1, 4),
            keras.layers.LSTM(
                5, recurrent_activation="hard_sigmoid", return_sequences=True
            ),
            keras.layers.Dense(N_VOCAB, activation="softmax"),
        ]
    )
    ids = random_ids(rng)
    out = RecurrentStack.from_keras(model).run(ids)
    np.testing.assert_allclose(out["probs"], model.predict_on_batch(ids), atol=TOL)
