"""Untrusted images and texts (issue 6): decoded only as allowed, within limits, the same way every time."""

from __future__ import annotations

import io
import json
import struct
import zlib

import numpy as np
import pytest
from conftest import write_config
from PIL import Image
from test_cli import reportgen

from reportgen.config import parse
from reportgen.errors import ConfigError, InputError
from reportgen.inputs import decode_text, load_image, normalise_text


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def bomb_png(width: int, height: int) -> bytes:
    """A tiny PNG file whose header declares width x height pixels (its data is one deflated empty row)."""
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", header) + _png_chunk(b"IDAT", zlib.compress(b"\0"))
            + _png_chunk(b"IEND", b""))  # fmt: skip


def test_a_decompression_bomb_is_an_error_and_is_never_decoded(tmp_path):
    path = tmp_path / "bomb.png"
    path.write_bytes(bomb_png(30000, 30000))
    assert path.stat().st_size < 100
    with pytest.raises(InputError, match=r"^bomb\.png: "):
        load_image(path, "bomb.png", (32, 32), "stretch", False)


def test_the_pixel_limit_is_configurable(tmp_path):
    path = tmp_path / "wide.png"
    Image.new("RGB", (300, 200), (10, 20, 30)).save(path)
    with pytest.raises(InputError) as info:
        load_image(path, "wide.png", (32, 32), "stretch", False, max_pixels=50_000)
    assert str(info.value) == "wide.png: image of 300x200 pixels is over the limit of 50,000 (limits.max_image_pixels)"
    assert load_image(path, "wide.png", (32, 32), "stretch", False, max_pixels=60_000).array.shape == (32, 32, 3)


@pytest.mark.parametrize("fmt", ["ICO", "PPM", "TGA", "PCX"])
def test_formats_outside_the_allowlist_are_refused_by_content_even_when_named_png(tmp_path, fmt):
    buffer = io.BytesIO()
    Image.new("RGB", (16, 16), (200, 0, 0)).save(buffer, format=fmt)
    path = tmp_path / "looks-like.png"
    path.write_bytes(buffer.getvalue())
    with pytest.raises(InputError) as info:
        load_image(path, "looks-like.png", (16, 16), "stretch", False)
    assert str(info.value) == "looks-like.png: not a PNG, JPEG, BMP, GIF, TIFF or WebP image (judged by its content)"


@pytest.mark.parametrize("fmt, suffix", [("PNG", ".jpg"), ("JPEG", ".png"), ("BMP", ".gif"), ("GIF", ".png"),
                                         ("TIFF", ".png"), ("WEBP", ".png")])  # fmt: skip
def test_allowed_formats_load_whatever_their_extension(tmp_path, fmt, suffix):
    path = tmp_path / f"image{suffix}"
    Image.new("RGB", (8, 8), (0, 0, 255)).save(path, format=fmt, **({"lossless": True} if fmt == "WEBP" else {}))
    array = load_image(path, path.name, (8, 8), "stretch", False).array
    assert array.shape == (8, 8, 3) and array[..., 2].min() > 200


def test_a_truncated_image_is_an_error_not_a_partial_picture(tmp_path):
    import weasyprint  # noqa: F401  - importing WeasyPrint turns Pillow's LOAD_TRUNCATED_IMAGES on, process-wide
    from PIL import ImageFile

    assert ImageFile.LOAD_TRUNCATED_IMAGES
    buffer = io.BytesIO()
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (64, 64, 3), dtype=np.uint8)).save(buffer, "PNG")
    path = tmp_path / "cut.png"
    path.write_bytes(buffer.getvalue()[: len(buffer.getvalue()) // 2])
    with pytest.raises(InputError, match=r"^cut\.png: cannot decode the image"):
        load_image(path, "cut.png", (64, 64), "stretch", False)


def test_coloured_transparent_pixels_convert_deterministically(tmp_path):
    # Fully transparent pixels hide a bright colour; both halves must come out as the expected arrays.
    rgba = np.zeros((2, 2, 4), np.uint8)
    rgba[0] = (255, 0, 0, 0)  # transparent red: white after compositing
    rgba[1] = (0, 0, 255, 128)  # half-transparent blue over white
    path = tmp_path / "alpha.png"
    Image.fromarray(rgba, "RGBA").save(path)
    first = load_image(path, "alpha.png", (2, 2), "stretch", False).array
    expected = np.array([[[255, 255, 255]] * 2, [[127, 127, 255]] * 2], np.uint8)
    np.testing.assert_array_equal(first, expected)
    np.testing.assert_array_equal(load_image(path, "alpha.png", (2, 2), "stretch", False).array, first)


# --- texts ---------------------------------------------------------------------------------------------


def test_invalid_utf8_names_the_byte_offset():
    with pytest.raises(InputError, match=r"^t\.txt: not valid UTF-8 \(byte offset 5\)$"):
        decode_text(b"good \xff bad", "t.txt")
    with pytest.raises(InputError, match=r"byte offset 2"):
        decode_text(b"ok\xed\xa0\x80", "t.txt")  # a surrogate encoded in UTF-8 (CESU-style) is invalid UTF-8


def test_bom_crlf_and_nfd_are_normalised():
    text = normalise_text(decode_text("\ufeffCafe\u0301 one\r\ntwo\rthree".encode(), "t.txt"), "t.txt")
    assert text == "Café one\ntwo\nthree" and len("Café") == 4


def test_lone_surrogates_are_refused_in_texts_and_in_the_config():
    with pytest.raises(InputError, match=r"^row: a lone surrogate U\+D800 at character 2; text must be valid Unicode$"):
        normalise_text("ab\ud800", "row")
    with pytest.raises(ConfigError, match=r"^c\.yaml: title: a lone surrogate U\+DC00 at character 0"):
        parse('title: "\\udc00 report"\nmodels: []\n', "c.yaml")


def test_the_text_size_limit(workspace):
    (workspace / "texts" / "big.txt").write_text("good " * 300, encoding="utf-8")
    config = write_config(workspace, """\
title: limits
output: out/text-limit
limits: {max_text_bytes: 1000}
models:
  - name: words
    kind: text
    path: models/sentiment.keras
    classes: [negative, positive]
    inputs: [texts/big.txt, texts/praise.txt]
    explain: {num_samples: 50, top_labels: 1}
""", "text-limit.yaml")  # fmt: skip
    result = reportgen("run", config.name, cwd=workspace)
    assert result.returncode == 1, result.stderr
    items = json.loads((workspace / "out" / "text-limit" / "evidence.json").read_text())["models"][0]["items"]
    assert items[0]["error"] == "texts/big.txt: over the limit of 1,000 bytes of text (limits.max_text_bytes)"
    assert items[1]["status"] == "ok"  # one bad item does not sink the others


def test_nul_and_direction_controls_reach_the_model_and_the_evidence_unchanged(workspace):
    text = "good\x00 phone \u202egreat\u202c screen"
    (workspace / "texts" / "tricky.txt").write_text(text, encoding="utf-8")
    config = write_config(workspace, """\
title: tricky
output: out/tricky
models:
  - name: words
    kind: text
    path: models/sentiment.keras
    classes: [negative, positive]
    inputs: [texts/tricky.txt]
    explain: {num_samples: 50, top_labels: 1}
""", "tricky.yaml")  # fmt: skip
    result = reportgen("run", config.name, cwd=workspace)
    assert result.returncode == 0, result.stderr
    item = json.loads((workspace / "out" / "tricky" / "evidence.json").read_text())["models"][0]["items"][0]
    assert item["input"]["text"] == text
    assert [t["text"] for t in item["tokens"]] == ["good", "phone", "great", "screen"]
    assert all(text[t["start"] : t["end"]] == t["text"] for t in item["tokens"])  # spans index the text itself
    html = (workspace / "out" / "tricky" / "report.html").read_text(encoding="utf-8")
    assert "\x00" not in html and "\u202e" not in html  # shown as visible marks, never raw
