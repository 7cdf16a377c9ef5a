"""Reading a Keras character model: its layers and per-step states.

skdni inspects any Keras model of the contract shape (see
:mod:`skdni.models._runtime`), whether a :class:`~skdni.models.CharLanguageModel`
trained it or not. This module finds the pieces; :mod:`skdni.models._recurrence`
recomputes them in NumPy and :class:`~skdni.models.ModelRuntime` ties them together.
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
)

__all__ = [
    "cell_kind",
    "clone_sharing",
    "layer_position",
    "model_layers",
    "one_hot_width",
    "recurrent_layers",
    "resolve_layers",
    "predict_states",
    "state_sequence_model",
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


def one_hot_width(model) -> int | None:
    """``V`` for a model whose single input is ``(batch, time, V)`` floats (one-hot
    characters), else ``None``."""
    inputs = getattr(model, "inputs", None) or []
    if len(inputs) != 1:
        return None
    shape, dtype = tuple(inputs[0].shape), str(inputs[0].dtype)
    if len(shape) != 3 or shape[-1] is None or "float" not in dtype:
        return None
    return int(shape[-1])


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


_STATE_CELL_CLASSES = {}


def _lstm_state_cell_class(output):
    """An ``LSTMCell`` whose per-step output is ``concat(h, c)`` (``output="both"``)
    or the cell state ``c`` (``output="cell"``).

    ``keras.layers.LSTM`` returns only the final ``c``; inside ``keras.layers.RNN``
    this cell, loaded with the layer's weights, yields ``c_t`` at every step. Under a
    mask, Keras repeats ``h_{t-1}`` as a masked step's output, which only fits an
    output as wide as ``h``: masked layers use the ``"cell"`` variant.
    """
    if output not in _STATE_CELL_CLASSES:
        keras = import_keras()

        class LSTMStateCell(keras.layers.LSTMCell):
            def __init__(self, units, **kwargs):
                super().__init__(units, **kwargs)
                if output == "both":
                    self.output_size = 2 * units

            def call(self, inputs, states, training=False):
                h, new_states = super().call(inputs, states, training=training)
                if output == "cell":
                    return new_states[1], new_states
                return keras.ops.concatenate([h, new_states[1]], axis=-1), new_states

        _STATE_CELL_CLASSES[output] = LSTMStateCell
    return _STATE_CELL_CLASSES[output]


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
        inputs = layer.input
        # a masked layer's recorded input is [sequences, mask]
        masked = isinstance(inputs, list | tuple)
        output = "cell" if masked else state
        rnn = keras.layers.RNN(
            _lstm_state_cell_class(output).from_config(layer.cell.get_config()),
            return_sequences=True,
        )
        if masked:
            states = rnn(inputs[0], mask=inputs[1] if len(inputs) > 1 else None)
        else:
            states = rnn(inputs)
        rnn.set_weights(layer.get_weights())
        if masked and state == "both":
            states = keras.ops.concatenate([layer.output, states], axis=-1)
        outputs.append(states)
    return keras.Model(model.inputs, outputs)


def predict_states(submodel, ids) -> list[np.ndarray]:
    """``submodel.predict_on_batch(ids)`` as a list (Keras unwraps a single output)."""
    out = submodel.predict_on_batch(ids)
    return (
        [np.asarray(a) for a in out]
        if isinstance(out, list | tuple)
        else [np.asarray(out)]
    )
