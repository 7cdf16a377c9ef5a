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
        # importing skdni.probing here starts no background compile of its own
        before = os.environ.get(_STARTED)
        os.environ[_STARTED] = "1"
        try:
            for name in tasks:
                add(_run_task(name))
        finally:
            if before is None:
                del os.environ[_STARTED]
    else:
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        # spawn: fresh interpreters (no fork of numba's or a backend's threads)
        context = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(
            n_jobs, mp_context=context, initializer=_mark_warm_up_process
        ) as pool:
            for found in pool.map(_run_task, tasks):
                add(found)
    return dict(sorted(kernels.items()))


def _mark_warm_up_process():
    """A warm-up worker: its import of skdni.probing starts no background compile."""
    os.environ[_STARTED] = "1"


# The kernels a task's first call enters from Python: once numba's cache holds them,
# that call compiles nothing (the kernels they call are compiled into them).
_TASK_KERNELS = {
    "svm": (
        "probing._sorted._unit_major",
        "probing._radix.radix_sort_gather",
        "probing._fast_svm.svm_unit_scores",
        "probing._fast_svm.svm_fit_1d",
    ),
    "svm_rank": (
        "probing._sorted._unit_major",
        "probing._radix.radix_sort_gather",
        "probing._fast_rank.svm_rank_scores",
        "probing._fast_svm.svm_fit_1d",
    ),
    "svc": (
        "probing._sorted._unit_major",
        "probing._radix.radix_sort_gather",
        "probing._fast_svc.svc_sorted_scores",
        "probing._fast_svc._svc_fit_sorted",
    ),
    "logistic": (
        "probing._sorted._unit_major",
        "probing._radix.radix_sort_gather",
        "probing._fast_logistic.logistic_unit_scores",
    ),
    "threshold": (
        "probing._sorted._unit_major",
        "probing._radix.radix_sort_gather",
        "probing._fast_threshold.threshold_unit_scores",
    ),
    "tree_sitter": ("features._span_kernel._sweep",),
}

# The background compile ``import skdni.probing`` starts: every probe's kernels,
# the default probe's first.
BACKGROUND_TASKS = ("svm", "svm_rank", "threshold", "logistic", "svc")
# "0" turns that background compile off.
ENV_VAR = "SKDNI_NUMBA_WARM_UP"
# Set in this process once it started one, and in every warm-up process: their
# child processes (joblib workers, the warm-up itself) import skdni.probing too.
_STARTED = "_SKDNI_NUMBA_WARM_UP_STARTED"
# (process, tasks, status directory) of the background compile this process started
# at import
_background = None
# The longest a first fit waits for the background compile, in seconds.
WAIT_TIMEOUT = 60.0


def _in_cache(task):
    """Whether numba's cache holds a current build of every kernel ``task``'s first
    call enters (an index for these sources and this CPU; reads a few small files,
    compiles nothing). Best effort: any doubt counts as not cached."""
    import importlib

    try:
        for name in _TASK_KERNELS[task]:
            module, _, function = f"skdni.{name}".rpartition(".")
            kernel = getattr(importlib.import_module(module), function)
            magic = kernel.targetctx.codegen().magic_tuple()
            # {} when missing, or stale (other sources or numba version); the
            # package's cache directory of a built install first
            files = kernel._cache.cache_files()
            if not any(key[1] == magic for f in files for key in f._load_index()):
                return False
        return True
    except Exception:  # noqa: BLE001 - a private numba API: doubt means compile
        return False


def _is_main_process():
    """Whether this is a program's own process, not a worker multiprocessing, joblib
    (loky) or concurrent.futures started (those have a parent process)."""
    import multiprocessing

    return (
        multiprocessing.parent_process() is None
        and multiprocessing.current_process().name == "MainProcess"
    )


# What the child runs: argv = [root, status directory, lock file, low-priority-from,
# *tasks]. It first takes the lock file (one background compile per skdni at a time:
# processes started while one compiles queue behind it, then find its kernels
# cached). Each task: "<i>.start" in the status directory, then "<i>.done" (also
# when it was cached already or failed; a failure is swallowed: the fit compiles
# its own).
_CHILD = """\
import os, sys
root, status, lock, low = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
tasks = sys.argv[5:]
try:
    import fcntl
    held = open(lock, "a")
    fcntl.flock(held, fcntl.LOCK_EX)  # released when this process ends
except Exception:
    pass
if os.path.realpath(root) not in {os.path.realpath(p) for p in sys.path if p}:
    sys.path.insert(0, root)
from skdni._warm_up import _in_cache, _run_task
def mark(i, what):
    try:
        open(os.path.join(status, f"{i}.{what}"), "w").close()
    except OSError:
        pass
for i, task in enumerate(tasks):
    if i == low and hasattr(os, "nice"):
        os.nice(10)
    mark(i, "start")
    try:
        if not _in_cache(task):
            _run_task(task)
    except Exception:
        pass
    mark(i, "done")
"""


def _lock_path(root):
    """The lock file of the background compiles of the skdni in ``root``: one per
    installed copy (each has its own cache), in the temporary directory."""
    import hashlib
    import tempfile

    digest = hashlib.sha256(os.path.realpath(root).encode()).hexdigest()[:16]
    return os.path.join(tempfile.gettempdir(), f"skdni-warm-up-{digest}.lock")


def _priority_options():
    """``Popen`` options of the child: on Windows, below normal priority from the
    start (elsewhere the child lowers its own with ``os.nice``)."""
    import subprocess

    if os.name == "nt":
        return {"creationflags": subprocess.BELOW_NORMAL_PRIORITY_CLASS}
    return {}


def _reap(process, status):
    """Wait for ``process`` in a daemon thread (no zombie), then remove ``status``."""
    import shutil
    import threading

    def wait():
        process.wait()
        shutil.rmtree(status, ignore_errors=True)

    threading.Thread(target=wait, name="skdni-warm-up-reaper", daemon=True).start()


def _spawn(tasks, first_at_full_priority=False):
    """A low-priority process compiling ``tasks``' kernels into numba's cache in
    this order (a task that fails, or is cached by then, is skipped), or None if
    none can start (no interpreter to run, e.g. embedded or frozen); the first task
    at the caller's priority if ``first_at_full_priority`` (not on Windows: there
    the whole process runs below normal priority).

    Returns ``(process, status)``: ``status`` is a temporary directory the child
    marks each task's start and end in (``"<i>.start"``, ``"<i>.done"``), removed
    once a daemon thread has reaped the child."""
    import shutil
    import subprocess
    import sys
    import tempfile

    if not sys.executable or getattr(sys, "frozen", False):
        return None, None
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = dict(os.environ, **{_STARTED: "1"})
    low = int(first_at_full_priority)
    status = None
    try:
        status = tempfile.mkdtemp(prefix="skdni-warm-up-")
        # -P: the current directory is not put on sys.path (its own skdni/ would be
        # compiled instead); the child adds ``root`` only if it is missing
        process = subprocess.Popen(
            [sys.executable, "-P", "-c", _CHILD, root, status, _lock_path(root)]
            + [str(low), *tasks],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            **_priority_options(),
        )
    except Exception:  # noqa: BLE001 - no process: the first calls compile their own
        if status is not None:
            shutil.rmtree(status, ignore_errors=True)
        return None, None
    _reap(process, status)
    return process, status


def start_warm_up(tasks):
    """Compile the kernels of ``tasks`` in a background process, unless cached.

    ``skdni run`` starts it before training, so that on a fresh install the probe
    search loads its kernels instead of compiling them (the compilation runs on the
    other core while the model trains). The child runs at a lower priority and
    imports this same skdni (the cache is keyed to the source files). Tasks the
    background compile of ``import skdni.probing`` (:func:`background_warm_up`)
    is running are left to it. Off when the environment variable
    ``SKDNI_NUMBA_WARM_UP`` is ``"0"``.

    Parameters
    ----------
    tasks : list of str
        Names from ``WARM_UP_TASKS``.

    Returns
    -------
    process : subprocess.Popen or None
        The running warm-up, for :func:`finish_warm_up`; None when every task's
        kernels are already in the cache (or being compiled at import), when it is
        off, or when no process can start.
    """
    if os.environ.get(ENV_VAR, "1").strip() == "0":
        return None
    running = ()
    if _background is not None and _background[0].poll() is None:
        running = _background[1]
    missing = [t for t in tasks if t not in running and not _in_cache(t)]
    return _spawn(missing)[0] if missing else None


def background_warm_up():
    """At ``import skdni.probing``: start compiling every probe's kernels
    (``BACKGROUND_TASKS``) in a low-priority process, if numba's cache lacks any.

    A first fit then loads its kernels from the cache, or waits for the compile
    under way (:func:`wait_for_warm_up`). Off when the environment variable
    ``SKDNI_NUMBA_WARM_UP`` is ``"0"``; started once per process, only in a
    program's main process (not in a multiprocessing, joblib or dask worker), never
    in a process a warm-up or such a process started, and never without an
    interpreter to run (``sys.executable`` empty, or a frozen application).

    Returns
    -------
    process : subprocess.Popen or None
        The background compile, or None if none was started.
    """
    global _background
    if _background is not None or os.environ.get(ENV_VAR, "1").strip() == "0":
        return None
    if os.environ.get(_STARTED) or not _is_main_process():
        return None
    missing = [t for t in BACKGROUND_TASKS if not _in_cache(t)]
    if not missing:
        return None
    # the first task (the default probe's) as soon as it can: a fit may wait for it
    process, status = _spawn(missing, first_at_full_priority=True)
    if process is not None:
        _background = (process, tuple(missing), status)
        os.environ[_STARTED] = "1"  # for this process's workers
    return process


def wait_for_warm_up(task, timeout=None):
    """Before a first call needing ``task``'s kernels: wait while this process's
    background compile (:func:`background_warm_up`) is compiling them.

    Returns at once when they are cached, when no background compile runs, or when
    it is busy with another task first (then the call compiles its own kernels
    rather than queue); else when they are cached, the compile has finished this
    task (also when it failed: the call then compiles them) or ended, or after
    ``timeout`` seconds.

    Parameters
    ----------
    task : str
        A name from ``WARM_UP_TASKS``.
    timeout : float, default=None
        The longest wait, in seconds. None: ``WAIT_TIMEOUT`` (60).

    Returns
    -------
    waited : bool
        Whether it waited.
    """
    import time

    if _background is None or task not in _background[1]:
        return False
    process, tasks, status = _background
    timeout = WAIT_TIMEOUT if timeout is None else timeout
    i = tasks.index(task)

    def marked(j, what):
        return os.path.exists(os.path.join(status, f"{j}.{what}"))

    start = time.monotonic()
    waited = False
    while process.poll() is None and time.monotonic() - start < timeout:
        if _in_cache(task):
            break
        # the tasks run in order: while the one before is unfinished, the child is
        # busy with another (for the first task: importing, worth the wait)
        if i > 0 and not marked(i - 1, "done"):
            break
        # finished but not cached: it failed, or numba could not cache it
        if marked(i, "done"):
            break
        waited = True
        time.sleep(0.1)
    return waited


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
