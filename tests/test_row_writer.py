"""RowWriter: the rows of an ``out=`` file written with O_DIRECT or ``pwrite``
equal the rows stored through the memmap, whatever order and size the blocks come
in."""

import os

import numpy as np
import pytest

from skdni import _memmap
from skdni._memmap import RowWriter, close_out, open_out

N_ROWS, N_COLS = 997, 13


def blocks(rng, dtype=np.float64):
    """Consecutive row blocks of random sizes (1 row to several stage lengths)."""
    lo = 0
    while lo < N_ROWS:
        hi = min(N_ROWS, lo + int(rng.integers(1, 300)))
        yield slice(lo, hi), rng.standard_normal((hi - lo, N_COLS)).astype(dtype)
        lo = hi


def write(path, pieces, dtype=np.float32):
    """Write ``(rows, block)`` pieces as ``_write_rows`` does; return the
    expected array, the file's array and whether O_DIRECT was still in use."""
    expected = np.zeros((N_ROWS, N_COLS), dtype)
    memmap = open_out(path, (N_ROWS, N_COLS), dtype)
    writer = RowWriter(memmap)
    for rows, block in pieces:
        expected[rows] = block
        if not writer.write(rows, block):
            memmap[rows] = block
    direct = writer.stage is not None
    writer.close()
    close_out(memmap, path)
    return expected, np.load(path), direct


@pytest.fixture
def small_stage(monkeypatch):
    # stage boundaries fall inside rows and blocks
    monkeypatch.setattr(RowWriter, "_STAGE", 3 * RowWriter._ALIGN)


@pytest.mark.parametrize("seed", [0, 1])
def test_consecutive_blocks(tmp_path, small_stage, seed):
    rng = np.random.default_rng(seed)
    expected, got, direct = write(tmp_path / "Y.npy", blocks(rng))
    np.testing.assert_array_equal(got, expected)
    assert expected.dtype == got.dtype == np.float32
    # O_DIRECT throughout where the file system has it (tmp_path usually does)
    assert direct == has_o_direct(tmp_path)


def has_o_direct(folder):
    if not getattr(os, "O_DIRECT", 0):
        return False
    path = folder / "probe"
    path.write_bytes(b"")
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_DIRECT))
    except OSError:
        return False
    return True


def test_out_of_order_and_fancy_rows(tmp_path, small_stage):
    rng = np.random.default_rng(2)
    pieces = list(blocks(rng, np.float32))
    # the first blocks in order, then one skipped ahead, then fancy rows
    late = pieces[3:]
    order = pieces[:2] + late[::-1] + [pieces[2]]
    fancy = np.array([5, 900, 17])
    order.append((fancy, rng.standard_normal((3, N_COLS)).astype(np.float32)))
    expected, got, direct = write(tmp_path / "Y.npy", order)
    assert not direct
    np.testing.assert_array_equal(got, expected)


def test_without_o_direct(tmp_path, monkeypatch, small_stage):
    monkeypatch.delattr(os, "O_DIRECT", raising=False)
    expected, got, direct = write(tmp_path / "Y.npy", blocks(np.random.default_rng(3)))
    assert not direct
    np.testing.assert_array_equal(got, expected)


def test_refused_direct_write_falls_back(tmp_path, monkeypatch, small_stage):
    if not getattr(os, "O_DIRECT", 0):
        pytest.skip("no O_DIRECT here")
    plain = _memmap._write_all
    refused = []

    def refuse_direct(fd, data, position):
        if fd == writers[0].direct:
            refused.append(position)
            raise OSError(22, "Invalid argument")
        plain(fd, data, position)

    writers = []
    monkeypatch.setattr(_memmap, "_write_all", refuse_direct)
    init = RowWriter.__init__

    def spy(self, memmap):
        init(self, memmap)
        writers.append(self)

    monkeypatch.setattr(RowWriter, "__init__", spy)
    expected, got, direct = write(tmp_path / "Y.npy", blocks(np.random.default_rng(4)))
    if writers[0].direct is None and not refused:
        pytest.skip("the temp folder's file system has no O_DIRECT")
    assert refused == [0] and not direct
    np.testing.assert_array_equal(got, expected)
