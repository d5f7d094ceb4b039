"""The project's own error hierarchy; only reportgen.cli turns these into messages and exit codes."""

from __future__ import annotations


class ReportgenError(Exception):
    """Base class of every error reportgen reports to a user (never with a traceback)."""

    exit_code = 1


class ConfigError(ReportgenError):
    """The config file is invalid or names something that does not exist (found before anything runs)."""

    exit_code = 2


class UsageError(ReportgenError):
    """The command line asks for something impossible (a missing report folder, say)."""

    exit_code = 2


class ModelError(ReportgenError):
    """A model could not be loaded, was refused, or does not fit its config (fails that model only)."""


class InputError(ReportgenError):
    """An input could not be read or decoded (fails that item only)."""


class ExplainError(ReportgenError):
    """An explanation could not be computed for one item (fails that item only)."""


class RenderError(ReportgenError):
    """The report could not be rendered from the evidence."""


class EvidenceError(ReportgenError):
    """An evidence record is missing, unreadable or of an unknown schema version."""

    exit_code = 2


def describe(exc: BaseException, path: object = None, rel: str = "") -> str:
    """A library exception as one line, with the absolute path of `path` shown as `rel` (no home folders leak)."""
    lines = str(exc).strip().splitlines()
    text = lines[0] if lines else type(exc).__name__
    if path is not None:
        text = text.replace(str(path), rel)
    return text


class Interrupted(ReportgenError):
    """Ctrl-C: the run stopped between two items; what was finished is in the cache."""

    exit_code = 130
