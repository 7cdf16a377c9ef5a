"""A NumPy re-implementation of a Keras character RNN that can overwrite units.

Keras recurrent layers give no hook inside the time loop, and on JAX every call
compiles per shape. :class:`RecurrentStack` reads the layer weights once and recomputes
the model (embedding lookup, each LSTM / GRU / SimpleRNN step, the Dense output) in
NumPy, batched over texts: the time loop is Python, each step is one matmul for the
whole batch. With nothing overwritten it reproduces the Keras model to ~1e-5 (tested);
interventions (:class:`skdni.models.Intervention`, re-exported by
:mod:`skdni.intervention`) overwrite chosen units at every step, after the cell computes
its state and before that state feeds the next step, the next layer and the output.

The model reads either int ids through an ``Embedding`` or one-hot float vectors
(``Input(shape=(None, V))``); in both cases the stack takes integer *row ids* of its
input table ``table`` (for one-hot, row ``V`` is the all-zero vector). With
``Embedding(mask_zero=True)`` or a ``Masking(0.0)`` on a one-hot input, a step that
reads the masked id keeps the previous state, as Keras does.
"""

from dataclasses import dataclass, field

import numpy as np

from .._errors import InputError
from ._gates import GATES, check_state
from ._interventions import check_units
from ._keras_inspect import (
    cell_kind,
    layer_position,
    model_layers,
    one_hot_width,
    resolve_layers,
)

__all__ = ["RecurrentStack", "StackState", "padded_batches"]

# Layers that are the identity at inference time: the stack skips them.

_INFERENCE_IDENTITY_NAMES = frozenset(
    (
        "Dropout",
        "SpatialDropout1D",
        "GaussianNoise",
        "GaussianDropout",
        "AlphaDropout",
        "ActivityRegularization",
        "InputLayer",
    )
)


def _numpy(variable, dtype):
    from .._backend import import_keras

    return np.asarray(import_keras().ops.convert_to_numpy(variable), dtype=dtype)


def _hard_sigmoid(x):
    # keras.ops.hard_sigmoid: relu6(x + 3) / 6
    return np.clip(x / 6.0 + 0.5, 0.0, 1.0)


def _sigmoid(x):
    # 1 / (1 + e^-x) = (1 + tanh(x / 2)) / 2: NumPy's tanh is vectorised (SIMD),
    # scipy's expit is not, and the gates are most of a step's time (agrees with
    # expit to float rounding; scaling by 0.5 is exact)
    y = np.multiply(x, 0.5)
    np.tanh(y, out=y)
    y *= 0.5
    y += 0.5
    return y


def _softmax(x):
    z = np.exp(x - x.max(axis=-1, keepdims=True))
    return z / z.sum(axis=-1, keepdims=True)


_ACTIVATIONS = {
    "tanh": np.tanh,
    "sigmoid": _sigmoid,
    "hard_sigmoid": _hard_sigmoid,
    "linear": lambda x: x,
    "relu": lambda x: np.maximum(x, 0),
    "softmax": _softmax,
}


def _activation(function, where: str):
    name = getattr(function, "__name__", None)
    if name not in _ACTIVATIONS:
        raise InputError(
            f"{where}: activation {name or function!r} is not supported by skdni's "
            "NumPy "
            f"recurrence (supported: {', '.join(sorted(_ACTIVATIONS))})."
        )
    return name


@dataclass
class _Layer:
    kind: str  # "lstm" | "gru" | "simple"
    name: str
    units: int
    kernel: np.ndarray  # (d_in, n_gates * units)
    recurrent_kernel: np.ndarray  # (units, n_gates * units)
    input_bias: np.ndarray  # (n_gates * units,), zeros without bias
    recurrent_bias: np.ndarray | None  # GRU reset_after only
    activation: str
    recurrent_activation: str
    reset_after: bool = False

    def project(self, x):
        """The input part of every gate, ``x @ kernel + bias``."""
        return x @ self.kernel + self.input_bias

    def step(self, xproj, h, c, hook=None):
        """One time step from the projected input; returns the new ``(h, c)``.

        ``hook(gate_name, values)`` (optional) sees every gate right after it is
        computed and returns the values the step goes on with (gate interventions,
        :mod:`skdni.models._gates`).
        """
        act = _ACTIVATIONS[self.activation]
        ract = _ACTIVATIONS[self.recurrent_activation]
        u = self.units
        gate = hook if hook is not None else _no_hook
        if self.kind == "lstm":
            z = h @ self.recurrent_kernel
            z += xproj
            i = gate("input", ract(z[:, :u]))
            f = gate("forget", ract(z[:, u : 2 * u]))
            g = gate("candidate", act(z[:, 2 * u : 3 * u]))
            o = gate("output", ract(z[:, 3 * u :]))
            # new arrays, not in place: a hook may keep the gates it saw
            c = f * c
            c += i * g
            return o * act(c), c
        if self.kind == "gru":
            if self.reset_after:
                inner = h @ self.recurrent_kernel
                if self.recurrent_bias is not None:
                    inner += self.recurrent_bias
                z = gate("update", ract(xproj[:, :u] + inner[:, :u]))
                r = gate("reset", ract(xproj[:, u : 2 * u] + inner[:, u : 2 * u]))
                hh = gate("new", act(xproj[:, 2 * u :] + r * inner[:, 2 * u :]))
            else:
                inner = h @ self.recurrent_kernel[:, : 2 * u]
                z = gate("update", ract(xproj[:, :u] + inner[:, :u]))
                r = gate("reset", ract(xproj[:, u : 2 * u] + inner[:, u:]))
                hh = gate(
                    "new",
                    act(
                        xproj[:, 2 * u :] + (r * h) @ self.recurrent_kernel[:, 2 * u :]
                    ),
                )
            return z * h + (1 - z) * hh, None
        return act(xproj + h @ self.recurrent_kernel), None


_STATE_NAMES = ("hidden", "cell") + GATES["lstm"] + GATES["gru"]


def _no_hook(name, values):
    return values


@dataclass
class StackState:
    """The recurrent state of every layer for a batch.

    Parameters
    ----------
    h : list of ndarray of shape (batch, units)
        Hidden state of each recurrent layer.
    c : list of ndarray of shape (batch, units) or None
        Cell state of each recurrent layer (``None`` but for LSTM layers).
    """

    h: list = field(default_factory=list)
    c: list = field(default_factory=list)


@dataclass
class _Bound:
    """An intervention checked against the stack, values ready to write."""

    layer: int
    state: str
    units: np.ndarray
    constant: np.ndarray | None  # (k,) for zero / clamp / mean
    pattern: np.ndarray | None  # (n_rows, k) for oracle, NaN = keep the unit's value


class RecurrentStack:
    """NumPy recomputation of a Keras character RNN (Embedding -> RNN layers -> Dense).

    Build it with :meth:`from_keras`. Integer layer indices count recurrent layers only
    (0 is the first LSTM/GRU/SimpleRNN layer).

    Parameters
    ----------
    table : ndarray of shape (n_inputs, projection)
        The first layer's input projection per input id (``E @ W + b``).
    layers : list
        The recurrent layers' weights (``kind``, ``name``, ``units``, ...).
    output_kernel : ndarray of shape (units, n_vocab) or None
        The Dense output's kernel (``None``: no output layer).
    output_bias : ndarray of shape (n_vocab,) or None
        Its bias.
    output_activation : str or None
        Its activation (``"softmax"``, ``"linear"``, ...).
    dtype : numpy dtype
        float32 or float64.
    input_kind : {"embedding", "one_hot"}, default="embedding"
        How the model reads characters.
    n_inputs : int, optional
        Embedding rows or one-hot width (default: ``len(table)``).
    mask_id : int, optional
        Row id whose steps keep the previous state.

    Attributes
    ----------
    layers : list
        Per recurrent layer: ``kind`` ("lstm", "gru", "simple"), ``name``, ``units``.
    n_vocab : int or None
        Output classes of the Dense layer (``None`` if the model has none).
    dtype : numpy dtype
        float32 or float64, the dtype of every computation.
    input_kind : {"embedding", "one_hot"}
        How the model reads characters: int ids through an ``Embedding``, or one-hot
        float vectors.
    n_inputs : int
        Embedding rows, or the one-hot width ``V``.
    zero_id : int or None
        The row id of the all-zero input vector (``V`` for one-hot, else ``None``).
    mask_id : int or None
        Row id whose steps keep the previous state (``0`` with ``mask_zero=True``,
        ``zero_id`` under ``Masking(0.0)``), else ``None``.

    Examples
    --------
    >>> import numpy as np
    >>> from skdni._backend import import_keras
    >>> keras = import_keras()
    >>> model = keras.Sequential([
    ...     keras.Input(shape=(None,), dtype="int32"),
    ...     keras.layers.Embedding(5, 3),
    ...     keras.layers.LSTM(4, return_sequences=True),
    ...     keras.layers.Dense(4, activation="softmax")])
    >>> stack = RecurrentStack.from_keras(model)
    >>> out = stack.run(np.array([[1, 2, 3]]), return_states=("hidden", "cell"))
    >>> out["hidden"][0].shape, out["probs"].shape
    ((1, 3, 4), (1, 3, 4))
    """

    def __init__(
        self,
        table,
        layers,
        output_kernel,
        output_bias,
        output_activation,
        dtype,
        *,
        input_kind="embedding",
        n_inputs=None,
        mask_id=None,
    ):
        self.table = table
        self.layers = layers
        self.output_kernel = output_kernel
        self.output_bias = output_bias
        self.output_activation = output_activation
        self.dtype = np.dtype(dtype)
        self.n_vocab = None if output_kernel is None else output_kernel.shape[1]
        self.input_kind = input_kind
        self.n_inputs = len(table) if n_inputs is None else int(n_inputs)
        self.zero_id = self.n_inputs if input_kind == "one_hot" else None
        self.mask_id = mask_id

    # ------------------------------------------------------------------ building
    @classmethod
    def from_keras(cls, keras_model, *, dtype=np.float32) -> "RecurrentStack":
        """Read the weights of ``keras_model`` once.

        The model reads int32 character ids through an ``Embedding`` (optionally
        ``mask_zero=True``) or one-hot float vectors (``Input(shape=(None, V))``,
        optionally behind ``Masking(mask_value=0.0)``), then has one or more
        ``LSTM``/``GRU``/``SimpleRNN`` layers with ``return_sequences=True`` and
        ``go_backwards=False`` (dropout-like layers in between are skipped, as at
        inference), then optionally a ``Dense`` output (and an ``Activation``). The
        first layer's input projection is precomputed as the table ``E @ W + b`` (one
        row per input id; for one-hot input ``W + b`` plus the all-zero row ``b``).

        Parameters
        ----------
        keras_model : keras.Model
            The character model.
        dtype : {np.float32, np.float64}, default=np.float32
            The dtype of every computation.

        Returns
        -------
        stack : RecurrentStack
            The NumPy recurrence of ``keras_model``.
        """
        from .._backend import import_keras

        keras = import_keras()
        dtype = np.dtype(dtype)
        if dtype not in (np.float32, np.float64):
            raise InputError(f"dtype must be float32 or float64, got {dtype}.")
        resolve_layers(keras_model, None)  # NoRecurrentLayerError before anything else
        embedding, rnns, dense, out_act = None, [], None, None
        mask_zero, masking = False, False
        for layer in model_layers(keras_model):
            where = f"Layer {layer.name!r} ({type(layer).__name__})"
            kind = cell_kind(layer)
            if kind is not None:
                if dense is not None:
                    raise InputError(f"{where} follows the Dense layer: unsupported.")
                rnns.append(cls._read_layer(layer, kind, dtype, where))
            elif isinstance(layer, keras.layers.Embedding):
                if rnns or embedding is not None:
                    raise InputError(f"{where}: only one Embedding, before the RNNs.")
                embedding = _numpy(layer.embeddings, dtype)
                mask_zero = bool(getattr(layer, "mask_zero", False))
            elif isinstance(layer, keras.layers.Masking):
                if rnns or embedding is not None or float(layer.mask_value) != 0.0:
                    raise InputError(
                        f"{where}: skdni's NumPy recurrence supports Masking only as "
                        "Masking(mask_value=0.0) on a one-hot input, before the RNNs."
                    )
                masking = True
            elif isinstance(layer, keras.layers.Dense) and rnns and dense is None:
                out_act = _activation(layer.activation, where)
                dense = (
                    _numpy(layer.kernel, dtype),
                    _numpy(layer.bias, dtype)
                    if layer.use_bias
                    else np.zeros(layer.units, dtype=dtype),
                )
            elif isinstance(layer, keras.layers.Activation) and dense is not None:
                if out_act != "linear":
                    raise InputError(f"{where}: a second output activation.")
                out_act = _activation(layer.activation, where)
            elif type(layer).__name__ not in _INFERENCE_IDENTITY_NAMES:
                raise InputError(
                    f"{where} is not supported by skdni's NumPy recurrence (expected "
                    "Embedding or one-hot input -> LSTM/GRU/SimpleRNN layers -> Dense)."
                )
        first = rnns[0]
        kernel, bias = dense if dense is not None else (None, None)
        if embedding is not None:
            return cls(
                first.project(embedding),
                rnns,
                kernel,
                bias,
                out_act,
                dtype,
                input_kind="embedding",
                mask_id=0 if mask_zero else None,
            )
        width = one_hot_width(keras_model)
        if width is None:
            raise InputError(
                f"Model {keras_model.name!r} reads neither int32 character ids through "
                "an Embedding nor one-hot vectors (Input(shape=(None, V)) of floats)."
            )
        # rows 0..V-1: one character each; row V: the all-zero vector (no character)
        table = first.project(np.eye(width + 1, width, dtype=dtype))
        return cls(
            table,
            rnns,
            kernel,
            bias,
            out_act,
            dtype,
            input_kind="one_hot",
            n_inputs=width,
            mask_id=width if masking else None,
        )

    @staticmethod
    def _read_layer(layer, kind, dtype, where):
        if getattr(layer, "go_backwards", False):
            raise InputError(f"{where}: go_backwards=True is not supported.")
        if not getattr(layer, "return_sequences", True):
            raise InputError(
                f"{where}: return_sequences=False gives no per-character state; skdni "
                "needs return_sequences=True."
            )
        cell = layer.cell
        activation = _activation(cell.activation, where)
        recurrent = (
            _activation(cell.recurrent_activation, where)
            if kind != "simple"
            else "linear"
        )
        kernel = _numpy(cell.kernel, dtype)
        recurrent_kernel = _numpy(cell.recurrent_kernel, dtype)
        width = kernel.shape[1]
        input_bias = np.zeros(width, dtype=dtype)
        recurrent_bias = None
        reset_after = bool(getattr(cell, "reset_after", False))
        if cell.use_bias:
            bias = _numpy(cell.bias, dtype)
            if kind == "gru" and reset_after:
                input_bias, recurrent_bias = bias[0], bias[1]
            else:
                input_bias = bias
        return _Layer(
            kind=kind,
            name=layer.name,
            units=int(cell.units),
            kernel=kernel,
            recurrent_kernel=recurrent_kernel,
            input_bias=input_bias,
            recurrent_bias=recurrent_bias,
            activation=activation,
            recurrent_activation=recurrent,
            reset_after=reset_after,
        )

    # ------------------------------------------------------------------ helpers
    def layer_index(self, layer) -> int:
        """Index of a recurrent layer: ``None`` (the first), a name or an index
        (negative counts from the end).

        Parameters
        ----------
        layer : None, str or int
            The layer.

        Returns
        -------
        index : int
            Its index among the recurrent layers.
        """
        names = [lay.name for lay in self.layers]
        listing = ", ".join(
            f"{i}: {lay.name!r} ({lay.kind})" for i, lay in enumerate(self.layers)
        )
        return layer_position(layer, names, "The model", listing)

    def initial_state(self, batch_size: int) -> StackState:
        """Zero states (Keras's default initial state) for ``batch_size`` sequences.

        Parameters
        ----------
        batch_size : int
            Number of sequences.

        Returns
        -------
        state : StackState
            Zero ``h`` (and ``c`` for LSTM layers) of shape ``(batch_size, units)``.
        """
        zeros = [
            np.zeros((batch_size, lay.units), dtype=self.dtype) for lay in self.layers
        ]
        cells = [
            np.zeros((batch_size, lay.units), dtype=self.dtype)
            if lay.kind == "lstm"
            else None
            for lay in self.layers
        ]
        return StackState(h=zeros, c=cells)

    def _bind(self, interventions, n_rows) -> list[_Bound]:
        if interventions is None:
            return []
        if not isinstance(interventions, list | tuple):
            interventions = [interventions]
        bound = []
        for number, item in enumerate(interventions):
            where = f"Intervention {number}"
            index = self.layer_index(item.layer)
            layer = self.layers[index]
            state = item.state
            if state not in _STATE_NAMES:
                raise InputError(
                    f"{where}: state must be one of {_STATE_NAMES}, got {state!r}."
                )
            if state not in ("hidden", "cell"):
                check_state(state, layer.kind, layer.name, where)
            if state == "cell" and layer.kind != "lstm":
                raise InputError(
                    f"{where}: state='cell' needs an LSTM layer; layer {layer.name!r} "
                    f"is a {layer.kind} layer (its only state is 'hidden')."
                )
            units = check_units(item.units, layer.units, layer.name, f"{where}: unit")
            if units.size == 0:
                continue
            k = units.size
            mode = item.mode
            values = item.values
            if mode == "zero":
                bound.append(_Bound(index, state, units, np.zeros(k, self.dtype), None))
            elif mode in ("clamp", "mean"):
                if values is None:
                    raise InputError(f"{where}: mode={mode!r} needs values.")
                try:
                    constant = np.broadcast_to(np.asarray(values, self.dtype), (k,))
                except ValueError:
                    raise InputError(
                        f"{where}: values has shape {np.shape(values)}; expected a "
                        f"scalar or one value per unit ({k},)."
                    ) from None
                bound.append(_Bound(index, state, units, constant.copy(), None))
            elif mode in ("oracle", "pattern"):
                if values is None:
                    raise InputError(f"{where}: mode={mode!r} needs the pattern.")
                pattern = np.asarray(values, dtype=np.float64)
                if pattern.ndim == 1:
                    pattern = np.repeat(pattern[:, None], k, axis=1)
                if (
                    pattern.ndim != 2
                    or pattern.shape[0] != n_rows
                    or (pattern.shape[1] != k)
                ):
                    raise InputError(
                        f"{where}: the oracle pattern has shape {np.shape(values)}; "
                        f"expected ({n_rows},) or ({n_rows}, {k}): one label per "
                        "character."
                    )
                if mode == "oracle":
                    low, high = item.oracle_range
                    pattern = low + (high - low) * pattern
                mapped = pattern.astype(self.dtype)
                bound.append(_Bound(index, state, units, None, mapped))
            else:
                raise InputError(
                    f"{where}: mode must be 'zero', 'clamp', 'mean', 'oracle' or "
                    f"'pattern', got "
                    f"{mode!r}."
                )
        return bound

    @staticmethod
    def _write(array, bound, pattern_rows):
        if bound.constant is not None:
            array[:, bound.units] = bound.constant
            return
        values = pattern_rows
        current = array[:, bound.units]
        array[:, bound.units] = np.where(np.isnan(values), current, values)

    def _output(self, h):
        if self.output_kernel is None:
            raise InputError("The model has no Dense output layer: no probabilities.")
        return _ACTIVATIONS[self.output_activation](
            h @ self.output_kernel + self.output_bias
        )

    # ------------------------------------------------------------------ running
    def step(self, ids, state: StackState, interventions=None):
        """Read one character per sequence; return ``(probs, new_state)``.

        Parameters
        ----------
        ids : int array of shape (batch,)
            Input row ids (see the class docstring).
        state : StackState
            From :meth:`initial_state` or a previous step (not modified).
        interventions : Intervention or list of Intervention, optional
            Applied to this step. An ``"oracle"`` pattern here has one label per
            sequence of the batch: shape (batch,) or (batch, k).

        Returns
        -------
        probs : ndarray of shape (batch, n_vocab)
        state : StackState
        """
        ids = np.asarray(ids).reshape(-1)
        bound = self._bind(interventions, len(ids))
        masked = None if self.mask_id is None else (ids == self.mask_id)[:, None]
        hs, cs = [], []
        x = None
        for index, layer in enumerate(self.layers):
            xproj = self.table[ids] if index == 0 else layer.project(x)
            gates = [item for item in bound if item.layer == index]
            h, c = layer.step(
                xproj, state.h[index], state.c[index], _gate_hook(self, gates, None)
            )
            if masked is not None:
                h, c = _keep_masked(masked, h, c, state.h[index], state.c[index])
            for item in bound:
                if item.layer == index and item.state in ("hidden", "cell"):
                    self._write(h if item.state == "hidden" else c, item, item.pattern)
            hs.append(h)
            cs.append(c)
            x = h
        return self._output(x), StackState(h=hs, c=cs)

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
        """Run right-padded sequences through the stack.

        Parameters
        ----------
        ids : int array of shape (batch, time)
            Input row ids, right-padded (any id: padding comes after the text).
        lengths : int array of shape (batch,), optional
            True lengths (default: all ``time``). Rows of the character table are the
            steps ``t < lengths[b]`` in batch order; oracle patterns use that order.
        interventions : Intervention or list of Intervention, optional
            Applied at every step after the cell computes its state, before the state
            feeds the next step, the next layer and the output. For LSTM,
            ``state="cell"`` overwrites ``c`` (which shapes ``h`` from the next step
            on). A NaN oracle label leaves the unit's own value at that step.
        return_states : tuple of {"hidden", "cell"}
            Per-step states to return ("cell" only for LSTM layers).
        layers : list of int or str, optional
            Recurrent layers whose states to return (default: all).
        return_probs : bool, default=True
            Also compute the output layer.

        Returns
        -------
        dict
            ``out["hidden"][i]`` / ``out["cell"][i]``: ndarray (batch, time, units)
            for recurrent layer index ``i``; ``out["probs"]``: (batch, time, n_vocab).
            Values at padded steps are unspecified.
        """
        ids = np.asarray(ids)
        if ids.ndim != 2:
            raise InputError(f"ids must be 2-D (batch, time), got shape {ids.shape}.")
        batch, time = ids.shape
        lengths = (
            np.full(batch, time, dtype=np.int64)
            if lengths is None
            else np.asarray(lengths, dtype=np.int64)
        )
        if lengths.shape != (batch,) or (lengths > time).any() or (lengths < 0).any():
            raise InputError(f"lengths must be {batch} values in 0..{time}.")
        for name in return_states:
            if name not in ("hidden", "cell"):
                raise InputError(f"return_states: unknown state {name!r}.")
        wanted = (
            list(range(len(self.layers)))
            if layers is None
            else [self.layer_index(layer) for layer in layers]
        )
        if "cell" in return_states:
            for index in wanted:
                if self.layers[index].kind != "lstm":
                    raise InputError(
                        f"Layer {self.layers[index].name!r} is a "
                        f"{self.layers[index].kind} layer: it has no cell state."
                    )
        bound = self._bind(interventions, int(lengths.sum()))
        valid = np.arange(time)[None, :] < lengths[:, None]
        patterns = {}
        for number, item in enumerate(bound):
            if item.pattern is not None:
                grid = np.full((batch, time, item.units.size), np.nan, dtype=self.dtype)
                grid[valid] = item.pattern
                patterns[number] = grid.transpose(1, 0, 2)
        last = len(self.layers) - 1 if return_probs else max(wanted, default=-1)
        # a masked step keeps every layer's previous state (Keras propagates the mask)
        masks = None
        if self.mask_id is not None and (ids == self.mask_id).any():
            masks = (ids.T == self.mask_id)[:, :, None]
        out = {name: {} for name in return_states}
        seq = None  # (time, batch, units) output of the previous layer
        for index in range(last + 1):
            layer = self.layers[index]
            mine = [(n, item) for n, item in enumerate(bound) if item.layer == index]
            keep_cell = "cell" in return_states and index in wanted
            if index == 0:
                xproj = self.table[ids.T]
            else:
                xproj = layer.project(seq.reshape(time * batch, -1)).reshape(
                    time, batch, -1
                )
            hs = np.empty((time, batch, layer.units), dtype=self.dtype)
            cs = np.empty_like(hs) if keep_cell else None
            h = np.zeros((batch, layer.units), dtype=self.dtype)
            c = np.zeros_like(h) if layer.kind == "lstm" else None
            gates = [
                (n, item) for n, item in mine if item.state not in ("hidden", "cell")
            ]
            mine = [(n, item) for n, item in mine if item.state in ("hidden", "cell")]
            for t in range(time):
                hook = _gate_hook(self, gates, (patterns, t)) if gates else None
                if masks is None:
                    h, c = layer.step(xproj[t], h, c, hook)
                else:
                    h, c = _keep_masked(
                        masks[t], *layer.step(xproj[t], h, c, hook), h, c
                    )
                for number, item in mine:
                    rows = patterns[number][t] if number in patterns else None
                    self._write(h if item.state == "hidden" else c, item, rows)
                hs[t] = h
                if keep_cell:
                    cs[t] = c
            if index in wanted:
                if "hidden" in return_states:
                    out["hidden"][index] = hs.transpose(1, 0, 2)
                if keep_cell:
                    out["cell"][index] = cs.transpose(1, 0, 2)
            seq = hs
        if return_probs:
            probs = self._output(seq.reshape(time * batch, -1))
            out["probs"] = probs.reshape(time, batch, -1).transpose(1, 0, 2)
        return out


def _gate_hook(stack, items, at):
    """The ``hook`` of :meth:`_Layer.step` that overwrites gates.

    ``items``: bound interventions of the layer (``(number, item)`` pairs when
    ``at = (patterns, t)`` gives per-step pattern rows, else items whose pattern,
    if any, is already the step's rows). ``None`` when no item is a gate.
    """
    if at is None:
        items = [(None, item) for item in items if item.state not in ("hidden", "cell")]
    if not items:
        return None

    def hook(name, values):
        for number, item in items:
            if item.state == name:
                if at is None:
                    rows = item.pattern
                else:
                    patterns, t = at
                    rows = patterns[number][t] if number in patterns else None
                stack._write(values, item, rows)
        return values

    return hook


def _keep_masked(masked, h, c, h_old, c_old):
    """The new state where ``masked`` (batch, 1) is False, the old one where True."""
    h = np.where(masked, h_old, h)
    return h, None if c is None else np.where(masked, c_old, c)


def padded_batches(ids_list, batch_size: int, pad_id: int = 0):
    """Split encoded texts into right-padded batches of similar length.

    Texts are sorted by length (less padding) and cut into groups of ``batch_size``.
    Padding (``pad_id``) sits after a text's last character, so in a forward
    recurrence it never reaches the text's rows.

    Yields
    ------
    texts : ndarray of int
        Indices of the batch's texts in the corpus.
    ids : ndarray of shape (batch, time), int32
        Right-padded with ``pad_id``.
    lengths : ndarray of shape (batch,)
    rows : ndarray of int
        Character-table row of every valid step, in ``ids[valid]`` order (text by text),
        where ``valid = arange(time) < lengths[:, None]``.
    """
    lengths = np.fromiter((len(ids) for ids in ids_list), dtype=np.int64)
    offsets = np.concatenate([[0], np.cumsum(lengths)])
    order = np.argsort(lengths, kind="stable")
    for start in range(0, len(order), batch_size):
        chunk = order[start : start + batch_size]
        chunk_lengths = lengths[chunk]
        ids = np.full((len(chunk), int(chunk_lengths.max())), pad_id, dtype=np.int32)
        for row, text in enumerate(chunk):
            ids[row, : chunk_lengths[row]] = ids_list[text]
        steps = np.arange(int(chunk_lengths.sum())) - np.repeat(
            np.cumsum(chunk_lengths) - chunk_lengths, chunk_lengths
        )
        yield (
            chunk,
            ids,
            chunk_lengths,
            np.repeat(offsets[chunk], chunk_lengths) + steps,
        )
