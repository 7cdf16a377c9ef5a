"""Texts -> per-character activations of a character RNN's recurrent layers."""

import os
from collections import deque
from numbers import Integral

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.utils.parallel import Parallel, delayed
from tqdm.auto import tqdm

from .._compat import Interval, StrOptions
from .._docstring import fill_doc
from .._errors import InputError
from .._text_transformer import TextTransformerMixin
from ..models._char_lm import _next_pow2
from ..models._gates import GATES, check_state, run_gates, state_letter
from ..models._keras_inspect import clone_sharing, resolve_layers
from ..models._runtime import ModelRuntime

__all__ = ["LSTMActivationTransformer"]

_MIN_KERAS_TIME = 8  # shortest padded length on the Keras path (fewer compiled shapes)


@fill_doc
class LSTMActivationTransformer(TextTransformerMixin, BaseEstimator):
    """Per-character unit activations of a character RNN (one row per character).

    Row ``t`` of a text is the state of the chosen recurrent layer(s) **after reading
    character ``t``** (the character table: one row per character, in corpus
    order). Texts are sorted by length and run in batches
    padded on the right; a padded step never reaches a text's rows (a text's rows are
    the same alone or batched with longer texts).

    Parameters
    ----------
    model : CharLanguageModel or keras.Model
        A fitted :class:`~skdni.models.CharLanguageModel`, or any Keras character
        model of skdni's contract (:class:`~skdni.models.ModelRuntime`: int ids
        through an ``Embedding`` or one-hot input -> ``LSTM``/``GRU``/``SimpleRNN``
        layers -> optional ``Dense``) together with ``vocabulary``. The model is
        shared, never copied, by ``clone``.
    layer : None, str, int or list, default=None
        Recurrent layer(s): ``None`` is the first one; a name; an index among the
        recurrent layers (negative counts from the end); or a list of those, whose
        activations are concatenated in the list's order.
    state : str, default="hidden"
        ``"hidden"`` (``h_t``), ``"cell"`` (the LSTM cell state ``c_t``, LSTM layers
        only), ``"both"`` (``h`` columns, then ``c`` columns, per layer), or a gate
        from skdni's NumPy recurrence (Keras exposes none): LSTM ``"input"``,
        ``"forget"``, ``"candidate"``, ``"output"``; GRU ``"update"``, ``"reset"``,
        ``"new"`` (columns ``i17``, ``f17``, ``g17``, ``o17``, ``z17``, ``r17``,
        ``n17``; see :mod:`skdni.models._gates`).
    vocabulary : dict or list, default=None
        For a bare Keras model: its own ``{char: input id}`` table (ids from 0 or 1),
        or a list of characters in id order (from id 0 when the model has as many
        input rows as characters, from 1 when it has one more); checked against the
        model. A ``CharLanguageModel`` uses its own unless given.
    method : {"auto", "keras", "numpy"}, default="auto"
        ``"keras"`` runs a Keras sub-model (cell states through an ``LSTMCell``
        subclass that outputs ``concat(h, c)``); ``"numpy"`` runs skdni's
        :class:`~skdni.models.RecurrentStack`. Both agree to ~1e-5. ``"auto"`` picks
        NumPy whenever the model's layers allow it: it needs no JAX compilation per
        shape and measured faster on CPU (``benchmarks/bench_activations.py``).
    batch_size : int, default=256
        Texts per batch (also the unit of work of ``n_jobs``).
    n_jobs : int, default=None
        Batches run in parallel on the NumPy path through joblib (``None`` means 1
        unless in a :func:`joblib.parallel_config` context, ``-1`` all processors);
        ``with joblib.parallel_config(backend="dask")`` runs them on a
        ``dask.distributed`` cluster. Each task gets the
        :class:`~skdni.models.RecurrentStack` and one batch of ids and returns that
        batch's rows, which the parent writes in corpus order as they arrive (into
        ``out`` too, so memory stays bounded by a few batches). The output is
        identical for every ``n_jobs``. The Keras path stays sequential: a Keras
        model in worker processes (a JAX runtime and compilation per worker) costs
        more than it saves.
    %(verbose)s
    %(out)s

    Attributes
    ----------
    layers_ : list of str
        Names of the chosen recurrent layers, in output order.
    layer_indices_ : list of int
        Their indices among the model's recurrent layers.
    units_ : list of int
        Units of each chosen layer.
    vocabulary_ : dict of str to int
        Input id of each character.
    method_ : {"keras", "numpy"}
        The path ``transform`` uses.
    feature_names_out_ : ndarray of str
        ``"h17"`` / ``"c3"`` for a single layer and state, else ``"lstm_1/h17"``.
    n_features_out_ : int
        Number of output columns.

    Examples
    --------
    >>> from skdni._backend import import_keras
    >>> keras = import_keras()
    >>> model = keras.Sequential([
    ...     keras.Input(shape=(None,), dtype="int32"),
    ...     keras.layers.Embedding(4, 3),
    ...     keras.layers.LSTM(5, return_sequences=True, name="lstm"),
    ...     keras.layers.Dense(3, activation="softmax")])
    >>> act = LSTMActivationTransformer(model, vocabulary="abc", state="both")
    >>> act.fit_transform(["abc", "ca"]).shape
    (5, 10)
    >>> act.get_feature_names_out()[[0, 5]].tolist()
    ['lstm/h0', 'lstm/c0']
    """

    _parameter_constraints: dict = {
        "model": "no_validation",
        "layer": "no_validation",  # resolve_layers names the model's layers
        "state": [
            StrOptions({"hidden", "cell", "both", *GATES["lstm"], *GATES["gru"]})
        ],
        "vocabulary": [None, dict, list, str],
        "method": [StrOptions({"auto", "keras", "numpy"})],
        "batch_size": [Interval(Integral, 1, None, closed="left")],
        "n_jobs": [None, Integral],
        "verbose": ["verbose"],
        "out": [None, str, os.PathLike],
    }

    def __init__(
        self,
        model,
        *,
        layer=None,
        state="hidden",
        vocabulary=None,
        method="auto",
        batch_size=256,
        n_jobs=None,
        verbose=0,
        out=None,
    ):
        self.model = model
        self.layer = layer
        self.state = state
        self.vocabulary = vocabulary
        self.method = method
        self.batch_size = batch_size
        self.n_jobs = n_jobs
        self.verbose = verbose
        self.out = out

    _fitted_attr = "method_"
    _output_what = "activations"

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.required = False
        return tags

    def __sklearn_clone__(self):
        return clone_sharing(self, ("model",))

    # ------------------------------------------- the template's hooks

    def _fit(self, texts):
        runtime = ModelRuntime.for_model(self.model, self.vocabulary)
        indices = resolve_layers(runtime.keras_model, self.layer)
        states = ("hidden", "cell") if self.state == "both" else (self.state,)
        for index in indices:
            if states[0] not in ("hidden", "cell"):
                check_state(
                    states[0],
                    runtime.layer_kinds[index],
                    runtime.layer_names[index],
                    "LSTMActivationTransformer",
                )
            if "cell" in states and runtime.layer_kinds[index] != "lstm":
                raise InputError(
                    f"state={self.state!r} needs LSTM layers: layer "
                    f"{runtime.layer_names[index]!r} is a "
                    f"{runtime.layer_kinds[index]} layer, whose only state is "
                    "'hidden'."
                )
        runtime.encode(texts)  # unknown characters fail at fit
        self._runtime = runtime
        self.vocabulary_ = runtime.vocabulary
        self.unknown_ = runtime.unknown
        self.layer_indices_ = indices
        self.layers_ = [runtime.layer_names[i] for i in indices]
        self.units_ = [runtime.layer_units[i] for i in indices]
        self.states_ = states
        single = len(indices) == 1 and len(states) == 1
        names = []
        for name, units in zip(self.layers_, self.units_, strict=True):
            for state in states:
                prefix = "" if single else f"{name}/"
                names += [f"{prefix}{state_letter(state)}{j}" for j in range(units)]
        self.feature_names_out_ = np.asarray(names, dtype=object)
        self.n_features_out_ = len(names)
        method = self.method
        if states[0] not in ("hidden", "cell"):
            if method == "keras":
                raise InputError(
                    f"state={self.state!r} is a gate: Keras does not expose gates, "
                    "use method='numpy' (or 'auto')."
                )
            method = "numpy"
        if method == "numpy":
            runtime.require_stack()
        elif method == "auto":
            method = "numpy" if runtime.stack is not None else "keras"
        self.stack_ = runtime.stack if method == "numpy" else None
        self.method_ = method
        return self

    def _get_runtime(self) -> ModelRuntime:
        """The model's runtime (dropped by pickling; cached by the model)."""
        if getattr(self, "_runtime", None) is None:
            self._runtime = ModelRuntime.for_model(self.model, self.vocabulary_)
        return self._runtime

    def _run_keras(self, ids, lengths):
        state = "both" if len(self.states_) == 2 else self.states_[0]
        items = [(index, state) for index in self.layer_indices_]
        batch, time = ids.shape
        # fixed shapes: JAX compiles once per (batch, time) it sees
        shape = (
            min(self.batch_size, _next_pow2(batch)),
            max(_MIN_KERAS_TIME, _next_pow2(time)),
        )
        outputs = self._get_runtime().predict_states(ids, items, shape=shape)
        return np.concatenate(outputs, axis=-1)

    def _keras_rows(self, batches):
        """Rows and activations of every batch, one after the other."""
        for _, ids, lengths, rows in batches:
            states = self._run_keras(ids, lengths)
            yield rows, _valid(states, lengths)

    def _numpy_rows(self, batches):
        """Rows and activations of every batch, run by joblib in batch order."""
        pending = deque()  # rows of the dispatched batches, in dispatch order

        def jobs():
            for _, ids, lengths, rows in batches:
                pending.append(rows)
                yield delayed(_stack_rows)(
                    self.stack_, ids, lengths, self.states_, self.layer_indices_
                )

        # a generator: each batch is written away before many more are computed
        results = Parallel(n_jobs=self.n_jobs, return_as="generator")(jobs())
        for states in results:
            yield pending.popleft(), states

    def _transform_blocks(self, texts):
        """``(rows, activations)`` of every batch of ``texts``."""
        runtime = self._get_runtime()
        ids_list = runtime.encode(texts)
        run = self._numpy_rows if self.method_ == "numpy" else self._keras_rows
        batches = runtime.batches(ids_list, self.batch_size)
        total = -(-len(texts) // self.batch_size)
        yield from tqdm(
            run(batches), total=total, disable=not self.verbose, desc="activations"
        )

    def _out_dtype(self):
        return np.dtype(np.float32)

    def _feature_names(self):
        return self.feature_names_out_

    def __getstate__(self):
        state = super().__getstate__().copy()
        state.pop("_runtime", None)  # holds the Keras model: rebuilt on demand
        return state


def _valid(states, lengths):
    """The rows of a padded batch's ``(batch, time, units)`` states, text by text."""
    return states[np.arange(states.shape[1])[None, :] < lengths[:, None]]


def _stack_rows(stack, ids, lengths, states, layers):
    """One batch's activation rows through ``stack`` (a joblib task)."""
    if states[0] not in ("hidden", "cell"):  # a gate
        blocks = [run_gates(stack, ids, lengths, i, states)[states[0]] for i in layers]
        return _valid(np.concatenate(blocks, axis=-1), lengths)
    out = stack.run(
        ids, lengths, return_states=states, layers=layers, return_probs=False
    )
    blocks = [out[state][index] for index in layers for state in states]
    return _valid(np.concatenate(blocks, axis=-1), lengths)
