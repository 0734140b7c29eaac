"""List sheets: rows streamed from chunks into write-only worksheets, split past Excel's limit.

:func:`write_list_sheets` never holds a list: each chunk's rows go to the sheet's temporary
file as they come (openpyxl's write-only sheets write strings inline, so there is no shared
string table growing with the list either). A list longer than one sheet holds continues on
"Title (2)", "Title (3)"..., each with its header, or is refused with ListTooLongError.
:class:`ListSheetsPlan` writes the lists of ``indicators.lists`` into a workbook.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import decimal
import math
import os
import re
import shutil
import tempfile
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import sqlalchemy as sa
from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.styles import Font, PatternFill
from openpyxl.utils import get_column_letter
from openpyxl.utils.datetime import WINDOWS_EPOCH, to_excel

from core.i18n import N_, format_number, t
from core.text import is_formula_text
from data_access.areas import AreaTree, read_area_tree
from data_access.context import UserContext
from indicators.lists import (
    ListColumn,
    ListSpec,
    get_list,
    list_rows,
    require_lists,
    visible_columns,
)

EXCEL_MAX_ROWS = 1_048_576
MAX_DATA_ROWS = EXCEL_MAX_ROWS - 1  # one row is the header
MAX_TITLE = 31  # Excel's limit on a sheet name
MAX_TEXT = 32_767  # Excel's limit on the characters of a cell
PROGRESS_EVERY = 10_000  # rows between progress reports

_BOLD = Font(bold=True)
_HEADER_FILL = PatternFill("solid", start_color="DDE4EE")
_NOT_IN_TITLES = re.compile(r"[\[\]:*?/\\]")
# Control characters an xlsx cannot hold (openpyxl refuses them): dropped from text.
_ILLEGAL = re.compile(r"[\000-\010]|[\013-\014]|[\016-\037]")


class ListTooLongError(ValueError):
    """A list has more rows than one sheet holds and splitting was not allowed."""


@dataclass
class ListSheetReport:
    sheets: list[str] = field(default_factory=list)
    rows: int = 0


def sheet_title(book: Workbook, title: str, number: int = 1) -> str:
    """A sheet name for the ``number``-th sheet of ``title``: without the characters Excel
    refuses, at most 31 characters with its " (n)" suffix, unique in ``book`` (ignoring case)."""
    base = _NOT_IN_TITLES.sub(" ", title).strip().strip("'") or "List"
    taken = {name.casefold() for name in book.sheetnames}
    while True:
        suffix = "" if number == 1 else f" ({number})"
        candidate = base[:MAX_TITLE - len(suffix)].rstrip() + suffix
        if candidate.casefold() not in taken:
            return candidate
        number += 1


def _plain(value: object) -> object:
    """A value as a cell takes it: None for every kind of missing, dates as dates."""
    kind = type(value)
    if kind is str:
        text = value if len(value) <= MAX_TEXT else value[:MAX_TEXT]
        return _ILLEGAL.sub("", text) if _ILLEGAL.search(text) else text
    if kind is int or kind is dt.date or kind is bool:
        return value
    if kind is float:
        return value if math.isfinite(value) else None
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, pd.Timestamp):
        return value.date() if value == value.normalize() else value.to_pydatetime()
    if isinstance(value, (dt.datetime, dt.date)):
        return value
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, (np.floating, decimal.Decimal)):
        number = float(value)
        return number if math.isfinite(number) else None
    if isinstance(value, np.datetime64):
        return _plain(pd.Timestamp(value))
    return _plain(str(value))


def _text_cell(ws, value: object, force: bool = False) -> object:
    """A value for openpyxl that is never a formula: text starting like one is a text cell
    (openpyxl would make ``=…`` a formula); other values as they are (``force``: a cell)."""
    if not force and not is_formula_text(value):
        return value
    cell = WriteOnlyCell(ws, value=value)
    if is_formula_text(value):
        cell.data_type = "s"
    return cell


def _columns(columns: Sequence[ListColumn | str | tuple[str, str]]) -> list[tuple[str, str, str]]:
    out = []
    for column in columns:
        if isinstance(column, ListColumn):
            out.append((column.name, column.label, column.kind))
        elif isinstance(column, str):
            out.append((column, column, "text"))
        else:
            name, label = column
            out.append((name, label, "text"))
    return out


def _width(label: str, kind: str) -> float:
    if kind == "date":
        return max(12, len(label) + 2)
    if kind == "int":
        return max(9, min(len(label) + 2, 16))
    return max(12, min(len(label) + 4, 36))


# --------------------------------------------------------------------------- fast rows
#
# openpyxl turns every cell into an object and an XML element (about 8,000 rows of 8 cells a
# second here). List sheets can be millions of rows, so their data rows are serialised below
# as SpreadsheetML text (the same markup openpyxl writes: inline strings, numbers, dates as
# serial numbers with a date style) into a file of their own, then spliced into the sheet
# file openpyxl wrote for the header, before its </sheetData>. openpyxl still writes
# everything else: sheet views, columns, the header's styles, the auto filter, the workbook.

_EXCEL_DAY_ZERO = dt.date(1899, 12, 30).toordinal()
_FIRST_PLAIN_SERIAL = dt.date(1900, 3, 1)  # before it, Excel's 29 February 1900 shifts days
_INF = float("inf")


def _escape(text: str) -> str:
    if "&" in text:
        text = text.replace("&", "&amp;")
    if "<" in text:
        text = text.replace("<", "&lt;")
    if ">" in text:
        text = text.replace(">", "&gt;")
    return text


class _FastRows:
    """Data rows of one write-only sheet, serialised to a file and spliced in on close."""

    def __init__(self, book: Workbook, ws, columns: int) -> None:
        writer = getattr(ws, "_writer", None)
        if not isinstance(getattr(writer, "out", None), str):
            raise _NoFastPath
        self.ws, self.book = ws, book
        self.starts = [f'<c r="{get_column_letter(i)}' for i in range(1, columns + 1)]
        # The workbook's style ids of a date and a date-time cell (registered as openpyxl
        # registers a cell's style).
        self.date_style = WriteOnlyCell(ws, value=dt.date(2000, 1, 1)).style_id
        self.datetime_style = WriteOnlyCell(ws, value=dt.datetime(2000, 1, 1, 1)).style_id
        self.epoch = book.epoch
        self.row = 1  # the header
        handle, self.path = tempfile.mkstemp(prefix="socle-rows.", suffix=".xml",
                                             dir=os.path.dirname(writer.out))
        self.file = os.fdopen(handle, "w", encoding="utf-8", newline="")

    def _cell(self, start: str, number: str, value: object) -> str:
        """One cell's markup; ``start`` is '<c r="' and its column letter (built once)."""
        kind = type(value)
        if kind is str:
            if not value:
                return ""
            if _ILLEGAL.search(value) or len(value) > MAX_TEXT:
                value = _plain(value)
            if value != value.strip():
                return (f'{start}{number}" t="inlineStr"><is><t xml:space="preserve">'
                        f"{_escape(value)}</t></is></c>")
            return f'{start}{number}" t="inlineStr"><is><t>{_escape(value)}</t></is></c>'
        if kind is int:
            return f'{start}{number}" t="n"><v>{value}</v></c>'
        if kind is float:
            if value != value or value in (_INF, -_INF):
                return ""
            return f'{start}{number}" t="n"><v>{value!r}</v></c>'
        if kind is dt.date and value >= _FIRST_PLAIN_SERIAL and self.epoch == WINDOWS_EPOCH:
            serial = value.toordinal() - _EXCEL_DAY_ZERO
            return f'{start}{number}" s="{self.date_style}" t="n"><v>{serial}</v></c>'
        if kind is bool:
            return f'{start}{number}" t="b"><v>{int(value)}</v></c>'
        plain = _plain(value)
        if plain is None:
            return ""
        if isinstance(plain, dt.datetime):
            return (f'{start}{number}" s="{self.datetime_style}" t="n">'
                    f"<v>{to_excel(plain, self.epoch)!r}</v></c>")
        if isinstance(plain, dt.date):
            return (f'{start}{number}" s="{self.date_style}" t="n">'
                    f"<v>{to_excel(plain, self.epoch)}</v></c>")
        return self._cell(start, number, plain)

    def append(self, values: Sequence[object]) -> None:
        """One row of raw values (any missing kind is an empty cell)."""
        self.row += 1
        number = str(self.row)
        cell = self._cell
        cells = "".join([cell(start, number, value)
                         for start, value in zip(self.starts, values, strict=True)
                         if value is not None])
        self.file.write(f'<row r="{number}">{cells}</row>')

    def close(self) -> None:
        """Close the sheet (openpyxl writes its file) and splice the rows in."""
        self.file.close()
        try:
            self.ws.close()
            target = self.ws._writer.out
            with open(target, "rb") as source:
                written = source.read()  # the views, the header row and the tail: small
            end = written.rfind(b"</sheetData>")
            if end < 0:
                raise RuntimeError("openpyxl wrote a sheet without </sheetData>")
            spliced = target + ".spliced"
            with open(spliced, "wb") as out, open(self.path, "rb") as rows:
                out.write(written[:end])
                shutil.copyfileobj(rows, out, 1 << 20)
                out.write(written[end:])
            os.replace(spliced, target)
        finally:
            self.discard()

    def discard(self) -> None:
        if not self.file.closed:
            self.file.close()
            # Abandoned (an error): finish openpyxl's sheet file too, so that nothing is
            # left writing to it when the workbook is collected.
            with contextlib.suppress(Exception):
                self.ws.close()
        with contextlib.suppress(FileNotFoundError):
            os.remove(self.path)


class _NoFastPath(Exception):
    """This openpyxl does not lay out write-only sheets as _FastRows expects."""


class _SlowRows:
    """openpyxl's own cells: used if the installed openpyxl has another layout."""

    def __init__(self, ws) -> None:
        self.ws = ws

    def append(self, values: Sequence[object]) -> None:
        self.ws.append([_text_cell(self.ws, v) for v in map(_plain, values)])

    def close(self) -> None:
        pass

    def discard(self) -> None:
        pass


def write_list_sheets(book: Workbook, title: str,
                      columns: Sequence[ListColumn | str | tuple[str, str]],
                      chunks: Iterable[pd.DataFrame], *, max_rows: int = MAX_DATA_ROWS,
                      split: bool = True, progress: Callable[[int], None] | None = None
                      ) -> ListSheetReport:
    """Stream the rows of ``chunks`` into sheets of ``book`` (a write-only Workbook).

    ``columns`` are ListColumns (or names, or (name, label) pairs): the frame columns written,
    in order, under a header of their labels. Past ``max_rows`` data rows the list goes on in
    a new sheet "title (2)"..., or, with ``split=False``, ListTooLongError is raised (the
    workbook is then incomplete: discard it). ``progress(rows written so far)`` is called
    every PROGRESS_EVERY rows and at the end. An empty list gives one sheet with its header.
    The sheets are closed when this returns: nothing more can be written to them.
    """
    if not 1 <= max_rows <= MAX_DATA_ROWS:
        raise ValueError(f"max_rows must be between 1 and {MAX_DATA_ROWS:,}")
    specs = _columns(columns)
    if not specs:
        raise ValueError("a list sheet needs at least one column")
    names = [name for name, _, _ in specs]
    last_column = get_column_letter(len(specs))
    report = ListSheetReport()
    current: list = [None, 0]  # the sheet's row writer, its data rows

    def close_sheet() -> None:
        rows, count = current
        if rows is not None:
            rows.ws.auto_filter.ref = f"A1:{last_column}{count + 1}"
            current[0] = None
            rows.close()

    def open_sheet() -> None:
        close_sheet()
        name = sheet_title(book, title, len(report.sheets) + 1)
        ws = book.create_sheet(name)
        for index, (_, label, kind) in enumerate(specs, start=1):
            ws.column_dimensions[get_column_letter(index)].width = _width(label, kind)
        ws.freeze_panes = "A2"  # a write-only sheet writes its view with the first row
        header = []
        for _, label, _ in specs:
            cell = _text_cell(ws, label, force=True)
            cell.font, cell.fill = _BOLD, _HEADER_FILL
            header.append(cell)
        ws.append(header)
        try:
            rows = _FastRows(book, ws, len(specs))
        except _NoFastPath:
            rows = _SlowRows(ws)
        rows.ws = ws
        report.sheets.append(name)
        current[0], current[1] = rows, 0

    open_sheet()
    try:
        for chunk in chunks:
            missing = [n for n in names if n not in chunk.columns]
            if missing:
                raise ValueError(f"the list `{title}` lacks the column(s) {missing}")
            # Column lists, not itertuples: iterating pandas' extension arrays (text, Int64)
            # value by value is several times slower than tolist().
            for row in zip(*(chunk[name].tolist() for name in names), strict=True):
                if current[1] >= max_rows:
                    if not split:
                        raise ListTooLongError(N_(
                            "The list “{title}” has more than {rows} rows, more than one "
                            "sheet holds: export it for a smaller area, or let it continue "
                            "on further sheets.", title=title, rows=format_number(max_rows)))
                    open_sheet()
                current[0].append(row)
                current[1] += 1
                report.rows += 1
                if progress is not None and report.rows % PROGRESS_EVERY == 0:
                    progress(report.rows)
        close_sheet()
    finally:
        if current[0] is not None:
            current[0].discard()
        close = getattr(chunks, "close", None)
        if close is not None:  # a generator reading the database: release its connection
            close()
    if progress is not None:
        progress(report.rows)
    return report


@dataclass(frozen=True)
class ListSheets:
    """What a list added to a workbook: the list, its sheets and its number of rows."""

    spec: ListSpec
    sheets: tuple[str, ...]
    rows: int


class ListSheetsPlan:
    """Lists to add to a workbook, checked before anything is written.

    Creating the plan checks every list id, the context's right to lists, the area and the
    context's scope (UnknownListError, PermissionError, UnknownAreaError); :meth:`write`
    then streams each list from the registry into its sheets.
    """

    def __init__(self, engine: sa.Engine, list_ids: Sequence[str], *, context: UserContext,
                 area_id: str | None, as_of: dt.date, period_start: dt.date | None,
                 referral_sla_days: int = 30, poverty_cutoff: float = 32.0,
                 areas: pd.DataFrame | None = None, split: bool = True,
                 chunk_size: int = 50_000) -> None:
        self.specs = [get_list(list_id) for list_id in list_ids]
        self.context, self.area_id, self.split = context, area_id, split
        require_lists(context)
        self.areas = AreaTree.of(read_area_tree(engine) if areas is None else areas)
        # list_rows checks its arguments at once and opens no connection until read.
        self.streams = [
            list_rows(engine, spec.id, context=context, area_id=area_id, areas=self.areas,
                      as_of=as_of, period_start=period_start,
                      referral_sla_days=referral_sla_days, poverty_cutoff=poverty_cutoff,
                      chunk_size=chunk_size, export=True)
            for spec in self.specs
        ]

    @property
    def area_text(self) -> str:
        return describe_list_area(self.areas, self.area_id, self.context)

    def write(self, book: Workbook, progress: Callable[[float, str], None] | None = None
              ) -> list[ListSheets]:
        """Write every list into ``book`` (titles and headers in the current language);
        ``progress(fraction, message)`` runs from 0 to 1."""
        done: list[ListSheets] = []
        count = max(len(self.specs), 1)
        for index, (spec, stream) in enumerate(zip(self.specs, self.streams, strict=True)):

            def report(rows: int, spec: ListSpec = spec, start: float = index / count) -> None:
                if progress is not None:
                    progress(start, t("Writing the list {title}: {rows} rows",
                                      title=t(spec.title), rows=format_number(rows)))

            report(0)
            columns = [dataclasses.replace(c, label=t(c.label))
                       for c in visible_columns(spec, self.context, export=True)]
            result = write_list_sheets(book, t(spec.title), columns, stream, split=self.split,
                                       progress=report)
            done.append(ListSheets(spec, tuple(result.sheets), result.rows))
        if progress is not None:
            progress(1.0, t("Lists written"))
        return done

    def close(self) -> None:
        """Release the lists not (fully) read."""
        for stream in self.streams:
            stream.close()


def describe_list_area(areas: AreaTree | pd.DataFrame, area_id: str | None, context: UserContext) -> str:
    """Which rows the lists hold, in words, for the Summary sheet."""
    table = AreaTree.of(areas).table
    names = dict(zip(table["area_id"], table["name"], strict=True))

    def named(a: str) -> str:
        name = names.get(a)
        return f"{name} ({a})" if name and name != a else a

    if area_id is not None:
        return t("{area} and the areas below it", area=named(area_id))
    if context.whole_registry:
        return t("All areas")
    return t("{areas} and the areas below them",
             areas="; ".join(named(a) for a in context.areas))
