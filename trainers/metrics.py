r"""Quantitative measures of a learned basis: localisation, orientation, topographic order.

All functions take filters or atoms **as rows** (``components_`` of a trainer), each a flattened
grey patch of ``patch_shape`` (row-major), in the space the model was trained in (ZCA-whitened
patches keep the pixel layout).

Localisation
    share of a filter's energy :math:`\sum w^2` inside the best ``window × window`` square of
    the patch (periodic boundaries are not used). Random filters spread their energy evenly:
    on 8 × 8 with a 4 × 4 window they score about 0.25 plus the max-over-positions bias.
Orientation
    concentration of the filter's 2-D power spectrum :math:`P(f)` (zero-padded FFT, DC
    removed) along one orientation: the resultant length of the doubled frequency angles,

    .. math:: R = \frac{\lvert \sum_f P(f)\, e^{2 i \theta_f} \rvert}{\sum_f P(f)} \in [0, 1],

    1 for a pure grating or edge, near 0 for white noise.
Topographic similarity
    mean similarity of torus neighbours (4-neighbourhood) against the mean over all pairs, with
    similarity the correlation of the two filters' power spectra (invariant to position and
    phase, sensitive to orientation and frequency) or their absolute cosine.
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "localisation_orientation",
    "oriented_localised_share",
    "random_filters",
    "topographic_similarity",
]


def _as_patches(filters: np.ndarray, patch_shape: tuple[int, int]) -> np.ndarray:
    F = np.asarray(filters, dtype=np.float64)
    h, w = patch_shape
    if F.ndim != 2 or F.shape[1] != h * w:
        raise ValueError(
            f"filters must have shape (k, {h * w}) for patch_shape {patch_shape}; got {F.shape}"
        )
    return F.reshape(-1, h, w)


def _power_spectra(patches: np.ndarray, pad: int) -> np.ndarray:
    centred = patches - patches.mean(axis=(1, 2), keepdims=True)
    P = np.abs(np.fft.fft2(centred, s=(pad, pad))) ** 2
    P[:, 0, 0] = 0.0
    return P


def localisation_orientation(
    filters: np.ndarray, patch_shape: tuple[int, int], window: int | None = None, pad: int = 32
) -> tuple[np.ndarray, np.ndarray]:
    """Per-filter localisation (energy share in the best window) and orientation concentration.

    Parameters
    ----------
    filters : ndarray (k, h·w)
        Filters or atoms as rows.
    patch_shape : (int, int)
    window : int, optional
        Side of the window (default ``max(h, w) // 2``).
    pad : int
        FFT size for the power spectrum.

    Returns
    -------
    localisation, orientation : ndarray (k,), values in [0, 1]
    """
    patches = _as_patches(filters, patch_shape)
    h, w = patch_shape
    window = max(h, w) // 2 if window is None else int(window)
    energy = patches**2
    total = energy.sum(axis=(1, 2))
    total[total == 0] = 1.0
    csum = np.zeros((patches.shape[0], h + 1, w + 1))
    csum[:, 1:, 1:] = energy.cumsum(axis=1).cumsum(axis=2)
    wh, ww = min(window, h), min(window, w)
    boxes = (csum[:, wh:, ww:] - csum[:, :-wh, ww:] - csum[:, wh:, :-ww] + csum[:, :-wh, :-ww])
    localisation = boxes.reshape(patches.shape[0], -1).max(axis=1) / total

    P = _power_spectra(patches, pad)
    f = np.fft.fftfreq(pad)
    fy, fx = np.meshgrid(f, f, indexing="ij")
    phase = np.exp(2j * np.arctan2(fy, fx))
    norm = P.sum(axis=(1, 2))
    norm[norm == 0] = 1.0
    orientation = np.abs((P * phase).sum(axis=(1, 2))) / norm
    return localisation, orientation


def oriented_localised_share(
    filters: np.ndarray,
    patch_shape: tuple[int, int],
    localisation_min: float = 0.5,
    orientation_min: float = 0.4,
    window: int | None = None,
) -> float:
    """Share of filters that are both localised and oriented (thresholds on the two measures)."""
    loc, ori = localisation_orientation(filters, patch_shape, window)
    return float(np.mean((loc >= localisation_min) & (ori >= orientation_min)))


def random_filters(k: int, n: int, rng: np.random.Generator) -> np.ndarray:
    """``k`` Gaussian random filters of length ``n`` (rows): the baseline for the measures."""
    return rng.standard_normal((k, n))


def topographic_similarity(
    filters: np.ndarray,
    grid: tuple[int, int],
    patch_shape: tuple[int, int],
    measure: str = "spectrum",
    wrap: bool = True,
) -> tuple[float, float]:
    """Mean similarity of torus neighbours and mean similarity of all distinct pairs.

    Parameters
    ----------
    filters : ndarray (rows·cols, h·w)
        Filters in grid order (row-major over the torus).
    grid : (rows, cols)
    patch_shape : (h, w)
    measure : {"spectrum", "cosine"}
        Correlation of power spectra, or absolute cosine of the filters.
    wrap : bool
        Whether the grid is a torus.

    Returns
    -------
    neighbours, all_pairs : float
    """
    rows, cols = grid
    patches = _as_patches(filters, patch_shape)
    if patches.shape[0] != rows * cols:
        raise ValueError(
            f"filters must have rows*cols = {rows * cols} rows; got {patches.shape[0]}"
        )
    if measure == "spectrum":
        feats = _power_spectra(patches, 16).reshape(rows * cols, -1)
        feats = feats - feats.mean(axis=1, keepdims=True)
    elif measure == "cosine":
        feats = patches.reshape(rows * cols, -1)
    else:
        raise ValueError(f"measure must be 'spectrum' or 'cosine'; got {measure!r}")
    feats = feats / np.maximum(np.linalg.norm(feats, axis=1, keepdims=True), 1e-300)
    S = feats @ feats.T
    if measure == "cosine":
        S = np.abs(S)
    index = np.arange(rows * cols).reshape(rows, cols)
    pairs = []
    for di, dj in ((0, 1), (1, 0)):
        if wrap:
            other = np.roll(np.roll(index, -di, axis=0), -dj, axis=1)
            pairs.append(np.stack([index.ravel(), other.ravel()]))
        else:
            a = index[: rows - di, : cols - dj]
            b = index[di:, dj:]
            pairs.append(np.stack([a.ravel(), b.ravel()]))
    i, j = np.concatenate(pairs, axis=1)
    neighbours = float(S[i, j].mean())
    upper = np.triu_indices(rows * cols, 1)
    return neighbours, float(S[upper].mean())
