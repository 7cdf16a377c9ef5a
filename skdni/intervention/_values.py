"""The value each overwritten unit gets: a number, one per unit, or the unit's own
"on" / "off" level from a probe search — checked against what the unit can hold."""

from numbers import Real

import numpy as np

from .._errors import InputError

__all__ = ["describe_value", "state_range", "unit_values"]

_BOUNDED = {"tanh": (-1.0, 1.0), "sigmoid": (0.0, 1.0), "hard_sigmoid": (0.0, 1.0)}


def state_range(layer, state: str) -> tuple[float, float]:
    """The values a unit of ``layer`` (a stack layer) can take in ``state``.

    An LSTM's, GRU's or tanh SimpleRNN's hidden state lies in [-1, 1]; gates lie in
    their recurrent activation's range; the LSTM cell state is unbounded.
    """
    if state == "cell":
        return (-np.inf, np.inf)
    if state in ("input", "forget", "output", "reset", "update"):
        return _BOUNDED.get(layer.recurrent_activation, (-np.inf, np.inf))
    if state == "hidden" and layer.activation == "relu":
        return (0.0, np.inf)
    return _BOUNDED.get(layer.activation, (-np.inf, np.inf))


def unit_values(
    value, n_units: int, *, levels=None, bounds=(-np.inf, np.inf), where="value"
) -> np.ndarray:
    """One value per unit of the layer (float64, shape (n_units,)).

    Parameters
    ----------
    value : float, array-like of shape (n_units,), "on" or "off"
        A number for every unit, one number per unit of the layer (unit ``u`` gets
        ``value[u]``, so random draws get their own values), or each unit's mean
        activation where the feature is on / off (``levels``).
    n_units : int
    levels : dict with "on" and "off" arrays of shape (n_units,), optional
        From :meth:`skdni.probing.NeuronProbeSearch.unit_levels`.
    bounds : (float, float)
        What the unit can hold (:func:`state_range`); a value outside is an error.
    where : str
        The argument's name, for messages.
    """
    if isinstance(value, str):
        if value not in ("on", "off"):
            raise InputError(
                f"{where} must be a number, one number per unit, 'on' or 'off'; got "
                f"{value!r}."
            )
        if levels is None:
            raise InputError(
                f"{where}={value!r} takes each unit's level from a probe search: pass "
                "search= and feature=."
            )
        values = np.asarray(levels[value], dtype=np.float64).reshape(-1)
    elif isinstance(value, Real) and not isinstance(value, bool):
        values = np.full(n_units, float(value))
    else:
        values = np.asarray(value, dtype=np.float64)
        if values.shape != (n_units,):
            raise InputError(
                f"{where} has shape {values.shape}; expected a number or one value "
                f"per unit of the layer, shape ({n_units},)."
            )
    if values.shape != (n_units,):
        raise InputError(
            f"The search's levels have {values.size} units; the layer has {n_units}."
        )
    bad = np.flatnonzero(~np.isfinite(values))
    if bad.size:
        raise InputError(
            f"{where} for unit {int(bad[0])} is {values[bad[0]]}: values must be "
            "finite."
        )
    low, high = bounds
    out = np.flatnonzero((values < low) | (values > high))
    if out.size:
        raise InputError(
            f"{where} for unit {int(out[0])} is {values[out[0]]:g}, outside the "
            f"range [{low:g}, {high:g}] the unit can take."
        )
    return values


def describe_value(value) -> str:
    """A short label of a value for result tables: ``"1"``, ``"on"``, ``"per-unit"``."""
    if isinstance(value, str):
        return value
    if isinstance(value, Real) and not isinstance(value, bool):
        return f"{float(value):g}"
    return "per-unit"


def search_levels(search, feature):
    """``{"off", "on", "sign"}`` arrays of one feature from a fitted probe search
    (``unit_levels_``), or ``None`` when no search is given."""
    if search is None:
        return None
    if feature is None:
        raise InputError("search= needs feature= (whose unit levels to use).")
    levels = getattr(search, "unit_levels_", None)
    if levels is None:
        raise InputError(
            "The search has no unit_levels_: fit a NeuronProbeSearch (it records "
            "each unit's mean activation where a feature is on and off)."
        )
    if feature not in levels:
        raise InputError(
            f"Feature {feature!r} is not in the search's features: "
            f"{sorted(levels)[:20]}."
        )
    return levels[feature]
