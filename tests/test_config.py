"""Config loading: validation messages name the file and the key; paths resolve against the config's folder."""

from __future__ import annotations

from pathlib import Path

import pytest

from reportgen import config as cfg
from reportgen import resolve
from reportgen.errors import ConfigError

MINIMAL = "models:\n  - name: m\n    path: models/colour.keras\n    inputs: [images/*.png]\n"


def _error(text: str, name: str = "review.yaml") -> str:
    with pytest.raises(ConfigError) as info:
        cfg.parse(text, name)
    return str(info.value)


def test_defaults_are_filled_in():
    config = cfg.parse(MINIMAL, "review.yaml")
    data = cfg.effective(config)
    assert data["formats"] == ["html", "pdf"]
    assert data["seed"] == 0
    explain = data["models"][0]["explain"]
    assert explain["hide_color"] == 0
    assert explain["segmentation"] == {"algorithm": "slic", "n_segments": 50, "compactness": 20.0, "sigma": 1.0}
    assert explain["num_samples"] == 1000


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("models: [{name: m, path: a.keras, inputs: [x.png], preprocess: {size: [64]}}]",
         "review.yaml: models[0].preprocess.size: expected two positive integers"),
        ("models: [{name: m, path: a.keras, inputs: [x.png], preprocess: {size: [64, -1]}}]",
         "review.yaml: models[0].preprocess.size: expected two positive integers"),
        ("models: [{name: m, path: a.keras, inputs: [x.png], colour: red}]", "review.yaml: models[0].colour: unknown key"),
        ("titel: x\nmodels: [{name: m, path: a.keras, inputs: [x.png]}]", "review.yaml: titel: unknown key"),
        ("models: [{name: m, path: a.keras}]", "review.yaml: models[0].inputs: required key is missing"),
        ("models: [{name: m, path: a.keras, inputs: [x.png], explain: {hide_color: 256}}]",
         "review.yaml: models[0].explain.hide_color: expected a value from 0 to 255"),
        ("models: [{name: m, path: a.keras, inputs: [x.png], explain: {segmentation: {algorithm: slic, max_dist: 3}}}]",
         "review.yaml: models[0].explain.segmentation: 'max_dist' is not a parameter of slic"),
        ("models: [{name: m, path: a.keras, inputs: [x.png]}, {name: m, path: b.keras, inputs: [y.png]}]",
         "the name 'm' is used twice"),
        ("models: []", "review.yaml: models: "),
        ("- just\n- a list\n", "review.yaml: expected a mapping"),
        ("title: [unclosed\n", "review.yaml: not valid YAML at line 2"),
    ],
)
def test_errors_name_file_and_key(text, expected):
    message = _error(text)
    assert expected in message
    assert "\n" not in message


def test_yaml_tags_are_not_executed():
    message = _error("title: !!python/object/apply:os.system ['echo pwned']\nmodels: []\n")
    assert "not valid YAML" in message


def test_paths_resolve_against_config_folder(workspace, tmp_path, monkeypatch):
    from conftest import write_config

    path = write_config(workspace, MINIMAL, "paths.yaml")
    monkeypatch.chdir(tmp_path)  # somewhere else entirely
    loaded = resolve.load(path)
    model = loaded.models[0]
    assert model.path == workspace / "models" / "colour.keras"
    assert [f.rel for f in model.inputs] == ["images/broken.png", "images/green_square.png", "images/red_square.png"]
    assert loaded.output_dir == workspace / "report"


@pytest.mark.parametrize(
    ("models", "expected"),
    [
        ("[{name: m, path: models/missing.keras, inputs: [images/*.png]}]",
         "bad.yaml: models[0].path: 'models/missing.keras' does not exist"),
        ("[{name: m, path: models/colour.keras, inputs: [images/*.gif]}]",
         "bad.yaml: models[0].inputs[0]: 'images/*.gif' matches no file"),
        ("[{name: m, path: models/colour.keras, inputs: [images/red_square.png, images/nope.png]}]",
         "bad.yaml: models[0].inputs[1]: 'images/nope.png' does not exist"),
        ("[{name: m, path: images/red_square.png, inputs: [images/*.png]}]", "is not a .keras or .h5 file"),
    ],
)
def test_missing_files_are_config_errors(workspace, models, expected):
    from conftest import write_config

    path = write_config(workspace, f"models: {models}\n", "bad.yaml")
    with pytest.raises(ConfigError) as info:
        resolve.load(path)
    assert expected in str(info.value)
    assert info.value.exit_code == 2


def test_classes_file(workspace):
    from conftest import write_config

    (workspace / "labels.txt").write_text("red\ngreen\n\nblue\n", encoding="utf-8")
    path = write_config(workspace, MINIMAL.replace("inputs:", "classes_file: labels.txt\n    inputs:"), "cf.yaml")
    assert resolve.load(path).models[0].classes == ["red", "green", "blue"]


def test_output_override_is_relative_to_cwd(workspace, tmp_path, monkeypatch):
    from conftest import write_config

    path = write_config(workspace, MINIMAL, "out.yaml")
    monkeypatch.chdir(tmp_path)
    loaded = resolve.load(path, Path("here"))
    assert loaded.output_dir == tmp_path / "here"


TEXT_MODEL = "models:\n  - name: t\n    kind: text\n    path: m.keras\n    inputs:\n      - {table: %s%s}\n"


def _text_workspace(tmp_path, name, content):
    (tmp_path / "m.keras").write_bytes(b"PK")
    (tmp_path / name).write_text(content, encoding="utf-8")


def test_jsonl_table_rows_become_items(tmp_path):
    _text_workspace(tmp_path, "r.jsonl", '{"id": "a", "body": "Great kettle"}\n\n{"id": "b", "body": "好用"}\n')
    path = tmp_path / "c.yaml"
    path.write_text(TEXT_MODEL % ("r.jsonl", ", column: body, id_column: id"), encoding="utf-8")
    (model,) = resolve.load(path).models
    assert [(s.name, s.text, s.row, s.rel) for s in model.inputs] == [("a", "Great kettle", 1, "r.jsonl"), ("b", "好用", 2, "r.jsonl")]


def test_csv_limit_and_default_ids(tmp_path):
    _text_workspace(tmp_path, "r.csv", "text\nfirst\nsecond\nthird\n")
    path = tmp_path / "c.yaml"
    path.write_text(TEXT_MODEL % ("r.csv", ", limit: 2"), encoding="utf-8")
    (model,) = resolve.load(path).models
    assert [(s.name, s.text) for s in model.inputs] == [("r-1", "first"), ("r-2", "second")]


@pytest.mark.parametrize(
    ("name", "content", "extra", "message"),
    [
        ("r.jsonl", '{"body": "x"}\n', "", "c.yaml: models[0].inputs[0]: r.jsonl: row 1 has no 'text'"),
        ("r.jsonl", "not json\n", "", "r.jsonl: line 1 is not valid JSON"),
        ("r.csv", "body\nx\n", "", "r.csv: no column 'text' (its columns: body)"),
        ("r.csv", "text\n", "", "r.csv: the table has no rows"),
        ("r.txt", "text\nx\n", "", "r.txt: a table is a .csv or .jsonl file"),
    ],
)
def test_bad_tables_are_config_errors(tmp_path, name, content, extra, message):
    _text_workspace(tmp_path, name, content)
    path = tmp_path / "c.yaml"
    path.write_text(TEXT_MODEL % (name, extra), encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        resolve.load(path)
    assert message in str(info.value)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("models: [{name: t, kind: text, path: m.keras, inputs: [{text: hi}], explain: {hide_color: 0}}]",
         "'hide_color' is for image models"),
        ("models: [{name: t, path: m.keras, inputs: [x.png], tokenizer: chars}]", "'tokenizer' is for text models"),
        ("models: [{name: t, path: m.keras, inputs: [{text: hi}]}]", "'inputs: text' is for text models"),
        ("models: [{name: t, kind: text, path: m.keras, inputs: [a.txt], tokenizer: 'regex:('}]",
         "models[0].tokenizer: tokenizer regex '(' is not a valid regular expression"),
    ],
)
def test_keys_of_the_other_kind_are_errors(text, expected):
    assert expected in _error(text)
