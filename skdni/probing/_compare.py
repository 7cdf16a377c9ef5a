"""Cross-model comparison: which features two models both encode, and in which units.

Two models (two seeds, two sizes, two architectures) read the same texts; each has a
fitted :class:`~skdni.probing.NeuronProbeSearch` for the same features. A feature is
*universal* when both searches find a unit above chance for it. Units are matched
across models by the Pearson correlation of their activations over the same
characters (Li et al. 2016, "Convergent learning"): for model A's best unit of a
feature, the unit of model B whose activations correlate most (in absolute value),
and whether that unit is also among B's findings for the feature.

The correlation matrix is one product of the two standardised activation tables
(``n_chars × p_a`` by ``n_chars × p_b``); a constant unit correlates 0 with every
unit.
"""

import numpy as np
import pandas as pd

from .._compat import check_is_fitted
from .._errors import InputError

__all__ = ["compare_units", "unit_correlation"]


def _standardised(A):
    A = np.asarray(A, dtype=np.float64)
    centred = A - A.mean(axis=0)
    norm = np.sqrt((centred * centred).sum(axis=0))
    return centred / np.where(norm > 0, norm, np.inf)  # constant unit → zeros


def unit_correlation(activations_a, activations_b):
    """Pearson correlation of every unit of A with every unit of B.

    Parameters
    ----------
    activations_a : array-like of shape (n_chars, p_a)
        Model A's activations.
    activations_b : array-like of shape (n_chars, p_b)
        Model B's activations on the same characters.

    Returns
    -------
    ndarray of shape (p_a, p_b)
        Correlations; 0 for a constant unit.

    Examples
    --------
    >>> import numpy as np
    >>> from skdni.probing._compare import unit_correlation
    >>> a = np.c_[np.arange(5.0), np.ones(5)]
    >>> unit_correlation(a, -a).round(2).tolist()
    [[-1.0, 0.0], [0.0, 0.0]]
    """
    a = np.asarray(activations_a, dtype=np.float64)
    b = np.asarray(activations_b, dtype=np.float64)
    if a.ndim != 2 or b.ndim != 2 or a.shape[0] != b.shape[0]:
        raise InputError(
            f"activations_a {a.shape} and activations_b {b.shape} must be 2-D with "
            "one row per character of the same texts."
        )
    return np.clip(_standardised(a).T @ _standardised(b), -1.0, 1.0)


def _unit_names(search, n_units):
    if hasattr(search, "feature_names_in_"):
        return [str(u) for u in search.feature_names_in_]
    return [f"x{j}" for j in range(n_units)]


def compare_units(search_a, search_b, activations_a, activations_b):
    """Which features two models both encode, and whether in corresponding units.

    Parameters
    ----------
    search_a, search_b : NeuronProbeSearch
        Fitted on models A and B (same feature names; features in only one search
        are left out).
    activations_a, activations_b : array-like of shape (n_chars, n_units)
        The activations the searches were fitted on, over the same characters.

    Returns
    -------
    DataFrame
        One row per shared feature: ``feature``; ``found_a``, ``found_b`` (the
        search has a unit above chance); ``universal`` (both); ``unit_a``,
        ``score_a`` (A's best unit and its mean CV score); ``unit_b``, ``score_b``
        (B's); ``matched_unit_b`` (B's unit most correlated with ``unit_a``, in
        absolute value), ``correlation`` (signed) and ``matched_is_finding``
        (``matched_unit_b`` is among B's ``top_units_`` for the feature).

    Raises
    ------
    InputError
        Activations with other row counts or unit counts than the searches.

    Examples
    --------
    >>> import numpy as np
    >>> from skdni.probing import NeuronProbeSearch, compare_units
    >>> rng = np.random.default_rng(0)
    >>> y = (rng.random(600) < 0.5).astype(float)
    >>> A = rng.normal(size=(600, 4)); A[:, 1] += 2 * y
    >>> B = rng.normal(size=(600, 4)); B[:, 3] = A[:, 1] + 0.1 * rng.normal(size=600)
    >>> a = NeuronProbeSearch(cv=5).fit(A, y)
    >>> b = NeuronProbeSearch(cv=5).fit(B, y)
    >>> table = compare_units(a, b, A, B)
    >>> table[["universal", "unit_a", "matched_unit_b", "matched_is_finding"]]
       universal unit_a matched_unit_b  matched_is_finding
    0       True     x1             x3                True
    """
    check_is_fitted(search_a)
    check_is_fitted(search_b)
    A = np.asarray(activations_a, dtype=np.float64)
    B = np.asarray(activations_b, dtype=np.float64)
    for name, search, acts in (("a", search_a, A), ("b", search_b, B)):
        if acts.ndim != 2 or acts.shape[1] != search.n_features_in_:
            raise InputError(
                f"activations_{name} has shape {acts.shape}, but search_{name} was "
                f"fitted on {search.n_features_in_} units."
            )
    if A.shape[0] != B.shape[0]:
        raise InputError(
            f"activations_a has {A.shape[0]} rows and activations_b {B.shape[0]}: "
            "both models must read the same characters."
        )
    corr = unit_correlation(A, B)
    names_a = _unit_names(search_a, A.shape[1])
    names_b = _unit_names(search_b, B.shape[1])
    shared = [f for f in search_a.target_names_ if f in set(search_b.target_names_)]
    rows = []
    for f in shared:
        top_a = np.asarray(search_a.top_units_[f], dtype=np.int64)
        top_b = np.asarray(search_b.top_units_[f], dtype=np.int64)
        best_a = int(top_a[0]) if top_a.size else None
        best_b = int(top_b[0]) if top_b.size else None
        row = {
            "feature": f,
            "found_a": bool(top_a.size),
            "found_b": bool(top_b.size),
            "universal": bool(top_a.size and top_b.size),
            "unit_a": names_a[best_a] if best_a is not None else None,
            "score_a": float(search_a.scores_.loc[f].iloc[best_a])
            if best_a is not None
            else np.nan,
            "unit_b": names_b[best_b] if best_b is not None else None,
            "score_b": float(search_b.scores_.loc[f].iloc[best_b])
            if best_b is not None
            else np.nan,
            "matched_unit_b": None,
            "correlation": np.nan,
            "matched_is_finding": False,
        }
        if best_a is not None:
            m = int(np.argmax(np.abs(corr[best_a])))
            row["matched_unit_b"] = names_b[m]
            row["correlation"] = float(corr[best_a, m])
            row["matched_is_finding"] = bool(m in set(top_b.tolist()))
        rows.append(row)
    return pd.DataFrame(rows)
