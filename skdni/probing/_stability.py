"""Ranking stability: how sure is a search of its top units? A text bootstrap.

Objective. Per (feature, unit): the probability, over resamples of whole texts with
replacement, that the unit is among the feature's top-k units by mean CV score, and
a 95% interval of its rank (1 = best).

Algorithm. Each resample draws as many texts as the corpus has, with replacement;
a text drawn twice keeps one group id, so its copies always share a fold (no text
is both trained and tested on). The search (a clone with its own ``n_bootstrap``,
``n_permutations`` and ``control`` switched off) is refitted on the resample with the
same engines, so a bootstrap costs ``n_bootstrap`` searches. A resample with fewer
distinct texts than folds is redrawn (from the same random stream, so results are
deterministic).
"""

import numpy as np
import pandas as pd
from sklearn.base import clone
from sklearn.utils import check_random_state

from .._errors import InputError

__all__ = ["ranking_stability"]


def _ranks(scores):
    """Rank of every unit per feature by mean score (1 = best; NaN scores last)."""
    filled = np.where(np.isnan(scores), -np.inf, scores)
    order = np.argsort(-filled, axis=1, kind="stable")
    ranks = np.empty_like(order)
    rows = np.arange(scores.shape[0])[:, None]
    ranks[rows, order] = np.arange(1, scores.shape[1] + 1)[None, :]
    return ranks


def ranking_stability(
    search, X, Y, groups, n_bootstrap, *, top_k=10, random_state=None, n_splits=None
):
    """Top-k probability and rank interval of every (feature, unit) over a text
    bootstrap.

    Parameters
    ----------
    search : NeuronProbeSearch
        The (unfitted or fitted) search to repeat; it is cloned.
    X : ndarray of shape (n_chars, n_units)
        Activations.
    Y : ndarray of shape (n_chars, n_features)
        Labels.
    groups : array-like of shape (n_chars,)
        Text index of every row.
    n_bootstrap : int
        Number of resamples.
    top_k : int, default=10
        The top set whose membership is counted.
    random_state : int, RandomState or None, default=None
        The resampling.
    n_splits : int, optional
        The search's number of folds (for the check of distinct texts).

    Returns
    -------
    DataFrame
        One row per (feature, unit): ``feature``, ``unit``, ``p_top_k``,
        ``rank_median``, ``rank_low``, ``rank_high`` (2.5% and 97.5% of the rank).

    Raises
    ------
    InputError
        No groups, or fewer texts than folds.
    """
    if groups is None:
        raise InputError("n_bootstrap resamples whole texts: pass groups to fit.")
    groups = np.asarray(groups)
    texts, inverse = np.unique(groups, return_inverse=True)
    n_texts = texts.size
    if n_splits is not None and n_texts < n_splits:
        raise InputError(
            f"n_bootstrap needs at least as many texts as folds: {n_texts} text(s) "
            f"(groups) for {n_splits} folds."
        )
    rows_of = [np.flatnonzero(inverse == t) for t in range(n_texts)]
    rng = check_random_state(random_state)
    base = clone(search).set_params(
        n_bootstrap=0, n_permutations=0, control=None, condition=None
    )
    all_ranks = []
    names = units = None
    for _ in range(n_bootstrap):
        while True:
            draw = rng.randint(0, n_texts, size=n_texts)
            if n_splits is None or np.unique(draw).size >= n_splits:
                break
        idx = np.concatenate([rows_of[t] for t in draw])
        g = np.concatenate([np.full(rows_of[t].size, t) for t in draw])
        fitted = clone(base).fit(X[idx], Y[idx], g)
        names, units = fitted.scores_.index, fitted.scores_.columns
        all_ranks.append(_ranks(fitted.scores_.to_numpy()))
    ranks = np.stack(all_ranks)  # (B, q, p)
    q, p = ranks.shape[1:]
    return pd.DataFrame(
        {
            "feature": np.repeat(np.asarray(names, dtype=object), p),
            "unit": np.tile(np.asarray(units, dtype=object), q),
            "p_top_k": (ranks <= top_k).mean(axis=0).ravel(),
            "rank_median": np.median(ranks, axis=0).ravel(),
            "rank_low": np.percentile(ranks, 2.5, axis=0).ravel(),
            "rank_high": np.percentile(ranks, 97.5, axis=0).ravel(),
        }
    )
