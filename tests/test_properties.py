"""Property-based tests (issue 7): any config document loads or gives a config error; token spans are exact."""

from __future__ import annotations

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reportgen.config import Config, parse
from reportgen.errors import ConfigError
from reportgen.tokens import tokenize

SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

names = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), min_size=1, max_size=12)
scalars = st.one_of(st.none(), st.booleans(), st.integers(-10**6, 10**6), st.floats(allow_nan=False), names)

valid_explain = st.fixed_dictionaries({}, optional={
    "num_samples": st.integers(10, 5000), "top_labels": st.integers(1, 5), "num_features": st.integers(1, 20),
    "batch_size": st.integers(1, 512), "hide_color": st.one_of(st.integers(0, 255), st.sampled_from(["image_mean", "superpixel_mean"])),
})  # fmt: skip
valid_model = st.fixed_dictionaries(
    {"name": names, "path": st.sampled_from(["m.keras", "models/m.h5"]), "inputs": st.lists(names, min_size=1, max_size=3)},
    optional={"classes": st.lists(names, min_size=1, max_size=4, unique=True), "explain": valid_explain,
              "output": st.sampled_from(["auto", "probabilities", "logits", "sigmoid"])},
)  # fmt: skip
valid_config = st.fixed_dictionaries(
    {"models": st.lists(valid_model, min_size=1, max_size=3, unique_by=lambda m: m["name"])},
    optional={"title": names, "seed": st.integers(0, 2**32 - 1), "formats": st.sampled_from([["html"], ["pdf"], ["html", "pdf"]]),
              "output": names},
)  # fmt: skip

keys = st.sampled_from(["title", "output", "seed", "models", "formats", "name", "path", "inputs", "explain", "kind",
                        "classes", "num_samples", "preprocess", "size", "limits", "cache", "modles", "sed"])  # fmt: skip
documents = st.recursive(
    scalars, lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(st.one_of(keys, names), inner, max_size=5)),
    max_leaves=25,
)  # fmt: skip


@SETTINGS
@given(valid_config)
def test_valid_documents_load(document):
    config = parse(yaml.safe_dump(document, allow_unicode=True), "c.yaml")
    assert isinstance(config, Config) and len(config.models) == len(document["models"])


@SETTINGS
@given(st.one_of(documents, valid_config.flatmap(lambda d: st.just(d) | st.builds(_mutate, st.just(d), keys, scalars))))
def test_any_document_loads_or_is_a_config_error(document):
    try:
        parse(yaml.safe_dump(document, allow_unicode=True), "c.yaml")
    except ConfigError as exc:
        message = str(exc)
        assert message.startswith("c.yaml: ") and "Traceback" not in message


def _mutate(document: dict, key: str, value: object) -> dict:
    """A valid document with one key set to something else (often invalid)."""
    changed = dict(document)
    target = changed if key in ("title", "seed", "formats", "output", "sed", "limits", "cache") else dict(changed["models"][0])
    target[key] = value
    if target is not changed:
        changed["models"] = [target, *changed["models"][1:]]
    return changed


@SETTINGS
@given(st.text(max_size=200))
def test_arbitrary_yaml_text_loads_or_is_a_config_error(text):
    try:
        parse(text, "c.yaml")
    except ConfigError as exc:
        assert str(exc).startswith("c.yaml: ")


@SETTINGS
@given(st.text(max_size=300), st.sampled_from(["words", "chars", r"regex:\S+", r"regex:[a-z]+|\d"]))
def test_token_spans_reproduce_the_text(text, spec):
    tokens = tokenize(text, spec)
    end = 0
    for token in tokens:
        assert text[token.start : token.end] == token.text and token.text
        assert token.start >= end  # in order, never overlapping
        end = token.end
