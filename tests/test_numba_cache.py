"""The cached build: the package's own numba cache (``skdni/_numba_cache``, stamped
by the sources' contents) and the build step that fills it with numpy and numba
only (``setup.py``, ``skdni/_cached_build.py``)."""

import importlib.util
import json
import os
import pickle
import shutil
import subprocess
import sys

import pytest

from skdni._numba_signatures import SIGNATURES

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _python(code, cache_dir, pythonpath=ROOT, args=(), own_cache=True):
    """Run ``code`` in a fresh interpreter in ``cache_dir`` (numba's own cache there
    too if ``own_cache``, no background compile); return the JSON its last printed
    line holds."""
    env = dict(os.environ, PYTHONPATH=str(pythonpath), SKDNI_NUMBA_WARM_UP="0")
    if own_cache:
        env["NUMBA_CACHE_DIR"] = str(cache_dir)
    out = subprocess.run(
        [sys.executable, "-P", "-c", code, *map(str, args)],
        env=env,
        cwd=str(cache_dir),
        capture_output=True,
        text=True,
        check=False,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


# A package at argv[1] whose kernel is cached in argv[1]/_numba_cache when that
# directory exists; argv[2] == "readonly": the package directory is not writable.
_KERNEL = """
import importlib.util, json, os, sys, types
# skdni without its __init__ (quick): only skdni._numba is needed
bare = types.ModuleType("skdni")
bare.__path__ = list(importlib.util.find_spec("skdni").submodule_search_locations)
sys.modules["skdni"] = bare
from skdni import _numba
pkg = sys.argv[1]
_numba._PACKAGE_ROOT = pkg
if sys.argv[2] == "readonly":
    def refuse(self):
        raise PermissionError("read-only")
    _numba._PackageCacheLocator.ensure_cache_path = refuse
spec = importlib.util.spec_from_file_location("mod", os.path.join(pkg, "sub", "mod.py"))
mod = importlib.util.module_from_spec(spec)
sys.modules["mod"] = mod  # numba's cached data refers to it by name
spec.loader.exec_module(mod)
value = mod.add_one(1.0) + mod.add_one(2)
k = mod.add_one
print(json.dumps({
    "value": float(value),
    "misses": sum(k.stats.cache_misses.values()),
    "hits": sum(k.stats.cache_hits.values()),
    "locator": type(k._cache._impl.locator).__name__,
}))
"""

_SOURCE = (
    "from skdni._numba import kernel\n\n\n@kernel\ndef add_one(x):\n    return x + 1\n"
)


def _package(tmp_path, cache=True):
    pkg = tmp_path / "pkg"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "sub" / "mod.py").write_text(_SOURCE)
    if cache:
        (pkg / "_numba_cache").mkdir()
    (tmp_path / "numba").mkdir()
    return pkg


def _run(tmp_path, pkg, mode="writable"):
    return _python(_KERNEL, tmp_path / "numba", args=(pkg, mode))


def _files(path):
    return sorted(p.name for p in path.rglob("*") if p.is_file())


def test_package_cache_is_stamped_by_content_not_mtime(tmp_path):
    """A kernel compiled into the package's cache loads in a new process after its
    source's mtime changes (installing resets it), misses after its contents
    change, and numba's own cache directory is not used."""
    pkg = _package(tmp_path)
    first = _run(tmp_path, pkg)
    assert first == {
        "value": 5.0,
        "misses": 2,
        "hits": 0,
        "locator": "_PackageCacheLocator",
    }
    assert any(f.endswith(".nbi") for f in _files(pkg / "_numba_cache" / "sub"))
    assert _files(tmp_path / "numba") == []

    source = pkg / "sub" / "mod.py"
    os.utime(source, (1_000_000_000, 1_000_000_000))
    moved = tmp_path / "moved" / "pkg"
    shutil.copytree(pkg, moved)  # a copy: new paths, new mtimes
    assert _run(tmp_path, pkg)["hits"] == 2
    assert _run(tmp_path, moved)["hits"] == 2

    source.write_text(_SOURCE + "# changed\n")  # same bytecode, other contents
    again = _run(tmp_path, pkg)
    assert (again["misses"], again["hits"], again["value"]) == (2, 0, 5.0)


def _rewrite_index(pkg, change):
    (index,) = (pkg / "_numba_cache" / "sub").glob("*.nbi")
    with open(index, "rb") as f:
        version = pickle.load(f)
        stamp, overloads = pickle.loads(f.read())
    version, stamp, overloads = change(version, stamp, overloads)
    with open(index, "wb") as f:
        pickle.dump(version, f, protocol=-1)
        f.write(pickle.dumps((stamp, overloads), protocol=-1))


@pytest.mark.parametrize("foreign", ["cpu", "numba", "numpy", "damaged"])
def test_a_foreign_or_damaged_index_is_a_miss(tmp_path, foreign):
    """An index built on another CPU, with another numba or NumPy, or damaged:
    the kernel compiles (same result) and is cached again."""
    pkg = _package(tmp_path)
    _run(tmp_path, pkg)

    def change(version, stamp, overloads):
        if foreign == "numba":
            return "0.0.1", stamp, overloads
        if foreign == "numpy":
            return version, (*stamp[:2], "0.0.1"), overloads
        # another CPU: the magic tuple in every key
        other = {
            (sig, ("foreign-triple", "foreign-cpu", ""), code): data
            for (sig, _magic, code), data in overloads.items()
        }
        return version, stamp, other

    if foreign == "damaged":
        (index,) = (pkg / "_numba_cache" / "sub").glob("*.nbi")
        index.write_bytes(b"not a pickle")
    else:
        _rewrite_index(pkg, change)
    res = _run(tmp_path, pkg)
    assert (res["misses"], res["hits"], res["value"]) == (2, 0, 5.0)
    assert _run(tmp_path, pkg)["hits"] == 2


def test_read_only_package_cache_is_read_and_numba_caches_the_rest(tmp_path):
    """When the package's cache directory is not writable, its kernels still load
    from it; a kernel it lacks compiles into numba's own cache (NUMBA_CACHE_DIR)."""
    pkg = _package(tmp_path)
    _run(tmp_path, pkg)  # filled while writable
    res = _run(tmp_path, pkg, "readonly")
    assert (res["hits"], res["misses"]) == (2, 0)
    assert res["locator"] == "UserProvidedCacheLocator"
    assert _files(tmp_path / "numba") == []

    shutil.rmtree(pkg / "_numba_cache" / "sub")
    before = _files(pkg / "_numba_cache")
    res = _run(tmp_path, pkg, "readonly")
    assert (res["misses"], res["value"]) == (2, 5.0)
    assert _files(pkg / "_numba_cache") == before
    assert any(f.endswith(".nbi") for f in _files(tmp_path / "numba"))
    assert _run(tmp_path, pkg, "readonly")["hits"] == 2


def test_without_the_package_cache_numba_caches_as_before(tmp_path):
    """No ``_numba_cache`` directory (a checkout, an editable install): numba's
    own locators, as without the cached build."""
    pkg = _package(tmp_path, cache=False)
    res = _run(tmp_path, pkg)
    assert (res["misses"], res["locator"]) == (2, "UserProvidedCacheLocator")
    assert not (pkg / "_numba_cache").exists()
    assert _run(tmp_path, pkg)["hits"] == 2


def test_recorded_signatures_are_what_warm_up_compiles(tmp_path):
    """The signatures the build compiles are exactly the kernels and argument
    types the warm-up's calls enter from Python (regenerate with ``python -m
    skdni._cached_build --record``)."""
    found = _python(
        "import json\nfrom skdni._cached_build import record\n"
        "print(json.dumps(record()))",
        tmp_path,
        own_cache=False,  # the kernels as cached for the other tests: no compile
    )
    assert found == SIGNATURES


def _copy_package(tmp_path):
    dest = tmp_path / "build_lib"
    shutil.copytree(
        os.path.join(ROOT, "skdni"),
        dest / "skdni",
        ignore=shutil.ignore_patterns("__pycache__", "_numba_cache"),
    )
    return dest


# Build the kernels argv[2:] of the package at argv[1] as the build does, with
# numpy and numba only: scikit-learn, scipy, pandas and joblib cannot be imported.
_BUILD = """
import importlib.abc, importlib.util, json, os, sys
class Missing(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in {"sklearn", "scipy", "pandas", "joblib"}:
            raise ImportError(f"{name} is not in the build environment")
sys.meta_path.insert(0, Missing())
package = sys.argv[1]
spec = importlib.util.spec_from_file_location(
    "cached_build", os.path.join(package, "_cached_build.py"))
cached_build = importlib.util.module_from_spec(spec)
spec.loader.exec_module(cached_build)
done = cached_build.build(package, names=sys.argv[2:] or None, verbose=False)
print(json.dumps({"done": done, "stubbed": sorted(
    n for n, m in sys.modules.items() if isinstance(m, cached_build._StubModule))}))
"""

# argv[1:]: tasks; whether each is in the cache, then the kernel status of a fit
_LOAD = """
import json, sys
import skdni
from skdni._warm_up import _in_cache, _run_task
tasks = sys.argv[1:]
cached = {t: _in_cache(t) for t in tasks}
status = {}
for t in tasks:
    status.update(_run_task(t))
print(json.dumps({"file": skdni.__file__, "cached": cached, "status": status}))
"""


def test_build_compiles_with_numpy_and_numba_only_and_a_fit_loads(tmp_path):
    """The build compiles the threshold probe's kernels with scikit-learn and the
    rest stubbed; a fresh process importing that copy loads them from its cache
    (no background compile needed) and compiles nothing."""
    build_lib = _copy_package(tmp_path)
    names = [
        "skdni.probing._sorted._unit_major",
        "skdni.probing._sorted._gather_columns",
        "skdni.probing._fast_threshold.threshold_unit_scores",
    ]
    built = _python(_BUILD, tmp_path, pythonpath="", args=(build_lib / "skdni", *names))
    assert built["done"] == {n: len(SIGNATURES[n]) for n in names}
    assert "sklearn" in built["stubbed"]
    # the copy's files get new mtimes, as an install gives them
    for path in (build_lib / "skdni").rglob("*.py"):
        os.utime(path, (1_000_000_000, 1_000_000_000))
    (tmp_path / "numba").mkdir()
    loaded = _python(
        _LOAD, tmp_path / "numba", pythonpath=build_lib, args=("threshold",)
    )
    assert loaded["file"].startswith(str(build_lib))
    assert loaded["cached"] == {"threshold": True}
    assert set(loaded["status"].values()) == {"cached"}
    assert os.listdir(tmp_path / "numba") == []


@pytest.mark.slow
def test_full_build_caches_every_warm_up_task(tmp_path):
    """Every kernel the warm-up compiles is in a full build's cache: importing
    ``skdni.probing`` starts no background compile."""
    build_lib = _copy_package(tmp_path)
    built = _python(_BUILD, tmp_path, pythonpath="", args=(build_lib / "skdni",))
    assert built["done"] == {n: len(s) for n, s in SIGNATURES.items()}
    (tmp_path / "numba").mkdir()
    from skdni._warm_up import WARM_UP_TASKS

    loaded = _python(
        _LOAD, tmp_path / "numba", pythonpath=build_lib, args=WARM_UP_TASKS
    )
    assert loaded["cached"] == dict.fromkeys(WARM_UP_TASKS, True)
    assert set(loaded["status"].values()) == {"cached"}
    started = _python(
        "import json, os\nos.environ['SKDNI_NUMBA_WARM_UP'] = '1'\n"
        "import skdni.probing\nfrom skdni import _warm_up\n"
        "print(json.dumps(_warm_up._background is not None))",
        tmp_path / "numba",
        pythonpath=build_lib,
    )
    assert started is False


def _setup_module():
    spec = importlib.util.spec_from_file_location(
        "skdni_setup", os.path.join(ROOT, "setup.py")
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("failure", ["exit", "raise", "timeout"])
def test_a_failing_build_step_warns_and_leaves_no_cache(tmp_path, capsys, failure):
    """Best effort: when compiling fails, the build goes on without a cache."""
    setup = _setup_module()
    package = tmp_path / "skdni"
    (package / "_numba_cache").mkdir(parents=True)  # a stale one is removed too

    def run(cmd, **kwargs):
        assert cmd[-2:] == [str(package / "_cached_build.py"), str(package)]
        if failure == "exit":
            return subprocess.CompletedProcess(cmd, 1, "", "ImportError: numba")
        if failure == "timeout":
            raise subprocess.TimeoutExpired(cmd, kwargs["timeout"])
        raise OSError("no interpreter")

    assert setup.fill_numba_cache(str(package), run=run) is False
    assert not (package / "_numba_cache").exists()
    assert (
        "warning: skdni could not compile its numba kernels" in capsys.readouterr().err
    )


def test_build_step_is_skipped_for_editable_installs_and_when_off(
    monkeypatch, tmp_path
):
    from setuptools import Distribution
    from setuptools.command.build_py import build_py

    setup = _setup_module()
    calls = []
    monkeypatch.setattr(setup, "fill_numba_cache", calls.append)
    monkeypatch.setattr(build_py, "run", lambda self: None)
    command = setup.BuildPyWithNumbaCache(Distribution())
    command.build_lib = str(tmp_path)
    monkeypatch.delenv(setup.ENV_VAR, raising=False)
    command.run()
    assert calls == [os.path.join(str(tmp_path), "skdni")]
    command.editable_mode = True
    command.run()
    command.editable_mode = False
    monkeypatch.setenv(setup.ENV_VAR, "0")
    command.run()
    assert len(calls) == 1


def test_build_backend_adds_numba_only_for_a_compiling_wheel(monkeypatch):
    """numpy and numba join the build requirements of a wheel, not of an editable
    install or a wheel built with ``SKDNI_BUILD_NUMBA_CACHE=0``."""
    spec = importlib.util.spec_from_file_location(
        "skdni_backend", os.path.join(ROOT, "_build", "skdni_backend.py")
    )
    backend = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(backend)
    monkeypatch.setattr(backend._orig, "get_requires_for_build_wheel", lambda c: [])
    monkeypatch.delenv("SKDNI_BUILD_NUMBA_CACHE", raising=False)
    assert backend.get_requires_for_build_wheel() == ["numpy>=1.26", "numba>=0.60"]
    monkeypatch.setenv("SKDNI_BUILD_NUMBA_CACHE", "0")
    assert backend.get_requires_for_build_wheel() == []
    assert backend.get_requires_for_build_editable is (
        backend._orig.get_requires_for_build_editable
    )
