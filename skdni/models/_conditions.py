"""Many intervention conditions in one batched recurrence.

An ablation curve compares dozens of conditions (no intervention, top-k units,
random-k draws for several k) on the same texts. Run one by one, each condition is a
full pass of the Python time loop; here the batch holds every condition side by
side — row ``c * n_texts + i`` is text ``i`` under condition ``c`` — so the loop runs
once, with one larger matrix product per step. Conditions differ only in *which*
units of one (layer, state) they overwrite; the value a unit gets is the same in
every condition that overwrites it (a constant per unit, or per character and unit),
which is what ablation, oracle, resampling and clamped generation need.

The reference path is :meth:`~skdni.models.RecurrentStack.run` with one
:class:`~skdni.models.Intervention` per condition; the two agree to float rounding
(tested).
"""

from dataclasses import dataclass

import numpy as np

from .._errors import InputError
from ._gates import check_state
from ._recurrence import StackState, _keep_masked

__all__ = ["ConditionSet", "scan_conditions", "step_conditions"]


@dataclass(frozen=True, eq=False)
class ConditionSet:
    """Conditions that overwrite units of one (layer, state), side by side.

    Condition ``c`` overwrites the units where ``mask[c]`` is True. A unit ``u``
    gets ``offset[u]`` (no ``pattern``) or ``offset[u] + scale[u] * pattern[row, p]``
    with ``p = u`` when the pattern has one column per unit, else ``p = 0``; a NaN
    pattern value leaves the unit's own value at that step.

    Parameters
    ----------
    layer : int
        Recurrent layer index.
    state : str
        ``"hidden"`` or ``"cell"``.
    mask : bool ndarray of shape (n_conditions, n_units)
    offset : ndarray of shape (n_units,)
    scale : ndarray of shape (n_units,), optional
    pattern : ndarray of shape (n_rows, 1) or (n_rows, n_units), optional
        One row per character of the texts (corpus row order of the batch).
    """

    layer: int
    state: str
    mask: np.ndarray
    offset: np.ndarray
    scale: np.ndarray | None = None
    pattern: np.ndarray | None = None

    def __post_init__(self):
        for name in ("offset", "scale", "pattern"):
            value = getattr(self, name)
            if value is not None and not np.all(np.isfinite(value) | np.isnan(value)):
                raise InputError(f"ConditionSet.{name} has an infinite value.")
        if self.offset is not None and np.isnan(self.offset).any():
            raise InputError("ConditionSet.offset has a NaN value.")

    @property
    def n_conditions(self) -> int:
        return int(self.mask.shape[0])


def _values(item: ConditionSet, pattern_rows, dtype):
    """The values of one step: (n_units,) or (n_texts, n_units)."""
    if pattern_rows is None:
        return item.offset.astype(dtype, copy=False)
    return (item.offset + item.scale * pattern_rows).astype(dtype, copy=False)


def _write(array, item: ConditionSet, values, n_texts):
    """Overwrite the masked units of every condition's rows of ``array`` in place."""
    n_units = array.shape[1]
    blocks = array.reshape(item.n_conditions, n_texts, n_units)
    where = np.broadcast_to(item.mask[:, None, :], blocks.shape)
    if values.ndim == 2:
        where = where & ~np.isnan(values)[None]
    np.copyto(blocks, np.broadcast_to(values, blocks.shape), where=where)


def _gate_hook(items, index, n_texts, dtype, at):
    """The ``hook`` of ``_Layer.step`` writing the gate items of layer ``index``
    (``at = (grids, t)``: per-step pattern rows), or ``None``."""
    gates = [
        (number, item)
        for number, item in enumerate(items)
        if item.layer == index and item.state not in ("hidden", "cell")
    ]
    if not gates:
        return None

    def hook(name, values):
        for number, item in gates:
            if item.state == name:
                rows = None
                if item.pattern is not None:
                    grids, t = at
                    rows = grids[number][t]
                _write(values, item, _values(item, rows, dtype), n_texts)
        return values

    return hook


def _check(stack, items, n_conditions):
    for item in items:
        layer = stack.layers[item.layer]
        if item.mask.shape != (n_conditions, layer.units):
            raise InputError(
                f"ConditionSet mask has shape {item.mask.shape}; expected "
                f"({n_conditions}, {layer.units}) for layer {layer.name!r}."
            )
        if item.state == "cell" and layer.kind != "lstm":
            raise InputError(
                f"state='cell' needs an LSTM layer; {layer.name!r} is a {layer.kind} "
                "layer."
            )
        if item.state not in ("hidden", "cell"):
            check_state(item.state, layer.kind, layer.name, "ConditionSet")


def step_conditions(stack, ids, state: StackState, items, n_conditions: int):
    """One step of a batch of ``n_conditions`` blocks of sequences (``ids`` and
    ``state`` cover the whole batch, condition-major: row ``c * n + i``). ``items``
    take no pattern here.

    Returns ``(probs, new_state)`` as :meth:`RecurrentStack.step`.
    """
    ids = np.asarray(ids).reshape(-1)
    n_texts = len(ids) // n_conditions
    _check(stack, items, n_conditions)
    masked = None if stack.mask_id is None else (ids == stack.mask_id)[:, None]
    hs, cs, x = [], [], None
    for index, layer in enumerate(stack.layers):
        xproj = stack.table[ids] if index == 0 else layer.project(x)
        hook = _gate_hook(items, index, n_texts, stack.dtype, None)
        h, c = layer.step(xproj, state.h[index], state.c[index], hook)
        if masked is not None:
            h, c = _keep_masked(masked, h, c, state.h[index], state.c[index])
        for item in items:
            if item.layer == index and item.state in ("hidden", "cell"):
                target = h if item.state == "hidden" else c
                _write(target, item, _values(item, None, stack.dtype), n_texts)
        hs.append(h)
        cs.append(c)
        x = h
    return stack._output(x), StackState(h=hs, c=cs)


def scan_conditions(stack, ids, lengths, items, n_conditions: int):
    """Run right-padded texts under every condition at once, step by step.

    Parameters
    ----------
    stack : RecurrentStack
    ids : int array of shape (n_texts, time)
    lengths : int array of shape (n_texts,)
    items : list of ConditionSet
        Patterns have one row per valid character, ``ids[valid]`` order.
    n_conditions : int

    Yields
    ------
    t : int
    h : ndarray of shape (n_conditions, n_texts, n_units)
        The last recurrent layer's output at step ``t`` (after the overwrites);
        apply ``stack._output`` to the rows you score. Memory stays at one step of
        the tiled batch, whatever the text length.
    """
    ids = np.asarray(ids)
    n_texts, time = ids.shape
    _check(stack, items, n_conditions)
    valid = np.arange(time)[None, :] < np.asarray(lengths)[:, None]
    grids = {}
    for number, item in enumerate(items):
        if item.pattern is not None:
            pattern = np.asarray(item.pattern, dtype=np.float64)
            grid = np.full((time, n_texts, pattern.shape[1]), np.nan)
            grid.transpose(1, 0, 2)[valid] = pattern
            grids[number] = grid
    tiled = np.tile(ids, (n_conditions, 1)).T  # (time, batch)
    masks = None
    if stack.mask_id is not None and (ids == stack.mask_id).any():
        masks = (tiled == stack.mask_id)[:, :, None]
    batch = n_conditions * n_texts
    hs = [np.zeros((batch, layer.units), stack.dtype) for layer in stack.layers]
    cs = [
        np.zeros_like(h) if lay.kind == "lstm" else None
        for h, lay in zip(hs, stack.layers, strict=True)
    ]
    # constant overwrites: the target values and where they go, built once
    constants = {}
    for number, item in enumerate(items):
        if item.pattern is None:
            shape = (n_conditions, n_texts, stack.layers[item.layer].units)
            values = np.broadcast_to(_values(item, None, stack.dtype), shape)
            constants[number] = (values, np.broadcast_to(item.mask[:, None, :], shape))
    for t in range(time):
        x = None
        for index, layer in enumerate(stack.layers):
            xproj = stack.table[tiled[t]] if index == 0 else layer.project(x)
            hook = _gate_hook(items, index, n_texts, stack.dtype, (grids, t))
            h, c = layer.step(xproj, hs[index], cs[index], hook)
            if masks is not None:
                h, c = _keep_masked(masks[t], h, c, hs[index], cs[index])
            for number, item in enumerate(items):
                if item.layer != index or item.state not in ("hidden", "cell"):
                    continue
                target = h if item.state == "hidden" else c
                if number in constants:
                    values, where = constants[number]
                    np.copyto(target.reshape(values.shape), values, where=where)
                else:
                    values = _values(item, grids[number][t], stack.dtype)
                    _write(target, item, values, n_texts)
            hs[index], cs[index] = h, c
            x = h
        yield t, x.reshape(n_conditions, n_texts, -1)
