"""The cached build: ``build_py`` also compiles skdni's numba kernels.

After the sources are copied to ``build_lib``, ``skdni/_cached_build.py`` runs
there in a subprocess and fills ``skdni/_numba_cache`` (README, "First call and
the numba cache"), so an installed skdni loads its kernels instead of compiling
them on the first call. Best effort: any failure prints a warning and the build
goes on without the cache (the first calls then compile, as before); pip shows
its messages with ``pip install -v``. Skipped for editable installs, when
``SKDNI_BUILD_NUMBA_CACHE=0``, and when the environment installed into already has
another numba or NumPy than the build's (every index would miss).
"""

import json
import os
import shutil
import subprocess
import sys

from setuptools import setup
from setuptools.command.build_py import build_py

ENV_VAR = "SKDNI_BUILD_NUMBA_CACHE"
TIMEOUT = 900  # seconds; ~20 s of CPU on a 2-core machine


_PACKAGES = ("numba", "numpy")
_VERSIONS = f"""
import json
from importlib.metadata import PackageNotFoundError, version
def get(name):
    try:
        return version(name)
    except PackageNotFoundError:
        return None
print(json.dumps({{name: get(name) for name in {_PACKAGES!r}}}))
"""


def build_versions():
    """numba's and NumPy's versions in this (the build's) environment."""
    from importlib.metadata import PackageNotFoundError, version

    out = {}
    for name in _PACKAGES:
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            out[name] = None
    return out


def target_versions(run=subprocess.run):
    """numba's and NumPy's versions installed where skdni is being installed
    (None: not installed): this interpreter without pip's isolated build
    environment (``PYTHONPATH``, ``PYTHONNOUSERSITE``). Best effort: {} on error."""
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("PYTHONPATH", "PYTHONNOUSERSITE")
    }
    try:
        result = run(
            [sys.executable, "-P", "-c", _VERSIONS],
            env=env,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=60,
        )
        lines = result.stdout.strip().splitlines()
        return json.loads(lines[-1]) if result.returncode == 0 and lines else {}
    except Exception:  # noqa: BLE001 - unknown: compile
        return {}


def _mismatch(build, target):
    """The packages installed in the target environment at another version."""
    return {
        name: (build.get(name), target[name])
        for name in _PACKAGES
        if target.get(name) and build.get(name) and target[name] != build[name]
    }


def fill_numba_cache(package_dir, run=subprocess.run, target=target_versions):
    """Compile the kernels into ``package_dir/_numba_cache``; True if it did.

    Skipped (False) when the environment installed into (``target()``) has
    another numba or NumPy than this build environment: every index would miss.
    Never raises: a failure removes the directory and prints a warning."""
    cache = os.path.join(package_dir, "_numba_cache")
    shutil.rmtree(cache, ignore_errors=True)  # stale entries of an earlier build
    try:
        differ = _mismatch(build_versions(), target())
    except Exception:  # noqa: BLE001 - unknown versions: compile
        differ = {}
    if differ:
        versions = ", ".join(
            f"{n} {b} here, {t} installed" for n, (b, t) in differ.items()
        )
        print(
            f"skdni: not compiling the numba kernels at build time ({versions}: "
            "they would not load); the first calls compile them (or run "
            "`skdni warm-up` after installing)"
        )
        return False
    script = os.path.join(package_dir, "_cached_build.py")
    print(f"skdni: compiling the numba kernels into {cache} ({ENV_VAR}=0 skips it)")
    try:
        # -P: the package directory is not put on sys.path (its modules would
        # shadow others'); the environment is the build's (its numba)
        result = run(
            [sys.executable, "-P", script, package_dir],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=TIMEOUT,
        )
        if result.returncode != 0:
            raise RuntimeError(
                f"exit status {result.returncode}: {result.stderr.strip()[-2000:]}"
            )
        lines = result.stdout.strip().splitlines()
        print(lines[-1] if lines else "skdni: the build step printed nothing")
        return True
    except Exception as exc:  # noqa: BLE001 - the install goes on without a cache
        shutil.rmtree(cache, ignore_errors=True)
        print(
            "warning: skdni could not compile its numba kernels at build time "
            f"({type(exc).__name__}: {exc}); the first calls will compile them",
            file=sys.stderr,
        )
        return False


class BuildPyWithNumbaCache(build_py):
    def run(self):
        super().run()
        if getattr(self, "editable_mode", False):
            return
        if os.environ.get(ENV_VAR, "1").strip() == "0":
            return
        fill_numba_cache(os.path.join(self.build_lib, "skdni"))


if __name__ == "__main__":  # setuptools runs it so; tests import the hook
    setup(cmdclass={"build_py": BuildPyWithNumbaCache})
