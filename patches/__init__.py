"""sparselearn: patches room -- images and arrays to whitened patch matrices and back.

One example per column (``x`` is ``n × m``) everywhere except :class:`Whitener`, a
scikit-learn transformer on ``(n_samples, n_features)`` (one patch per row: pass ``x.T``). See
:mod:`patches.sources` for what a source can be, :mod:`patches.layout` for the layout of a
(colour) patch vector and the grey conversion, :mod:`patches.whitening` for the maths of
PCA/ZCA.
"""

from .layout import GREY_WEIGHTS, image_to_patch_vector, patch_vector_to_image, rgb_to_grey
from .metrics import amari_distance, dictionary_recovery
from .normalise import NORMALISATIONS, normalise, remove_patch_mean, remove_pixel_mean, squash
from .sampling import SHARES, sample_patches, split_count
from .sources import (
    IMAGE_SUFFIXES,
    KINDS,
    NATURAL_COLOUR_IMAGES,
    NATURAL_IMAGES,
    ImageCollection,
    PatchMatrix,
    load_natural_image,
    load_source,
    read_image,
)
from .synthetic import DISTRIBUTIONS, ica_mixture, random_orthogonal, sparse_dictionary_data
from .whitening import Whitener, chunked_covariance, iter_row_chunks

__all__ = [
    "DISTRIBUTIONS",
    "GREY_WEIGHTS",
    "IMAGE_SUFFIXES",
    "KINDS",
    "NATURAL_COLOUR_IMAGES",
    "NATURAL_IMAGES",
    "NORMALISATIONS",
    "SHARES",
    "ImageCollection",
    "PatchMatrix",
    "Whitener",
    "amari_distance",
    "chunked_covariance",
    "dictionary_recovery",
    "ica_mixture",
    "image_to_patch_vector",
    "iter_row_chunks",
    "load_natural_image",
    "load_source",
    "normalise",
    "patch_vector_to_image",
    "random_orthogonal",
    "read_image",
    "remove_patch_mean",
    "remove_pixel_mean",
    "rgb_to_grey",
    "sample_patches",
    "sparse_dictionary_data",
    "split_count",
    "squash",
]
