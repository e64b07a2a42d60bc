"""Column access to training data without copies, for in-memory and memory-mapped arrays.

Trainers see data as an ``n × m`` array ``x`` (one example per column). When the user passes a
memory-mapped ``.npy`` of shape ``(m, n)``, ``x`` is its transpose, a view: nothing is copied.
Reading through such a view maps every touched page into the process, so the resident set would
grow to the file size; the helpers here read in blocks and release the pages after each one
(the page-release primitives live in :mod:`objectives.blocks`, which the objectives' blocked
evaluation uses too). The page cache keeps the data, so a second pass is still fast.

A random gather of columns (a mini-batch) through a memory map is worse: this kernel's page
cache holds the file in large folios and a fault maps a whole folio, so gathering 2000 random
rows of a 10⁶-row file through ``np.memmap`` maps nearly the whole file. :func:`take_columns`
therefore reads the needed rows from the file with ``os.preadv`` when ``x`` is a column view of a
read-only or shared memory map, and falls back to fancy indexing otherwise.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import numpy as np

from objectives.blocks import (
    block_columns,
    iter_column_blocks,
    mapping_of,
    memmap_root,
    release_pages,
)

__all__ = [
    "all_finite",
    "column_blocks",
    "default_block",
    "iter_column_blocks",
    "release_pages",
    "take_columns",
]

_BLOCK_BYTES = 16 * 2**20  # a block of columns for copies: about 16 MiB


def default_block(n: int, itemsize: int = 8) -> int:
    """Columns per block so that one block of ``n`` rows holds about 16 MiB."""
    return max(1, _BLOCK_BYTES // (max(itemsize, 1) * max(n, 1)))


def column_blocks(
    x: np.ndarray, block: int | None = None, dtype: np.dtype | None = None
) -> Iterator[tuple[int, int, np.ndarray]]:
    """Yield ``(start, stop, block)`` with ``block = x[:, start:stop]`` as a C-contiguous array.

    The block is a fresh array of ``dtype`` (default: ``x.dtype``) when ``x`` is memory-mapped or
    not C-contiguous, so BLAS sees contiguous memory; the mapped pages are released after each
    block has been used. Use :func:`iter_column_blocks` for views without a copy.
    """
    n, _ = x.shape
    step = default_block(n, x.dtype.itemsize) if block is None else block_columns(n, 8, block)
    dtype = x.dtype if dtype is None else np.dtype(dtype)
    for start, stop, part in iter_column_blocks(x, step):
        yield start, stop, np.ascontiguousarray(part, dtype=dtype)


def all_finite(x: np.ndarray, block: int | None = None) -> bool:
    """Whether every entry of ``x`` (n × m) is finite, checked in column blocks.

    Memory stays bounded (one boolean block at a time), mapped pages are released after each
    block, and the check stops at the first block holding NaN or infinity.
    """
    step = default_block(x.shape[0], x.dtype.itemsize) if block is None else block
    return all(bool(np.isfinite(part).all()) for _, _, part in iter_column_blocks(x, step))


def take_columns(x: np.ndarray, index: Any, dtype: np.dtype | None = None) -> np.ndarray:
    """``x[:, index]`` as a fresh C-contiguous ``n × len(index)`` array of ``dtype``.

    Parameters
    ----------
    x : ndarray (n, m)
        Data, one example per column; in memory or (a view of) a memory map.
    index : array_like of int
        Column indices, in any order, duplicates allowed, negative counted from the end.
    dtype : dtype, optional
        Result dtype (default ``x.dtype``).

    Returns
    -------
    ndarray (n, len(index))
        Equal to ``np.ascontiguousarray(x[:, index], dtype=dtype)``.

    Notes
    -----
    When every column of ``x`` is a contiguous run of bytes in a file mapped read-only or shared
    (the transpose of a C-ordered ``(m, n)`` ``.npy`` opened with ``mmap_mode="r"``), the columns
    are read from the file with ``os.preadv`` (one call per column, into the result's buffer):
    no page of the map is touched. Otherwise fancy indexing is used and mapped pages are
    released afterwards.
    """
    dtype = x.dtype if dtype is None else np.dtype(dtype)
    idx = np.asarray(index)
    if idx.dtype.kind in "iu" and idx.ndim == 1 and x.ndim == 2:
        m = x.shape[1]
        if idx.size and (idx.min() < -m or idx.max() >= m):
            bad = idx[(idx < -m) | (idx >= m)][0]
            raise IndexError(f"index {bad} is out of bounds for axis 1 with size {m}")
        rows = _read_columns(x, np.where(idx < 0, idx + m, idx))
        if rows is not None:
            return np.ascontiguousarray(rows.T, dtype=dtype)
    out = np.ascontiguousarray(x[:, index], dtype=dtype)
    release_pages(x)
    return out


def _read_columns(x: np.ndarray, idx: np.ndarray) -> np.ndarray | None:
    """Columns ``idx`` of a memory-mapped ``x`` read from its file as rows (``len(idx) × n``).

    Returns ``None`` when ``x`` is not such a view (or reading is not possible here), so that
    the caller falls back to fancy indexing.
    """
    if not hasattr(os, "preadv"):  # pragma: no cover - platform dependent
        return None
    root = memmap_root(x)
    found = mapping_of(x)
    if root is None or found is None or found[1] not in ("r", "r+", "w+"):
        return None
    filename = getattr(root, "filename", None)
    n = x.shape[0]
    itemsize = x.dtype.itemsize
    if filename is None or x.dtype != root.dtype or (n > 1 and x.strides[0] != itemsize):
        return None
    row_bytes = n * itemsize
    start = int(root.offset) + (x.__array_interface__["data"][0]
                                - root.__array_interface__["data"][0])
    out = np.empty((idx.size, n), dtype=x.dtype)
    if idx.size == 0:
        return out
    buffer = out.view(np.uint8).reshape(idx.size, row_bytes)
    positions = start + idx.astype(np.int64) * int(x.strides[1])
    try:
        fd = os.open(filename, os.O_RDONLY)
    except OSError:
        return None
    try:
        for j, position in enumerate(positions.tolist()):
            if os.preadv(fd, [buffer[j]], position) != row_bytes:
                return None
    except OSError:
        return None
    finally:
        os.close(fd)
    return out
