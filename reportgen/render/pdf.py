"""report.pdf: the same HTML laid out for print by WeasyPrint, reproducible and fetching nothing."""

from __future__ import annotations

import contextlib
import datetime as dt
import os
from collections.abc import Iterator
from pathlib import Path

from reportgen.errors import RenderError
from reportgen.evidence import Evidence, to_json
from reportgen.render.context import parse_created

PDF_VARIANT = "pdf/a-3b"  # archival, and PDF/A-3 allows the evidence to travel inside the PDF


def data_only_fetcher():
    """A WeasyPrint URL fetcher that serves data: URLs and refuses every other URL (no file, no network)."""
    from weasyprint.urls import URLFetcher

    # WeasyPrint 70 wants a URLFetcher instance (it reads private attributes of the fetcher it is
    # given, so a plain function no longer works); allowed_protocols makes it raise on anything else.
    return URLFetcher(allowed_protocols=("data",), allow_redirects=False)


def _created(created: str) -> dt.datetime:
    try:
        return parse_created(created)
    except ValueError:
        raise RenderError(f"evidence.created {created!r} is not an ISO-8601 time") from None


@contextlib.contextmanager
def source_date_epoch(created: str) -> Iterator[None]:
    """Set SOURCE_DATE_EPOCH from evidence.created while inside, then restore what was there."""
    epoch = str(int(_created(created).timestamp()))
    previous = os.environ.get("SOURCE_DATE_EPOCH")
    os.environ["SOURCE_DATE_EPOCH"] = epoch
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop("SOURCE_DATE_EPOCH", None)
        else:
            os.environ["SOURCE_DATE_EPOCH"] = previous


def write_pdf(evidence: Evidence, html: str, target: Path) -> None:
    """Lay out the report's HTML as a PDF/A-3b at target, with evidence.json embedded."""
    try:
        import weasyprint
    except ImportError:
        raise RenderError(
            "writing report.pdf needs WeasyPrint: pip install weasyprint (or ask for formats: [html])"
        ) from None
    created = _created(evidence.created)
    fetcher = data_only_fetcher()
    attachment = weasyprint.Attachment(
        string=to_json(evidence).encode("utf-8"),
        url_fetcher=fetcher,
        name="evidence.json",
        description="The evidence record this report was rendered from",
        created=created,
        modified=created,
        relationship="Source",
    )
    with source_date_epoch(evidence.created):
        try:
            document = weasyprint.HTML(string=html, base_url=None, url_fetcher=fetcher)
            document.write_pdf(target, pdf_variant=PDF_VARIANT, attachments=[attachment])
        except OSError as exc:
            raise RenderError(f"{target}: cannot write the PDF: {exc}") from exc
