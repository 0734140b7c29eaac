"""The targets template (xlsx) donors fill in, and the reader that checks it row by row.

:func:`build_template` gives the workbook the app offers for download: a ``Targets`` sheet
with the header only (dropdowns on indicator_id, area_id and programme_id, date and number
checks on the other columns), an ``Instructions`` sheet, and the lists of valid values
(``Indicators``, ``Areas``, ``Programmes``).

:func:`read_targets` reads a filled template: every problem is reported with its Excel row
number and column; rows with a problem are left out of ``rows``. Percent values are written
as people write them (45 for 45 %) and returned on the engine's scale (0.45), ready for
data_access.targets.store_targets.
"""

from __future__ import annotations

import datetime as dt
import io
import math
import numbers
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import pandas as pd
import sqlalchemy as sa
from openpyxl import Workbook, load_workbook
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.datavalidation import DataValidation

from core import i18n
from core.i18n import N_, Joined, t
from core.text import code_span, markdown_text
from data_access.scope import Scope
from data_access.targets import KEY_COLUMNS, TARGET_COLUMNS, store_targets
from indicators.catalogue import CATALOGUE, PROGRAMME, Indicator, indicator

SHEET = "Targets"
TEMPLATE_ROWS = 2000  # rows of the Targets sheet covered by the dropdowns and checks
UNIT_HELP = {
    "percent": N_("a percentage from 0 to 100: write 45 for 45 %"),
    "count": N_("a number (a count)"),
    "mean": N_("a number (an average)"),
    "days": N_("a number of days"),
    "per_1000": N_("a number per 1,000"),
}
# What users write, divided by this, is the engine's value.
SCALE = {"percent": 100.0, "per_1000": 1000.0}
INSTRUCTIONS = (
    N_("How to fill in the Targets sheet"),
    "",
    N_("One row per target. Leave no empty row above the header. Blank rows are skipped."),
    N_("indicator_id — required; one of the Indicators sheet (dropdown)."),
    N_("area_id — an area of the Areas sheet (dropdown); leave it empty for the whole "
       "registry."),
    N_("programme_id — required for indicators given per programme (Indicators sheet, "
       "column 'programme'); allowed for those given by programme; empty otherwise."),
    N_("baseline_on, baseline_value — optional, together: the date and value of the "
       "baseline."),
    N_("target_on, target_value — required: the date by which the target value is to be "
       "reached."),
    N_("Dates: type them as dates (e.g. 2027-06-30)."),
    N_("Values in the indicator's unit as shown in Socle: percentages from 0 to 100 (45 "
       "for 45 %), counts, averages and days as numbers."),
    N_("A target is identified by indicator_id, area_id, programme_id and target_on: "
       "importing it again replaces it. The same key twice in one file is an error."),
    N_("Socle checks every row on import and lists each problem with its row number; "
       "rows with a problem are not imported."),
)

_BOLD = Font(bold=True)
_HEADER_FILL = PatternFill("solid", start_color="DDE4EE")


class TargetFileError(ValueError):
    """The file cannot be read as a targets template: not an xlsx, no Targets sheet, bad header."""


@dataclass(frozen=True)
class RowProblem:
    row_number: int  # Excel row (the header is row 1)
    column: str | None  # None: the row as a whole
    message: str


@dataclass
class TargetImport:
    rows: pd.DataFrame  # row_number + TARGET_COLUMNS, values on the engine's scale
    problems: list[RowProblem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def problems_table(self) -> pd.DataFrame:
        return pd.DataFrame([(p.row_number, p.column or "", p.message) for p in self.problems],
                            columns=["row", "column", "problem"])


def programme_rule(ind: Indicator) -> str:
    """"required", "allowed" or "none": whether a target of ``ind`` names a programme."""
    if ind.per_programme:
        return N_("required")
    return N_("allowed") if PROGRAMME in ind.breakdowns else N_("none")


# ------------------------------------------------------------------------------ template

def _header(ws, names: Iterable[str], widths: Iterable[int]) -> None:
    ws.append(list(names))
    for cell, width in zip(ws[1], widths, strict=True):
        cell.font = _BOLD
        cell.fill = _HEADER_FILL
        ws.column_dimensions[cell.column_letter].width = width
    ws.freeze_panes = "A2"


def _list_validation(ws, column: str, source: str, count: int, title: str, error: str) -> None:
    if count == 0:
        return
    dv = DataValidation(type="list", formula1=f"{source}!$A$2:$A${count + 1}", allow_blank=True,
                        showErrorMessage=True, errorTitle=t(title),
                        error=t(error, sheet=source))
    ws.add_data_validation(dv)
    dv.add(f"{column}2:{column}{TEMPLATE_ROWS + 1}")


def build_template(areas: pd.DataFrame, programmes: pd.DataFrame | None = None,
                   language: str | None = None) -> bytes:
    """The targets template as xlsx bytes, its instructions, labels and messages in
    ``language`` (None: the current one). The sheet names and the Targets sheet's columns
    stay as they are in every language: the import reads them.

    ``areas``: area_id, name, level (the areas a target may name); ``programmes``:
    programme_id and optionally name.
    """
    with i18n.using(language):
        return _build_template(areas, programmes)


def _build_template(areas: pd.DataFrame, programmes: pd.DataFrame | None) -> bytes:
    wb = Workbook()
    ws = wb.active
    ws.title = SHEET
    _header(ws, TARGET_COLUMNS, [26, 16, 22, 14, 15, 14, 14])
    letters = {name: get_column_letter(i) for i, name in enumerate(TARGET_COLUMNS, start=1)}

    info = wb.create_sheet("Instructions")
    for line in INSTRUCTIONS:
        info.append([t(line) if line else line])
    info["A1"].font = Font(bold=True, size=13)
    info.column_dimensions["A"].width = 110
    for row in info.iter_rows(min_row=2):
        row[0].alignment = Alignment(wrap_text=True, vertical="top")

    inds = wb.create_sheet("Indicators")
    _header(inds, ["indicator_id", t("label"), t("unit"), t("programme"),
                   t("write the value as")], [26, 40, 10, 12, 44])
    for ind in CATALOGUE:
        inds.append([ind.id, t(ind.label), t(ind.unit), t(programme_rule(ind)),
                     t(UNIT_HELP[ind.unit])])

    area_sheet = wb.create_sheet("Areas")
    _header(area_sheet, ["area_id", t("name"), t("level")], [18, 32, 8])
    area_rows = areas[["area_id", "name", "level"]].sort_values(["level", "area_id"])
    for area_id, name, level in area_rows.itertuples(index=False, name=None):
        area_sheet.append([str(area_id), None if pd.isna(name) else str(name),
                           None if pd.isna(level) else int(level)])

    programme_count = 0
    if programmes is not None:
        prog_sheet = wb.create_sheet("Programmes")
        _header(prog_sheet, ["programme_id", t("name")], [24, 40])
        for record in programmes.to_dict("records"):
            name = record.get("name")
            prog_sheet.append([str(record["programme_id"]),
                               None if name is None or pd.isna(name) else str(name)])
            programme_count += 1

    _list_validation(ws, letters["indicator_id"], "Indicators", len(CATALOGUE),
                     N_("Unknown indicator"), N_("Choose an indicator of the {sheet} sheet."))
    _list_validation(ws, letters["area_id"], "Areas", len(area_rows),
                     N_("Unknown area"), N_("Choose an area of the {sheet} sheet."))
    _list_validation(ws, letters["programme_id"], "Programmes", programme_count,
                     N_("Unknown programme"), N_("Choose a programme of the {sheet} sheet."))
    for name in ("baseline_on", "target_on"):
        dv = DataValidation(type="date", operator="greaterThan", formula1="1", allow_blank=True,
                            showErrorMessage=True, errorTitle=t("Not a date"),
                            error=t("Type a date, e.g. 2027-06-30."))
        ws.add_data_validation(dv)
        dv.add(f"{letters[name]}2:{letters[name]}{TEMPLATE_ROWS + 1}")
    for name in ("baseline_value", "target_value"):
        dv = DataValidation(type="decimal", operator="greaterThanOrEqual", formula1="0",
                            allow_blank=True, showErrorMessage=True,
                            errorTitle=t("Not a number"), error=t("Type a number (45 for 45 %)."))
        ws.add_data_validation(dv)
        dv.add(f"{letters[name]}2:{letters[name]}{TEMPLATE_ROWS + 1}")

    buffer = io.BytesIO()
    wb.save(buffer)
    return buffer.getvalue()


# -------------------------------------------------------------------------------- reader

def _text(value: Any) -> str | None:
    """A cell as text: numbers typed into an id column (101) become "101"."""
    if value is None:
        return None
    if isinstance(value, bool):
        return str(value).upper()
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    text = str(value).strip()
    return text or None


def _date(value: Any) -> dt.date | str:
    """A cell as a date, or the problem's wording."""
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    if isinstance(value, str):
        try:
            return dt.date.fromisoformat(value.strip())
        except ValueError:
            pass
    return N_("{value} is not a date: type a date (e.g. 2027-06-30)",
              value=code_span(_text(value)))


def _number(value: Any, number_format: str | None) -> float | str:
    """A cell as a number as the user wrote it (a cell shown as 45 % reads 45), or the problem."""
    if isinstance(value, numbers.Real) and not isinstance(value, bool):
        number = float(value)
        if number_format and "%" in number_format:
            number *= 100.0
    elif isinstance(value, str):
        text = value.strip().replace(",", "")
        try:  # "45%" typed as text means 45 %, like 45
            number = float(text.removesuffix("%").strip())
        except ValueError:
            return N_("{value} is not a number", value=code_span(value.strip()))
    else:
        return N_("{value} is not a number", value=code_span(_text(value)))
    if not math.isfinite(number):
        return N_("{value} is not a number", value=code_span(_text(value)))
    return number


def _open(file: bytes | str | Path | IO[bytes]):
    source = io.BytesIO(file) if isinstance(file, bytes | bytearray) else file
    try:
        return load_workbook(source, read_only=True, data_only=True)
    except FileNotFoundError:
        raise TargetFileError(N_("the file {file} does not exist",
                                 file=code_span(file))) from None
    except Exception:  # zip, XML or content-type errors: whatever it is, it is not an xlsx
        raise TargetFileError(N_(
            "the file is not an Excel workbook (.xlsx): download the targets template, "
            "fill it in and upload it as .xlsx")) from None


def _columns(header: tuple[Any, ...]) -> dict[str, int]:
    """{column name: index} from the header row; TargetFileError naming what is wrong."""
    positions: dict[str, int] = {}
    problems: list[str] = []
    for index, cell in enumerate(header):
        name = _text(cell)
        if name is None:
            continue
        key = name.lower()
        letter = get_column_letter(index + 1)
        if key not in TARGET_COLUMNS:
            problems.append(N_("unknown column {name} in cell {cell}", name=code_span(name),
                               cell=f"{letter}1"))
        elif key in positions:
            problems.append(N_("column {name} appears twice (cell {cell})",
                               name=code_span(key), cell=f"{letter}1"))
        else:
            positions[key] = index
    missing = [c for c in TARGET_COLUMNS if c not in positions]
    if missing:
        names = ", ".join(f"`{c}`" for c in missing)
        problems.insert(0, N_("missing columns {names}", names=names) if len(missing) > 1
                        else N_("missing column {names}", names=names))
    if problems:
        raise TargetFileError(N_(
            "the header (row 1) of the {sheet} sheet is wrong: {problems}. It must read: "
            "{columns}", sheet=SHEET, problems=Joined(problems),
            columns=", ".join(TARGET_COLUMNS)))
    return positions


def read_targets(file: bytes | str | Path | IO[bytes], *, known_areas: set[str],
                 known_programmes: set[str]) -> TargetImport:
    """Read and check a filled targets template.

    Raise TargetFileError when the file is not an xlsx, has no Targets sheet or a wrong
    header. Otherwise return the good rows (values on the engine's scale) and every problem
    of the other rows: unknown indicator, area or programme; a programme missing or not
    allowed; dates missing or not dates; values missing, not numbers, negative, or percent
    values outside 0–100; a baseline without its date or value; a key given twice.
    """
    wb = _open(file)
    try:
        if SHEET not in wb.sheetnames:
            raise TargetFileError(N_("the workbook has no sheet `{sheet}` (its sheets: {sheets})",
                                     sheet=SHEET,
                                     sheets=", ".join(markdown_text(n) for n in wb.sheetnames)))
        rows_iter = wb[SHEET].iter_rows()
        header = next(rows_iter, None)
        if header is None:
            raise TargetFileError(N_("the {sheet} sheet is empty: its row 1 must be the header "
                                     "{columns}", sheet=SHEET,
                                     columns=", ".join(TARGET_COLUMNS)))
        positions = _columns(tuple(c.value for c in header))
        problems: list[RowProblem] = []
        good: list[dict] = []
        first_row_of: dict[tuple, int] = {}
        for row_number, cells in enumerate(rows_iter, start=2):
            values = {name: (cells[i].value if i < len(cells) else None)
                      for name, i in positions.items()}
            formats = {name: (getattr(cells[i], "number_format", None) if i < len(cells)
                              else None) for name, i in positions.items()}
            if all(_text(v) is None for v in values.values()):
                continue  # a blank row
            record, row_problems = _check_row(row_number, values, formats, known_areas,
                                              known_programmes)
            if not row_problems:
                key = tuple(record[k] for k in KEY_COLUMNS)
                if key in first_row_of:
                    row_problems.append(RowProblem(
                        row_number, None,
                        N_("the same target (indicator_id, area_id, programme_id, target_on) "
                           "as row {row}", row=first_row_of[key])))
                else:
                    first_row_of[key] = row_number
            if row_problems:
                problems.extend(row_problems)
            else:
                good.append({"row_number": row_number, **record})
    finally:
        wb.close()
    frame = pd.DataFrame(good, columns=["row_number", *TARGET_COLUMNS], dtype=object)
    return TargetImport(rows=frame, problems=problems)


def _check_row(row_number: int, values: dict[str, Any], formats: dict[str, str | None],
               known_areas: set[str], known_programmes: set[str]
               ) -> tuple[dict[str, Any], list[RowProblem]]:
    problems: list[RowProblem] = []

    def problem(column: str | None, message: str) -> None:
        problems.append(RowProblem(row_number, column, message))

    record: dict[str, Any] = dict.fromkeys(TARGET_COLUMNS)
    ind: Indicator | None = None
    indicator_id = _text(values["indicator_id"])
    if indicator_id is None:
        problem("indicator_id", N_("{name} is missing", name="indicator_id"))
    else:
        try:
            ind = indicator(indicator_id)
            record["indicator_id"] = ind.id
        except KeyError:
            problem("indicator_id", N_("unknown indicator {indicator_id} (see the Indicators "
                                       "sheet)", indicator_id=code_span(indicator_id)))

    area_id = _text(values["area_id"])
    if area_id is not None and area_id not in known_areas:
        problem("area_id", N_("unknown area {area_id} (see the Areas sheet; leave it empty "
                              "for the whole registry)", area_id=code_span(area_id)))
    record["area_id"] = area_id

    programme_id = _text(values["programme_id"])
    if programme_id is not None and programme_id not in known_programmes:
        problem("programme_id", N_("unknown programme {programme_id}",
                                   programme_id=code_span(programme_id)))
    elif ind is not None:
        rule = programme_rule(ind)
        if programme_id is None and rule == "required":
            problem("programme_id", N_("programme_id is missing: `{indicator_id}` is given per "
                                       "programme", indicator_id=ind.id))
        elif programme_id is not None and rule == "none":
            problem("programme_id", N_("`{indicator_id}` is not given per programme: leave "
                                       "programme_id empty", indicator_id=ind.id))
    record["programme_id"] = programme_id

    for name, required in (("baseline_on", False), ("target_on", True)):
        raw = values[name]
        if _text(raw) is None:
            if required:
                problem(name, N_("{name} is missing", name=name))
            continue
        parsed = _date(raw)
        if isinstance(parsed, str):
            problem(name, N_("{name} {problem}", name=name, problem=parsed))
        else:
            record[name] = parsed

    for name, required in (("baseline_value", False), ("target_value", True)):
        raw = values[name]
        if _text(raw) is None:
            if required:
                problem(name, N_("{name} is missing", name=name))
            continue
        number = _number(raw, formats.get(name))
        if isinstance(number, str):
            problem(name, N_("{name} {problem}", name=name, problem=number))
            continue
        if number < 0:
            problem(name, N_("{name} {value} is negative", name=name, value=f"{number:g}"))
            continue
        if ind is not None and ind.unit == "percent" and number > 100:
            problem(name, N_("{name} {value} is outside 0–100 (a percentage: write 45 for "
                             "45 %)", name=name, value=f"{number:g}"))
            continue
        record[name] = number / SCALE.get(ind.unit, 1.0) if ind is not None else number

    has_on, has_value = _text(values["baseline_on"]) is not None, \
        _text(values["baseline_value"]) is not None
    if has_value and not has_on:
        problem("baseline_on", N_("baseline_on is missing: a baseline value needs its date"))
    elif has_on and not has_value:
        problem("baseline_value", N_("baseline_value is missing: a baseline date needs its "
                                     "value"))
    if (record["baseline_on"] is not None and record["target_on"] is not None
            and record["target_on"] < record["baseline_on"]):
        problem("target_on", N_("target_on {target_on} is before baseline_on {baseline_on}",
                                target_on=record["target_on"],
                                baseline_on=record["baseline_on"]))
    return record, problems


# Importing a filled template -------------------------------------------------------------

@dataclass
class ImportOutcome:
    """What importing a filled template did: ``stored`` targets, or the problems (none stored)."""

    stored: int = 0
    problems: pd.DataFrame | None = None  # row, column, problem
    file_error: str | None = None

    @property
    def ok(self) -> bool:
        return self.file_error is None and (self.problems is None or self.problems.empty)


def import_targets(store: sa.Engine, data: bytes, *, scope: Scope, known_areas: set[str],
                   known_programmes: set[str], whole_registry: bool) -> ImportOutcome:
    """Check a filled template row by row; store every row only when no row has a problem.

    ``known_areas``: the areas the user may see; a user who does not see the whole registry
    may not set a target for it (an empty area_id). Admins only (data_access.targets).
    """
    try:
        result = read_targets(data, known_areas=known_areas, known_programmes=known_programmes)
    except TargetFileError as exc:
        return ImportOutcome(file_error=exc.args[0] if exc.args else str(exc))
    problems = list(result.problems)
    if not whole_registry:
        problems += [RowProblem(int(row["row_number"]), "area_id",
                                N_("area_id is missing: name one of your areas (a target for "
                                   "the whole registry is not yours to set)"))
                     for row in result.rows.to_dict("records") if row["area_id"] is None]
    if problems:
        problems.sort(key=lambda p: p.row_number)
        table = pd.DataFrame([(p.row_number, p.column or "", p.message) for p in problems],
                             columns=["row", "column", "problem"])
        return ImportOutcome(problems=table)
    if result.rows.empty:
        return ImportOutcome(file_error=N_("the {sheet} sheet has no rows to import",
                                           sheet=SHEET))
    return ImportOutcome(stored=store_targets(store, result.rows, scope=scope))
