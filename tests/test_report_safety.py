"""Hostile strings and URLs in reports: nothing runs, nothing is fetched, invisible characters are shown.

Each test fails if its defence is removed: autoescaping and the character markers in the templates,
the CSP meta tag, the restricted WeasyPrint fetcher in render/pdf.py and the failing render on errors.
"""

from __future__ import annotations

import re
import shutil
import socket
import subprocess
import threading
import unicodedata
import urllib.parse
from pathlib import Path

import pytest
from html_tree import Node, Tree
from render_fixtures import CLASSES, build_evidence

from reportgen.errors import RenderError
from reportgen.evidence import Evidence
from reportgen.render import chars, write_report
from reportgen.render.html import CSP
from reportgen.render.pdf import restricted_fetcher, write_pdf
from reportgen.resources import templates_dir

PAYLOADS = [
    "<script>alert(1)</script>",
    '"><img src=x onerror=alert(1)>',
    "{{7*7}}",
    "{% raw %}",
    "javascript:alert(1)",
]
# A 1x1 PNG: a data: image must still work with the restricted fetcher.
PIXEL = (
    "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJ"
    "RU5ErkJggg=="
)
URL_ATTRIBUTES = {"src", "href", "srcset", "action", "formaction", "poster", "data", "background", "cite", "xlink:href"}
# A URL a browser or WeasyPrint could load: a scheme that reaches a file or the network, or a //host.
EXTERNAL = re.compile(r"(?i)\b(?:https?|ftp|file|ws|wss):|^\s*//")
CSS_URL = re.compile(r"(?i)url\(\s*['\"]?\s*(?!data:)|@import|image-set\(")


def _squash(text: str) -> str:
    """Text without whitespace: pdftotext breaks lines where the layout does."""
    return re.sub(r"\s+", "", text)


def _pdftotext(pdf: Path) -> str:
    tool = shutil.which("pdftotext")
    if tool is None:
        pytest.skip("pdftotext (poppler-utils) is not installed")
    return subprocess.run([tool, str(pdf), "-"], capture_output=True, text=True, check=True).stdout


# -- the PDF writer with crafted HTML ---------------------------------------------------------------


@pytest.fixture(scope="module")
def evidence(tmp_path_factory) -> Evidence:
    return build_evidence(tmp_path_factory.mktemp("crafted"), items=1, top_labels=1)


def _page(body: str, head: str = "") -> str:
    return f"<!DOCTYPE html><html><head><meta charset=utf-8>{head}</head><body><p>before</p>{body}<p>after</p></body></html>"


def _svg_with(href: str) -> str:
    svg = (
        '<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10">'
        f'<image href="{href}" width="10" height="10"/></svg>'
    )
    return "data:image/svg+xml," + urllib.parse.quote(svg)


FILE_CASES = {
    "img": ('<img src="{url}" alt="x">', ""),
    "stylesheet link": ("", '<link rel="stylesheet" href="{url}">'),
    "style attribute url()": ('<div style="background: url({url})">x</div>', ""),
    "style element url()": ("", "<style>p {{ background-image: url('{url}') }}</style>"),
    "@import": ("", '<style>@import url("{url}");</style>'),
    "@font-face": ("", "<style>@font-face {{ font-family: X; src: url({url}) }} p {{ font-family: X }}</style>"),
    "attachment link": ("", '<link rel="attachment" href="{url}">'),
    "attachment anchor": ('<a rel="attachment" href="{url}">x</a>', ""),
    "object": ('<object data="{url}"></object>', ""),
    "base and relative img": ('<img src="passwd">', '<base href="{dir}">'),
}


@pytest.mark.parametrize("case", sorted(FILE_CASES))
@pytest.mark.parametrize("url", ["file:///etc/passwd", "secret"])
def test_file_urls_make_the_pdf_render_fail(case, url, evidence, tmp_path):
    secret = tmp_path / "passwd"
    secret.write_text("SECRET-4f1c0de root:x:0:0\n")
    url = secret.as_uri() if url == "secret" else url
    body, head = FILE_CASES[case]
    fill = {"url": url, "dir": url.rsplit("/", 1)[0] + "/"}
    target = tmp_path / "out.pdf"
    with pytest.raises(RenderError) as caught:
        write_pdf(evidence, _page(body.format(**fill), head.format(**fill)), target)
    message = str(caught.value)
    assert "\n" not in message
    assert f"refused to fetch {url}" in message  # refused by the fetcher, not merely undecodable
    # Nothing was written, so nothing of the file can be inside.
    assert not target.exists()


def test_a_file_named_inside_an_svg_image_fails_the_render(evidence, tmp_path):
    # WeasyPrint draws SVG inside `except BaseException`, which swallows the fatal refusal: the fetcher's
    # own record of it still fails the render.
    target = tmp_path / "out.pdf"
    with pytest.raises(RenderError, match="refused to fetch file:///etc/passwd"):
        write_pdf(evidence, _page(f'<img src="{_svg_with("file:///etc/passwd")}" alt="x">'), target)
    assert not target.exists()


def test_an_unusable_resource_fails_the_render_instead_of_leaving_a_hole(evidence, tmp_path):
    target = tmp_path / "out.pdf"
    with pytest.raises(RenderError, match="data:image/png;base64,AAAA"):
        write_pdf(evidence, _page('<img src="data:image/png;base64,AAAA" alt="broken">'), target)
    assert not target.exists()
    with pytest.raises(RenderError, match="x.png"):
        write_pdf(evidence, _page('<img src="x.png" alt="relative">'), target)


class Listener:
    """A TCP server on 127.0.0.1 that records every connection made to it."""

    def __init__(self):
        self.server = socket.create_server(("127.0.0.1", 0))
        self.server.settimeout(0.1)
        self.port = self.server.getsockname()[1]
        self.connections: list[tuple[str, int]] = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        while not self.stop.is_set():
            try:
                conn, addr = self.server.accept()
            except TimeoutError:
                continue
            self.connections.append(addr)
            conn.close()

    def close(self):
        self.stop.set()
        self.thread.join(timeout=5)
        self.server.close()


@pytest.fixture
def listener():
    server = Listener()
    yield server
    server.close()


@pytest.mark.parametrize(
    "body, head",
    [
        ('<img src="http://127.0.0.1:{port}/x.png" alt="x">', ""),
        ("", '<link rel="stylesheet" href="http://127.0.0.1:{port}/x.css">'),
        ('<div style="background: url(http://127.0.0.1:{port}/bg.png)">x</div>', ""),
        ('<img src="{svg}" alt="x">', ""),
        ("", '<link rel="attachment" href="https://127.0.0.1:{port}/a.txt">'),
    ],
    ids=["img", "stylesheet", "css url()", "svg image", "attachment"],
)
def test_network_urls_fail_the_render_and_connect_nowhere(body, head, listener, evidence, tmp_path):
    fill = {"port": listener.port, "svg": _svg_with(f"http://127.0.0.1:{listener.port}/inner.png")}
    target = tmp_path / "out.pdf"
    with pytest.raises(RenderError) as caught:
        write_pdf(evidence, _page(body.format(**fill), head.format(**fill)), target)
    assert "\n" not in str(caught.value)
    assert f"refused to fetch http://127.0.0.1:{listener.port}/" in str(caught.value).replace("https", "http")
    # The test's own connection proves the server was listening all along; the render's would come first.
    socket.create_connection(("127.0.0.1", listener.port), timeout=5).close()
    listener.stop.wait(0.3)
    assert len(listener.connections) == 1
    assert not target.exists()


def test_data_images_and_the_templates_folder_still_work(evidence, tmp_path):
    css = (templates_dir() / "report.css").resolve().as_uri()
    target = tmp_path / "ok.pdf"
    write_pdf(evidence, _page(f'<img src="{PIXEL}" alt="pixel">', f'<link rel="stylesheet" href="{css}">'), target)
    assert target.read_bytes().startswith(b"%PDF-")
    text = _squash(_pdftotext(target))
    assert "before" in text and "after" in text
    assert "Page1of1" in text  # the footer report.css draws: the template stylesheet was fetched and used
    tool = shutil.which("pdfimages")
    if tool:
        listing = subprocess.run([tool, "-list", str(target)], capture_output=True, text=True, check=True).stdout
        assert [line.split()[2] for line in listing.splitlines()[2:]] == ["image", "smask"]  # the pixel, its alpha


def test_the_fetcher_serves_only_its_own_folder(tmp_path):
    root = tmp_path / "templates"
    (root / "sub").mkdir(parents=True)
    (root / "ok.css").write_text("p { color: red }")
    outside = tmp_path / "outside.txt"
    outside.write_text("SECRET")
    (root / "link.css").symlink_to(outside)
    (root / "sub" / "up").symlink_to(tmp_path)
    fetcher = restricted_fetcher(root)
    response = fetcher((root / "ok.css").as_uri())
    assert response.read() == b"p { color: red }"
    assert response.content_type == "text/css"
    assert fetcher("data:text/plain,hello").read() == b"hello"
    refused = [
        outside.as_uri(),
        (root / "link.css").as_uri(),  # a symbolic link out of the folder
        (root / "sub" / "up" / "outside.txt").as_uri(),  # a linked folder out of it
        root.as_uri() + "/sub/../../outside.txt",
        root.as_uri() + "/%2e%2e/outside.txt",
        root.as_uri() + "/ok.css?x=1",
        "file://evil.example" + (root / "ok.css").as_posix(),
        root.as_uri() + "/sub",  # a folder, not a file
        "file:///etc/passwd",
        "http://127.0.0.1:9/x.png",
        "https://example.com/x.css",
        "ftp://example.com/x",
        "x.png",
    ]
    for url in refused:
        with pytest.raises(ValueError):
            fetcher(url)
    nothing = restricted_fetcher(None)
    with pytest.raises(ValueError):
        nothing((root / "ok.css").as_uri())


# -- the real report with hostile strings -----------------------------------------------------------


def _hostile_evidence(report_dir: Path) -> Evidence:
    """The synthetic evidence with every user-controlled string replaced by payloads."""
    joined = " ".join(PAYLOADS)
    evidence = build_evidence(
        report_dir,
        items=2,
        top_labels=2,
        model_name=PAYLOADS[0] + PAYLOADS[1],
        item_ids=[PAYLOADS[2], PAYLOADS[3] + " " + PAYLOADS[4]],
        title="Report " + joined,
        text_model=True,
    )
    data = evidence.model_dump(mode="json")
    renamed = {name: f"{name} {PAYLOADS[n]}" for n, name in enumerate(CLASSES)}
    for model in data["models"]:
        if model["kind"] == "image":
            model["classes"] = [renamed[c] for c in model["classes"]]
        model["error"] = model["error"] and model["error"] + " " + joined
        for item in model["items"]:
            for record in item.get("predictions", []) + item.get("explanations", []):
                record["label"] = renamed.get(record["label"], record["label"])
            if model["kind"] == "image":
                item["input"]["path"] = f"images/{PAYLOADS[1]}{PAYLOADS[4]}.png"
            if item["status"] == "error":
                item["error"] = f"cannot decode {joined}"
    text_item = data["models"][-1]["items"][0]
    text = "Review: " + joined + " end."
    text_item["input"]["text"] = text
    text_item["input"]["path"] = f"texts/{PAYLOADS[0]}.txt"
    text_item["tokens"] = [{"text": m.group(), "start": m.start(), "end": m.end()} for m in re.finditer(r"\S+", text)]
    for exp in text_item["explanations"]:
        exp["features"] = [
            {"feature": t["text"], "weight": 0.1 * (n + 1)} for n, t in enumerate(text_item["tokens"][:6])
        ]
    return Evidence.model_validate(data)


@pytest.fixture(scope="module")
def hostile(tmp_path_factory):
    report_dir = tmp_path_factory.mktemp("hostile")
    evidence = _hostile_evidence(report_dir)
    write_report(evidence, report_dir, ["html", "pdf"])
    html = (report_dir / "report.html").read_text(encoding="utf-8")
    return evidence, report_dir, html, Tree(html).root


def test_hostile_strings_create_no_element_handler_or_link(hostile):
    _evidence, _dir, _html, root = hostile
    assert not list(root.iter("script"))
    for node in root.iter():
        for name, value in node.attrs.items():
            assert not name.startswith("on"), (node.tag, name)
            if name in URL_ATTRIBUTES:
                assert not (value or "").strip().lower().startswith("javascript:"), (node.tag, name, value)
    for img in root.iter("img"):
        assert img.attrs["src"].startswith("data:image/png;base64,")


def test_hostile_strings_appear_literally_in_the_page(hostile):
    evidence, _dir, html, root = hostile
    body = root.find("body").text()
    for payload in PAYLOADS:
        assert payload in body
    assert "<script>" not in html
    assert root.find("title").text() == evidence.title
    # Jinja never evaluates data: the item whose id is {{7*7}} is headed {{7*7}}, not 49.
    headings = [h.text() for h in root.iter("h3")]
    assert any(h.endswith(PAYLOADS[2]) for h in headings)
    assert not any(h.rstrip().endswith("49") for h in headings)
    assert evidence.models[0].items[1].id in body
    for label in root.iter("section", "label"):
        assert label.attrs["aria-label"].startswith("Explanation of ")


def test_hostile_strings_appear_literally_in_the_pdf(hostile):
    _evidence, report_dir, _html, _root = hostile
    text = _squash(_pdftotext(report_dir / "report.pdf"))
    for payload in PAYLOADS:
        assert _squash(payload) in text, payload
    assert _squash("Review: " + " ".join(PAYLOADS)) in text


def test_head_starts_with_the_csp_and_nothing_names_an_external_url(hostile):
    _evidence, _dir, html, root = hostile
    head = root.find("head")
    first = next(child for child in head.children if isinstance(child, Node))
    assert first.tag == "meta" and first.attrs.get("http-equiv") == "Content-Security-Policy"
    assert first.attrs["content"] == CSP
    assert re.match(r"<!DOCTYPE html>\s*<html[^>]*>\s*<head>\s*<meta http-equiv=\"Content-Security-Policy\"", html)
    policy = dict(part.strip().split(" ", 1) for part in CSP.split(";"))
    assert policy["default-src"] == "'none'"
    assert policy["img-src"] == "data:"
    assert "script-src" not in policy  # scripts fall back to default-src 'none'
    for node in root.iter():
        for name, value in node.attrs.items():
            if name == "content" and node is first:
                continue
            assert not EXTERNAL.search(value or ""), (node.tag, name, (value or "")[:80])
            if name in URL_ATTRIBUTES:
                assert (value or "").startswith(("data:", "#")), (node.tag, name, (value or "")[:80])
    styles = [node.text() for node in root.iter("style")] + [
        n.attrs["style"] for n in root.iter() if "style" in n.attrs
    ]
    assert styles
    for css in styles:
        assert not CSS_URL.search(css), css[:200]
        assert not EXTERNAL.search(css), css[:200]
    assert not {"link", "iframe", "object", "embed", "base", "form", "script"} & {n.tag for n in root.iter()}


# -- invisible and direction-changing characters in text inputs -------------------------------------

RLO, LRI, ZWSP, ZWJ = "\u202e", "\u2066", "\u200b", "\u200d"
BIDI_TEXT = f"alpha be{RLO}ta {RLO}gamma\x00 delta{LRI} 你好世界 مرحبا zero{ZWSP}width 👩{ZWJ}💻 omega"
BIDI_WORDS = ["alpha", f"be{RLO}ta", "gamma", "delta", "你好世界", "مرحبا", f"zero{ZWSP}width", f"👩{ZWJ}💻", "omega"]
WEIGHTS = {f"be{RLO}ta": 0.5, "你好世界": 0.3, "مرحبا": -0.2, "alpha": 0.1}


def _shown(text: str) -> str:
    """The text as the report shows it: each marked character as its code point."""
    return "".join(f"U+{ord(ch):04X}" if chars.needs_marker(ch) else ch for ch in text)


@pytest.fixture(scope="module")
def bidi(tmp_path_factory):
    report_dir = tmp_path_factory.mktemp("bidi")
    evidence = build_evidence(report_dir, items=1, top_labels=1, text_model=True, title=f"Bidi {RLO}title")
    data = evidence.model_dump(mode="json")
    item = data["models"][-1]["items"][0]
    item["id"] = f"review{RLO}-01\x00"
    item["input"]["text"] = BIDI_TEXT
    tokens, position = [], 0
    for word in BIDI_WORDS:
        start = BIDI_TEXT.index(word, position)
        tokens.append({"text": word, "start": start, "end": start + len(word)})
        position = start + len(word)
    item["tokens"] = tokens
    for exp in item["explanations"]:
        exp["label"] = f"{exp['label']}{RLO}"
        exp["features"] = [{"feature": w, "weight": v} for w, v in WEIGHTS.items()]
    data["models"][0]["items"][-1]["error"] = f"broken{RLO} file\x00 {LRI}here"
    evidence = Evidence.model_validate(data)
    write_report(evidence, report_dir, ["html", "pdf"])
    html = (report_dir / "report.html").read_text(encoding="utf-8")
    return report_dir, html, Tree(html).root


def test_no_invisible_or_bidi_character_reaches_the_html_raw(bidi):
    _dir, html, _root = bidi
    for ch in (RLO, LRI, ZWSP, "\x00"):
        assert ch not in html, f"U+{ord(ch):04X}"
    assert ZWJ in html  # joins the emoji: kept as it is
    # In attributes and <title> the marker is plain text.
    assert "<title>Bidi [U+202E]title</title>" in html


def test_highlighted_tokens_show_their_markers_in_the_original_order(bidi):
    _dir, _html, root = bidi
    paragraph = root.find("p", "token-text")
    assert paragraph.attrs.get("dir") == "ltr"
    # The text shown (rank numbers left out) is the original text with markers, in the original order.
    assert paragraph.text(skip=frozenset({"sup"})) == _shown(BIDI_TEXT)
    marks = {m.text(skip=frozenset({"sup"})): m for m in paragraph.iter("mark")}
    assert set(marks) == {_shown(word) for word in WEIGHTS}
    marker = marks[f"beU+{ord(RLO):04X}ta"].find("span", "ctl")
    assert marker.text() == "U+202E"
    assert marker.attrs["title"] == "U+202E RIGHT-TO-LEFT OVERRIDE"
    shown = paragraph.text(skip=frozenset({"sup"}))
    positions = [shown.index(_shown(word)) for word in BIDI_WORDS]
    assert positions == sorted(positions)
    # One marker per marked character, none for Chinese, Arabic, the ZWJ or spaces.
    assert len(list(paragraph.iter("span", "ctl"))) == sum(map(chars.needs_marker, BIDI_TEXT)) == 5
    assert "你好世界" in shown and "مرحبا" in shown and f"👩{ZWJ}💻" in shown


def test_the_input_text_and_other_strings_are_marked_too(bidi):
    _dir, _html, root = bidi
    quote = root.find("blockquote", "input-text")
    assert quote.attrs.get("dir") == "ltr"
    assert quote.text() == _shown(BIDI_TEXT)
    titles = {span.attrs["title"] for span in root.iter("span", "ctl")}
    assert {
        "U+202E RIGHT-TO-LEFT OVERRIDE",
        "U+0000 NULL",
        "U+2066 LEFT-TO-RIGHT ISOLATE",
        "U+200B ZERO WIDTH SPACE",
    } <= titles
    boxes = " ".join(box.text() for box in root.iter("div", "failure"))
    assert "brokenU+202E fileU+0000 U+2066here" in boxes
    assert any("reviewU+202E-01U+0000" in h.text() for h in root.iter("h3"))


def test_token_spans_are_isolated_and_markers_boxed_by_the_stylesheet():
    css = (templates_dir() / "report.css").read_text(encoding="utf-8")
    screen = re.search(r"@media screen\s*\{(.*?)\n\}", css, re.DOTALL)
    assert screen and re.search(r"\.tok\b[^{]*\{[^}]*unicode-bidi:\s*isolate", screen.group(1))
    assert re.search(r"\.ctl\s*\{[^}]*border:", css)


def test_the_pdf_shows_markers_and_keeps_the_word_order(bidi):
    report_dir, _html, _root = bidi
    # pdftotext wraps right-to-left runs in its own U+202B...U+202C and drops the ZWJ; leave those out.
    text = _squash(re.sub("[\u202b\u202c\u200d]", "", _pdftotext(report_dir / "report.pdf")))
    # The input text as laid out, in reading order: a raw U+202E would have drawn what follows it
    # right to left ("ateb", "ammag"), and pdftotext reads the page in visual order.
    assert _squash(_shown(BIDI_TEXT)).replace(ZWJ, "") in text
    assert "ammag" not in text and "ateb" not in text


def test_marker_rules_cover_format_and_control_characters():
    kept = {"\t", "\n", "\u200c", "\u200d"}
    for code in range(0x110000):
        ch = chr(code)
        category = unicodedata.category(ch)
        if category in ("Cf", "Cc", "Cs") and ch not in kept:
            assert chars.needs_marker(ch), f"U+{code:04X}"
        elif category[0] in "LMNPSZ" or ch in kept:
            assert not chars.needs_marker(ch), f"U+{code:04X}"
    assert str(chars.mark(f"a{RLO}<b>&")) == (
        'a<span class="ctl" title="U+202E RIGHT-TO-LEFT OVERRIDE">U+202E</span>&lt;b&gt;&amp;'
    )
    assert str(chars.mark("\x00")) == '<span class="ctl" title="U+0000 NULL">U+0000</span>'
    assert chars.plain(f"x{RLO}y\x00") == "x[U+202E]y[U+0000]"
    assert chars.plain("你好 مرحبا\n") == "你好 مرحبا\n"
