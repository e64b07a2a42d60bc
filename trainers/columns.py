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

The file is opened by the kernel's handle on the mapping itself (``/proc/self/map_files``) where
that is allowed, else by the memmap's path; in the second case the opened file must be the one
mapped, i.e. its ``(st_dev, st_ino)`` must equal the device and inode that ``/proc/self/maps``
lists for the mapping, and the mapping's file offset must match the memmap's. A file replaced
after mapping (as an atomic write does), deleted, or a system without ``/proc`` therefore gives
fancy indexing on the mapping, never rows of another file.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import numpy as np

from sparselearn.objectives.blocks import (
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

#: Per-mapping handles on the mapped files (Linux); opening one needs privileges on most systems.
_MAP_FILES = "/proc/self/map_files"

#: The process's mappings with their device, inode and file offset (Linux).
_MAPS = "/proc/self/maps"


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

    Parameters
    ----------
    x : ndarray of shape (n, m)
        Data, one example per column; in memory or (a view of) a memory map.
    block : int, optional
        Columns per block, a positive integer (default: about 16 MiB of ``x`` per block,
        :func:`default_block`).
    dtype : dtype, optional
        Dtype of the yielded blocks (default ``x.dtype``).

    Yields
    ------
    start, stop : int
        The block's column range ``[start, stop)``.
    block : ndarray of shape (n, stop - start)
        ``x[:, start:stop]`` as a C-contiguous array of ``dtype`` (a copy unless it already
        was one).
    """
    n, _ = x.shape
    step = (default_block(n, x.dtype.itemsize) if block is None
            else block_columns(n, 8, block, owner="column_blocks"))
    dtype = x.dtype if dtype is None else np.dtype(dtype)
    for start, stop, part in iter_column_blocks(x, step):
        yield start, stop, np.ascontiguousarray(part, dtype=dtype)


def all_finite(x: np.ndarray, block: int | None = None) -> bool:
    """Whether every entry of ``x`` (n × m) is finite, checked in column blocks.

    Memory stays bounded (one boolean block at a time), mapped pages are released after each
    block, and the check stops at the first block holding NaN or infinity.

    Parameters
    ----------
    x : ndarray of shape (n, m)
        Data, one example per column; in memory or (a view of) a memory map.
    block : int, optional
        Columns per block (default: about 16 MiB of ``x`` per block, :func:`default_block`).

    Returns
    -------
    bool
        True when no entry is NaN or infinite (also for an empty ``x``).
    """
    step = default_block(x.shape[0], x.dtype.itemsize) if block is None else block
    return all(bool(np.isfinite(part).all()) for _, _, part in iter_column_blocks(x, step))


def take_columns(x: np.ndarray, index: Any, dtype: np.dtype | None = None) -> np.ndarray:
    """``x[:, index]`` as a fresh C-contiguous ``n × len(index)`` array of ``dtype``.

    Parameters
    ----------
    x : ndarray of shape (n, m)
        Data, one example per column; in memory or (a view of) a memory map.
    index : array_like of int
        Column indices, in any order, duplicates allowed, negative counted from the end.
    dtype : dtype, optional
        Result dtype (default ``x.dtype``).

    Returns
    -------
    ndarray of shape (n, len(index))
        Equal to ``np.ascontiguousarray(x[:, index], dtype=dtype)``, columns in ``index``
        order.

    Raises
    ------
    IndexError
        If an integer index is out of bounds.

    Notes
    -----
    When every column of ``x`` is a contiguous run of bytes in a file mapped read-only or shared
    (the transpose of a C-ordered ``(m, n)`` ``.npy`` opened with ``mmap_mode="r"`` or
    ``"r+"``, or of a column or row slice of it), and the file can be verified to be the mapped
    one (see the module notes), the columns are read from the file with ``os.preadv`` straight
    into the result's rows: the requested rows are sorted by file position, duplicates are read
    once and copied, and each run of rows adjacent in the file is one ``preadv`` call (split
    only at the system's iovec limit). No page of the map is touched. A shared writable map
    reads its unflushed writes this way too (the page cache is the map). Otherwise fancy
    indexing is used and mapped pages are released afterwards.
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
    """Columns ``idx`` (in range, non-negative) of a memory-mapped ``x`` read from its file.

    Returns the rows ``len(idx) × n`` (row ``j`` is column ``idx[j]`` of ``x``), or ``None`` when
    ``x`` is not such a view, the mapped file cannot be opened and verified, or a read comes
    back short, so that the caller falls back to fancy indexing.
    """
    if not hasattr(os, "preadv"):  # pragma: no cover - platform dependent
        return None
    root = memmap_root(x)
    found = mapping_of(x)
    if root is None or found is None or found[1] not in ("r", "r+", "w+"):
        return None
    n = x.shape[0]
    itemsize = x.dtype.itemsize
    if x.dtype != root.dtype or (n > 1 and x.strides[0] != itemsize):
        return None
    out = np.empty((idx.size, n), dtype=x.dtype)
    if idx.size == 0:
        return out
    row_bytes = n * itemsize
    root_address = root.__array_interface__["data"][0]
    start = int(root.offset) + (x.__array_interface__["data"][0] - root_address)
    positions = start + idx.astype(np.int64) * int(x.strides[1])
    fd = _open_mapped_file(root, root_address)
    if fd is None:
        return None
    try:
        if row_bytes and not _gather_rows(fd, out.view(np.uint8).reshape(idx.size, row_bytes),
                                          positions):
            return None
    except OSError:
        return None
    finally:
        os.close(fd)
    return out


def _gather_rows(fd: int, rows: np.ndarray, positions: np.ndarray) -> bool:
    """Fill ``rows[j]`` (bytes) with the file's bytes at ``positions[j]``; False on a short read.

    The positions are sorted; each distinct one is read once, each run of positions one row
    apart is one ``preadv`` into the matching rows (in chunks of at most :func:`_iov_max` rows
    and 1 GiB), and duplicates are copied afterwards.
    """
    row_bytes = rows.shape[1]
    order = np.argsort(positions, kind="stable")
    ordered = positions[order]
    first = np.ones(ordered.size, dtype=bool)
    first[1:] = ordered[1:] != ordered[:-1]
    targets = order[first]  # output row of each distinct position, in file order
    distinct = ordered[first]
    breaks = np.flatnonzero(np.diff(distinct) != row_bytes) + 1
    bounds = np.concatenate(([0], breaks, [distinct.size])).tolist()
    chunk = max(1, min(_iov_max(), 2**30 // row_bytes))
    targets_list = targets.tolist()
    distinct_list = distinct.tolist()
    for a, b in zip(bounds[:-1], bounds[1:], strict=True):
        for lo in range(a, b, chunk):
            hi = min(lo + chunk, b)
            buffers = [rows[j] for j in targets_list[lo:hi]]
            if os.preadv(fd, buffers, distinct_list[lo]) != (hi - lo) * row_bytes:
                return False
    if targets.size < positions.size:  # duplicates: copy from the row that was read
        source = targets[np.cumsum(first) - 1]
        rows[order[~first]] = rows[source[~first]]
    return True


def _iov_max() -> int:
    """Most buffers one ``preadv`` call accepts (``IOV_MAX``, 1024 on Linux)."""
    try:
        value = os.sysconf("SC_IOV_MAX")
    except (AttributeError, OSError, ValueError):  # pragma: no cover - platform dependent
        value = -1
    return int(value) if value and value > 0 else 16


def _mapping_entry(address: int) -> tuple[int, int, int, int, int] | None:
    """``(start, end, file offset, st_dev, st_ino)`` of the mapping holding ``address``.

    Read from ``/proc/self/maps``; ``None`` where that is not available or lists no mapping
    there (the device is returned in ``os.makedev`` form, comparable with ``st_dev``).
    """
    try:
        with open(_MAPS, encoding="ascii", errors="replace") as maps:
            for line in maps:
                fields = line.split(None, 5)
                if len(fields) < 5:
                    continue
                low, _, high = fields[0].partition("-")
                begin, end = int(low, 16), int(high, 16)
                if begin <= address < end:
                    major, _, minor = fields[3].partition(":")
                    device = os.makedev(int(major, 16), int(minor, 16))
                    return begin, end, int(fields[2], 16), device, int(fields[4])
    except (OSError, ValueError):
        return None
    return None


def _open_mapped_file(root: np.memmap, address: int) -> int | None:
    """A read-only descriptor of the file mapped at ``address`` (``root``'s data), or ``None``.

    Tries the mapping's own handle (``/proc/self/map_files/<start>-<end>``, which needs
    privileges on most systems), then ``root.filename``; a descriptor is returned only when its
    ``(st_dev, st_ino)`` equals the mapping's and the mapping's file offset at ``address`` is
    ``root.offset``, so the bytes read are those of the mapped file.
    """
    entry = _mapping_entry(address)
    if entry is None:
        return None
    begin, end, file_offset, device, inode = entry
    if inode == 0 or file_offset + (address - begin) != int(root.offset):
        return None
    candidates = [f"{_MAP_FILES}/{begin:x}-{end:x}"]
    filename = getattr(root, "filename", None)
    if filename is not None:
        candidates.append(os.fspath(filename))
    for path in candidates:
        fd = _open_verified(path, device, inode)
        if fd is not None:
            return fd
    return None


def _open_verified(path: str, device: int, inode: int) -> int | None:
    """``os.open(path)`` read-only if the file there has ``(st_dev, st_ino) = (device, inode)``."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return None
    try:
        info = os.fstat(fd)
    except OSError:  # pragma: no cover - fstat of an open descriptor
        os.close(fd)
        return None
    if (info.st_dev, info.st_ino) != (device, inode):
        os.close(fd)
        return None
    return fd
