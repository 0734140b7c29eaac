"""The Export page's workbook: the CLI's workbook (``python -m exports``), as bytes. No Streamlit.

:func:`build_export` calls :func:`exports.workbook.export_registry` — the function the CLI
calls — with the same arguments the CLI passes for the same choices, so the page and
:func:`cli_command` give the same workbook (the Summary's "Generated" time aside).

Memory: the workbook is written, streaming, to a file in a temporary folder (openpyxl's
write-only sheets and the list sheets' rows go to temporary files as they come), then read
back once as bytes for the download button and the folder removed. The page holds those
bytes (one workbook per session, the compressed xlsx: about 140 kB for a district of the
20,000-household demo with three lists, about 44 MB for a list of a million 8-column rows)
until another workbook replaces it. Writing to ``io.BytesIO`` instead would hold the zip in
memory while it is written and copy it once more at ``getvalue()``.
"""

from __future__ import annotations

import datetime as dt
import io
import logging
import re
import tempfile
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import openpyxl
import pandas as pd
import sqlalchemy as sa

from core import i18n
from core.i18n import N_, format_number, t
from core.settings import Settings
from data_access.context import UserContext
from exports.lists import ListTooLongError
from exports.workbook import UnknownLevelError, export_registry, public_source
from indicators.lists import (
    LIST_BY_ID,
    LIST_IDS,
    ListPermissionError,
    UnknownAreaError,
    UnknownListError,
    parse_list_ids,
)

log = logging.getLogger(__name__)

Progress = Callable[[float, str], None]

DEFAULT_LISTS: tuple[str, ...] = ("overdue_referrals",)
NO_LISTS = "none"  # the `lists` link parameter when no list is wanted
XLSX_MIME = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
_UNSAFE_IN_FILE_NAMES = re.compile(r"[^A-Za-z0-9_.-]+")


class ExportError(Exception):
    """The workbook cannot be built: a plain message for the user (its first argument is
    the English text or a core.i18n Message: ``t(exc)`` translates it)."""


@dataclass(frozen=True)
class ExportChoices:
    """What the page (or the CLI's arguments) asks for."""

    level: int
    as_of: dt.date
    period_start: dt.date
    area_id: str | None = None  # the lists' area (and the areas below it); None: all
    lists: tuple[str, ...] = ()
    language: str | None = None  # the workbook's language; None: the configured default

    @property
    def file_name(self) -> str:
        """``socle_<area>_<as-of>.xlsx`` (``socle_level-<n>_<as-of>.xlsx`` for all areas)."""
        if self.area_id is None:
            place = f"level-{self.level}"
        else:
            place = _UNSAFE_IN_FILE_NAMES.sub("-", self.area_id).strip("-.") or "area"
        return f"socle_{place}_{self.as_of.isoformat()}.xlsx"


@dataclass(frozen=True)
class ListCount:
    """A list of the workbook: its title, rows and the sheets holding them."""

    title: str
    rows: int
    sheets: tuple[str, ...]

    @property
    def rows_text(self) -> str:
        return format_number(self.rows)


@dataclass(frozen=True)
class BuiltExport:
    """A workbook built for the page, with what it was built for."""

    choices: ExportChoices
    context: UserContext
    registry_version: dt.datetime | None
    data: bytes
    lists: tuple[ListCount, ...]
    seconds: float

    @property
    def file_name(self) -> str:
        return self.choices.file_name

    @property
    def size_text(self) -> str:
        size = len(self.data)
        if size >= 1_000_000:
            return t("{size} MB", size=format_number(size / 1_000_000, 1))
        return t("{size} kB", size=format_number(max(size / 1000, 0.1), 1))

    @property
    def seconds_text(self) -> str:
        return format_number(self.seconds, 1)

    def matches(self, choices: ExportChoices, context: UserContext,
                registry_version: dt.datetime | None) -> bool:
        """Whether this workbook is the one these choices (and this registry) give."""
        return (self.choices, self.context, self.registry_version) == (
            choices, context, registry_version)


# --------------------------------------------------------------------------- links


def parse_lists_param(text: str | None) -> list[str] | None:
    """The list ids of a ``lists`` link parameter (``a,b`` or ``none``); None when absent or
    when it names no known list (the page then uses its default)."""
    if text is None or not text.strip():
        return None
    if text.strip() == NO_LISTS:
        return []
    known = [item.strip() for item in text.split(",") if item.strip() in LIST_BY_ID]
    return list(dict.fromkeys(known)) or None


def lists_param(list_ids: Iterable[str]) -> str:
    ids = [i for i in list_ids if i in LIST_BY_ID]
    return ",".join(ids) if ids else NO_LISTS


def offered_lists(context: UserContext) -> tuple[str, ...]:
    """The lists the context may add (none for a role that sees aggregates only)."""
    return LIST_IDS if context.sees_lists else ()


# --------------------------------------------------------------------------- the CLI


def cli_arguments(choices: ExportChoices, out: str | Path | None = None) -> list[str]:
    """The ``python -m exports`` arguments giving the same workbook as these choices."""
    args = ["--level", str(choices.level), "--as-of", choices.as_of.isoformat(),
            "--period-start", choices.period_start.isoformat()]
    if choices.lists:
        args += ["--lists", ",".join(choices.lists)]
        if choices.area_id is not None:
            args += ["--area", choices.area_id]
    if choices.language is not None:
        args += ["--language", choices.language]
    args += ["--out", str(out if out is not None else choices.file_name)]
    return args


def cli_command(choices: ExportChoices, out: str | Path | None = None) -> str:
    """The command line, to show (arguments quoted only when they need it)."""
    import shlex

    return " ".join(["python", "-m", "exports",
                     *(shlex.quote(a) for a in cli_arguments(choices, out))])


# --------------------------------------------------------------------------- building


def _parts(template: str) -> tuple[str, str]:
    """What comes before and after the field of a one-field text, in the current language
    ("List: {title}" -> "List: ", "")."""
    text = t(template)  # no field given: the translated template itself
    before, _, after = text.partition("{" + template.split("{", 1)[1].split("}", 1)[0] + "}")
    return before, after


def _field(text: object, parts: tuple[str, str]) -> str | None:
    before, after = parts
    if not isinstance(text, str) or not text.startswith(before) or not text.endswith(after):
        return None
    return text[len(before):len(text) - len(after)] if after else text[len(before):]


def list_counts(data: bytes) -> tuple[ListCount, ...]:
    """The lists a workbook holds, read from its Summary's "List: <title>" lines (a workbook
    in the current language: the labels are read as the workbook wrote them)."""
    book = openpyxl.load_workbook(io.BytesIO(data), read_only=True)
    summary = t("Summary")
    list_line, sheets_cell = _parts(N_("List: {title}")), _parts(N_("sheets {sheets}"))
    try:
        if summary not in book.sheetnames:
            return ()
        found: list[ListCount] = []
        for row in book[summary].iter_rows(max_col=3, values_only=True):
            label = row[0] if row else None
            if label == t("area_id"):  # the table's header: the title lines are over
                break
            title = _field(label, list_line)
            if title is not None:
                rows = int(row[1]) if isinstance(row[1], (int, float)) else 0
                named = _field(row[2], sheets_cell)
                sheets = (tuple(s.strip() for s in named.split(",")) if named is not None
                          else (title,))
                found.append(ListCount(title, rows, sheets))
        return tuple(found)
    finally:
        book.close()


def build_export(engine: sa.Engine, settings: Settings, choices: ExportChoices, *,
                 context: UserContext, progress: Progress | None = None,
                 registry_version: dt.datetime | None = None,
                 audit_store: sa.Engine | None = None,
                 suspected_pairs: pd.DataFrame | None = None) -> BuiltExport:
    """The workbook of ``choices`` as ``context`` may see it, as the CLI writes it (recorded
    in the audit log of ``audit_store``, the app store, when given). ``suspected_pairs``: the
    linkage pairs not dismissed, for dup.suspected_pairs (export_registry).

    ``progress(fraction, message)`` is called as it is built (messages in the workbook's
    language: ``choices.language``, else the current one). Raises ExportError with a plain
    message: lists the context may not see (a donor), an area outside its scope or unknown,
    a level without areas, a registry that cannot be read, a temporary folder that cannot be
    written.
    """
    with i18n.using(choices.language):
        return _build_export(engine, settings, choices, context=context, progress=progress,
                             registry_version=registry_version, audit_store=audit_store,
                             suspected_pairs=suspected_pairs)


def _build_export(engine: sa.Engine, settings: Settings, choices: ExportChoices, *,
                  context: UserContext, progress: Progress | None,
                  registry_version: dt.datetime | None, audit_store: sa.Engine | None,
                  suspected_pairs: pd.DataFrame | None) -> BuiltExport:
    started = time.perf_counter()
    try:
        lists = parse_list_ids(choices.lists)
        with tempfile.TemporaryDirectory(prefix="socle-export-") as folder:
            path = export_registry(
                engine, level=choices.level, as_of=choices.as_of,
                period_start=choices.period_start, settings=settings,
                out=Path(folder) / choices.file_name,
                source=public_source(settings.database_url), progress=progress,
                lists=lists, area_id=choices.area_id if lists else None, context=context,
                audit_store=audit_store, audit_via="page", suspected_pairs=suspected_pairs,
                language=i18n.current_language())
            data = path.read_bytes()
    except (UnknownLevelError, UnknownAreaError, UnknownListError, ListPermissionError,
            ListTooLongError) as exc:
        raise ExportError(exc.args[0] if exc.args else str(exc)) from None
    except sa.exc.SQLAlchemyError:
        log.exception("cannot read the registry for an export")
        raise ExportError(N_("The registry could not be read just now. Try again in a moment; "
                             "if it keeps failing, tell the administrator (the details are in "
                             "the server log).")) from None
    except OSError as exc:
        log.exception("cannot write an export")
        raise ExportError(N_("The workbook could not be written in the server's temporary "
                             "folder ({problem}); tell the administrator.",
                             problem=exc.strerror or str(exc))) from None
    counts = list_counts(data) if lists else ()
    return BuiltExport(choices=choices, context=context, registry_version=registry_version,
                       data=data, lists=counts, seconds=time.perf_counter() - started)


def sheet_values(data: bytes, *, skip_generated: bool = True) -> dict[str, list[tuple]]:
    """Every sheet's cell values (read-only), the Summary's "Generated" line left out (a
    workbook in the current language).

    For comparing two workbooks: the page's and the CLI's are equal but for that line.
    """
    book = openpyxl.load_workbook(io.BytesIO(data), read_only=True)
    summary, generated = t("Summary"), t("Generated")
    try:
        return {name: [row for row in book[name].iter_rows(values_only=True)
                       if not (skip_generated and name == summary and row
                               and row[0] == generated)]
                for name in book.sheetnames}
    finally:
        book.close()
