"""How skdni's numba kernels are compiled (README, "First call and the numba cache").

:func:`kernel` replaces ``numba.njit(cache=True)`` for a function called from Python,
:func:`helper` for one called only from other kernels (no Python entry point is
built for it: calling it from Python raises ``TypeError``; use ``.py_func``). Both
compile lazily, on the first call, for the argument types of that call (nothing
compiles at import), and are saved in numba's on-disk cache, which later processes
load instead of compiling. Unlike ``njit``, a function is typed by its arguments'
plain types when a kernel calls it: ``f(x, 1)`` and ``f(x, 0)`` share one ``int64``
compilation instead of one for ``Literal[int](1)`` and one for ``Literal[int](0)``
(the constants still fold once LLVM inlines the call). :func:`skdni.warm_up` fills
the cache ahead of time.

Every skdni kernel's index is stamped with one digest of all of skdni's sources
(``skdni/**/*.py``) and NumPy's version, not with its own file's: numba compiles
helpers and constants of other modules into a kernel's machine code, so editing
any of them must invalidate it (and a content digest, unlike a modification time,
survives installing). The keys are numba's (numba version, CPU, bytecode).
An installed (built) skdni also has the package's ``_numba_cache`` directory, which
the build fills (``setup.py``, :mod:`skdni._cached_build`): it is searched first and
never written at runtime; new compilations go where numba caches
(``NUMBA_CACHE_DIR``, else ``__pycache__`` next to the sources if writable, else
the user's cache directory).
"""

import contextlib
import functools
import hashlib
import inspect
import os
import sys

from numba.core import types
from numba.core.caching import (
    CompileResultCacheImpl,
    FunctionCache,
    IndexDataCacheFile,
    _CacheLocator,
)
from numba.core.registry import CPUDispatcher

# The package directory and the cache directory a build fills (none in a checkout).
_PACKAGE_ROOT = os.path.dirname(os.path.abspath(__file__))
CACHE_DIR_NAME = "_numba_cache"
# True only in the build step (skdni._cached_build): kernels are then cached in
# the package's _numba_cache, which is otherwise read-only.
_BUILDING = False
_SKIPPED_DIRS = {"__pycache__", CACHE_DIR_NAME}


def _package_cache_root():
    return os.path.join(_PACKAGE_ROOT, CACHE_DIR_NAME)


def _in_package(path):
    """Whether ``path`` is a file of the skdni package."""
    path = os.path.abspath(path)
    try:
        inside = os.path.commonpath([path, _PACKAGE_ROOT]) == _PACKAGE_ROOT
    except ValueError:  # another drive (Windows), or relative and absolute
        return False
    return inside and os.path.isfile(path)


def _source_stamp():
    """What every skdni kernel index is valid for: the digest of skdni's sources
    and NumPy's version (the numba version and the CPU are in every key)."""
    import numpy

    return ("skdni-sources", _sources_digest(_PACKAGE_ROOT), numpy.__version__)


@functools.cache
def _sources_digest(root):
    """SHA-256 over the relative paths and bytes of every ``.py`` file under
    ``root`` (once per process and root)."""
    digest = hashlib.sha256()
    files = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if d not in _SKIPPED_DIRS]
        rel = os.path.relpath(dirpath, root)
        files += [os.path.join(rel, f) for f in filenames if f.endswith(".py")]
    for rel in sorted(os.path.normpath(f).replace(os.sep, "/") for f in files):
        with open(os.path.join(root, rel), "rb") as f:
            data = f.read()
        digest.update(f"{rel}\0{len(data)}\0".encode())
        digest.update(data)
    return digest.hexdigest()


class _PackageCacheLocator(_CacheLocator):
    """Cache files of the kernels in ``<package>/_numba_cache/<subpackage>/``,
    stamped by skdni's sources: where the build writes them (``_BUILDING``) and,
    at runtime, a read-only place searched first."""

    def __init__(self, py_func, py_file):
        self._py_file = py_file
        self._lineno = py_func.__code__.co_firstlineno
        sub = os.path.relpath(os.path.dirname(os.path.abspath(py_file)), _PACKAGE_ROOT)
        self._cache_path = os.path.normpath(os.path.join(_package_cache_root(), sub))

    def get_cache_path(self):
        return self._cache_path

    def get_source_stamp(self):
        return _source_stamp()

    def get_disambiguator(self):
        return str(self._lineno)

    @classmethod
    def in_package(cls, py_func, py_file):
        """The locator of a file of the package that has the directory, else None."""
        if not os.path.isdir(_package_cache_root()) or not _in_package(py_file):
            return None
        return cls(py_func, py_file)

    @classmethod
    def from_function(cls, py_func, py_file):
        if not _BUILDING:
            return None  # read-only at runtime: see _Cache
        self = cls.in_package(py_func, py_file)
        if self is None:
            return None
        try:
            self.ensure_cache_path()
        except OSError:
            return None
        return self


class _SkdniStamped:
    """Numba's locator for a file of skdni, with skdni's source stamp."""

    def __init__(self, locator):
        self._locator = locator

    def __getattr__(self, name):
        if name == "_locator":  # not set yet (a copy): no recursion
            raise AttributeError(name)
        return getattr(self._locator, name)

    def get_source_stamp(self):
        return _source_stamp()


class _CacheImpl(CompileResultCacheImpl):
    _locator_classes = [_PackageCacheLocator, *CompileResultCacheImpl._locator_classes]

    def __init__(self, py_func):
        super().__init__(py_func)
        if not isinstance(self._locator, _PackageCacheLocator) and _in_package(
            inspect.getfile(py_func)
        ):
            self._locator = _SkdniStamped(self._locator)


class _Cache(FunctionCache):
    """numba's function cache, stamped by skdni's sources, with the package's
    cache directory searched first (read-only: new compilations go where numba
    caches). A damaged index is a miss."""

    _impl_class = _CacheImpl

    def __init__(self, py_func):
        super().__init__(py_func)
        self._readonly = None
        if not isinstance(self._impl.locator, _PackageCacheLocator):
            locator = _PackageCacheLocator.in_package(py_func, inspect.getfile(py_func))
            if locator is not None:
                self._readonly = IndexDataCacheFile(
                    cache_path=locator.get_cache_path(),
                    filename_base=self._impl.filename_base,
                    source_stamp=locator.get_source_stamp(),
                )

    def cache_files(self):
        """The index files a load searches, in order."""
        return [f for f in (self._readonly, self._cache_file) if f is not None]

    def _load_overload(self, sig, target_context):
        if not self._enabled:
            return None
        key = self._index_key(sig, target_context.codegen())
        for cache_file in self.cache_files():
            try:
                data = cache_file.load(key)
            except Exception:  # noqa: BLE001 - a damaged or foreign file: a miss
                data = None
            if data is not None:
                return self._impl.rebuild(target_context, data)
        return None

    def _save_overload(self, sig, data):
        try:
            self._cache_file._load_index()
        except Exception:  # noqa: BLE001 - a damaged index: start a new one
            with contextlib.suppress(OSError):
                os.remove(self._cache_file._index_path)
        super()._save_overload(sig, data)


class _Dispatcher(CPUDispatcher):
    """A CPU dispatcher that its callers' constant arguments do not specialise."""

    def get_call_template(self, args, kws):
        args = tuple(types.unliteral(a) for a in args)
        kws = {k: types.unliteral(v) for k, v in kws.items()}
        return super().get_call_template(args, kws)

    def enable_caching(self):
        self._cache = _Cache(self.py_func)


class _HelperDispatcher(_Dispatcher):
    """A dispatcher without a Python entry point (compiled with
    ``no_cpython_wrapper``: calling its machine code from Python would crash)."""

    def __call__(self, *args, **kwargs):
        raise TypeError(
            f"{self.py_func.__qualname__} is a numba helper, callable only from "
            "kernels; from Python call its .py_func"
        )


def _make(func, options, cls=_Dispatcher):
    # what numba.njit(cache=True, **options) builds, with the dispatcher above
    targetoptions = {"nopython": True, "boundscheck": None, **options}
    disp = cls(py_func=func, locals={}, targetoptions=targetoptions)
    disp.enable_caching()
    return disp


def kernel(func=None, *, nogil=False):
    """``numba.njit(cache=True)``, compiled once per plain argument type.

    Parameters
    ----------
    func : function
        The Python function to compile (omit it to pass options:
        ``@kernel(nogil=True)``).
    nogil : bool, default=False
        Release the GIL while the compiled code runs.

    Returns
    -------
    numba dispatcher
    """
    options = {"nogil": True} if nogil else {}
    if func is None:
        return lambda f: _make(f, options)
    return _make(func, options)


def helper(func):
    """:func:`kernel` for a function called only from other kernels.

    It has no Python entry point (numba's ``no_cpython_wrapper``), which saves
    compiling one: calling it from Python raises ``TypeError``.

    Parameters
    ----------
    func : function
        The Python function to compile.

    Returns
    -------
    numba dispatcher
    """
    return _make(func, {"no_cpython_wrapper": True}, _HelperDispatcher)


def _dispatchers():
    """Every skdni kernel in an imported skdni module, by ``module.function``."""
    out = {}
    for modname, module in list(sys.modules.items()):
        if module is None or not (modname == "skdni" or modname.startswith("skdni.")):
            continue
        for name, value in list(vars(module).items()):
            if isinstance(value, _Dispatcher) and value.py_func.__module__ == modname:
                out[f"{modname}.{name}"] = value
    return out


def compiled_signatures():
    """The skdni kernels compiled (or loaded from the cache) in this process.

    Returns
    -------
    dict
        ``{"module.function": n_signatures}`` for every kernel with at least one.
    """
    if "numba" not in sys.modules:
        return {}
    return {
        name: len(d.signatures) for name, d in _dispatchers().items() if d.signatures
    }


def kernel_status():
    """Whether each kernel used in this process was compiled or loaded from the cache.

    Returns
    -------
    dict
        ``{"module.function": "compiled" | "cached"}`` for every kernel with a
        signature; "compiled" if any of its signatures missed the cache.
    """
    if "numba" not in sys.modules:
        return {}
    return {
        name: "compiled" if sum(d.stats.cache_misses.values()) else "cached"
        for name, d in _dispatchers().items()
        if d.signatures
    }
