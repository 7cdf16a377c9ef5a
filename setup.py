"""The cached build: ``build_py`` also compiles skdni's numba kernels.

After the sources are copied to ``build_lib``, ``skdni/_cached_build.py`` runs
there in a subprocess and fills ``skdni/_numba_cache`` (README, "First call and
the numba cache"), so an installed skdni loads its kernels instead of compiling
them on the first call. Best effort: any failure prints a warning and the build
goes on without the cache (the first calls then compile, as before). Skipped for
editable installs and when ``SKDNI_BUILD_NUMBA_CACHE=0``.
"""

import os
import shutil
import subprocess
import sys

from setuptools import setup
from setuptools.command.build_py import build_py

ENV_VAR = "SKDNI_BUILD_NUMBA_CACHE"
TIMEOUT = 900  # seconds; ~20 s of CPU on a 2-core machine


def fill_numba_cache(package_dir, run=subprocess.run):
    """Compile the kernels into ``package_dir/_numba_cache``; True if it did.

    Never raises: a failure removes the directory and prints a warning."""
    cache = os.path.join(package_dir, "_numba_cache")
    shutil.rmtree(cache, ignore_errors=True)  # stale entries of an earlier build
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
        print(result.stdout.strip().splitlines()[-1])
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
