"""Random patch sampling: any source -> an ``n × count`` matrix, one patch per column."""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from ._validation import check_float_dtype, check_patch_shape, check_positive_int, check_rng
from .layout import GREY_WEIGHTS
from .sources import ImageCollection, PatchMatrix, load_source

__all__ = ["SHARES", "sample_patches", "split_count", "wide_scale"]

#: Accepted values of ``share``.
SHARES: tuple[str, ...] = ("equal", "area")


def split_count(count: int, sizes: list[int] | tuple[int, ...], share: str) -> np.ndarray:
    """Split ``count`` patches over images, deterministically.

    ``"equal"``: ``count // N`` each, the remainder one each to the first images.
    ``"area"``: proportional to each image's pixel count ``H·W`` (largest-remainder rounding,
    ties to the earlier image). The result always sums to ``count``.
    """
    if share not in SHARES:
        raise ValueError(f"share must be one of {list(SHARES)}, got {share!r}")
    n_images = len(sizes)
    if share == "equal":
        base, rem = divmod(count, n_images)
        return np.array([base + (i < rem) for i in range(n_images)], dtype=np.int64)
    weights = np.asarray(sizes, dtype=np.float64)
    exact = count * weights / weights.sum()
    out = np.floor(exact).astype(np.int64)
    short = count - int(out.sum())
    if short:
        order = np.argsort(-(exact - out), kind="stable")
        out[order[:short]] += 1
    return out


def _is_wide(dtype_in: np.dtype) -> bool:
    """Integers wider than 16 bits: their dtype's maximum says nothing of the pixel range."""
    return dtype_in.kind in "iu" and dtype_in.itemsize > 2


def _scale(dtype_in: np.dtype) -> float | None:
    """The fixed scale of a dtype (None: float, kept; or a wide integer, see :func:`wide_scale`)."""
    if dtype_in.kind in "iu" and not _is_wide(dtype_in):
        return 1.0 / float(np.iinfo(dtype_in).max)
    if dtype_in.kind == "b":
        return 1.0
    return None


def wide_scale(peak: float) -> float:
    """Scale of integers wider than 16 bits whose sampled values reach ``|v| ≤ peak``.

    ``1/255`` when they fit in 8 bits, ``1/65535`` when they fit in 16, else ``1/peak``: pixel
    values stored in ``int64`` (an array built from Python integers) or ``int32`` (16-bit images
    as some readers return them) are scaled as their bit depth implies, never by the dtype's
    maximum (``int64``: 9.2e18, which would leave values near 1e-17).
    """
    for depth in (255.0, 65535.0):
        if peak <= depth:
            return 1.0 / depth
    return 1.0 / float(peak)


def _to_float(block: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """``block`` as ``dtype``, scaled by its dtype's fixed scale (wide integers unscaled)."""
    scale = _scale(block.dtype)
    out = block.astype(dtype)
    if scale is not None and scale != 1.0:
        out *= dtype.type(scale)
    return out


def _channels(img: np.ndarray) -> int:
    return 1 if img.ndim == 2 else img.shape[2]


def _check_channels(images: ImageCollection, colour: bool) -> int:
    counts = [_channels(img) for img in images.images]
    if colour:
        if len(set(counts)) > 1:
            pairs = zip(images.names, counts, strict=True)
            listing = ", ".join(f"{name!r}: {c}" for name, c in pairs)
            raise ValueError(
                f"colour=True needs the same number of channels (3 for RGB) in every image, "
                f"but the images have mixed channel counts ({listing}); use colour=False for "
                f"grey patches"
            )
        if counts[0] == 1:
            raise ValueError(
                f"colour=True needs colour images, but {images.names[0]!r} (and every other "
                f"image) has 1 channel; use colour=False for grey patches"
            )
        return counts[0]
    for name, c in zip(images.names, counts, strict=True):
        if c not in (1, 3):
            raise ValueError(
                f"image {name!r} has {c} channels; grey patches need 1 channel or 3 (RGB, "
                f"converted to grey)"
            )
    return 1


def _from_images(
    images: ImageCollection,
    patch_shape: tuple[int, int],
    count: int,
    rng: np.random.Generator,
    colour: bool,
    share: str,
    dtype: np.dtype,
) -> np.ndarray:
    h, w = patch_shape
    channels = _check_channels(images, colour)
    for name, img in zip(images.names, images.images, strict=True):
        if img.shape[0] < h or img.shape[1] < w:
            raise ValueError(
                f"patch_shape {(h, w)} is larger than image {name!r} of size "
                f"{img.shape[0]}×{img.shape[1]}"
            )
        if img.dtype.kind == "f" and not isinstance(img, np.memmap) and not np.isfinite(img).all():
            raise ValueError(f"image {name!r} contains NaN or infinite pixels")
    n = channels * h * w
    counts = split_count(count, [img.shape[0] * img.shape[1] for img in images.images], share)
    rows = np.empty((count, n), dtype=dtype)
    start = 0
    wide: list[tuple[int, int]] = []  # rows from wide-integer images, scaled at the end
    peak = 0.0
    weights = np.asarray(GREY_WEIGHTS, dtype=dtype)
    for name, img, c in zip(images.names, images.images, counts, strict=True):
        if c == 0:
            continue
        if img.ndim == 3 and img.shape[2] == 1:
            img = img[:, :, 0]
        r = rng.integers(0, img.shape[0] - h + 1, size=c)
        q = rng.integers(0, img.shape[1] - w + 1, size=c)
        windows = sliding_window_view(img, (h, w), axis=(0, 1))  # (H', W', [C,] h, w)
        block = _to_float(windows[r, q], dtype)  # (c, [C,] h, w): channel-major per patch
        if _is_wide(img.dtype):
            wide.append((start, start + c))
            peak = max(peak, float(np.abs(block).max()))
        if block.ndim == 4 and not colour:  # RGB -> grey
            block = np.einsum("kchw,c->khw", block, weights)
        block = block.reshape(c, n)
        if isinstance(img, np.memmap) and not np.isfinite(block).all():
            raise ValueError(f"image {name!r} contains NaN or infinite pixels")
        rows[start : start + c] = block
        start += c
    if wide:  # one scale for all of them, from every sampled value
        scale = dtype.type(wide_scale(peak))
        for first, stop in wide:
            rows[first:stop] *= scale
    rows = rows[rng.permutation(count)]
    return np.ascontiguousarray(rows.T)


def _from_matrix(
    data: PatchMatrix, n: int, count: int, rng: np.random.Generator, dtype: np.dtype
) -> np.ndarray:
    x = data.x
    if x.shape[0] != n:
        raise ValueError(
            f"patches matrix {data.name!r} has {x.shape[0]} rows (patch length), but the request "
            f"needs n = {n} (patch height · width · channels); check patch_shape and colour"
        )
    m = x.shape[1]
    if count > m:
        raise ValueError(f"count {count} is more than the {m} patches in {data.name!r}")
    idx = rng.choice(m, size=count, replace=False)
    order = np.argsort(idx, kind="stable")
    block = _to_float(np.asarray(x[:, idx[order]]), dtype)  # sorted read: memmap-friendly
    if not np.isfinite(block).all():
        raise ValueError(f"patches matrix {data.name!r} contains NaN or infinite values")
    if _is_wide(x.dtype):
        block *= dtype.type(wide_scale(float(np.abs(block).max())))
    out = np.empty((n, count), dtype=dtype)
    out[:, order] = block
    return out


def sample_patches(
    source: object,
    patch_shape: int | tuple[int, int],
    count: int,
    rng: np.random.Generator,
    *,
    colour: bool = False,
    share: str = "equal",
    kind: str = "auto",
    variable: str | None = None,
    dtype: type | np.dtype = np.float64,
) -> np.ndarray:
    """Sample ``count`` random patches from a source; one patch per column.

    Parameters
    ----------
    source : "natural", path, ndarray or sequence of ndarrays
        ``"natural"`` is the embedded set of photographs (:data:`patches.NATURAL_IMAGES`; with
        ``colour=True`` its RGB subset :data:`patches.NATURAL_COLOUR_IMAGES`); otherwise see
        :func:`patches.load_source` (folders of PNG/JPEG/TIFF, ``.mat``, memory-mapped ``.npy``,
        ``.npz``, arrays, lists of arrays).
    patch_shape : int or (int, int)
        Patch ``(height, width)``; an int means square.
    count : int
        Number of patches ``m``.
    rng : numpy.random.Generator
        The only source of randomness: the same seed gives the same array.
    colour : bool
        ``False``: grey patches, ``n = h·w`` (RGB images are converted with BT.709 weights, see
        :mod:`patches.layout`). ``True``: colour patches, ``n = C·h·w``, channel-major (all red
        pixels row-major, then green, then blue); every image must have the same channel count.
    share : {"equal", "area"}
        How many patches each image gives: the same number, or proportional to its area (see
        :func:`split_count`). Patch positions are uniform over each image's valid positions.
    kind : str
        How an array source is read (``"auto"``, ``"patches"``, ``"patches_rows"``, ``"image"``,
        ``"images"``, ``"images_last"``); see :mod:`patches.sources`. For a patches matrix,
        ``count`` distinct columns are drawn at random.
    variable : str, optional
        Variable name in a ``.mat`` / ``.npz`` file.
    dtype : float64 or float32
        Output dtype.

    Returns
    -------
    ndarray, shape (n, count)
        C-contiguous, in the columns' random order. 8- and 16-bit integer pixels are scaled
        by their dtype's maximum (``uint8``: 255, ``uint16``: 65535; into ``[0, 1]``); wider
        integers (``int32``, ``int64``, ``uint32``, ``uint64``, e.g. an array built from Python
        integers) by 255 when every sampled value lies within ±255, by 65535 when within
        ±65535, else by their largest magnitude (:func:`wide_scale`); booleans give 0 and 1;
        float pixels are kept as they are.

    Raises
    ------
    ValueError
        Non-positive ``count``, bad ``patch_shape``, a patch larger than an image, mixed channel
        counts with ``colour=True``, NaN/inf pixels, empty folders, unreadable files, missing
        ``.mat`` variables -- each message names the offending thing.

    Notes
    -----
    Vectorised: per image, positions are drawn at once and cut out with one fancy index into a
    ``sliding_window_view``; only the sampled pixels of a memory-mapped stack are read. Random
    draws happen in a fixed order (per image: rows, then columns; finally a column shuffle), so
    a seed reproduces the same patches on every machine with the same numpy.
    """
    patch_shape = check_patch_shape(patch_shape)
    count = check_positive_int(count, "count")
    rng = check_rng(rng)
    dtype = check_float_dtype(dtype)
    if share not in SHARES:
        raise ValueError(f"share must be one of {list(SHARES)}, got {share!r}")
    h, w = patch_shape
    n = (3 if colour else 1) * h * w
    data = load_source(source, kind=kind, variable=variable, patch_length=n, colour=colour)
    if isinstance(data, PatchMatrix):
        return _from_matrix(data, n, count, rng, dtype)
    return _from_images(data, patch_shape, count, rng, bool(colour), share, dtype)
