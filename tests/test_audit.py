"""Audit-grade evidence (issue 9): byte-identical reruns, the archival PDF's structure, verify, signatures, cards."""

from __future__ import annotations

import base64
import json
import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import build_colour_model, colour_image
from PIL import Image

from reportgen import cards, provenance
from reportgen import evidence as ev

ROOT = Path(__file__).resolve().parent.parent
HEAVY = ("tensorflow", "keras", "lime")
EPOCH = "1700000000"
CONFIG = """\
title: Audit trail
output: out
seed: 5
trust: {stability_runs: 2, fresh_samples: 50, curve_steps: 4, random_orders: 1}
models:
  - name: colours
    path: models/colour.keras
    classes: [red, green, blue]
    preprocess: {size: [32, 32]}
    inputs: [images/red.png, images/green.png]
    explain: {num_samples: 100, batch_size: 50, top_labels: 1, num_features: 4}
"""
RUN = ("run", "review.yaml", "--out", "out", "--no-cache", "--sign", "keys/signing.pem")
REPORT_FILES = ("evidence.json", "evidence.json.sig", "report.html", "report.pdf", "config.yaml",
                "model-card.md", "model-card-toolkit.json")  # fmt: skip


def reportgen(*args: str, cwd: Path, env: dict | None = None) -> subprocess.CompletedProcess:
    """The CLI in a fresh process, started the way the console script starts it."""
    full_env = {**os.environ, "PYTHONPATH": str(ROOT), "SOURCE_DATE_EPOCH": EPOCH, **(env or {})}
    return subprocess.run([sys.executable, "-m", "reportgen", *args], cwd=cwd, capture_output=True, text=True,
                          env=full_env, timeout=600)  # fmt: skip


def snapshot(folder: Path) -> dict[str, bytes]:
    """Every file of a report folder (but timings.json, which can never repeat), by relative path."""
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file() and p.name != "timings.json" and ".cache" not in p.parts}  # fmt: skip


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    """A project folder with a tiny model, two images, a config and a key pair, run once (signed)."""
    root = tmp_path_factory.mktemp("audit")
    (root / "models").mkdir()
    (root / "images").mkdir()
    build_colour_model().save(root / "models" / "colour.keras")
    Image.fromarray(colour_image((220, 30, 30))).save(root / "images" / "red.png")
    Image.fromarray(colour_image((30, 200, 40))).save(root / "images" / "green.png")
    (root / "review.yaml").write_text(CONFIG, encoding="utf-8")
    (root / "keys").mkdir()
    done = reportgen("keygen", "keys/signing.pem", cwd=root)
    assert done.returncode == 0, done.stderr
    done = reportgen(*RUN, cwd=root)
    assert done.returncode == 0, done.stdout + done.stderr
    return root


@pytest.fixture()
def copy(project, tmp_path) -> Path:
    """A copy of the whole project (report included) that a test may tamper with."""
    target = tmp_path / "project"
    shutil.copytree(project, target, ignore=shutil.ignore_patterns(".cache", ".*.lock"))
    return target


def verify(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return reportgen("verify", *args, cwd=cwd)


# --- reproducible output ---------------------------------------------------------------------------------


def test_two_runs_in_separate_processes_give_the_same_bytes(copy):
    first = snapshot(copy / "out")
    assert set(REPORT_FILES) <= set(first)
    done = reportgen(*RUN, cwd=copy)
    assert done.returncode == 0, done.stderr
    second = snapshot(copy / "out")
    assert sorted(first) == sorted(second)
    different = [name for name in first if first[name] != second[name]]
    assert not different, f"these differ between two runs: {different}"


def test_two_pipeline_runs_in_one_process_give_the_same_bytes(copy, monkeypatch):
    from reportgen import pipeline, resolve

    monkeypatch.setenv("SOURCE_DATE_EPOCH", EPOCH)
    loaded = resolve.load(copy / "review.yaml", copy / "again")
    pipeline.run(loaded, use_cache=False, notice=lambda m: None)
    first = snapshot(copy / "again")
    pipeline.run(loaded, use_cache=False, notice=lambda m: None)
    assert snapshot(copy / "again") == first
    record = json.loads(first["evidence.json"])
    assert "command" not in record  # the pipeline called directly records no command line


def test_the_evidence_records_provenance_and_nothing_private(project):
    text = (project / "out" / "evidence.json").read_text(encoding="utf-8")
    record = json.loads(text)
    assert record["command"] == ["reportgen", *(arg for arg in RUN if arg != "--no-cache")]
    assert record["config_file"] == "review.yaml" and record["config_folder"] == ".."
    assert record["created"] == "2023-11-14T22:13:20Z"
    assert {"python", "tensorflow", "keras", "lime", "numpy", "scikit-image", "weasyprint", "machine"} <= set(
        record["environment"]
    )
    assert record["config_sha256"] == ev.sha256_file(project / "review.yaml")
    assert (project / "out" / "config.yaml").read_bytes() == (project / "review.yaml").read_bytes()
    for private in (str(project), str(Path.home()), os.uname().nodename):
        assert private not in text
    assert os.environ.get("USER", "\0") not in text.replace('"user', "")


def test_the_report_shows_provenance_and_the_evidence_hash(project):
    html = (project / "out" / "report.html").read_text(encoding="utf-8")
    digest = ev.sha256_file(project / "out" / "evidence.json")
    assert digest in html
    assert ev.sha256_file(project / "models" / "colour.keras") in html
    assert ev.sha256_file(project / "images" / "red.png") in html
    assert ev.sha256_file(project / "review.yaml") in html
    assert "reportgen run review.yaml --out out --sign keys/signing.pem" in html
    text = subprocess.run(["pdftotext", str(project / "out" / "report.pdf"), "-"], capture_output=True,
                          text=True, check=True).stdout  # fmt: skip
    assert digest[:32] in text.replace("\n", "")


# --- the archival PDF ------------------------------------------------------------------------------------


def test_the_pdf_is_pdfa3b_and_carries_every_file(project):
    from pypdf import PdfReader

    pdf = project / "out" / "report.pdf"
    listed = subprocess.run(["pdfdetach", "-list", str(pdf)], capture_output=True, text=True, check=True).stdout
    record = json.loads((project / "out" / "evidence.json").read_text(encoding="utf-8"))
    expected = {"evidence.json", "evidence.json.sig", "config.yaml"} | {f"artifacts/{n}" for n in record["artifacts"]}
    assert {line.split(": ", 1)[1] for line in listed.splitlines()[1:]} == expected

    reader = PdfReader(str(pdf))
    catalog = reader.trailer["/Root"]
    xmp = catalog["/Metadata"].get_object().get_data().decode("utf-8")
    assert 'pdfaid:part="3"' in xmp and 'pdfaid:conformance="B"' in xmp
    intent = catalog["/OutputIntents"][0].get_object()
    assert intent["/S"] == "/GTS_PDFA1" and "/DestOutputProfile" in intent
    specs = catalog["/Names"]["/EmbeddedFiles"]["/Names"][1::2]
    relationships = {spec.get_object()["/F"]: spec.get_object()["/AFRelationship"] for spec in specs}
    assert relationships["evidence.json"] == "/Source"
    assert set(relationships.values()) <= {"/Source", "/Data"} and len(relationships) == len(expected)
    types = {spec.get_object()["/F"]: spec.get_object()["/EF"]["/F"].get_object()["/Subtype"] for spec in specs}
    assert types["evidence.json"] == "/application/json" and types["config.yaml"] == "/application/yaml"
    assert types["evidence.json.sig"] == "/text/plain"
    assert all(t == "/image/png" for name, t in types.items() if name.startswith("artifacts/"))
    associated = [ref.idnum for ref in catalog["/AF"]]
    assert len(associated) == len(set(associated)) == len(expected)  # once each (WeasyPrint 70 lists each twice)
    assert {spec.idnum for spec in specs} == set(associated)
    for name, contents in reader.attachments.items():
        assert contents[0] == (project / "out" / name).read_bytes()
    info = subprocess.run(["pdfinfo", str(pdf)], capture_output=True, text=True, check=True).stdout
    assert "Title:           Audit trail" in info
    assert "Subject:         LIME explanations of colours on 2 inputs" in info
    assert "Keywords:        LIME, explanation, trust report, audit evidence, colours" in info


def test_render_report_pdf_rebuilds_the_same_report_from_the_pdf_alone(project, tmp_path):
    alone = tmp_path / "alone.pdf"
    shutil.copy(project / "out" / "report.pdf", alone)
    done = reportgen("render", "alone.pdf", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    rebuilt = tmp_path / "alone-rendered"
    for name in ("evidence.json", "evidence.json.sig", "config.yaml", "report.html", "report.pdf", "model-card.md"):
        assert (rebuilt / name).read_bytes() == (project / "out" / name).read_bytes(), name
    again = reportgen("render", "alone.pdf", "--out", "alone-rendered", cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "notes.txt").write_text("mine")
    refused = reportgen("render", "alone.pdf", "--out", "taken", cwd=tmp_path)
    assert refused.returncode == 2 and "not a report folder" in refused.stderr


# --- verify, signatures and tampering ------------------------------------------------------------------


def test_an_untouched_report_verifies(project):
    for target in ("out", "out/report.pdf"):
        done = verify(target, "--public-key", "keys/signing.pem.pub", cwd=project)
        assert done.returncode == 0, done.stdout + done.stderr
        assert "FAILED" not in done.stdout
        assert "ok      signature: valid Ed25519 signature" in done.stdout
        assert "ok      model colours (models/colour.keras): sha256 matches" in done.stdout
        assert "ok      input colours/red (images/red.png): sha256 matches" in done.stdout
        assert done.stdout.strip().splitlines()[-1].startswith("verified:")


def test_verify_with_root_finds_moved_sources(copy, tmp_path):
    moved = tmp_path / "elsewhere"
    shutil.move(copy / "out", moved)
    done = verify(str(moved), cwd=tmp_path)  # the recorded '..' now points at nothing useful
    assert done.returncode == 0 and "skipped " in done.stdout
    done = verify(str(moved), "--root", str(copy), cwd=tmp_path)
    assert done.returncode == 0 and "ok      model colours" in done.stdout, done.stdout


def test_a_changed_artifact_is_caught(copy):
    png = next((copy / "out" / "artifacts").rglob("input.png"))
    data = bytearray(png.read_bytes())
    data[-20] ^= 1
    png.write_bytes(bytes(data))
    done = verify("out", cwd=copy)
    assert done.returncode == 1
    failed = [line for line in done.stdout.splitlines() if line.startswith("FAILED")]
    assert any(png.relative_to(copy / "out").as_posix() in line for line in failed), done.stdout


def test_a_changed_input_is_caught(copy):
    image = copy / "images" / "green.png"
    Image.fromarray(colour_image((30, 201, 40))).save(image)
    done = verify("out", cwd=copy)
    assert done.returncode == 1
    assert any(line.startswith("FAILED  input colours/green") for line in done.stdout.splitlines()), done.stdout


def test_a_changed_config_is_caught(copy):
    (copy / "out" / "config.yaml").write_text(CONFIG.replace("seed: 5", "seed: 6"), encoding="utf-8")
    done = verify("out", cwd=copy)
    assert done.returncode == 1 and "FAILED  config.yaml" in done.stdout


def _tamper_pdf_evidence(pdf: Path) -> None:
    """Change one byte of the evidence.json the PDF carries (a probability digit), keeping the PDF readable."""
    from pypdf import PdfReader, PdfWriter

    writer = PdfWriter(clone_from=PdfReader(str(pdf)))
    names = writer._root_object["/Names"]["/EmbeddedFiles"]["/Names"]
    for name, spec in zip(names[::2], names[1::2]):
        if name == "evidence.json":
            stream = spec.get_object()["/EF"]["/F"].get_object()
            data = bytearray(stream.get_data())
            at = data.index(b'"probability": 0.') + len(b'"probability": 0.')
            data[at] = ord("1") if data[at] != ord("1") else ord("2")
            stream.set_data(bytes(data))
    with open(pdf, "wb") as handle:
        writer.write(handle)


def test_one_byte_of_the_evidence_inside_the_pdf_is_caught(copy):
    _tamper_pdf_evidence(copy / "out" / "report.pdf")
    alone = verify("out/report.pdf", "--public-key", "keys/signing.pem.pub", cwd=copy)
    assert alone.returncode == 1
    assert "FAILED  signature: does not match evidence.json" in alone.stdout, alone.stdout
    folder = verify("out", cwd=copy)  # unsigned check: the PDF no longer carries the folder's evidence
    assert folder.returncode == 1 and "FAILED  report.pdf evidence.json" in folder.stdout, folder.stdout


def test_a_changed_or_foreign_signature_is_caught(copy):
    sig = copy / "out" / "evidence.json.sig"
    raw = bytearray(base64.b64decode(sig.read_bytes()))
    raw[0] ^= 1
    sig.write_bytes(base64.b64encode(bytes(raw)) + b"\n")
    done = verify("out", "--public-key", "keys/signing.pem.pub", cwd=copy)
    assert done.returncode == 1 and "FAILED  signature" in done.stdout
    assert reportgen("keygen", "keys/other.pem", cwd=copy).returncode == 0
    (copy / "out" / "evidence.json.sig").unlink()
    done = verify("out", "--public-key", "keys/other.pem.pub", cwd=copy)
    assert done.returncode == 1 and "FAILED  signature: no evidence.json.sig" in done.stdout


def test_the_wrong_public_key_is_caught(project, tmp_path):
    assert reportgen("keygen", str(tmp_path / "other.pem"), cwd=tmp_path).returncode == 0
    done = verify("out", "--public-key", str(tmp_path / "other.pem.pub"), cwd=project)
    assert done.returncode == 1 and "FAILED  signature: does not match" in done.stdout


def test_an_edited_evidence_json_is_caught_by_the_signature(copy):
    path = copy / "out" / "evidence.json"
    path.write_text(path.read_text(encoding="utf-8").replace('"title": "Audit trail"', '"title": "Audit trial"'))
    done = verify("out", "--public-key", "keys/signing.pem.pub", cwd=copy)
    assert done.returncode == 1 and "FAILED  signature" in done.stdout


# --- keys ---------------------------------------------------------------------------------------------------


def test_keygen_writes_a_private_key_only_its_owner_reads_and_never_overwrites(tmp_path):
    done = reportgen("keygen", "k.pem", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert stat.S_IMODE((tmp_path / "k.pem").stat().st_mode) == 0o600
    assert b"BEGIN PUBLIC KEY" in (tmp_path / "k.pem.pub").read_bytes()
    before = (tmp_path / "k.pem").read_bytes()
    again = reportgen("keygen", "k.pem", cwd=tmp_path)
    assert again.returncode == 2 and "never overwrites" in again.stderr
    assert (tmp_path / "k.pem").read_bytes() == before


@pytest.mark.parametrize("key", ["missing.pem", "bad.pem"])
def test_a_missing_or_bad_signing_key_is_a_usage_error_before_anything_runs(project, tmp_path, key):
    shutil.copytree(project, tmp_path / "p", ignore=shutil.ignore_patterns("out", ".*"))
    (tmp_path / "p" / "bad.pem").write_text("not a key")
    done = reportgen("run", "review.yaml", "--sign", key, cwd=tmp_path / "p")
    assert done.returncode == 2, done.stderr
    assert f"--sign {key}" in done.stderr and "Traceback" not in done.stderr
    assert not (tmp_path / "p" / "out").exists()


def test_verify_imports_no_heavy_library(project):
    probe = (
        "import sys, runpy\n"
        f"sys.argv = ['reportgen', 'verify', {str(project / 'out')!r}]\n"
        "try:\n    runpy.run_module('reportgen', run_name='__main__')\n"
        "except SystemExit as exc:\n    code = exc.code\n"
        f"print('HEAVY', [m for m in {HEAVY!r} if m in sys.modules], code)\n"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(ROOT)}, timeout=120)  # fmt: skip
    assert "HEAVY [] 0" in done.stdout, done.stdout + done.stderr


# --- model cards ---------------------------------------------------------------------------------------


def _toolkit_schema() -> dict:
    """Model Card Toolkit's schema as kept in schemas/, its one malformed $ref corrected (schemas/README.md)."""
    text = (ROOT / "schemas" / "model_card.schema.json").read_text(encoding="utf-8")
    assert text.count('"#definitions/') == 1
    return json.loads(text.replace('"#definitions/', '"#/definitions/'))


def test_the_toolkit_fragment_follows_the_model_card_toolkit_schema(project):
    import jsonschema

    fragment = json.loads((project / "out" / "model-card-toolkit.json").read_text(encoding="utf-8"))
    jsonschema.Draft7Validator(_toolkit_schema()).validate(fragment)
    graphics = fragment["quantitative_analysis"]["graphics"]["collection"]
    assert len(graphics) == 2
    assert all(base64.b64decode(g["image"]).startswith(b"\x89PNG\r\n\x1a\n") for g in graphics)
    limitations = fragment["considerations"]["limitations"]
    assert any("linear surrogate" in item["description"] for item in limitations)
    broken = json.loads(json.dumps(fragment))
    broken["quantitative_analysis"]["graphics"]["collection"][0]["image"] = 5
    assert list(jsonschema.Draft7Validator(_toolkit_schema()).iter_errors(broken))


def test_the_model_card_section_links_the_report_files(project):
    text = (project / "out" / "model-card.md").read_text(encoding="utf-8")
    assert text.startswith(cards.BEGIN + "\n## Model Examination\n") and text.rstrip().endswith(cards.END)
    for name in ("report.html", "report.pdf", "evidence.json"):
        assert f"]({name})" in text
    assert ev.sha256_file(project / "out" / "evidence.json") in text
    assert ev.sha256_file(project / "models" / "colour.keras") in text


def test_card_inserts_then_replaces_its_section_idempotently(project, tmp_path):
    card = project / "MODEL_CARD.md"
    card.write_text("# Colours\n\nA tiny model.\n\n## Environmental Impact\n\nNone to speak of.\n", encoding="utf-8")
    try:
        assert reportgen("card", "MODEL_CARD.md", "out", cwd=project).returncode == 0
        once = card.read_text(encoding="utf-8")
        assert once.startswith("# Colours\n\nA tiny model.\n") and once.count(cards.BEGIN) == 1
        assert "](out/report.html)" in once
        done = reportgen("card", "MODEL_CARD.md", "out", cwd=project)
        assert done.returncode == 0 and "unchanged" in done.stdout
        assert card.read_text(encoding="utf-8") == once
        # The section moved by hand above another heading: replaced in place, the rest kept.
        start, end = once.index(cards.BEGIN), once.index(cards.END) + len(cards.END) + 1
        moved = "# Colours\n\n" + once[start:end].replace("passed", "PASSED") + "\n## Environmental Impact\n\nNone.\n"
        card.write_text(moved, encoding="utf-8")
        assert reportgen("card", "MODEL_CARD.md", "out", cwd=project).returncode == 0
        assert card.read_text(encoding="utf-8") == "# Colours\n\n" + once[start:end] + "\n## Environmental Impact\n\nNone.\n"
    finally:
        card.unlink()


def test_card_refuses_a_lone_marker(project, tmp_path):
    card = tmp_path / "README.md"
    card.write_text(f"# x\n{cards.BEGIN}\n", encoding="utf-8")
    done = reportgen("card", str(card), str(project / "out"), cwd=tmp_path)
    assert done.returncode == 2 and "marker" in done.stderr


# --- provenance helpers --------------------------------------------------------------------------------


def test_command_line_reduces_private_paths():
    home = Path("/home/alice")
    argv = ["/home/alice/.venv/bin/reportgen", "run", "/home/alice/proj/review.yaml", "--out=/srv/alice-reports/x",
            "-o", "rel/out", "--no-cache", "--sign", "/home/alice"]  # fmt: skip
    assert provenance.command_line(argv, home) == [
        "reportgen", "run", "~/proj/review.yaml", "--out=.../x", "-o", "rel/out", "--sign", "~",
    ]  # fmt: skip


def test_the_recorded_config_reduces_absolute_paths():
    home = Path("/home/alice")
    config = {"title": "/home/alice is not a path key", "output": "/home/alice/reports/x", "cache": None, "seed": 1,
              "models": [{"path": "/srv/alice/m.keras", "weights": None, "inputs": ["/home/alice/a.png"]}]}  # fmt: skip
    assert provenance.recorded_config(config, home) == {
        "title": "/home/alice is not a path key", "output": "~/reports/x", "cache": None, "seed": 1,
        "models": [{"path": ".../m.keras", "weights": None, "inputs": ["/home/alice/a.png"]}],
    }  # fmt: skip


def test_config_folder_is_not_recorded_through_the_home_folder(tmp_path):
    home = tmp_path / "home" / "alice"
    (home / "proj" / "out").mkdir(parents=True)
    (tmp_path / "srv" / "out").mkdir(parents=True)
    assert provenance.config_folder(home / "proj", home / "proj" / "out", home) == ".."
    assert provenance.config_folder(home / "proj", tmp_path / "srv" / "out", home) is None
    assert provenance.config_folder(tmp_path / "srv", home / "proj" / "out", home) == "../../../../srv"


def test_an_artifact_name_outside_artifacts_is_refused(copy):
    path = copy / "out" / "evidence.json"
    record = json.loads(path.read_text(encoding="utf-8"))
    record["artifacts"]["../../review.yaml"] = "0" * 64
    path.write_text(json.dumps(record), encoding="utf-8")
    done = reportgen("render", "out", cwd=copy)
    assert done.returncode == 1 and "is not a path under artifacts/" in done.stderr
    done = verify("out", cwd=copy)
    assert done.returncode == 2 and "is not a file of a report folder" in done.stderr


@pytest.mark.parametrize("existing", ["", "# Card", "# Card\n", "# Card\n\n"])
def test_insert_section_appends_once_then_replaces(existing):
    section = f"{cards.BEGIN}\n## Model Examination\n\nv1\n{cards.END}\n"
    once = cards.insert_section(existing, section)
    assert once.endswith(section) and once.count(cards.BEGIN) == 1
    assert once.startswith(existing) and (not existing or section not in existing)
    assert cards.insert_section(once, section) == once
    updated = cards.insert_section(once, section.replace("v1", "v2"))
    assert updated == once.replace("v1", "v2")


def test_a_pdf_reportgen_did_not_write_is_refused(tmp_path):
    from pypdf import PdfWriter

    writer = PdfWriter()
    writer.add_blank_page(100, 100)
    with open(tmp_path / "other.pdf", "wb") as handle:
        writer.write(handle)
    for args in (["render", "other.pdf"], ["verify", "other.pdf"]):
        done = reportgen(*args, cwd=tmp_path)
        assert done.returncode == 2 and "carries no evidence.json" in done.stderr, done.stderr
    done = verify("missing", cwd=tmp_path)
    assert done.returncode == 2 and "no such report folder or PDF" in done.stderr
