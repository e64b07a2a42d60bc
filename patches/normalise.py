"""Normalisation of patch matrices (``n × m``, one patch per column); every function keeps dtype."""

from __future__ import annotations

import numpy as np

from ._validation import as_float_matrix, check_positive_int

__all__ = ["NORMALISATIONS", "normalise", "remove_patch_mean", "remove_pixel_mean", "squash"]

#: Names accepted by :func:`normalise`.
NORMALISATIONS: tuple[str, ...] = ("none", "patch_mean", "pixel_mean", "squash")


def remove_patch_mean(x: np.ndarray, channels: int = 1) -> np.ndarray:
    """Subtract each patch's own mean (its DC component): ``x - mean(x, axis=0)``.

    Parameters
    ----------
    x : ndarray, shape (n, m)
        One patch per column.
    channels : int
        With ``channels > 1`` (colour, channel-major layout) the mean of each channel of each
        patch is removed separately; with 1, the mean over the whole vector.

    Returns
    -------
    ndarray, shape (n, m)
        A new array of the same float dtype.
    """
    x = as_float_matrix(x, "x")
    channels = check_positive_int(channels, "channels")
    n, m = x.shape
    if n % channels:
        raise ValueError(f"x has {n} rows, which is not a multiple of channels={channels}")
    xc = np.asarray(x).reshape(channels, n // channels, m)
    return (xc - xc.mean(axis=1, keepdims=True)).reshape(n, m)


def remove_pixel_mean(
    x: np.ndarray, return_mean: bool = False
) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
    """Subtract each pixel's mean over the patches: ``x - mean(x, axis=1)``.

    Parameters
    ----------
    x : ndarray, shape (n, m)
    return_mean : bool
        Also return the removed mean, shape ``(n,)``.

    Returns
    -------
    ndarray, shape (n, m) (and the mean when ``return_mean``)
    """
    x = as_float_matrix(x, "x")
    mean = np.asarray(x).mean(axis=1)
    out = x - mean[:, None]
    return (out, mean) if return_mean else out


def squash(
    x: np.ndarray,
    n_std: float = 3.0,
    low: float = 0.1,
    high: float = 0.9,
    remove_mean: bool = True,
) -> np.ndarray:
    """UFLDL's sparse-autoencoder normalisation (``normalizeData`` in ``sampleIMAGES.m``).

    ``x ← x − mean(patch)`` (if ``remove_mean``); ``s = n_std · std(x)`` over all entries
    (sample standard deviation, ddof = 1, as MATLAB's ``std``); ``x ← clip(x, −s, s) / s`` and
    finally ``x ← low + (x + 1)(high − low)/2``, so values lie in ``[low, high]`` (UFLDL:
    ``[0.1, 0.9]``, matching a sigmoid output unit).

    Parameters
    ----------
    x : ndarray, shape (n, m)
    n_std : float
        Truncation at ``± n_std`` standard deviations.
    low, high : float
        Output range.
    remove_mean : bool
        Remove each patch's mean first (UFLDL does).

    Returns
    -------
    ndarray, shape (n, m), same float dtype
    """
    x = as_float_matrix(x, "x")
    if not n_std > 0:
        raise ValueError(f"n_std must be positive, got {n_std!r}")
    if not low < high:
        raise ValueError(f"low must be less than high, got low={low!r}, high={high!r}")
    y = remove_patch_mean(x) if remove_mean else np.array(x, copy=True)
    scale = n_std * y.std(ddof=1) if y.size > 1 else 0.0
    if scale > 0:
        np.clip(y, -scale, scale, out=y)
        y /= y.dtype.type(scale)
    else:
        y[...] = 0
    return (y + 1) * y.dtype.type((high - low) / 2) + y.dtype.type(low)


def normalise(x: np.ndarray, method: str = "none", **options: object) -> np.ndarray:
    """Apply one normalisation by name (for configs).

    ``"none"`` returns ``x`` unchanged, ``"patch_mean"`` -> :func:`remove_patch_mean`,
    ``"pixel_mean"`` -> :func:`remove_pixel_mean`, ``"squash"`` -> :func:`squash`; ``options``
    go to that function.
    """
    if method == "none":
        if options:
            raise ValueError(f"method 'none' takes no options, got {sorted(options)}")
        return x
    funcs = {"patch_mean": remove_patch_mean, "pixel_mean": remove_pixel_mean, "squash": squash}
    if method not in funcs:
        raise ValueError(f"method must be one of {list(NORMALISATIONS)}, got {method!r}")
    return funcs[method](x, **options)
