"""Sources: the embedded default (offline), folders, .mat, .npy (memory-mapped), arrays."""

from __future__ import annotations

import socket

import numpy as np
import pytest
import scipy.io
import skimage.io

from sparselearn import patches
from sparselearn.patches import sources


@pytest.fixture
def no_network(monkeypatch):
    """Any attempt to open a network connection fails the test."""

    def refuse(*args, **kwargs):
        raise AssertionError("network access attempted")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)


def test_embedded_set_is_fixed_and_loads_offline(no_network):
    assert patches.NATURAL_IMAGES == (
        "astronaut", "camera", "chelsea", "coffee", "rocket", "motorcycle", "coins", "moon",
        "brick", "grass", "gravel", "grace_hopper",
    )
    assert set(patches.NATURAL_COLOUR_IMAGES) < set(patches.NATURAL_IMAGES)
    patches.load_natural_image.cache_clear()
    for name in patches.NATURAL_IMAGES:
        img = patches.load_natural_image(name)
        assert img.dtype == np.uint8
        assert min(img.shape[:2]) >= 256, name
        assert (img.ndim == 3) == (name in patches.NATURAL_COLOUR_IMAGES), name
        assert img.std() > 10, name  # a real picture, not a flat or tiny pattern
    x = patches.sample_patches("natural", 8, 100, np.random.default_rng(0))
    assert x.shape == (64, 100)


def test_embedded_images_are_cached_and_read_only():
    a = patches.load_natural_image("camera")
    assert patches.load_natural_image("camera") is a
    with pytest.raises(ValueError):
        a[0, 0] = 1


def test_unknown_embedded_name():
    with pytest.raises(ValueError, match="'lena'"):
        patches.load_natural_image("lena")


def test_png_pixels_are_pinned():
    # lossless files decode identically everywhere; this pins a few pixel sums
    assert int(patches.load_natural_image("camera").sum(dtype=np.int64)) == 33_832_495
    assert int(patches.load_natural_image("brick").sum(dtype=np.int64)) == 29_217_353
    assert int(patches.load_natural_image("astronaut").sum(dtype=np.int64)) == 90_124_324


# ------------------------------------------------------------------------- folders


def _write_pngs(folder, rng, count=3, shape=(40, 50)):
    folder.mkdir()
    images = []
    for i in range(count):
        img = rng.integers(0, 256, size=shape, dtype=np.uint8)
        skimage.io.imsave(folder / f"img{i}.png", img, check_contrast=False)
        images.append(img)
    (folder / "notes.txt").write_text("ignored")
    return images


def test_folder_of_pngs(tmp_path):
    rng = np.random.default_rng(1)
    images = _write_pngs(tmp_path / "imgs", rng)
    data = patches.load_source(tmp_path / "imgs")
    assert data.names == ("img0.png", "img1.png", "img2.png")
    for got, want in zip(data.images, images, strict=True):
        np.testing.assert_array_equal(got, want)
    x = patches.sample_patches(str(tmp_path / "imgs"), (5, 7), 30, np.random.default_rng(0))
    y = patches.sample_patches(images, (5, 7), 30, np.random.default_rng(0))
    np.testing.assert_array_equal(x, y)


def test_folder_rgba_jpeg_and_tiff(tmp_path):
    rng = np.random.default_rng(2)
    folder = tmp_path / "mixed"
    folder.mkdir()
    rgba = rng.integers(0, 256, size=(20, 20, 4), dtype=np.uint8)
    skimage.io.imsave(folder / "a.png", rgba, check_contrast=False)
    skimage.io.imsave(folder / "b.JPG", rgba[:, :, :3], check_contrast=False)
    deep = rng.integers(0, 65536, size=(20, 20), dtype=np.uint16)
    skimage.io.imsave(folder / "c.tif", deep, check_contrast=False)
    data = patches.load_source(folder)
    assert data.names == ("a.png", "b.JPG", "c.tif")
    assert [img.shape for img in data.images] == [(20, 20, 3), (20, 20, 3), (20, 20)]
    np.testing.assert_array_equal(data.images[0], rgba[:, :, :3])
    np.testing.assert_array_equal(data.images[2], deep)
    x = patches.sample_patches(folder, 4, 30, np.random.default_rng(0))  # grey from all three
    assert x.shape == (16, 30) and 0 <= x.min() and x.max() <= 1


def test_empty_folder_is_named(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="empty.*holds no images"):
        patches.sample_patches(tmp_path / "empty", 8, 10, np.random.default_rng(0))


def test_unreadable_file_is_named(tmp_path):
    folder = tmp_path / "bad"
    folder.mkdir()
    (folder / "broken.png").write_bytes(b"this is not a png")
    with pytest.raises(ValueError, match="broken.png"):
        patches.sample_patches(folder, 8, 10, np.random.default_rng(0))
    (tmp_path / "junk.npy").write_bytes(b"junk")
    with pytest.raises(ValueError, match="junk.npy"):
        patches.sample_patches(tmp_path / "junk.npy", 8, 10, np.random.default_rng(0))


def test_missing_path_and_unknown_suffix(tmp_path):
    with pytest.raises(ValueError, match="nowhere"):
        patches.load_source(tmp_path / "nowhere")
    (tmp_path / "data.csv").write_text("1,2")
    with pytest.raises(ValueError, match="data.csv"):
        patches.load_source(tmp_path / "data.csv")


# ------------------------------------------------------------------------- .mat


def test_mat_images_uflddl_layout(tmp_path):
    rng = np.random.default_rng(3)
    stack = rng.standard_normal((64, 48, 4))  # (H, W, N) as in UFLDL's IMAGES.mat
    scipy.io.savemat(tmp_path / "IMAGES.mat", {"IMAGES": stack, "IMAGES_RAW": stack * 2})
    data = patches.load_source(tmp_path / "IMAGES.mat")
    assert len(data.images) == 4
    np.testing.assert_array_equal(data.images[2], stack[:, :, 2])
    raw = patches.load_source(tmp_path / "IMAGES.mat", variable="IMAGES_RAW")
    np.testing.assert_array_equal(raw.images[0], 2 * stack[:, :, 0])
    x = patches.sample_patches(tmp_path / "IMAGES.mat", 8, 50, np.random.default_rng(0))
    assert x.shape == (64, 50)


def test_mat_patches_matrix(tmp_path):
    rng = np.random.default_rng(4)
    mat = rng.random((192, 1000))  # stlSampledPatches-like: 8×8×3 colour patches, n × m
    scipy.io.savemat(tmp_path / "stl.mat", {"patches": mat})
    x = patches.sample_patches(tmp_path / "stl.mat", 8, 100, np.random.default_rng(0), colour=True)
    assert x.shape == (192, 100)
    # every column is a distinct column of the file
    matches = [np.flatnonzero((mat == col[:, None]).all(axis=0)) for col in x.T]
    assert all(len(m) == 1 for m in matches)
    assert len({int(m[0]) for m in matches}) == 100
    with pytest.raises(ValueError, match="192"):  # grey request: n = 64 fits neither side
        patches.sample_patches(tmp_path / "stl.mat", 8, 10, np.random.default_rng(0))


def test_mat_missing_variable_lists_contents(tmp_path):
    scipy.io.savemat(tmp_path / "v.mat", {"foo": np.ones((4, 40)), "bar": np.ones(3)})
    with pytest.raises(ValueError, match=r"no variable 'IMAGES'.*\['bar', 'foo'\]"):
        patches.load_source(tmp_path / "v.mat", variable="IMAGES")
    with pytest.raises(ValueError, match=r"\['bar', 'foo'\].*variable="):
        patches.load_source(tmp_path / "v.mat")


def test_mat_v73_gets_a_clear_message(tmp_path):
    header = b"MATLAB 7.3 MAT-file, Platform: GLNXA64, Created on: Mon Jan  1 00:00:00 2024 HDF5"
    header = header.ljust(116, b" ") + b"\x00" * 8 + b"\x00\x02IM"
    (tmp_path / "big.mat").write_bytes(header + b"\x00" * 512)
    with pytest.raises(ValueError, match=r"big.mat.*v7\.3"):
        patches.load_source(tmp_path / "big.mat")


# ------------------------------------------------------------------------- .npy / .npz


def test_npy_stack_is_memory_mapped(tmp_path):
    rng = np.random.default_rng(5)
    stack = rng.integers(0, 256, size=(3, 30, 40), dtype=np.uint8)  # (N, H, W)
    np.save(tmp_path / "stack.npy", stack)
    data = patches.load_source(tmp_path / "stack.npy")
    assert isinstance(data.images[0], np.memmap)
    x = patches.sample_patches(tmp_path / "stack.npy", 6, 40, np.random.default_rng(7))
    y = patches.sample_patches(list(stack), 6, 40, np.random.default_rng(7))
    np.testing.assert_array_equal(x, y)
    assert x.min() >= 0 and x.max() <= 1


def test_npy_patches_matrix_both_orientations(tmp_path):
    rng = np.random.default_rng(6)
    cols = rng.standard_normal((64, 1000))
    np.save(tmp_path / "cols.npy", cols)
    np.save(tmp_path / "rows.npy", cols.T.copy())
    a = patches.load_source(tmp_path / "cols.npy", patch_length=64)
    b = patches.load_source(tmp_path / "rows.npy", patch_length=64)
    assert isinstance(a, patches.PatchMatrix) and isinstance(b, patches.PatchMatrix)
    assert isinstance(a.x, np.memmap) and isinstance(b.x, np.memmap)
    np.testing.assert_array_equal(a.x, b.x)
    xa = patches.sample_patches(tmp_path / "cols.npy", 8, 200, np.random.default_rng(0))
    xb = patches.sample_patches(tmp_path / "rows.npy", 8, 200, np.random.default_rng(0))
    np.testing.assert_array_equal(xa, xb)


def test_npz_with_variable(tmp_path):
    img = np.random.default_rng(8).random((20, 30))
    np.savez(tmp_path / "d.npz", picture=img, other=np.zeros(3))
    data = patches.load_source(tmp_path / "d.npz", variable="picture")
    np.testing.assert_array_equal(data.images[0], img)
    with pytest.raises(ValueError, match="'nope'.*other.*picture"):
        patches.load_source(tmp_path / "d.npz", variable="nope")


# ------------------------------------------------------------------------- the kind rule


@pytest.mark.parametrize(
    ("shape", "kind", "expect"),
    [
        ((30, 40), "auto", ("images", 1)),
        ((30, 40, 3), "auto", ("images", 1)),
        ((5, 30, 40), "auto", ("images", 5)),
        ((30, 40, 5), "auto", ("images", 5)),
        ((4, 30, 40, 3), "auto", ("images", 4)),
        ((30, 40, 3, 4), "auto", ("images", 4)),
        ((64, 500), "auto", ("patches", (64, 500))),
        ((500, 64), "auto", ("patches", (64, 500))),
        ((30, 40, 3), "images_last", ("images", 3)),
        ((64, 64), "patches", ("patches", (64, 64))),
        ((64, 64), "auto", ("images", 1)),
        ((64, 100), "auto", ("patches", (64, 100))),
        ((30, 200), "image", ("images", 1)),
        ((64, 100), "patches_rows", ("patches", (100, 64))),
    ],
)
def test_kind_rule(shape, kind, expect):
    arr = np.zeros(shape)
    data = patches.load_source(arr, kind=kind, patch_length=64)
    if expect[0] == "images":
        assert isinstance(data, patches.ImageCollection)
        assert len(data.images) == expect[1]
    else:
        assert isinstance(data, patches.PatchMatrix)
        assert data.x.shape == expect[1]


def test_kind_errors():
    with pytest.raises(ValueError, match="kind must be one of"):
        patches.load_source(np.zeros((3, 3)), kind="stack")
    with pytest.raises(ValueError, match=r"cannot tell the layout.*\(30, 30, 30\)"):
        patches.load_source(np.zeros((30, 30, 30)))
    with pytest.raises(ValueError, match="kind='images'.*3-D or 4-D"):
        patches.load_source(np.zeros((30, 30)), kind="images")


def test_sources_module_documents_the_rule():
    assert "auto" in sources.__doc__ and "images_last" in sources.__doc__


def test_public_names_are_exported():
    for name in patches.__all__:
        assert hasattr(patches, name), name
