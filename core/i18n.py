"""Every text the user reads goes through ``t()``; numbers, percentages and dates through the
formatters below. Both follow the language of the current session, never a process-wide one.

Catalogues
    Standard gettext catalogues, one per language: ``locales/<code>/LC_MESSAGES/messages.po``
    (``locales/messages.pot`` is the template). Messages are keyed by their English text
    (``t("Overview")``, ``t("No households are registered in {area}.", area=name)``), which
    ``pybabel extract`` (``babel.cfg``, keywords ``t`` and ``N_``) collects from the code. A
    text kept as data and translated later — an indicator's label, a list column, a page
    title — is marked where it is written with ``N_("...")``, which returns it unchanged;
    ``N_("... {field} ...", field=value)`` keeps its fields too (a :class:`Message`, e.g. an
    error raised below the UI), and ``t()`` translates it whole. The ``.po`` files are read
    directly (with Babel) the first time a language is used, not compiled to ``.mo``: there
    is no build step to forget and no binary file to drift from its source. A fuzzy or empty
    entry counts as missing. English needs no catalogue.

Language of the session
    The language lives in a :class:`contextvars.ContextVar`. Streamlit runs each session's
    script in its own thread, and ``ui.language.apply`` sets the session's language at the
    start of every run, so two sessions never see each other's choice. Work that runs outside
    the script thread (a download built when its button is clicked) or for a given user (an
    export, the meeting brief) runs inside ``with using(code):``. The command-line tools set
    the configured default (``[app] language``). Outside all of this the language is English.

Formats
    :func:`format_number`, :func:`format_percent` and :func:`format_date` use the language's
    conventions (CLDR, through Babel): "1,234.5" in English, "1 234,5" in French, "45,6 %".
    Digits stay Latin in every language, as in the registry and the tables. English dates
    stay ISO (2026-10-31), as Socle has always written them; the others use the language's
    medium form ("31 oct. 2026", "31 اکتوبر، 2026").
"""

from __future__ import annotations

import contextlib
import contextvars
import decimal
import functools
import logging
import math
import string
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

LOCALES = Path(__file__).resolve().parents[1] / "locales"
DOMAIN = "messages"
DEFAULT_LANGUAGE = "en"
MISSING = "–"  # how a missing number reads in every language
ISO_DATE = "yyyy-MM-dd"
# A language's dates, when not the CLDR medium form: English keeps Socle's ISO dates.
DATE_PATTERNS: dict[str, str] = {"en": ISO_DATE}


# Catalogues ----------------------------------------------------------------------------------

def catalogue_path(code: str) -> Path:
    return LOCALES / code / "LC_MESSAGES" / f"{DOMAIN}.po"


def read_catalogue(path: Path) -> dict[str, str]:
    """English text -> translation of a .po file; fuzzy, empty and obsolete entries left out."""
    from babel.messages.pofile import read_po

    with path.open("rb") as handle:
        catalog = read_po(handle)
    return {message.id: message.string for message in catalog
            if isinstance(message.id, str) and message.id and isinstance(message.string, str)
            and message.string and not message.fuzzy}


class _Catalogues(dict):
    """Language code -> its messages, each ``.po`` read the first time it is asked for."""

    def __missing__(self, code: str) -> dict[str, str]:
        path = catalogue_path(code)
        if not path.is_file():
            raise KeyError(code)
        messages = read_catalogue(path)
        self[code] = messages
        return messages


CATALOGUES: dict[str, Mapping[str, str]] = _Catalogues({DEFAULT_LANGUAGE: {}})


def languages() -> tuple[str, ...]:
    """The languages Socle speaks: English, every catalogue under locales/, any added in code."""
    found = sorted(p.parent.parent.name for p in LOCALES.glob(f"*/LC_MESSAGES/{DOMAIN}.po"))
    return tuple(dict.fromkeys([DEFAULT_LANGUAGE, *found, *CATALOGUES]))


def known_language(code: str | None) -> str | None:
    """``code`` normalised ("FR " -> "fr") when Socle speaks it, else None."""
    wanted = (code or "").strip().replace("-", "_")
    for known in languages():
        if known.lower() == wanted.lower():
            return known
    return None


def _messages(code: str) -> Mapping[str, str]:
    try:
        return CATALOGUES[code]
    except KeyError:
        return {}


# The session's language ----------------------------------------------------------------------

_language: contextvars.ContextVar[str] = contextvars.ContextVar("socle_language",
                                                                default=DEFAULT_LANGUAGE)


def _resolve(code: str | None) -> str:
    language = known_language(code or DEFAULT_LANGUAGE)
    if language is None:
        log.warning("no catalogue for language %r: the interface stays in English", code)
        return DEFAULT_LANGUAGE
    return language


def set_language(code: str | None) -> str:
    """Use ``code`` in the current context (this session's run, this command); return the
    language used. An unknown language falls back to English with a warning in the log."""
    language = _resolve(code)
    _language.set(language)
    return language


def current_language() -> str:
    return _language.get()


@contextlib.contextmanager
def using(code: str | None) -> Iterator[str]:
    """``with using("fr"):`` texts and formats in that language, the previous one after
    (None: the current language goes on)."""
    language = _resolve(code) if code is not None else current_language()
    token = _language.set(language)
    try:
        yield language
    finally:
        _language.reset(token)


@dataclass(frozen=True)
class Language:
    code: str
    name: str  # in the language itself, for the chooser: "Français", "اردو"
    rtl: bool  # written right to left (Urdu, Pashto)


@functools.lru_cache(maxsize=32)
def _locale(code: str):
    from babel import Locale, UnknownLocaleError

    try:
        return Locale.parse(code)
    except (UnknownLocaleError, ValueError):
        return Locale.parse(DEFAULT_LANGUAGE)  # a pseudo-locale of the tests: English formats


@functools.lru_cache(maxsize=32)
def language(code: str) -> Language:
    """What the interface needs to know about a language (from CLDR, through Babel)."""
    locale = _locale(code)
    if locale.language != code.split("_")[0]:
        return Language(code, code, rtl=False)
    name = locale.get_display_name(locale) or code
    return Language(code, name[:1].upper() + name[1:],
                    rtl=locale.character_order == "right-to-left")


def is_rtl(code: str | None = None) -> bool:
    return language(code or current_language()).rtl


# Messages ------------------------------------------------------------------------------------

class Message(str):
    """An English text with its fields, translated whole by ``t()`` (made by ``N_``).

    As a ``str`` it reads as the English text with its fields filled in (logs, audit rows).
    """

    template: str
    fields: dict[str, Any]

    def __new__(cls, template: str, fields: Mapping[str, Any]) -> Message:
        fields = dict(fields)
        message = super().__new__(cls, _fill(template, fields, template))
        message.template = template
        message.fields = fields
        return message

    def __reduce__(self):
        return (Message, (self.template, self.fields))


class Joined(Message):
    """Texts joined with a separator (a list of problems), each translated by ``t()``."""

    def __new__(cls, items: Any, separator: str = "; ") -> Joined:
        fields = {f"item{n}": item if isinstance(item, Message) else Message(str(item), {})
                  for n, item in enumerate(items)}
        return super().__new__(cls, separator.join("{" + name + "}" for name in fields), fields)


def N_(text: str, /, **fields: Any) -> str:  # noqa: N802 (gettext's name for the marker)
    """Mark ``text`` for the catalogues where it is written as data; ``t()`` translates it
    where it is shown. With fields, a :class:`Message` carrying them."""
    return Message(text, fields) if fields else text


def _fields(template: str) -> set[str]:
    try:
        return {name for _, name, _, _ in string.Formatter().parse(template) if name}
    except ValueError:
        return set()


def _fill(template: str, fields: Mapping[str, Any], english: str) -> str:
    """``template`` with its fields filled; the English text (as is, when it does not fit
    either) when they do not fit: a bad translation never breaks a page."""
    if not fields:
        return template
    try:
        return template.format(**fields)
    except (KeyError, IndexError, ValueError, AttributeError):
        if template is not english:
            log.warning("translation of %r into %s does not fit its fields", english,
                        current_language())
    try:
        return english.format(**fields)
    except (KeyError, IndexError, ValueError, AttributeError):
        log.warning("text %r needs fields %s, got %s", english, _fields(english), sorted(fields))
        return english


def t(text: str | BaseException, /, **fields: Any) -> str:
    """The text in the session's language, with ``{name}`` fields filled from ``fields``.

    ``text`` may be a :class:`Message` (its own fields are used) or an exception (its
    message). Field values that are Messages are translated too. A text missing from the
    catalogue reads in English; never raises for a bad translation.
    """
    if isinstance(text, BaseException):
        text = text.args[0] if text.args and isinstance(text.args[0], str) else str(text)
    if isinstance(text, Message):
        fields = {**text.fields, **fields}
        text = text.template
    fields = {name: t(value) if isinstance(value, Message) else value
              for name, value in fields.items()}
    english = str(text)
    translated = _messages(current_language()).get(english, english)
    return _fill(translated, fields, english)


# Formats -------------------------------------------------------------------------------------

def _missing(value: Any) -> bool:
    if value is None:
        return True
    try:
        return math.isnan(float(value))
    except (TypeError, ValueError):
        return True


def _exact(value: Any) -> decimal.Decimal:
    # The binary value itself, so rounding matches Python's own format() ("2.675" -> 2.67).
    return decimal.Decimal(value) if isinstance(value, float) else decimal.Decimal(str(value))


@functools.lru_cache(maxsize=256)
def _pattern(kind: str, digits: int | None, code: str):
    """The language's number or percent pattern with ``digits`` decimals (parsed once)."""
    from babel.numbers import parse_pattern

    locale = _locale(code)
    formats = locale.percent_formats if kind == "percent" else locale.decimal_formats
    pattern = parse_pattern(formats[None].pattern)
    pattern.frac_prec = (0, 6) if digits is None else (digits, digits)
    return pattern, locale


@functools.lru_cache(maxsize=32)
def _writes_like_python(code: str) -> bool:
    """Whether the language writes numbers as Python's format() does ("1,234.5", "45.6%"):
    then Python formats them, some fifty times faster than Babel, with the same text."""
    locale = _locale(code)
    symbols = locale.number_symbols.get("latn", {})
    return (symbols.get("group") == "," and symbols.get("decimal") == "."
            and symbols.get("minusSign", "-") == "-" and symbols.get("percentSign", "%") == "%"
            and locale.decimal_formats[None].pattern == "#,##0.###"
            and locale.percent_formats[None].pattern == "#,##0%")


def format_number(value: Any, digits: int | None = 0) -> str:
    """A number with the language's separators and ``digits`` decimals (None: as many as it
    has, up to 6, like ``format(value, "g")``); "–" when missing."""
    if _missing(value):
        return MISSING
    code = current_language()
    if digits is not None and _writes_like_python(code):
        number = value if isinstance(value, (int, float, decimal.Decimal)) else float(value)
        return f"{number:,.{digits}f}"
    pattern, locale = _pattern("decimal", digits, code)
    return pattern.apply(_exact(value), locale)


def format_percent(fraction: Any, digits: int = 1) -> str:
    """A share (0.456) as a percentage in the language's form ("45.6%", "45,6 %")."""
    if _missing(fraction):
        return MISSING
    code = current_language()
    if _writes_like_python(code):
        return f"{float(fraction) * 100:,.{digits}f}%"
    pattern, locale = _pattern("percent", digits, code)
    return pattern.apply(_exact(fraction), locale)


def format_date(day: Any) -> str:
    """A date in the language's form (English: ISO); "–" when missing."""
    if day is None:
        return MISSING
    from babel.dates import format_date as babel_date

    code = current_language()
    return babel_date(day, DATE_PATTERNS.get(code, "medium"), locale=_locale(code))
