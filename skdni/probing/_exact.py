"""The exact path: clone and fit the user's probe for every (feature, unit, fold).

Tasks are (feature, chunk of units) so that one task holds many small fits; results are
plain arrays assembled in the parent, so they do not depend on ``n_jobs``.
"""

import math

import numpy as np
from joblib import effective_n_jobs
from sklearn.base import clone
from sklearn.dummy import DummyClassifier
from sklearn.utils.parallel import delayed

__all__ = ["exact_fold_scores"]


def _fit_and_score(model, scorer, x, y, train, test, error_score):
    """``scorer(model.fit(x[train], y[train]), x[test], y[test])``; a failing fit or
    score gives ``error_score`` and the exception (re-raised if ``"raise"``)."""
    try:
        return scorer(model.fit(x[train], y[train]), x[test], y[test]), None
    except Exception as exc:
        if isinstance(error_score, str) and error_score == "raise":
            raise
        return error_score, f"{type(exc).__name__}: {exc}"


def _pair_task(probe, classifier, scorer, x_cols, y, valid, splits, error_score):
    """Fold scores of one feature against a chunk of units, shape (n_units, n_folds),
    and the failed fits as ``(unit in chunk, fold, message)``."""
    out = np.full((x_cols.shape[1], len(splits)), np.nan)
    failures = []
    classes = np.unique(y[valid]) if classifier else None
    for k, (train, test) in enumerate(splits):
        train = train[valid[train]]
        test = test[valid[test]]
        if train.size == 0 or test.size == 0:
            continue
        y_train = y[train]
        if classifier and np.unique(y_train).size < 2:
            # A one-class training fold cannot be fitted by a classifier: predict the
            # class it has (the fast engines do the same). The other class enters
            # with weight 0, so the dummy knows both classes and probability scorers
            # (roc_auc) see a constant score instead of failing.
            other = classes[classes != y_train[0]][:1]
            fitted = DummyClassifier(strategy="most_frequent").fit(
                np.zeros((train.size + other.size, 1)),
                np.r_[y_train, other],
                sample_weight=np.r_[np.ones(train.size), np.zeros(other.size)],
            )
            for u in range(x_cols.shape[1]):
                out[u, k] = scorer(fitted, x_cols[test, u : u + 1], y[test])
            continue
        model = clone(probe)
        for u in range(x_cols.shape[1]):
            out[u, k], failed = _fit_and_score(
                model, scorer, x_cols[:, u : u + 1], y, train, test, error_score
            )
            if failed is not None:
                failures.append((u, k, failed))
    return out, failures


def exact_fold_scores(
    X, Y, features, probes, classifiers, scorers, splits, parallel, error_score=np.nan
):
    """Held-out scores of ``probes[i]`` on every unit for the listed features.

    Parameters
    ----------
    X : ndarray of shape (n_rows, n_units)
        Activations (in memory: the exact path reads columns in the parent).
    Y : ndarray of shape (n_rows, n_labels)
        Labels, NaN where a row is unlabelled.
    features : list of int
        The columns of ``Y`` to score.
    probes, classifiers, scorers : lists, one entry per feature
        The estimator to clone, whether it is a classifier, and its scorer.
    splits : sequence of (train, test) index arrays
        The folds (any splitter's, not only partitions).
    parallel : sklearn.utils.parallel.Parallel
        Runs the tasks.
    error_score : "raise" or float, default=np.nan
        Score of a fit (or scoring) that raises; ``"raise"`` re-raises.

    Returns
    -------
    scores : ndarray of shape (len(features), n_units, n_folds)
    failures : list of (int, int, int, str)
        ``(feature index in features, unit, fold, message)`` of every failed fit.
    """
    n_units = X.shape[1]
    n_tasks_wanted = 4 * effective_n_jobs(parallel.n_jobs)
    per_feature = max(1, math.ceil(n_tasks_wanted / max(1, len(features))))
    chunk = max(1, math.ceil(n_units / per_feature))
    unit_chunks = [
        np.arange(s, min(s + chunk, n_units)) for s in range(0, n_units, chunk)
    ]
    tasks = [(i, c) for i in range(len(features)) for c in unit_chunks]
    parts = parallel(
        delayed(_pair_task)(
            probes[i],
            classifiers[i],
            scorers[i],
            X[:, c],
            Y[:, features[i]],
            ~np.isnan(Y[:, features[i]]),
            splits,
            error_score,
        )
        for i, c in tasks
    )
    out = np.empty((len(features), n_units, len(splits)))
    failures = []
    for (i, c), (part, failed) in zip(tasks, parts, strict=True):
        out[i, c] = part
        failures.extend((i, int(c[u]), k, message) for u, k, message in failed)
    return out, failures
