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
"""

import sys

from numba.core import types
from numba.core.registry import CPUDispatcher

__all__ = ["compiled_signatures", "helper", "kernel", "kernel_status"]


class _Dispatcher(CPUDispatcher):
    """A CPU dispatcher that its callers' constant arguments do not specialise."""

    def get_call_template(self, args, kws):
        args = tuple(types.unliteral(a) for a in args)
        kws = {k: types.unliteral(v) for k, v in kws.items()}
        return super().get_call_template(args, kws)


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
