"""What the translation tests share: the messages of the code (extracted as ``pybabel extract``
does, with babel.cfg), the catalogues, a pseudo-locale, and the texts an AppTest page shows.

The pseudo-locale ``qps`` translates every message of the code into ``⟦message⟧``. A page
drawn in it shows every text that went through the catalogues between brackets: what is
left once the bracketed parts are taken away is data (names, numbers, dates) — or an
English text that escaped translation, which :func:`english_words` finds.
"""

from __future__ import annotations

import importlib.util
import json
import re
from collections.abc import Iterable, Iterator
from functools import lru_cache
from pathlib import Path

from babel.messages.pofile import read_po
from google.protobuf.descriptor import FieldDescriptor

ROOT = Path(__file__).resolve().parents[1]
LOCALES = ROOT / "locales"
PSEUDO = "qps"
OPEN, CLOSE = "⟦", "⟧"
LANGUAGES = ("fr", "ur", "ps")


def _scripts_i18n():
    """scripts/i18n.py, the catalogues' tool (extraction, checks), as a module."""
    spec = importlib.util.spec_from_file_location("socle_i18n_script", ROOT / "scripts" / "i18n.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


I18N = _scripts_i18n()


@lru_cache(maxsize=1)
def template():
    """Every message of the code (a Babel Catalog), extracted as `scripts/i18n.py extract`."""
    return I18N.extract()


def code_messages() -> dict[str, list[str]]:
    """Every message of the code: English text -> where it is (file:line)."""
    return {m.id: [f"{path}:{line}" for path, line in m.locations]
            for m in template() if m.id}


def read_catalogue(code: str):
    with (LOCALES / code / "LC_MESSAGES" / "messages.po").open("rb") as handle:
        return read_po(handle)


def pseudo_catalogue() -> dict[str, str]:
    return {message: f"{OPEN}{message}{CLOSE}" for message in code_messages()}


# What a page shows ----------------------------------------------------------------------------

# Proto fields holding text a user reads (ids, keys, icons, formats and values are not).
TEXT_FIELDS = frozenset({"body", "label", "help", "options", "placeholder", "caption", "text",
                         "title"})


def _strings(message, path: str = "") -> Iterator[tuple[str, str]]:
    for field, value in message.ListFields():
        values = value if field.is_repeated else [value]
        if field.type == FieldDescriptor.TYPE_STRING:
            for item in values:
                yield path + field.name, item
        elif field.type == FieldDescriptor.TYPE_MESSAGE:
            for item in values:
                yield from _strings(item, f"{path}{field.name}.")


def _json_texts(text: str, keys: frozenset[str]) -> Iterator[str]:
    try:
        data = json.loads(text)
    except ValueError:
        return
    stack = [data]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            if "title" in keys and "field" in item and "title" not in item and "type" in item:
                yield item["field"]  # a chart shows an untitled field by its name
            for key, value in item.items():
                if key in keys and isinstance(value, str):
                    yield value
                else:
                    stack.append(value)
        elif isinstance(item, list):
            stack.extend(item)


def shown_texts(at) -> list[tuple[str, str]]:
    """(element: field, text) of every text the page shows: labels, bodies, helps, options,
    dataframe headers and their helps, chart titles, map tooltips and legends."""
    texts: list[tuple[str, str]] = []

    def walk(node) -> None:
        proto = getattr(node, "proto", None)
        kind = type(node).__name__
        if proto is not None and hasattr(proto, "ListFields"):
            for name, value in _strings(proto):
                last = name.rsplit(".", 1)[-1]
                if last in TEXT_FIELDS:
                    texts.append((f"{kind}: {name}", value))
                elif last == "tooltip":  # a map's tooltip: an HTML template of the features'
                    for html in _json_texts(value, frozenset({"html"})):  # texts (line1...)
                        plain = re.sub(r"<[^>]*>|\{[^{}]*\}", " ", html)
                        texts.append((f"{kind}: map tooltip", plain))
                elif last == "columns":  # a dataframe's column config, JSON
                    texts.extend((f"{kind}: column", v)
                                 for v in _json_texts(value, frozenset({"label", "help"})))
                elif last == "spec":  # a Vega-Lite chart: axis and legend titles
                    texts.extend((f"{kind}: chart", v)
                                 for v in _json_texts(value, frozenset({"title"})))
                elif last == "json" and "DeckGl" in type(proto).__name__:
                    texts.extend((f"{kind}: map", v) for v in _json_texts(
                        value, frozenset({"line1", "line2", "html"})))
        children = getattr(node, "children", None)
        if isinstance(children, dict):
            for child in children.values():
                walk(child)

    walk(at._tree)
    return texts


def without_translated(text: str) -> str:
    """The text with every ⟦translated⟧ part taken away (innermost first: fields nest)."""
    inner = re.compile(f"{OPEN}[^{OPEN}{CLOSE}]*{CLOSE}")
    previous = None
    while previous != text:
        previous, text = text, inner.sub(" ", text)
    return text


@lru_cache(maxsize=1)
def english_vocabulary() -> frozenset[str]:
    """The words of the code's messages (3 letters or more, lower case)."""
    words: set[str] = set()
    for message in code_messages():
        plain = re.sub(r"\{[^{}]*\}", " ", message)
        words.update(w.lower() for w in re.findall(r"(?<![\w-])[A-Za-z]{3,}(?![\w-])", plain))
    return frozenset(words)


def english_words(text: str, allowed: Iterable[str] = ()) -> list[str]:
    """The English words (of the messages' vocabulary) left in a pseudo-translated text."""
    keep = {w.lower() for w in allowed}
    left = without_translated(re.sub(r"<[^>]*>", " ", text))  # HTML tags are not text
    return [w for w in re.findall(r"(?<![\w-])[A-Za-z]{3,}(?![\w-])", left)
            if w.lower() in english_vocabulary() and w.lower() not in keep]
