"""Parameter text shared by several docstrings, written once.

A docstring line holding only ``%(key)s`` is replaced by the entry ``key`` of
:data:`DOCS` (or a keyword given to :func:`fill_doc`), indented like that line,
the way ``pandas.util._decorators.Substitution`` and imbalanced-learn's
``Substitution`` do. ``%``-placeholders leave the ``{"a", "b"}`` option sets of
numpydoc untouched, which ``str.format`` would not.
"""

import re
import textwrap

__all__ = ["DOCS", "fill_doc"]

DOCS = {
    "texts": """\
texts : list of str
    The corpus, one string per text (a bare string is refused).""",
    "y": """\
y : None
    Ignored; present for :class:`~sklearn.pipeline.Pipeline` compatibility.""",
    "n_jobs": """\
n_jobs : int or None, default=None
    Chunks of texts run in parallel through joblib (``None`` means 1 unless in a
    :func:`joblib.parallel_config` context, ``-1`` all processors); the output
    does not depend on it.""",
    "verbose": """\
verbose : int, default=0
    ``> 0`` shows a progress bar.""",
    "out": """\
out : str, path-like or None, default=None
    Out-of-core output: ``transform`` (and ``fit_transform``) write the rows
    block by block into a ``.npy`` file at this path
    (``numpy.lib.format.open_memmap``, replaced if present, only once complete)
    of the output dtype, in corpus row order, and return that memmap, so peak
    memory is one block, not ``n_chars × n_features``; blocks in row order go
    to the disk with ``O_DIRECT`` where the file system has it (not through the
    page cache, so reading the memmap reads the disk). Reopen it later with
    ``np.load(out, mmap_mode="r")``. Pandas output (``set_output``) would load it
    whole and raises an :class:`~skdni.InputError`.""",
    "rows": """\
Y : ndarray of shape (n_chars, n_features_out)
    One row per character, in corpus order. A ``numpy.memmap`` of the ``.npy``
    file ``out`` when ``out`` is set.""",
}

_PLACEHOLDER = re.compile(r"^( *)%\((\w+)\)s$", flags=re.MULTILINE)


def fill_doc(obj=None, /, **texts):
    """Fill the ``%(key)s`` lines of a docstring with the shared texts.

    Parameters
    ----------
    obj : class or function, optional
        The object whose ``__doc__`` is filled in place. Without it, a decorator
        is returned.
    **texts : str
        Extra or overriding entries, for this docstring only.

    Returns
    -------
    obj : class or function
        The same object (or a decorator when ``obj`` is not given).
    """
    entries = {**DOCS, **texts}

    def fill(target):
        def replace(match):
            indent, key = match.groups()
            return textwrap.indent(entries[key], indent)

        if target.__doc__:
            target.__doc__ = _PLACEHOLDER.sub(replace, target.__doc__)
        return target

    return fill if obj is None else fill(obj)
