"""LIME image explanations: lime's random stream and surrogate, with vectorised, batched perturbation."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Callable, Optional, Sequence

import numpy as np

from reportgen.config import Explain, Segmentation
from reportgen.errors import ExplainError
from reportgen.explain import explanation_record, prediction_records
from reportgen.explain.trust import Sample, Surrogate, surrogate

# Kernel width of LimeImageExplainer's default; distances are cosine distances of on/off vectors.
KERNEL_WIDTH = 0.25


@dataclass
class ImageExplanationResult:
    """Everything one image's explanation produced, as plain Python values (no numpy types)."""

    segments: np.ndarray  # (h, w) int32 label map, values 0..S-1; written as an artifact
    predictions: list[dict[str, Any]]
    explanations: list[dict[str, Any]]
    timings: dict[str, float] = field(default_factory=dict)
    problem: Optional[ImageProblem] = None  # for the trust metrics; not part of the evidence
    sample: Optional[Sample] = None


def segment(image: np.ndarray, settings: Segmentation, seed: int) -> np.ndarray:
    """Segment an RGB uint8 image into superpixels labelled 0..S-1 (what lime requires)."""
    from skimage import segmentation as seg

    params = settings.params()
    if settings.algorithm == "slic":
        labels = seg.slic(
            image,
            n_segments=int(params["n_segments"]),
            compactness=float(params["compactness"]),
            sigma=float(params["sigma"]),
            start_label=0,
            channel_axis=-1,
        )
    elif settings.algorithm == "quickshift":
        labels = seg.quickshift(
            image,
            kernel_size=float(params["kernel_size"]),
            max_dist=float(params["max_dist"]),
            ratio=float(params["ratio"]),
            rng=seed,
        )
    else:
        labels = seg.felzenszwalb(
            image, scale=float(params["scale"]), sigma=float(params["sigma"]), min_size=int(params["min_size"])
        )
    # Relabel to consecutive 0..S-1 in order of first appearance of each value; no algorithm promises it.
    _values, inverse = np.unique(labels, return_inverse=True)
    return inverse.reshape(labels.shape).astype(np.int32)


def fill_image(image: np.ndarray, segments: np.ndarray, hide_color: Any) -> np.ndarray:
    """The image a hidden superpixel is taken from, as lime builds its `fudged_image`."""
    fudged = image.copy()
    if hide_color == "superpixel_mean":
        # lime: each superpixel painted with its own mean colour, truncated to the image's dtype.
        count = np.bincount(segments.ravel())
        for channel in range(3):
            sums = np.bincount(segments.ravel(), weights=image[..., channel].ravel().astype(np.float64))
            fudged[..., channel] = (sums / count)[segments]
    elif hide_color == "image_mean":
        fudged[:] = image.reshape(-1, 3).mean(axis=0)
    else:
        fudged[:] = hide_color
    return fudged


def perturb_into(out: np.ndarray, image: np.ndarray, fudged: np.ndarray, segments: np.ndarray, rows: np.ndarray) -> None:
    """Write the perturbed images for `rows` (on/off per superpixel) into `out[:len(rows)]`, without a loop per sample."""
    n = len(rows)
    hidden = rows[:, segments] == 0  # (n, h, w): the segment-index lookup
    np.copyto(out[:n], image)
    np.copyto(out[:n], fudged, where=hidden[..., None])


def stream_scores(
    image: np.ndarray,
    fudged: np.ndarray,
    segments: np.ndarray,
    data: np.ndarray,
    batch_size: int,
    prepare: Optional[Callable[[np.ndarray], Any]],
    predict: Callable[[Any], np.ndarray],
) -> tuple[np.ndarray, float]:
    """The model's scores for every row of `data`, and the seconds the worker spent building inputs.

    A worker thread builds (and prepares) batch k+1 while the model runs on batch k, so perturbation hides
    behind the model; two reused buffers hold the only perturbed images that exist at any time.
    """
    from concurrent.futures import ThreadPoolExecutor

    size = min(batch_size, len(data))
    keep = data.astype(np.uint8)  # 1 byte per superpixel: the (batch, h, w) lookup stays small at 299x299
    buffers = [np.empty((size, *image.shape), np.uint8) for _ in range(2)]
    build_s = 0.0

    def build(k: int) -> Any:
        nonlocal build_s
        began = time.perf_counter()
        rows = keep[k * size : (k + 1) * size]
        batch = buffers[k % 2][: len(rows)]
        perturb_into(batch, image, fudged, segments, rows)
        prepared = batch if prepare is None else prepare(batch)
        build_s += time.perf_counter() - began
        return prepared

    count = -(-len(data) // size)
    outputs = []
    # Buffer k % 2 is rewritten only after the model is done with batch k: build(k + 2) is submitted after predict(k).
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="reportgen-perturb") as pool:
        pending = pool.submit(build, 0)
        for k in range(count):
            batch = pending.result()
            if k + 1 < count:
                pending = pool.submit(build, k + 1)
            outputs.append(np.asarray(predict(batch)))
    return np.concatenate(outputs, axis=0), build_s


def draw_rows(random_state: np.random.RandomState, num_samples: int, num_features: int) -> np.ndarray:
    """lime's on/off matrix: uniform 0/1 draws, row 0 all on (the image itself)."""
    data = random_state.randint(0, 2, num_samples * num_features).reshape((num_samples, num_features))
    data[0, :] = 1
    return data


def check_scores(labels: np.ndarray, num_samples: int, num_classes: int) -> None:
    """The model's scores have one finite value per sample and class."""
    if labels.shape != (num_samples, num_classes):
        raise ExplainError(f"the model gave outputs of shape {labels.shape[1:]} for {num_classes} classes")
    if not np.all(np.isfinite(labels)):
        raise ExplainError("the model returned NaN or infinite scores")


def cosine_to_input(data: np.ndarray) -> np.ndarray:
    """lime's distances: cosine distance of each on/off row to the all-on row."""
    from sklearn.metrics import pairwise_distances

    return pairwise_distances(data, data[0].reshape(1, -1), metric="cosine").ravel()


@dataclass
class ImageProblem:
    """One image's superpixels as on/off rows, scored by the model; what the trust metrics re-run (trust.Problem)."""

    image: np.ndarray
    fudged: np.ndarray
    segments: np.ndarray
    batch_size: int
    prepare: Optional[Callable[[np.ndarray], Any]]
    predict: Callable[[Any], np.ndarray]
    num_classes: int
    base: Any  # the surrogate (FastLimeBase), with lime's kernel

    @property
    def num_features(self) -> int:
        return int(self.segments.max()) + 1

    def score(self, rows: np.ndarray) -> np.ndarray:
        """The model's probabilities for on/off rows, through the same streamed, batched path as the main run."""
        labels, _ = stream_scores(self.image, self.fudged, self.segments, rows, self.batch_size, self.prepare, self.predict)
        check_scores(labels, len(rows), self.num_classes)
        return labels

    def with_predict(self, predict: Callable[[Any], np.ndarray]) -> ImageProblem:
        """The same problem scored by another model (the sanity check's randomised copy)."""
        from dataclasses import replace

        return replace(self, predict=predict)

    def neighbourhood(self, random_state: np.random.RandomState, num_samples: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """lime's sample from this random state, on the main run's segmentation."""
        data = draw_rows(random_state, num_samples, self.num_features)
        return data, self.score(data), cosine_to_input(data)

    def kernel(self, distances: np.ndarray) -> np.ndarray:
        """lime's sample weights."""
        return np.asarray(self.base.kernel_fn(distances))

    def fit(self, data: np.ndarray, labels: np.ndarray, distances: np.ndarray, label: int) -> Surrogate:
        """lime's surrogate for one label, on every superpixel (as the main run fits it)."""
        n = self.num_features
        return surrogate(label, n, self.base.explain_instance_with_data(data, labels, distances, label, n, feature_selection="none"))


def explain_image(
    image: np.ndarray,
    predict: Callable[[np.ndarray], np.ndarray],
    classes: Sequence[str],
    settings: Explain,
    seed: int,
    prepare: Optional[Callable[[np.ndarray], Any]] = None,
) -> ImageExplanationResult:
    """Explain one RGB uint8 image; `predict` maps `prepare(uint8 batch)` (default: the batch) to probabilities."""
    from lime import lime_image

    timings: dict[str, float] = {}
    began = time.perf_counter()
    explainer = lime_image.LimeImageExplainer(
        kernel_width=KERNEL_WIDTH, feature_selection="none", random_state=np.random.RandomState(seed)
    )
    random_state = explainer.random_state
    from reportgen.explain.surrogate import FastLimeBase

    # lime's surrogate, solved from moments shared by every label (same numbers to 1e-9, in milliseconds).
    explainer.base = FastLimeBase(explainer.base.kernel_fn, verbose=False, random_state=explainer.base.random_state)
    # Stock lime draws a segmentation seed first when none is given; draw it too, so the stream stays lime's.
    segmentation_seed = int(random_state.randint(0, high=1000))

    t = time.perf_counter()
    segments = segment(image, settings.segmentation, segmentation_seed)
    timings["segmentation_s"] = time.perf_counter() - t
    n_features = int(segments.max()) + 1
    if n_features < 2:
        raise ExplainError("segmentation found a single superpixel; nothing to compare (try more segments)")

    fudged = fill_image(image, segments, settings.hide_color)
    problem = ImageProblem(image, fudged, segments, settings.batch_size, prepare, predict, len(classes), explainer.base)
    data = draw_rows(random_state, settings.num_samples, n_features)

    labels, timings["build_s"] = stream_scores(image, fudged, segments, data, settings.batch_size, prepare, predict)
    check_scores(labels, settings.num_samples, len(classes))

    t = time.perf_counter()
    distances = cosine_to_input(data)
    top = [int(i) for i in np.argsort(labels[0])[-settings.top_labels :][::-1]]
    explanations, fits = [], []
    for label in top:
        # Fitted on every superpixel (num_features = S), so the evidence holds each one's weight.
        fit = problem.fit(data, labels, distances, label)
        features = [{"feature": f, "weight": w} for f, w in zip(fit.order, fit.weights)]
        explanations.append(explanation_record(classes, label, fit.intercept, fit.score, fit.local_prediction, features))
        fits.append(fit)
    timings["fit_s"] = time.perf_counter() - t

    predictions = prediction_records(classes, labels[0])
    timings["total_s"] = time.perf_counter() - began
    sample = Sample(data, labels, distances, fits)
    return ImageExplanationResult(segments, predictions, explanations, timings, problem, sample)
