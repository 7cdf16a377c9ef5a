"""Out-of-core output shared by the text transformers: ``out=PATH`` memmaps."""

import mmap
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
    """Writes blocks of rows into the file of an :func:`open_out` memmap.

    Storing through the mapping would fault in (and zero) every page of the file
    first. Blocks of consecutive rows in file order are instead collected in an
    aligned staging buffer and written with ``O_DIRECT`` (straight to the disk, no
    page cache: the CPU cost of ``out=`` becomes a copy); other blocks, and
    systems without ``O_DIRECT``, use plain ``pwrite``.
    """

    _ALIGN = 4096  # O_DIRECT offsets, lengths and addresses: sector multiples
    _STAGE = 1 << 22

    def __init__(self, memmap):
        self.memmap = memmap
        self.row_bytes = memmap.itemsize * int(np.prod(memmap.shape[1:]))
        self.fd = os.open(memmap.filename, os.O_RDWR)
        self.next_row = 0
        self.direct = self.stage = None
        direct = getattr(os, "O_DIRECT", 0)
        if direct:
            try:
                self.direct = os.open(memmap.filename, os.O_WRONLY | direct)
            except OSError:  # e.g. tmpfs
                return
            # the staging buffer holds the file from offset 0: the header first
            self.stage = mmap.mmap(-1, self._STAGE)
            header = os.pread(self.fd, memmap.offset, 0)
            self.stage[: len(header)] = header
            self.staged, self.stage_at = len(header), 0

    def write(self, rows, block) -> bool:
        """Write ``block`` at ``rows`` when they are a slice of consecutive rows
        and ``block`` has their exact shape; False (nothing written) otherwise."""
        if not isinstance(rows, slice) or rows.step not in (None, 1):
            self._stop_direct()
            return False
        lo, hi, _ = rows.indices(self.memmap.shape[0])
        if np.shape(block) != (max(hi - lo, 0),) + self.memmap.shape[1:]:
            self._stop_direct()
            return False
        data = memoryview(np.ascontiguousarray(block, self.memmap.dtype)).cast("B")
        position = self.memmap.offset + lo * self.row_bytes
        if self.stage is not None and lo != self.next_row:
            self._stop_direct()
        while data and self.stage is not None:
            take = min(len(data), self._STAGE - self.staged)
            self.stage[self.staged : self.staged + take] = data[:take]
            self.staged += take
            data, position = data[take:], position + take
            if self.staged == self._STAGE:
                self._flush_stage()
        if data:
            _write_all(self.fd, data, position)
        self.next_row = hi
        return True

    def _flush_stage(self):
        """Write the aligned part of the staged bytes; keep the rest staged."""
        aligned = self.staged // self._ALIGN * self._ALIGN
        if not aligned:
            return
        try:
            _write_all(self.direct, memoryview(self.stage)[:aligned], self.stage_at)
        except OSError:  # a file system that refuses this O_DIRECT write
            self._stop_direct()
            return
        rest = self.staged - aligned
        self.stage[:rest] = self.stage[aligned : self.staged]
        self.staged, self.stage_at = rest, self.stage_at + aligned

    def _stop_direct(self):
        """Write what is staged with plain ``pwrite``; plain writes from now on."""
        if self.stage is None:
            return
        _write_all(self.fd, memoryview(self.stage)[: self.staged], self.stage_at)
        os.close(self.direct)
        # the staging mmap is freed with its last reference
        self.direct = self.stage = None

    def close(self, discard=False):
        """Write what is still staged (unless ``discard``) and close the file."""
        if self.fd is None:
            return
        try:
            if self.stage is not None and not discard:
                self._flush_stage()
                self._stop_direct()
        finally:
            if self.direct is not None:
                os.close(self.direct)
            os.close(self.fd)
            self.fd = self.direct = self.stage = None


def _write_all(fd, data, position):
    while data:
        written = os.pwrite(fd, data, position)
        data, position = data[written:], position + written


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
