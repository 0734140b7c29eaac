"""Every text the user reads goes through ``t()``.

Messages are keyed by their English text: ``t("Overview")``,
``t("No households are registered in {area}.", area=name)``. Each language has a catalogue
mapping the English text to its translation; a text missing from the catalogue (or a
language without a catalogue) falls back to English. French and Urdu catalogues come later:
add ``CATALOGUES["fr"] = {...}`` and name the language in ``[app] language``.
"""

from __future__ import annotations

import logging
import string

log = logging.getLogger(__name__)

DEFAULT_LANGUAGE = "en"

# English text -> translated text, per language. English needs no catalogue.
CATALOGUES: dict[str, dict[str, str]] = {
    "en": {},
}

_language = DEFAULT_LANGUAGE


def languages() -> tuple[str, ...]:
    return tuple(CATALOGUES)


def set_language(language: str) -> str:
    """Use ``language`` from now on (process-wide: it is a setting); return the language used.

    An unknown language falls back to English with a warning in the log.
    """
    global _language
    code = (language or DEFAULT_LANGUAGE).strip().lower()
    if code not in CATALOGUES:
        log.warning("no catalogue for language %r: the interface stays in English", language)
        code = DEFAULT_LANGUAGE
    _language = code
    return code


def current_language() -> str:
    return _language


def _fields(template: str) -> set[str]:
    try:
        return {name for _, name, _, _ in string.Formatter().parse(template) if name}
    except ValueError:
        return set()


def _format(template: str, kwargs: dict) -> str:
    if not kwargs:
        return template
    return template.format(**kwargs)


def t(key_or_text: str, **kwargs) -> str:
    """The text in the interface's language, with ``{name}`` fields filled from ``kwargs``.

    Never raises for a bad translation: a translation whose fields do not match falls back
    to the English text, and an English text whose fields are not all given is returned as is.
    """
    text = CATALOGUES.get(_language, {}).get(key_or_text, key_or_text)
    try:
        return _format(text, kwargs)
    except (KeyError, IndexError, ValueError):
        if text is not key_or_text:
            log.warning("translation of %r into %s does not fit its fields", key_or_text, _language)
    try:
        return _format(key_or_text, kwargs)
    except (KeyError, IndexError, ValueError):
        log.warning("text %r needs fields %s, got %s", key_or_text, _fields(key_or_text),
                    sorted(kwargs))
        return key_or_text
