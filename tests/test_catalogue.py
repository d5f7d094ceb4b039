"""The report's string catalogues (issue 10): complete in every language, used for every fixed word, and the
report rendered in Chinese with Chinese fixed text, alt text on every figure and real CJK glyphs in figures."""

from __future__ import annotations

import re
import warnings
from pathlib import Path
from typing import get_args

import pytest
from html_tree import parse
from render_fixtures import build_evidence

from reportgen import config as cfg
from reportgen.errors import ConfigError, RenderError
from reportgen.evidence import Metrics
from reportgen.gates import GATES
from reportgen.render import figures, provenance, render_html, trust_view
from reportgen.render.catalogue import catalogue, languages, placeholders, strings_dir
from reportgen.resources import templates_dir

ROOT = Path(__file__).resolve().parent.parent
RENDER = ROOT / "reportgen" / "render"
# A key named literally in a template or in render/*.py: t("x.y"), tm("x.y"), t.raw("x.y").
KEY_CALL = re.compile(r"""\b(?:t|tm|raw)\(\s*["']([A-Za-z0-9_.\-]*[A-Za-z0-9_\-])["']""")
# Keys built from codes: every code must have its words.
DYNAMIC = (
    [f"verdict.{code}" for code in trust_view.LIGHTS]
    + [f"reason.{code}" for code in trust_view.REASONS]
    + [f"gate.{gate}" for gate in GATES]
    + [f"kind.{kind}" for kind in ("image", "text")]
    + [f"status.{status}" for status in ("ok", "error")]
    + [f"direction.{d}" for d in ("for", "against", "none")]
    + [f"palette.{p}.{w}" for p in figures.PALETTES for w in ("for", "against", "key_for", "key_against")]
    + [f"curves.{n}" for n in ("hide", "hide_random", "reveal", "reveal_random", "xlabel", "ylabel")]
    + [f"colour.{c}" for c in ("black", "white", "grey")]
    + [f"setting.{k}" for k in ("color", "scale", "fit", "output", "tokenizer", "num_samples", "top_labels",
                                "num_features", "batch_size")]  # fmt: skip
    + ["metric.passed", "metric.failed", "fill.rgb", "fill.rgb_black", "fill.rgb_white"]
    + [f"provenance.{key}" for key in provenance.LABEL_KEYS]
)


def _forms(entry) -> dict[str, str]:
    return entry if isinstance(entry, dict) else {"other": entry}


def test_the_config_accepts_exactly_the_languages_there_are_catalogues_for():
    assert sorted(get_args(cfg.Language)) == languages() == ["en", "zh-CN"]
    assert sorted(get_args(cfg.Palette)) == sorted(figures.PALETTES)


@pytest.mark.parametrize("language", ["zh-CN"])
def test_every_catalogue_has_the_same_keys_and_placeholders_as_english(language):
    english, other = catalogue("en").strings, catalogue(language).strings
    assert sorted(set(english) - set(other)) == [], f"missing in {language}"
    assert sorted(set(other) - set(english)) == [], "missing in en"
    for key, entry in english.items():
        ours, theirs = _forms(entry), _forms(other[key])
        assert isinstance(entry, dict) == isinstance(other[key], dict), f"{key}: plural forms in one language only"
        wanted = set().union(*(placeholders(text) for text in ours.values()))
        given = set().union(*(placeholders(text) for text in theirs.values()))
        assert given == wanted, f"{key}: placeholders {sorted(given)} in {language}, {sorted(wanted)} in en"


def test_every_key_the_templates_and_the_render_code_use_exists():
    sources = [*templates_dir().glob("*.j2"), *RENDER.glob("*.py")]
    used = {key for path in sources for key in KEY_CALL.findall(path.read_text(encoding="utf-8"))}
    assert len(used) > 100
    for language in languages():
        known = catalogue(language).strings
        missing = sorted(key for key in [*used, *DYNAMIC] if key not in known)
        assert missing == [], f"{language} catalogue lacks {missing}"


def _template_text(source: str) -> str:
    """What a template shows that is not an expression, a tag or markup: fixed text written into it."""
    source = re.sub(r"\{#.*?#\}", " ", source, flags=re.DOTALL)
    source = re.sub(r"\{%.*?%\}|\{\{.*?\}\}", " ", source, flags=re.DOTALL)
    source = re.sub(r"<!DOCTYPE[^>]*>|<[^>]*>", " ", source)
    return source


def test_templates_hold_no_words_of_their_own():
    # Every visible word comes from the catalogue; only the name of the hash may be written as it is.
    for path in templates_dir().glob("*.j2"):
        source = path.read_text(encoding="utf-8")
        words = set(re.findall(r"[^\W\d_]{2,}", _template_text(source))) - {"sha256", "sha"}
        assert not words, f"{path.name}: text outside the catalogue: {sorted(words)}"
        for name, value in re.findall(r"""\b(alt|title|aria-label|placeholder)="([^"]*)\"""", source):
            assert not re.search(r"[^\W\d_]", re.sub(r"\{\{.*?\}\}", "", value)), f"{path.name}: {name}={value!r}"


def test_plurals_and_placeholders_fill_in():
    en, zh = catalogue("en"), catalogue("zh-CN")
    assert en("gates.not_met", count=1) == "Quality gates not met by 1 check"
    assert en("gates.not_met", count=3) == "Quality gates not met by 3 checks"
    assert zh("gates.not_met", count=3) == "有 3 项检查未达到质量门槛"
    assert str(en.tm("models.trusted_note", name="<b>")).startswith("<strong>&lt;b&gt;</strong> was loaded with <code>")
    with pytest.raises(RenderError, match="no key 'nope'"):
        en("nope")
    with pytest.raises(RenderError, match="no string catalogue for language 'fr'"):
        catalogue("fr")


def test_an_unknown_language_or_palette_is_a_config_error_naming_the_key():
    base = "models: [{name: a, path: a.keras, inputs: [x.png]}]\n"
    with pytest.raises(ConfigError, match=r"t.yaml: language: Input should be 'en' or 'zh-CN'"):
        cfg.parse("language: fr\n" + base, "t.yaml")
    with pytest.raises(ConfigError, match=r"t.yaml: palette: Input should be 'colorblind' or 'grayscale'"):
        cfg.parse("palette: rainbow\n" + base, "t.yaml")
    parsed = cfg.effective(cfg.parse(base, "t.yaml"))
    assert parsed["language"] == "en" and parsed["palette"] == "colorblind"  # recorded in the evidence


def _with_metrics(evidence):
    """Trust figures on every explanation: the first label of each item passes, the others are unstable."""
    for model in evidence.models:
        for item in model.items:
            for n, exp in enumerate(item.explanations or []):
                exp.metrics = Metrics.model_validate({
                    "stability": {"runs": 3, "seeds": [1, 2, 3], "k": 5, "jaccard": 0.3, "rank_correlation": 0.5,
                                  "sign_flips": 0.1},
                    "fidelity": {"in_sample_r2": 0.6, "fresh_r2": 0.4, "fresh_samples": 200, "seed": 1},
                    "faithfulness": {"x": [0, 0.5, 1], "deletion": [0.9, 0.3, 0.1], "insertion": [0.1, 0.6, 0.9],
                                     "random_deletion": [0.9, 0.6, 0.1], "random_insertion": [0.1, 0.3, 0.9],
                                     "deletion_auc": 0.4, "insertion_auc": 0.55, "random_deletion_auc": 0.55,
                                     "random_insertion_auc": 0.4, "deletion_drop": 0.15, "insertion_gain": 0.15,
                                     "random_orders": 3, "seed": 1},
                    "agreement": {"local_prediction": 0.5, "model_probability": 0.6, "gap": 0.1, "flagged": False},
                    "verdict": "stable_faithful" if n == 0 else "unstable",
                    "reasons": [] if n == 0 else ["top_k_overlap_low", "signs_flip"],
                })  # fmt: skip
    return evidence


@pytest.fixture(scope="module")
def chinese(tmp_path_factory):
    report_dir = tmp_path_factory.mktemp("zh")
    evidence = _with_metrics(build_evidence(report_dir, items=2, top_labels=2, num_features=5, text_model=True))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        html = render_html(evidence, report_dir, language="zh-CN")
    return evidence, html, parse(html), caught


def test_the_chinese_report_declares_its_language_and_has_alt_text_everywhere(chinese):
    _evidence, _html, page, _caught = chinese
    assert page.root.find("html").attrs["lang"] == "zh-CN"
    images = list(page.root.iter("img"))
    assert len(images) > 10
    for img in images:
        alt = img.attrs.get("alt") or ""
        assert alt.strip() and re.search(r"[\u4e00-\u9fff]", alt), alt


def test_the_chinese_report_has_no_english_fixed_text(chinese):
    evidence, _html, page, _caught = chinese
    # Data keeps its own words: names, ids, labels, paths, texts, errors, settings and environment values.
    data = {evidence.title, "reportgen", "sha256", "LIME", "UTC", "RGB", "R²", "evidence.json", "trust_model: true"}
    for model in evidence.models:
        data |= {model.name, model.path, model.error or "", *model.classes}
        for item in model.items:
            data |= {item.id, item.input.path or "", item.input.text or "", item.error or ""}
            data |= {t.text for t in item.tokens or []}
    for key, value in evidence.environment.items():
        data |= {key, value}
    # Each element's own text (hashes in <code> are data).
    text = " ".join(node.own_text() for node in page.root.find("body").iter() if node.tag != "code")
    for name in sorted(data, key=len, reverse=True):
        if name:
            text = text.replace(name, " ")
    # Settings values are the config's own words (slic, rgb, unit, stretch...): the settings tables are data.
    settings = " ".join(td.text() for table in page.root.iter("table", "settings") for td in table.iter("td"))
    english = set(re.findall(r"[A-Za-z]{3,}", text)) - set(re.findall(r"[A-Za-z]{3,}", settings))
    assert english == set(), f"English words in the zh-CN report: {sorted(english)}"
    headings = [h.text() for h in page.root.iter("h2")]
    assert "摘要" in headings and "如何阅读本报告" in headings and "目录" in headings
    verdicts = {span.text() for span in page.root.iter("span", "verdict")}
    assert "可信" in verdicts and "不稳定" in verdicts


def test_chinese_figures_draw_every_glyph(chinese):
    *_rest, caught = chinese
    missing = [str(w.message) for w in caught if "missing from" in str(w.message) or "Glyph" in str(w.message)]
    assert missing == []


def test_the_first_page_lists_every_item_with_its_verdict(chinese):
    evidence, _html, page, _caught = chinese
    rows = list(page.root.find("table", "items-table").find("tbody").iter("tr"))
    assert len(rows) == sum(len(model.items) for model in evidence.models)
    assert sum(1 for row in rows if list(row.iter("img", "thumb"))) == 2  # image items have a thumbnail
    assert "row-failed" in rows[2].classes
    overall = page.root.find("div", "overall").text()
    assert "6 项解释中有 3 项可信；3 项需要人工复核。" in overall


def test_how_to_read_mentions_only_what_the_report_holds(tmp_path):
    images_only = parse(render_html(build_evidence(tmp_path, items=1, top_labels=1), tmp_path))
    howto = images_only.root.find("section", "howto").text()
    assert "superpixels" in howto and "tokens" not in howto


def test_the_grayscale_palette_is_applied_and_recorded_in_the_config(tmp_path):
    evidence = build_evidence(tmp_path, items=1, top_labels=1)
    evidence.config["palette"] = "grayscale"
    page = parse(render_html(evidence, tmp_path))
    assert "palette-grayscale" in page.root.find("html").classes
    assert "hatched grey" in page.root.find("section", "howto").text()
    evidence.config["palette"] = "sepia"
    with pytest.raises(RenderError, match="unknown palette 'sepia'"):
        render_html(evidence, tmp_path)


def test_the_page_footer_is_translated_css():
    from reportgen.render.overview import css_content, page_css

    assert css_content("Page {page} of {pages}") == '"Page " counter(page) " of " counter(pages)'
    assert css_content('a"b\\{page}') == '"a\\"b\\\\" counter(page)'
    assert "第 " in str(page_css(catalogue("zh-CN"))) and "</" not in str(page_css(catalogue("zh-CN")))


def test_catalogue_files_ship_inside_the_package():
    assert strings_dir().is_relative_to(ROOT / "reportgen")
    assert {p.name for p in strings_dir().glob("*.yaml")} == {"en.yaml", "zh-CN.yaml"}


def test_render_language_option_overrides_the_config_and_refuses_an_unknown_language(tmp_path):
    from test_cli import reportgen

    from reportgen.evidence import to_json

    evidence = build_evidence(tmp_path, items=1, top_labels=1)
    (tmp_path / "evidence.json").write_text(to_json(evidence), encoding="utf-8")
    done = reportgen("render", str(tmp_path), "--format", "html", "--language", "zh-CN")
    assert done.returncode == 0, done.stderr
    page = parse((tmp_path / "report.html").read_text(encoding="utf-8"))
    assert page.root.find("html").attrs["lang"] == "zh-CN"
    refused = reportgen("render", str(tmp_path), "--format", "html", "--language", "fr")
    assert refused.returncode == 2
    assert refused.stderr.strip() == "error: --language: 'fr' is not one of en, zh-CN"
