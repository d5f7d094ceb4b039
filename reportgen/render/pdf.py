"""report.pdf: the same HTML laid out for print by WeasyPrint, reproducible and fetching nothing outside."""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import functools
import logging
import mimetypes
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit
from urllib.request import url2pathname

from reportgen.errors import RenderError
from reportgen.evidence import ARTIFACTS_DIR, CONFIG_COPY, EVIDENCE_FILE, SIGNATURE_FILE, Evidence, to_json
from reportgen.render.carried import safe_name
from reportgen.render.context import parse_created
from reportgen.resources import templates_dir

PDF_VARIANT = "pdf/a-3b"  # archival, and PDF/A-3 allows the evidence to travel inside the PDF
URL_SHOWN = 120  # characters of a refused URL quoted in an error (data: URLs can be megabytes)


class RefusedURL(ValueError):
    """The report named a URL the PDF writer may not fetch (a ValueError, as WeasyPrint expects)."""

    def __init__(self, url: str, reason: str):
        super().__init__(f"{reason}: {shorten(url)}")
        self.url = url
        self.reason = reason


def shorten(url: str) -> str:
    """A URL fit for a one-line message: cut to URL_SHOWN characters, control characters escaped."""
    cut = url if len(url) <= URL_SHOWN else url[:URL_SHOWN] + "..."
    return cut.encode("unicode_escape").decode("ascii") if not cut.isprintable() else cut


@functools.cache
def _fetcher_class() -> type:
    """The restricted URLFetcher subclass (built on first use: importing reportgen.render stays WeasyPrint-free)."""
    from weasyprint.urls import URLFetcher, URLFetcherResponse

    class RestrictedFetcher(URLFetcher):
        """Serves data: URLs and regular files under one folder; refuses everything else before any I/O."""

        def __init__(self, root: Path | None):
            # allowed_protocols and no redirects are a second fence, should this class ever hand a
            # non-data URL to the parent's opener; fail_on_errors makes every refusal stop the render.
            super().__init__(allowed_protocols=("data",), allow_redirects=False, fail_on_errors=True)
            self.root = root.resolve() if root is not None else None
            # Every refusal, also those WeasyPrint swallows (it draws SVG inside `except BaseException`).
            self.refused: list[RefusedURL] = []

        def fetch(self, url: str, headers: dict[str, str] | None = None) -> URLFetcherResponse:
            """The resource at url if it is a data: URL or a file under root; otherwise RefusedURL."""
            try:
                return self._fetch(url, headers)
            except RefusedURL as exc:
                self.refused.append(exc)
                raise

        def _fetch(self, url: str, headers: dict[str, str] | None) -> URLFetcherResponse:
            scheme = url.split(":", 1)[0].lower() if ":" in url else ""
            if scheme == "data":
                return super().fetch(url, headers)
            if scheme == "file" and self.root is not None:
                return self._file(url)
            raise RefusedURL(url, "the report may only use data: URLs and its own template files")

        def _file(self, url: str) -> URLFetcherResponse:
            parts = urlsplit(url)
            if parts.netloc not in ("", "localhost") or parts.query:
                raise RefusedURL(url, "not a plain local file URL")
            raw = url2pathname(unquote(parts.path))
            # '..' is refused outright rather than resolved: no template names its parent folder.
            if ".." in Path(raw).parts or "\0" in raw:
                raise RefusedURL(url, "a file URL may not hold '..' or NUL")
            try:
                # resolve() follows symbolic links, so a link inside root that points outside is refused.
                path = Path(raw).resolve(strict=True)
            except (OSError, RuntimeError):
                raise RefusedURL(url, "no such file") from None
            if self.root is None or not path.is_relative_to(self.root) or not path.is_file():
                raise RefusedURL(url, "only files of the report's own templates folder may be read")
            content_type = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
            return URLFetcherResponse(path.as_uri(), path.read_bytes(), {"Content-Type": content_type})

    return RestrictedFetcher


def restricted_fetcher(root: Path | None = None) -> Any:
    """A WeasyPrint URLFetcher serving data: URLs and, if root is given, regular files inside root; nothing else.

    Any other URL (file: outside root, http(s), ftp, a relative path...) raises RefusedURL, and with
    fail_on_errors WeasyPrint turns that into FatalURLFetchingError, which stops the render.
    """
    return _fetcher_class()(root)


def report_fetcher() -> Any:
    """The fetcher report.pdf is written with: data: URLs and the templates folder only."""
    return restricted_fetcher(templates_dir())


def data_only_fetcher() -> Any:
    """A fetcher that serves data: URLs and refuses every other URL (no file at all, no network)."""
    return restricted_fetcher(None)


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


class _Errors(logging.Handler):
    """Collects WeasyPrint's error records: it logs, and carries on, when a fetched resource is unusable."""

    def __init__(self) -> None:
        super().__init__(level=logging.ERROR)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


@contextlib.contextmanager
def _weasyprint_errors() -> Iterator[_Errors]:
    """Collect the errors WeasyPrint logs while inside (an undecodable image, an unusable stylesheet)."""
    logger = logging.getLogger("weasyprint")
    handler = _Errors()
    level = logger.level
    if not logger.isEnabledFor(logging.ERROR):
        logger.setLevel(logging.ERROR)  # a quiet logging setup must not hide a hole in the PDF
    logger.addHandler(handler)
    try:
        yield handler
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)


def _refused(refusal: RefusedURL) -> str:
    """One line naming a refused URL and why it was refused."""
    return f"report.pdf: refused to fetch {shorten(refusal.url)} ({refusal.reason})"


def _refusal(exc: BaseException) -> str:
    """One line naming the URL a fatal fetch failed on, and why."""
    cause = exc.__cause__
    if isinstance(cause, RefusedURL):
        return _refused(cause)
    # WeasyPrint's own message is 'Error fetching "<url>"'; the cause says what went wrong.
    what = shorten(str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__)
    why = f" ({type(cause).__name__}: {shorten(str(cause))})" if cause is not None else ""
    return f"report.pdf: {what}{why}"


PDF_SUBJECT = "LIME explanations of {models} on {inputs} inputs, with the evidence record they came from"
PDF_KEYWORDS = ["LIME", "explanation", "trust report", "audit evidence"]


def attached_files(evidence: Evidence, report_dir: Path | None) -> list[tuple[str, bytes, str]]:
    """(name, bytes, description) of every file the PDF carries: evidence.json, its signature, the config, artifacts/."""
    files = [(EVIDENCE_FILE, to_json(evidence).encode("utf-8"), "The evidence record this report was rendered from")]
    if report_dir is None:
        return files
    report_dir = Path(report_dir)
    signature = report_dir / SIGNATURE_FILE
    if signature.is_file():
        files.append((SIGNATURE_FILE, signature.read_bytes(), "Ed25519 signature over evidence.json (base64)"))
    config = report_dir / CONFIG_COPY
    if config.is_file():
        files.append((CONFIG_COPY, config.read_bytes(), "The config file the run was made with"))
    root = (report_dir / ARTIFACTS_DIR).resolve()
    for name in sorted(evidence.artifacts):
        path = (report_dir / ARTIFACTS_DIR / name).resolve()
        # An evidence record from elsewhere must not smuggle a file from outside artifacts/ into the PDF.
        if not safe_name(f"{ARTIFACTS_DIR}/{name}") or not path.is_relative_to(root):
            raise RenderError(f"evidence.artifacts: {shorten(name)!r} is not a path under {ARTIFACTS_DIR}/")
        if path.is_file():
            files.append((f"{ARTIFACTS_DIR}/{name}", path.read_bytes(), "An artifact the evidence record names"))
    return files


# MIME types of the attachments, fixed here: WeasyPrint would otherwise ask the system's MIME database,
# which differs between machines (a .yaml may be unknown on one, application/yaml on another; .sig reads
# as a PGP signature) and would change the PDF's bytes.
ATTACHMENT_TYPES = {".json": "application/json", ".sig": "text/plain", ".yaml": "application/yaml", ".png": "image/png"}


def _data_url(name: str, data: bytes) -> str:
    """The attachment as a data: URL, so its MIME type is the one given here (the only way WeasyPrint 70 takes one)."""
    mime = ATTACHMENT_TYPES.get(Path(name).suffix.lower(), "application/octet-stream")
    return f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"


def _page_footer_css(evidence: Evidence) -> str:
    """Print only: every page's footer names the sha256 of evidence.json, so a single printed page can be checked."""
    from reportgen.evidence import evidence_sha256
    from reportgen.render.provenance import FOOTER

    text = f"{FOOTER} {evidence_sha256(evidence)}"  # hex digits and plain words: nothing to escape
    return (
        "@page { @bottom-center { content: \"" + text + "\"; font-family: \"DejaVu Sans Mono\", monospace;"
        " font-size: 5.5pt; color: #8a939e; width: 76mm; } }"
    )


def _set_metadata(document: Any, evidence: Evidence) -> None:
    """Subject and keywords for the PDF's Info dictionary and XMP (the title comes from <title>)."""
    models = ", ".join(model.name for model in evidence.models) or "no model"
    inputs = sum(len(model.items) for model in evidence.models)
    document.metadata.description = PDF_SUBJECT.format(models=models, inputs=inputs)
    document.metadata.keywords = [*PDF_KEYWORDS, *(model.name for model in evidence.models)]
    if not document.metadata.title:
        document.metadata.title = evidence.title


def _dedupe_associated_files(document: Any, pdf: Any) -> None:
    """List each attachment once in the catalog's /AF (WeasyPrint 70 adds each twice: from the name tree
    and again from its Filespec scan)."""
    found = pdf.catalog.get("AF")
    if found is None:
        return
    unique = list(dict.fromkeys(found))  # references (b'12 0 R'), each kept once, in order
    found.clear()
    found.extend(unique)


def write_pdf(evidence: Evidence, html: str, target: Path, report_dir: Path | None = None) -> None:
    """Lay out the report's HTML as a PDF/A-3b at target, carrying evidence.json and, from report_dir, the files
    the evidence names (its signature, the config, every artifact) as attachments."""
    try:
        import weasyprint
        from weasyprint.urls import FatalURLFetchingError
    except ImportError:
        raise RenderError(
            "writing report.pdf needs WeasyPrint: pip install weasyprint (or ask for formats: [html])"
        ) from None
    created = _created(evidence.created)
    fetcher = report_fetcher()
    files = attached_files(evidence, report_dir)
    with source_date_epoch(evidence.created), _weasyprint_errors() as errors:
        try:
            attachments = [
                weasyprint.Attachment(
                    url=_data_url(name, data), url_fetcher=fetcher, name=name, description=description,
                    created=created, modified=created, relationship="Source" if name == EVIDENCE_FILE else "Data",
                )  # fmt: skip
                for name, data, description in files
            ]
            # base_url=None: a relative URL resolves to nothing and is never fetched.
            page_footer = weasyprint.CSS(string=_page_footer_css(evidence), url_fetcher=fetcher)
            document = weasyprint.HTML(string=html, base_url=None, url_fetcher=fetcher).render(
                stylesheets=[page_footer], pdf_variant=PDF_VARIANT
            )
            _set_metadata(document, evidence)
            document.write_pdf(target, finisher=_dedupe_associated_files, pdf_variant=PDF_VARIANT, attachments=attachments)
        except FatalURLFetchingError as exc:
            # A BaseException, so it passes WeasyPrint's own except clauses and ends the render here.
            raise RenderError(_refusal(exc)) from None
        except OSError as exc:
            raise RenderError(f"{target}: cannot write the PDF: {exc}") from exc
    if fetcher.refused or errors.messages:
        # The PDF was written with a hole where the resource should be: remove it and fail loudly.
        Path(target).unlink(missing_ok=True)
        if fetcher.refused:
            raise RenderError(_refused(fetcher.refused[0]))
        first = (errors.messages[0].strip().splitlines() or ["an error"])[0]
        raise RenderError(f"report.pdf: WeasyPrint could not use a resource: {shorten(first)}")
