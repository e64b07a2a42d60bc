"""Evaluation over column blocks of the data with bounded memory.

Every data-dependent term is a sum over examples (columns of ``x``), so its value and gradient
can be accumulated over column blocks ``x[:, a:b]``: the ``k × m`` work arrays of a direct
evaluation become ``k × b`` arrays whose size does not grow with m. The blocks are views (no
copy); BLAS reads them in either memory order.

When ``x`` lives in a memory map (e.g. the transpose of ``np.load(path, mmap_mode="r")``),
reading a block maps its pages into the process; left alone, the resident set would grow to the
file size. :func:`iter_column_blocks` therefore releases the mapped pages after each block
(:func:`release_pages`, ``madvise(MADV_DONTNEED)``); the page cache keeps the data, so the next
pass is still served from memory.

Only numpy and the standard library are used, so that trainers (and ``trainers.columns``) can
build on the same helpers.
"""

from __future__ import annotations

import math
import mmap
import numbers
from collections.abc import Iterator
from typing import Any

import numpy as np

__all__ = [
    "BLOCK_BYTES",
    "block_columns",
    "check_block",
    "count_non_finite",
    "iter_column_blocks",
    "mapping_of",
    "memmap_root",
    "release_pages",
]

#: Target size of one ``rows × block`` work array: small enough that the element-wise work on
#: a block stays in cache (measured: ``benchmarks/RESULTS.md``, "Design measurements").
BLOCK_BYTES = 2**20

#: Mapped pages are released after at least this many bytes of ``x`` have been read.
RELEASE_BYTES = 16 * 2**20


def check_block(block: Any, owner: str) -> int | None:
    """Validate a block size: a positive integer (an integral float such as ``4096.0`` is
    accepted) or None.

    Parameters
    ----------
    block : object
        The value to check.
    owner : str
        Name of the function or class the value was given to, used in the message.

    Returns
    -------
    int or None
        ``block`` as an ``int``, or None.

    Raises
    ------
    ValueError
        ``"<owner>: block must be a positive integer or None; got <repr>"`` for anything else
        (zero, negatives, fractions, infinities, NaN, booleans, strings ...).
    """
    if block is None:
        return None
    ok = False
    if isinstance(block, numbers.Integral) and not isinstance(block, (bool, np.bool_)):
        ok = block >= 1
    elif isinstance(block, numbers.Real) and not isinstance(block, (bool, np.bool_)):
        value = float(block)
        ok = math.isfinite(value) and value.is_integer() and value >= 1
    if not ok:
        raise ValueError(f"{owner}: block must be a positive integer or None; got {block!r}")
    return int(block)


def block_columns(
    rows: int, itemsize: int = 8, block: int | None = None, owner: str = "block_columns"
) -> int:
    """Columns per block: ``block`` if given, else about :data:`BLOCK_BYTES` per work array.

    Parameters
    ----------
    rows : int
        Rows of the largest work array of one block (e.g. ``max(k, n)``).
    itemsize : int
        Bytes per entry.
    block : int, optional
        An explicit block size; must be a positive integer (see :func:`check_block`).
    owner : str, default "block_columns"
        Name used in the error message for an invalid ``block``.

    Returns
    -------
    int
        The number of columns per block (at least 1).

    Raises
    ------
    ValueError
        When ``block`` is neither None nor a positive integer.
    """
    checked = check_block(block, owner)
    if checked is not None:
        return checked
    return max(1, BLOCK_BYTES // (max(int(itemsize), 1) * max(int(rows), 1)))


def mapping_of(x: Any) -> tuple[mmap.mmap, str | None] | None:
    """The ``mmap`` behind ``x`` (or one of its bases) and the memmap's mode; else ``None``.

    Parameters
    ----------
    x : object
        Usually an ndarray, possibly a view of a ``np.memmap`` or an array made on an ``mmap``.

    Returns
    -------
    (mmap.mmap, str or None) or None
        The mapping and the memmap's ``mode`` (None when ``x`` was made directly on an
        ``mmap`` buffer), or None when no mapping lies behind ``x``.
    """
    arr = x
    while isinstance(arr, np.ndarray):
        mm = getattr(arr, "_mmap", None)
        if mm is not None:
            return mm, getattr(arr, "mode", None)
        arr = arr.base
    if isinstance(arr, mmap.mmap):  # an ndarray made directly on an mmap buffer
        return arr, None
    return None


def memmap_root(x: Any) -> np.memmap | None:
    """The ``np.memmap`` whose buffer is the ``mmap`` itself (its data start is at ``offset``).

    Slices of a memmap are memmaps too and inherit ``offset`` from their parent, so only the
    root, whose ``base`` is the ``mmap`` object, ties an address to a file position.

    Parameters
    ----------
    x : object
        Usually an ndarray, possibly a view of a ``np.memmap``.

    Returns
    -------
    np.memmap or None
        The root memmap among ``x`` and its bases, or None.
    """
    arr = x
    while isinstance(arr, np.ndarray):
        if isinstance(arr, np.memmap) and isinstance(arr.base, mmap.mmap):
            return arr
        arr = arr.base
    return None


def release_pages(x: Any) -> None:
    """Drop the pages of a memory-mapped ``x`` from this process; a no-op for other arrays.

    Only read-only (``'r'``) and shared writable (``'r+'``, ``'w+'``, flushed first) mappings
    are released; copy-on-write (``'c'``) mappings, and mappings of unknown mode, are left
    alone, since releasing them would discard changes.

    Parameters
    ----------
    x : object
        An array, possibly (a view of) a memory map.

    Returns
    -------
    None
    """
    found = mapping_of(x)
    if found is None or not hasattr(mmap, "MADV_DONTNEED"):
        return
    mm, mode = found
    if mode not in ("r", "r+", "w+"):
        return
    try:
        if mode != "r":
            mm.flush()
        mm.madvise(mmap.MADV_DONTNEED)
    except (AttributeError, OSError, ValueError):  # pragma: no cover - platform dependent
        pass


def iter_column_blocks(
    x: np.ndarray,
    block: int | None = None,
    rows: int | None = None,
    owner: str = "iter_column_blocks",
) -> Iterator[tuple[int, int, np.ndarray]]:
    """Yield ``(start, stop, x[:, start:stop])`` (views), releasing mapped pages as it goes.

    For a memory-mapped ``x`` the pages are released after every :data:`RELEASE_BYTES` of
    data, after the last block, and when the loop is left early; so at most about that much
    of the file is resident on account of the iteration.

    Parameters
    ----------
    x : ndarray (n, m)
        Data, one example per column; may be (a view of) a memory map.
    block : int, optional
        Columns per block; default from :func:`block_columns` with ``rows`` (default ``n``).
    rows : int, optional
        Rows of the largest work array the caller forms per block.
    owner : str, default "iter_column_blocks"
        Name used in the error message for an invalid ``block``.

    Yields
    ------
    start : int
        First column of the block.
    stop : int
        One past its last column.
    part : ndarray (n, stop - start)
        The view ``x[:, start:stop]``.

    Raises
    ------
    ValueError
        When ``block`` is neither None nor a positive integer (raised on the first ``next``).
    """
    n, m = x.shape
    step = block_columns(n if rows is None else rows, x.dtype.itemsize, block, owner)
    if mapping_of(x) is None:
        for start in range(0, m, step):
            stop = min(start + step, m)
            yield start, stop, x[:, start:stop]
        return
    pending = 0
    try:
        for start in range(0, m, step):
            stop = min(start + step, m)
            pending += (stop - start) * n * x.dtype.itemsize  # counted before use
            yield start, stop, x[:, start:stop]
            if pending >= RELEASE_BYTES:
                release_pages(x)
                pending = 0
    finally:
        if pending:
            release_pages(x)


def count_non_finite(x: np.ndarray, block: int | None = None) -> int:
    """Number of NaN or infinite entries of ``x``, counted block by block (bounded memory).

    Parameters
    ----------
    x : ndarray
        A 2-D array (n, m) is counted in column blocks (pages of a memory map released as
        they are read); any other shape in one pass.
    block : int, optional
        Columns per block; default from :func:`block_columns`.

    Returns
    -------
    int
        The count of NaN and infinite entries.
    """
    if x.ndim != 2:
        return int(np.size(x) - np.count_nonzero(np.isfinite(x)))
    bad = 0
    for _, _, part in iter_column_blocks(x, block):
        finite = np.isfinite(part)
        bad += int(finite.size - np.count_nonzero(finite))
    return bad
