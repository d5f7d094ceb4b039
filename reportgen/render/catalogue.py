"""The report's fixed strings, one catalogue file per language (render/strings/<language>.yaml).

A catalogue is a flat YAML mapping of dotted keys to strings. Numbers and data go in through named
placeholders (`{passed} of {total} explanations passed`); a string that depends on a count is a mapping
of plural forms (`one`, `other`; a language without plurals gives `other` only). Data passed in is never
interpreted: `t()` returns plain text that the template escapes, `tm()` escapes the data itself and turns
the catalogue's own `**bold**`, `*emphasis*` and `` `code` `` into <strong>, <em> and <code>.
"""

from __future__ import annotations

import functools
import re
import string
from importlib import resources
from pathlib import Path
from typing import Any

import yaml
from markupsafe import Markup, escape

from reportgen.errors import RenderError

DEFAULT_LANGUAGE = "en"
PLURAL_FORMS = ("one", "other")
_EMPHASIS = re.compile(r"\*\*(.+?)\*\*|\*(.+?)\*|`(.+?)`")
_TAGS = ("strong", "em", "code")


def strings_dir() -> Path:
    """The folder of catalogue files, inside the package (so it ships in the wheel)."""
    return Path(str(resources.files("reportgen.render"))) / "strings"


def languages() -> list[str]:
    """The languages there is a catalogue for, e.g. ['en', 'zh-CN']."""
    return sorted(path.stem for path in strings_dir().glob("*.yaml"))


def placeholders(text: str) -> set[str]:
    """The named placeholders of a catalogue string ('{passed} of {total}' -> {'passed', 'total'})."""
    return {name for _lit, name, _spec, _conv in string.Formatter().parse(text) if name}


def _plural(count: int, language: str) -> str:
    # English-style: one for exactly 1; Chinese has no plural forms (its catalogue gives `other` only).
    return "one" if count == 1 and language == "en" else "other"


class Catalogue:
    """The strings of one language: `t(key, **params)` for text, `tm(key, **params)` for light markup."""

    def __init__(self, language: str, strings: dict[str, Any]):
        self.language = language
        self.strings = strings

    def raw(self, key: str) -> Any:
        """The catalogue entry as written (a string, or a mapping of plural forms)."""
        try:
            return self.strings[key]
        except KeyError:
            raise RenderError(f"the {self.language} string catalogue has no key {key!r}") from None

    def _text(self, key: str, params: dict[str, Any]) -> str:
        entry = self.raw(key)
        if isinstance(entry, dict):
            count = params.get("count")
            if not isinstance(count, int):
                raise RenderError(f"string {key!r} has plural forms: pass count=")
            entry = entry.get(_plural(count, self.language)) or entry["other"]
        return entry

    def t(self, key: str, /, **params: Any) -> str:
        """The string for key, its placeholders filled in."""
        text = self._text(key, params)
        try:
            return text.format(**params) if params or "{" in text else text
        except (KeyError, IndexError, ValueError) as exc:
            raise RenderError(f"string {key!r} of the {self.language} catalogue: missing value {exc}") from None

    __call__ = t

    def tm(self, key: str, /, **params: Any) -> Markup:
        """The string as HTML: the data escaped (invisible characters marked), **x** and *x* as emphasis."""
        from reportgen.render.chars import mark

        text = str(escape(self._text(key, params)))
        text = _EMPHASIS.sub(lambda m: next(f"<{tag}>{inner}</{tag}>" for tag, inner in zip(_TAGS, m.groups()) if inner), text)
        try:
            return Markup(text.format(**{name: mark(value) for name, value in params.items()}))
        except (KeyError, IndexError, ValueError) as exc:
            raise RenderError(f"string {key!r} of the {self.language} catalogue: missing value {exc}") from None


def _read(path: Path) -> dict[str, Any]:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise RenderError(f"{path}: cannot read the string catalogue: {exc}") from None
    if not isinstance(data, dict):
        raise RenderError(f"{path}: a string catalogue is a mapping of keys to strings")
    for key, value in data.items():
        forms = value if isinstance(value, dict) else {"other": value}
        if "other" not in forms or set(forms) - set(PLURAL_FORMS) or not all(isinstance(v, str) for v in forms.values()):
            raise RenderError(f"{path}: {key}: expected a string or plural forms (one, other)")
    return data


@functools.cache
def catalogue(language: str = DEFAULT_LANGUAGE) -> Catalogue:
    """The catalogue of a language; an unknown language is a RenderError naming the known ones."""
    path = strings_dir() / f"{language}.yaml"
    if language not in languages():
        raise RenderError(f"no string catalogue for language {language!r} (known: {', '.join(languages())})")
    return Catalogue(language, _read(path))
