"""report.html: the Jinja2 template filled from the context, with its stylesheet inlined."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Optional

import jinja2
from markupsafe import Markup

from reportgen.errors import RenderError
from reportgen.evidence import Evidence
from reportgen.render import chars
from reportgen.render.context import build_context
from reportgen.resources import templates_dir

TEMPLATE = "report.html.j2"
STYLESHEET = "report.css"
PHONE_STYLESHEET = "report-phone.css"  # narrow screens only (the template's <style media=...>)
# The report loads nothing: inline CSS (the <style> element and the prediction bars' style attributes)
# and data: images. No script, font, frame, connection or form; base-uri and form-action do not fall
# back to default-src, so they are named. frame-ancestors is left out: a meta tag cannot set it.
CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'"


@functools.cache
def environment() -> jinja2.Environment:
    """The Jinja2 environment: templates from templates_dir(), everything autoescaped, no silent blanks."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(templates_dir()),
        autoescape=True,  # every template, whatever its name ends with
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        # Every {{ }} not already marked up: bidi controls, NULs and other invisible characters become
        # the text [U+202E], so they cannot reorder or hide text even in attributes and <title>.
        finalize=chars.plain,
    )
    # Element text: the same characters as boxed <span class="ctl"> markers naming them.
    env.filters["marked"] = chars.mark
    return env


def stylesheet(name: str = STYLESHEET) -> Markup:
    """One of the report's CSS files, to inline in a <style> element."""
    path = templates_dir() / name
    try:
        css = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise RenderError(f"{path}: cannot read the stylesheet: {exc}") from None
    if "</" in css:
        # Would end the <style> element early; the stylesheet is ours, so this is a packaging bug.
        raise RenderError(f"{path}: the stylesheet must not contain '</'")
    return Markup(css)


def render_html(
    evidence: Evidence, report_dir: Path, language: Optional[str] = None, palette: Optional[str] = None
) -> str:
    """The whole self-contained report.html as text (figures read from report_dir/artifacts).

    language and palette override the evidence config's `language` and `palette` (`reportgen render --language`).
    """
    context = build_context(evidence, Path(report_dir), language, palette)
    try:
        template = environment().get_template(TEMPLATE)
    except jinja2.TemplateNotFound:
        raise RenderError(f"template {TEMPLATE} not found in {templates_dir()}") from None
    return template.render(css=stylesheet(), phone_css=stylesheet(PHONE_STYLESHEET), csp=Markup(CSP), **context)
