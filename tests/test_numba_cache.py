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


# A package at argv[1] (on sys.path as "pkg") whose kernel pkg.sub.b.add_one calls
# the helper pkg.sub.a.step; argv[2] == "build": the build step (kernels cached in
# argv[1]/_numba_cache, which must exist), "run": at runtime.
_KERNEL = """
import importlib, importlib.util, json, os, sys, types
# skdni without its __init__ (quick): only skdni._numba is needed
bare = types.ModuleType("skdni")
bare.__path__ = list(importlib.util.find_spec("skdni").submodule_search_locations)
sys.modules["skdni"] = bare
from skdni import _numba
pkg = sys.argv[1]
_numba._PACKAGE_ROOT = pkg
_numba._BUILDING = sys.argv[2] == "build"
sys.path.insert(0, os.path.dirname(pkg))
mod = importlib.import_module(os.path.basename(pkg) + ".sub.b")
value = mod.add_one(1.0) + mod.add_one(2)
k = mod.add_one
locator = k._cache._impl.locator
print(json.dumps({
    "value": float(value),
    "misses": sum(k.stats.cache_misses.values()),
    "hits": sum(k.stats.cache_hits.values()),
    "locator": type(getattr(locator, "_locator", locator)).__name__,
    "stamp": list(locator.get_source_stamp()),
}))
"""

_HELPER = (
    "from skdni._numba import helper\n\n\n@helper\ndef step(x):\n    return x + 1\n"
)
_SOURCE = (
    "from skdni._numba import kernel\n\nfrom .a import step\n\n\n"
    "@kernel\ndef add_one(x):\n    return step(x)\n"
)


def _package(tmp_path, cache=True):
    pkg = tmp_path / "pkg"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "sub" / "__init__.py").write_text("")
    (pkg / "sub" / "a.py").write_text(_HELPER)
    (pkg / "sub" / "b.py").write_text(_SOURCE)
    if cache:
        (pkg / "_numba_cache").mkdir()
    (tmp_path / "numba").mkdir()
    return pkg


def _run(tmp_path, pkg, mode="run"):
    return _python(_KERNEL, tmp_path / "numba", args=(pkg, mode))


def _files(path):
    return sorted(p.name for p in path.rglob("*") if p.is_file())


def _snapshot(path):
    return {str(p): p.stat().st_mtime_ns for p in path.rglob("*")}


def test_package_cache_is_stamped_by_content_not_mtime(tmp_path):
    """A kernel the build compiled into the package's cache loads in a new process
    after its source's mtime changes (installing resets it), misses after its
    contents change, and numba's own cache directory is not used."""
    pkg = _package(tmp_path)
    first = _run(tmp_path, pkg, "build")
    assert {k: first[k] for k in ("value", "misses", "hits", "locator")} == {
        "value": 5.0,
        "misses": 2,
        "hits": 0,
        "locator": "_PackageCacheLocator",
    }
    assert any(f.endswith(".nbi") for f in _files(pkg / "_numba_cache" / "sub"))
    assert _files(tmp_path / "numba") == []

    source = pkg / "sub" / "b.py"
    os.utime(source, (1_000_000_000, 1_000_000_000))
    moved = tmp_path / "moved" / "pkg"
    shutil.copytree(pkg, moved)  # a copy: new paths, new mtimes
    assert _run(tmp_path, pkg)["hits"] == 2
    assert _run(tmp_path, moved)["hits"] == 2
    assert _files(tmp_path / "numba") == []

    source.write_text(_SOURCE + "# changed\n")  # same bytecode, other contents
    again = _run(tmp_path, pkg)
    assert (again["misses"], again["hits"], again["value"]) == (2, 0, 5.0)


@pytest.mark.parametrize("cache", [True, False], ids=["built", "checkout"])
def test_a_helper_changed_in_another_file_invalidates_the_kernel(tmp_path, cache):
    """numba compiles a helper of another module into the kernel's machine code:
    changing it (not the kernel's file) must recompile the kernel, with the
    package's cache (built) and with numba's own (a checkout, editable)."""
    pkg = _package(tmp_path, cache=cache)
    first = _run(tmp_path, pkg, "build" if cache else "run")
    assert first["value"] == 5.0
    assert _run(tmp_path, pkg)["hits"] == 2
    (pkg / "sub" / "a.py").write_text(_HELPER.replace("x + 1", "x + 100"))
    changed = _run(tmp_path, pkg)
    assert (changed["value"], changed["misses"]) == (203.0, 2)
    assert _run(tmp_path, pkg)["hits"] == 2  # cached again


def _rewrite_index(pkg, change):
    (index,) = (pkg / "_numba_cache" / "sub").glob("b.*.nbi")
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
    the kernel compiles (same result) and is cached again (in numba's cache)."""
    pkg = _package(tmp_path)
    _run(tmp_path, pkg, "build")

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
        (index,) = (pkg / "_numba_cache" / "sub").glob("b.*.nbi")
        index.write_bytes(b"not a pickle")
    else:
        _rewrite_index(pkg, change)
    res = _run(tmp_path, pkg)
    assert (res["misses"], res["hits"], res["value"]) == (2, 0, 5.0)
    assert _run(tmp_path, pkg)["hits"] == 2


def test_package_cache_is_read_only_at_runtime(tmp_path):
    """At runtime the package's cache is searched first and never written (files
    written there would not be in pip's RECORD): a kernel it lacks compiles into
    numba's own cache (NUMBA_CACHE_DIR here)."""
    pkg = _package(tmp_path)
    _run(tmp_path, pkg, "build")
    res = _run(tmp_path, pkg)
    assert (res["hits"], res["misses"]) == (2, 0)
    assert res["locator"] == "UserProvidedCacheLocator"
    assert _files(tmp_path / "numba") == []

    shutil.rmtree(pkg / "_numba_cache" / "sub")
    before = _snapshot(pkg / "_numba_cache")
    res = _run(tmp_path, pkg)
    assert (res["misses"], res["value"]) == (2, 5.0)
    assert _snapshot(pkg / "_numba_cache") == before
    assert any(f.endswith(".nbi") for f in _files(tmp_path / "numba"))
    assert _run(tmp_path, pkg)["hits"] == 2
    assert _snapshot(pkg / "_numba_cache") == before


def test_without_the_package_cache_numba_caches_stamped_by_skdni(tmp_path):
    """No ``_numba_cache`` directory (a checkout, an editable install): numba's
    own locators, with skdni's stamp (the digest of all its sources)."""
    pkg = _package(tmp_path, cache=False)
    res = _run(tmp_path, pkg)
    assert (res["misses"], res["locator"]) == (2, "UserProvidedCacheLocator")
    assert res["stamp"][0] == "skdni-sources"
    assert not (pkg / "_numba_cache").exists()
    assert _run(tmp_path, pkg)["hits"] == 2


def test_sources_digest_covers_every_py_file(tmp_path):
    from skdni._numba import _sources_digest

    def digest():
        _sources_digest.cache_clear()
        return _sources_digest(str(tmp_path))

    (tmp_path / "sub").mkdir()
    (tmp_path / "a.py").write_text("A = 1\n")
    (tmp_path / "sub" / "b.py").write_text("B = 1\n")
    first = digest()
    (tmp_path / "sub" / "__pycache__").mkdir()
    (tmp_path / "sub" / "__pycache__" / "x.py").write_text("")
    (tmp_path / "notes.txt").write_text("not a source")
    assert digest() == first
    (tmp_path / "sub" / "b.py").write_text("B = 2\n")
    assert digest() != first
    _sources_digest.cache_clear()


def test_in_package_is_false_for_another_drive(monkeypatch):
    """``os.path.commonpath`` raises ValueError for paths on different Windows
    drives: such a file is not skdni's."""
    from skdni import _numba

    def other_drive(paths):
        raise ValueError("Paths don't have the same drive")

    monkeypatch.setattr(_numba.os.path, "commonpath", other_drive)
    assert _numba._in_package(_numba.__file__) is False


def test_in_cache_reads_the_skdni_stamped_indexes(tmp_path):
    """``_warm_up._in_cache`` finds a task's kernels once they are cached (with
    skdni's stamp) and not before."""
    code = (
        "import json\nfrom skdni._warm_up import _in_cache, _run_task\n"
        "before = _in_cache('threshold')\n_run_task('threshold')\n"
        "print(json.dumps([before, _in_cache('threshold')]))"
    )
    assert _python(code, tmp_path) == [False, True]


@pytest.mark.slow
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


# The build's situation in a child process: numpy and numba only (scikit-learn,
# scipy, pandas and joblib cannot be imported), and skdni._cached_build of the
# package at argv[1] loaded as ``cached_build``.
_STUBBED = """
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
"""

# Build the kernels argv[2:] of the package at argv[1] as the build does, with
# numpy and numba only: scikit-learn, scipy, pandas and joblib cannot be imported.
_BUILD = (
    _STUBBED
    + """
done, failed = cached_build.build(
    package, names=sys.argv[2:] or None, verbose=False)
print(json.dumps({"done": done, "failed": failed, "stubbed": sorted(
    n for n, m in sys.modules.items() if isinstance(m, cached_build._StubModule))}))
"""
)

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
        "skdni.probing._radix.radix_sort_gather",
        "skdni.probing._fast_threshold.threshold_unit_scores",
    ]
    built = _python(_BUILD, tmp_path, pythonpath="", args=(build_lib / "skdni", *names))
    assert built["done"] == {n: len(SIGNATURES[n]) for n in names}
    assert built["failed"] == {}
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
    assert _files(tmp_path / "numba") == []  # (numba makes its empty directories)


# Import every recorded kernel's module of the package at argv[1] under the build's
# stubs (numpy and numba only), compiling nothing.
_IMPORT_ALL = (
    _STUBBED
    + """
import importlib
sys.meta_path.insert(0, cached_build._Finder(package))
from skdni._numba import _Dispatcher
from skdni._numba_signatures import SIGNATURES
found = {}
for name, sigs in SIGNATURES.items():
    module, _, function = name.rpartition(".")
    disp = getattr(importlib.import_module(module), function)
    for text in sigs:
        cached_build.parse_signature(text)
    found[name] = [isinstance(disp, _Dispatcher), len(disp.signatures)]
print(json.dumps(found))
"""
)


def test_every_recorded_kernel_imports_under_the_build_stubs(tmp_path):
    """Every module of a recorded kernel imports with only numpy and numba (the
    rest stubbed), the kernel is a skdni dispatcher and its recorded types
    parse; nothing compiles (quick: the full build is the slow test below)."""
    found = _python(_IMPORT_ALL, tmp_path, pythonpath="", args=(ROOT + "/skdni",))
    assert found == {name: [True, 0] for name in SIGNATURES}


def test_a_failing_kernel_does_not_discard_the_others(tmp_path):
    """One kernel that fails to compile is reported; the others are cached and
    the build step's summary names the failure."""
    build_lib = _copy_package(tmp_path)
    good = "skdni.probing._sorted._unit_major"
    signatures = {good: SIGNATURES[good], "skdni.probing._sorted.missing": [[]]}
    code = _BUILD.replace("names=sys.argv[2:] or None", f"signatures={signatures!r}")
    built = _python(code, tmp_path, pythonpath="", args=(build_lib / "skdni",))
    assert built["done"] == {good: len(SIGNATURES[good])}
    assert list(built["failed"]) == ["skdni.probing._sorted.missing"]
    assert "AttributeError" in built["failed"]["skdni.probing._sorted.missing"]
    assert any(
        f.startswith("_sorted._unit_major")
        for f in _files(build_lib / "skdni" / "_numba_cache")
    )


@pytest.mark.slow
def test_full_build_caches_every_warm_up_task(tmp_path):
    """Every kernel the warm-up compiles is in a full build's cache: importing
    ``skdni.probing`` starts no background compile."""
    build_lib = _copy_package(tmp_path)
    built = _python(_BUILD, tmp_path, pythonpath="", args=(build_lib / "skdni",))
    assert built["done"] == {n: len(s) for n, s in SIGNATURES.items()}
    assert built["failed"] == {}
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

    assert setup.fill_numba_cache(str(package), run=run, target=dict) is False
    assert not (package / "_numba_cache").exists()
    assert (
        "warning: skdni could not compile its numba kernels" in capsys.readouterr().err
    )


def test_build_step_survives_empty_output(tmp_path, capsys):
    setup = _setup_module()

    def run(cmd, **kwargs):
        return subprocess.CompletedProcess(cmd, 0, "", "")

    assert setup.fill_numba_cache(str(tmp_path), run=run, target=dict) is True
    assert "printed nothing" in capsys.readouterr().out


@pytest.mark.parametrize("package", ["numba", "numpy"])
def test_build_step_is_skipped_when_the_target_has_other_versions(
    tmp_path, capsys, package
):
    """The target environment already has another numba or NumPy than the build
    environment: its indexes would all miss, so nothing compiles."""
    setup = _setup_module()
    build = setup.build_versions()

    def run(cmd, **kwargs):
        raise AssertionError("compiled despite the version mismatch")

    other = dict(build, **{package: "0.0.1"})
    assert setup.fill_numba_cache(str(tmp_path), run=run, target=lambda: other) is (
        False
    )
    out = capsys.readouterr().out
    assert f"{package} {build[package]} here, 0.0.1 installed" in out
    # not installed in the target, or the same versions: it compiles
    for target in ({}, dict(build), {package: None}):
        ran = []
        setup.fill_numba_cache(
            str(tmp_path),
            run=lambda cmd, ran=ran, **kw: (
                ran.append(cmd) or subprocess.CompletedProcess(cmd, 0, "done", "")
            ),
            target=lambda target=target: target,
        )
        assert len(ran) == 1


def test_target_versions_ignore_the_build_environment(tmp_path, monkeypatch):
    """The target's versions are this interpreter's without ``PYTHONPATH`` (where
    pip's isolated build environment is), here a fake numba 99.0."""
    from importlib.metadata import version

    setup = _setup_module()
    fake = tmp_path / "numba-99.0.dist-info"
    fake.mkdir()
    (fake / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: numba\nVersion: 99.0\n"
    )
    monkeypatch.setenv("PYTHONPATH", str(tmp_path))
    assert setup.build_versions()["numba"] == version("numba")
    assert setup.target_versions() == {
        "numba": version("numba"),
        "numpy": version("numpy"),
    }

    def failing(cmd, **kwargs):
        raise OSError("no interpreter")

    assert setup.target_versions(run=failing) == {}


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
