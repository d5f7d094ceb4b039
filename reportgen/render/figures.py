"""Figures of the report as PNG bytes: the input image, superpixel masks and weight heat maps.

matplotlib is imported inside the functions that draw (Figure API on an Agg canvas, never pyplot),
so importing this module stays cheap; every PNG is deterministic for the same arrays.
"""

from __future__ import annotations

import base64
import io
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from reportgen.errors import RenderError


@dataclass(frozen=True)
class Palette:
    """The two colours of "supports the label" and "speaks against it", and whether "against" is also hatched."""

    name: str
    for_rgb: tuple[int, int, int]
    against_rgb: tuple[int, int, int]
    hatch: bool = False  # grey-scale: against is hatched as well, so it never depends on telling two greys apart

    @property
    def for_hex(self) -> str:
        return "#{:02X}{:02X}{:02X}".format(*self.for_rgb)

    @property
    def against_hex(self) -> str:
        return "#{:02X}{:02X}{:02X}".format(*self.against_rgb)


PALETTES = {
    # Okabe-Ito blue and vermilion: told apart with every common colour-vision deficiency.
    "colorblind": Palette("colorblind", (0, 114, 178), (213, 94, 0)),
    # Near-black for, mid-grey hatched against: survives black-and-white printing and photocopying.
    "grayscale": Palette("grayscale", (34, 34, 34), (140, 140, 140), hatch=True),
}
DEFAULT_PALETTE = PALETTES["colorblind"]
FOR_RGB, AGAINST_RGB = DEFAULT_PALETTE.for_rgb, DEFAULT_PALETTE.against_rgb
FOR_HEX, AGAINST_HEX = DEFAULT_PALETTE.for_hex, DEFAULT_PALETTE.against_hex

DPI = 128
# Longest side of an image figure in pixels (2 in at 128 dpi); small inputs are enlarged by a whole factor.
DISPLAY_PX = 256
PNG_COLOURS = 128  # colours of a figure's PNG: masks and maps need no more, and the report stays small
DIM = 0.70  # how far superpixels that are not shown are blended toward white
LABEL_FONT = {"family": "DejaVu Sans", "size": 7, "weight": "bold"}
MINUS = "\u2212"  # a real minus sign, as wide as the plus
THUMBNAIL_PX = 64  # longest side of a first-page thumbnail
HEATMAP_BAR_PX = 80  # width right of the heat map for its colour bar and tick labels


@dataclass(frozen=True)
class Png:
    """One encoded figure and its pixel size (for the <img> width and height attributes)."""

    data: bytes
    width: int
    height: int

    @property
    def uri(self) -> str:
        """The figure as a data: URI."""
        return "data:image/png;base64," + base64.b64encode(self.data).decode("ascii")


def load_image(path: Path) -> np.ndarray:
    """The input image artifact as an H x W x 3 uint8 array (grey images become three equal channels)."""
    try:
        with Image.open(path) as img:
            return np.asarray(img.convert("RGB"), dtype=np.uint8)
    except (OSError, ValueError) as exc:
        raise RenderError(f"{path}: cannot read the input image: {exc}") from None


def load_segments(path: Path, shape: tuple[int, int]) -> np.ndarray:
    """The superpixel label map artifact as an H x W int array, checked against the image's shape."""
    try:
        with Image.open(path) as img:
            segments = np.asarray(img).astype(np.int64)
    except (OSError, ValueError) as exc:
        raise RenderError(f"{path}: cannot read the segment map: {exc}") from None
    if segments.ndim != 2 or segments.shape != shape:
        raise RenderError(f"{path}: segment map has shape {segments.shape}, the image is {shape}")
    return segments


def _display_size(shape: tuple[int, ...]) -> tuple[int, int]:
    """(height, width) in pixels a figure shows an image of this shape at."""
    height, width = shape[0], shape[1]
    factor = DISPLAY_PX // max(height, width)
    if factor >= 1:
        return height * factor, width * factor
    shrink = DISPLAY_PX / max(height, width)
    return max(1, round(height * shrink)), max(1, round(width * shrink))


def _resize(array: np.ndarray, size: tuple[int, int], nearest: bool) -> np.ndarray:
    """Nearest-neighbour enlargement by a whole factor, or a resample down (labels always nearest)."""
    height, width = size
    if height % array.shape[0] == 0 and width % array.shape[1] == 0:
        return np.repeat(np.repeat(array, height // array.shape[0], axis=0), width // array.shape[1], axis=1)
    if nearest:
        rows = (np.arange(height) * array.shape[0]) // height
        cols = (np.arange(width) * array.shape[1]) // width
        return array[rows][:, cols]
    picture = Image.fromarray(np.clip(np.rint(array), 0, 255).astype(np.uint8))
    return np.asarray(picture.resize((width, height), Image.Resampling.LANCZOS), dtype=np.float64)


def _boundaries(segments: np.ndarray) -> np.ndarray:
    """Pixels that touch a different superpixel (4-neighbourhood), as a bool mask."""
    edge = np.zeros(segments.shape, dtype=bool)
    horizontal = segments[:, 1:] != segments[:, :-1]
    vertical = segments[1:, :] != segments[:-1, :]
    edge[:, 1:] |= horizontal
    edge[:, :-1] |= horizontal
    edge[1:, :] |= vertical
    edge[:-1, :] |= vertical
    return edge


def _blend(rgb: np.ndarray, colour: tuple[int, int, int], amount: float) -> np.ndarray:
    return rgb * (1.0 - amount) + np.asarray(colour, dtype=np.float64) * amount


def _colourise(rgb: np.ndarray, colour: tuple[int, int, int]) -> np.ndarray:
    """The picture in shades of one colour (dark where it is dark, light where it is light).

    A plain tint mixes with the picture's own colours (blue over yellow reads as green); shades keep
    the shapes visible and the colour unmistakable.
    """
    luminance = (rgb @ np.array([0.299, 0.587, 0.114]))[..., None] / 255.0
    dark = np.asarray(colour, dtype=np.float64) * 0.6
    light = _blend(np.asarray(colour, dtype=np.float64), (255, 255, 255), 0.75)
    return dark + (light - dark) * luminance


def _label_points(segments: np.ndarray, ids: list[int]) -> dict[int, tuple[float, float]]:
    """For each superpixel, its pixel farthest from its own edge (row, col): a label there stays inside it."""
    from scipy import ndimage

    points: dict[int, tuple[float, float]] = {}
    for seg in ids:
        rows, cols = np.nonzero(segments == seg)
        if rows.size == 0:
            continue
        top, left = rows.min(), cols.min()
        mask = np.pad(segments[top : rows.max() + 1, left : cols.max() + 1] == seg, 1)
        distance = ndimage.distance_transform_edt(mask)
        row, col = np.unravel_index(int(np.argmax(distance)), distance.shape)
        points[seg] = (float(top + row - 1), float(left + col - 1))
    return points


def new_figure(height: int, width: int):
    """A blank matplotlib Figure of height x width pixels on its own Agg canvas (never pyplot)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width / DPI, height / DPI), dpi=DPI, facecolor="white")
    FigureCanvasAgg(fig)
    return fig


def _encode(pixels: np.ndarray, colours: int | None) -> Png:
    """PNG bytes of an RGB array; with `colours`, as a palette image (figures, a third of the size)."""
    picture = Image.fromarray(np.ascontiguousarray(pixels, dtype=np.uint8), mode="RGB")
    if colours:
        picture = picture.quantize(colors=colours, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE)
    buffer = io.BytesIO()
    picture.save(buffer, format="PNG", compress_level=9)  # no metadata chunks: same arrays, same bytes
    return Png(buffer.getvalue(), pixels.shape[1], pixels.shape[0])


def save_figure(fig) -> Png:
    """A drawn Figure as a palette PNG."""
    fig.canvas.draw()
    return _encode(np.asarray(fig.canvas.buffer_rgba())[..., :3], PNG_COLOURS)


def input_png(image: np.ndarray) -> Png:
    """The input image at display size, enlarged by a whole factor (nearest neighbour) so every pixel stays visible."""
    shown = _resize(image.astype(np.float64), _display_size(image.shape), nearest=False)
    return _encode(np.clip(np.rint(shown), 0, 255), None)


def thumbnail_png(image: np.ndarray, longest: int = THUMBNAIL_PX) -> Png:
    """A small copy of the input image for the first page's table of items."""
    height, width = image.shape[:2]
    if max(height, width) > longest:
        shrink = longest / max(height, width)
        size = (max(1, round(height * shrink)), max(1, round(width * shrink)))
        image = _resize(image.astype(np.float64), size, nearest=False)
    return _encode(np.clip(np.rint(image), 0, 255), None)


def rank_label(rank: int, weight: float) -> str:
    """A superpixel's or token's rank with the sign of its weight ('+1', '−3'): direction without colour."""
    sign = "+" if weight > 0 else MINUS if weight < 0 else ""
    return f"{sign}{rank}"


def _hatch(shape: tuple[int, int], spacing: int = 6) -> np.ndarray:
    """Diagonal lines one pixel wide every `spacing` pixels, as a bool mask (grey-scale: marks 'against')."""
    rows, cols = np.indices(shape)
    return (rows + cols) % spacing == 0


def _draw_ranks(fig, segments: np.ndarray, size: tuple[int, int], ranked: list[tuple[int, int, float]],
                palette: Palette) -> None:  # fmt: skip
    scale_y, scale_x = size[0] / segments.shape[0], size[1] / segments.shape[1]
    points = _label_points(segments, [seg for _rank, seg, _w in ranked])
    for rank, seg, weight in ranked:
        if seg not in points:
            continue
        row, col = points[seg]
        edge = palette.for_hex if weight > 0 else palette.against_hex if weight < 0 else "#777777"
        x = (col + 0.5) * scale_x / size[1]
        y = 1.0 - (row + 0.5) * scale_y / size[0]
        fig.text(
            x,
            y,
            rank_label(rank, weight),
            ha="center",
            va="center",
            color="#111111",
            fontdict=LABEL_FONT,
            bbox={"boxstyle": "round,pad=0.2", "facecolor": "white", "edgecolor": edge, "linewidth": 1.0,
                  "linestyle": "--" if palette.hatch and weight < 0 else "-"},
        )


def _mask_png(image: np.ndarray, segments: np.ndarray, ranked: list[tuple[int, int, float]], shade: bool,
              palette: Palette) -> Png:  # fmt: skip
    size = _display_size(image.shape)
    rgb = _resize(image.astype(np.float64), size, nearest=False)
    seg = _resize(segments, size, nearest=True)
    positive = np.isin(seg, [s for _r, s, w in ranked if w > 0])
    negative = np.isin(seg, [s for _r, s, w in ranked if w < 0])
    shown = np.isin(seg, [s for _r, s, _w in ranked])
    out = np.where(shown[..., None], rgb, _blend(rgb, (255, 255, 255), DIM))
    if shade:
        out = np.where(positive[..., None], _colourise(rgb, palette.for_rgb), out)
        out = np.where(negative[..., None], _colourise(rgb, palette.against_rgb), out)
        if palette.hatch:
            out = np.where((negative & _hatch(size))[..., None], np.asarray((255, 255, 255), float), out)
    edge = _boundaries(seg)
    out = np.where(edge[..., None], _blend(out, (110, 110, 110), 0.45), out)
    out = np.where((edge & positive)[..., None], np.asarray(palette.for_rgb, float), out)
    out = np.where((edge & negative)[..., None], np.asarray(palette.against_rgb, float), out)
    fig = new_figure(*size)
    fig.figimage(np.clip(np.rint(out), 0, 255).astype(np.uint8), origin="upper")
    _draw_ranks(fig, segments, size, ranked, palette)
    return save_figure(fig)


def positive_mask_png(image: np.ndarray, segments: np.ndarray, ranked: list[tuple[int, int, float]],
                      palette: Palette = DEFAULT_PALETTE) -> Png:  # fmt: skip
    """The image with only the given supporting superpixels kept, the rest dimmed; each labelled with its rank.

    ranked: (rank by |weight|, superpixel id, weight) of the superpixels to keep.
    """
    return _mask_png(image, segments, ranked, False, palette)


def for_against_png(image: np.ndarray, segments: np.ndarray, ranked: list[tuple[int, int, float]],
                    palette: Palette = DEFAULT_PALETTE) -> Png:  # fmt: skip
    """The given superpixels in shades of the for or against colour, the rest dimmed; signed ranks drawn on them."""
    return _mask_png(image, segments, ranked, True, palette)


def diverging_cmap(palette: Palette = DEFAULT_PALETTE):
    """Against - white - for, the report's colour scale for signed weights."""
    from matplotlib.colors import LinearSegmentedColormap

    return LinearSegmentedColormap.from_list(
        f"reportgen_{palette.name}", [palette.against_hex, "#FFFFFF", palette.for_hex], N=256
    )


def signed(value: float, digits: int = 4) -> str:
    """A number with an explicit sign (a real minus sign) and `digits` significant digits."""
    if value == 0 or not math.isfinite(value):
        return "0" if value == 0 else str(value)
    text = f"{value:+#.{digits}g}"
    if "e" not in text:
        text = text.rstrip(".")
    return text.replace("-", "\u2212")


def heatmap_png(segments: np.ndarray, weights: np.ndarray, palette: Palette = DEFAULT_PALETTE) -> Png:
    """Every superpixel filled with its weight on a symmetric against-white-for scale, with a colour bar."""
    from matplotlib.cm import ScalarMappable
    from matplotlib.colors import Normalize

    size = _display_size(segments.shape)
    seg = _resize(segments, size, nearest=True)
    limit = float(np.max(np.abs(weights))) if weights.size else 0.0
    limit = limit if limit > 0 else 1.0
    norm = Normalize(vmin=-limit, vmax=limit)
    cmap = diverging_cmap(palette)
    out = cmap(norm(weights))[:, :3][seg] * 255.0
    if palette.hatch:
        # Grey-scale: a weak "for" and a weak "against" are both light grey; the hatch tells them apart.
        out = np.where(((weights[seg] < 0) & _hatch(size))[..., None], np.asarray((255, 255, 255), float), out)
    out = np.where(_boundaries(seg)[..., None], _blend(out, (110, 110, 110), 0.35), out)
    height, width = size
    bar = HEATMAP_BAR_PX  # pixels right of the map for the colour bar and its tick labels
    fig = new_figure(height, width + bar)
    fig.figimage(np.clip(np.rint(out), 0, 255).astype(np.uint8), origin="upper")
    total = width + bar
    cax = fig.add_axes(((width + 8) / total, 0.05, 10 / total, 0.9))
    colourbar = fig.colorbar(ScalarMappable(norm=norm, cmap=cmap), cax=cax)
    if palette.hatch:
        cax.add_patch(_hatched_half(cax, limit))
    colourbar.set_ticks([-limit, 0.0, limit])
    colourbar.set_ticklabels([signed(-limit, 2), "0", signed(limit, 2)])
    colourbar.ax.tick_params(labelsize=6.5, length=2, width=0.6, colors="#333333")
    for label in colourbar.ax.get_yticklabels():
        label.set_fontfamily("DejaVu Sans")
    colourbar.outline.set_linewidth(0.5)
    colourbar.outline.set_edgecolor("#888888")
    return save_figure(fig)


def _hatched_half(cax, limit: float):
    from matplotlib.patches import Rectangle

    return Rectangle((0, -limit), 1, limit, transform=cax.transData, fill=False, hatch="////",
                     edgecolor="white", linewidth=0)  # fmt: skip
