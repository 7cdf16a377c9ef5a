"""How the numba kernels compile: lazily, once per plain argument type, and into a
cache that ``skdni.warm_up()`` fills ahead of time with the same kernels."""

import json
import os
import subprocess
import sys
import time

import pytest
from numba.core import types

from skdni import InvalidParameterError, warm_up
from skdni._numba import kernel

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _python(code, cache_dir):
    """Run ``code`` in a fresh interpreter with numba's cache in ``cache_dir``;
    return the JSON its last printed line holds."""
    env = dict(os.environ, NUMBA_CACHE_DIR=str(cache_dir), PYTHONPATH=ROOT)
    out = subprocess.run(
        [sys.executable, "-c", code],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_import_compiles_nothing(tmp_path):
    """``import skdni`` does not even import numba; importing every module with a
    kernel defines the kernels but compiles none."""
    found = _python(
        "import json, sys\n"
        "import skdni\n"
        "bare = 'numba' in sys.modules\n"
        "import skdni.probing, skdni.features._span_kernel\n"
        "from skdni._numba import _dispatchers, compiled_signatures\n"
        "print(json.dumps([bare, len(_dispatchers()), compiled_signatures()]))",
        tmp_path,
    )
    bare, n_kernels, compiled = found
    assert not bare
    assert n_kernels >= 40  # the check sees the kernels
    assert compiled == {}


@kernel
def _add(x, c):
    return x + c


def test_constant_arguments_do_not_specialise():
    """A kernel called with a constant is typed for the constant's plain type
    (numba's njit would compile ``Literal[int](1)``, then ``Literal[int](2)``)."""
    for value in (1, 2):
        _add.get_call_template((types.float64, types.IntegerLiteral(value)), {})
    assert _add.signatures == [(types.float64, types.int64)]
    assert _add(1.5, 2) == 3.5


_FITS = """
import json
import numpy as np
from skdni import TreeSitterFeaturizer
from skdni.probing import NeuronProbeSearch
from skdni._numba import compiled_signatures, kernel_status
rng = np.random.default_rng(0)
X = rng.normal(size=(600, 4))
Y = np.column_stack([X[:, 0] + rng.normal(size=600) > 0.5,
                     X[:, 2] - rng.normal(size=600) > 0.0]).astype(float)
out = {}
for probe, scoring in [("threshold", None), ("logistic", None)]:
    search = NeuronProbeSearch(probe, cv=4, scoring=scoring).fit(X, Y)
    out[probe] = search.cv_results_["split0_test_score"].tolist()
labels = TreeSitterFeaturizer("c").fit_transform(["int f(int x) { return x + 1; }"])
out["tree_sitter"] = np.asarray(labels).tolist()
print(json.dumps([out, kernel_status(), compiled_signatures()]))
"""

_WARM_UP = """
import json
import skdni
print(json.dumps(skdni.warm_up(n_jobs=2, tasks=["threshold", "logistic",
                                               "tree_sitter"])))
"""


@pytest.mark.slow
def test_warm_up_route_gives_the_lazy_route_results(tmp_path):
    """The same fits in a new process whose kernels compile lazily (empty cache)
    and in one that loads them from a cache ``warm_up`` filled agree exactly;
    ``warm_up`` compiles them once, and a second run only loads them."""
    lazy, lazy_status, lazy_sigs = _python(_FITS, tmp_path / "lazy")
    assert set(lazy_status.values()) == {"compiled"}
    assert all(n == 1 for n in lazy_sigs.values()), lazy_sigs  # one type each

    first = _python(_WARM_UP, tmp_path / "warm")
    assert set(first.values()) == {"compiled"}
    again = _python(_WARM_UP, tmp_path / "warm")
    # idempotent: nothing compiles (kernels only called by kernels are not even
    # loaded: the callers' cached code contains them)
    assert set(again.values()) == {"cached"}
    assert set(again) <= set(first)
    for name in ("_fast_threshold.threshold_unit_scores", "_sorted._unit_major"):
        assert f"skdni.probing.{name}" in again

    cached, cached_status, _ = _python(_FITS, tmp_path / "warm")
    assert set(cached_status.values()) == {"cached"}
    # every kernel the lazy fits needed was warmed up
    assert set(cached_status) <= set(first)
    assert cached == lazy


def test_warm_up_bad_input():
    with pytest.raises(InvalidParameterError, match="unknown task"):
        warm_up(tasks=["svm", "nope"])
    with pytest.raises(InvalidParameterError, match="n_jobs"):
        warm_up(n_jobs=0)


def test_warm_up_in_process_returns_the_kernels():
    """``n_jobs=1`` runs the tasks here; it reports each kernel it used."""
    status = warm_up(n_jobs=1, tasks=["threshold"])
    assert "skdni.probing._fast_threshold.threshold_unit_scores" in status
    assert set(status.values()) <= {"compiled", "cached"}


def test_helper_called_from_python_is_refused():
    """A helper has no Python entry point: a clear error, not a crash."""
    from skdni.probing._fast_svm import _margins

    with pytest.raises(TypeError, match="numba helper"):
        _margins(1.0, 0.5)
    assert _margins.py_func(1.0, 0.5)[0] == 0.5


def test_warm_up_command_parses():
    """``skdni warm-up [--n-jobs N]`` is a command of the CLI (run end to end by
    the warm-up test through ``skdni.warm_up``)."""
    from skdni.cli import build_parser

    args = build_parser().parse_args(["warm-up", "--n-jobs", "2"])
    assert (args.command, args.n_jobs) == ("warm-up", 2)
    with pytest.raises(SystemExit):
        build_parser().parse_args(["warm-up", "--n-jobs", "0"])


def test_start_warm_up_fills_an_empty_cache_in_the_background(tmp_path):
    """``skdni run``'s background warm-up: with an empty cache it starts a process
    that compiles the task's kernels; once they are cached it starts none."""
    code = """
import json, sys
from skdni._warm_up import _in_cache, finish_warm_up, start_warm_up
before = _in_cache("svm_rank")
process = start_warm_up(["svm_rank"])
ok = finish_warm_up(process)
after = _in_cache("svm_rank")
again = start_warm_up(["svm_rank"])
print(json.dumps([before, process is not None, ok, after, again is None]))
"""
    env = {k: v for k, v in os.environ.items() if "SKDNI_" not in k}
    # no background compile at import (the marker of a warm-up's process)
    env.update(
        NUMBA_CACHE_DIR=str(tmp_path / "cache"), _SKDNI_NUMBA_WARM_UP_STARTED="1"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.splitlines()[-1]) == [False, True, True, True, True]


def test_finish_warm_up_without_a_process_and_after_a_failure():
    from skdni._warm_up import finish_warm_up

    assert finish_warm_up(None)
    failed = subprocess.Popen([sys.executable, "-c", "raise SystemExit(3)"])
    assert not finish_warm_up(failed)


_FLOW = """
import json, os
import numpy as np
from skdni.probing import NeuronProbeSearch
from skdni import _warm_up
from skdni._numba import kernel_status
background = _warm_up._background
rng = np.random.default_rng(0)
X = rng.normal(size=(300, 3))
Y = np.column_stack([X[:, 0] + rng.normal(size=300) > 0.5,
                     X[:, 2] - rng.normal(size=300) > 0.0]).astype(float)
search = NeuronProbeSearch(cv=3).fit(X, Y)
once = _warm_up.background_warm_up() is None
if background is not None:  # the test is done with it
    background[0].kill()
    background[0].wait()
print(json.dumps([background and list(background[1]), kernel_status(),
                  search.cv_results_["split0_test_score"].tolist(), once,
                  os.environ.get(_warm_up._STARTED)]))
"""


def _flow(cache_dir, **env):
    environ = {k: v for k, v in os.environ.items() if "SKDNI_" not in k}
    environ.update(env, NUMBA_CACHE_DIR=str(cache_dir), PYTHONPATH=ROOT)
    done = subprocess.run(
        [sys.executable, "-c", _FLOW],
        env=environ,
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.slow
def test_import_compiles_in_the_background_and_a_first_fit_waits(tmp_path):
    """With an empty cache, ``import skdni.probing`` starts compiling every probe's
    kernels in another process, the default probe's first; a fit right away waits
    for them and loads them from the cache (same scores as compiling them itself).
    ``SKDNI_NUMBA_WARM_UP=0``, or a process a warm-up started, starts nothing."""
    from skdni._warm_up import _TASK_KERNELS, BACKGROUND_TASKS

    tasks, status, scores, once, marker = _flow(tmp_path / "on")
    assert tasks == list(BACKGROUND_TASKS)
    assert status == {f"skdni.{k}": "cached" for k in _TASK_KERNELS["svm"]}
    assert once and marker == "1"  # workers of this process start no other

    off_tasks, off_status, off_scores, _, off_marker = _flow(
        tmp_path / "off", SKDNI_NUMBA_WARM_UP="0"
    )
    assert off_tasks is None and off_marker is None
    assert set(off_status.values()) == {"compiled"}
    assert off_scores == scores

    child = _flow(tmp_path / "off", _SKDNI_NUMBA_WARM_UP_STARTED="1")
    assert child[0] is None


class _Running:
    """A stand-in for a running background compile."""

    def poll(self):
        return None


def _background(monkeypatch, tmp_path, tasks, in_cache, on_sleep=None):
    """Fake a running background compile of ``tasks`` with status in ``tmp_path``,
    ``_in_cache`` answered by ``in_cache``; ``time.sleep`` calls ``on_sleep``."""
    from skdni import _warm_up

    monkeypatch.setattr(_warm_up, "_in_cache", in_cache)
    monkeypatch.setattr(
        _warm_up, "_background", (_Running(), tuple(tasks), str(tmp_path))
    )
    monkeypatch.setattr(time, "sleep", lambda seconds: on_sleep and on_sleep())
    return _warm_up


def _mark(tmp_path, i, what):
    (tmp_path / f"{i}.{what}").touch()


def test_a_fit_waits_only_for_the_task_under_way(monkeypatch, tmp_path):
    """The child marks each task's start and end: a fit needing the task under way
    waits until its kernels are cached; a fit needing a later one does not queue
    behind it."""
    cached = set()
    checks = []

    def in_cache(task):
        checks.append(task)
        if len(checks) > 3:  # the background finishes "svm" after a few polls
            cached.add("svm")
            _mark(tmp_path, 0, "done")
        return task in cached

    _mark(tmp_path, 0, "start")
    _warm_up = _background(monkeypatch, tmp_path, ("svm", "svm_rank"), in_cache)
    assert not _warm_up.wait_for_warm_up("svm_rank")  # "svm" first: compile here
    assert _warm_up.wait_for_warm_up("svm")
    assert "svm" in cached
    assert not _warm_up.wait_for_warm_up("svc")  # not a background task
    assert not _warm_up.wait_for_warm_up("svm")  # cached now
    # "svm" done: the child is on "svm_rank" (or about to start it): wait for it
    polls = []

    def finish_rank():
        polls.append(1)
        if len(polls) == 2:
            cached.add("svm_rank")

    _background(
        monkeypatch, tmp_path, ("svm", "svm_rank"), cached.__contains__, finish_rank
    )
    assert _warm_up.wait_for_warm_up("svm_rank") and len(polls) == 2


def test_a_fit_stops_waiting_when_its_task_fails_in_the_background(
    monkeypatch, tmp_path
):
    """A task the child finished without caching its kernels (it failed) ends the
    wait at once: the fit compiles its own instead of waiting for later tasks or a
    timeout; so does a timeout, which is short by default."""
    polls = []

    def fail_svm():  # the child gives up on "svm" and moves on to "svc"
        polls.append(1)
        if len(polls) == 3:
            _mark(tmp_path, 0, "done")
            _mark(tmp_path, 1, "start")

    _warm_up = _background(
        monkeypatch, tmp_path, ("svm", "svc"), lambda task: False, fail_svm
    )
    assert _warm_up.wait_for_warm_up("svm")
    assert len(polls) == 3  # stopped on the "done" mark, not at the timeout
    assert not _warm_up.wait_for_warm_up("svm")  # known failed: no wait at all
    assert not _warm_up.wait_for_warm_up("svc", timeout=0.0)
    assert _warm_up.WAIT_TIMEOUT <= 60


def test_background_compile_only_in_a_main_process(monkeypatch):
    """Worker processes (multiprocessing, joblib's loky, concurrent.futures) start
    no background compile of their own: they have a parent process."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    from skdni import _warm_up

    assert _warm_up._is_main_process()
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(1, mp_context=context) as pool:
        assert pool.submit(_warm_up._is_main_process).result() is False

    spawned = []
    monkeypatch.delenv(_warm_up.ENV_VAR, raising=False)
    monkeypatch.delenv(_warm_up._STARTED, raising=False)
    monkeypatch.setattr(_warm_up, "_background", None)
    monkeypatch.setattr(_warm_up, "_in_cache", lambda task: False)
    monkeypatch.setattr(_warm_up, "_spawn", lambda *a, **k: spawned.append(a))
    monkeypatch.setattr(multiprocessing, "parent_process", lambda: object())
    assert _warm_up.background_warm_up() is None and spawned == []


def test_start_warm_up_is_off_with_the_environment_variable(monkeypatch):
    """``skdni run``'s warm-up honours ``SKDNI_NUMBA_WARM_UP=0`` too."""
    from skdni import _warm_up

    spawned = []
    monkeypatch.setattr(_warm_up, "_in_cache", lambda task: False)
    monkeypatch.setattr(_warm_up, "_spawn", lambda *a, **k: spawned.append(a))
    monkeypatch.setenv(_warm_up.ENV_VAR, "0")
    assert _warm_up.start_warm_up(["svm"]) is None and spawned == []


def test_no_interpreter_or_a_failing_start_spawns_nothing(monkeypatch):
    """Embedded (no ``sys.executable``) or frozen: no child; any error starting one
    leaves ``import skdni.probing`` working (the fit compiles its own kernels) and
    no temporary directory behind."""
    import subprocess as sp
    import tempfile

    from skdni import _warm_up

    monkeypatch.setattr(sys, "executable", "")
    assert _warm_up._spawn(["svm"]) == (None, None)
    monkeypatch.undo()
    monkeypatch.setattr(sys, "frozen", True, raising=False)
    assert _warm_up._spawn(["svm"]) == (None, None)
    monkeypatch.undo()

    made = []
    mkdtemp = tempfile.mkdtemp
    monkeypatch.setattr(
        tempfile, "mkdtemp", lambda **k: made.append(mkdtemp(**k)) or made[-1]
    )

    def popen(*args, **kwargs):
        raise TypeError("expected str, bytes or os.PathLike object, not NoneType")

    monkeypatch.setattr(sp, "Popen", popen)
    assert _warm_up._spawn(["svm"]) == (None, None)
    assert len(made) == 1 and not os.path.exists(made[0])


def test_windows_child_starts_below_normal_priority(monkeypatch):
    """On Windows the child starts at below-normal priority (no ``os.nice``)."""
    import subprocess as sp

    from skdni import _warm_up

    assert _warm_up._priority_options() == (
        {} if os.name != "nt" else {"creationflags": sp.BELOW_NORMAL_PRIORITY_CLASS}
    )
    monkeypatch.setattr(sp, "BELOW_NORMAL_PRIORITY_CLASS", 0x4000, raising=False)
    monkeypatch.setattr(os, "name", "nt")
    options = _warm_up._priority_options()
    monkeypatch.undo()
    assert options == {"creationflags": 0x4000}


def test_child_skips_cached_and_failing_tasks_and_marks_each(monkeypatch, tmp_path):
    """The child's loop (run here with fake tasks): a task cached by then (a worker
    compiled it) is skipped, a failing one is passed over, and each gets its
    ``start`` and ``done`` marks."""
    from skdni import _warm_up

    ran = []

    def run_task(task):
        ran.append(task)
        if task == "threshold":
            raise RuntimeError("compile failed")

    monkeypatch.setattr(_warm_up, "_in_cache", lambda task: task == "svc")
    monkeypatch.setattr(_warm_up, "_run_task", run_task)
    tasks = ["svm", "svc", "threshold", "logistic"]
    # low priority from after the last task: this process is not reniced
    argv = [ROOT, str(tmp_path), str(tmp_path / "lock"), str(len(tasks)), *tasks]
    monkeypatch.setattr(sys, "argv", ["-c", *argv])
    monkeypatch.setattr(sys, "path", list(sys.path))
    exec(_warm_up._CHILD, {})
    assert ran == ["svm", "threshold", "logistic"]
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        *(f"{i}.{what}" for i in range(4) for what in ("done", "start")),
        "lock",
    ]


@pytest.mark.skipif(os.name == "nt", reason="the lock uses fcntl (POSIX)")
def test_background_compiles_queue_on_one_lock(monkeypatch, tmp_path):
    """While one background compile of this skdni holds the lock, another started
    does not begin its tasks (no two compile at once: processes piled up when a
    developer's runs each started one); it begins once the lock is free."""
    import fcntl

    from skdni import _warm_up

    lock = tmp_path / "held.lock"
    monkeypatch.setattr(_warm_up, "_lock_path", lambda root: str(lock))
    with open(lock, "a") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        process, status = _warm_up._spawn(["no-such-task"])
        assert process is not None
        time.sleep(3.0)  # the child has imported nothing yet: it waits on the lock
        assert process.poll() is None
        assert not os.path.exists(os.path.join(status, "0.start"))
    for _ in range(600):
        if process.poll() is not None:
            break
        time.sleep(0.1)
    assert process.returncode == 0


def test_child_ignores_the_current_directory_and_is_reaped(monkeypatch, tmp_path):
    """The child runs with ``-P``: a ``skdni/`` or ``numpy/`` folder in the current
    directory is not imported (these would exit with 7); with no tasks it just
    imports the package, exits 0, and a daemon thread reaps it and removes its
    status directory."""
    from skdni import _warm_up

    for name in ("skdni", "numpy"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "__init__.py").write_text("raise SystemExit(7)\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("PYTHONPATH", raising=False)
    process, status = _warm_up._spawn([])
    assert process is not None and os.path.isdir(status)
    for _ in range(600):  # the reaper, not this test, waits for the child
        if process.returncode is not None and not os.path.exists(status):
            break
        time.sleep(0.1)
    assert process.returncode == 0
    assert not os.path.exists(status)
