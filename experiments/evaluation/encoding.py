"""Dense encoding of whole images: every patch at a stride, one GEMM per block of images.

The pipeline of Coates, Lee & Ng (2011), "An analysis of single-layer networks in unsupervised
feature learning": extract all patches of the filters' size at a stride, normalise them as at
training time, apply linear filters (whitening folded in), an encoder (soft threshold
``max(0, wᵀx − α)`` and ``max(0, −wᵀx − α)`` stacked, or a model's own ``transform``) and
sum-pool the feature maps over four quadrants.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["FilterBank", "block_images", "encode_images", "extract_patches", "feature_map_shape",
           "measure_alpha", "normalise_rows", "pool_quadrants", "pooling_name",
           "pool_sizes", "sample_patch_rows", "SoftCodes", "soft_codes", "soft_threshold",
           "split_grid", "split_sign", "Workspace"]

#: Work-array size (entries) one block of images may take: about 32 MiB of float64.
BLOCK_ENTRIES = 1 << 22


@dataclass
class FilterBank:
    """Linear filters on normalised pixel patches: responses ``X @ weights.T + bias``.

    Attributes
    ----------
    name : str
    weights : ndarray, shape (k, n)
        One filter per row, acting on a normalised (not whitened) patch of n pixels.
    bias : ndarray, shape (k,)
        ``−weights @ mean`` where the whitening subtracts a mean first, else zeros.
    """

    name: str
    weights: np.ndarray
    bias: np.ndarray

    @classmethod
    def from_whitened(cls, name: str, filters: np.ndarray, whitener: Any = None) -> FilterBank:
        """Filters acting on whitened data (rows), folded with the whitener into pixel space."""
        filters = np.asarray(filters, dtype=np.float64)
        if whitener is None:
            return cls(name, filters, np.zeros(len(filters)))
        weights = np.asarray(whitener.filters_to_pixels(filters), dtype=np.float64)
        return cls(name, weights, -weights @ np.asarray(whitener.mean_, dtype=np.float64))

    def responses(self, X: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        """``X @ weights.T + bias`` for patches ``X`` of shape (m, n): one GEMM (into
        ``out``, shape (m, k) of X's dtype, when given)."""
        z = np.matmul(X, self.weights.T.astype(X.dtype, copy=False), out=out)
        z += self.bias.astype(X.dtype, copy=False)
        return z


def feature_map_shape(image_shape: tuple[int, int], patch_shape: tuple[int, int],
                      stride: int) -> tuple[int, int]:
    """Rows and columns of patch positions: ``(H − h) // stride + 1`` and the same for W."""
    (H, W), (h, w) = image_shape, patch_shape
    if h > H or w > W:
        raise ValueError(f"patches of {h}×{w} do not fit images of {H}×{W}")
    return (H - h) // stride + 1, (W - w) // stride + 1


def extract_patches(images: np.ndarray, patch_shape: tuple[int, int],
                    stride: int = 1) -> np.ndarray:
    """Every patch of every image at a stride, as rows (row-major pixels, as the trainers').

    Parameters
    ----------
    images : ndarray, shape (N, H, W)
    patch_shape : (int, int)
    stride : int

    Returns
    -------
    ndarray, shape (N * rows * cols, h * w)
        Patches of image 0 first, positions in row-major order (a copy; the window view
        itself is built by :func:`numpy.lib.stride_tricks.sliding_window_view`, no loop).
    """
    h, w = patch_shape
    view = np.lib.stride_tricks.sliding_window_view(images, (h, w), axis=(1, 2))
    view = view[:, ::stride, ::stride]
    return view.reshape(-1, h * w)


def normalise_rows(X: np.ndarray, method: str, channels: int = 1) -> np.ndarray:
    """The run's ``data.normalisation`` applied to patches as rows (see ``experiments.data``).

    ``patch_mean`` and ``none`` act on each patch alone and match training exactly;
    ``pixel_mean`` and ``squash`` use statistics of the rows given (one block of images).
    """
    from sparselearn import patches

    if method == "none":
        return X
    options = {"channels": channels} if method == "patch_mean" else {}
    return np.ascontiguousarray(patches.normalise(X.T, method, **options).T)


def soft_threshold(z: np.ndarray, alpha: np.ndarray | float,
                   out: np.ndarray | None = None) -> np.ndarray:
    """Coates' soft threshold: ``[max(0, z − α), max(0, −z − α)]`` along the last axis.

    Computed in ``z``'s dtype into one array (``out`` when given, shape ``(..., 2k)``;
    reusing it across blocks saves the page faults of fresh memory); ``α`` scalar or per
    filter.
    """
    z = np.asarray(z)
    dtype = z.dtype if np.issubdtype(z.dtype, np.floating) else np.float64
    a = np.asarray(alpha, dtype=dtype)
    k = z.shape[-1]
    if out is None:
        out = np.empty((*z.shape[:-1], 2 * k), dtype=dtype)
    pos, neg = out[..., :k], out[..., k:]
    np.subtract(z, a, out=pos)
    np.maximum(pos, 0, out=pos)
    np.negative(z, out=neg)
    np.subtract(neg, a, out=neg)
    np.maximum(neg, 0, out=neg)
    return out


def split_sign(s: np.ndarray) -> np.ndarray:
    """``[max(0, s), max(0, −s)]``: signed codes split so sum-pooling cannot cancel them."""
    return soft_threshold(s, 0.0)


def pooling_name(map_shape: tuple[int, int]) -> str:
    """``"quadrants"``, or ``"whole"`` when the map is one row or column (no quadrants)."""
    return "quadrants" if min(map_shape) >= 2 else "whole"


def pool_quadrants(maps: np.ndarray, dtype: Any = None) -> np.ndarray:
    """Sum-pool feature maps over four quadrants (top-left, top-right, bottom-left, -right).

    Parameters
    ----------
    maps : ndarray, shape (B, rows, cols, f)
    dtype : dtype, optional
        Of the sums (default: ``maps``' dtype); float64 sums float32 maps exactly enough
        for :class:`SoftCodes`' offsets to cancel.

    Returns
    -------
    ndarray, shape (B, 4 f), or (B, f) summed over the whole map when ``rows`` or ``cols``
    is 1 (a 1×1 map, e.g. 8×8 filters on 8×8 digits, has no quadrants). An odd size puts the
    middle row (column) in the top (left) half.
    """
    B, rows, cols, f = maps.shape
    if pooling_name((rows, cols)) == "whole":
        return maps.sum(axis=(1, 2), dtype=dtype)
    r, c = (rows + 1) // 2, (cols + 1) // 2
    parts = [maps[:, a, b].sum(axis=(1, 2), dtype=dtype) for a in (slice(0, r), slice(r, None))
             for b in (slice(0, c), slice(c, None))]
    return np.concatenate(parts, axis=1)


def pool_sizes(map_shape: tuple[int, int]) -> np.ndarray:
    """Positions summed by each pool of :func:`pool_quadrants`, in its order."""
    rows, cols = map_shape
    if pooling_name((rows, cols)) == "whole":
        return np.array([rows * cols])
    r, c = (rows + 1) // 2, (cols + 1) // 2
    return np.array([a * b for a in (r, rows - r) for b in (c, cols - c)])


def block_images(n_positions: int, width: int) -> int:
    """Images per block so that a block's work arrays stay near :data:`BLOCK_ENTRIES`."""
    return max(1, BLOCK_ENTRIES // max(1, n_positions * width))


def encode_images(images: np.ndarray, patch_shape: tuple[int, int], stride: int,
                  normalisation: str, codes: Callable[[np.ndarray], np.ndarray], *,
                  channels: int = 1, width: int | None = None, progress: bool = False,
                  desc: str = "encoding", dtype: Any = np.float32,
                  threads: int = 1) -> np.ndarray:
    """Pooled features of every image: patches → normalise → ``codes`` → quadrant sum-pool.

    Parameters
    ----------
    images : ndarray, shape (N, H, W)
    patch_shape : (int, int)
    stride : int
    normalisation : str
        The run's ``data.normalisation``.
    codes : callable
        ``(m, n)`` normalised patches → ``(m, f)`` features (one block of images at once).
        If it has an ``affine`` attribute ``(scale, shift)`` (each of shape ``(f,)``, as
        :class:`SoftCodes`), each pool's sums become ``scale · sums + positions · shift``.
    width : int, optional
        ``f``, to size the blocks (default: the patch size).
    dtype : dtype
        Of the patches and the work arrays (float32 by default: half the memory traffic;
        the pooled sums are float64).
    progress : bool
        A tqdm bar over the images.
    threads : int
        Blocks encoded at once on this many threads (joblib's threading backend, so
        ``joblib.parallel_config(backend="sequential")`` makes it one), each with one BLAS
        thread (numpy releases the GIL in the products and ufuncs); ``codes`` must then be
        thread-safe (:func:`soft_codes` is).

    Returns
    -------
    ndarray, shape (N, 4 f) (or (N, f), see :func:`pool_quadrants`)
    """
    from contextlib import nullcontext

    from joblib import Parallel, delayed
    from threadpoolctl import threadpool_limits
    from tqdm.auto import tqdm

    rows, cols = feature_map_shape(images.shape[1:], patch_shape, stride)
    n_img = len(images)
    block = block_images(rows * cols, width or patch_shape[0] * patch_shape[1])
    affine = getattr(codes, "affine", None)
    sizes = pool_sizes((rows, cols)).astype(np.float64)

    def encode_block(start: int) -> np.ndarray:
        chunk = np.asarray(images[start:start + block], dtype=dtype)
        X = normalise_rows(extract_patches(chunk, patch_shape, stride), normalisation,
                           channels)
        maps = np.asarray(codes(X)).reshape(len(chunk), rows, cols, -1)
        pooled = pool_quadrants(maps, np.float64)
        if affine is not None:  # SoftCodes: sums of max(±z, α) → sums of max(±z − α, 0)
            scale, shift = affine
            f = maps.shape[-1]
            pooled = pooled.reshape(len(chunk), -1, f)
            pooled *= scale
            pooled += np.multiply.outer(sizes, shift)
            pooled = pooled.reshape(len(chunk), -1)
        return pooled

    starts = range(0, n_img, block)
    pooled: list[np.ndarray] = []
    threads = max(1, min(int(threads), len(starts)))
    with tqdm(total=n_img, desc=desc, unit="img", disable=not progress, leave=False) as bar, \
            (threadpool_limits(1) if threads > 1 else nullcontext()):
        blocks = (Parallel(n_jobs=threads, prefer="threads", return_as="generator")(
            delayed(encode_block)(start) for start in starts) if threads > 1
            else map(encode_block, starts))
        for features in blocks:
            pooled.append(features)
            bar.update(len(features))
    return np.concatenate(pooled, axis=0)


def sample_patch_rows(images: np.ndarray, patch_shape: tuple[int, int], stride: int,
                      count: int, seed: int, normalisation: str,
                      channels: int = 1) -> np.ndarray:
    """Up to ``count`` normalised patches drawn at random (fixed seed) from all positions."""
    rows, cols = feature_map_shape(images.shape[1:], patch_shape, stride)
    total = len(images) * rows * cols
    rng = np.random.default_rng(seed)
    pick = np.sort(rng.choice(total, size=min(count, total), replace=False))
    image, position = np.divmod(pick, rows * cols)
    r, c = np.divmod(position, cols)
    h, w = patch_shape
    view = np.lib.stride_tricks.sliding_window_view(images, (h, w), axis=(1, 2))
    X = view[image, r * stride, c * stride].reshape(len(pick), h * w)
    return normalise_rows(X, normalisation, channels)


class Workspace:
    """Arrays reused from block to block (same shape and dtype: the same memory), one set per
    thread."""

    def __init__(self) -> None:
        self._local = threading.local()

    def get(self, name: str, shape: tuple[int, ...], dtype: Any) -> np.ndarray:
        """An uninitialised array of ``shape`` and ``dtype``, kept for this thread's next
        call."""
        arrays = self._local.__dict__.setdefault("arrays", {})
        array = arrays.get(name)
        if array is None or array.shape != shape or array.dtype != np.dtype(dtype):
            array = arrays[name] = np.empty(shape, dtype=dtype)
        return array


class SoftCodes:
    """The soft-threshold encoder of a :class:`FilterBank` as a ``codes`` callable of
    :func:`encode_images`, reusing its work arrays across blocks (thread-safe).

    ``alpha`` is a scalar, one threshold per filter (shape ``(k,)``), or a grid of ``g``
    threshold sets (shape ``(g, k)``): the responses (one GEMM) are then shared and the codes
    of every set come side by side, ``g · 2k`` columns, set-major (split the pooled features
    with :func:`split_grid`).

    Two passes over the responses per set instead of five: the codes written are
    ``max(z, α)`` and ``min(z, −α)``, and ``affine`` (scale ±1, shift ``−α``) turns their
    pooled sums into those of ``max(z − α, 0)`` and ``max(−z − α, 0)`` in
    :func:`encode_images` (float64 sums: the same features to ~1e-12). Called directly, it
    returns those raw codes; :func:`soft_threshold` gives the codes themselves.
    """

    def __init__(self, bank: FilterBank, alpha: np.ndarray | float) -> None:
        self.bank = bank
        k = len(bank.weights)
        a = np.asarray(alpha, dtype=np.float64)
        grid = a if a.ndim == 2 else np.broadcast_to(a, (1, k))
        self.grid = grid
        self.width = 2 * k * len(grid)
        # per column: +1 / −1 (pos / neg half of each set) and −α
        self.affine = (np.tile(np.r_[np.ones(k), -np.ones(k)], len(grid)),
                       -np.concatenate([np.r_[g, g] for g in grid]))
        self._space = Workspace()

    def __call__(self, X: np.ndarray) -> np.ndarray:
        """Raw codes ``[max(z, α), min(z, −α)]`` per threshold set, of ``X``'s dtype."""
        k = len(self.bank.weights)
        z = self.bank.responses(X, out=self._space.get("z", (len(X), k), X.dtype))
        out = self._space.get("f", (len(X), self.width), X.dtype)
        for i, a in enumerate(self.grid.astype(X.dtype)):
            np.maximum(z, a, out=out[:, 2 * k * i:2 * k * i + k])
            np.minimum(z, -a, out=out[:, 2 * k * i + k:2 * k * (i + 1)])
        return out


def soft_codes(bank: FilterBank, alpha: np.ndarray | float) -> SoftCodes:
    """:class:`SoftCodes` of ``bank`` at ``alpha`` (scalar, per filter or a ``(g, k)`` grid)."""
    return SoftCodes(bank, alpha)


def split_grid(pooled: np.ndarray, g: int, width: int) -> list[np.ndarray]:
    """The pooled features of each of ``g`` threshold sets of :func:`soft_codes`.

    Pooling keeps the code columns together per pool (quadrant): ``pooled`` is
    ``(N, pools · g · width)`` with ``width = 2k`` codes per set; set ``i`` gets its
    ``(N, pools · width)`` columns, pool-major like the features of a single set.
    """
    n, total = pooled.shape
    if total % (g * width):
        raise ValueError(f"{total} pooled features do not split into {g} sets of {width}")
    per_pool = pooled.reshape(n, total // (g * width), g, width)
    return [np.ascontiguousarray(per_pool[:, :, i].reshape(n, -1)) for i in range(g)]


def measure_alpha(bank: FilterBank, X: np.ndarray,
                  scale: float | Sequence[float]) -> np.ndarray:
    """Per-filter thresholds ``α_j = scale · std_j`` of the responses to sample patches ``X``.

    Measuring the spread of each filter's responses makes one ``scale`` mean the same for
    filter sets of different norms (learned, random, k-means centroids). A scalar ``scale``
    gives shape ``(k,)``; a sequence of ``g`` scales gives the grid ``(g, k)`` of
    :func:`soft_codes`.
    """
    spread = bank.responses(X).std(axis=0)
    spread = np.where(spread > 0, spread, 1.0)
    if np.ndim(scale) == 0:
        return float(scale) * spread
    return np.multiply.outer(np.asarray(scale, dtype=np.float64), spread)
