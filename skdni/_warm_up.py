"""``skdni.warm_up()`` / ``skdni warm-up``: compile every kernel into numba's cache.

Each task makes the calls a user's first call makes (a small fit of one probe, a
small featurization), so the kernels are compiled for the argument types real calls
have and saved in numba's on-disk cache; later processes load them (well under a
second) instead of compiling. Tasks run in parallel worker processes; a second run
loads everything from the cache (idempotent).
"""

import os

__all__ = ["WARM_UP_TASKS", "warm_up"]

# name -> the NeuronProbeSearch(probe, scoring) whose first fit compiles its kernels
_SEARCHES = {
    "svm": ("svm", None),
    "svm_rank": ("svm", "balanced_accuracy"),  # also roc_auc: one kernel
    "svc": ("svc", None),
    "logistic": ("logistic", None),
    "threshold": ("threshold", None),
}
WARM_UP_TASKS = (*_SEARCHES, "tree_sitter")


def _run_task(name):
    """Make the calls of warm-up task ``name``; return :func:`kernel_status`."""
    import numpy as np

    from ._numba import kernel_status

    if name == "tree_sitter":
        from .features import TreeSitterFeaturizer

        TreeSitterFeaturizer("c").fit_transform(["int f(void) { return (1 + 2); }\n"])
    else:
        from .probing import NeuronProbeSearch

        probe, scoring = _SEARCHES[name]
        rng = np.random.default_rng(0)
        X = rng.normal(size=(40, 2))
        Y = np.column_stack([np.arange(40) % 2, np.arange(40) % 3 == 0]).astype(float)
        NeuronProbeSearch(probe, cv=2, scoring=scoring).fit(X, Y)
    return kernel_status()


def warm_up(n_jobs=None, *, tasks=None):
    """Compile skdni's numba kernels into numba's on-disk cache.

    After this, the first fit of a new process loads its kernels from the cache
    instead of compiling them (see the README, "First call and the numba cache").
    The cache is numba's: ``NUMBA_CACHE_DIR`` if set, else ``__pycache__`` next to
    the package's sources if writable, else the user's cache directory. Running it
    again only loads the kernels.

    Parameters
    ----------
    n_jobs : int, default=None
        Worker processes compiling in parallel (each task in one). None: one per
        CPU, at most one per task. 1: every task in this process.
    tasks : list of str, default=None
        Names from ``WARM_UP_TASKS`` (a probe, ``"svm_rank"`` for
        ``scoring="balanced_accuracy"`` / ``"roc_auc"``, or ``"tree_sitter"``).
        Default: all.

    Returns
    -------
    kernels : dict
        ``{"module.function": "compiled" | "cached"}``: every kernel now in the
        cache, and whether this call compiled it or loaded it from the cache.
    """
    from ._errors import InvalidParameterError

    tasks = list(WARM_UP_TASKS if tasks is None else tasks)
    unknown = sorted(set(tasks) - set(WARM_UP_TASKS))
    if unknown:
        raise InvalidParameterError(
            f"warm_up: unknown task(s) {unknown}; choose from {list(WARM_UP_TASKS)}"
        )
    if n_jobs is None:
        n_jobs = min(len(tasks), os.cpu_count() or 1)
    if not isinstance(n_jobs, int) or isinstance(n_jobs, bool) or n_jobs < 1:
        raise InvalidParameterError(
            f"warm_up: n_jobs must be a positive integer or None, got {n_jobs!r}"
        )
    kernels = {}

    def add(found):
        for kernel, status in found.items():
            if kernels.get(kernel) != "compiled":
                kernels[kernel] = status

    if n_jobs == 1:
        for name in tasks:
            add(_run_task(name))
    else:
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        # spawn: fresh interpreters (no fork of numba's or a backend's threads)
        context = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(n_jobs, mp_context=context) as pool:
            for found in pool.map(_run_task, tasks):
                add(found)
    return dict(sorted(kernels.items()))
