"""skdni's model contract: one :class:`ModelRuntime` per Keras character model.

Every consumer of a model — the activation transformer (both paths), the ablation
scorer, generation, ``CharLanguageModel`` and ``skdni run --model`` — goes through the
runtime, so a model's vocabulary is checked once, the same way, and the NumPy
recurrence is built once.

The contract (any Keras character model of this shape, trained by skdni or not):

* **Input.** ``int32`` character ids through an ``Embedding`` (``mask_zero`` or not), or
  one-hot float vectors, ``Input(shape=(None, V))`` (optionally ``Masking(0.0)``).
* **Ids.** ``vocabulary`` is the model's own ``{char: input id}`` table. Ids may start
  at 0 (no padding id) or at 1 (id 0 is padding); with ``mask_zero=True`` id 0 is the
  mask and no character may use it. A list of characters is in id order: it starts at
  id 0 when the model has exactly as many input rows (Embedding rows or one-hot width)
  as characters, at id 1 when it has one more (or masks zero).
* **Recurrence.** One or more ``LSTM``/``GRU``/``SimpleRNN`` layers with
  ``return_sequences=True``.
* **Output.** Optionally a ``Dense`` softmax whose classes follow the model's own
  order: either one class per character, class ``j`` being the character with the
  ``j``-th smallest id, or one class per input id (``largest id + 1`` classes, class
  ``j`` being the character with id ``j``).

Sizes are checked against the model (Embedding rows or one-hot width, output
classes); a mismatch is an :class:`~skdni.InputError` naming both sizes.
"""

import hashlib
import weakref

import numpy as np

from .._backend import import_keras
from .._errors import InputError, InputTypeError, NotFittedError
from ._keras_inspect import (
    cell_kind,
    model_layers,
    one_hot_width,
    predict_states,
    recurrent_layers,
    state_sequence_model,
)
from ._recurrence import RecurrentStack, padded_batches
from ._vocabulary import encode_texts

__all__ = ["ModelRuntime", "is_char_language_model"]

# keras model -> {(vocabulary items, unknown): runtime}; weak, so a model that is
# no longer used frees its runtime
_CACHE = weakref.WeakKeyDictionary()


def is_char_language_model(model) -> bool:
    """Whether ``model`` looks like a :class:`~skdni.models.CharLanguageModel`
    (duck-typed, so this module needs no import of it)."""
    return getattr(model, "_skdni_char_language_model", False) or (
        hasattr(model, "vocabulary_") and hasattr(model, "model_")
    )


def _weights_fingerprint(keras_model) -> str:
    digest = hashlib.blake2b(digest_size=16)
    for weights in keras_model.get_weights():
        digest.update(np.ascontiguousarray(weights).tobytes())
    return digest.hexdigest()


def _input_spec(keras_model):
    """``(kind, n_inputs, mask_zero)`` of how the model reads characters."""
    keras = import_keras()
    for layer in model_layers(keras_model):
        if isinstance(layer, keras.layers.Embedding):
            return "embedding", int(layer.input_dim), bool(layer.mask_zero)
        if cell_kind(layer) is not None:
            break
    width = one_hot_width(keras_model)
    if width is None:
        raise InputError(
            f"Model {keras_model.name!r} reads neither int32 character ids through an "
            "Embedding nor one-hot vectors (Input(shape=(None, V)) of floats): skdni "
            "cannot feed it characters."
        )
    return "one_hot", width, False


def _output_size(keras_model) -> int | None:
    """Output classes of the final ``Dense`` (``None`` if the model ends otherwise)."""
    keras = import_keras()
    layers = [
        layer
        for layer in model_layers(keras_model)
        if not isinstance(layer, keras.layers.Activation | keras.layers.Dropout)
    ]
    last = layers[-1] if layers else None
    return int(last.units) if isinstance(last, keras.layers.Dense) else None


class ModelRuntime:
    """A Keras character model under skdni's model contract, ready to run.

    One object per (model, vocabulary, unknown policy), built once and cached by
    :meth:`for_model` (weakly keyed on the Keras model, rebuilt if its weights
    change). It holds the encoder (characters -> the model's input ids), the output
    class order, and the NumPy :class:`~skdni.models.RecurrentStack`, and runs the
    recurrence with optional per-unit overwrites (:meth:`run`, :meth:`step`) or the
    Keras model itself (:meth:`predict_states`, :meth:`predict_proba`).

    Parameters
    ----------
    keras_model : keras.Model
        The character model (see the module docstring for the contract).
    vocabulary : dict or list or str
        The model's own ``{char: input id}`` table, or characters in id order.
    unknown : {"error", "ignore"}, default="error"
        A character outside the vocabulary raises
        :class:`~skdni.UnknownCharacterError`, or is read as "no character" (the
        padding id, or the all-zero one-hot vector); ``"ignore"`` needs one.

    Attributes
    ----------
    keras_model : keras.Model
    vocabulary : dict of str to int
        Input id of each character.
    input_kind : {"embedding", "one_hot"}
    n_inputs : int
        Embedding rows or one-hot width.
    mask_zero : bool
        Whether id 0 is masked (``Embedding(mask_zero=True)``).
    first_id : int
        The smallest character id (0 or 1 usually).
    null_id : int or None
        What an unknown character (``unknown="ignore"``) and right padding read: the
        padding id (an Embedding id no character uses, 0) or, for one-hot input, the
        all-zero vector (row ``n_inputs`` of the stack's table); ``None`` when every
        Embedding row is a character.
    output_chars : list of str or None
        Character of each output class (``None`` for a class that is no character),
        ``None`` when the model has no Dense output.
    class_ids : ndarray of int or None
        Input id of each output class (to feed a sampled class back).
    stack : RecurrentStack or None
        The NumPy recurrence, ``None`` when the model has a layer it does not support
        (``stack_error`` says which; the Keras path still works).
    layer_names, layer_kinds, layer_units : list
        The recurrent layers in order.

    Examples
    --------
    >>> from skdni._backend import import_keras
    >>> keras = import_keras()
    >>> model = keras.Sequential([
    ...     keras.Input(shape=(None,), dtype="int32"),
    ...     keras.layers.Embedding(3, 4),
    ...     keras.layers.GRU(5, return_sequences=True),
    ...     keras.layers.Dense(3, activation="softmax")])
    >>> runtime = ModelRuntime.for_model(model, {"a": 0, "b": 1, "c": 2})
    >>> [ids.tolist() for ids in runtime.encode(["abc", "ca"])]
    [[0, 1, 2], [2, 0]]
    >>> runtime.first_id, runtime.null_id, runtime.output_chars
    (0, None, ['a', 'b', 'c'])
    >>> runtime.run(np.array([[0, 1, 2]]))["hidden"][0].shape
    (1, 3, 5)
    """

    def __init__(self, keras_model, vocabulary, *, unknown="error"):
        if unknown not in ("error", "ignore"):
            raise InputError(f"unknown must be 'error' or 'ignore', got {unknown!r}.")
        self.keras_model = keras_model
        self.unknown = unknown
        kind, n_inputs, mask_zero = _input_spec(keras_model)
        self.input_kind, self.n_inputs, self.mask_zero = kind, n_inputs, mask_zero
        self.vocabulary = self._check_vocabulary(vocabulary)
        ids = np.array(sorted(self.vocabulary.values()), dtype=np.int64)
        self.first_id = int(ids[0])
        if kind == "one_hot":
            self.null_id = n_inputs
        elif mask_zero or self.first_id > 0:
            self.null_id = 0
        else:
            self.null_id = None
        if unknown == "ignore" and self.null_id is None:
            raise InputError(
                f"unknown='ignore' reads an unknown character as padding, but model "
                f"{keras_model.name!r} has none: its {n_inputs} Embedding rows are all "
                "characters (ids 0..). Use unknown='error', or a model with a padding "
                "id."
            )
        self._set_outputs(_output_size(keras_model), ids)
        layers = recurrent_layers(keras_model)
        self.layer_names = [layer.name for layer in layers]
        self.layer_kinds = [cell_kind(layer) for layer in layers]
        self.layer_units = [int(layer.cell.units) for layer in layers]
        try:
            self.stack = RecurrentStack.from_keras(keras_model)
            self.stack_error = None
        except InputError as exc:
            self.stack, self.stack_error = None, str(exc)
        self._state_models = {}

    # ---------------------------------------------------------------- building
    @classmethod
    def for_model(cls, model, vocabulary=None, *, unknown=None) -> "ModelRuntime":
        """The runtime of a fitted ``CharLanguageModel`` or a Keras model (cached).

        Parameters
        ----------
        model : CharLanguageModel or keras.Model
            A fitted skdni model, or a Keras character model of the contract.
        vocabulary : dict or list or str, optional
            Required for a bare Keras model; a ``CharLanguageModel`` uses its own
            unless given.
        unknown : {"error", "ignore"}, optional
            Default: a ``CharLanguageModel``'s own ``unknown``, else ``"error"``.

        Returns
        -------
        ModelRuntime
        """
        keras = import_keras()
        if isinstance(model, keras.Model):
            if vocabulary is None:
                raise InputError(
                    "A bare Keras model needs vocabulary=: its own {char: input id} "
                    "table, or a list of characters in id order."
                )
            keras_model = model
        elif is_char_language_model(model):
            if not hasattr(model, "model_"):
                raise NotFittedError(
                    f"This {type(model).__name__} is not fitted yet; fit it before "
                    "inspecting it."
                )
            keras_model = model.model_
            if vocabulary is None:
                vocabulary = getattr(model, "char_to_id_", None) or model.vocabulary_
            if unknown is None:
                unknown = getattr(model, "unknown", "error")
        else:
            raise InputTypeError(
                f"model must be a fitted CharLanguageModel or a Keras model, got "
                f"{type(model).__name__}."
            )
        unknown = "error" if unknown is None else unknown
        key = (_vocabulary_key(vocabulary), unknown)
        fingerprint = _weights_fingerprint(keras_model)
        cached = _CACHE.setdefault(keras_model, {})
        runtime = cached.get(key)
        if runtime is None or runtime._fingerprint != fingerprint:
            runtime = cls(keras_model, vocabulary, unknown=unknown)
            runtime._fingerprint = fingerprint
            cached[key] = runtime
        return runtime

    def _check_vocabulary(self, vocabulary) -> dict[str, int]:
        name, n_inputs = self.keras_model.name, self.n_inputs
        rows = (
            f"an Embedding of {n_inputs} rows"
            if self.input_kind == "embedding"
            else f"a one-hot input of width {n_inputs}"
        )
        if isinstance(vocabulary, str | list | tuple):
            chars = list(vocabulary)
            first = 1 if self.mask_zero else None
            if first is None and len(chars) == n_inputs:
                first = 0
            elif first is None and len(chars) + 1 == n_inputs:
                first = 1
            if first is None or len(chars) + first > n_inputs:
                raise InputError(
                    f"The vocabulary lists {len(chars)} characters but model "
                    f"{name!r} has {rows}: a list gives ids from 0 when both sizes "
                    "are equal, from 1 (0 = padding) when the model has one more row. "
                    "Pass the model's own {char: input id} dict instead."
                )
            items = {char: i + first for i, char in enumerate(chars)}
            if len(items) != len(chars):
                raise InputError("The vocabulary lists a character twice.")
        elif isinstance(vocabulary, dict):
            items = dict(vocabulary)
        else:
            raise InputTypeError(
                f"vocabulary must be a {{char: input id}} dict or a list of characters "
                f"in id order, got {type(vocabulary).__name__}."
            )
        if not items:
            raise InputError("The vocabulary is empty.")
        if len(items) > n_inputs:
            raise InputError(
                f"The vocabulary has {len(items)} characters but model {name!r} has "
                f"{rows}: it cannot read them all."
            )
        seen = {}
        for char, idx in items.items():
            if not isinstance(char, str) or len(char) != 1:
                raise InputError(f"Vocabulary key {char!r} is not a single character.")
            if not isinstance(idx, int | np.integer) or isinstance(idx, bool):
                raise InputError(f"Vocabulary id {idx!r} of {char!r} is not an int.")
            if not 0 <= idx < n_inputs:
                raise InputError(
                    f"Vocabulary id {idx} of {char!r} is beyond the input of model "
                    f"{name!r}, which has {rows} (ids 0..{n_inputs - 1})."
                )
            if idx == 0 and self.mask_zero:
                raise InputError(
                    f"Vocabulary id 0 of {char!r}: model {name!r} masks id 0 "
                    "(Embedding(mask_zero=True)), so id 0 is padding, not a character."
                )
            if int(idx) in seen:
                raise InputError(
                    f"Characters {seen[int(idx)]!r} and {char!r} share input id {idx}."
                )
            seen[int(idx)] = char
        return {char: int(idx) for char, idx in items.items()}

    def _set_outputs(self, n_outputs, ids):
        self.n_outputs = n_outputs
        if n_outputs is None:
            self.output_chars, self.class_ids, self._class_of_id = None, None, None
            return
        by_id = {idx: char for char, idx in self.vocabulary.items()}
        n_chars, largest = len(ids), int(ids[-1])
        class_of_id = np.full(max(largest + 1, self.n_inputs + 1), -1, dtype=np.int64)
        if n_outputs == n_chars:
            self.class_ids = ids.copy()
        elif n_outputs == largest + 1:
            self.class_ids = np.arange(n_outputs, dtype=np.int64)
        else:
            raise InputError(
                f"Model {self.keras_model.name!r} predicts {n_outputs} output classes "
                f"but the vocabulary has {n_chars} characters (ids {int(ids[0])}.."
                f"{largest}): expected one class per character ({n_chars}) or one per "
                f"input id ({largest + 1})."
            )
        self.output_chars = [by_id.get(int(idx)) for idx in self.class_ids]
        known = np.array([by_id.get(int(i)) is not None for i in self.class_ids])
        class_of_id[self.class_ids[known]] = np.flatnonzero(known)
        self._class_of_id = class_of_id

    # ---------------------------------------------------------------- encoding
    @property
    def pad_id(self) -> int:
        """The id that right-pads batches (any id works: padding follows the text)."""
        return 0 if self.null_id is None else self.null_id

    def encode(self, texts) -> list:
        """Input ids (``int32``) of every character of every text.

        Parameters
        ----------
        texts : list of str
            The corpus.

        Returns
        -------
        ids : list of ndarray of shape (len(text),), int32
            One array per text.

        Raises
        ------
        UnknownCharacterError
            Naming the text, position and character of one outside the vocabulary
            under ``unknown="error"``; under ``"ignore"`` it is read as
            :attr:`null_id`.
        """
        return encode_texts(
            texts, self.vocabulary, unknown=self.unknown, unknown_id=self.pad_id
        )

    def next_classes(self, ids_list):
        """Output class of each character's *next* character, corpus row order.

        Parameters
        ----------
        ids_list : list of ndarray of int
            Encoded texts (:meth:`encode`).

        Returns
        -------
        classes : ndarray of int64, shape (n_chars,)
            -1 for the last character of a text and for an unknown next character.
        has_next : ndarray of bool, shape (n_chars,)
            False for the last character of each text.
        """
        self._require_outputs()
        has_next = np.concatenate(
            [np.arange(len(ids)) < len(ids) - 1 for ids in ids_list]
        )
        nexts = np.concatenate(
            [np.append(ids[1:], self.pad_id) for ids in ids_list]
        ).astype(np.int64)
        classes = self._class_of_id[nexts]  # -1 for padding / the null id
        classes[~has_next] = -1
        return classes, has_next

    def decode(self, classes) -> str:
        """The characters of output classes (U+FFFD for a class with none).

        Parameters
        ----------
        classes : iterable of int
            Output class indices.

        Returns
        -------
        text : str
            One character per class.
        """
        self._require_outputs()
        return "".join(self.output_chars[c] or "\ufffd" for c in classes)

    def batches(self, ids_list, batch_size: int):
        """Right-padded batches of similar length, padded with :attr:`pad_id`.

        Parameters
        ----------
        ids_list : list of ndarray of int
            Encoded texts (:meth:`encode`).
        batch_size : int
            Texts per batch.

        Returns
        -------
        batches : iterator of tuple
            ``(texts, ids, lengths, rows)`` per batch: the corpus indices of its
            texts, the ``(batch, time)`` ids, their lengths, and the character-table
            row of every valid step (text by text).
        """
        return padded_batches(ids_list, batch_size, pad_id=self.pad_id)

    def keras_inputs(self, ids) -> np.ndarray:
        """What the Keras model reads for a ``(batch, time)`` id array.

        Parameters
        ----------
        ids : array-like of int, shape (batch, time)
            Input ids.

        Returns
        -------
        inputs : ndarray
            The ids, or one-hot float32 vectors of shape ``(batch, time, n_inputs)``
            (the null id gives the all-zero vector).
        """
        ids = np.asarray(ids, dtype=np.int32)
        if self.input_kind == "embedding":
            return ids
        return np.eye(self.n_inputs + 1, self.n_inputs, dtype=np.float32)[ids]

    def _require_outputs(self):
        if self.output_chars is None:
            raise InputError(
                f"Model {self.keras_model.name!r} has no Dense output layer: no "
                "next-character classes to score or sample."
            )

    # ------------------------------------------------------------------ running
    def require_stack(self) -> RecurrentStack:
        """The NumPy recurrence, or the :class:`~skdni.InputError` saying why the
        model cannot have one.

        Returns
        -------
        stack : RecurrentStack
            The model's NumPy recurrence.
        """
        if self.stack is None:
            raise InputError(self.stack_error)
        return self.stack

    def run(
        self,
        ids,
        lengths=None,
        *,
        interventions=None,
        return_states=("hidden",),
        layers=None,
        return_probs=True,
    ) -> dict:
        """Run the NumPy recurrence on right-padded ids, units optionally overwritten.

        Parameters
        ----------
        ids : array-like of int, shape (batch, time)
            Right-padded input ids.
        lengths : array-like of int, shape (batch,), optional
            Valid steps per sequence (default: all).
        interventions : Intervention or list of Intervention, optional
            :class:`~skdni.models.Intervention` objects (or anything with the same
            attributes).
        return_states : tuple of str, default=("hidden",)
            The states returned, per layer.
        layers : list of int, optional
            Recurrent layers whose states are returned (default: all).
        return_probs : bool, default=True
            Also return the output distributions.

        Returns
        -------
        out : dict
            As :meth:`RecurrentStack.run`: ``out[state][i]`` of shape
            ``(batch, time, units)`` per layer ``i``, and ``out["probs"]``.
        """
        return self.require_stack().run(
            ids,
            lengths,
            interventions=interventions,
            return_states=return_states,
            layers=layers,
            return_probs=return_probs,
        )

    def initial_state(self, batch_size: int):
        """Zero states of every recurrent layer (see :meth:`RecurrentStack.step`).

        Parameters
        ----------
        batch_size : int
            Number of sequences.

        Returns
        -------
        state : StackState
            Zero ``h`` (and ``c`` for LSTM layers) of shape ``(batch_size, units)``.
        """
        return self.require_stack().initial_state(batch_size)

    def step(self, ids, state, interventions=None):
        """One character per sequence.

        Parameters
        ----------
        ids : array-like of int, shape (batch,)
            The character each sequence reads.
        state : StackState
            The states before it (:meth:`initial_state` at the start).
        interventions : Intervention or list of Intervention, optional
            Units overwritten at this step.

        Returns
        -------
        probs : ndarray of shape (batch, n_vocab)
            Next-character distributions.
        state : StackState
            The states after the character.
        """
        return self.require_stack().step(ids, state, interventions)

    def layer_index(self, layer) -> int:
        """Index of a recurrent layer: ``None`` (the first), a name or an index.

        Parameters
        ----------
        layer : None, str or int
            The layer (a negative index counts from the end).

        Returns
        -------
        index : int
            Its index among the recurrent layers.
        """
        from ._keras_inspect import layer_position

        listing = ", ".join(
            f"{i}: {name!r} ({kind})"
            for i, (name, kind) in enumerate(
                zip(self.layer_names, self.layer_kinds, strict=True)
            )
        )
        return layer_position(layer, self.layer_names, "The model", listing)

    def predict_states(self, ids, items, *, shape=None) -> list:
        """Per-step states through Keras itself (the reference path).

        Parameters
        ----------
        ids : int array of shape (batch, time)
            Right-padded input ids.
        items : tuple of (recurrent layer index, state)
            ``state`` is ``"hidden"``, ``"cell"`` or ``"both"`` (LSTM ``concat(h, c)``).
        shape : (int, int), optional
            Pad the batch to this shape first (with :attr:`pad_id`), so JAX compiles
            once per shape; the result is cut back to ``(batch, time)``.

        Returns
        -------
        list of ndarray of shape (batch, time, units)
            One array per item, in order.
        """
        ids = np.asarray(ids, dtype=np.int32)
        batch, time = ids.shape
        if shape is not None:
            padded = np.full(shape, self.pad_id, dtype=np.int32)
            padded[:batch, :time] = ids
            ids = padded
        items = tuple(items)
        submodel = self._state_models.get(items)
        if submodel is None:
            submodel = state_sequence_model(self._require_keras(), list(items))
            self._state_models[items] = submodel
        outputs = predict_states(submodel, self.keras_inputs(ids))
        outputs = [out[:batch, :time] for out in outputs]
        mask_id = None if self.stack is None else self.stack.mask_id
        if mask_id is None and self.mask_zero:
            mask_id = 0
        if mask_id is not None:
            masked = ids[:batch, :time] == mask_id
            for number, (index, state) in enumerate(items):
                if state != "hidden" and masked.any():
                    units = self.layer_units[index]
                    cells = slice(units, None) if state == "both" else slice(None)
                    outputs[number] = outputs[number].copy()
                    outputs[number][..., cells] = _carry_over(
                        outputs[number][..., cells], masked
                    )
        return outputs

    def predict_proba(self, ids) -> np.ndarray:
        """The Keras model's output for a ``(batch, time)`` id array.

        Parameters
        ----------
        ids : array-like of int, shape (batch, time)
            Input ids.

        Returns
        -------
        proba : ndarray of shape (batch, time, n_vocab)
            Next-character distributions.
        """
        keras_model = self._require_keras()
        return np.asarray(keras_model.predict_on_batch(self.keras_inputs(ids)))

    def __getstate__(self):
        # A pickled runtime (a joblib task's argument) keeps the NumPy parts only:
        # workers run the recurrence, and a Keras model is costly to ship.
        state = self.__dict__.copy()
        state["keras_model"] = None
        state["_state_models"] = {}
        return state

    def _require_keras(self):
        if self.keras_model is None:
            raise InputError(
                "This runtime was unpickled without its Keras model; build it again "
                "with ModelRuntime.for_model(model, vocabulary)."
            )
        return self.keras_model


def _carry_over(values, masked):
    """``values`` (batch, time, units) with each masked step holding the last unmasked
    step's values (zeros before any).

    Keras's RNN writes ``h_{t-1}`` as the output of a masked step ("the first state is
    the previous output"); the cell state it carries over such a step is ``c_{t-1}``.
    """
    steps = np.arange(masked.shape[1])
    last = np.maximum.accumulate(np.where(masked, -1, steps), axis=1)
    rows = np.arange(masked.shape[0])[:, None]
    carried = values[rows, np.maximum(last, 0)]
    return np.where((last >= 0)[..., None], carried, 0.0).astype(values.dtype)


def _vocabulary_key(vocabulary):
    if isinstance(vocabulary, dict):
        return ("dict", tuple(sorted((str(k), repr(v)) for k, v in vocabulary.items())))
    if isinstance(vocabulary, str | list | tuple):
        return ("list", tuple(map(repr, vocabulary)))
    return ("other", id(vocabulary))
