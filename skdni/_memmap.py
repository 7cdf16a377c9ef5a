"""Out-of-core output shared by the text transformers: ``out=PATH`` memmaps."""

import os
import tempfile

import numpy as np
from numpy.lib.format import open_memmap

from ._compat import _get_output_config
from ._errors import InputError


def check_out(estimator, what):
    """Refuse ``out=`` with pandas/polars output before anything is computed.

    ``set_output(transform="pandas")`` would load the memmap whole into memory,
    which is what ``out=`` exists to avoid.
    """
    out = estimator.out
    if out is not None:
        check_out_path(out)
    if out is not None and _get_output_config("transform", estimator)["dense"] not in (
        "default",
        None,
    ):
        raise InputError(
            f"out={str(out)!r} writes {what} to a memory-mapped .npy file, but "
            "set_output(transform='pandas'/'polars') would load it whole into "
            "memory; use set_output(transform='default') with out=, or out=None "
            "for a DataFrame."
        )


def check_out_path(path) -> None:
    """Refuse an ``out=`` path that cannot become a ``.npy`` file, before any
    work (and any ``.partial`` file) is done."""
    try:
        path = os.path.abspath(os.fspath(path))
    except TypeError as exc:
        raise InputError(f"out={path!r} is not a file path.") from exc
    if os.path.isdir(path):
        raise InputError(
            f"out={path!r} is a folder; give the path of a .npy file to write."
        )
    parent = os.path.dirname(path)
    if not os.path.isdir(parent):
        raise InputError(f"out={path!r}: folder {parent!r} does not exist.")


def open_out(path, shape, dtype) -> np.memmap:
    """A writable ``.npy`` memmap in a temporary file beside ``path``.

    :func:`close_out` renames it onto ``path``: a memmap returned by an earlier
    call keeps its own (replaced) file instead of seeing it rewritten, or
    truncated under it (a crash, SIGBUS), and a failed run leaves ``path`` as it
    was.
    """
    path = os.path.abspath(os.fspath(path))
    try:
        fd, tmp = tempfile.mkstemp(
            dir=os.path.dirname(path), prefix=os.path.basename(path), suffix=".partial"
        )
    except OSError as exc:
        raise InputError(f"Could not write out={path!r}: {exc}") from exc
    os.close(fd)
    try:
        return open_memmap(tmp, mode="w+", dtype=np.dtype(dtype), shape=shape)
    except BaseException:
        os.remove(tmp)
        raise


class RowWriter:
    """Writes blocks of consecutive rows into the file of an :func:`open_out`
    memmap with ``pwrite``: the kernel copies them into the page cache, where
    storing through the mapping would fault in (and zero) every page first."""

    def __init__(self, memmap):
        self.memmap = memmap
        self.fd = os.open(memmap.filename, os.O_WRONLY)
        self.row_bytes = memmap.itemsize * int(np.prod(memmap.shape[1:]))

    def write(self, rows, block) -> bool:
        """Write ``block`` at ``rows`` when they are a slice of consecutive rows
        and ``block`` has their exact shape; False (nothing written) otherwise."""
        if not isinstance(rows, slice) or rows.step not in (None, 1):
            return False
        lo, hi, _ = rows.indices(self.memmap.shape[0])
        if np.shape(block) != (max(hi - lo, 0),) + self.memmap.shape[1:]:
            return False
        data = np.ascontiguousarray(block, dtype=self.memmap.dtype)
        view = memoryview(data).cast("B")
        position = self.memmap.offset + lo * self.row_bytes
        while view:
            written = os.pwrite(self.fd, view, position)
            view, position = view[written:], position + written
        return True

    def close(self):
        os.close(self.fd)


def close_out(memmap, path) -> np.memmap:
    """Flush ``memmap`` (from :func:`open_out`) and move its file onto ``path``."""
    path = os.path.abspath(os.fspath(path))
    try:
        memmap.flush()
        os.replace(memmap.filename, path)
    except OSError as exc:
        # every failure path removes the (full-size) temporary file
        discard_out(memmap)
        raise InputError(f"Could not write out={path!r}: {exc}") from exc
    memmap.filename = path
    return memmap


def discard_out(memmap):
    """Remove the temporary file of an unfinished :func:`open_out` memmap."""
    if memmap is not None and os.path.exists(memmap.filename):
        os.remove(memmap.filename)
