"""Generate the sample input images in ``samples/images/`` (deterministic).

The images are drawn with the same synthetic generator as the training data
(``train_image_model.py``) but at larger, partly non-square sizes, so that
reportgen has to resize them to the model's 64x64 input.  One image is
deliberately hard (a tiny, low-contrast triangle on a textured background).

    python samples/make_images.py            # write samples/images/*
    python samples/make_images.py --table    # also print predictions of
                                             # samples/models/shapes.keras
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import train_image_model as tim  # noqa: E402

# file name, true class, (height, width), seed.  Sizes are in pixels.
SAMPLES = (
    ("circle_01.png", "circle", (128, 128), 101),
    ("circle_02.png", "circle", (120, 160), 102),
    ("square_01.png", "square", (128, 128), 201),
    ("square_02.jpg", "square", (96, 96), 202),
    ("triangle_01.png", "triangle", (128, 128), 301),
    ("triangle_02.png", "triangle", (160, 120), 302),
)


def easy_image(kind: str, size_hw, seed: int, backgrounds) -> np.ndarray:
    rng = np.random.default_rng(seed)
    # mid-range sizes and a clear colour difference: typical, unambiguous inputs
    return tim.make_example(rng, backgrounds, kind, out_size=size_hw, size_range=(22.0, 34.0), min_diff=0.45)


def hard_small_triangle(backgrounds) -> np.ndarray:
    """A small (about 8 px once resized to 64x64), low-contrast triangle on
    the gravel texture: the model is expected to be wrong or unsure."""
    import skimage.data
    from skimage import img_as_float32
    from skimage.transform import resize

    h, w = 128, 128
    gravel = img_as_float32(skimage.data.gravel())
    bg = resize(gravel[100:356, 150:406], (h, w), anti_aliasing=True)
    bg = np.stack([bg] * 3, axis=-1).astype(np.float32)
    cy, cx = 86.0, 40.0
    under = bg[int(cy) - 8 : int(cy) + 8, int(cx) - 8 : int(cx) + 8].mean(axis=(0, 1))
    colour = np.clip(under + np.array([0.16, 0.12, 0.0], dtype=np.float32), 0, 1)
    return tim.render(bg, "triangle", (cy, cx), size=16.0, angle=0.3, colour=colour)


def hard_cut_square(backgrounds) -> np.ndarray:
    """A square whose left half is outside the frame (only two corners
    visible), on the coffee photo: the model is expected to be unsure."""
    import skimage.data
    from skimage import img_as_float32
    from skimage.transform import resize

    h, w = 120, 160
    coffee = img_as_float32(skimage.data.coffee())
    bg = resize(coffee[40:340, 120:520], (h, w), anti_aliasing=True).astype(np.float32)
    return tim.render(bg, "square", (62.0, 2.0), size=60.0, angle=np.pi / 4, colour=(0.15, 0.45, 0.85))


def hard_square_corner(backgrounds) -> np.ndarray:
    """Only one corner of a diamond-oriented square pokes into the frame,
    so the visible part is a wedge.  The model never saw cut-off shapes in
    training; it is expected to be wrong here."""
    import skimage.data
    from skimage import img_as_float32
    from skimage.transform import resize

    h, w = 120, 160
    coffee = img_as_float32(skimage.data.coffee())
    bg = resize(coffee[40:340, 120:520], (h, w), anti_aliasing=True).astype(np.float32)
    return tim.render(bg, "square", (62.0, -10.0), size=60.0, angle=0.0, colour=(0.15, 0.45, 0.85))


def build_images(backgrounds) -> list[tuple[str, str, np.ndarray]]:
    out = [(name, kind, easy_image(kind, hw, seed, backgrounds)) for name, kind, hw, seed in SAMPLES]
    out.append(("hard_small_triangle.png", "triangle", hard_small_triangle(backgrounds)))
    out.append(("hard_cut_square.png", "square", hard_cut_square(backgrounds)))
    out.append(("hard_square_corner.png", "square", hard_square_corner(backgrounds)))
    return out


def save(img: np.ndarray, path: Path) -> None:
    from PIL import Image

    pil = Image.fromarray(tim.to_uint8(img), mode="RGB")
    if path.suffix.lower() in (".jpg", ".jpeg"):
        pil.save(path, quality=92, optimize=False, progressive=False)
    else:
        pil.save(path, optimize=False)


def load_for_model(path: Path) -> np.ndarray:
    """What reportgen does for ``size: [64, 64]``, ``color: rgb``, ``scale: unit``."""
    from PIL import Image

    with Image.open(path) as im:
        im = im.convert("RGB").resize((tim.SIZE, tim.SIZE), Image.LANCZOS)
        return np.asarray(im, dtype=np.float32) / 255.0


def prediction_table(model_path: Path, items) -> str:
    tim.configure_determinism(0)
    import keras

    model = keras.saving.load_model(model_path, safe_mode=True, compile=False)
    x = np.stack([load_for_model(p) for p, _ in items])
    probs = model.predict(x, verbose=0)
    lines = [
        "| file | size (w x h) | true class | predicted | p(predicted) | p(circle) | p(square) | p(triangle) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    from PIL import Image

    for (path, kind), p in zip(items, probs):
        k = int(p.argmax())
        with Image.open(path) as im:
            w, h = im.size
        mark = "" if tim.CLASSES[k] == kind else " (wrong)"
        lines.append(
            f"| `{path.name}` | {w} x {h} | {kind} | {tim.CLASSES[k]}{mark} | {p[k]:.3f} | "
            + " | ".join(f"{v:.3f}" for v in p)
            + " |"
        )
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description="Generate samples/images/*")
    parser.add_argument("--out-dir", type=Path, default=HERE / "images")
    parser.add_argument("--model", type=Path, default=HERE / "models" / "shapes.keras")
    parser.add_argument("--table", action="store_true", help="print a markdown table of the model's predictions")
    args = parser.parse_args(argv)

    backgrounds = tim.load_backgrounds()
    args.out_dir.mkdir(parents=True, exist_ok=True)
    items = []
    for name, kind, img in build_images(backgrounds):
        path = args.out_dir / name
        save(img, path)
        items.append((path, kind))
        print(f"wrote {path} ({img.shape[1]}x{img.shape[0]}, {kind})")
    if args.table:
        print()
        print(prediction_table(args.model, items))
    return 0


if __name__ == "__main__":
    sys.exit(main())
