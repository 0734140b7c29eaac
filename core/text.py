"""Text that someone typed, made inert where Socle puts it: spreadsheet cells and Markdown.

- **Spreadsheets.** A CSV cell (or a workbook cell) starting with ``=``, ``+``, ``-``, ``@``, a
  tab or a carriage return is read as a formula by Excel and LibreOffice: a failed sign-in
  name ``=HYPERLINK("http://…"&A2,"open")`` in the audit CSV became a live link sending the
  next cell away (issue 17). :func:`inert_csv` prefixes such text with an apostrophe, as
  OWASP's CSV-injection advice does (spreadsheets then show it as text; a program reading
  the CSV sees the apostrophe). Workbook cells are typed instead (exports.workbook and
  exports.lists write text cells as text: :func:`is_formula_text` says which need it), so
  their text stays exactly as typed.
- **Markdown.** Streamlit renders messages as Markdown: a backtick in a typed name closed
  the message's code span, and an image after it made the browser fetch a URL.
  :func:`code_span` quotes text in a code span no backtick can close; :func:`markdown_text`
  escapes every character Markdown (and Streamlit's ``:colour[…]``, ``:icon:`` and ``$…$``
  extensions) would read.
"""

from __future__ import annotations

import re
from typing import Any

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
# What Markdown reads anywhere in a line (links, images, code, emphasis, HTML, Streamlit's
# :colour[…] and :icon:, $…$); a heading, quote or list marker counts only at the start.
_MARKDOWN_SPECIAL = re.compile(r"([\\`*_\[\]<>!|~$:#])")
_LINE_START = re.compile(r"^(\s*)([-+>]|\d+[.)])")
_BACKTICKS = re.compile(r"`+")


def is_formula_text(value: Any) -> bool:
    """Whether a spreadsheet would read this text as a formula (or a DDE command)."""
    return isinstance(value, str) and value.startswith(FORMULA_STARTS)


def inert_csv(value: Any) -> Any:
    """A CSV cell's value that no spreadsheet runs: text starting like a formula gets a
    leading apostrophe; anything else is returned unchanged."""
    return "'" + value if is_formula_text(value) else value


def code_span(value: Any) -> str:
    """``value`` as a Markdown code span that its own backticks cannot close (CommonMark: a
    fence longer than any run of backticks inside, padded with spaces)."""
    text = str(value).replace("\r", " ").replace("\n", " ")
    longest = max((len(run) for run in _BACKTICKS.findall(text)), default=0)
    fence = "`" * (longest + 1)
    padding = " " if text.startswith("`") or text.endswith("`") or longest else ""
    return f"{fence}{padding}{text}{padding}{fence}"


def markdown_text(value: Any) -> str:
    """``value`` shown as plain text in Markdown: every character Markdown would read is
    escaped with a backslash (a list or quote marker at the start too), line breaks become
    spaces. Ordinary names (letters, spaces, dots, hyphens, brackets) come out unchanged."""
    text = str(value).replace("\r", " ").replace("\n", " ")
    text = _MARKDOWN_SPECIAL.sub(r"\\\1", text)
    return _LINE_START.sub(lambda m: m.group(1) + "".join("\\" + c if not c.isdigit() else c
                                                          for c in m.group(2)), text)
