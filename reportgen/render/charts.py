"""Charts with words on them (token weights, deletion/insertion curves): matplotlib's Figure API, CJK-capable fonts."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from reportgen.render.figures import DEFAULT_PALETTE, DPI, Palette, Png, new_figure, save_figure, signed

# Latin first, then a CJK-capable family, so Chinese token labels get real glyphs (matplotlib falls back per glyph).
TEXT_FAMILIES = ["DejaVu Sans", "Noto Sans CJK SC", "Noto Sans CJK JP"]


_CJK_FONT_DIRS = ("/usr/share/fonts", "/usr/local/share/fonts", str(Path.home() / ".local/share/fonts"))


def _ensure_cjk_font() -> None:
    """Make matplotlib see Noto Sans CJK even when its font cache predates the font's installation."""
    import logging

    from matplotlib import font_manager

    logging.getLogger("matplotlib.font_manager").setLevel(logging.ERROR)  # a missing CJK family is not news
    try:
        font_manager.findfont("Noto Sans CJK SC", fallback_to_default=False)
        return
    except ValueError:
        pass
    for folder in _CJK_FONT_DIRS:
        for path in sorted(Path(folder).glob("**/NotoSansCJK*-Regular.tt[cf]")):
            try:
                font_manager.fontManager.addfont(str(path))
            except (OSError, RuntimeError, ValueError):
                continue


def token_bars_png(labels: list[str], weights: list[float], xlabel: str, palette: Palette = DEFAULT_PALETTE) -> Png:
    """A horizontal bar chart of the strongest token weights in the for / against colours, each value printed."""
    _ensure_cjk_font()
    n = max(1, len(labels))
    height = int(DPI * (0.45 + 0.22 * n))
    fig = new_figure(height, int(DPI * 3.2))
    ax = fig.add_axes((0.28, 0.35 / (0.45 + 0.22 * n), 0.50, 0.22 * n / (0.45 + 0.22 * n)))
    ys = np.arange(len(weights))[::-1]
    colours = [palette.for_hex if w > 0 else palette.against_hex for w in weights]
    bars = ax.barh(ys, weights, color=colours, height=0.7)
    if palette.hatch:
        for bar, w in zip(bars, weights):
            if w < 0:
                bar.set_hatch("////")
                bar.set_edgecolor("white")
                bar.set_linewidth(0)
    limit = max((abs(w) for w in weights), default=1.0) or 1.0
    ax.set_xlim(-limit * 1.05, limit * 1.05)
    ax.axvline(0, color="#444444", linewidth=0.6)
    ax.set_yticks(ys, [_short(label) for label in labels], fontsize=7, family=TEXT_FAMILIES)
    for y, w in zip(ys, weights):
        ax.text(limit * 1.08, y, signed(w, 3), va="center", ha="left", fontsize=6, family=TEXT_FAMILIES)
    from matplotlib.ticker import MaxNLocator

    ax.xaxis.set_major_locator(MaxNLocator(nbins=4, symmetric=True))  # few ticks: small weights have long labels
    ax.tick_params(axis="x", labelsize=6)
    for side in ("top", "right", "left"):
        ax.spines[side].set_visible(False)
    ax.set_xlabel(xlabel, fontsize=6, family=TEXT_FAMILIES)
    return save_figure(fig)


def _short(label: str, limit: int = 18) -> str:
    return label if len(label) <= limit else label[: limit - 1] + "…"


def curves_png(x: list[float], deletion: list[float], insertion: list[float], random_deletion: list[float],
               random_insertion: list[float], texts: dict[str, str], palette: Palette = DEFAULT_PALETTE) -> Png:  # fmt: skip
    """Deletion (against colour) and insertion (for colour) curves, solid, with their random-order baselines dashed.

    texts: the words of the figure, keys hide, hide_random, reveal, reveal_random, xlabel, ylabel.
    """
    _ensure_cjk_font()  # registers the fonts TEXT_FAMILIES names, so matplotlib does not warn about them
    fig = new_figure(int(DPI * 2.3), int(DPI * 3.0))
    ax = fig.add_axes((0.14, 0.16, 0.83, 0.62))
    # Grey-scale: markers as well as line styles, so the two pairs of lines are told apart without colour.
    hide = {"marker": "v", "markersize": 2.5} if palette.hatch else {}
    reveal = {"marker": "^", "markersize": 2.5} if palette.hatch else {}
    ax.plot(x, deletion, color=palette.against_hex, linewidth=1.4, label=texts["hide"], **hide)
    ax.plot(x, random_deletion, color=palette.against_hex, linewidth=1.0, linestyle="--", label=texts["hide_random"])
    ax.plot(x, insertion, color=palette.for_hex, linewidth=1.4, label=texts["reveal"], **reveal)
    ax.plot(x, random_insertion, color=palette.for_hex, linewidth=1.0, linestyle="--", label=texts["reveal_random"])
    ax.set_xlim(0, 1)
    ax.set_ylim(-0.02, 1.02)
    ax.tick_params(labelsize=6)
    ax.set_xlabel(texts["xlabel"], fontsize=6, family=TEXT_FAMILIES)
    ax.set_ylabel(texts["ylabel"], fontsize=6, family=TEXT_FAMILIES)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    ax.legend(frameon=False, loc="lower left", bbox_to_anchor=(-0.02, 1.02), ncols=2,
              prop={"family": TEXT_FAMILIES, "size": 5.5}, handlelength=1.8, columnspacing=1.2)  # fmt: skip
    return save_figure(fig)
