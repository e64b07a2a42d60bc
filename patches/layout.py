"""Layout of a patch vector, grey conversion, and the way back from vectors to pictures.

Patch vector layout
-------------------
A grey ``h × w`` patch is the row-major (C-order) flattening of the patch: entry ``r·w + c`` is
pixel ``(r, c)``; ``n = h·w``.

A colour patch is **channel-major**: all ``h·w`` pixels of channel 0 (red) in row-major order,
then all of channel 1 (green), then channel 2 (blue); entry ``ch·h·w + r·w + c`` is pixel
``(r, c)`` of channel ``ch``; ``n = 3·h·w``. MATLAB data such as UFLDL's
``stlSampledPatches.mat`` (``patch(:)`` of an ``8 × 8 × 3`` array) is channel-major too, but
column-major inside a channel; pass ``order="F"`` to :func:`patch_vector_to_image` to display it.

Pixel values
------------
Integer images are scaled to ``[0, 1]`` by the maximum of their dtype (uint8: 255, uint16:
65535); float images are taken as they are. Grey conversion of RGB uses the ITU-R BT.709 luma
weights of ``skimage.color.rgb2gray``: ``Y = 0.2125 R + 0.7154 G + 0.0721 B``.
"""

from __future__ import annotations

import numpy as np

from ._validation import check_patch_shape, check_positive_int

__all__ = ["GREY_WEIGHTS", "image_to_patch_vector", "patch_vector_to_image", "rgb_to_grey"]

#: RGB -> grey weights (ITU-R BT.709 luma, as ``skimage.color.rgb2gray``).
GREY_WEIGHTS: tuple[float, float, float] = (0.2125, 0.7154, 0.0721)


def rgb_to_grey(rgb: np.ndarray, axis: int = -1) -> np.ndarray:
    """Convert RGB values to grey with :data:`GREY_WEIGHTS` along ``axis`` (dtype kept if float)."""
    rgb = np.asarray(rgb)
    if rgb.shape[axis] != 3:
        raise ValueError(f"rgb_to_grey needs 3 channels along axis {axis}, got shape {rgb.shape}")
    dtype = rgb.dtype if rgb.dtype.kind == "f" else np.float64
    weights = np.asarray(GREY_WEIGHTS, dtype=dtype)
    return np.tensordot(np.moveaxis(rgb, axis, -1).astype(dtype, copy=False), weights, axes=1)


def patch_vector_to_image(
    x: np.ndarray, patch_shape: int | tuple[int, int], channels: int = 1, order: str = "C"
) -> np.ndarray:
    """Turn patch vector(s) back into picture(s).

    Parameters
    ----------
    x : ndarray
        One patch vector of length ``n = channels·h·w``, or an ``n × m`` matrix (one patch per
        column), in the layout described in this module's docstring.
    patch_shape : int or (int, int)
        ``(h, w)``; an int means square.
    channels : int
        Number of channels (1 grey, 3 RGB).
    order : {"C", "F"}
        Pixel order inside a channel: ``"C"`` row-major (this package), ``"F"`` column-major
        (MATLAB data such as UFLDL's ``stlSampledPatches.mat``).

    Returns
    -------
    ndarray
        ``(h, w)`` or ``(h, w, channels)`` for a vector; ``(m, h, w)`` or ``(m, h, w, channels)``
        for a matrix (channels last, ready for ``matplotlib.pyplot.imshow``).
    """
    h, w = check_patch_shape(patch_shape)
    channels = check_positive_int(channels, "channels")
    if order not in ("C", "F"):
        raise ValueError(f"order must be 'C' or 'F', got {order!r}")
    x = np.asarray(x)
    n = channels * h * w
    if x.ndim not in (1, 2) or x.shape[0] != n:
        raise ValueError(
            f"x must have length/rows n = channels·h·w = {n} for patch_shape {(h, w)} and "
            f"{channels} channel(s), got shape {x.shape}"
        )
    single = x.ndim == 1
    cols = x.reshape(n, 1) if single else x
    m = cols.shape[1]
    if order == "C":
        img = cols.T.reshape(m, channels, h, w)
    else:
        img = cols.T.reshape(m, channels, w, h).transpose(0, 1, 3, 2)
    img = np.moveaxis(img, 1, -1)  # (m, h, w, channels)
    if channels == 1:
        img = img[..., 0]
    return img[0] if single else img


def image_to_patch_vector(patch: np.ndarray) -> np.ndarray:
    """Flatten one ``(h, w)`` or ``(h, w, C)`` patch into this package's vector layout."""
    patch = np.asarray(patch)
    if patch.ndim == 2:
        return patch.reshape(-1)
    if patch.ndim == 3:
        return np.moveaxis(patch, -1, 0).reshape(-1)
    raise ValueError(f"patch must be (h, w) or (h, w, C), got shape {patch.shape}")
