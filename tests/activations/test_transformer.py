"""LSTMActivationTransformer: one row per character, batching-invariant, two paths."""

import pickle

import joblib
import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st
from sklearn.base import clone

from skdni import (
    EmptyCorpusError,
    InputError,
    InputTypeError,
    LayerNotFoundError,
    NoRecurrentLayerError,
    UnknownCharacterError,
)
from skdni._backend import import_keras
from skdni.activations import LSTMActivationTransformer
from skdni.models import CharLanguageModel
from skdni.models._recurrence import RecurrentStack
from skdni.utils.estimator_checks import check_text_estimator

VOCAB = "()+-0123"
TEXTS = ["(1+2)", "3-0", "((2))+1-3", "0", "12+(3)"]


def _model(cells=("lstm",), seed=0, units=6):
    keras = import_keras()
    keras.utils.set_random_seed(seed)
    layers = [
        keras.Input(shape=(None,), dtype="int32"),
        keras.layers.Embedding(len(VOCAB) + 1, 4),
    ]
    for n, cell in enumerate(cells):
        cls = {
            "lstm": keras.layers.LSTM,
            "gru": keras.layers.GRU,
            "simple": keras.layers.SimpleRNN,
        }[cell]
        layers.append(cls(units, return_sequences=True, name=f"{cell}_{n}"))
    layers.append(keras.layers.Dense(len(VOCAB), activation="softmax"))
    return keras.Sequential(layers)


@pytest.fixture(scope="module")
def lstm_model():
    return _model()


@pytest.fixture(scope="module")
def stacked_model():
    return _model(("lstm", "gru"), seed=1)


@pytest.fixture(scope="module")
def lm(lstm_model):
    return CharLanguageModel.from_keras(lstm_model, sorted(VOCAB))


@pytest.mark.parametrize("method", ["numpy", "keras"])
def test_text_estimator_checks(lm, method):
    check_text_estimator(
        LSTMActivationTransformer(lm, method=method, state="both"), TEXTS
    )


def test_shape_names_and_keras_vocabulary(lstm_model):
    act = LSTMActivationTransformer(lstm_model, vocabulary=sorted(VOCAB))
    out = act.fit_transform(TEXTS)
    assert out.shape == (sum(map(len, TEXTS)), 6) and out.dtype == np.float32
    assert act.get_feature_names_out().tolist() == [f"h{j}" for j in range(6)]
    assert act.method_ == "numpy" and act.layers_ == ["lstm_0"]
    # a {char: id} dict with the same mapping gives the same rows
    ids = {c: i + 1 for i, c in enumerate(sorted(VOCAB))}
    again = LSTMActivationTransformer(lstm_model, vocabulary=ids).fit_transform(TEXTS)
    np.testing.assert_array_equal(out, again)


def test_rows_are_the_model_states(lstm_model):
    """Row t of a text is the layer's output after char t (checked against Keras)."""
    keras = import_keras()
    act = LSTMActivationTransformer(
        lstm_model, vocabulary=sorted(VOCAB), method="keras"
    )
    out = act.fit_transform(TEXTS)
    sub = keras.Model(lstm_model.inputs, lstm_model.get_layer("lstm_0").output)
    ids = np.array([[sorted(VOCAB).index(c) + 1 for c in TEXTS[2]]], dtype="int32")
    expected = np.asarray(sub.predict_on_batch(ids))[0]
    start = len(TEXTS[0]) + len(TEXTS[1])
    np.testing.assert_allclose(out[start : start + len(TEXTS[2])], expected, atol=1e-6)


@pytest.mark.parametrize("state", ["hidden", "both"])
def test_keras_and_numpy_paths_agree(stacked_model, state):
    layer = ["lstm_0", "gru_1"] if state == "hidden" else "lstm_0"
    kwargs = dict(vocabulary=sorted(VOCAB), layer=layer, state=state)
    a = LSTMActivationTransformer(
        stacked_model, method="keras", **kwargs
    ).fit_transform(TEXTS)
    b = LSTMActivationTransformer(
        stacked_model, method="numpy", **kwargs
    ).fit_transform(TEXTS)
    assert a.shape == b.shape == (sum(map(len, TEXTS)), 12)
    np.testing.assert_allclose(a, b, atol=1e-5)


def test_stacked_feature_names(stacked_model):
    act = LSTMActivationTransformer(
        stacked_model, vocabulary=sorted(VOCAB), layer=[1, "lstm_0"]
    ).fit(TEXTS)
    names = act.get_feature_names_out().tolist()
    assert names[:2] == ["gru_1/h0", "gru_1/h1"] and names[6] == "lstm_0/h0"
    assert act.layers_ == ["gru_1", "lstm_0"]
    cell = LSTMActivationTransformer(
        stacked_model, vocabulary=sorted(VOCAB), state="cell"
    )
    assert cell.fit(TEXTS).get_feature_names_out()[0] == "c0"


@pytest.mark.parametrize("method", ["numpy", "keras"])
def test_alone_equals_batched_with_longer_texts(lm, method):
    act = LSTMActivationTransformer(lm, method=method, batch_size=3).fit(TEXTS)
    short = "1+2"
    corpus = ["((((1+2)+3)+0)-1)", short, "(3)" * 5, "0-1-2-3-0-1-2"]
    together = act.transform(corpus)
    start = len(corpus[0])
    alone = act.transform([short])
    np.testing.assert_allclose(together[start : start + 3], alone, atol=1e-6, rtol=0)


def test_pandas_output(lm):
    act = LSTMActivationTransformer(lm, state="both").set_output(transform="pandas")
    frame = act.fit_transform(TEXTS)
    assert isinstance(frame, pd.DataFrame)
    assert list(frame.columns[:2]) == ["lstm_0/h0", "lstm_0/h1"]


def test_clone_shares_model_and_pickles(lm, lstm_model):
    act = LSTMActivationTransformer(lm)
    assert clone(act).model is lm  # not re-cloned into an unfitted estimator
    raw = LSTMActivationTransformer(
        lstm_model, vocabulary=sorted(VOCAB), method="keras"
    )
    assert clone(raw).model is lstm_model
    raw.fit(TEXTS)
    expected = raw.transform(TEXTS)
    np.testing.assert_allclose(
        pickle.loads(pickle.dumps(raw)).transform(TEXTS), expected
    )
    path_out = joblib.load(_dump(raw)).transform(TEXTS)
    np.testing.assert_allclose(path_out, expected)


def _dump(obj):
    import io

    buffer = io.BytesIO()
    joblib.dump(obj, buffer)
    buffer.seek(0)
    return buffer


def test_unknown_character_names_text_and_position(lm):
    act = LSTMActivationTransformer(lm).fit(TEXTS)
    with pytest.raises(UnknownCharacterError, match=r"Text 1, position 2: .*'x'"):
        act.transform(["1+2", "(3x)"])


def test_unknown_characters_follow_the_language_models_policy(lstm_model):
    # unknown="ignore" reads an unknown character as padding (id 0), as the LM does
    lenient = CharLanguageModel.from_keras(lstm_model, sorted(VOCAB), unknown="ignore")
    act = LSTMActivationTransformer(lenient, method="numpy").fit(["(3x)"])
    ids = [
        lenient.char_to_id_["("],
        lenient.char_to_id_["3"],
        0,
        lenient.char_to_id_[")"],
    ]
    expected = act.stack_.run(np.array([ids], dtype=np.int32))["hidden"][0][0]
    np.testing.assert_allclose(act.transform(["(3x)"]), expected, atol=1e-6)
    strict = CharLanguageModel.from_keras(lstm_model, sorted(VOCAB))
    with pytest.raises(UnknownCharacterError):
        LSTMActivationTransformer(strict).fit(["(3x)"])


def test_bad_corpus_errors(lm):
    act = LSTMActivationTransformer(lm).fit(TEXTS)
    with pytest.raises(InputTypeError, match="single string"):
        act.transform("1+2")
    with pytest.raises(EmptyCorpusError, match="empty"):
        act.transform([])
    with pytest.raises(EmptyCorpusError, match="Text 1 is empty"):
        act.transform(["1", ""])


def test_model_errors(lstm_model, lm):
    keras = import_keras()
    no_rnn = keras.Sequential(
        [
            keras.Input(shape=(None,), dtype="int32"),
            keras.layers.Embedding(9, 3),
            keras.layers.Dense(8, activation="softmax"),
        ]
    )
    with pytest.raises(NoRecurrentLayerError, match="no LSTM, GRU or SimpleRNN"):
        LSTMActivationTransformer(no_rnn, vocabulary=sorted(VOCAB)).fit(TEXTS)
    with pytest.raises(
        LayerNotFoundError, match="no recurrent layer named 'lstm_9'.*'lstm_0'"
    ):
        LSTMActivationTransformer(lm, layer="lstm_9").fit(TEXTS)
    with pytest.raises(LayerNotFoundError, match="index 3 is out of range"):
        LSTMActivationTransformer(lm, layer=3).fit(TEXTS)
    with pytest.raises(InputError, match="needs vocabulary"):
        LSTMActivationTransformer(lstm_model).fit(TEXTS)
    with pytest.raises(InputError, match="needs LSTM layers.*gru"):
        LSTMActivationTransformer(
            _model(("gru",)), vocabulary=sorted(VOCAB), state="cell"
        ).fit(TEXTS)
    with pytest.raises(InputTypeError):
        LSTMActivationTransformer(object()).fit(TEXTS)


def test_unfitted_model_is_an_error():
    from sklearn.exceptions import NotFittedError

    with pytest.raises(NotFittedError):
        LSTMActivationTransformer(CharLanguageModel()).fit(TEXTS)


def test_numpy_path_is_the_stack(lm):
    act = LSTMActivationTransformer(lm, method="numpy").fit(TEXTS)
    assert isinstance(act.stack_, RecurrentStack)


@given(
    st.lists(st.text(alphabet=VOCAB, min_size=1, max_size=12), min_size=1, max_size=8),
    st.integers(1, 4),
)
def test_rows_equal_total_chars(lm, texts, batch_size):
    out = LSTMActivationTransformer(lm, batch_size=batch_size).fit_transform(texts)
    assert out.shape == (sum(map(len, texts)), 6)
    assert np.isfinite(out).all()


def test_out_writes_a_float32_npy_memmap_equal_to_transform(lm, tmp_path):
    path = tmp_path / "H.npy"
    texts = TEXTS * 3
    expected = LSTMActivationTransformer(lm, state="both").fit_transform(texts)
    act = LSTMActivationTransformer(lm, state="both", batch_size=2, out=path)
    got = act.fit_transform(texts)
    assert isinstance(got, np.memmap)
    np.testing.assert_array_equal(got, expected)
    on_disk = np.load(path, mmap_mode="r")
    assert on_disk.dtype == np.float32
    assert on_disk.shape == (sum(map(len, texts)), 12)
    np.testing.assert_array_equal(on_disk, expected)
    assert clone(act).get_params()["out"] == path


def test_out_with_pandas_output_is_refused(lm, tmp_path):
    act = LSTMActivationTransformer(lm, out=str(tmp_path / "H.npy")).set_output(
        transform="pandas"
    )
    with pytest.raises(InputError, match="set_output"):
        act.fit_transform(TEXTS)
    assert not (tmp_path / "H.npy").exists()
    frame = act.set_params(out=None).fit_transform(TEXTS)
    assert isinstance(frame, pd.DataFrame)


@pytest.mark.parametrize("use_out", [False, True])
def test_n_jobs_gives_the_same_rows(lm, tmp_path, use_out):
    texts = TEXTS * 4
    expected = LSTMActivationTransformer(
        lm, state="both", batch_size=3, n_jobs=1
    ).fit_transform(texts)
    # rows land in corpus order: one batch of all texts gives the same rows
    whole = LSTMActivationTransformer(lm, state="both").fit_transform(texts)
    np.testing.assert_allclose(expected, whole, atol=1e-6)
    path = tmp_path / "H.npy" if use_out else None
    act = LSTMActivationTransformer(lm, state="both", batch_size=3, n_jobs=2, out=path)
    got = act.fit_transform(texts)
    assert isinstance(got, np.memmap) == use_out
    np.testing.assert_array_equal(got, expected)
    if use_out:
        np.testing.assert_array_equal(np.load(path, mmap_mode="r"), expected)
    with joblib.parallel_config(backend="threading"):
        threaded = act.fit_transform(texts)
    np.testing.assert_array_equal(threaded, expected)


def test_n_jobs_is_validated_and_keras_path_ignores_it(lm):
    with pytest.raises(ValueError, match="n_jobs"):
        LSTMActivationTransformer(lm, n_jobs="two").fit(TEXTS)
    expected = LSTMActivationTransformer(lm, method="keras").fit_transform(TEXTS)
    got = LSTMActivationTransformer(lm, method="keras", n_jobs=2).fit_transform(TEXTS)
    np.testing.assert_array_equal(got, expected)
