"""The Excel export: the long form and its readable views as one streaming xlsx workbook.

Every sheet is written with openpyxl's write-only (streaming) workbook, so rows go to disk
as they are produced: a sheet of a million rows costs no more memory than one of ten.
Pages call :func:`build_workbook` (bytes for a download button); the CLI calls
:func:`export_registry`, which computes the indicators and writes the file. Both can add
list sheets (``lists=("overdue_referrals", ...)``, see ``indicators.lists``), streamed from
the registry after the Data quality sheet; the Summary then names them with their row counts.

Language: sheet titles, headers, labels, definitions and notes are in the language given
(``language``; None: the current one, core.i18n); numbers, dates and ids stay values, so a
French or Urdu workbook computes and sorts like an English one. The Indicators sheet's
header names the long form's columns in that language, in the spec's order.
"""

from __future__ import annotations

import datetime as dt
import io
import math
import numbers
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import pandas as pd
import sqlalchemy as sa
from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter
from sqlalchemy.engine import make_url

from core import i18n
from core.i18n import N_, format_date, t
from core.text import is_formula_text
from core.values import is_missing
from data_access.registry import connection, registry_file
from indicators.catalogue import (
    ACCESS_POINT,
    BY_ID,
    CATALOGUE,
    LONG_FORM_COLUMNS,
    PROGRAMME,
    Indicator,
)

if TYPE_CHECKING:
    from core.settings import Settings
    from data_access.context import UserContext
    from exports.lists import ListSheets, ListSheetsPlan

Progress = Callable[[float, str], None]

TITLE = N_("Socle — indicator summary")
ALL_AREAS = N_("All areas")
SHEETS = (N_("Summary"), N_("Indicators"), N_("Definitions"), N_("Data quality"))
# The long form's column names as the Indicators sheet's header reads them (in English, the
# spec's names; translated like every header).
COLUMN_TEXTS = (N_("indicator_id"), N_("area_id"), N_("area_name"), N_("level"),
                N_("programme_id"), N_("breakdown"), N_("period_start"), N_("period_end"),
                N_("numerator"), N_("denominator"), N_("value"))
DATE_FORMAT = "yyyy-mm-dd"
TEXT_COLUMNS = ("indicator_id", "area_id", "area_name", "programme_id", "breakdown")
DATE_COLUMNS = ("period_start", "period_end")
INT_COLUMNS = ("level", "numerator", "denominator")
LEFT_OUT_NOTE = N_(
    "Rows left out of the indicators (unknown or wrong-level areas, orphan persons, "
    "enrolments and referrals that break the registry contract) are excluded from every "
    "other indicator in this workbook; the data-quality figures below include them."
)
SUPPRESSED_NOTE = N_(
    "Empty cells are hidden: counts from 1 to {top}, and enough others that none of them can "
    "be worked out from the figures shown (docs/suppression.md)."
)
AREA_NOTE = N_(
    "Rows whose area is unknown, or coarser than the level asked for, count only in the "
    "All areas figure. Rows left out are counted for the whole registry only."
)

_BOLD = Font(bold=True)
_TITLE_FONT = Font(bold=True, size=14)
_HEADER_FILL = PatternFill("solid", start_color="DDE4EE")
_WRAP = Alignment(wrap_text=True, vertical="top")
_PROGRESS_EVERY = 5_000  # rows between progress reports in long sheets
LIST_ROWS_FORMAT = '#,##0" {rows}"'  # the word "rows" in the workbook's language


def _list_rows_format() -> str:
    return LIST_ROWS_FORMAT.format(rows=t("rows").replace('"', "'"))


class UnknownLevelError(ValueError):
    """The level asked for has no area in the registry."""


def _write_floats_exactly() -> None:
    """Make openpyxl write floats with repr (shortest exact form) instead of ``%.16g``.

    ``%.16g`` drops the 17th significant digit, so 2/3 would not read back as 2/3. Only
    Python floats are affected, and only how their text is written; installed once.
    """
    from openpyxl.cell import _writer

    original = _writer.safe_string
    if getattr(original, "socle_exact_floats", False):
        return

    def safe_string(value):
        if type(value) is float and math.isfinite(value):
            return repr(value)
        return original(value)

    safe_string.socle_exact_floats = True
    _writer.safe_string = safe_string


_write_floats_exactly()


# --------------------------------------------------------------------------- values


def _text(value: Any) -> str | None:
    if is_missing(value):
        return None
    text = str(value)
    return text if text != "" else None


def _integer(value: Any) -> int | None:
    if is_missing(value):
        return None
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, numbers.Integral):
        return int(value)
    number = float(value)
    if not number.is_integer():
        raise ValueError(f"expected a whole number, got {value!r}")
    return int(number)


def _number(value: Any) -> float | int | None:
    if is_missing(value):
        return None
    if isinstance(value, numbers.Integral) and not isinstance(value, bool):
        return int(value)
    number = float(value)
    return None if math.isnan(number) or math.isinf(number) else number


def _date(value: Any) -> dt.date | None:
    if is_missing(value):
        return None
    if isinstance(value, pd.Timestamp):
        return value.date()
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    if isinstance(value, str):
        return dt.date.fromisoformat(value[:10])
    raise ValueError(f"expected a date, got {value!r}")


_CONVERTERS: dict[str, Callable[[Any], Any]] = {
    **{c: _text for c in TEXT_COLUMNS},
    **{c: _date for c in DATE_COLUMNS},
    **{c: _integer for c in INT_COLUMNS},
    "value": _number,
}


def long_form_records(figures: pd.DataFrame) -> Iterator[dict[str, Any]]:
    """The rows of a long-form frame as plain Python values (None for every kind of missing)."""
    missing = [c for c in LONG_FORM_COLUMNS if c not in figures.columns]
    if missing:
        raise ValueError(f"the figures lack the long-form column(s) {missing}")
    converters = [_CONVERTERS[c] for c in LONG_FORM_COLUMNS]
    for row in figures[list(LONG_FORM_COLUMNS)].itertuples(index=False, name=None):
        yield {c: f(v) for c, f, v in zip(LONG_FORM_COLUMNS, converters, row, strict=True)}


def public_source(url: str) -> str:
    """A database URL fit to print: the password hidden."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except sa.exc.ArgumentError:
        return url


def describe_engine(engine: sa.Engine) -> str:
    """The URL of the database behind an engine, password hidden (the file for read-only SQLite)."""
    url = engine.url
    path = registry_file(engine)  # the file of a read-only `file:` URI, or of a plain URL
    if path is not None:
        return f"{engine.dialect.name}:///{path}"
    if url.get_backend_name() == "sqlite" and not url.database:
        try:
            with connection(engine) as conn:
                rows = conn.exec_driver_sql("PRAGMA database_list").fetchall()
        except sa.exc.SQLAlchemyError:
            rows = []
        files = [r[2] for r in rows if r[1] == "main" and r[2]]
        if files:
            return f"sqlite:///{files[0]}"
    return url.render_as_string(hide_password=True)


def value_format(indicator_id: str | None) -> str:
    """Excel number format of an indicator's value ('General' for an id not in the catalogue)."""
    ind = BY_ID.get(indicator_id or "")
    if ind is None:
        return "General"
    if ind.unit == "per_1000":
        # The value is a fraction per person; an Excel format cannot scale it by 1,000.
        return "0.00000"
    return ind.number_format


def _describe_breakdowns(ind: Indicator) -> str:
    parts: list[str] = []
    if ind.per_programme:
        parts.append(t("per programme (rows for each programme only)"))
    for b in ind.breakdowns:
        if b == PROGRAMME:
            parts.append(t("programme referred to"))
        elif b == ACCESS_POINT:
            parts.append("access_point=<access_point_id>")
        else:
            parts.append(b)
    return ", ".join(parts)


def _yes_no(flag: bool | None) -> str:
    return "—" if flag is None else (t("yes") if flag else t("no"))


# --------------------------------------------------------------------------- sheet writing


class _Sheet:
    """A write-only sheet with helpers for styled cells."""

    def __init__(self, workbook: Workbook, title: str, widths: Sequence[float]):
        self.ws = workbook.create_sheet(title)
        for index, width in enumerate(widths, start=1):
            self.ws.column_dimensions[get_column_letter(index)].width = width
        self.rows = 0

    def cell(self, value: Any, *, number_format: str | None = None, font: Font | None = None,
             fill: PatternFill | None = None, alignment: Alignment | None = None) -> WriteOnlyCell:
        cell = WriteOnlyCell(self.ws, value=value)
        if is_formula_text(value):
            cell.data_type = "s"  # text, not a formula (core.text): names are typed by people
        if number_format is not None and value is not None:
            cell.number_format = number_format
        if font is not None:
            cell.font = font
        if fill is not None:
            cell.fill = fill
        if alignment is not None:
            cell.alignment = alignment
        return cell

    def append(self, row: Iterable[Any]) -> int:
        self.ws.append([self.cell(v) if is_formula_text(v) else v for v in row])
        self.rows += 1
        return self.rows

    def header(self, names: Sequence[str], *, wrap: bool = False) -> int:
        align = _WRAP if wrap else None
        return self.append(self.cell(n, font=_BOLD, fill=_HEADER_FILL, alignment=align)
                           for n in names)

    def landscape(self, *, fit_width: bool = True) -> None:
        self.ws.page_setup.orientation = "landscape"
        if fit_width:
            self.ws.sheet_properties.pageSetUpPr.fitToPage = True
            self.ws.page_setup.fitToWidth = 1
            self.ws.page_setup.fitToHeight = 0


def _period_label(period_start: dt.date | None, as_of: dt.date) -> str:
    if period_start is None:
        return t("up to {as_of} (referral indicators)", as_of=format_date(as_of))
    return t("{start} to {end} (referral indicators)", start=format_date(period_start),
             end=format_date(as_of))


def _headline_indicators() -> list[Indicator]:
    return [i for i in CATALOGUE if i.headline]


def _write_summary(book: Workbook, records: list[dict[str, Any]], *, level: int,
                   level_name: str, as_of: dt.date, period_start: dt.date | None, source: str,
                   generated_at: dt.datetime, lists: Sequence[ListSheets] = (),
                   lists_area: str | None = None, whole_registry: bool = True,
                   suppressed_below: int | None = None) -> None:
    headline = _headline_indicators()
    # Headline values: rows without breakdown and without programme.
    values: dict[tuple[str | None, str], float | int | None] = {}
    areas: dict[str, str | None] = {}
    for r in records:
        if r["area_id"] is not None and r["level"] == level:
            areas.setdefault(r["area_id"], r["area_name"])
        if r["breakdown"] is None and r["programme_id"] is None:
            values[(r["area_id"], r["indicator_id"])] = r["value"]
    ordered = sorted(areas.items(), key=lambda kv: ((kv[1] or "").casefold(), kv[0]))

    all_areas = t(ALL_AREAS)
    labels = [t(i.label) for i in headline]
    name_width = max([len(all_areas)] + [len(n or "") for _, n in ordered]) + 2
    id_width = max([10] + [len(a) for a, _ in ordered]) + 2
    sheet = _Sheet(book, t("Summary"), [id_width, min(name_width, 40)]
                   + [max(14, min(len(label) + 2, 24)) for label in labels])
    sheet.landscape()
    titles = (
        (t("Level"), t("{name} (level {level})", name=t(level_name), level=level)),
        (t("As of"), format_date(as_of)),
        (t("Period"), _period_label(period_start, as_of)),
        (t("Source"), source),
        (t("Generated"), generated_at.strftime("%Y-%m-%d %H:%M:%S %Z").strip()),
    )
    if suppressed_below is not None:
        titles += ((t("Suppressed"), t(SUPPRESSED_NOTE, top=max(suppressed_below - 1, 0))),)
    list_lines: list[list[Any]] = []
    if lists:
        list_lines.append([sheet.cell(t("Lists of"), font=_BOLD), lists_area or all_areas])
        for done in lists:
            title = t(done.spec.title)
            sheets = ", ".join(done.sheets) if done.sheets != (title,) else None
            list_lines.append([sheet.cell(t("List: {title}", title=title), font=_BOLD),
                               sheet.cell(done.rows, number_format=_list_rows_format()),
                               t("sheets {sheets}", sheets=sheets) if sheets else None])
    header_row = len(titles) + len(list_lines) + 3  # title, the lines above, a blank row
    # A write-only sheet writes its view with the first row: freeze before appending.
    sheet.ws.freeze_panes = f"A{header_row + 1}"
    sheet.ws.print_title_rows = f"{header_row}:{header_row}"
    sheet.append([sheet.cell(t(TITLE), font=_TITLE_FONT)])
    for label, text in titles:
        sheet.append([sheet.cell(label, font=_BOLD), text])
    for line in list_lines:
        sheet.append(line)
    sheet.append([])
    written = sheet.header([t("area_id"), t("area name")] + labels, wrap=True)
    assert written == header_row

    def row(area_id: str | None, name: str | None, font: Font | None = None) -> list:
        return [sheet.cell(area_id, font=font), sheet.cell(name, font=font)] + [
            sheet.cell(values.get((area_id, i.id)), number_format=i.number_format, font=font)
            for i in headline
        ]

    if whole_registry:
        sheet.append(row(None, all_areas, _BOLD))
    for area_id, name in ordered:
        sheet.append(row(area_id, name))


def _write_indicators(book: Workbook, records: list[dict[str, Any]],
                      progress: Callable[[float], None]) -> None:
    widths = {"indicator_id": 24, "area_id": 12, "area_name": 22, "level": 7,
              "programme_id": 14, "breakdown": 22, "period_start": 12, "period_end": 12,
              "numerator": 12, "denominator": 12, "value": 12}
    sheet = _Sheet(book, t("Indicators"), [widths[c] for c in LONG_FORM_COLUMNS])
    sheet.ws.freeze_panes = "A2"
    sheet.header([t(c) for c in LONG_FORM_COLUMNS])
    last = get_column_letter(len(LONG_FORM_COLUMNS))
    sheet.ws.auto_filter.ref = f"A1:{last}{len(records) + 1}"
    date_index = {LONG_FORM_COLUMNS.index(c) for c in DATE_COLUMNS}
    value_index = LONG_FORM_COLUMNS.index("value")
    formats: dict[str | None, str] = {}
    total = max(len(records), 1)
    for n, record in enumerate(records, start=1):
        out: list[Any] = [record[c] for c in LONG_FORM_COLUMNS]
        for i in date_index:
            if out[i] is not None:
                out[i] = sheet.cell(out[i], number_format=DATE_FORMAT)
        if out[value_index] is not None:
            ind_id = record["indicator_id"]
            if ind_id not in formats:
                formats[ind_id] = value_format(ind_id)
            out[value_index] = sheet.cell(out[value_index], number_format=formats[ind_id])
        sheet.append(out)
        if n % _PROGRESS_EVERY == 0:
            progress(n / total)


def _write_definitions(book: Workbook) -> None:
    columns = [N_("id"), N_("label"), N_("family"), N_("kind"), N_("numerator"),
               N_("denominator"), N_("unit"), N_("higher is better"), N_("breakdowns"),
               N_("note")]
    sheet = _Sheet(book, t("Definitions"), [24, 30, 13, 7, 50, 50, 9, 9, 40, 40])
    sheet.landscape()
    sheet.ws.freeze_panes = "B2"
    sheet.header([t(c) for c in columns], wrap=True)
    for ind in CATALOGUE:
        sheet.append(sheet.cell(v, alignment=_WRAP) for v in (
            ind.id, t(ind.label), t(ind.family), t(ind.kind), t(ind.numerator),
            t(ind.denominator) if ind.denominator else "—", t(ind.unit),
            _yes_no(ind.higher_is_better), _describe_breakdowns(ind) or "—",
            t(ind.note) if ind.note else None,
        ))


def _write_data_quality(book: Workbook, records: list[dict[str, Any]]) -> None:
    dq_ids = [i.id for i in CATALOGUE if i.family == "data_quality"]
    extra = sorted({r["indicator_id"] for r in records
                    if (r["indicator_id"] or "").startswith("dq.")} - set(dq_ids))
    order = {ind_id: n for n, ind_id in enumerate(dq_ids + extra)}
    rows = [r for r in records if r["indicator_id"] in order]
    # Per indicator: whole registry first (its breakdowns next), then areas by name.
    rows.sort(key=lambda r: (order[r["indicator_id"]], r["area_id"] is not None,
                             (r["area_name"] or "").casefold(), r["area_id"] or "",
                             r["breakdown"] is not None, r["breakdown"] or ""))
    sheet = _Sheet(book, t("Data quality"), [34, 24, 12, 18, 12, 12, 10, 24])
    sheet.landscape()
    notes = (t(LEFT_OUT_NOTE), t(AREA_NOTE))
    all_areas = t(ALL_AREAS)
    header_row = len(notes) + 3
    sheet.ws.freeze_panes = f"A{header_row + 1}"
    sheet.ws.print_title_rows = f"{header_row}:{header_row}"
    sheet.append([sheet.cell(t("Data quality"), font=_TITLE_FONT)])
    for note in notes:
        sheet.append([note])
    sheet.append([])
    written = sheet.header([t(c) for c in (N_("indicator"), N_("area"), "area_id", "breakdown",
                                           "numerator", "denominator", "value",
                                           "indicator_id")])
    assert written == header_row
    for r in rows:
        ind = BY_ID.get(r["indicator_id"])
        whole = r["area_id"] is None
        font = _BOLD if whole and r["breakdown"] is None else None
        sheet.append([
            sheet.cell(t(ind.label) if ind else r["indicator_id"], font=font),
            sheet.cell(all_areas if whole else (r["area_name"] or r["area_id"]), font=font),
            r["area_id"], r["breakdown"],
            sheet.cell(r["numerator"], number_format="#,##0"),
            sheet.cell(r["denominator"], number_format="#,##0"),
            sheet.cell(r["value"], number_format=value_format(r["indicator_id"]), font=font),
            r["indicator_id"],
        ])
    if not rows:
        sheet.append([t("(no data-quality figures in this export)")])


# --------------------------------------------------------------------------- public API


def _save(target: str | Path | IO[bytes], figures: pd.DataFrame, *, level: int, level_name: str,
          as_of: dt.date | str, period_start: dt.date | str | None, source: str,
          progress: Progress | None, generated_at: dt.datetime | None,
          plan: ListSheetsPlan | None = None, whole_registry: bool = True,
          suppressed_below: int | None = None, language: str | None = None) -> None:
    with i18n.using(language):
        _save_in_language(target, figures, level=level, level_name=level_name, as_of=as_of,
                          period_start=period_start, source=source, progress=progress,
                          generated_at=generated_at, plan=plan, whole_registry=whole_registry,
                          suppressed_below=suppressed_below)


def _save_in_language(target: str | Path | IO[bytes], figures: pd.DataFrame, *, level: int,
                      level_name: str, as_of: dt.date | str, period_start: dt.date | str | None,
                      source: str, progress: Progress | None, generated_at: dt.datetime | None,
                      plan: ListSheetsPlan | None, whole_registry: bool,
                      suppressed_below: int | None) -> None:
    def report(fraction: float, message: str) -> None:
        if progress is not None:
            progress(min(max(fraction, 0.0), 1.0), t(message))

    as_of_date = _date(as_of)
    if as_of_date is None:
        raise ValueError("as_of is required")
    start_date = _date(period_start)
    generated = generated_at or dt.datetime.now().astimezone()
    # With lists, they take most of the time: the indicators get less of the bar.
    indicators_end = 0.4 if plan is not None else 0.8

    report(0.0, N_("Reading the figures"))
    records = list(long_form_records(figures))
    book = Workbook(write_only=True)
    book.properties.creator = "Socle"
    book.properties.title = t(TITLE)
    book.properties.language = i18n.current_language()
    report(0.05, N_("Writing the indicators"))
    _write_indicators(book, records, lambda f: report(
        0.05 + (indicators_end - 0.05) * f, N_("Writing the indicators")))
    report(indicators_end, N_("Writing the definitions"))
    _write_definitions(book)
    report(indicators_end + 0.03, N_("Writing data quality"))
    _write_data_quality(book, records)
    written: list[ListSheets] = []
    if plan is not None:
        written = plan.write(book, lambda f, m: report(0.45 + 0.45 * f, m))
    # The Summary names the lists with their row counts, known once they are written: it is
    # written last and moved to the front.
    report(0.9, N_("Writing the summary"))
    _write_summary(book, records, level=level, level_name=level_name, as_of=as_of_date,
                   period_start=start_date, source=source, generated_at=generated,
                   lists=written, lists_area=plan.area_text if plan is not None else None,
                   whole_registry=whole_registry, suppressed_below=suppressed_below)
    book.move_sheet(t("Summary"), -(len(book.sheetnames) - 1))
    report(0.95, N_("Saving the workbook"))
    book.save(target)
    report(1.0, N_("Done"))


def _plan(lists: Sequence[str], *, engine: sa.Engine | None, context: UserContext | None,
          area_id: str | None, as_of: dt.date | str, period_start: dt.date | str | None,
          referral_sla_days: int, poverty_cutoff: float, split_lists: bool
          ) -> ListSheetsPlan | None:
    """The checked plan of the list sheets asked for, or None for none."""
    from exports.lists import ListSheetsPlan
    from indicators.lists import parse_list_ids

    list_ids = parse_list_ids(lists)
    if not list_ids:
        return None  # area_id only says which rows lists hold
    if engine is None or context is None:
        raise ValueError("list sheets need the registry engine and the user's context")
    as_of_date = _date(as_of)
    if as_of_date is None:
        raise ValueError("as_of is required")
    return ListSheetsPlan(engine, list_ids, context=context, area_id=area_id, as_of=as_of_date,
                          period_start=_date(period_start),
                          referral_sla_days=referral_sla_days, poverty_cutoff=poverty_cutoff,
                          split=split_lists)


def build_workbook(figures: pd.DataFrame, *, level: int, level_name: str, as_of: dt.date | str,
                   period_start: dt.date | str | None, source: str,
                   progress: Progress | None = None,
                   generated_at: dt.datetime | None = None, lists: Sequence[str] = (),
                   engine: sa.Engine | None = None, context: UserContext | None = None,
                   area_id: str | None = None, referral_sla_days: int = 30,
                   poverty_cutoff: float = 32.0, split_lists: bool = True,
                   language: str | None = None) -> bytes:
    """The xlsx workbook of a long-form frame, as bytes, in ``language`` (None: the current
    one).

    ``figures`` has the columns of ``indicators.LONG_FORM_COLUMNS`` (as ``indicators.compute``
    returns them); ``source`` is printed as is, so hide passwords first (:func:`public_source`).
    ``progress(fraction, message)`` is called as the sheets are written.

    ``lists`` adds list sheets (ids of ``indicators.lists.LISTS``), read from ``engine`` for
    ``context`` in ``area_id`` and below (None: all the context may see), with the same
    as-of date, period and referral SLA as the figures. They are checked before anything is
    written (UnknownListError, PermissionError, UnknownAreaError). A list longer than a sheet
    continues on further sheets, or raises ListTooLongError with ``split_lists=False``.
    """
    plan = _plan(lists, engine=engine, context=context, area_id=area_id, as_of=as_of,
                 period_start=period_start, referral_sla_days=referral_sla_days,
                 poverty_cutoff=poverty_cutoff, split_lists=split_lists)
    buffer = io.BytesIO()
    try:
        _save(buffer, figures, level=level, level_name=level_name, as_of=as_of,
              period_start=period_start, source=source, progress=progress,
              generated_at=generated_at, plan=plan, language=language)
    finally:
        if plan is not None:
            plan.close()
    return buffer.getvalue()


def write_workbook(path: str | Path, figures: pd.DataFrame, *, level: int, level_name: str,
                   as_of: dt.date | str, period_start: dt.date | str | None, source: str,
                   progress: Progress | None = None,
                   generated_at: dt.datetime | None = None, lists: Sequence[str] = (),
                   engine: sa.Engine | None = None, context: UserContext | None = None,
                   area_id: str | None = None, referral_sla_days: int = 30,
                   poverty_cutoff: float = 32.0, split_lists: bool = True,
                   language: str | None = None) -> Path:
    """Write the workbook of :func:`build_workbook` to ``path``, streaming; return the path.

    The file is written beside its final name and moved into place, so a failed export never
    leaves a half-written workbook behind.
    """
    plan = _plan(lists, engine=engine, context=context, area_id=area_id, as_of=as_of,
                 period_start=period_start, referral_sla_days=referral_sla_days,
                 poverty_cutoff=poverty_cutoff, split_lists=split_lists)
    return _write_file(path, figures, plan, level=level, level_name=level_name, as_of=as_of,
                       period_start=period_start, source=source, progress=progress,
                       generated_at=generated_at, language=language)


def _write_file(path: str | Path, figures: pd.DataFrame, plan: ListSheetsPlan | None,
                **options: Any) -> Path:
    path = Path(path)
    partial = path.with_name(f".{path.name}.partial")
    try:
        _save(partial, figures, plan=plan, **options)
        partial.replace(path)
    finally:
        partial.unlink(missing_ok=True)
        if plan is not None:
            plan.close()
    return path


def registry_levels(engine: sa.Engine) -> list[int]:
    """The levels found in the registry's area table."""
    from data_access.schema import area

    with connection(engine) as conn:
        found = conn.execute(sa.select(area.c.level).distinct()).scalars().all()
    levels: set[int] = set()
    for value in found:
        try:
            levels.add(int(value))
        except (TypeError, ValueError):
            continue
    return sorted(levels)


def export_registry(engine: sa.Engine, *, level: int, as_of: dt.date | None,
                    period_start: dt.date | None, settings: Settings, out: str | Path,
                    source: str | None = None, progress: Progress | None = None,
                    lists: Sequence[str] = (), area_id: str | None = None,
                    context: UserContext | None = None, audit_store: sa.Engine | None = None,
                    audit_via: str = "cli", suspected_pairs: pd.DataFrame | None = None,
                    language: str | None = None) -> Path:
    """Compute every indicator of the registry at ``level`` and write the workbook to ``out``,
    in ``language`` (None: the current one; the CLI passes ``--language`` or the default).

    ``as_of`` None means the spec's default (today, or the latest registration if earlier);
    ``period_start`` None means the ``settings.period_months`` months ending on it. Raises
    UnknownLevelError when no area of the registry has the level.

    Everything is as ``context`` (default: the settings' default user, as the command line
    runs) may see it (indicators.figures): the indicator sheets hold the areas of its scope
    (and the whole registry's rows only for a context that sees it), suppressed for a donor
    and of the donors' calendar dates (indicators.donor_calendar: ``as_of`` and
    ``period_start`` become the end of the latest complete period and its period);
    ``lists`` adds list sheets for ``area_id`` and below, personal columns only for the roles
    that may export them. Lists, area and rights are checked before the indicators are
    computed. With ``audit_store`` (the app store) the export is recorded in the audit log
    (``audit_via``: "cli" or "page") once the file is written. ``suspected_pairs``: the
    linkage pairs not dismissed (data_access.linkage_store.undismissed_pairs) for
    dup.suspected_pairs, empty without them.
    """
    from data_access.areas import read_area_tree
    from data_access.context import default_context
    from data_access.registry import default_as_of
    from indicators.blocks import default_period_start
    from indicators.donor_calendar import donor_dates
    from indicators.figures import Parameters, long_form

    def report(fraction: float, message: str) -> None:
        if progress is not None:
            with i18n.using(language):
                progress(fraction, t(message))

    levels = registry_levels(engine)
    if level not in levels:
        known = ", ".join(f"{n} ({settings.level_name(n)})" for n in levels) or "none"
        raise UnknownLevelError(N_("the registry has no area of level {level}; its levels are: "
                                   "{known}", level=level, known=known))
    if as_of is None:
        as_of = default_as_of(engine)
    if period_start is None:
        period_start = default_period_start(as_of, settings.period_months)
    context = context or default_context(settings)
    if context.sees_suppressed_figures:
        period_start, as_of = donor_dates(as_of, settings.period_months)
    areas = read_area_tree(engine)
    plan = _plan(lists, engine=engine, context=context, area_id=area_id, as_of=as_of,
                 period_start=period_start, referral_sla_days=settings.referral_sla_days,
                 poverty_cutoff=settings.poverty_cutoff, split_lists=True)
    try:
        report(0.0, N_("Computing the indicators"))
        figures = long_form(engine, context, areas, as_of=as_of, level=level,
                            period_start=period_start,
                            parameters=Parameters.from_settings(settings),
                            suspected_pairs=suspected_pairs)
    except BaseException:
        if plan is not None:
            plan.close()
        raise
    share = 0.3 if plan is not None else 0.5  # lists make the writing the longer part
    report(share, N_("Writing the workbook"))
    path = _write_file(
        out, figures, plan, level=level, level_name=settings.level_name(level), as_of=as_of,
        period_start=period_start, source=source or describe_engine(engine),
        progress=lambda f, m: report(share + (1 - share) * f, m), generated_at=None,
        whole_registry=context.whole_registry,
        suppressed_below=(int(settings["privacy.small_cell_threshold"])
                          if context.sees_suppressed_figures else None),
        language=language,
    )
    if audit_store is not None:
        from data_access import audit
        from indicators.lists import get_list, has_personal_columns

        list_ids = [spec.id for spec in plan.specs] if plan is not None else []
        personal = any(has_personal_columns(get_list(i), context, export=True)
                       for i in list_ids)
        audit.record(audit_store, context, "export",
                     f"exported the workbook {Path(out).name} ({audit_via})"
                     + (" with personal data" if personal else ""),
                     {"via": audit_via, "format": "xlsx", "level": level,
                      "as_of": as_of.isoformat(), "period_start": period_start.isoformat(),
                      "lists": list_ids,
                      "area_id": area_id, "personal_data": personal,
                      "suppressed": context.sees_suppressed_figures})
    return path
