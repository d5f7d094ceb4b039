"""Train the shipped sample image model: a small Keras 3 CNN that tells
circles, squares and triangles apart.

The data is synthetic and generated offline: a filled shape (random colour,
size, position, rotation and slight stretch) is alpha-blended onto a random
crop of one of scikit-image's *bundled* photos (images that ship inside the
scikit-image wheel, so nothing is downloaded).  The background varies, so
the only region that decides the class is the shape itself.

Input contract (matches ``samples/demo.yaml``): 64x64 RGB, float32 in 0..1.
Scaling happens outside the model (``scale: unit``); the model contains no
Lambda layers or custom objects and loads with
``keras.saving.load_model(path, safe_mode=True, compile=False)``.

Run from anywhere::

    python samples/train_image_model.py [--out samples/models/shapes.keras]

Training is deterministic: two runs give the same held-out accuracy.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from _determinism import configure_determinism  # noqa: E402

#: Class names, in the model's output order.
CLASSES = ("circle", "square", "triangle")

#: scikit-image sample photos used as backgrounds.  Every one of these ships
#: inside the scikit-image wheel (verified with the network disabled on
#: scikit-image 0.26), so ``skimage.data.<name>()`` never downloads anything.
BACKGROUNDS = (
    "astronaut",
    "camera",
    "coffee",
    "chelsea",
    "rocket",
    "coins",
    "moon",
    "grass",
    "gravel",
    "brick",
    "immunohistochemistry",
    "hubble_deep_field",
    "clock",
    "page",
)

SIZE = 64  # model input size (pixels)
SUPERSAMPLE = 4  # antialiasing factor used when rasterising shapes

TRAIN_SEED = 0
TEST_SEED = 1
AUG_SEED = 2
N_TRAIN_PER_CLASS = 1800
N_TEST_PER_CLASS = 200  # 600 held-out images


# --------------------------------------------------------------------------
# Synthetic data
# --------------------------------------------------------------------------


def load_backgrounds() -> list[np.ndarray]:
    """Return the bundled skimage photos as float32 RGB arrays in 0..1."""
    import skimage.data
    from skimage import img_as_float32

    out = []
    for name in BACKGROUNDS:
        img = img_as_float32(getattr(skimage.data, name)())
        if img.ndim == 2:
            img = np.stack([img] * 3, axis=-1)
        out.append(np.ascontiguousarray(img[..., :3], dtype=np.float32))
    return out


def random_background(rng: np.random.Generator, backgrounds, size=(SIZE, SIZE)) -> np.ndarray:
    """A random, randomly scaled crop of one background photo, with a
    little brightness/contrast/colour jitter.  ``size`` is (height, width)."""
    from skimage.transform import resize

    h_out, w_out = size
    img = backgrounds[rng.integers(len(backgrounds))]
    h, w = img.shape[:2]
    # crop covering between ~0.75x and ~3x the output size (i.e. zoom in/out)
    aspect = w_out / h_out
    max_ch = int(min(h, w / aspect, 3 * h_out))
    ch = int(rng.integers(int(0.75 * h_out), max_ch + 1))
    cw = max(1, int(round(ch * aspect)))
    top = int(rng.integers(0, h - ch + 1))
    left = int(rng.integers(0, w - cw + 1))
    crop = img[top : top + ch, left : left + cw]
    crop = resize(crop, (h_out, w_out), anti_aliasing=True, order=1, mode="reflect")
    if rng.random() < 0.5:
        crop = crop[:, ::-1]
    if rng.random() < 0.2:
        crop = crop[::-1]
    contrast = rng.uniform(0.6, 1.2)
    bright = rng.uniform(-0.15, 0.15)
    tint = rng.uniform(-0.08, 0.08, size=3)
    crop = (crop - 0.5) * contrast + 0.5 + bright + tint
    return np.clip(crop, 0.0, 1.0).astype(np.float32)


def shape_mask(
    kind: str,
    center: tuple[float, float],
    size: float,
    angle: float,
    stretch: float,
    shape=(SIZE, SIZE),
    ss: int = SUPERSAMPLE,
) -> np.ndarray:
    """Antialiased coverage mask (float32, 0..1) of one filled shape.

    ``size`` is the circle's diameter; squares and triangles are scaled to a
    comparable visual size.  ``angle`` is in radians, ``stretch`` scales the
    horizontal axis (mild anisotropy, so resized non-square images still look
    familiar).  Drawn on a ``ss``-times finer grid and box-filtered down.
    """
    from skimage import draw

    h, w = shape
    H, W = h * ss, w * ss
    cy, cx = (center[0] + 0.5) * ss - 0.5, (center[1] + 0.5) * ss - 0.5
    big = np.zeros((H, W), dtype=np.float32)
    if kind == "circle":
        r = size / 2 * ss
        rr, cc = draw.ellipse(cy, cx, r, r * stretch, shape=(H, W))
    else:
        if kind == "square":
            radius, n = size / 2 * 1.2, 4  # side ~0.85 * size
        elif kind == "triangle":
            radius, n = size / 2 * 1.3, 3  # side ~1.13 * size
        else:
            raise ValueError(kind)
        t = angle + 2 * np.pi * np.arange(n) / n
        ys = cy + radius * ss * np.sin(t)
        xs = cx + radius * ss * np.cos(t) * stretch
        rr, cc = draw.polygon(ys, xs, shape=(H, W))
    big[rr, cc] = 1.0
    return big.reshape(h, ss, w, ss).mean(axis=(1, 3))


def extent(kind: str, size: float, stretch: float) -> float:
    """Radius of a circle that safely encloses the shape."""
    factor = {"circle": 0.5, "square": 0.6, "triangle": 0.65}[kind]
    return size * factor * max(1.0, stretch)


def composite(bg: np.ndarray, mask: np.ndarray, colour: np.ndarray) -> np.ndarray:
    a = mask[..., None]
    return bg * (1.0 - a) + colour[None, None, :] * a


def pick_colour(rng, bg, mask, min_diff=0.3, tries=30) -> np.ndarray:
    """Random colour that stands out from the background under the shape."""
    sel = mask > 0.5
    under = bg[sel].mean(axis=0) if sel.any() else bg.reshape(-1, 3).mean(axis=0)
    colour = rng.uniform(0.0, 1.0, size=3)
    for _ in range(tries):
        if np.abs(colour - under).max() >= min_diff:
            break
        colour = rng.uniform(0.0, 1.0, size=3)
    return colour.astype(np.float32)


def render(
    bg: np.ndarray,
    kind: str,
    center: tuple[float, float],
    size: float,
    angle: float = 0.0,
    stretch: float = 1.0,
    colour=None,
    rng: np.random.Generator | None = None,
    min_diff: float = 0.3,
    noise: float = 0.0,
) -> np.ndarray:
    """Draw one antialiased filled shape onto ``bg`` (float RGB, 0..1).

    If ``colour`` is None a random colour that contrasts with the background
    under the shape is drawn from ``rng``.
    """
    mask = shape_mask(kind, center, size, angle, stretch, shape=bg.shape[:2])
    if colour is None:
        colour = pick_colour(rng, bg, mask, min_diff=min_diff)
    img = composite(bg, mask, np.asarray(colour, dtype=np.float32))
    if noise > 0:
        img = img + (rng or np.random.default_rng(0)).normal(0.0, noise, size=img.shape)
    return np.clip(img, 0.0, 1.0).astype(np.float32)


def make_example(
    rng: np.random.Generator,
    backgrounds,
    kind: str,
    out_size=(SIZE, SIZE),
    size_range=(14.0, 40.0),
    min_diff: float = 0.3,
) -> np.ndarray:
    """One random float32 RGB image (0..1) of ``out_size`` with one shape.

    Sizes are given in 64-pixel units and scaled to ``out_size`` so that a
    larger image resized back to 64x64 looks like the training data.
    """
    h, w = out_size
    scale = min(h, w) / SIZE
    bg = random_background(rng, backgrounds, out_size)
    size = rng.uniform(*size_range) * scale
    stretch = rng.uniform(0.85, 1.18)
    angle = rng.uniform(0, 2 * np.pi)
    r = extent(kind, size, stretch) + 1
    cy = rng.uniform(r, h - 1 - r)
    cx = rng.uniform(r, w - 1 - r)
    return render(
        bg, kind, (cy, cx), size, angle, stretch,
        rng=rng, min_diff=min_diff, noise=rng.uniform(0.0, 0.02),
    )


def to_uint8(img: np.ndarray) -> np.ndarray:
    return np.clip(np.round(img * 255.0), 0, 255).astype(np.uint8)


def make_dataset(seed: int, per_class: int, backgrounds) -> tuple[np.ndarray, np.ndarray]:
    """Balanced, shuffled dataset.  Images are quantised to uint8 (as a PNG
    would be; divide by 255 for the model), labels are int32."""
    rng = np.random.default_rng(seed)
    labels = np.repeat(np.arange(len(CLASSES), dtype=np.int32), per_class)
    rng.shuffle(labels)
    x = np.empty((len(labels), SIZE, SIZE, 3), dtype=np.uint8)
    for i, y in enumerate(labels):
        x[i] = to_uint8(make_example(rng, backgrounds, CLASSES[y]))
    return x, labels


def unit(x: np.ndarray) -> np.ndarray:
    """uint8 -> float32 in 0..1 (reportgen's ``scale: unit``)."""
    return x.astype(np.float32) / 255.0


# --------------------------------------------------------------------------
# Model
# --------------------------------------------------------------------------


def build_model():
    """Four 3x3 conv layers (3 max-pools) and a global *max* pool: the class
    is decided by the strongest local evidence (corners, curved edges)
    anywhere in the image, which suits a single shape on clutter.

    The first layer is a fixed, weightless ``Rescaling`` that maps the
    unit-scaled input (0..1, done outside the model) to -1..1; zero-centred
    inputs make training start reliably.  It is a built-in layer, so the
    model still loads with ``safe_mode=True``.
    """
    import keras
    from keras import layers

    inputs = keras.Input(shape=(SIZE, SIZE, 3), dtype="float32", name="image")
    x = layers.Rescaling(2.0, offset=-1.0, name="center")(inputs)
    for i, filters in enumerate((16, 24, 48)):
        x = layers.Conv2D(filters, 3, padding="same", activation="relu", name=f"conv{i + 1}")(x)
        x = layers.MaxPooling2D(2, name=f"pool{i + 1}")(x)
    x = layers.Conv2D(64, 3, padding="same", activation="relu", name="conv4")(x)
    x = layers.GlobalMaxPooling2D(name="global_max")(x)
    x = layers.Dense(64, activation="relu", name="dense")(x)
    outputs = layers.Dense(len(CLASSES), activation="softmax", name="probs")(x)
    return keras.Model(inputs, outputs, name="shapes_cnn")


def dihedral(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Random rotation by a multiple of 90 degrees and/or mirror, per image
    (the classes are invariant to both).  Cheap, deterministic augmentation."""
    out = np.empty_like(x)
    which = rng.integers(0, 8, size=len(x))
    for k in range(8):
        idx = np.flatnonzero(which == k)
        v = np.rot90(x[idx], k % 4, axes=(1, 2))
        out[idx] = v[:, :, ::-1] if k >= 4 else v
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--out",
        type=Path,
        default=HERE / "models" / "shapes.keras",
        help="where to save the model (default: samples/models/shapes.keras)",
    )
    parser.add_argument("--epochs", type=int, default=9)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    configure_determinism(args.seed)
    import keras

    t0 = time.perf_counter()
    backgrounds = load_backgrounds()
    x_train, y_train = make_dataset(TRAIN_SEED, N_TRAIN_PER_CLASS, backgrounds)
    x_test, y_test = make_dataset(TEST_SEED, N_TEST_PER_CLASS, backgrounds)
    t_data = time.perf_counter() - t0
    print(f"data: {len(x_train)} train / {len(x_test)} held-out images ({t_data:.1f}s)")

    model = build_model()
    steps_per_epoch = int(np.ceil(len(x_train) / args.batch_size))
    warmup = 200
    lr = keras.optimizers.schedules.CosineDecay(
        args.lr / 10,
        decay_steps=args.epochs * steps_per_epoch - warmup,
        alpha=0.02,
        warmup_target=args.lr,
        warmup_steps=warmup,
    )
    model.compile(
        optimizer=keras.optimizers.Adam(lr),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    aug_rng = np.random.default_rng(AUG_SEED)
    t1 = time.perf_counter()
    for epoch in range(args.epochs):
        model.fit(
            unit(dihedral(x_train, aug_rng)),
            y_train,
            batch_size=args.batch_size,
            epochs=epoch + 1,
            initial_epoch=epoch,
            shuffle=True,
            verbose=2,
        )
    t_fit = time.perf_counter() - t1

    probs = model.predict(unit(x_test), batch_size=256, verbose=0)
    pred = probs.argmax(axis=1)
    acc = float((pred == y_test).mean())
    confusion = np.zeros((len(CLASSES), len(CLASSES)), dtype=int)
    np.add.at(confusion, (y_test, pred), 1)

    out = args.out if args.out.is_absolute() else Path.cwd() / args.out
    out.parent.mkdir(parents=True, exist_ok=True)
    # Save an uncompiled copy: no optimizer state, no compile config, so the
    # file is small and loads with compile=False / safe_mode=True.
    export = build_model()
    export.set_weights(model.get_weights())
    export.save(out)

    print(f"params: {model.count_params()}")
    print("confusion (rows=true, cols=pred, order=%s):" % ", ".join(CLASSES))
    print(confusion)
    print(f"training time: {t_fit:.1f}s (total {time.perf_counter() - t0:.1f}s)")
    print(f"saved: {out} ({out.stat().st_size / 1024:.1f} KiB)")
    print(f"held-out accuracy: {acc:.4f} ({int((pred == y_test).sum())}/{len(y_test)})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
