import importlib.util
import pickle
import zipfile

import joblib
import numpy as np
import pytest
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.utils._param_validation import InvalidParameterError

from skdni import (
    EmptyCorpusError,
    InputError,
    InputTypeError,
    ModelFileError,
    UnknownCharacterError,
)
from skdni._backend import import_keras
from skdni.models import CharLanguageModel
from skdni.models._char_lm import _windows, check_char_model
from skdni.models._vocabulary import encode_texts
from skdni.utils.estimator_checks import check_text_estimator

HAS_RECURRENCE = importlib.util.find_spec("skdni.models._recurrence") is not None


def _arithmetic(n_texts, seed=0, max_depth=3):
    """A tiny stand-in for the arithmetic corpus: digits, + - * / and parentheses."""
    rng = np.random.default_rng(seed)

    def expr(depth):
        roll = rng.random()
        if depth == 0 or roll < 0.35:
            return str(rng.integers(10))
        if roll < 0.5:
            return "(" + expr(depth - 1) + ")"
        return expr(depth - 1) + "+-*/"[rng.integers(4)] + expr(depth - 1)

    return [expr(max_depth) for _ in range(n_texts)]


TEXTS = _arithmetic(40)
TINY = dict(units=8, embedding_dim=4, epochs=1, batch_size=16, random_state=0)


@pytest.fixture(scope="module")
def tiny_lm():
    return CharLanguageModel(**TINY).fit(TEXTS)


def test_text_estimator_checks():
    check_text_estimator(CharLanguageModel(**TINY), TEXTS[:20])


def test_rows_are_chars_and_sum_to_one(tiny_lm):
    texts = ["1+2", "(3*4)-5", "7"]
    proba = tiny_lm.predict_proba(texts)
    assert proba.shape == (3 + 7 + 1, tiny_lm.n_vocab_)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=1e-5)
    assert (proba >= 0).all()
    pred = tiny_lm.predict(texts)
    assert pred.shape == (11,)
    assert set(pred) <= set(tiny_lm.vocabulary_)
    np.testing.assert_array_equal(
        pred, np.asarray(tiny_lm.vocabulary_)[proba.argmax(axis=1)]
    )


def test_rows_do_not_depend_on_batch_or_padding(tiny_lm):
    short, long = "1+2", "(" * 20 + "1" + ")" * 20 + "*" + "9" * 40
    alone = tiny_lm.predict_proba([short])
    together = tiny_lm.predict_proba([long, short, long])
    np.testing.assert_allclose(together[len(long) : len(long) + 3], alone, atol=1e-6)
    # texts of one length bucket share a padded batch: a longer one pads the short one
    medium = "((1+2)*3)-(4+5)"
    batched = tiny_lm.predict_proba([medium, short, medium])
    np.testing.assert_allclose(batched[len(medium) : len(medium) + 3], alone, atol=1e-6)
    np.testing.assert_allclose(batched[: len(medium)], batched[-len(medium) :])
    # Row t only reads chars 0..t (causal): a longer text with the same prefix agrees.
    np.testing.assert_allclose(
        tiny_lm.predict_proba([short + "*7"])[:3], alone, atol=1e-6
    )


def test_fitted_attributes(tiny_lm):
    vocab = sorted(set("".join(TEXTS)))
    assert tiny_lm.vocabulary_ == vocab
    assert tiny_lm.n_vocab_ == len(vocab)
    assert tiny_lm.char_to_id_ == {c: i + 1 for i, c in enumerate(vocab)}
    assert set(tiny_lm.history_) == {
        "loss",
        "accuracy",
        "val_loss",
        "val_accuracy",
        "learning_rate",
    }
    assert tiny_lm.history_["learning_rate"] == [pytest.approx(tiny_lm.learning_rate)]
    assert len(tiny_lm.history_["loss"]) == 1
    targets = "".join(t[1:] for t in TEXTS)
    counts = {c: targets.count(c) for c in set(targets)}
    assert tiny_lm.majority_char_ == max(counts, key=counts.get)
    assert tiny_lm.majority_rate_ == pytest.approx(max(counts.values()) / len(targets))
    # 10% of 40 texts are held out for early stopping.
    held_out = sum(map(len, TEXTS)) - tiny_lm.n_train_chars_
    assert 0 < held_out < sum(map(len, TEXTS))


def test_model_contract(tiny_lm):
    keras = import_keras()
    model = tiny_lm.model_
    names = [layer.name for layer in model.layers]
    assert names == ["chars", "embedding", "lstm_0", "output"]
    assert model.inputs[0].dtype == "int32"
    embedding = model.get_layer("embedding")
    assert embedding.input_dim == tiny_lm.n_vocab_ + 1
    np.testing.assert_array_equal(embedding.get_weights()[0][0], 0.0)
    lstm = model.get_layer("lstm_0")
    assert isinstance(lstm, keras.layers.LSTM) and lstm.return_sequences
    assert lstm.units == 8
    output = model.get_layer("output")
    assert output.units == tiny_lm.n_vocab_
    check_char_model(model, tiny_lm.n_vocab_)


@pytest.mark.parametrize(
    "params, layer_names",
    [
        (dict(cell="gru"), ["gru_0"]),
        (dict(cell="simple", n_layers=2), ["simple_rnn_0", "simple_rnn_1"]),
        (dict(n_layers=2, embedding="one_hot"), ["lstm_0", "lstm_1"]),
    ],
)
def test_cells_layers_and_one_hot(params, layer_names):
    keras = import_keras()
    lm = CharLanguageModel(**{**TINY, **params}).fit(TEXTS[:10])
    names = [layer.name for layer in lm.model_.layers]
    assert names == ["chars", "embedding", *layer_names, "output"]
    cls = {"gru": keras.layers.GRU, "simple": keras.layers.SimpleRNN}.get(
        params.get("cell"), keras.layers.LSTM
    )
    assert all(isinstance(lm.model_.get_layer(n), cls) for n in layer_names)
    proba = lm.predict_proba(TEXTS[:3])
    assert proba.shape == (sum(map(len, TEXTS[:3])), lm.n_vocab_)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=1e-5)
    if params.get("embedding") == "one_hot":
        table = lm.model_.get_layer("embedding").get_weights()[0]
        expected = np.vstack([np.zeros(lm.n_vocab_), np.eye(lm.n_vocab_)])
        np.testing.assert_array_equal(table, expected)
        assert not lm.model_.get_layer("embedding").trainable


def test_same_random_state_same_model():
    a = CharLanguageModel(**TINY).fit(TEXTS).predict_proba(TEXTS[:5])
    b = CharLanguageModel(**TINY).fit(TEXTS).predict_proba(TEXTS[:5])
    c = (
        CharLanguageModel(**{**TINY, "random_state": 1})
        .fit(TEXTS)
        .predict_proba(TEXTS[:5])
    )
    np.testing.assert_array_equal(a, b)
    assert np.abs(a - c).max() > 1e-3


def test_learns_a_trivial_language():
    texts = [("abc" * 12)[i % 3 :][: 20 + i % 7] for i in range(120)]
    lm = CharLanguageModel(
        units=16,
        embedding_dim=4,
        epochs=15,
        batch_size=8,
        learning_rate=0.02,
        random_state=0,
    ).fit(texts)
    assert lm.majority_rate_ < 0.4
    assert lm.score(texts) > 0.98
    assert lm.cross_entropy(texts) < 0.2
    assert lm.generate("ab", 9, temperature=0) == "abcabcabcab"
    assert lm.predict(["ab"]).tolist() == ["b", "c"]


def test_score_excludes_last_char_of_each_text(tiny_lm):
    texts = ["1+2", "3"]
    proba = tiny_lm.predict_proba(texts)
    ids = np.array([tiny_lm.char_to_id_[c] - 1 for c in "+2"])
    expected = np.mean(proba[:2].argmax(axis=1) == ids)
    assert tiny_lm.score(texts) == pytest.approx(expected)
    expected_ce = -np.mean(np.log(proba[[0, 1], ids]))
    assert tiny_lm.cross_entropy(texts) == pytest.approx(expected_ce)
    with pytest.raises(EmptyCorpusError, match="next character"):
        tiny_lm.score(["1", "2"])


def test_early_stopping_restores_best_epoch():
    lm = CharLanguageModel(
        **{**TINY, "epochs": 4, "patience": 0, "learning_rate": 0.5}
    ).fit(TEXTS)
    val_loss = lm.history_["val_loss"]
    assert len(val_loss) <= 4
    best = min(val_loss)
    # Evaluate the restored weights on the same held-out windows Keras used.
    lm_again = CharLanguageModel(
        **{**TINY, "epochs": 4, "patience": 0, "learning_rate": 0.5}
    )
    rng = np.random.RandomState(0)
    rng.randint(np.iinfo(np.int32).max)
    train, valid = lm_again._split(np.array([len(t) for t in TEXTS]), rng)
    held_out = [TEXTS[i] for i in valid]
    assert lm.cross_entropy(held_out) == pytest.approx(best, rel=1e-4)


def test_default_recipe_trains_until_early_stopping():
    params = CharLanguageModel().get_params()
    # A cap, not a budget: early stopping ends a default fit (issue 10).
    assert params["epochs"] == 100 and params["early_stopping"]
    assert params["patience"] == 3 and params["validation_fraction"] == 0.1
    assert params["learning_rate"] == 0.005 and params["lr_schedule"] == "plateau"
    # tuned on stdlib Python (benchmarks/train_default_lm.py): wider, regularized
    assert params["units"] == 192 and params["dropout"] == 0.1
    assert params["batch_size"] == 32
    with pytest.raises(InvalidParameterError, match="lr_schedule"):
        CharLanguageModel(**{**TINY, "lr_schedule": "cosine"}).fit(TEXTS)


def _improved(losses, min_delta=1e-3):
    """Whether each epoch beat the best earlier loss by more than ``min_delta``."""
    best, out = np.inf, []
    for loss in losses:
        out.append(loss < best - min_delta)
        best = loss if out[-1] else best
    return out


def test_plateau_halves_the_rate_after_each_epoch_without_improvement():
    # A far too large rate: the validation loss stalls, so the schedule must act.
    lm = CharLanguageModel(
        **{**TINY, "epochs": 8, "learning_rate": 2.0, "early_stopping": False}
    ).fit(TEXTS)
    rates, val_loss = lm.history_["learning_rate"], lm.history_["val_loss"]
    assert len(rates) == 8 and rates[0] == pytest.approx(2.0)
    improved = _improved(val_loss)
    assert not all(improved)
    for epoch in range(7):
        factor = 1.0 if improved[epoch] else 0.5
        assert rates[epoch + 1] == pytest.approx(rates[epoch] * factor)

    constant = CharLanguageModel(
        **{**TINY, "epochs": 3, "learning_rate": 2.0, "lr_schedule": "constant"}
    ).fit(TEXTS)
    assert constant.history_["learning_rate"] == [pytest.approx(2.0)] * len(
        constant.history_["loss"]
    )


def test_early_stopping_ends_before_the_cap():
    lm = CharLanguageModel(
        **{**TINY, "epochs": 50, "patience": 1, "learning_rate": 2.0}
    ).fit(TEXTS)
    n = len(lm.history_["val_loss"])
    assert n < 50
    # patience=1: it stops at the first epoch without improvement.
    assert _improved(lm.history_["val_loss"]) == [True] * (n - 1) + [False]


@pytest.mark.parametrize("n_texts", [1, 2, 5])
def test_corpus_too_small_for_a_validation_split(n_texts):
    # round(0.1 * n) == 0 held-out texts: the training loss is monitored instead.
    texts = ["(1+2)*3-4/5" * 3] * n_texts
    lm = CharLanguageModel(**{**TINY, "epochs": 3}).fit(texts)
    assert set(lm.history_) == {"loss", "accuracy", "learning_rate"}
    assert 1 <= len(lm.history_["loss"]) <= 3
    assert lm.n_train_chars_ == sum(map(len, texts))
    # A split that would leave no target on one side is not made either.
    lm = CharLanguageModel(**{**TINY, "epochs": 1, "validation_fraction": 0.5}).fit(
        ["12"] + ["x"] * 3
    )
    assert "val_loss" not in lm.history_ and lm.n_train_chars_ == 5


def test_dropout_only_acts_in_training():
    from skdni.activations import LSTMActivationTransformer

    lm = CharLanguageModel(**{**TINY, "dropout": 0.5}).fit(TEXTS)
    lstm = lm.model_.get_layer("lstm_0")
    assert lstm.dropout == 0.5 and lstm.recurrent_dropout == 0.5
    np.testing.assert_array_equal(
        lm.predict_proba(TEXTS[:3]), lm.predict_proba(TEXTS[:3])
    )
    # The NumPy recurrence (no dropout) reads the same model as Keras's inference.
    fast = LSTMActivationTransformer(lm, method="numpy").fit_transform(TEXTS[:3])
    ref = LSTMActivationTransformer(lm, method="keras").fit_transform(TEXTS[:3])
    np.testing.assert_allclose(fast, ref, atol=1e-5)
    with pytest.raises(InvalidParameterError, match="dropout"):
        CharLanguageModel(**{**TINY, "dropout": 1.0}).fit(TEXTS)


def test_windows_cover_every_target_once():
    ids = [np.arange(1, 11, dtype=np.int32), np.array([5], dtype=np.int32)]
    x, y, w = _windows(ids, 4)
    assert x.shape == (3, 4)
    np.testing.assert_array_equal(x[0], [1, 2, 3, 4])
    np.testing.assert_array_equal(y[0], [1, 2, 3, 4])  # next ids 2..5 as classes 1..4
    np.testing.assert_array_equal(x[2], [9, 0, 0, 0])
    np.testing.assert_array_equal(y[2], [9, 0, 0, 0])
    np.testing.assert_array_equal(w.sum(axis=1), [4, 4, 1])


def test_a_text_of_one_char_is_fine_but_not_all():
    lm = CharLanguageModel(**TINY).fit(TEXTS[:10] + ["x"])
    assert "x" in lm.vocabulary_
    with pytest.raises(EmptyCorpusError, match="at least two characters"):
        CharLanguageModel(**TINY).fit(["a", "b", "c"])


def test_bad_input(tiny_lm):
    with pytest.raises(InputTypeError, match="single string"):
        CharLanguageModel(**TINY).fit("1+2")
    with pytest.raises(EmptyCorpusError, match="empty"):
        CharLanguageModel(**TINY).fit([])
    with pytest.raises(EmptyCorpusError, match="Text 1 is empty"):
        CharLanguageModel(**TINY).fit(["1+2", ""])
    with pytest.raises(InputTypeError, match="single string"):
        tiny_lm.predict_proba("1+2")
    with pytest.raises(EmptyCorpusError, match="Text 1 is empty"):
        tiny_lm.predict_proba(["1", ""])
    with pytest.raises(InvalidParameterError):
        CharLanguageModel(cell="transformer").fit(TEXTS)
    with pytest.raises(NotFittedError):
        CharLanguageModel().generate("1", 3)


def test_unknown_characters(tiny_lm):
    with pytest.raises(
        UnknownCharacterError, match=r"Text 1, position 2: character 'x'"
    ):
        tiny_lm.predict_proba(["1+2", "3+x"])
    with pytest.raises(UnknownCharacterError, match="'x'"):
        tiny_lm.generate("1x", 2)
    lm = clone(tiny_lm).set_params(unknown="ignore")
    lm._set_fitted(tiny_lm.model_, tiny_lm.vocabulary_, error=InputError)
    ids = lm.encode(["1x+"])[0]
    np.testing.assert_array_equal(ids, [lm.char_to_id_["1"], 0, lm.char_to_id_["+"]])
    assert lm.predict_proba(["3+x"]).shape == (3, lm.n_vocab_)
    # "x" as a target can never be predicted: it counts as an error in score.
    proba = lm.predict_proba(["3+x"])
    hit = proba[0].argmax() == lm.char_to_id_["+"] - 1
    assert lm.score(["3+x"]) == pytest.approx(hit / 2)
    assert lm.cross_entropy(["3+x"]) == pytest.approx(
        -np.log(proba[0, lm.char_to_id_["+"] - 1])
    )


def test_encode_matches_vocabulary():
    ids = encode_texts(["héllo", "€"], ["e", "h", "l", "o", "é", "€"])
    assert [i.tolist() for i in ids] == [[2, 5, 3, 3, 4], [6]]


def test_save_load_round_trip(tiny_lm, tmp_path):
    path = tmp_path / "lm.keras"
    tiny_lm.save(path)
    loaded = CharLanguageModel.load(path)
    assert loaded.get_params() == tiny_lm.get_params()
    assert loaded.vocabulary_ == tiny_lm.vocabulary_
    assert loaded.majority_rate_ == tiny_lm.majority_rate_
    assert loaded.history_ == tiny_lm.history_
    np.testing.assert_array_equal(
        loaded.predict_proba(TEXTS[:5]), tiny_lm.predict_proba(TEXTS[:5])
    )
    # The file is still a plain Keras model for any Keras tool.
    keras = import_keras()
    plain = keras.saving.load_model(path, compile=False)
    assert [layer.name for layer in plain.layers] == [
        layer.name for layer in tiny_lm.model_.layers
    ]


def test_load_bad_files(tiny_lm, tmp_path):
    with pytest.raises(ModelFileError, match="No model file"):
        CharLanguageModel.load(tmp_path / "missing.keras")
    text_file = tmp_path / "notes.keras"
    text_file.write_text("not a zip")
    with pytest.raises(ModelFileError, match="not a .keras model file"):
        CharLanguageModel.load(text_file)
    plain = tmp_path / "plain.keras"
    tiny_lm.model_.save(plain)
    with pytest.raises(ModelFileError, match="not a skdni CharLanguageModel"):
        CharLanguageModel.load(plain)
    other = tmp_path / "other.keras"
    tiny_lm.save(other)
    with zipfile.ZipFile(other, "a") as archive, pytest.warns(UserWarning):
        archive.writestr("skdni_char_lm.json", "{}")
    with pytest.raises(ModelFileError, match="unknown skdni model format"):
        CharLanguageModel.load(other)
    with pytest.raises(InputError, match="end in '.keras'"):
        tiny_lm.save(tmp_path / "lm.h5")


def test_from_keras_checks_the_model_shape(tiny_lm):
    keras = import_keras()
    wrapped = CharLanguageModel.from_keras(tiny_lm.model_, tiny_lm.vocabulary_)
    np.testing.assert_array_equal(
        wrapped.predict_proba(TEXTS[:2]), tiny_lm.predict_proba(TEXTS[:2])
    )
    with pytest.raises(InputError, match="15 characters.*Embedding of 17 rows"):
        CharLanguageModel.from_keras(tiny_lm.model_, tiny_lm.vocabulary_[:-1])
    dense_only = keras.Sequential(
        [
            keras.Input((None,), dtype="int32"),
            keras.layers.Embedding(5, 2),
            keras.layers.Dense(4, activation="softmax"),
        ]
    )
    with pytest.raises(InputError, match="no LSTM, GRU or SimpleRNN"):
        CharLanguageModel.from_keras(dense_only, list("abcd"))
    # a list is the characters in id order (any order), checked against the rows
    reversed_ids = CharLanguageModel.from_keras(
        tiny_lm.model_, tiny_lm.vocabulary_[::-1]
    )
    assert reversed_ids.char_to_id_[tiny_lm.vocabulary_[-1]] == 1
    with pytest.raises(InputError, match="18 characters.*Embedding of 17 rows"):
        CharLanguageModel.from_keras(tiny_lm.model_, tiny_lm.vocabulary_ + ["~", "`"])


def test_pickle_joblib_and_clone(tiny_lm, tmp_path):
    expected = tiny_lm.predict_proba(TEXTS[:4])
    restored = pickle.loads(pickle.dumps(tiny_lm))
    np.testing.assert_array_equal(restored.predict_proba(TEXTS[:4]), expected)
    joblib.dump(tiny_lm, tmp_path / "lm.joblib")
    restored = joblib.load(tmp_path / "lm.joblib")
    np.testing.assert_array_equal(restored.predict_proba(TEXTS[:4]), expected)
    assert restored.vocabulary_ == tiny_lm.vocabulary_
    cloned = clone(tiny_lm)
    assert cloned.get_params() == tiny_lm.get_params()
    assert not hasattr(cloned, "model_")


def test_generate_is_reproducible(tiny_lm):
    a = tiny_lm.generate("1+", 12, random_state=3)
    assert a.startswith("1+") and len(a) == 14
    assert set(a) <= set(tiny_lm.vocabulary_)
    assert tiny_lm.generate("1+", 12, random_state=3) == a
    others = {tiny_lm.generate("1+", 12, random_state=s) for s in range(4, 8)}
    assert len(others | {a}) > 1
    assert tiny_lm.generate("1+", 0) == "1+"
    greedy = tiny_lm.generate("1+", 6, temperature=0)
    assert greedy == tiny_lm.generate("1+", 6, temperature=0, random_state=1)
    with pytest.raises(InputError, match="seed"):
        tiny_lm.generate("", 3)
    with pytest.raises(InputError, match="temperature"):
        tiny_lm.generate("1", 3, temperature=-1)


def test_generate_greedy_follows_predict(tiny_lm):
    text = tiny_lm.generate("(1", 5, temperature=0)
    # Each greedy char is the argmax of predict_proba after the text before it.
    for t in range(2, len(text)):
        assert tiny_lm.predict([text[:t]])[-1] == text[t]


@pytest.mark.skipif(
    not HAS_RECURRENCE, reason="skdni.models._recurrence not written yet"
)
@pytest.mark.parametrize("temperature", [0, 0.7, 1.0])
def test_numpy_generation_matches_keras_reference(tiny_lm, temperature):
    fast = tiny_lm.generate("(2*", 15, temperature=temperature, random_state=5)
    ref = tiny_lm._generate("(2*", 15, temperature, 5, None, engine="keras")
    assert fast == ref


def test_verbose_shows_a_progress_bar(capsys):
    CharLanguageModel(**{**TINY, "verbose": 1, "epochs": 2}).fit(TEXTS)
    err = capsys.readouterr().err
    assert "CharLanguageModel" in err and "2/2" in err
    CharLanguageModel(**TINY).fit(TEXTS)
    assert capsys.readouterr().err == ""
    # Early stopping before the cap: the bar ends complete at the epochs run.
    lm = CharLanguageModel(
        **{**TINY, "verbose": 1, "epochs": 50, "patience": 0, "learning_rate": 2.0}
    ).fit(TEXTS)
    n = len(lm.history_["loss"])
    assert n < 50
    err = capsys.readouterr().err
    assert f"{n}/{n}" in err and "learning_rate" in err


def test_session_model_beats_the_majority_rate(trained_lm, arithmetic_texts):
    assert trained_lm.vocabulary_ == sorted("()*+-/0123456789")
    accuracy = trained_lm.score(arithmetic_texts)
    assert accuracy > trained_lm.majority_rate_ + 0.15
    assert (
        trained_lm.cross_entropy(arithmetic_texts) < np.log(trained_lm.n_vocab_) - 0.5
    )


@pytest.mark.parametrize("epochs, cap", [(None, 100), (3, 3)])
def test_study_passes_epochs_as_the_cap_of_the_default_recipe(monkeypatch, epochs, cap):
    from skdni._study import _train_model

    monkeypatch.setattr(CharLanguageModel, "fit", lambda self, texts: self)
    lm = _train_model(TEXTS, 16, "gru", epochs, 7, "ignore", 0)
    params = lm.get_params()
    assert params["epochs"] == cap and params["units"] == 16
    assert params["cell"] == "gru" and params["random_state"] == 7
    assert params["unknown"] == "ignore"
    defaults = CharLanguageModel().get_params()
    for name in ("learning_rate", "lr_schedule", "patience", "early_stopping"):
        assert params[name] == defaults[name]
