"""Gates of LSTM and GRU cells as inspection and intervention sites.

LSTM: ``"input"`` i, ``"forget"`` f, ``"candidate"`` g (the new content), ``"output"``
o, with ``c_t = f * c_{t-1} + i * g`` and ``h_t = o * tanh(c_t)``. GRU: ``"update"``
z, ``"reset"`` r, ``"new"`` (the candidate state), with
``h_t = z * h_{t-1} + (1 - z) * new``. Keras exposes none of them; skdni's NumPy
recurrence computes them in :meth:`_Layer.step`, which lets a hook overwrite each
right after it is computed (an intervention on a gate), and :func:`gate_sequences`
recomputes them for a whole run from the layer's inputs and previous states.
"""

import numpy as np

from .._errors import InputError

__all__ = ["GATES", "check_state", "gate_sequences", "run_gates", "state_letter"]

GATES = {
    "lstm": ("input", "forget", "candidate", "output"),
    "gru": ("update", "reset", "new"),
    "simple": (),
}
_LETTERS = {
    "hidden": "h",
    "cell": "c",
    "input": "i",
    "forget": "f",
    "candidate": "g",
    "output": "o",
    "update": "z",
    "reset": "r",
    "new": "n",
}


def state_letter(state: str) -> str:
    """The column prefix of a state: ``"h"``, ``"c"``, or a gate's letter."""
    return _LETTERS[state]


def check_state(state: str, kind: str, name: str, where: str) -> None:
    """Raise :class:`~skdni.InputError` unless ``state`` exists in a ``kind`` layer."""
    allowed = ("hidden",) + (("cell",) if kind == "lstm" else ()) + GATES[kind]
    if state not in allowed:
        raise InputError(
            f"{where}: state={state!r} does not exist in layer {name!r}, a {kind} "
            f"layer (its states: {', '.join(allowed)})."
        )


def gate_sequences(layer, xproj, h_seq, names) -> dict:
    """Every step's gates of one layer of a run without interventions.

    Parameters
    ----------
    layer : _Layer
    xproj : ndarray of shape (batch, time, n_gates * units)
        The layer's projected input ``x_t @ kernel + bias``.
    h_seq : ndarray of shape (batch, time, units)
        The layer's hidden states (``h_{t-1}`` feeds step ``t``; ``h_{-1} = 0``).
    names : iterable of str
        Gates to return.

    Returns
    -------
    dict of str to ndarray of shape (batch, time, units)
    """
    batch, time, u = h_seq.shape
    previous = np.concatenate([np.zeros_like(h_seq[:, :1]), h_seq[:, :-1]], axis=1)
    previous = previous.reshape(batch * time, u)
    x = xproj.reshape(batch * time, -1)
    out = {}
    layer.step(x, previous, np.zeros_like(previous), hook=_collect(out))
    return {name: out[name].reshape(batch, time, u) for name in names}


def _collect(store):
    def hook(name, value):
        store[name] = value
        return value

    return hook


def run_gates(stack, ids, lengths, index: int, names) -> dict:
    """Gates of recurrent layer ``index`` over right-padded ids (no intervention).

    Returns ``{gate: ndarray (batch, time, units)}``.
    """
    layers = list(range(index + 1))
    out = stack.run(
        ids, lengths, return_states=("hidden",), layers=layers, return_probs=False
    )
    layer = stack.layers[index]
    if index == 0:
        xproj = stack.table[np.asarray(ids)]
    else:
        below = out["hidden"][index - 1]
        xproj = layer.project(below.reshape(-1, below.shape[-1])).reshape(
            below.shape[0], below.shape[1], -1
        )
    return gate_sequences(layer, xproj, out["hidden"][index], names)
