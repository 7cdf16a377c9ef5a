"""CharLanguageModel: an sklearn estimator around a Keras character-level RNN LM.

The Keras model it builds is one instance of skdni's model contract
(:mod:`skdni.models._runtime`, which any user model satisfies too)::

    Input(shape=(None,), dtype="int32")           char ids, 0 = padding (on the right)
    Embedding(n_vocab + 1, dim, name="embedding")  one-hot: identity rows, not trainable
    LSTM | GRU | SimpleRNN(units, return_sequences=True), n_layers times,
        named "lstm_0", "gru_1", "simple_rnn_0", ...  (Keras-default activations)
    Dense(n_vocab, activation="softmax", name="output")

Vocabulary character ``vocabulary_[i]`` has input id ``i + 1``; output class ``i`` is
``vocabulary_[i]``. Row ``t`` of a text's output is the distribution of the character
*after* chars ``0..t``.
"""

import json
import math
import os
import re
import tempfile
import zipfile
from numbers import Integral, Real
from pathlib import Path

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.utils import check_random_state

from .._backend import import_keras
from .._compat import (
    Interval,
    StrOptions,
    _fit_context,
    check_is_fitted,
    validate_params,
)
from .._errors import EmptyCorpusError, InputError, ModelFileError, SkdniError
from .._texts import check_texts, text_lengths
from ._keras_inspect import cell_kind, one_hot_width
from ._runtime import ModelRuntime
from ._sampling import check_generation_args, generate_texts, sample_classes
from ._vocabulary import PAD_ID, build_vocabulary, encode_texts

__all__ = ["CharLanguageModel"]

# Keras layer class and the stable layer-name prefix for each ``cell``.
_CELLS = {
    "lstm": ("LSTM", "lstm"),
    "gru": ("GRU", "gru"),
    "simple": ("SimpleRNN", "simple_rnn"),
}
# The member of the .keras zip that holds the vocabulary and hyper-parameters.
_SIDECAR = "skdni_char_lm.json"
_FORMAT = "skdni.CharLanguageModel/1"
# Prediction batches hold at most this many (text, step) cells, so long texts run in
# small batches and short texts in large ones.
_PREDICT_CELLS = 1 << 15
_MIN_BUCKET = 32
# An epoch "improves" the monitored loss only by more than this many nats per char:
# smaller gains do not keep training going (nor count for the learning-rate schedule).
_MIN_DELTA = 1e-3
# "plateau" multiplies the learning rate by this after an epoch without improvement.
_PLATEAU_FACTOR = 0.5


def _next_pow2(n: int) -> int:
    """The smallest power of two >= ``n`` (1 for ``n <= 1``)."""
    return 1 << max(int(n) - 1, 0).bit_length()


def _windows(ids_list, window: int):
    """Training windows: inputs chars [k, k+w), targets chars [k+1, k+w+1), padded.

    Windows start at 0, w, 2w, ... so every next-char target of a text is predicted
    exactly once; a text of one character has no target and gives no window.
    """
    n_windows = sum(-(-(len(ids) - 1) // window) for ids in ids_list if len(ids) > 1)
    x = np.zeros((n_windows, window), dtype=np.int32)
    y = np.zeros((n_windows, window), dtype=np.int32)
    w = np.zeros((n_windows, window), dtype=np.float32)
    row = 0
    for ids in ids_list:
        for start in range(0, len(ids) - 1, window):
            n = min(window, len(ids) - 1 - start)
            x[row, :n] = ids[start : start + n]
            y[row, :n] = ids[start + 1 : start + 1 + n] - 1
            w[row, :n] = 1.0
            row += 1
    return x, y, w


def _pad_rows(arrays, multiple: int):
    """Pad the number of rows to a multiple of the batch size (all-zero weights), so
    every batch has the same shape and JAX compiles the train step once."""
    n = len(arrays[0])
    extra = -n % multiple
    return [
        np.concatenate([a, np.zeros((extra,) + a.shape[1:], a.dtype)]) for a in arrays
    ]


def _generate_keras(
    runtime, seed_ids, n_chars: int, temperature: float, rng
) -> list[int]:
    """Reference generation through Keras: re-read the whole prefix for every char.

    The prefix sits in one right-padded buffer of fixed length, so JAX compiles once;
    right padding is causal, so the padded steps never change row ``t``.
    """
    size = _next_pow2(len(seed_ids) + n_chars)
    buffer = np.full((1, size), runtime.pad_id, dtype=np.int32)
    buffer[0, : len(seed_ids)] = seed_ids
    length = len(seed_ids)
    out = []
    for _ in range(n_chars):
        probs = runtime.predict_proba(buffer)[0, length - 1]
        char = int(sample_classes(probs[None], temperature, rng)[0])
        out.append(char)
        buffer[0, length] = runtime.class_ids[char]
        length += 1
    return out


def check_char_model(model, n_vocab: int | None = None, *, error=InputError) -> None:
    """Raise ``error`` unless ``model`` has the shape of a character RNN LM.

    Checks: an ``Embedding`` of character ids or a one-hot input, at least one
    recurrent layer (``return_sequences=True``), and a softmax ``Dense`` output (over
    ``n_vocab`` classes when given). The vocabulary against the input rows is
    :class:`~skdni.models.ModelRuntime`'s check.
    """
    keras = import_keras()
    if not isinstance(model, keras.Model):
        raise error(f"Expected a Keras model, got {type(model).__name__}.")
    layers = [
        layer
        for layer in model.layers
        if not isinstance(layer, keras.layers.InputLayer)
    ]
    problems = []
    embedding_first = layers and isinstance(layers[0], keras.layers.Embedding)
    if not embedding_first and one_hot_width(model) is None:
        problems.append(
            "its first layer is not an Embedding of character ids and its input is "
            "not one-hot vectors"
        )
    recurrent = [layer for layer in layers if cell_kind(layer) is not None]
    if not recurrent:
        problems.append("it has no LSTM, GRU or SimpleRNN layer")
    elif not all(layer.return_sequences for layer in recurrent):
        problems.append("a recurrent layer does not return sequences")
    output = layers[-1] if layers else None
    if not isinstance(output, keras.layers.Dense) or (
        getattr(output.activation, "__name__", "") != "softmax"
    ):
        problems.append("its last layer is not a softmax Dense layer")
    elif n_vocab is not None and output.units != n_vocab:
        problems.append(
            f"its output has {output.units} classes, the vocabulary {n_vocab}"
        )
    if problems:
        raise error(
            "Not a character RNN language model (Embedding or one-hot input -> "
            "recurrent layers -> softmax Dense): " + "; ".join(problems) + "."
        )


class CharLanguageModel(BaseEstimator):
    """A character-level recurrent language model (Keras) as an sklearn estimator.

    ``fit(texts)`` learns to predict each character from the ones before it.
    ``predict_proba(texts)`` returns one row per character (skdni's character table):
    row ``t`` of a text is the distribution of the character *after* chars ``0..t``.
    The Keras model (``model_``) follows skdni's model contract (see the module
    docstring), so the activation transformer and the interventions read it directly.

    Parameters
    ----------
    cell : {"lstm", "gru", "simple"}, default="lstm"
        Recurrent layer type: ``keras.layers.LSTM``, ``GRU`` or ``SimpleRNN``.
    units : int, default=192
        Units per recurrent layer.
    n_layers : int, default=1
        Number of stacked recurrent layers.
    embedding : {"embedding", "one_hot"}, default="embedding"
        A trained ``Embedding`` of ``embedding_dim`` columns, or a fixed one-hot input
        (an ``Embedding`` with identity rows, ``trainable=False``; ``embedding_dim`` is
        then ignored).
    embedding_dim : int, default=32
        Width of the trained embedding.
    window : int, default=64
        Training windows: a text is cut into windows of ``window`` input characters
        (each target is the next character); a shorter text is one padded window.
        The recurrent state starts from zero in every window. Prediction always reads
        whole texts.
    epochs : int, default=100
        Maximum number of passes over the training windows: a cap. By default
        training runs until early stopping (see ``patience``), which on real corpora
        comes long before the cap; pass a small ``epochs`` for a quick model.
    batch_size : int, default=32
        Windows per training step (32 converged in fewer epochs than 64 on stdlib
        Python, at less CPU time per epoch: README).
    learning_rate : float, default=0.005
        Adam's initial learning rate (gradients are clipped to norm 1).
    lr_schedule : {"plateau", "constant"}, default="plateau"
        ``"plateau"`` halves the learning rate after every epoch in which the
        monitored loss did not improve (``keras.callbacks.ReduceLROnPlateau``);
        ``"constant"`` keeps ``learning_rate``. The rate of each epoch is in
        ``history_["learning_rate"]``.
    validation_fraction : float, default=0.1
        Fraction of the *texts* held out to monitor the loss (the split is by text, so
        no text is in both). With 0, or a corpus whose texts do not give a
        validation text and a training text that both have a target (fewer than
        ``1 / validation_fraction`` texts, e.g. one long text), the *training* loss
        is monitored; training still stops, but only when the training loss stops
        improving, so pass a smaller ``epochs`` for such a corpus, or cut it into
        more texts.
    early_stopping : bool, default=True
        Stop when the monitored loss did not improve by more than 0.001 nats per
        character for ``patience`` epochs; the weights of the best epoch are
        restored either way. With ``False`` training runs all ``epochs``.
    patience : int, default=3
        Epochs without improvement before stopping.
    dropout : float, default=0.1
        Training-time dropout rate of the recurrent layers' inputs and recurrent
        state (their ``dropout`` and ``recurrent_dropout``): a regularizer, chosen
        with the other defaults on stdlib Python source (README). Predictions,
        activations and interventions never drop units.
    unknown : {"error", "ignore"}, default="error"
        What ``predict_proba``, ``score``, ``encode`` and ``generate`` do with a
        character outside ``vocabulary_``: raise :class:`~skdni.UnknownCharacterError`
        naming the text, position and character; or read it as the padding id 0 (an
        all-zero input vector for the one-hot input and the trained embedding alike —
        the state still advances, but learns nothing of the char). Its row is still
        output; as a *target* it counts as an error in ``score`` and is left out of
        ``cross_entropy``.
    random_state : int, RandomState instance or None, default=None
        Seeds the weights, the validation split and the shuffling
        (``keras.utils.set_random_seed``, which also reseeds Python's and NumPy's
        global generators). The same int gives the same weights.
    verbose : int, default=0
        ``> 0`` shows a progress bar over epochs with the losses.

    Attributes
    ----------
    vocabulary_ : list of str
        The character of each output class: the sorted distinct characters of the
        training texts (for :meth:`from_keras`, the model's own order).
    char_to_id_ : dict of str to int
        Input id of each character (``vocabulary_[i]`` -> ``i + 1``, 0 is padding,
        after ``fit``; the model's own table after :meth:`from_keras`).
    n_vocab_ : int
        Number of characters (output classes).
    model_ : keras.Model
        The trained Keras model.
    runtime_ : ModelRuntime
        The model under skdni's model contract (encoder, output classes, NumPy
        recurrence), shared with every consumer of this model.
    history_ : dict of str to list of float
        Per-epoch ``loss``, ``accuracy`` and ``learning_rate`` (and ``val_loss``,
        ``val_accuracy`` when texts were held out); its length is the number of
        epochs run.
    majority_char_ : str
        The most frequent next character in the texts given to ``fit``.
    majority_rate_ : float
        Accuracy of always predicting ``majority_char_`` on the texts given to
        ``fit``: the chance level that ``score`` should beat.
    n_train_chars_ : int
        Characters in the training texts (without the validation texts).

    Examples
    --------
    >>> from skdni.models import CharLanguageModel
    >>> texts = ["abcabcabcabc", "cabcab", "bcabca"] * 4
    >>> lm = CharLanguageModel(units=8, epochs=2, random_state=0).fit(texts)
    >>> lm.predict_proba(["abc"]).shape
    (3, 3)
    >>> lm.vocabulary_
    ['a', 'b', 'c']
    >>> len(lm.generate("ab", 5, random_state=0))
    7
    """

    # how skdni.models._runtime recognises it without importing this module
    _skdni_char_language_model = True

    _parameter_constraints: dict = {
        "cell": [StrOptions(set(_CELLS))],
        "units": [Interval(Integral, 1, None, closed="left")],
        "n_layers": [Interval(Integral, 1, None, closed="left")],
        "embedding": [StrOptions({"embedding", "one_hot"})],
        "embedding_dim": [Interval(Integral, 1, None, closed="left")],
        "window": [Interval(Integral, 1, None, closed="left")],
        "epochs": [Interval(Integral, 1, None, closed="left")],
        "batch_size": [Interval(Integral, 1, None, closed="left")],
        "learning_rate": [Interval(Real, 0, None, closed="neither")],
        "lr_schedule": [StrOptions({"plateau", "constant"})],
        "validation_fraction": [Interval(Real, 0, 1, closed="left")],
        "early_stopping": ["boolean"],
        "patience": [Interval(Integral, 0, None, closed="left")],
        "dropout": [Interval(Real, 0, 1, closed="left")],
        "unknown": [StrOptions({"error", "ignore"})],
        "random_state": ["random_state"],
        "verbose": ["verbose"],
    }

    def __init__(
        self,
        *,
        cell="lstm",
        units=192,
        n_layers=1,
        embedding="embedding",
        embedding_dim=32,
        window=64,
        epochs=100,
        batch_size=32,
        learning_rate=0.005,
        lr_schedule="plateau",
        validation_fraction=0.1,
        early_stopping=True,
        patience=3,
        dropout=0.1,
        unknown="error",
        random_state=None,
        verbose=0,
    ):
        self.cell = cell
        self.units = units
        self.n_layers = n_layers
        self.embedding = embedding
        self.embedding_dim = embedding_dim
        self.window = window
        self.epochs = epochs
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.lr_schedule = lr_schedule
        self.validation_fraction = validation_fraction
        self.early_stopping = early_stopping
        self.patience = patience
        self.dropout = dropout
        self.unknown = unknown
        self.random_state = random_state
        self.verbose = verbose

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.two_d_array = False
        tags.input_tags.string = True
        tags.target_tags.required = False
        return tags

    # ------------------------------------------------------------------ fit

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, texts, y=None):
        """Build the vocabulary from ``texts`` and train the model on them.

        Parameters
        ----------
        texts : list of str
            The training corpus. Texts of one character have no next-character target
            and only contribute to the vocabulary.
        y : None
            Ignored; the targets are the texts' own next characters.

        Returns
        -------
        self : CharLanguageModel
        """
        texts = check_texts(texts)
        keras = import_keras()
        rng = check_random_state(self.random_state)
        seed = int(rng.randint(np.iinfo(np.int32).max))

        vocabulary = build_vocabulary(texts)
        ids_list = encode_texts(texts, vocabulary)
        lengths = text_lengths(texts)
        if not (lengths > 1).any():
            raise EmptyCorpusError(
                "No text has a next character to learn: every text has one character. "
                "A language model needs texts of at least two characters."
            )
        n_vocab = len(vocabulary)

        train, valid = self._split(lengths, rng)
        # A window longer than the longest text only adds padding.
        window = int(min(self.window, max(lengths[train].max() - 1, 1)))
        x, y_true, weights = _pad_rows(
            _windows([ids_list[i] for i in train], window), self.batch_size
        )
        validation_data = None
        if len(valid):
            validation_data = tuple(
                _pad_rows(
                    _windows([ids_list[i] for i in valid], window), self.batch_size
                )
            )

        keras.utils.set_random_seed(seed)
        model = self._build_model(keras, n_vocab)
        model.compile(
            optimizer=keras.optimizers.Adam(
                learning_rate=self.learning_rate, clipnorm=1.0
            ),
            # Padded targets have weight 0 and must not dilute the loss.
            loss=keras.losses.SparseCategoricalCrossentropy(
                reduction="mean_with_sample_weight"
            ),
            weighted_metrics=[keras.metrics.SparseCategoricalAccuracy(name="accuracy")],
        )
        monitor = "val_loss" if validation_data is not None else "loss"
        callbacks = [
            keras.callbacks.EarlyStopping(
                monitor=monitor,
                min_delta=_MIN_DELTA,
                patience=self.patience if self.early_stopping else self.epochs,
                restore_best_weights=True,
            ),
        ]
        if self.lr_schedule == "plateau":
            callbacks.append(
                keras.callbacks.ReduceLROnPlateau(
                    monitor=monitor,
                    factor=_PLATEAU_FACTOR,
                    patience=1,
                    min_delta=_MIN_DELTA,
                )
            )
        # Last, so its postfix shows the learning rate the schedule logged.
        callbacks.append(_progress_callback(keras, self.epochs, self.verbose))
        history = model.fit(
            x,
            y_true,
            sample_weight=weights,
            validation_data=validation_data,
            batch_size=self.batch_size,
            epochs=self.epochs,
            shuffle=True,
            callbacks=callbacks,
            verbose=0,
        )

        self.vocabulary_ = vocabulary
        self.char_to_id_ = {char: i + 1 for i, char in enumerate(vocabulary)}
        self.n_vocab_ = n_vocab
        self.model_ = model
        self.history_ = {
            key: [float(v) for v in values] for key, values in history.history.items()
        }
        counts = np.bincount(
            np.concatenate([ids[1:] for ids in ids_list]), minlength=n_vocab + 1
        )
        self.majority_char_ = vocabulary[int(np.argmax(counts[1:]))]
        self.majority_rate_ = float(counts[1:].max() / counts.sum())
        self.n_train_chars_ = int(lengths[train].sum())
        return self

    def _split(self, lengths, rng):
        """Indices of training and validation texts (by text; validation only when
        both sides keep a text with a target)."""
        order = rng.permutation(len(lengths))
        n_valid = int(round(self.validation_fraction * len(lengths)))
        if n_valid == 0 or n_valid >= len(lengths):
            return order, order[:0]
        valid, train = np.sort(order[:n_valid]), np.sort(order[n_valid:])
        if not ((lengths[valid] > 1).any() and (lengths[train] > 1).any()):
            return np.sort(order), order[:0]
        return train, valid

    def _build_model(self, keras, n_vocab: int):
        layer_class, prefix = _CELLS[self.cell]
        one_hot = self.embedding == "one_hot"
        inputs = keras.Input(shape=(None,), dtype="int32", name="chars")
        embedding = keras.layers.Embedding(
            n_vocab + 1,
            n_vocab if one_hot else self.embedding_dim,
            trainable=not one_hot,
            name="embedding",
        )
        hidden = embedding(inputs)
        table = np.asarray(embedding.get_weights()[0])
        if one_hot:
            table = np.eye(n_vocab + 1, n_vocab, k=-1, dtype=table.dtype)
        # The padding row is zero: unknown characters (unknown="ignore") read as "no
        # input"; it never gets a gradient, since padded steps have weight 0.
        table[PAD_ID] = 0.0
        embedding.set_weights([table])
        for i in range(self.n_layers):
            layer = getattr(keras.layers, layer_class)(
                self.units,
                return_sequences=True,
                dropout=self.dropout,
                recurrent_dropout=self.dropout,
                name=f"{prefix}_{i}",
            )
            hidden = layer(hidden)
        outputs = keras.layers.Dense(n_vocab, activation="softmax", name="output")(
            hidden
        )
        return keras.Model(inputs, outputs, name="char_lm")

    # ------------------------------------------------------------- predict

    @property
    def runtime_(self) -> ModelRuntime:
        """The model's :class:`~skdni.models.ModelRuntime` (built once, cached)."""
        check_is_fitted(self, "model_")
        return ModelRuntime.for_model(self)

    def encode(self, texts) -> list[np.ndarray]:
        """Input ids of every character of every text (the padding id for an unknown
        character with "ignore").

        Parameters
        ----------
        texts : list of str
            The corpus.

        Returns
        -------
        ids : list of ndarray of shape (len(text),), int32
            One array of input ids per text.

        Raises
        ------
        UnknownCharacterError
            Naming the text, position and character, when ``unknown="error"``.
        """
        return self.runtime_.encode(texts)

    def predict_proba(self, texts) -> np.ndarray:
        """Next-character distributions, one row per character.

        Parameters
        ----------
        texts : list of str
            The corpus.

        Returns
        -------
        proba : ndarray of shape (n_chars, n_vocab_)
            Row ``t`` of a text: the probability of each ``vocabulary_`` character
            coming after chars ``0..t``. Rows are in corpus order.
        """
        check_is_fitted(self, "model_")
        ids_list = self.encode(texts)
        return self._predict_ids(ids_list)

    def _predict_ids(self, ids_list) -> np.ndarray:
        """Run the model over texts grouped into power-of-two length buckets and
        power-of-two batches: few distinct shapes, so JAX compiles a few times only."""
        runtime = self.runtime_
        lengths = np.array([len(ids) for ids in ids_list], dtype=np.int64)
        offsets = np.concatenate([[0], np.cumsum(lengths)])
        proba = np.empty((int(offsets[-1]), self.n_vocab_), dtype=np.float64)
        buckets = np.array([max(_MIN_BUCKET, _next_pow2(n)) for n in lengths])
        for bucket in np.unique(buckets):
            members = np.flatnonzero(buckets == bucket)
            cap = max(1, _PREDICT_CELLS // int(bucket))
            batch = min(_next_pow2(len(members)), 1 << int(math.log2(cap)))
            for start in range(0, len(members), batch):
                chunk = members[start : start + batch]
                x = np.full((batch, int(bucket)), runtime.pad_id, dtype=np.int32)
                for row, i in enumerate(chunk):
                    x[row, : lengths[i]] = ids_list[i]
                out = runtime.predict_proba(x)
                for row, i in enumerate(chunk):
                    proba[offsets[i] : offsets[i + 1]] = out[row, : lengths[i]]
        return proba

    def predict(self, texts) -> np.ndarray:
        """The most likely next character after each character.

        Parameters
        ----------
        texts : list of str
            The corpus.

        Returns
        -------
        chars : ndarray of str of shape (n_chars,)
            One row per character, in corpus order.
        """
        proba = self.predict_proba(texts)
        return np.asarray(self.vocabulary_)[np.argmax(proba, axis=1)]

    def _targets(self, texts):
        """Probabilities and target class (-1 for an unknown char) of the rows that
        have a next character."""
        ids_list = self.encode(texts)
        proba = self._predict_ids(ids_list)
        targets, has_next = self.runtime_.next_classes(ids_list)
        targets = targets[has_next]
        if not len(targets):
            raise EmptyCorpusError(
                "No text has a next character to predict: every text has one character."
            )
        return proba[has_next], targets

    def score(self, texts, y=None) -> float:
        """Next-character accuracy over the characters that have a next character.

        The last character of each text has no target and is left out; a target
        outside the vocabulary (``unknown="ignore"``) counts as an error.

        Parameters
        ----------
        texts : list of str
            The texts to score.
        y : None
            Ignored; the targets are the texts' own next characters.

        Returns
        -------
        accuracy : float
            Share of those characters whose next character is the most likely.
        """
        proba, targets = self._targets(texts)
        return float(np.mean(np.argmax(proba, axis=1) == targets))

    def cross_entropy(self, texts) -> float:
        """Mean next-character cross-entropy in nats (``exp`` of it is perplexity).

        Rows whose target is outside the vocabulary (``unknown="ignore"``) are left
        out: the model gives them probability 0.

        Parameters
        ----------
        texts : list of str
            The texts to score.

        Returns
        -------
        cross_entropy : float
            Mean of ``-log p(next character)``, in nats.
        """
        proba, targets = self._targets(texts)
        known = targets >= 0
        if not known.any():
            raise InputError("No next character of these texts is in the vocabulary.")
        p = proba[np.flatnonzero(known), targets[known]]
        return float(-np.mean(np.log(np.maximum(p, np.finfo(np.float64).tiny))))

    # ------------------------------------------------------------ generate

    def generate(
        self,
        seed: str,
        n_chars: int,
        *,
        temperature: float = 1.0,
        random_state=None,
        interventions=None,
    ) -> str:
        """Continue ``seed`` by ``n_chars`` sampled characters.

        The model reads the seed, then each sampled character in turn, with skdni's
        NumPy recurrence (:mod:`skdni.models._recurrence`), one step per character.

        Parameters
        ----------
        seed : str
            A non-empty prefix.
        n_chars : int
            Number of characters to add.
        temperature : float, default=1.0
            Probabilities are raised to ``1 / temperature`` and renormalized; 0 always
            takes the most likely character.
        random_state : int, RandomState instance or None, default=None
            Draws the characters (``rng.choice``).
        interventions : optional
            Unit overwrites applied at every step, passed to
            ``RecurrentStack.step`` (see :mod:`skdni.intervention`).

        Returns
        -------
        text : str
            ``seed`` followed by the ``n_chars`` generated characters.
        """
        return self._generate(seed, n_chars, temperature, random_state, interventions)

    def _generate(
        self, seed, n_chars, temperature, random_state, interventions, *, engine="numpy"
    ):
        runtime = self.runtime_
        check_generation_args(seed, n_chars, temperature)
        seed_ids = runtime.encode([seed])[0]
        if engine == "numpy":
            new = generate_texts(
                runtime, seed_ids, n_chars, 1, interventions, temperature, random_state
            )[0]
            return seed + new
        if interventions is not None:
            raise InputError("The Keras reference generator takes no interventions.")
        rng = check_random_state(random_state)
        new = _generate_keras(runtime, seed_ids, n_chars, temperature, rng)
        return seed + runtime.decode(new)

    # ----------------------------------------------------------- save/load

    def save(self, path) -> None:
        """Save to one ``.keras`` file: the Keras model plus a JSON member with the
        vocabulary, the hyper-parameters and the fitted statistics.

        Any Keras tool loads the file as a plain model; :meth:`load` restores the
        estimator.

        Parameters
        ----------
        path : str or path-like
            The file to write; it must end in ``.keras``.
        """
        check_is_fitted(self, "model_")
        path = Path(path)
        if path.suffix != ".keras":
            raise InputError(f"Model files end in '.keras', got {str(path)!r}.")
        self.model_.save(path)
        params = self.get_params()
        if not isinstance(params["random_state"], Integral | None):
            params["random_state"] = None
        sidecar = {
            "format": _FORMAT,
            "vocabulary": self.vocabulary_,
            "char_to_id": self.char_to_id_,
            "params": params,
            "history": self.history_,
            "majority_char": self.majority_char_,
            "majority_rate": self.majority_rate_,
            "n_train_chars": self.n_train_chars_,
        }
        with zipfile.ZipFile(path, "a") as archive:
            archive.writestr(_SIDECAR, json.dumps(sidecar))

    @classmethod
    def load(cls, path, *, vocabulary=None) -> "CharLanguageModel":
        """Load a model written by :meth:`save`, or any Keras character model file
        with its ``vocabulary`` (Keras ``safe_mode=True``).

        Parameters
        ----------
        path : str or path-like
            A ``.keras`` file.
        vocabulary : dict or list, optional
            For a ``.keras`` file that :meth:`save` did not write: the model's own
            ``{char: input id}`` table or its characters in id order (see
            :meth:`from_keras`). Ignored for a skdni file, which has its own.

        Returns
        -------
        model : CharLanguageModel
            The fitted estimator.

        Raises
        ------
        ModelFileError
            When the file is missing, is not a ``.keras`` archive, or is neither a
            skdni model nor given a vocabulary.
        """
        path = Path(path)
        if not path.is_file():
            raise ModelFileError(f"No model file at {str(path)!r}.")
        if path.suffix != ".keras" or not zipfile.is_zipfile(path):
            raise ModelFileError(
                f"{str(path)!r} is not a .keras model file (a zip archive written by "
                "CharLanguageModel.save or keras.Model.save)."
            )
        with zipfile.ZipFile(path) as archive:
            if _SIDECAR not in archive.namelist() and vocabulary is not None:
                return cls.from_keras(_load_keras_file(path), vocabulary)
            if _SIDECAR not in archive.namelist():
                raise ModelFileError(
                    f"{str(path)!r} is a Keras file but not a skdni CharLanguageModel "
                    f"(it has no {_SIDECAR!r} with the vocabulary): pass its "
                    "vocabulary (load(path, vocabulary=...), or skdni run "
                    "--vocabulary FILE)."
                )
            try:
                sidecar = json.loads(archive.read(_SIDECAR))
            except ValueError as exc:
                raise ModelFileError(
                    f"{str(path)!r}: unreadable {_SIDECAR}: {exc}"
                ) from exc
        if not isinstance(sidecar, dict) or sidecar.get("format") != _FORMAT:
            raise ModelFileError(f"{str(path)!r}: unknown skdni model format.")
        model = _load_keras_file(path)
        est = _estimator_from_sidecar(cls, sidecar, path)
        table = sidecar.get("char_to_id") or sidecar["vocabulary"]
        est._set_fitted(model, table, error=ModelFileError)
        est.history_ = sidecar["history"]
        est.majority_char_ = sidecar["majority_char"]
        est.majority_rate_ = sidecar["majority_rate"]
        est.n_train_chars_ = sidecar["n_train_chars"]
        return est

    @classmethod
    def from_keras(cls, model, vocabulary, **params) -> "CharLanguageModel":
        """Wrap any trained Keras character model of skdni's contract (no training).

        Parameters
        ----------
        model : keras.Model
            Int ids through an ``Embedding`` (ids from 0 or 1, ``mask_zero`` or not)
            or one-hot input -> recurrent layers -> ``Dense`` softmax with one class
            per character, in id order (see :class:`~skdni.models.ModelRuntime`).
        vocabulary : dict or list of str
            The model's own ``{char: input id}`` table, or the characters in id order
            (from id 0 when the model has as many input rows as characters, from 1
            when it has one more). Checked against the model.
        **params
            Estimator parameters (e.g. ``unknown="ignore"``, which needs a padding id
            or one-hot input).

        Notes
        -----
        ``majority_rate_`` and ``history_`` are unknown and set to NaN / ``{}``;
        calling ``fit`` retrains from scratch with the estimator's parameters.
        """
        est = cls(**params)
        est._set_fitted(model, vocabulary, error=InputError)
        est.history_ = {}
        est.majority_char_ = None
        est.majority_rate_ = float("nan")
        est.n_train_chars_ = 0
        return est

    def _set_fitted(self, model, vocabulary, *, error):
        check_char_model(model, error=error)
        try:
            runtime = ModelRuntime(model, vocabulary, unknown=self.unknown)
        except InputError as exc:
            raise error(str(exc)) from None
        if runtime.n_outputs != len(runtime.vocabulary):
            raise error(
                f"A CharLanguageModel needs one output class per character: the "
                f"model's output has {runtime.n_outputs} classes, the vocabulary "
                f"{len(runtime.vocabulary)} characters. Inspect it directly with "
                "LSTMActivationTransformer(model, vocabulary=...)."
            )
        self.vocabulary_ = list(runtime.output_chars)
        self.char_to_id_ = dict(runtime.vocabulary)
        self.n_vocab_ = len(self.vocabulary_)
        self.model_ = model

    # --------------------------------------------------------------- pickle

    def __getstate__(self):
        state = super().__getstate__().copy()
        if "model_" in state:
            # Keras's own pickling goes through a private API; the public .keras
            # format is stable and safe to load.
            with tempfile.TemporaryDirectory() as tmp:
                file = os.path.join(tmp, "model.keras")
                self.model_.save(file)
                state["model_"] = Path(file).read_bytes()
        return state

    def __setstate__(self, state):
        if isinstance(state.get("model_"), bytes):
            keras = import_keras()
            state = dict(state)
            with tempfile.TemporaryDirectory() as tmp:
                file = os.path.join(tmp, "model.keras")
                Path(file).write_bytes(state["model_"])
                state["model_"] = keras.saving.load_model(
                    file, compile=False, safe_mode=True
                )
        super().__setstate__(state)


_SIDECAR_KEYS = (
    "vocabulary",
    "params",
    "history",
    "majority_char",
    "majority_rate",
    "n_train_chars",
)


def _estimator_from_sidecar(cls, sidecar: dict, path) -> "CharLanguageModel":
    """The unfitted estimator that the sidecar describes; a damaged sidecar (a
    missing key, an unknown or invalid parameter, a bad vocabulary) is a
    :class:`ModelFileError`."""
    damaged = f"{str(path)!r}: damaged {_SIDECAR}"
    missing = [key for key in _SIDECAR_KEYS if key not in sidecar]
    if missing:
        raise ModelFileError(f"{damaged}: missing {', '.join(missing)}.")
    params = sidecar["params"]
    if not isinstance(params, dict):
        raise ModelFileError(f"{damaged}: 'params' is not a mapping.")
    unknown = sorted(set(params) - set(cls._get_param_names()))
    if unknown:
        raise ModelFileError(f"{damaged}: unknown parameter(s) {unknown}.")
    est = cls(**params)
    try:
        validate_params(est)
        _check_sidecar_vocabulary(sidecar["vocabulary"], sidecar.get("char_to_id"))
    except SkdniError as exc:
        raise ModelFileError(f"{damaged}: {exc}") from exc
    return est


def _check_sidecar_vocabulary(vocabulary, char_to_id=None) -> None:
    # the model's own order: by input id when the sidecar has the id table, by
    # code point otherwise (files written before the table was saved)
    if not isinstance(vocabulary, list) or not vocabulary:
        raise InputError("'vocabulary' is not a non-empty list of characters.")
    for i, char in enumerate(vocabulary):
        if not isinstance(char, str) or len(char) != 1:
            raise InputError(
                f"vocabulary entry {i} is {char!r}; expected a single character."
            )
    if len(set(vocabulary)) != len(vocabulary):
        raise InputError("'vocabulary' lists a character twice.")
    if char_to_id is None:
        expected = sorted(vocabulary)
    elif not isinstance(char_to_id, dict) or set(char_to_id) != set(vocabulary):
        raise InputError("'char_to_id' and 'vocabulary' list different characters.")
    else:
        expected = sorted(vocabulary, key=char_to_id.__getitem__)
    if vocabulary != expected:
        raise InputError(
            "'vocabulary' is not sorted by input id (code point for old files)."
        )


def _keras_load_error(path, exc: Exception) -> str:
    """A short message for a file Keras refuses: which file, what was refused, how
    to load a trusted file deliberately (Keras's own message can hold KBs of
    model config)."""
    message = str(exc)
    registered = re.findall(r"'registered_name': '([^']+)'", message)
    custom = [name for name in registered if not name.startswith("keras")]
    if "Lambda" in message and "lambda" in message:
        what = "a Lambda layer holding Python code, which safe mode does not run"
    elif custom:
        what = f"custom object {custom[-1]!r}, which is not registered in this process"
    else:
        what = f"the model ({message.split('. ')[0].splitlines()[0][:200]})"
    return (
        f"Keras could not load {str(path)!r}: it refused {what}. If you trust the "
        "file, load it deliberately: import/register its custom objects, "
        "model = keras.saving.load_model(path, safe_mode=False), then "
        "CharLanguageModel.from_keras(model, vocabulary)."
    )


def _load_keras_file(path):
    keras = import_keras()
    try:
        return keras.saving.load_model(path, compile=False, safe_mode=True)
    except Exception as exc:  # Keras raises many types for a broken archive
        raise ModelFileError(_keras_load_error(path, exc)) from exc


def _progress_callback(keras, epochs: int, verbose: int):
    """A Keras callback that shows a tqdm bar over epochs (disabled when quiet)."""
    from tqdm.auto import tqdm

    class _EpochProgress(keras.callbacks.Callback):
        def on_train_begin(self, logs=None):
            self.bar = tqdm(
                total=epochs,
                desc="CharLanguageModel",
                unit="epoch",
                disable=not verbose,
            )

        def on_epoch_end(self, epoch, logs=None):
            if logs is not None and "learning_rate" not in logs:
                # ReduceLROnPlateau logs the rate of the epoch; with a constant rate
                # nothing does, and history_ should have it either way.
                rate = self.model.optimizer.learning_rate
                logs["learning_rate"] = float(np.asarray(rate))
            self.bar.set_postfix({k: f"{v:.4g}" for k, v in (logs or {}).items()})
            self.bar.update(1)

        def on_train_end(self, logs=None):
            # Early stopping ends before ``epochs``: show the bar complete.
            self.bar.total = self.bar.n
            self.bar.refresh()
            self.bar.close()

    return _EpochProgress()
