"""Argument checks shared by the ``patches`` modules (one uniform message style)."""

from __future__ import annotations

import numbers

import numpy as np


def check_rng(rng: object, name: str = "rng") -> np.random.Generator:
    """Return ``rng`` if it is a :class:`numpy.random.Generator`, else raise ``TypeError``."""
    if not isinstance(rng, np.random.Generator):
        raise TypeError(
            f"{name} must be a numpy.random.Generator (e.g. numpy.random.default_rng(seed)), "
            f"got {type(rng).__name__}"
        )
    return rng


def check_positive_int(value: object, name: str) -> int:
    """Return ``value`` as ``int`` if it is a positive integer, else raise ``ValueError``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value <= 0:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


def check_patch_shape(patch_shape: object) -> tuple[int, int]:
    """Normalise ``patch_shape`` (an int for square patches, or ``(height, width)``)."""
    if isinstance(patch_shape, numbers.Integral) and not isinstance(patch_shape, bool):
        shape: tuple = (patch_shape, patch_shape)
    else:
        try:
            shape = tuple(patch_shape)  # type: ignore[arg-type]
        except TypeError:
            raise ValueError(
                f"patch_shape must be an int or a (height, width) pair, got {patch_shape!r}"
            ) from None
    if len(shape) != 2 or any(
        isinstance(v, bool) or not isinstance(v, numbers.Integral) or v <= 0 for v in shape
    ):
        raise ValueError(
            f"patch_shape must be an int or a (height, width) pair of positive integers, "
            f"got {patch_shape!r}"
        )
    return int(shape[0]), int(shape[1])


def check_float_dtype(dtype: object, name: str = "dtype") -> np.dtype:
    """Return ``dtype`` as a numpy dtype if it is float32 or float64, else raise ``ValueError``."""
    dt = np.dtype(dtype)  # type: ignore[arg-type]
    if dt not in (np.dtype(np.float32), np.dtype(np.float64)):
        raise ValueError(f"{name} must be float32 or float64, got {dt}")
    return dt


def as_matrix(x: object, name: str) -> np.ndarray:
    """View ``x`` as a 2-D numeric array without copying (memory-mapped arrays stay mapped)."""
    arr = x if isinstance(x, np.ndarray) else np.asarray(x)
    if arr.ndim != 2:
        raise ValueError(f"{name} must be a 2-D array (n × m, one example per column), "
                         f"got shape {arr.shape}")
    if arr.dtype.kind not in "biuf":
        raise ValueError(f"{name} must hold numbers, got dtype {arr.dtype}")
    return arr


def result_dtype(arr: np.ndarray) -> np.dtype:
    """float32 and float64 are kept; any other numeric dtype computes in float64."""
    if arr.dtype in (np.dtype(np.float32), np.dtype(np.float64)):
        return arr.dtype
    return np.dtype(np.float64)


def as_float_matrix(x: object, name: str) -> np.ndarray:
    """View ``x`` as a 2-D float array (float32/float64 kept, anything else -> float64).

    Memory-mapped float arrays stay memory-mapped (no copy is made for float input).
    """
    arr = as_matrix(x, name)
    return arr if result_dtype(arr) == arr.dtype else arr.astype(np.float64)
