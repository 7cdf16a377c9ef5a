"""Each unit's mean activation where a feature is on and where it is off.

A causal check that sets units to "the feature is on" needs each unit's own
on-level: most units that encode a feature do so *negatively* (their activation
drops where the feature holds), so one constant for all (the paper's +1) pushes
them the wrong way. The search records the levels while it has the activations at
hand: one matrix product per block of rows (memmaps are read block by block).
"""

import numpy as np
from sklearn.utils.parallel import Parallel, delayed

from ._streaming import _read_rows, row_part, source_of

__all__ = ["unit_levels"]

# rows per block: bounds the float64 copies of X and of the indicators
_BLOCK_ROWS = 65_536
# rows per chunk when gathering in-memory label columns (transposes kept in cache)
_COLUMN_ROWS = 2048
# bytes of continuous label columns gathered at a time (for their quantiles): a
# memmap's columns are never all in memory at once
_COLUMN_BYTES = 1 << 26
# a continuous feature's "off" / "on" rows: its lowest / highest tenth
_LOW_END, _HIGH_END = 0.1, 0.9


def _ends(y):
    """``(off, on)`` bounds of a continuous feature from its label column ``y``
    (contiguous, NaN where unlabelled): the low / high tenth, its minimum / maximum
    when those quantiles meet. ``np.quantile`` of the labelled values is what
    ``np.nanquantile(y)`` computes (it drops the NaNs, then calls it)."""
    unlabelled = np.isnan(y)
    if unlabelled.any():
        y = y[~unlabelled]
    if not y.size:  # on no side (nanquantile's all-NaN answer)
        return (-np.inf, np.nan), (np.nan, np.inf)
    low, high = np.quantile(y, [_LOW_END, _HIGH_END])
    if low == high:
        return (-np.inf, y.min()), (y.max(), np.inf)
    return (-np.inf, low), (high, np.inf)


def _label_columns(Y, feats):
    """``Y[:, feats]`` as contiguous float64 columns, shape (len(feats), n_rows),
    gathered in row chunks (a memmap is read by row chunks, never whole)."""
    source = source_of(Y)
    n_rows = Y.shape[0]
    step = _BLOCK_ROWS if isinstance(source, tuple) else _COLUMN_ROWS
    out = np.empty((len(feats), n_rows))
    for lo in range(0, n_rows, step):
        hi = min(lo + step, n_rows)
        out[:, lo:hi] = _read_rows(source, lo, hi, feats).T
    return out


def _block_sums(xpart, ypart, low, high):
    """Sums of the activation rows of one row block on each feature's off / on side,
    shape (2q, n_units), and the rows counted (2q,).

    The side indicators are built feature-major, (2q, n_rows) C-ordered, so the
    product reads both operands in their stored order; a side open at one end
    (``-inf`` / ``inf``) or a single class (low == high) takes one comparison.
    The indicators and the product's operands are the same numbers as a
    row-major ``mark.T @ block``, so the sums are too."""
    n = xpart[2][0] if isinstance(xpart, tuple) else xpart.shape[0]
    block, labels = _read_rows(xpart, 0, n), _read_rows(ypart, 0, n)
    q = low.shape[1]
    columns = np.ascontiguousarray(labels.T)
    mark = np.empty((2 * q, block.shape[0]))
    for side in (0, 1):  # NaN rows: on no side
        for j in range(q):
            lo, hi, y = low[side, j], high[side, j], columns[j]
            out = mark[side * q + j]
            if lo == hi:
                np.equal(y, lo, out=out, casting="unsafe")
            elif lo == -np.inf:
                np.less_equal(y, hi, out=out, casting="unsafe")
            elif hi == np.inf:
                np.greater_equal(y, lo, out=out, casting="unsafe")
            else:
                np.logical_and(y >= lo, y <= hi, out=out, casting="unsafe")
    return mark @ block, mark.sum(axis=1)


def unit_levels(X, Y, names, kinds, classes, parallel=None) -> dict:
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
    parallel : sklearn.utils.parallel.Parallel, default=None
        Runs one task per continuous feature (its quantiles) and per block of
        ``_BLOCK_ROWS`` rows (its sums); None: in this process. The blocks'
        sums are added in row order, so the levels do not depend on ``n_jobs``.

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
    if parallel is None:
        parallel = Parallel(n_jobs=1)
    n_rows, n_units = X.shape
    q = len(names)
    ends = [((values[0], values[0]), (values[-1], values[-1])) for values in classes]
    continuous = [j for j in range(q) if kinds[j] != "binary"]
    per_batch = max(1, _COLUMN_BYTES // (8 * max(n_rows, 1)))
    for start in range(0, len(continuous), per_batch):
        batch = continuous[start : start + per_batch]
        columns = _label_columns(Y, batch)
        found = parallel(delayed(_ends)(column) for column in columns)
        for j, end in zip(batch, found, strict=True):
            ends[j] = end
        del columns
    # (side, bound) per feature: the off rows then the on rows of every feature
    bounds = np.array([[end[side] for end in ends] for side in (0, 1)])
    low, high = bounds[..., 0], bounds[..., 1]
    sums = np.zeros((2 * q, n_units))
    counts = np.zeros(2 * q)
    parts = parallel(
        delayed(_block_sums)(
            row_part(X, start, min(start + _BLOCK_ROWS, n_rows)),
            row_part(Y, start, min(start + _BLOCK_ROWS, n_rows)),
            low,
            high,
        )
        for start in range(0, n_rows, _BLOCK_ROWS)
    )
    for part_sums, part_counts in parts:  # in row order, for any n_jobs
        sums += part_sums
        counts += part_counts
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
