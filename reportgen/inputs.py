"""Load images into the exact RGB uint8 array that is explained, and scale batches of them for the model."""

from __future__ import annotations

import re
import unicodedata
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from reportgen.config import lone_surrogate
from reportgen.errors import InputError, describe

MAX_PIXELS = 40_000_000  # default of limits.max_image_pixels: larger images are refused before decoding
# Decoders reportgen lets Pillow use, chosen by the file's content (never by its extension).
IMAGE_FORMATS = ("PNG", "JPEG", "BMP", "GIF", "TIFF", "WEBP")
MAX_TEXT_BYTES = 1_000_000  # default of limits.max_text_bytes


@dataclass(frozen=True)
class ImageInput:
    """One image as it is explained: resized to the model's size, RGB uint8 (grey repeated for grayscale)."""

    rel: str
    array: np.ndarray  # (height, width, 3) uint8
    original_size: tuple[int, int]  # (width, height) of the file, after EXIF rotation


def slugify(name: str) -> str:
    """A file name as an id: lower case, [a-z0-9-] only."""
    text = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode("ascii").lower()
    text = re.sub(r"[^a-z0-9]+", "-", text).strip("-")
    return text or "item"


def unique_ids(names: list[str], taken: set[str]) -> list[str]:
    """Slugified ids for names, made unique against `taken` (which is updated) by suffixes -2, -3, ..."""
    ids = []
    for name in names:
        base = slugify(name)
        candidate, n = base, 1
        while candidate in taken:
            n += 1
            candidate = f"{base}-{n}"
        taken.add(candidate)
        ids.append(candidate)
    return ids


def _to_rgb(img: "PIL.Image.Image") -> "PIL.Image.Image":  # noqa: F821
    from PIL import Image

    if img.mode in ("I;16", "I;16B", "I;16L", "I"):
        # 16-bit and 32-bit grey: scale the full 16-bit range to 8 bits, rounding to nearest.
        arr = np.asarray(img, dtype=np.float64)
        arr = np.clip(np.rint(arr / 257.0), 0, 255).astype(np.uint8)
        img = Image.fromarray(arr, "L")
    elif img.mode == "F":
        arr = np.clip(np.rint(np.asarray(img, dtype=np.float64)), 0, 255).astype(np.uint8)
        img = Image.fromarray(arr, "L")
    if img.mode == "P":
        img = img.convert("RGBA" if "transparency" in img.info else "RGB")
    if img.mode in ("LA", "La", "PA"):
        img = img.convert("RGBA")
    if img.mode == "RGBa":
        img = img.convert("RGBA")
    if img.mode == "RGBA":
        # Transparent pixels composited on white, whatever colour they hide.
        background = Image.new("RGBA", img.size, (255, 255, 255, 255))
        img = Image.alpha_composite(background, img)
    return img.convert("RGB")


def _fit(img: "PIL.Image.Image", size: tuple[int, int], fit: str) -> "PIL.Image.Image":  # noqa: F821
    from PIL import Image

    height, width = size
    if fit == "crop":
        scale = max(width / img.width, height / img.height)
        w, h = max(width, round(img.width * scale)), max(height, round(img.height * scale))
        img = img.resize((w, h), Image.Resampling.LANCZOS)
        left, top = (w - width) // 2, (h - height) // 2
        return img.crop((left, top, left + width, top + height))
    if fit == "pad":
        scale = min(width / img.width, height / img.height)
        w, h = max(1, round(img.width * scale)), max(1, round(img.height * scale))
        canvas = Image.new("RGB", (width, height), (0, 0, 0))
        canvas.paste(img.resize((w, h), Image.Resampling.LANCZOS), ((width - w) // 2, (height - h) // 2))
        return canvas
    return img.resize((width, height), Image.Resampling.LANCZOS)


def _signature(path: Path) -> str | None:
    """The allowed format whose signature the file starts with, if any."""
    with open(path, "rb") as f:
        head = f.read(12)
    signatures = {b"\x89PNG\r\n\x1a\n": "PNG", b"\xff\xd8\xff": "JPEG", b"BM": "BMP", b"GIF8": "GIF",
                  b"II*\x00": "TIFF", b"MM\x00*": "TIFF"}  # fmt: skip
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "WebP"
    return next((kind for prefix, kind in signatures.items() if head.startswith(prefix)), None)


def load_image(
    path: Path, rel: str, size: tuple[int, int], fit: str, grayscale: bool, max_pixels: int = MAX_PIXELS
) -> ImageInput:
    """Decode an image file into the array LIME explains; any decoding problem is an InputError."""
    from PIL import Image, ImageFile, ImageOps, UnidentifiedImageError

    # WeasyPrint sets this process-wide switch on when imported; a truncated image must stay an error here.
    truncated_allowed, ImageFile.LOAD_TRUNCATED_IMAGES = ImageFile.LOAD_TRUNCATED_IMAGES, False
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path, formats=IMAGE_FORMATS) as img:
                # The header's size, checked before a single pixel is decoded.
                if img.width * img.height > max_pixels:
                    raise InputError(f"{rel}: image of {img.width}x{img.height} pixels is over the limit of "
                                     f"{max_pixels:,} (limits.max_image_pixels)")  # fmt: skip
                img.load()
                img = ImageOps.exif_transpose(img)
                rgb = _to_rgb(img)
    except InputError:
        raise
    except UnidentifiedImageError:
        kind = _signature(path)
        if kind is not None:
            raise InputError(f"{rel}: cannot decode the image: a damaged or truncated {kind} file") from None
        raise InputError(f"{rel}: not a PNG, JPEG, BMP, GIF, TIFF or WebP image (judged by its content)") from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise InputError(f"{rel}: refused as a decompression bomb: {exc}") from None
    except Exception as exc:  # Pillow raises many types for a bad file
        raise InputError(f"{rel}: cannot decode the image: {describe(exc, path, rel)}") from None
    finally:
        ImageFile.LOAD_TRUNCATED_IMAGES = truncated_allowed
    original = rgb.size
    resized = _fit(rgb, size, fit)
    if grayscale:
        resized = resized.convert("L").convert("RGB")
    array = np.asarray(resized, dtype=np.uint8).copy()
    return ImageInput(rel, array, original)


def scale_batch(batch: np.ndarray, scale: str, channels: int, out: np.ndarray | None = None) -> np.ndarray:
    """Turn a batch of uint8 RGB images (n, h, w, 3) into the model's float32 input (n, h, w, channels)."""
    source = batch[..., :1] if channels == 1 else batch
    if out is None:
        out = np.empty(source.shape, np.float32)
    np.copyto(out, source, casting="unsafe")
    if scale == "unit":
        out *= np.float32(1.0 / 255.0)
    elif scale == "symmetric":
        out *= np.float32(1.0 / 127.5)
        out -= np.float32(1.0)
    return out


def decode_text(data: bytes, rel: str) -> str:
    """UTF-8 bytes as text (a BOM dropped); invalid UTF-8 is an InputError naming the byte offset."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InputError(f"{rel}: not valid UTF-8 (byte offset {exc.start})") from None


def normalise_text(text: str, rel: str, max_bytes: int = MAX_TEXT_BYTES) -> str:
    """The text as it is explained: size-checked, valid Unicode, line ends as \\n, NFC (see docs/security.md)."""
    bad = lone_surrogate(text)
    if bad is not None:
        raise InputError(f"{rel}: a lone surrogate U+{ord(text[bad]):04X} at character {bad}; text must be valid Unicode")
    size = len(text.encode("utf-8"))
    if size > max_bytes:
        raise InputError(f"{rel}: {size:,} bytes of text is over the limit of {max_bytes:,} (limits.max_text_bytes)")
    # CRLF and CR become LF (as Python's text mode reads files); NFC, so "é" is one character however it was
    # typed: the words tokenizer would otherwise cut an NFD "e" + combining accent apart.
    return unicodedata.normalize("NFC", text.replace("\r\n", "\n").replace("\r", "\n"))
