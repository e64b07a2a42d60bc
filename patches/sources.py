"""Image sources: the embedded natural photographs, image folders, ``.mat``/``.npy`` files, arrays.

Every source resolves to one of two things:

* an :class:`ImageCollection` -- images in their stored dtype, each ``(H, W)`` (grey) or
  ``(H, W, C)`` (channels last), with a name used in error messages; or
* a :class:`PatchMatrix` -- a ready ``n × m`` patches matrix (one patch per column), possibly a
  (transposed) memory-mapped view of a file.

Nothing here converts pixel values: scaling to ``[0, 1]`` and grey conversion happen in
:mod:`patches.sampling`, on the sampled patches only, so that huge memory-mapped stacks are never
read in full.

How an array is interpreted (the ``kind`` argument)
---------------------------------------------------
``"patches"``
    2-D ``n × m`` patches matrix, one patch per column (the project convention).
``"patches_rows"``
    2-D ``m × n`` patches matrix, one patch per row (scikit-learn convention); read through a
    transposed view, never copied.
``"image"``
    one image, ``(H, W)`` or ``(H, W, C)``.
``"images"``
    a stack with the image index first: ``(N, H, W)`` or ``(N, H, W, C)`` (numpy convention).
``"images_last"``
    a stack with the image index last: ``(H, W, N)`` or ``(H, W, C, N)`` (MATLAB convention,
    e.g. UFLDL's ``IMAGES.mat``, 512 × 512 × 10).
``"auto"`` (default)
    * 2-D: a patches matrix when one side equals the patch length ``n`` the request needs
      (``height · width · channels``) and the other side is longer: ``n × m`` if the rows match,
      ``m × n`` if the columns do. Otherwise an *elongated* array (one side at least 4 times the
      other) is rejected as a patches matrix of the wrong length (the message says which ``n``
      was expected), and anything else is one grey image. A square array is always an image.
    * 3-D: last axis of length 3 -> one RGB image ``(H, W, 3)``; else first axis shorter than the
      other two -> ``(N, H, W)``; else last axis shorter than the other two -> ``(H, W, N)``;
      else ambiguous (``ValueError`` asking for ``kind``).
    * 4-D: last axis of length 1 or 3 -> ``(N, H, W, C)``; else third axis of length 1 or 3 ->
      ``(H, W, C, N)``; else ambiguous.

    Pass ``kind`` explicitly whenever the rule could guess wrong (for example three grey images
    stored as ``(H, W, 3)``).
"""

from __future__ import annotations

import functools
import importlib.resources
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Union

import numpy as np

__all__ = [
    "IMAGE_SUFFIXES",
    "KINDS",
    "NATURAL_COLOUR_IMAGES",
    "NATURAL_IMAGES",
    "ImageCollection",
    "PatchMatrix",
    "load_natural_image",
    "load_source",
    "read_image",
]

#: The embedded default (``source="natural"``), in its fixed order. Natural photographs of scenes
#: and objects that ship inside the scikit-image wheel (read straight from its package folder, so
#: no download can ever be triggered) plus matplotlib's ``grace_hopper.jpg`` sample. Synthetic
#: test patterns (checkerboard, logo, phantom, colour wheel, horse silhouette), scans of text,
#: microscopy/medical images, a motion-blurred photo, the mostly black Hubble field and every image
#: that needs a download are deliberately left out.
NATURAL_IMAGES: tuple[str, ...] = (
    "astronaut",
    "camera",
    "chelsea",
    "coffee",
    "rocket",
    "motorcycle",
    "coins",
    "moon",
    "brick",
    "grass",
    "gravel",
    "grace_hopper",
)

#: The RGB members of :data:`NATURAL_IMAGES` (same order); ``colour=True`` samples these only.
NATURAL_COLOUR_IMAGES: tuple[str, ...] = (
    "astronaut",
    "chelsea",
    "coffee",
    "rocket",
    "motorcycle",
    "grace_hopper",
)

# name -> (package that ships it, file name)
_NATURAL_FILES: dict[str, tuple[str, str]] = {
    "astronaut": ("skimage", "astronaut.png"),  # 512×512 RGB
    "camera": ("skimage", "camera.png"),  # 512×512 grey
    "chelsea": ("skimage", "chelsea.png"),  # 300×451 RGB
    "coffee": ("skimage", "coffee.png"),  # 400×600 RGB
    "rocket": ("skimage", "rocket.jpg"),  # 427×640 RGB
    "motorcycle": ("skimage", "motorcycle_left.png"),  # 500×741 RGB (Middlebury stereo, left)
    "coins": ("skimage", "coins.png"),  # 303×384 grey
    "moon": ("skimage", "moon.png"),  # 512×512 grey
    "brick": ("skimage", "brick.png"),  # 512×512 grey
    "grass": ("skimage", "grass.png"),  # 512×512 grey
    "gravel": ("skimage", "gravel.png"),  # 512×512 grey
    "grace_hopper": ("matplotlib", "grace_hopper.jpg"),  # 600×512 RGB
}

#: File suffixes read as images (case-insensitive) when a folder is the source.
IMAGE_SUFFIXES: tuple[str, ...] = (".png", ".jpg", ".jpeg", ".tif", ".tiff")

#: Accepted values of ``kind``.
KINDS: tuple[str, ...] = ("auto", "patches", "patches_rows", "image", "images", "images_last")

PathLike = Union[str, "os.PathLike[str]"]


@dataclass(frozen=True)
class ImageCollection:
    """Images in their stored dtype, each ``(H, W)`` or ``(H, W, C)``, with display names."""

    images: tuple[np.ndarray, ...]
    names: tuple[str, ...]


@dataclass(frozen=True)
class PatchMatrix:
    """A ready ``n × m`` patches matrix (one patch per column); may be a memory-mapped view."""

    x: np.ndarray
    name: str


# --------------------------------------------------------------------------------------------
# single image files


def _drop_alpha(img: np.ndarray) -> np.ndarray:
    """(H, W, 4) RGBA -> RGB, (H, W, 2) grey+alpha -> grey, (H, W, 1) -> (H, W)."""
    if img.ndim == 3:
        if img.shape[2] == 4:
            return img[:, :, :3]
        if img.shape[2] == 2:
            return img[:, :, 0]
        if img.shape[2] == 1:
            return img[:, :, 0]
    return img


def _decoder_reason(exc: BaseException, path: Path) -> str:
    """What went wrong, in words, from imageio's wrapper of the decoder's error."""
    try:
        with open(path, "rb") as handle:
            if not handle.read(1):
                return "the file is empty"
    except OSError as error:
        return error.strerror or str(error)
    text = str(exc)
    cause = exc.__cause__
    if "can not handle the given uri" in text:
        return (f"not a {path.suffix.lstrip('.').upper() or 'image'} file that can be decoded "
                f"(damaged, truncated, or another format)")
    if "unknown error" in text and cause is not None:
        return f"{cause}" or type(cause).__name__
    return text


def read_image(path: PathLike) -> np.ndarray:
    """Read one PNG/JPEG/TIFF file in its stored dtype (alpha channels are dropped).

    Decoding goes through imageio (a scikit-image dependency) with the Pillow plugin for PNG/JPEG
    and tifffile for TIFF, as ``skimage.io.imread`` does, but without trying every other plugin
    on a broken file.

    Parameters
    ----------
    path : str or path-like
        The image file.

    Returns
    -------
    ndarray
        ``(H, W)`` for grey images, ``(H, W, 3)`` for colour ones (RGBA loses its alpha channel,
        grey+alpha its alpha channel).

    Raises
    ------
    ValueError
        If the file cannot be read as an image (the message names the file).
    """
    import imageio.v3 as iio  # scikit-image's own reader; the plugin is chosen by suffix

    path = Path(path)
    plugin = "tifffile" if path.suffix.lower() in (".tif", ".tiff") else "pillow"
    try:
        img = np.asarray(iio.imread(os.fspath(path), plugin=plugin))
    except Exception as exc:  # noqa: BLE001 - any decoder failure becomes one clear message
        raise ValueError(f"cannot read image file {path}: {_decoder_reason(exc, path)}") \
            from exc
    img = _drop_alpha(img)
    if img.ndim not in (2, 3) or img.size == 0 or (img.ndim == 3 and img.shape[2] != 3):
        raise ValueError(
            f"image file {path} has unsupported shape {img.shape}; expected (H, W) grey or "
            f"(H, W, 3) colour (multi-page files: load them yourself and pass an array)"
        )
    return img


# --------------------------------------------------------------------------------------------
# the embedded default


def _natural_path(name: str) -> Path:
    package, filename = _NATURAL_FILES[name]
    if package == "skimage":
        path = Path(os.fspath(importlib.resources.files("skimage.data").joinpath(filename)))
    else:
        import matplotlib.cbook

        path = Path(matplotlib.cbook.get_sample_data(filename, asfileobj=False))
    if not path.is_file():
        raise ValueError(
            f"embedded image {name!r} ({filename}) is missing from the installed {package}; "
            f"reinstall {package} from a wheel"
        )
    return path


@functools.lru_cache(maxsize=len(_NATURAL_FILES))
def load_natural_image(name: str) -> np.ndarray:
    """Load one embedded photograph (cached in-process; read-only uint8 array).

    The file is read straight from the installed scikit-image / matplotlib package folder, so this
    never touches the network.

    Parameters
    ----------
    name : str
        One of :data:`NATURAL_IMAGES`.

    Returns
    -------
    ndarray of uint8
        ``(H, W)`` grey or ``(H, W, 3)`` RGB, flagged read-only because it is shared by the cache.
    """
    if name not in _NATURAL_FILES:
        raise ValueError(f"unknown embedded image {name!r}; choose from {list(NATURAL_IMAGES)}")
    img = read_image(_natural_path(name))
    img = np.ascontiguousarray(img)
    img.flags.writeable = False
    return img


def _natural_collection(colour: bool) -> ImageCollection:
    names = NATURAL_COLOUR_IMAGES if colour else NATURAL_IMAGES
    return ImageCollection(tuple(load_natural_image(n) for n in names), names)


# --------------------------------------------------------------------------------------------
# arrays


def _check_kind(kind: str) -> None:
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {list(KINDS)}, got {kind!r}")


def _stack(arr: np.ndarray, axis_first: bool, name: str) -> ImageCollection:
    if axis_first:
        images = tuple(arr[i] for i in range(arr.shape[0]))
    else:
        images = tuple(arr[..., i] for i in range(arr.shape[-1]))
    if not images:
        raise ValueError(f"{name} holds no images (shape {arr.shape})")
    return ImageCollection(images, tuple(f"{name}[{i}]" for i in range(len(images))))


def _interpret_array(
    arr: np.ndarray, kind: str, name: str, patch_length: int | None
) -> ImageCollection | PatchMatrix:
    """Apply the ``kind`` rule (see the module docstring) to one array."""
    _check_kind(kind)
    if arr.dtype.kind not in "biuf":
        raise ValueError(f"{name} must hold numbers, got dtype {arr.dtype}")
    if arr.size == 0:
        raise ValueError(f"{name} is empty (shape {arr.shape})")
    nd = arr.ndim

    def need(ndims: tuple[int, ...]) -> None:
        if nd not in ndims:
            wanted = " or ".join(f"{d}-D" for d in ndims)
            raise ValueError(f"kind={kind!r} needs a {wanted} array, {name} has shape {arr.shape}")

    if kind == "patches":
        need((2,))
        return PatchMatrix(arr, name)
    if kind == "patches_rows":
        need((2,))
        return PatchMatrix(arr.T, name)
    if kind == "image":
        need((2, 3))
        return ImageCollection((arr,), (name,))
    if kind == "images":
        need((3, 4))
        return _stack(arr, True, name)
    if kind == "images_last":
        need((3, 4))
        return _stack(arr, False, name)

    # kind == "auto"
    if nd == 2:
        rows, cols = arr.shape
        if patch_length is not None and rows == patch_length and cols > rows:
            return PatchMatrix(arr, name)
        if patch_length is not None and cols == patch_length and rows > cols:
            return PatchMatrix(arr.T, name)
        if max(rows, cols) >= 4 * min(rows, cols):
            raise ValueError(
                f"{name} has shape {arr.shape}, which looks like a patches matrix, but neither "
                f"side equals the patch length n = {patch_length} this request needs "
                f"(patch height · width · channels); check patch_shape and colour, or pass "
                f"kind='image' if it really is one image"
            )
        return ImageCollection((arr,), (name,))
    if nd == 3:
        h, w, last = arr.shape
        if last == 3:
            return ImageCollection((arr,), (name,))
        if h < min(w, last):
            return _stack(arr, True, name)
        if last < min(h, w):
            return _stack(arr, False, name)
    elif nd == 4:
        if arr.shape[3] in (1, 3):
            return _stack(arr, True, name)
        if arr.shape[2] in (1, 3):
            return _stack(arr, False, name)
    else:
        raise ValueError(f"{name} must be a 2-D, 3-D or 4-D array, got shape {arr.shape}")
    raise ValueError(
        f"cannot tell the layout of {name} with shape {arr.shape}; pass kind='image', "
        f"'images' (N, H, W[, C]) or 'images_last' (H, W[, C], N)"
    )


def _sequence_of_images(source: Sequence, kind: str) -> ImageCollection:
    if kind not in ("auto", "image"):
        raise ValueError(f"a list of images takes kind='auto' or 'image', got kind={kind!r}")
    images, names = [], []
    for i, item in enumerate(source):
        arr = item if isinstance(item, np.ndarray) else np.asarray(item)
        name = f"image {i}"
        if arr.dtype.kind not in "biuf":
            raise ValueError(f"{name} must hold numbers, got dtype {arr.dtype}")
        if arr.ndim not in (2, 3) or arr.size == 0:
            raise ValueError(f"{name} must be (H, W) or (H, W, C), got shape {arr.shape}")
        images.append(arr)
        names.append(name)
    if not images:
        raise ValueError("the list of images is empty")
    return ImageCollection(tuple(images), tuple(names))


# --------------------------------------------------------------------------------------------
# files


def _pick_variable(path: Path, available: Sequence[str], variable: str | None, fmt: str) -> str:
    if variable is not None:
        if variable not in available:
            raise ValueError(
                f"{fmt} file {path} has no variable {variable!r}; it holds: "
                f"{sorted(available) if available else 'no variables'}"
            )
        return variable
    for preferred in ("IMAGES", "patches"):
        if preferred in available:
            return preferred
    if len(available) == 1:
        return available[0]
    raise ValueError(
        f"{fmt} file {path} holds {sorted(available) if available else 'no variables'}; "
        f"say which one with variable=..."
    )


def _load_mat(path: Path, variable: str | None) -> np.ndarray:
    import scipy.io

    try:
        available = [entry[0] for entry in scipy.io.whosmat(os.fspath(path))]
    except NotImplementedError as exc:  # scipy: "Please use HDF reader for matlab v7.3 files"
        raise ValueError(
            f".mat file {path} is a MATLAB v7.3 (HDF5) file, which scipy.io cannot read; "
            f"re-save it in MATLAB with save(..., '-v7') or read it with h5py and pass the array"
        ) from exc
    except Exception as exc:  # noqa: BLE001
        raise ValueError(f"cannot read .mat file {path}: {exc}") from exc
    name = _pick_variable(path, available, variable, ".mat")
    try:
        arr = scipy.io.loadmat(os.fspath(path), variable_names=[name])[name]
    except Exception as exc:  # noqa: BLE001
        raise ValueError(f"cannot read variable {name!r} of .mat file {path}: {exc}") from exc
    return np.asarray(arr)


def _load_npz(path: Path, variable: str | None) -> np.ndarray:
    try:
        with np.load(path, allow_pickle=False) as data:
            name = _pick_variable(path, list(data.files), variable, ".npz")
            return data[name]
    except ValueError:
        raise
    except Exception as exc:  # noqa: BLE001
        raise ValueError(f"cannot read .npz file {path}: {exc}") from exc


def _load_npy(path: Path) -> np.ndarray:
    try:
        return np.load(path, mmap_mode="r", allow_pickle=False)
    except Exception as exc:  # noqa: BLE001
        raise ValueError(f"cannot read .npy file {path}: {exc}") from exc


def _folder(path: Path) -> ImageCollection:
    files = sorted(
        p for p in path.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES
    )
    if not files:
        raise ValueError(
            f"folder {path} holds no images (looked for {', '.join(IMAGE_SUFFIXES)})"
        )
    return ImageCollection(tuple(read_image(p) for p in files), tuple(p.name for p in files))


def _from_path(
    path: Path, kind: str, variable: str | None, patch_length: int | None
) -> ImageCollection | PatchMatrix:
    if path.is_dir():
        if kind not in ("auto", "image"):
            raise ValueError(f"a folder of images takes kind='auto', got kind={kind!r}")
        return _folder(path)
    if not path.exists():
        raise ValueError(
            f"no such file or folder: {path} (the embedded default is source='natural')"
        )
    suffix = path.suffix.lower()
    if suffix in IMAGE_SUFFIXES:
        return _interpret_array(read_image(path), "image" if kind == "auto" else kind,
                                path.name, patch_length)
    if suffix == ".mat":
        arr = _load_mat(path, variable)
    elif suffix == ".npy":
        arr = _load_npy(path)
    elif suffix == ".npz":
        arr = _load_npz(path, variable)
    else:
        raise ValueError(
            f"cannot read {path}: unsupported file type {suffix!r} (use a folder of "
            f"{'/'.join(IMAGE_SUFFIXES)} images, a .mat, .npy or .npz file)"
        )
    return _interpret_array(arr, kind, path.name, patch_length)


# --------------------------------------------------------------------------------------------
# entry point


def load_source(
    source: object,
    *,
    kind: str = "auto",
    variable: str | None = None,
    patch_length: int | None = None,
    colour: bool = False,
) -> ImageCollection | PatchMatrix:
    """Resolve a data source to images or a patches matrix, reading as little as possible.

    Parameters
    ----------
    source : "natural", str, path-like, ndarray or sequence of ndarrays
        ``"natural"`` is the embedded default (:data:`NATURAL_IMAGES`, or
        :data:`NATURAL_COLOUR_IMAGES` when ``colour`` is true). A path may be a folder of
        PNG/JPEG/TIFF images (read in sorted file-name order; other files ignored), one image
        file, a ``.mat`` file (scipy.io; loaded into memory), a ``.npy`` file (opened with
        ``mmap_mode='r'``, so it may be larger than memory) or a ``.npz`` file. A sequence is a
        list of images. An ndarray is interpreted through ``kind``.
    kind : str
        How to read an array (see the module docstring): ``"auto"``, ``"patches"``,
        ``"patches_rows"``, ``"image"``, ``"images"`` or ``"images_last"``.
    variable : str, optional
        Variable name inside a ``.mat`` / ``.npz`` file. By default ``IMAGES`` (UFLDL's
        ``IMAGES.mat``), else ``patches`` (UFLDL's ``stlSampledPatches.mat``), else the only one.
    patch_length : int, optional
        The patch length ``n`` of the request; used by the ``"auto"`` rule for 2-D arrays.
    colour : bool
        Only affects ``"natural"``: pick the colour subset.

    Returns
    -------
    ImageCollection or PatchMatrix
    """
    if isinstance(source, str) and source == "natural":
        if kind != "auto":
            raise ValueError(f"source='natural' takes kind='auto', got kind={kind!r}")
        return _natural_collection(bool(colour))
    if isinstance(source, (str, os.PathLike)):
        return _from_path(Path(source), kind, variable, patch_length)
    if isinstance(source, np.ndarray):
        return _interpret_array(source, kind, "array", patch_length)
    if isinstance(source, (list, tuple)):
        return _sequence_of_images(source, kind)
    raise TypeError(
        "source must be 'natural', a path, an ndarray or a list of image arrays, "
        f"got {type(source).__name__}"
    )
