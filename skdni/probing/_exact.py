"""The exact path: clone and fit the user's probe for every (feature, unit, fold).

Tasks are (feature, chunk of units) so that one task holds many small fits; results are
plain arrays assembled in the parent, so they do not depend on ``n_jobs``.
"""

import math

import numpy as np
from joblib import effective_n_jobs
from sklearn.base import clone
from sklearn.dummy import DummyClassifier
from sklearn.utils.parallel import Parallel, delayed

__all__ = ["exact_fold_scores"]


def _pair_task(probe, classifier, scorer, x_cols, y, valid, splits):
    """Fold scores of one feature against a chunk of units, shape (n_units, n_folds)."""
    out = np.full((x_cols.shape[1], len(splits)), np.nan)
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
            fitted = model.fit(x_cols[train, u : u + 1], y_train)
            out[u, k] = scorer(fitted, x_cols[test, u : u + 1], y[test])
    return out


def exact_fold_scores(
    X, Y, features, probes, classifiers, scorers, splits, *, n_jobs=None, verbose=0
):
    """Held-out scores of ``probes[j]`` on every unit for the listed features.

    Returns an array of shape (len(features), p, n_folds).
    """
    n_units = X.shape[1]
    n_tasks_wanted = 4 * effective_n_jobs(n_jobs)
    per_feature = max(1, math.ceil(n_tasks_wanted / max(1, len(features))))
    chunk = max(1, math.ceil(n_units / per_feature))
    unit_chunks = [
        np.arange(s, min(s + chunk, n_units)) for s in range(0, n_units, chunk)
    ]
    tasks = [(i, c) for i in range(len(features)) for c in unit_chunks]
    parts = Parallel(n_jobs=n_jobs, verbose=max(0, verbose - 1))(
        delayed(_pair_task)(
            probes[i],
            classifiers[i],
            scorers[i],
            X[:, c],
            Y[:, features[i]],
            ~np.isnan(Y[:, features[i]]),
            splits,
        )
        for i, c in tasks
    )
    out = np.empty((len(features), n_units, len(splits)))
    for (i, c), part in zip(tasks, parts, strict=True):
        out[i, c] = part
    return out
