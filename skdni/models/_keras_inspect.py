"""Reading a Keras character model: its recurrent layers, input table and vocabulary.

skdni inspects any Keras model of the contract shape (``Input`` of int32 character ids
-> ``Embedding`` -> one or more ``LSTM``/``GRU``/``SimpleRNN`` layers with
``return_sequences=True`` -> ``Dense`` softmax), whether a
:class:`~skdni.models.CharLanguageModel` trained it or not. This module finds the
pieces; :mod:`skdni.models._recurrence` recomputes them in NumPy.
"""

import copy

import numpy as np
from sklearn.base import clone

from .._backend import import_keras
from .._errors import (
    InputError,
    InputTypeError,
    LayerNotFoundError,
    NoRecurrentLayerError,
    NotFittedError,
)

__all__ = [
    "cell_kind",
    "clone_sharing",
    "keras_model_and_vocabulary",
    "layer_position",
    "model_layers",
    "recurrent_layers",
    "resolve_layers",
    "predict_states",
    "state_sequence_model",
    "unknown_policy",
]


def model_layers(model) -> list:
    """The layers of a model in order, nested ``Sequential``/``Model`` flattened."""
    keras = import_keras()
    layers = []
    for layer in model.layers:
        if isinstance(layer, keras.Model):
            layers.extend(model_layers(layer))
        else:
            layers.append(layer)
    return layers


def cell_kind(layer) -> str | None:
    """``"lstm"``, ``"gru"`` or ``"simple"`` for a recurrent layer, else ``None``.

    ``keras.layers.LSTM``/``GRU``/``SimpleRNN`` and ``keras.layers.RNN`` wrapping one of
    their cells are recognised by ``isinstance`` (so subclasses are too).
    """
    keras = import_keras()
    cell = getattr(layer, "cell", None)
    if not isinstance(layer, keras.layers.RNN) or cell is None:
        return None
    if isinstance(cell, keras.layers.LSTMCell):
        return "lstm"
    if isinstance(cell, keras.layers.GRUCell):
        return "gru"
    if isinstance(cell, keras.layers.SimpleRNNCell):
        return "simple"
    return None


def recurrent_layers(model) -> list:
    """The model's recurrent layers in order; :class:`NoRecurrentLayerError` if none."""
    found = [layer for layer in model_layers(model) if cell_kind(layer) is not None]
    if not found:
        kinds = ", ".join(type(layer).__name__ for layer in model_layers(model))
        raise NoRecurrentLayerError(
            f"Model {model.name!r} has no LSTM, GRU or SimpleRNN layer to inspect "
            f"(its layers: {kinds or 'none'})."
        )
    return found


def _describe(layers) -> str:
    return ", ".join(
        f"{i}: {layer.name!r} ({type(layer).__name__})"
        for i, layer in enumerate(layers)
    )


def layer_position(item, names: list[str], owner: str, listing: str) -> int:
    """Index of one recurrent layer among ``names``: ``None`` (the first), a name, or
    an index (negative counts from the end). ``owner`` and ``listing`` word the
    :class:`LayerNotFoundError`."""
    if item is None:
        return 0
    if isinstance(item, str):
        if item not in names:
            raise LayerNotFoundError(
                f"{owner} has no recurrent layer named {item!r}; its recurrent "
                f"layers are {listing}."
            )
        return names.index(item)
    if isinstance(item, int | np.integer) and not isinstance(item, bool):
        if not -len(names) <= item < len(names):
            raise LayerNotFoundError(
                f"Recurrent layer index {item} is out of range: {owner} has "
                f"{len(names)} recurrent layer(s): {listing}."
            )
        return int(item) % len(names)
    raise InputTypeError(
        f"layer must be None, a layer name, an index or a list of them; got {item!r}."
    )


def resolve_layers(model, layer) -> list[int]:
    """Indices into :func:`recurrent_layers` for ``layer``.

    ``layer`` is ``None`` (the first recurrent layer), a layer name, an index into
    the recurrent layers (negative counts from the end), or a list of those.
    """
    layers = recurrent_layers(model)
    requested = layer if isinstance(layer, list | tuple) else [layer]
    if not requested:
        raise InputError("layer=[] selects no layer; pass None for the first one.")
    names = [rec.name for rec in layers]
    owner, listing = f"Model {model.name!r}", _describe(layers)
    indices = [layer_position(item, names, owner, listing) for item in requested]
    if len(set(indices)) != len(indices):
        raise InputError(f"layer={layer!r} names a layer twice.")
    return indices


def _is_char_language_model(model) -> bool:
    return hasattr(model, "char_to_id_") or (
        hasattr(model, "vocabulary_") and hasattr(model, "model_")
    )


def keras_model_and_vocabulary(model, vocabulary=None):
    """The Keras model to inspect and its ``{char: input id}`` mapping.

    ``model`` is a fitted :class:`~skdni.models.CharLanguageModel` (its own vocabulary
    is used) or a Keras model with ``vocabulary`` given as a ``{char: input id}`` dict
    or a list of characters (character ``vocabulary[i]`` has id ``i + 1``).
    """
    keras = import_keras()
    if isinstance(model, keras.Model):
        if vocabulary is None:
            raise InputError(
                "A bare Keras model needs vocabulary=: a {char: input id} dict, or a "
                "list of characters where character i has input id i + 1."
            )
        return model, _vocabulary_dict(vocabulary)
    from ._char_lm import CharLanguageModel

    if isinstance(model, CharLanguageModel) or _is_char_language_model(model):
        if not hasattr(model, "model_"):
            raise NotFittedError(
                f"This {type(model).__name__} is not fitted yet; fit it before "
                "inspecting it."
            )
        if vocabulary is None:
            vocabulary = getattr(model, "char_to_id_", None) or model.vocabulary_
        return model.model_, _vocabulary_dict(vocabulary)
    raise InputTypeError(
        f"model must be a fitted CharLanguageModel or a Keras model, got "
        f"{type(model).__name__}."
    )


def _vocabulary_dict(vocabulary) -> dict[str, int]:
    if isinstance(vocabulary, dict):
        items = dict(vocabulary)
    elif isinstance(vocabulary, str | list | tuple):
        items = {char: i + 1 for i, char in enumerate(vocabulary)}
    else:
        raise InputTypeError(
            f"vocabulary must be a {{char: id}} dict or a list of characters, got "
            f"{type(vocabulary).__name__}."
        )
    if not items:
        raise InputError("The vocabulary is empty.")
    for char, idx in items.items():
        if not isinstance(char, str) or len(char) != 1:
            raise InputError(f"Vocabulary key {char!r} is not a single character.")
        if not isinstance(idx, int | np.integer) or idx < 1:
            raise InputError(
                f"Vocabulary id {idx!r} of {char!r} must be an int >= 1 (0 is padding)."
            )
    return {char: int(idx) for char, idx in items.items()}


def unknown_policy(model) -> str:
    """How ``model`` reads characters outside its vocabulary: a CharLanguageModel's
    own ``unknown`` setting, ``"error"`` for a bare Keras model."""
    return (
        getattr(model, "unknown", "error")
        if _is_char_language_model(model)
        else "error"
    )


def clone_sharing(estimator, shared=("model",)):
    """``sklearn.base.clone`` that passes the ``shared`` parameters by reference.

    An inspected model (a fitted ``CharLanguageModel`` or a Keras model) is data, not
    a hyper-parameter: the default clone would either refit-clone it into an unfitted
    estimator or deep-copy a Keras model. Use from ``__sklearn_clone__``.
    """
    params = estimator.get_params(deep=False)
    new_params = {
        name: value if name in shared else clone(value, safe=False)
        for name, value in params.items()
    }
    new = type(estimator)(**new_params)
    if hasattr(estimator, "_metadata_request"):
        new._metadata_request = copy.deepcopy(estimator._metadata_request)
    if hasattr(estimator, "_sklearn_output_config"):
        new._sklearn_output_config = copy.deepcopy(estimator._sklearn_output_config)
    return new


_STATE_CELL_CLASS = None


def _lstm_state_cell_class():
    """An ``LSTMCell`` whose per-step output is ``concat(h, c)``.

    ``keras.layers.LSTM`` returns only the final ``c``; inside ``keras.layers.RNN``
    this cell, loaded with the layer's weights, yields ``c_t`` at every step (and
    ``h_t`` identical to the layer's output).
    """
    global _STATE_CELL_CLASS
    if _STATE_CELL_CLASS is None:
        keras = import_keras()

        class LSTMStateCell(keras.layers.LSTMCell):
            def __init__(self, units, **kwargs):
                super().__init__(units, **kwargs)
                self.output_size = 2 * units

            def call(self, inputs, states, training=False):
                h, new_states = super().call(inputs, states, training=training)
                return keras.ops.concatenate([h, new_states[1]], axis=-1), new_states

        _STATE_CELL_CLASS = LSTMStateCell
    return _STATE_CELL_CLASS


def state_sequence_model(model, items):
    """A Keras model: the input ids -> per-step states of chosen recurrent layers.

    ``items`` is a list of ``(recurrent layer index, state)`` with state ``"hidden"``,
    ``"cell"`` (LSTM only) or ``"both"``; the model's outputs follow that order, each
    (batch, time, units) — ``"both"`` gives ``concat(h, c)`` (batch, time, 2 units).
    """
    keras = import_keras()
    layers = recurrent_layers(model)
    outputs = []
    for index, state in items:
        layer = layers[index]
        if not getattr(layer, "return_sequences", True):
            raise InputError(
                f"Layer {layer.name!r} has return_sequences=False: no per-character "
                "states to read."
            )
        if state == "hidden":
            outputs.append(layer.output)
            continue
        cell_class = _lstm_state_cell_class()
        cell = cell_class.from_config(layer.cell.get_config())
        rnn = keras.layers.RNN(cell, return_sequences=True)
        both = rnn(layer.input)
        rnn.set_weights(layer.get_weights())
        units = layer.cell.units
        outputs.append(both if state == "both" else both[..., units:])
    return keras.Model(model.inputs, outputs)


def predict_states(submodel, ids) -> list[np.ndarray]:
    """``submodel.predict_on_batch(ids)`` as a list (Keras unwraps a single output)."""
    out = submodel.predict_on_batch(ids)
    return (
        [np.asarray(a) for a in out]
        if isinstance(out, list | tuple)
        else [np.asarray(out)]
    )
