"""What to overwrite inside the recurrence: :class:`Intervention`."""

from dataclasses import dataclass

import numpy as np

from .._errors import InputError

__all__ = [
    "Intervention",
    "check_units",
    "check_values",
    "condition_rows",
    "random_summary",
    "top_and_random_units",
]

_MODES = ("zero", "clamp", "mean", "oracle", "pattern")
_STATES = (
    "hidden",
    "cell",
    "input",
    "forget",
    "candidate",
    "output",
    "update",
    "reset",
    "new",
)


@dataclass(frozen=True, eq=False)
class Intervention:
    """Overwrite units of one recurrent layer at every time step.

    The overwrite happens after the cell computes its state and before that state
    feeds the next step, the next layer and the output (the paper's Rm-Neuron_k and
    Oracle_k, §5.2). Pass interventions to
    :meth:`skdni.models.RecurrentStack.run` / ``step``, to
    :func:`skdni.intervention.generate_with_interventions`, or let
    :class:`skdni.intervention.NeuronAblationScorer` build them.

    Parameters
    ----------
    layer : int or str, default=0
        Recurrent layer: index among the model's recurrent layers (0 = the first
        LSTM/GRU/SimpleRNN layer, negative counts from the end) or its name.
    units : array-like of int
        Unit indices within that layer.
    state : str, default="hidden"
        ``"hidden"``; ``"cell"`` overwrites an LSTM's ``c_t`` (``h_t`` of the same
        step is computed from the cell's own ``c_t`` and the overwritten ``c_t``
        shapes the next steps); or a gate, overwritten right after it is computed
        and before the step uses it: LSTM ``"input"``, ``"forget"``,
        ``"candidate"``, ``"output"``, GRU ``"update"``, ``"reset"``, ``"new"``
        (see :mod:`skdni.models._gates`).
    mode : {"zero", "clamp", "mean", "oracle", "pattern"}, default="zero"
        ``"zero"``: set to 0. ``"clamp"``: set to ``values`` (a scalar, or one value
        per unit; default 1.0, as in the paper's Figure 4). ``"mean"``: set to
        ``values``, the units' mean activations (one per unit). ``"oracle"``: set to
        the per-character label pattern ``values`` — shape (n_chars,) (the same
        pattern for every unit) or (n_chars, k) — mapped linearly from [0, 1] to
        ``oracle_range``. A NaN label leaves the unit's own value at that step.
        ``"pattern"``: set to the per-character ``values`` as given, same shapes
        as ``"oracle"`` (finite, or NaN to leave the unit's value) — the raw form
        of an oracle, for values that are not labels (a calibrated per-unit
        mapping, another text's states).
    values : float or array-like, optional
        See ``mode``.
    oracle_range : (float, float), default=(-1, 1)
        Where labels 0 and 1 go (the paper maps to [-1, 1] and notes it may need
        tuning).

    Examples
    --------
    >>> Intervention(layer=0, units=[3, 17], mode="clamp", values=1.0).units
    array([ 3, 17])
    """

    layer: int | str = 0
    units: np.ndarray = ()
    state: str = "hidden"
    mode: str = "zero"
    values: float | np.ndarray | None = None
    oracle_range: tuple = (-1.0, 1.0)

    def __post_init__(self):
        object.__setattr__(self, "units", check_units(self.units))
        if self.state not in _STATES:
            raise InputError(f"state must be one of {_STATES}, got {self.state!r}.")
        if self.mode not in _MODES:
            raise InputError(f"mode must be one of {_MODES}, got {self.mode!r}.")
        values = self.values
        if self.mode == "clamp" and values is None:
            values = 1.0
        if self.mode in ("mean", "oracle", "pattern") and values is None:
            raise InputError(
                f"mode={self.mode!r} needs values ("
                + ("the units' means" if self.mode == "mean" else "the pattern")
                + ")."
            )
        if values is not None:
            check_values(values, self.mode)
        if values is not None and not np.isscalar(values):
            values = np.asarray(values, dtype=np.float64)
        object.__setattr__(self, "values", values)
        try:
            low, high = (float(v) for v in self.oracle_range)
        except (TypeError, ValueError):
            low = high = np.nan
        if not np.isfinite([low, high]).all():
            raise InputError(
                f"oracle_range must be two finite numbers, got {self.oracle_range!r}."
            )
        object.__setattr__(self, "oracle_range", (low, high))

    def __repr__(self):
        return (
            f"Intervention(layer={self.layer!r}, units={self.units.tolist()!r}, "
            f"state={self.state!r}, mode={self.mode!r})"
        )


def check_values(values, mode: str, name: str = "values") -> None:
    """Refuse values that would give meaningless results without an error.

    ``"clamp"`` / ``"mean"`` values must be finite numbers; ``"oracle"`` labels
    must lie in [0, 1] and ``"pattern"`` values must be finite (NaN in both: leave
    the unit's own value at that step).
    """
    try:
        arr = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise InputError(f"{name} must be numbers, got {values!r}.") from exc
    if mode == "oracle":
        bad = ~np.isnan(arr) & ((arr < 0) | (arr > 1))
        rule = "oracle labels must lie in [0, 1] (NaN: leave the unit's value)"
    elif mode == "pattern":
        bad = np.isinf(arr)
        rule = "pattern values must be finite (NaN: leave the unit's value)"
    else:
        bad = ~np.isfinite(arr)
        rule = f"{mode} values must be finite"
    if bad.any():
        where = np.argwhere(bad)[0] if arr.ndim else ()
        at = f" at index {tuple(int(i) for i in where)}" if arr.ndim else ""
        raise InputError(f"{name}: {rule}; got {float(arr[tuple(where)])}{at}.")


def top_and_random_units(ranked, ks, n_units: int, n_random: int, rng) -> list:
    """The unit sets compared for each ``k``: ``(k, -1, top-k units)``, then
    ``(k, draw, units)`` for ``n_random`` draws of ``k`` units from the layer's units
    outside the top-k (from all units when fewer than ``k`` remain).

    Call it in the parent process, before dispatching work, so the draws (and the
    results) do not depend on ``n_jobs``.
    """
    sets = []
    for k in ks:
        top = ranked[:k]
        sets.append((k, -1, top))
        others = np.setdiff1d(np.arange(n_units), top)
        pool = others if len(others) >= k else np.arange(n_units)
        sets.extend(
            (k, draw, np.sort(rng.choice(pool, size=k, replace=False)))
            for draw in range(n_random)
        )
    return sets


def check_units(units, n_units=None, layer_name=None, where="Unit") -> np.ndarray:
    """The one validator of unit indices: ``units`` as a 1-D int64 array.

    Integers (an empty list is fine), no unit twice, and with ``n_units`` each in
    ``0..n_units - 1`` of the layer ``layer_name``; otherwise an
    :class:`~skdni.InputError` naming the bad unit (``where`` starts the range
    message, e.g. ``"Intervention 0: unit"``).
    """
    array = np.asarray(units)
    if array.size and not np.issubdtype(array.dtype, np.integer):
        raise InputError(f"units must be integers, got {array.dtype} {array!r}.")
    array = array.astype(np.int64).reshape(-1)
    if n_units is not None:
        bad = array[(array < 0) | (array >= n_units)]
        if bad.size:
            raise InputError(
                f"{where} {int(bad[0])} is out of range for layer {layer_name!r} with "
                f"{n_units} units (valid: 0..{n_units - 1})."
            )
    if len(np.unique(array)) != array.size:
        raise InputError(f"units lists a unit twice: {array.tolist()}.")
    return array


def random_summary(draws) -> dict:
    """The one summary of random-k results for top-vs-random tables.

    Returns ``random_mean``, ``random_std`` (ddof=1; NaN with fewer than two
    draws), ``random_low`` / ``random_high`` (2.5 / 97.5 percentiles),
    ``random_min`` / ``random_max`` (the lowest / highest draw: "below / above
    every random draw" compares with these, not with the percentiles) and
    ``n_random``; NaN where there are no draws.
    """
    draws = np.asarray(draws, dtype=np.float64).reshape(-1)
    n = draws.size
    return {
        "random_mean": float(draws.mean()) if n else np.nan,
        "random_std": float(draws.std(ddof=1)) if n > 1 else np.nan,
        "random_low": float(np.percentile(draws, 2.5)) if n else np.nan,
        "random_high": float(np.percentile(draws, 97.5)) if n else np.nan,
        "random_min": float(draws.min()) if n else np.nan,
        "random_max": float(draws.max()) if n else np.nan,
        "n_random": int(n),
    }


def condition_rows(tasks, k, start=1):
    """Rows of the top-``k`` condition and of its random draws, for ``tasks`` from
    :func:`top_and_random_units` laid out from row ``start`` (row 0 is usually no
    intervention)."""
    top = next(i for i, t in enumerate(tasks, start) if t[:2] == (k, -1))
    draws = [i for i, t in enumerate(tasks, start) if t[0] == k and t[1] >= 0]
    return top, draws
