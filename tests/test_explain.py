"""Image explanations: segment labels, lime's random stream kept, every superpixel weighed."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import build_colour_model, colour_image

from reportgen import model as km
from reportgen.config import Explain, Segmentation
from reportgen.explain.image import explain_image, fill_image, perturb_into, segment
from reportgen.inputs import scale_batch


@pytest.mark.parametrize("algorithm", ["slic", "quickshift", "felzenszwalb"])
def test_segments_are_consecutive_from_zero(algorithm):
    image = colour_image((220, 30, 30), size=64)
    image = image + np.random.RandomState(1).randint(0, 20, image.shape).astype(np.uint8)
    labels = segment(image, Segmentation(algorithm=algorithm), seed=0)
    assert labels.shape == (64, 64)
    assert labels.min() == 0
    assert sorted(np.unique(labels)) == list(range(labels.max() + 1))


@pytest.mark.parametrize("photo", ["astronaut", "chelsea", "coffee"])
def test_default_slic_gives_about_fifty_superpixels_on_small_images(photo):
    from skimage import data, transform

    image = (transform.resize(getattr(data, photo)(), (64, 64), anti_aliasing=True) * 255).astype(np.uint8)
    count = segment(image, Segmentation(), seed=0).max() + 1
    assert 35 <= count <= 60


def test_vectorised_perturbation_equals_lime_loop():
    rng = np.random.RandomState(0)
    image = (rng.rand(16, 16, 3) * 255).astype(np.uint8)
    segments = np.repeat(np.arange(8), 32).reshape(16, 16)
    fudged = fill_image(image, segments, "superpixel_mean")
    rows = rng.randint(0, 2, (5, 8))
    out = np.empty((5, 16, 16, 3), np.uint8)
    perturb_into(out, image, fudged, segments, rows)
    for row, got in zip(rows, out):
        expected = image.copy()  # lime 0.2.0.1's data_labels, one sample at a time
        mask = np.zeros(segments.shape, bool)
        for z in np.where(row == 0)[0]:
            mask[segments == z] = True
        expected[mask] = fudged[mask]
        assert np.array_equal(got, expected)


def _predictor(size=32):
    model = build_colour_model(size)
    _mode, transform, _n = km.output_transform("auto", km.inspect(model), "m")
    predictor = km.Predictor(model, transform, batch_size=64)
    return lambda batch: predictor(scale_batch(batch, "unit", 3))


def test_same_seed_gives_stock_lime_explanation():
    from lime import lime_image

    image = colour_image((220, 30, 30), size=32)
    predict = _predictor()
    settings = Explain(num_samples=300, top_labels=2)
    ours = explain_image(image, predict, ["red", "green", "blue"], settings, seed=7)
    stock = lime_image.LimeImageExplainer(random_state=np.random.RandomState(7)).explain_instance(
        image, lambda b: predict(b.astype(np.uint8)), top_labels=2, hide_color=0, num_samples=300,
        segmentation_fn=lambda _img: ours.segments, batch_size=10,
    )  # fmt: skip
    assert [e["index"] for e in ours.explanations] == stock.top_labels
    for explanation in ours.explanations:
        theirs = dict(stock.local_exp[explanation["index"]])
        assert len(explanation["features"]) == len(theirs) == ours.segments.max() + 1
        for feature in explanation["features"]:
            assert feature["weight"] == pytest.approx(theirs[feature["feature"]], abs=1e-9)
        assert explanation["intercept"] == pytest.approx(stock.intercept[explanation["index"]], abs=1e-9)


def test_each_label_keeps_its_own_score_and_the_true_region_wins():
    image = colour_image((220, 30, 30), size=32)
    result = explain_image(image, _predictor(), ["red", "green", "blue"], Explain(num_samples=400), seed=0)
    red, *others = result.explanations
    assert result.predictions[0]["label"] == red["label"] == "red"
    # lime 0.2.0.1 overwrites score and local_prediction with the last label's; each keeps its own here.
    assert all(red["score"] != e["score"] for e in others)
    assert all(red["local_prediction"] != e["local_prediction"] for e in others)
    assert red["local_prediction"] > max(e["local_prediction"] for e in others)
    # The strongest positive superpixel for "red" lies inside the red square.
    top = max(red["features"], key=lambda f: f["weight"])["feature"]
    ys, xs = np.nonzero(result.segments == top)
    assert (image[ys, xs, 0] > 200).mean() > 0.5
    weights = [f["weight"] for f in red["features"]]
    assert weights == sorted(weights, key=abs, reverse=True)
    assert all(isinstance(f["feature"], int) and isinstance(f["weight"], float) for f in red["features"])
