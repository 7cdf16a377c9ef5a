"""Each unit's mean activation where a feature is on and where it is off.

A causal check that sets units to "the feature is on" needs each unit's own
on-level: most units that encode a feature do so *negatively* (their activation
drops where the feature holds), so one constant for all (the paper's +1) pushes
them the wrong way. The search records the levels while it has the activations at
hand: one matrix product per block of rows (memmaps are read block by block).
"""

import numpy as np

__all__ = ["unit_levels"]

# rows per block: bounds the float64 copies of X and of the indicators
_BLOCK_ROWS = 65_536
# a continuous feature's "off" / "on" rows: its lowest / highest tenth
_LOW_END, _HIGH_END = 0.1, 0.9


def _ends(y, kind, values):
    """``(off, on)`` bounds of one feature: the two classes of a binary feature,
    the low / high tenth of a continuous one (its minimum / maximum when those
    quantiles meet)."""
    if kind == "binary":
        return (values[0], values[0]), (values[-1], values[-1])
    low, high = np.nanquantile(y, [_LOW_END, _HIGH_END])
    if low == high:
        return (-np.inf, np.nanmin(y)), (np.nanmax(y), np.inf)
    return (-np.inf, low), (high, np.inf)


def unit_levels(X, Y, names, kinds, classes) -> dict:
    """Per feature: every unit's mean activation where the feature is off / on.

    Parameters
    ----------
    X : array-like of shape (n_rows, n_units)
        Activations (an in-memory array or a memmap).
    Y : ndarray of shape (n_rows, n_features)
        Labels, NaN where a feature does not label a row.
    names : list of str
    kinds : list of {"binary", "continuous"}
    classes : list of ndarray
        The label values of each feature (a binary feature's two classes, low
        first).

    Returns
    -------
    dict
        ``levels[name]`` is a dict with ``"off"`` and ``"on"`` (float64 arrays of
        shape (n_units,), NaN when no row is off / on), ``"sign"`` (int8: +1 when
        the unit is higher where the feature is on, -1 when lower, 0 when equal),
        and ``"n_off"`` / ``"n_on"`` (rows averaged).

    Examples
    --------
    >>> X = np.array([[1.0, -1.0], [3.0, -3.0], [0.0, 0.0]])
    >>> Y = np.array([[1.0], [1.0], [0.0]])
    >>> levels = unit_levels(X, Y, ["f"], ["binary"], [np.array([0.0, 1.0])])
    >>> levels["f"]["on"].tolist(), levels["f"]["off"].tolist()
    ([2.0, -2.0], [0.0, 0.0])
    >>> levels["f"]["sign"].tolist()
    [1, -1]
    """
    n_rows, n_units = X.shape
    q = len(names)
    ends = [
        _ends(np.asarray(Y[:, j], dtype=np.float64), kinds[j], classes[j])
        for j in range(q)
    ]
    # (side, bound) per feature: the off rows then the on rows of every feature
    bounds = np.array([[end[side] for end in ends] for side in (0, 1)])
    low, high = bounds[..., 0], bounds[..., 1]
    sums = np.zeros((2 * q, n_units))
    counts = np.zeros(2 * q)
    marks = np.empty((min(n_rows, _BLOCK_ROWS), 2 * q))
    for start in range(0, n_rows, _BLOCK_ROWS):
        block = np.asarray(X[start : start + _BLOCK_ROWS], dtype=np.float64)
        labels = np.asarray(Y[start : start + _BLOCK_ROWS], dtype=np.float64)
        mark = marks[: block.shape[0]]
        for side in (0, 1):  # NaN rows: on no side
            np.logical_and(
                labels >= low[side],
                labels <= high[side],
                out=mark[:, side * q : (side + 1) * q],
                casting="unsafe",
            )
        sums += mark.T @ block
        counts += mark.sum(axis=0)
    sums, counts = sums.reshape(2, q, n_units), counts.reshape(2, q)
    with np.errstate(invalid="ignore", divide="ignore"):
        means = sums / counts[:, :, None]
    levels = {}
    for j, name in enumerate(names):
        off, on = means[0, j], means[1, j]
        levels[name] = {
            "off": off,
            "on": on,
            "sign": np.sign(np.nan_to_num(on - off)).astype(np.int8),
            "n_off": int(counts[0, j]),
            "n_on": int(counts[1, j]),
        }
    return levels
