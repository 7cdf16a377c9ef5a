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
    env = dict(os.environ, NUMBA_CACHE_DIR=str(tmp_path / "cache"))
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


def test_a_fit_waits_only_for_the_task_under_way(monkeypatch):
    """The first task not yet cached is the one being compiled: a fit needing it
    waits until it is cached; a fit needing a later one does not queue behind."""
    from skdni import _warm_up

    cached = set()
    checks = []

    def in_cache(task):
        checks.append(task)
        if len(checks) > 3:  # the background finishes "svm" after a few polls
            cached.add("svm")
        return task in cached

    monkeypatch.setattr(_warm_up, "_in_cache", in_cache)
    monkeypatch.setattr(_warm_up, "_background", (_Running(), ("svm", "svm_rank")))
    monkeypatch.setattr(time, "sleep", lambda seconds: None)
    assert not _warm_up.wait_for_warm_up("svm_rank")  # "svm" first: compile here
    assert _warm_up.wait_for_warm_up("svm")
    assert "svm" in cached
    assert not _warm_up.wait_for_warm_up("svc")  # not a background task
    assert not _warm_up.wait_for_warm_up("svm")  # cached now
