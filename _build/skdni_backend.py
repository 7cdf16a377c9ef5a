"""skdni's PEP 517 build backend: setuptools', plus numpy and numba for a wheel.

A wheel's ``build_py`` compiles skdni's numba kernels (``setup.py``), which needs
numpy and numba in the build environment; an editable install, an sdist, or a
wheel built with ``SKDNI_BUILD_NUMBA_CACHE=0`` does not, so only then are they
left out of the build requirements.
"""

import os

from setuptools import build_meta as _orig
from setuptools.build_meta import *  # noqa: F403 - the rest of the backend as is

_KERNEL_REQUIRES = ["numpy>=1.26", "numba>=0.60"]


def get_requires_for_build_wheel(config_settings=None):
    requires = _orig.get_requires_for_build_wheel(config_settings)
    if os.environ.get("SKDNI_BUILD_NUMBA_CACHE", "1").strip() == "0":
        return requires
    return [*requires, *_KERNEL_REQUIRES]
