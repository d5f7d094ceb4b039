"""Image loading: the exact array LIME explains, whatever the file's mode, orientation or size."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from reportgen.errors import InputError
from reportgen.inputs import load_image, scale_batch, slugify, unique_ids


def _load(path, size=(8, 8), fit="stretch", grayscale=False):
    return load_image(path, path.name, size, fit, grayscale).array


def test_rgba_composited_on_white(tmp_path):
    rgba = np.zeros((8, 8, 4), np.uint8)
    rgba[..., 0] = 255  # fully transparent red must come out white, not red
    rgba[:4, :, 3] = 255  # top half opaque red
    Image.fromarray(rgba, "RGBA").save(tmp_path / "a.png")
    out = _load(tmp_path / "a.png")
    assert out.shape == (8, 8, 3) and out.dtype == np.uint8
    assert tuple(out[0, 0]) == (255, 0, 0)
    assert tuple(out[7, 7]) == (255, 255, 255)


def test_palette_with_transparency(tmp_path):
    img = Image.new("P", (8, 8), 0)
    img.putpalette([0, 0, 0, 10, 200, 30] + [0] * 762)
    img.paste(1, (0, 0, 8, 4))
    img.info["transparency"] = 0
    img.save(tmp_path / "p.png", transparency=0)
    out = _load(tmp_path / "p.png")
    assert tuple(out[0, 0]) == (10, 200, 30)
    assert tuple(out[7, 0]) == (255, 255, 255)


def test_sixteen_bit_grey_scaled_to_eight_bits(tmp_path):
    arr = np.full((8, 8), 65535, np.uint16)
    arr[:, :4] = 257 * 100
    Image.fromarray(arr).save(tmp_path / "g16.png")
    out = _load(tmp_path / "g16.png")
    assert tuple(out[0, 0]) == (100, 100, 100)
    assert tuple(out[0, 7]) == (255, 255, 255)


def test_cmyk_jpeg_converted(tmp_path):
    Image.new("CMYK", (8, 8), (0, 255, 255, 0)).save(tmp_path / "c.jpg", quality=100)
    out = _load(tmp_path / "c.jpg")
    r, g, b = (int(v) for v in out[4, 4])
    assert r > 200 and g < 60 and b < 60


def test_exif_orientation_applied(tmp_path):
    arr = np.zeros((4, 8, 3), np.uint8)
    arr[:, :4] = 255  # left half white in the stored pixels
    img = Image.fromarray(arr)
    exif = img.getexif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise when shown
    img.save(tmp_path / "r.jpg", exif=exif, quality=100)
    out = _load(tmp_path / "r.jpg", size=(8, 4))
    assert out.shape == (8, 4, 3)
    assert out[0, :, 0].mean() > 200 and out[-1, :, 0].mean() < 50  # white is now on top


def test_resize_is_antialiased(tmp_path):
    checker = (np.indices((64, 64)).sum(axis=0) % 2 * 255).astype(np.uint8)
    Image.fromarray(checker).save(tmp_path / "k.png")
    out = _load(tmp_path / "k.png", size=(8, 8))
    # Nearest-neighbour would give pure black or white; an antialiased resize gives mid grey.
    assert 100 < out.mean() < 155 and out.std() < 30


def test_crop_and_pad_geometry(tmp_path):
    arr = np.zeros((20, 40, 3), np.uint8)
    arr[:, :10] = (255, 0, 0)
    arr[:, 30:] = (0, 0, 255)
    arr[:, 10:30] = (0, 255, 0)
    Image.fromarray(arr).save(tmp_path / "wide.png")
    cropped = _load(tmp_path / "wide.png", size=(10, 10), fit="crop")
    assert tuple(cropped[5, 5]) == (0, 255, 0) and cropped[..., 1].min() > 200  # the centre only
    padded = _load(tmp_path / "wide.png", size=(20, 20), fit="pad")
    assert tuple(padded[0, 10]) == (0, 0, 0) and tuple(padded[10, 10]) == (0, 255, 0)


def test_grayscale_model_sees_grey(tmp_path):
    Image.new("RGB", (8, 8), (200, 10, 10)).save(tmp_path / "red.png")
    out = _load(tmp_path / "red.png", grayscale=True)
    assert (out[..., 0] == out[..., 1]).all() and (out[..., 1] == out[..., 2]).all()


def test_undecodable_image_is_input_error(tmp_path):
    (tmp_path / "bad.png").write_bytes(b"\x89PNG\r\n\x1a\nnope")
    with pytest.raises(InputError) as info:
        _load(tmp_path / "bad.png")
    assert str(info.value).startswith("bad.png: cannot decode the image")


def test_scaling_modes():
    batch = np.array([[[[0, 255, 51]]]], np.uint8)
    assert np.allclose(scale_batch(batch, "unit", 3), [[[[0, 1, 0.2]]]])
    assert np.allclose(scale_batch(batch, "symmetric", 3), [[[[-1, 1, -0.6]]]])
    assert np.allclose(scale_batch(batch, "raw", 3), [[[[0, 255, 51]]]])
    assert scale_batch(batch, "unit", 1).shape == (1, 1, 1, 1)


def test_ids_are_slugs_and_unique():
    taken: set[str] = set()
    assert unique_ids(["Cat Photo", "cat_photo", "Ünïcode!", "???"], taken) == ["cat-photo", "cat-photo-2", "unicode", "item"]
    assert slugify("IMG_0001.final") == "img-0001-final"
