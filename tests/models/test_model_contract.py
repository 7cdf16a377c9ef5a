"""Any user's Keras character model through one ModelRuntime (the model contract).

Reference: the layer's own Keras output (``keras.Model(model.inputs, layer.output)``)
on each text alone, no padding, no skdni code in between.
"""

import numpy as np
import pandas as pd
import pytest

from skdni import InputError
from skdni._backend import import_keras
from skdni.activations import LSTMActivationTransformer
from skdni.intervention import NeuronAblationScorer, generate_with_interventions
from skdni.models import CharLanguageModel, ModelRuntime
from skdni.models._keras_inspect import recurrent_layers

CHARS = list("()+-0123")
V = len(CHARS)
TEXTS = ["(1+2)", "3-0", "((2))+1-3", "0", "12+(3)", "1+1+1+1+1+1"]
TOL = 1e-5


def _build(kind, cells, *, seed=0, units=6):
    """A plain Keras model of one supported shape, and its {char: id} table."""
    keras = import_keras()
    keras.utils.set_random_seed(seed)
    layers = {"lstm": keras.layers.LSTM, "gru": keras.layers.GRU}
    if kind.startswith("one_hot"):
        inputs = keras.Input(shape=(None, V))
        x = inputs
        if kind == "one_hot_masked":
            x = keras.layers.Masking(0.0)(x)
        table = {c: i for i, c in enumerate(CHARS)}
    else:
        inputs = keras.Input(shape=(None,), dtype="int32")
        first = 0 if kind == "from0" else 1
        rows = V + first
        x = keras.layers.Embedding(rows, 4, mask_zero=kind == "mask_zero")(inputs)
        table = {c: i + first for i, c in enumerate(CHARS)}
    for n, cell in enumerate(cells):
        x = layers[cell](units, return_sequences=True, name=f"{cell}_{n}")(x)
    outputs = keras.layers.Dense(V, activation="softmax")(x)
    return keras.Model(inputs, outputs), table


def _keras_rows(model, table, texts, layer_index):
    """The layer's own outputs, one text at a time (no padding)."""
    layer = recurrent_layers(model)[layer_index]
    sub = import_keras().Model(model.inputs, layer.output)
    one_hot = len(model.inputs[0].shape) == 3
    rows = []
    for text in texts:
        ids = np.array([[table[c] for c in text]], dtype=np.int32)
        inputs = np.eye(V, dtype=np.float32)[ids] if one_hot else ids
        rows.append(np.asarray(sub.predict_on_batch(inputs))[0])
    return np.concatenate(rows)


SHAPES = [
    ("from0", ("gru",)),
    ("from0", ("lstm", "gru")),
    ("from1", ("lstm",)),
    ("mask_zero", ("lstm", "gru")),
    ("one_hot", ("gru",)),
    ("one_hot", ("lstm", "lstm")),
]


@pytest.mark.parametrize(("kind", "cells"), SHAPES)
def test_activations_equal_the_layers_own_keras_outputs(kind, cells):
    model, table = _build(kind, cells)
    for layer in range(len(cells)):
        expected = _keras_rows(model, table, TEXTS, layer)
        for method in ("numpy", "keras"):
            act = LSTMActivationTransformer(
                model, vocabulary=table, layer=layer, method=method, batch_size=4
            )
            np.testing.assert_allclose(
                act.fit_transform(TEXTS), expected, atol=TOL, err_msg=method
            )


def test_issue_model_ids_from_zero_every_vocabulary_form():
    """The issue's Embedding(V) -> GRU(32) -> Dense(V), ids 0..V-1, no padding id:
    the id table failed ("id 0 must be >= 1"), a list raised IndexError on the NumPy
    path, and method="keras" silently read every character as the next one."""
    keras = import_keras()
    keras.utils.set_random_seed(3)
    model = keras.Sequential(
        [
            keras.Input(shape=(None,), dtype="int32"),
            keras.layers.Embedding(V, 8),
            keras.layers.GRU(32, return_sequences=True),
            keras.layers.Dense(V, activation="softmax"),
        ]
    )
    table = {c: i for i, c in enumerate(CHARS)}
    texts = [t.replace("3", "2") for t in TEXTS]  # no last id: ids + 1 stays valid
    expected = _keras_rows(model, table, texts, 0)
    # what method="keras" returned before: the model run on ids + 1
    shifted = _keras_rows(model, {c: i + 1 for c, i in table.items()}, texts, 0)
    assert not np.allclose(expected, shifted, atol=1e-3)
    for vocabulary in (table, CHARS, "".join(CHARS)):
        for method in ("numpy", "keras"):
            out = LSTMActivationTransformer(
                model, vocabulary=vocabulary, method=method
            ).fit_transform(texts)
            np.testing.assert_allclose(out, expected, atol=TOL)


def test_masked_unknown_character_keeps_the_state():
    # mask_zero: an unknown character (unknown="ignore") reads the masked id 0, and
    # Keras carries the state over that step; both paths must agree with Keras
    model, table = _build("mask_zero", ("lstm",), seed=2)
    lm = CharLanguageModel.from_keras(model, table, unknown="ignore")
    ids = np.array([[table["("], table["1"], 0, table[")"]]], dtype=np.int32)
    sub = import_keras().Model(model.inputs, recurrent_layers(model)[0].output)
    expected = np.asarray(sub.predict_on_batch(ids))[0]
    np.testing.assert_allclose(expected[2], expected[1], atol=1e-7)
    for method in ("numpy", "keras"):
        out = LSTMActivationTransformer(lm, method=method).fit_transform(["(1x)"])
        np.testing.assert_allclose(out, expected, atol=TOL)


@pytest.mark.parametrize("kind", ["mask_zero", "one_hot_masked"])
def test_masked_steps_carry_hidden_and_cell_state_on_both_paths(kind):
    # an unknown character reads the masked input: Keras carries h and c over it
    # (its RNN *outputs* h_{t-1} there, which the Keras path corrects for c)
    model, table = _build(kind, ("lstm", "lstm"), seed=8)
    lm = CharLanguageModel.from_keras(model, table, unknown="ignore")
    texts = [*TEXTS, "(1x)x2", "xx1"]
    out = {
        method: LSTMActivationTransformer(
            lm, state="both", layer=[0, 1], method=method
        ).fit_transform(texts)
        for method in ("numpy", "keras")
    }
    np.testing.assert_allclose(out["numpy"], out["keras"], atol=TOL)
    start = sum(map(len, TEXTS))  # "(1x)x2": rows start .. start + 5
    rows = out["numpy"][start : start + 6]
    np.testing.assert_allclose(rows[2], rows[1], atol=1e-7)  # the first "x"
    np.testing.assert_allclose(rows[4], rows[3], atol=1e-7)  # the second "x"
    assert not np.allclose(rows[3], rows[1], atol=1e-4)
    np.testing.assert_allclose(out["numpy"][-3:-1], 0.0, atol=1e-7)  # "xx" first


def test_cell_state_both_paths_on_one_hot_input():
    model, table = _build("one_hot", ("lstm",), seed=4)
    numpy = LSTMActivationTransformer(model, vocabulary=table, state="both")
    keras_path = LSTMActivationTransformer(
        model, vocabulary=table, state="both", method="keras"
    )
    np.testing.assert_allclose(
        numpy.fit_transform(TEXTS), keras_path.fit_transform(TEXTS), atol=TOL
    )


def test_ablation_baseline_is_the_models_own_accuracy():
    model, table = _build("from0", ("gru",), seed=5)
    runtime = ModelRuntime.for_model(model, CHARS)
    correct = total = 0
    for text in TEXTS:
        ids = np.array([[table[c] for c in text]], dtype=np.int32)
        probs = np.asarray(model.predict_on_batch(ids))[0]
        correct += int(np.sum(np.argmax(probs[:-1], axis=1) == ids[0, 1:]))
        total += len(text) - 1
    scorer = NeuronAblationScorer(
        model, [0, 1, 2], vocabulary=CHARS, k=[1, 3], n_random=2, random_state=0
    )
    frame = scorer.evaluate(TEXTS)
    assert frame["baseline"].iloc[0] == pytest.approx(correct / total)
    assert runtime is ModelRuntime.for_model(model, CHARS)  # built once, cached


def test_generation_on_a_user_model_matches_keras():
    model, table = _build("one_hot", ("gru",), seed=6)
    text = generate_with_interventions(model, "(1", 12, vocabulary=table, temperature=0)
    lm = CharLanguageModel.from_keras(model, table)
    reference = lm._generate("(1", 12, 0, None, None, engine="keras")
    assert text == reference
    assert len(text) == 14


def test_weights_change_rebuilds_the_runtime():
    model, table = _build("from0", ("gru",), seed=7)
    before = ModelRuntime.for_model(model, table)
    model.set_weights([w + 0.1 for w in model.get_weights()])
    after = ModelRuntime.for_model(model, table)
    assert after is not before
    assert not np.allclose(before.stack.table, after.stack.table)


# ------------------------------------------------------------------- bad input
def _consumers(model, vocabulary):
    yield lambda: LSTMActivationTransformer(model, vocabulary=vocabulary).fit(TEXTS)
    yield lambda: NeuronAblationScorer(model, [0], vocabulary=vocabulary).score(TEXTS)
    yield lambda: generate_with_interventions(model, "(", 3, vocabulary=vocabulary)
    yield lambda: CharLanguageModel.from_keras(model, vocabulary)


def _each_consumer_raises(model, vocabulary, match):
    for run in _consumers(model, vocabulary):
        with pytest.raises(InputError, match=match):
            run()


def test_vocabulary_larger_than_the_embedding():
    model, _ = _build("from0", ("gru",))
    _each_consumer_raises(
        model, CHARS + ["x", "y"], rf"{V + 2} characters.*Embedding of {V} rows"
    )
    _each_consumer_raises(
        model,
        {c: i for i, c in enumerate(CHARS + ["x"])},
        rf"{V + 1} characters.*Embedding of {V} rows",
    )


def test_vocabulary_id_beyond_the_embedding():
    model, table = _build("from1", ("lstm",))
    bad = dict(table, **{"+": V + 1})
    del bad["("]
    _each_consumer_raises(model, bad, rf"id {V + 1} of '\+' is beyond.*{V + 1} rows")


def test_output_size_differs_from_the_vocabulary():
    keras = import_keras()
    model = keras.Sequential(
        [
            keras.Input(shape=(None,), dtype="int32"),
            keras.layers.Embedding(V, 4),
            keras.layers.GRU(5, return_sequences=True),
            keras.layers.Dense(V + 3, activation="softmax"),
        ]
    )
    _each_consumer_raises(
        model, CHARS, rf"predicts {V + 3} output classes.*vocabulary has {V}"
    )


def test_one_hot_width_and_masked_id_zero_are_checked():
    model, table = _build("one_hot", ("gru",))
    _each_consumer_raises(
        model,
        {**{c: i for c, i in table.items() if c != "("}, "x": V},
        rf"id {V} of 'x' is beyond.*one-hot input of width {V}",
    )
    masked, masked_table = _build("mask_zero", ("lstm",))
    _each_consumer_raises(masked, dict(masked_table, **{"(": 0}), "masks id 0")


def test_unknown_ignore_needs_a_padding_id():
    model, table = _build("from0", ("gru",))
    with pytest.raises(InputError, match="has none: its 8 Embedding rows"):
        CharLanguageModel.from_keras(model, table, unknown="ignore")


def test_search_columns_keep_their_layer_and_state():
    from skdni.probing import NeuronProbeSearch

    model, table = _build("from0", ("lstm", "gru"))
    rng = np.random.default_rng(0)
    n_rows = sum(map(len, TEXTS))
    columns = [f"lstm_0/c{i}" for i in range(6)]
    X = pd.DataFrame(rng.normal(size=(n_rows, 6)), columns=columns)
    Y = pd.DataFrame({"f": (rng.random(n_rows) > 0.5).astype(float)})
    search = NeuronProbeSearch(cv=2).fit(X, Y)
    scorer = NeuronAblationScorer(
        model, search=search, feature="f", k=1, vocabulary=table, state="hidden"
    )
    with pytest.raises(InputError, match="'lstm_0/c0', a cell state.*state='cell'"):
        scorer.score(TEXTS)
    scorer.set_params(state="cell", layer="gru_1")
    with pytest.raises(InputError, match="state='cell' needs an LSTM layer"):
        scorer.score(TEXTS)
    scorer.set_params(layer=0)
    assert 0.0 <= scorer.score(TEXTS) <= 1.0
    X.columns = [f"gru_1/h{i}" for i in range(6)]
    search = NeuronProbeSearch(cv=2).fit(X, Y)
    scorer.set_params(search=search, state="hidden")
    with pytest.raises(InputError, match="layer 'gru_1'.*scorer's layer is 'lstm_0'"):
        scorer.score(TEXTS)
