"""One runner per kind of model: loaded and compiled once, then asked to explain each of its inputs."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Optional

import numpy as np

from reportgen import evidence as ev
from reportgen.config import Limits, Trust
from reportgen.errors import InputError, ModelError
from reportgen.resolve import InputSpec, ResolvedModel

STAGES = ("segmentation_s", "perturb_s", "model_s", "fit_s", "total_s")


class _Runner:
    """What both kinds share: the model loaded safely, its output handling, classes and compiled predictor."""

    def __init__(self, resolved: ResolvedModel, seed: int, limits: Limits) -> None:
        from reportgen import model as km

        entry = resolved.entry
        self.resolved, self.seed, self.rel, self.limits = resolved, seed, resolved.rel_path, limits
        self.model = self._load()
        self.info = km.inspect(self.model)
        self.output_mode, transform, n_classes = km.output_transform(entry.output, self.info, self.rel)
        classes = resolved.classes
        if classes is None and entry.application is not None and n_classes == 1000:
            from reportgen.applications import imagenet_classes

            classes = imagenet_classes()
        classes = classes or [str(i) for i in range(n_classes)]
        if len(classes) != n_classes:
            one_unit = self.info.num_outputs == 1 and self.output_mode == "sigmoid"
            extra = " (one sigmoid unit: two classes, negative first)" if one_unit else ""
            raise ModelError(f"{self.rel}: {len(classes)} class names given but the model has {n_classes} outputs{extra}")
        self.classes = list(classes)
        self.settings = entry.explain.model_copy(update={"top_labels": min(entry.explain.top_labels, len(classes))})
        self.trust = entry.trust or Trust()
        self._transform = transform
        self._randomised: Any = None
        self._sanity_skipped: Optional[str] = None

    def _load(self) -> Any:
        """The model as the config names it: a file, or a keras.applications network, cut to the chosen output."""
        from reportgen import model as km

        entry, resolved = self.resolved.entry, self.resolved
        if entry.application is not None:
            from reportgen.applications import build_application

            weights = "imagenet" if entry.weights == "imagenet" else resolved.path
            model = build_application(entry.application, weights, resolved.rel_path)
        else:
            model = km.load_model(resolved.path, resolved.rel_path, trusted=entry.trust_model)
        return km.select_output(model, entry.output_name, resolved.rel_path)

    def _build_predictor(self, input_shape: Optional[tuple[int, ...]]) -> None:
        """The compiled model call, for inputs of this concrete shape (default: the model's own)."""
        from reportgen import model as km

        shape = input_shape or self.info.input_shape
        if any(d is None for d in shape):
            raise ModelError(f"{self.rel}: the model takes inputs of any size {shape}; say which size to use")
        self.predictor = km.Predictor(self.model, self._transform, self.resolved.entry.explain.batch_size, shape)
        self._input_shape = shape

    def randomised_predictor(self) -> Any:
        """The compiled call of a weight-randomised copy of the model (for the sanity check), built once."""
        if self._randomised is None:
            from reportgen import model as km
            from reportgen.explain.trust import randomised_copy

            copy = randomised_copy(self.model, self.seed, reload=self._load)
            self._randomised = km.Predictor(copy, self._transform, self.predictor.batch_size, self._input_shape)
        return self._randomised

    def _measure(self, result: Any, to_predict: Callable[[Any], Callable[..., np.ndarray]]) -> float:
        """Put the trust metrics into the result's explanations; returns the seconds they took (metrics_s)."""
        import time

        from reportgen.explain.trust import SanityUnavailable, attach, measure

        began = time.perf_counter()
        sanity = None
        if self.resolved.entry.sanity_check and self._sanity_skipped is None:
            try:
                sanity = result.problem.with_predict(to_predict(self.randomised_predictor())).score
            except SanityUnavailable as exc:
                self._sanity_skipped = str(exc)  # the same for every item: tried once per model
        metrics, spreads = measure(result.problem, result.sample, self.trust, self.seed, self.settings.num_features,
                                   sanity, self._sanity_skipped)  # fmt: skip
        attach(result.explanations, result.sample.fits, metrics, spreads)
        return round(time.perf_counter() - began, 6)

    def complete(self, effective_model: dict[str, Any]) -> None:
        """Write what was read off the model into the effective config."""
        effective_model["output"] = self.output_mode
        effective_model["classes"] = list(self.classes)
        effective_model["explain"]["top_labels"] = self.settings.top_labels

    def _finish(self, result: Any, before: float) -> dict[str, float]:
        timings = dict(result.timings)
        timings["model_s"] = self.predictor.model_seconds - before
        # What is left of the total besides segmentation, model and fit is building perturbed inputs: only the part
        # the model waited for, since images are built in a worker thread while the model runs.
        rest = timings["total_s"] - timings["segmentation_s"] - timings["fit_s"] - timings["model_s"]
        timings["perturb_s"] = max(0.0, rest)
        return {key: round(timings[key], 6) for key in STAGES}


class ImageRunner(_Runner):
    """An image classifier: images resized, preprocessed and explained with LimeImageExplainer."""

    def __init__(self, resolved: ResolvedModel, seed: int, hook: Optional[Callable[..., Any]] = None,
                 limits: Optional[Limits] = None) -> None:  # fmt: skip
        super().__init__(resolved, seed, limits or Limits())
        entry, rel = resolved.entry, self.rel
        if self.info.input_dtype_is_string:
            raise ModelError(f"{rel}: the model takes text (a string input); set kind: text")
        shape = self.info.input_shape
        if len(shape) != 3 or shape[-1] not in (1, 3):
            raise ModelError(f"{rel}: the model takes inputs of shape {shape}; an image model takes (height, width, 1 or 3)")
        height, width, channels = shape
        size = entry.preprocess.size
        if size is None:
            if height is None or width is None:
                raise ModelError(f"{rel}: the model accepts any image size; set preprocess.size")
            size = (int(height), int(width))
        elif (height, width) != (None, None) and tuple(size) != (height, width):
            raise ModelError(f"{rel}: preprocess.size is {list(size)} but the model takes {height}x{width} images")
        color = entry.preprocess.color or ("grayscale" if channels == 1 else "rgb")
        if color == "rgb" and channels == 1:
            raise ModelError(f"{rel}: preprocess.color is rgb but the model takes one channel (grayscale)")
        self.size, self.color, self.channels = tuple(size), color, int(channels)
        self.to_input = self._input_fn(hook)
        self._build_predictor((*self.size, self.channels))

    def _input_fn(self, hook: Optional[Callable[..., Any]]) -> Callable[[np.ndarray], np.ndarray]:
        """uint8 RGB batch -> model input: the hook, a keras.applications preprocess_input, or plain scaling."""
        from reportgen.inputs import scale_batch

        preprocess = self.resolved.entry.preprocess
        if hook is not None:
            from reportgen.hooks import call_image_hook

            shape = (*self.size, self.channels)
            return lambda batch: call_image_hook(hook, batch, preprocess.hook, shape)
        if preprocess.scale in ("unit", "symmetric", "raw"):
            return lambda batch: scale_batch(batch, preprocess.scale, self.channels)
        from reportgen.applications import scale_fn

        keras_scale = scale_fn(preprocess.scale)  # converts the uint8 batch to float32 itself
        return lambda batch: keras_scale(batch[..., : self.channels])

    def complete(self, effective_model: dict[str, Any]) -> None:
        super().complete(effective_model)
        effective_model["preprocess"].update(size=list(self.size), color=self.color)

    def explain(self, spec: InputSpec, item_id: str, sha: str, staging: Path) -> tuple[dict[str, Any], dict[str, float]]:
        """Explain one image; returns the item's fields and its timings; writes its artifacts."""
        from reportgen.explain.image import explain_image
        from reportgen.inputs import load_image

        assert spec.path is not None and spec.rel is not None
        entry = self.resolved.entry
        image = load_image(spec.path, spec.rel, self.size, entry.preprocess.fit, self.color == "grayscale",
                           self.limits.max_image_pixels)  # fmt: skip
        before = self.predictor.model_seconds
        result = explain_image(image.array, self.predictor, self.classes, self.settings, self.seed, prepare=self.to_input)
        timings = self._finish(result, before)  # before the metrics: the stage keys cover the main explanation only
        timings["metrics_s"] = self._measure(result, lambda predictor: predictor)
        image_rel = f"{ev.ARTIFACTS_DIR}/{item_id}/input.png"
        segments_rel = f"{ev.ARTIFACTS_DIR}/{item_id}/segments.png"
        write_png(staging / image_rel, image.array)
        write_png(staging / segments_rel, result.segments)
        fields = {"predictions": result.predictions, "explanations": result.explanations,
                  "image": image_rel, "segments": segments_rel}  # fmt: skip
        return fields, timings


class TextRunner(_Runner):
    """A text classifier that takes raw strings, explained with LimeTextExplainer."""

    def __init__(self, resolved: ResolvedModel, seed: int, hook: Optional[Callable[..., Any]] = None,
                 limits: Optional[Limits] = None) -> None:  # fmt: skip
        super().__init__(resolved, seed, limits or Limits())
        entry, rel = resolved.entry, self.rel
        self.to_input: Callable[[list[str]], np.ndarray]
        if self.info.input_dtype_is_string:
            if entry.vocabulary is not None or hook is not None:
                raise ModelError(f"{rel}: the model takes raw strings; remove vocabulary/hook from its config")
            shape = tuple(int(d) if d is not None else 1 for d in self.info.input_shape)
            self.to_input = lambda texts: np.array(texts, dtype=object).reshape((-1, *shape))
            self._build_predictor(shape)
        elif hook is not None:
            from reportgen.hooks import call_text_hook

            fixed = tuple(entry.max_len if d is None else d for d in self.info.input_shape)
            self.to_input = lambda texts: call_text_hook(hook, texts, entry.preprocess.hook, fixed)
            self._build_predictor(fixed)
        elif entry.vocabulary is not None:
            self.to_input = self._vocabulary_input()
        else:
            raise ModelError(
                f"{rel}: the model takes {self.info.input_shape} numbers, not text; give its vocabulary "
                "(vocabulary: vocab.txt with max_len) or a preprocess.hook that turns strings into its input"
            )

    def _vocabulary_input(self) -> Callable[[list[str]], np.ndarray]:
        from reportgen.vocab import VocabularyEncoder

        entry, rel, shape = self.resolved.entry, self.rel, self.info.input_shape
        if len(shape) != 1:
            raise ModelError(f"{rel}: the model takes inputs of shape {shape}; a token-id model takes (length,)")
        max_len = entry.max_len or shape[0]
        if max_len is None:
            raise ModelError(f"{rel}: the model takes sequences of any length; set max_len")
        if shape[0] is not None and max_len != shape[0]:
            raise ModelError(f"{rel}: max_len is {max_len} but the model takes sequences of {shape[0]} tokens")
        assert entry.vocabulary is not None
        encoder = VocabularyEncoder(self.resolved.folder / entry.vocabulary, entry.vocabulary, entry.tokenizer,
                                    int(max_len), entry.lowercase, entry.oov_index, entry.pad)  # fmt: skip
        # A variable-length model gets a fixed max_len signature too, so it is traced once.
        self._build_predictor((int(max_len),))
        return encoder.encode

    def read_text(self, spec: InputSpec) -> str:
        """The input's text (inline, a table row, or a UTF-8 file) as it is explained: see inputs.normalise_text."""
        from reportgen.inputs import decode_text, normalise_text

        limit = self.limits.max_text_bytes
        where = spec.rel if spec.row is None else f"{spec.rel} row {spec.row}"
        if spec.text is not None:
            return normalise_text(spec.text, where or spec.name, limit)
        assert spec.path is not None and spec.rel is not None
        with open(spec.path, "rb") as f:
            data = f.read(limit + 4)  # never more than the limit (a BOM aside) is read
        if len(data) > limit + 3:
            raise InputError(f"{spec.rel}: over the limit of {limit:,} bytes of text (limits.max_text_bytes)")
        return normalise_text(decode_text(data, spec.rel), spec.rel, limit)

    def explain(self, spec: InputSpec, item_id: str, sha: str, staging: Path) -> tuple[dict[str, Any], dict[str, float]]:
        """Explain one text; returns the item's fields and its timings."""
        from reportgen.explain.text import explain_text

        text = self.read_text(spec)

        def predict(texts: list[str]) -> np.ndarray:
            return self.predictor(self.to_input(list(texts)))

        before = self.predictor.model_seconds
        result = explain_text(text, predict, self.classes, self.settings, self.seed, self.resolved.entry.tokenizer)
        timings = self._finish(result, before)  # before the metrics: the stage keys cover the main explanation only
        timings["metrics_s"] = self._measure(result, lambda predictor: lambda texts: predictor(self.to_input(list(texts))))
        fields = {"predictions": result.predictions, "explanations": result.explanations, "tokens": result.tokens,
                  "text": text}  # fmt: skip
        return fields, timings


def write_png(path: Path, array: np.ndarray) -> None:
    """Write an RGB uint8 image, or a label map as a 16-bit grayscale PNG (values survive exactly)."""
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    if array.dtype == np.uint8:
        Image.fromarray(array, "RGB").save(path, format="PNG")
    else:
        Image.fromarray(array.astype(np.uint16)).save(path, format="PNG")


def make_runner(
    resolved: ResolvedModel, seed: int, hook: Optional[Callable[..., Any]], limits: Optional[Limits] = None
) -> _Runner:
    """The runner for a model entry's kind."""
    if resolved.entry.kind == "text":
        return TextRunner(resolved, seed, hook, limits)
    return ImageRunner(resolved, seed, hook, limits)
