"""Text models that take token ids: through a vocabulary file, or through a hook."""

from __future__ import annotations

import json

import numpy as np
import pytest
from conftest import write_config
from test_cli import reportgen

VOCAB = ["<pad>", "[UNK]", "good", "bad", "phone", "screen"]


def build_id_model(length):
    """Embedding of token ids with hand-set weights: 'good' (2) pushes positive, 'bad' (3) negative."""
    import keras

    inputs = keras.Input((length,), dtype="int32")
    embed = keras.layers.Embedding(len(VOCAB), 1, name="embed")
    dense = keras.layers.Dense(2, activation="softmax", name="sentiment")
    model = keras.Model(inputs, dense(keras.layers.GlobalAveragePooling1D()(embed(inputs))))
    table = np.zeros((len(VOCAB), 1), np.float32)
    table[2, 0], table[3, 0] = 1.0, -1.0
    embed.set_weights([table])
    dense.set_weights([np.array([[-6.0, 6.0]], np.float32), np.zeros(2, np.float32)])
    return model


@pytest.fixture(scope="module")
def id_workspace(workspace):
    build_id_model(6).save(workspace / "models" / "ids.keras")
    build_id_model(None).save(workspace / "models" / "ids_any.keras")
    (workspace / "vocab.txt").write_text("\n".join(VOCAB) + "\n", encoding="utf-8")
    (workspace / "prep.py").write_text(
        "import numpy as np\n"
        "WORDS = {'good': 2, 'bad': 3}\n"
        "def ids(texts):\n"
        "    out = np.zeros((len(texts), 6), np.int32)\n"
        "    for i, t in enumerate(texts):\n"
        "        found = [WORDS.get(w.strip(',.').lower(), 1) for w in t.split()][:6]\n"
        "        out[i, :len(found)] = found\n"
        "    return out\n",
        encoding="utf-8",
    )
    return workspace


CONFIG = """\
title: Token ids
output: out/{name}
formats: [html]
models:
  - name: ids
    kind: text
    path: models/{model}
    classes: [negative, positive]
{extra}
    inputs:
      - text: Good phone, bad screen, GOOD price.
    explain: {{num_samples: 200, top_labels: 1, num_features: 4}}
"""


@pytest.mark.parametrize(
    ("name", "model", "extra"),
    [
        ("vocab", "ids.keras", "    vocabulary: vocab.txt\n    oov_index: 1"),
        ("vocab-any-length", "ids_any.keras", "    vocabulary: vocab.txt\n    max_len: 6\n    pad: pre"),
        ("hook", "ids.keras", "    preprocess: {hook: 'prep.py:ids'}"),
    ],
)
def test_token_id_models_are_explained(id_workspace, name, model, extra):
    config = write_config(id_workspace, CONFIG.format(name=name, model=model, extra=extra), f"{name}.yaml")
    result = reportgen("run", str(config))
    assert result.returncode == 0, result.stdout + result.stderr
    evidence = json.loads((id_workspace / "out" / name / "evidence.json").read_text(encoding="utf-8"))
    (item,) = evidence["models"][0]["items"]
    assert item["predictions"][0]["label"] == "positive"  # good twice, bad once
    (explanation,) = item["explanations"]
    weights = {f["feature"]: f["weight"] for f in explanation["features"]}
    assert weights["bad"] < 0
    strongest = explanation["features"][0]["feature"]
    assert strongest.lower() in ("good", "bad")


def test_token_id_model_without_vocabulary_says_what_to_add(id_workspace):
    config = write_config(id_workspace, CONFIG.format(name="novocab", model="ids.keras", extra=""), "novocab.yaml")
    result = reportgen("run", str(config))
    assert result.returncode == 1
    evidence = json.loads((id_workspace / "out" / "novocab" / "evidence.json").read_text(encoding="utf-8"))
    assert "give its vocabulary" in evidence["models"][0]["error"]


def test_vocabulary_encoder_pads_truncates_and_maps_unknown_words(tmp_path):
    from reportgen.vocab import VocabularyEncoder

    (tmp_path / "v.txt").write_text("\n".join(VOCAB), encoding="utf-8")
    post = VocabularyEncoder(tmp_path / "v.txt", "v.txt", "words", 4, True, 1, "post")
    assert post.encode(["Good zebra", "good bad phone screen good"]).tolist() == [[2, 1, 0, 0], [2, 3, 4, 5]]
    pre = VocabularyEncoder(tmp_path / "v.txt", "v.txt", "words", 4, False, 1, "pre")
    assert pre.encode(["Good bad"]).tolist() == [[0, 0, 1, 3]]  # case kept: 'Good' is unknown
