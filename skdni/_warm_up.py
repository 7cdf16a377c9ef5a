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


# The module whose kernels a task compiles (checked for a filled cache by
# :func:`start_warm_up`; a task not listed is always started).
_TASK_MODULES = {
    "svm_rank": "skdni.probing._fast_rank",
    "tree_sitter": "skdni.features._span_kernel",
}


def _in_cache(task):
    """Whether every kernel of ``task``'s module has an index file in numba's cache
    (best effort: any doubt counts as not cached)."""
    import importlib

    name = _TASK_MODULES.get(task)
    if name is None:
        return False
    try:
        from numba.core.registry import CPUDispatcher

        module = importlib.import_module(name)
        kernels = [v for v in vars(module).values() if isinstance(v, CPUDispatcher)]
        return bool(kernels) and all(
            os.path.exists(k._cache._cache_file._index_path) for k in kernels
        )
    except Exception:  # noqa: BLE001 - a private numba API: doubt means compile
        return False


def start_warm_up(tasks):
    """Compile the kernels of ``tasks`` in a background process, unless cached.

    ``skdni run`` starts it before training, so that on a fresh install the probe
    search loads its kernels instead of compiling them (the compilation runs on the
    other core while the model trains). The child runs at a lower priority and
    imports this same skdni (the cache is keyed to the source files).

    Parameters
    ----------
    tasks : list of str
        Names from ``WARM_UP_TASKS``.

    Returns
    -------
    process : subprocess.Popen or None
        The running warm-up, for :func:`finish_warm_up`; None when every task's
        kernels are already in the cache.
    """
    import subprocess
    import sys

    missing = [task for task in tasks if not _in_cache(task)]
    if not missing:
        return None
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [root, env.get("PYTHONPATH")]))
    code = (
        "import os\n"
        "if hasattr(os, 'nice'): os.nice(10)\n"
        "from skdni._warm_up import warm_up\n"
        f"warm_up(n_jobs=1, tasks={missing!r})\n"
    )
    try:
        return subprocess.Popen(
            [sys.executable, "-c", code],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
    except OSError:  # no process to spare: the search compiles its own kernels
        return None


def finish_warm_up(process, timeout=600.0):
    """Wait for a warm-up :func:`start_warm_up` started (None: nothing to wait for).

    A failed or hung warm-up costs nothing but time: the caller's first call then
    compiles the kernels itself.

    Parameters
    ----------
    process : subprocess.Popen or None
        What :func:`start_warm_up` returned.
    timeout : float, default=600.0
        Seconds to wait before the warm-up is stopped.

    Returns
    -------
    ok : bool
        Whether the warm-up finished and succeeded (True when there was none).
    """
    import subprocess

    if process is None:
        return True
    try:
        return process.wait(timeout) == 0
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
        return False


def stop_warm_up(process):
    """Stop a warm-up :func:`start_warm_up` started (None: nothing to stop).

    Numba writes each cache file under a temporary name and renames it, so a
    stopped compile leaves no partial cache entry.

    Parameters
    ----------
    process : subprocess.Popen or None
        What :func:`start_warm_up` returned.
    """
    if process is None or process.poll() is not None:
        return
    process.kill()
    process.wait()
