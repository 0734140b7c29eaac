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

from core.text import code_span, markdown_text
from data_access.scope import Scope
from data_access.targets import KEY_COLUMNS, TARGET_COLUMNS, store_targets
from indicators.catalogue import CATALOGUE, PROGRAMME, Indicator, indicator

SHEET = "Targets"
TEMPLATE_ROWS = 2000  # rows of the Targets sheet covered by the dropdowns and checks
UNIT_HELP = {
    "percent": "a percentage from 0 to 100: write 45 for 45 %",
    "count": "a number (a count)",
    "mean": "a number (an average)",
    "days": "a number of days",
    "per_1000": "a number per 1,000",
}
# What users write, divided by this, is the engine's value.
SCALE = {"percent": 100.0, "per_1000": 1000.0}
INSTRUCTIONS = (
    "How to fill in the Targets sheet",
    "",
    "One row per target. Leave no empty row above the header. Blank rows are skipped.",
    "indicator_id — required; one of the Indicators sheet (dropdown).",
    "area_id — an area of the Areas sheet (dropdown); leave it empty for the whole registry.",
    "programme_id — required for indicators given per programme (Indicators sheet, column "
    "'programme'); allowed for those given by programme; empty otherwise.",
    "baseline_on, baseline_value — optional, together: the date and value of the baseline.",
    "target_on, target_value — required: the date by which the target value is to be reached.",
    "Dates: type them as dates (e.g. 2027-06-30).",
    "Values in the indicator's unit as shown in Socle: percentages from 0 to 100 (45 for 45 %), "
    "counts, averages and days as numbers.",
    "A target is identified by indicator_id, area_id, programme_id and target_on: importing "
    "it again replaces it. The same key twice in one file is an error.",
    "Socle checks every row on import and lists each problem with its row number; "
    "rows with a problem are not imported.",
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
        return "required"
    return "allowed" if PROGRAMME in ind.breakdowns else "none"


# ------------------------------------------------------------------------------ template

def _header(ws, names: Iterable[str], widths: Iterable[int]) -> None:
    ws.append(list(names))
    for cell, width in zip(ws[1], widths, strict=True):
        cell.font = _BOLD
        cell.fill = _HEADER_FILL
        ws.column_dimensions[cell.column_letter].width = width
    ws.freeze_panes = "A2"


def _list_validation(ws, column: str, source: str, count: int, what: str) -> None:
    if count == 0:
        return
    dv = DataValidation(type="list", formula1=f"{source}!$A$2:$A${count + 1}", allow_blank=True,
                        showErrorMessage=True, errorTitle=f"Unknown {what}",
                        error=f"Choose a {what} of the {source} sheet.")
    ws.add_data_validation(dv)
    dv.add(f"{column}2:{column}{TEMPLATE_ROWS + 1}")


def build_template(areas: pd.DataFrame, programmes: pd.DataFrame | None = None) -> bytes:
    """The targets template as xlsx bytes.

    ``areas``: area_id, name, level (the areas a target may name); ``programmes``:
    programme_id and optionally name.
    """
    wb = Workbook()
    ws = wb.active
    ws.title = SHEET
    _header(ws, TARGET_COLUMNS, [26, 16, 22, 14, 15, 14, 14])
    letters = {name: get_column_letter(i) for i, name in enumerate(TARGET_COLUMNS, start=1)}

    info = wb.create_sheet("Instructions")
    for line in INSTRUCTIONS:
        info.append([line])
    info["A1"].font = Font(bold=True, size=13)
    info.column_dimensions["A"].width = 110
    for row in info.iter_rows(min_row=2):
        row[0].alignment = Alignment(wrap_text=True, vertical="top")

    inds = wb.create_sheet("Indicators")
    _header(inds, ["indicator_id", "label", "unit", "programme", "write the value as"],
            [26, 40, 10, 12, 44])
    for ind in CATALOGUE:
        inds.append([ind.id, ind.label, ind.unit, programme_rule(ind), UNIT_HELP[ind.unit]])

    area_sheet = wb.create_sheet("Areas")
    _header(area_sheet, ["area_id", "name", "level"], [18, 32, 8])
    area_rows = areas[["area_id", "name", "level"]].sort_values(["level", "area_id"])
    for area_id, name, level in area_rows.itertuples(index=False, name=None):
        area_sheet.append([str(area_id), None if pd.isna(name) else str(name),
                           None if pd.isna(level) else int(level)])

    programme_count = 0
    if programmes is not None:
        prog_sheet = wb.create_sheet("Programmes")
        _header(prog_sheet, ["programme_id", "name"], [24, 40])
        for record in programmes.to_dict("records"):
            name = record.get("name")
            prog_sheet.append([str(record["programme_id"]),
                               None if name is None or pd.isna(name) else str(name)])
            programme_count += 1

    _list_validation(ws, letters["indicator_id"], "Indicators", len(CATALOGUE), "indicator")
    _list_validation(ws, letters["area_id"], "Areas", len(area_rows), "area")
    _list_validation(ws, letters["programme_id"], "Programmes", programme_count, "programme")
    for name in ("baseline_on", "target_on"):
        dv = DataValidation(type="date", operator="greaterThan", formula1="1", allow_blank=True,
                            showErrorMessage=True, errorTitle="Not a date",
                            error="Type a date, e.g. 2027-06-30.")
        ws.add_data_validation(dv)
        dv.add(f"{letters[name]}2:{letters[name]}{TEMPLATE_ROWS + 1}")
    for name in ("baseline_value", "target_value"):
        dv = DataValidation(type="decimal", operator="greaterThanOrEqual", formula1="0",
                            allow_blank=True, showErrorMessage=True, errorTitle="Not a number",
                            error="Type a number (45 for 45 %).")
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
    return f"{code_span(_text(value))} is not a date: type a date (e.g. 2027-06-30)"


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
            return f"{code_span(value.strip())} is not a number"
    else:
        return f"{code_span(_text(value))} is not a number"
    if not math.isfinite(number):
        return f"{code_span(_text(value))} is not a number"
    return number


def _open(file: bytes | str | Path | IO[bytes]):
    source = io.BytesIO(file) if isinstance(file, bytes | bytearray) else file
    try:
        return load_workbook(source, read_only=True, data_only=True)
    except FileNotFoundError:
        raise TargetFileError(f"the file {code_span(file)} does not exist") from None
    except Exception:  # zip, XML or content-type errors: whatever it is, it is not an xlsx
        raise TargetFileError(
            "the file is not an Excel workbook (.xlsx): download the targets template, "
            "fill it in and upload it as .xlsx") from None


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
            problems.append(f"unknown column {code_span(name)} in cell {letter}1")
        elif key in positions:
            problems.append(f"column {code_span(key)} appears twice (cell {letter}1)")
        else:
            positions[key] = index
    missing = [c for c in TARGET_COLUMNS if c not in positions]
    if missing:
        problems.insert(0, "missing column" + ("s " if len(missing) > 1 else " ")
                        + ", ".join(f"`{c}`" for c in missing))
    if problems:
        raise TargetFileError(
            f"the header (row 1) of the {SHEET} sheet is wrong: " + "; ".join(problems)
            + f". It must read: {', '.join(TARGET_COLUMNS)}")
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
            raise TargetFileError(f"the workbook has no sheet `{SHEET}` (its sheets: "
                                  f"{', '.join(markdown_text(n) for n in wb.sheetnames)})")
        rows_iter = wb[SHEET].iter_rows()
        header = next(rows_iter, None)
        if header is None:
            raise TargetFileError(f"the {SHEET} sheet is empty: its row 1 must be the header "
                                  f"{', '.join(TARGET_COLUMNS)}")
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
                        f"the same target (indicator_id, area_id, programme_id, target_on) "
                        f"as row {first_row_of[key]}"))
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
        problem("indicator_id", "indicator_id is missing")
    else:
        try:
            ind = indicator(indicator_id)
            record["indicator_id"] = ind.id
        except KeyError:
            problem("indicator_id", f"unknown indicator {code_span(indicator_id)} "
                    "(see the Indicators sheet)")

    area_id = _text(values["area_id"])
    if area_id is not None and area_id not in known_areas:
        problem("area_id", f"unknown area {code_span(area_id)} (see the Areas sheet; leave it empty "
                "for the whole registry)")
    record["area_id"] = area_id

    programme_id = _text(values["programme_id"])
    if programme_id is not None and programme_id not in known_programmes:
        problem("programme_id", f"unknown programme {code_span(programme_id)}")
    elif ind is not None:
        rule = programme_rule(ind)
        if programme_id is None and rule == "required":
            problem("programme_id", f"programme_id is missing: `{ind.id}` is given per "
                    "programme")
        elif programme_id is not None and rule == "none":
            problem("programme_id", f"`{ind.id}` is not given per programme: leave "
                    "programme_id empty")
    record["programme_id"] = programme_id

    for name, required in (("baseline_on", False), ("target_on", True)):
        raw = values[name]
        if _text(raw) is None:
            if required:
                problem(name, f"{name} is missing")
            continue
        parsed = _date(raw)
        if isinstance(parsed, str):
            problem(name, f"{name} {parsed}")
        else:
            record[name] = parsed

    for name, required in (("baseline_value", False), ("target_value", True)):
        raw = values[name]
        if _text(raw) is None:
            if required:
                problem(name, f"{name} is missing")
            continue
        number = _number(raw, formats.get(name))
        if isinstance(number, str):
            problem(name, f"{name} {number}")
            continue
        if number < 0:
            problem(name, f"{name} {number:g} is negative")
            continue
        if ind is not None and ind.unit == "percent" and number > 100:
            problem(name, f"{name} {number:g} is outside 0–100 (a percentage: write 45 "
                    "for 45 %)")
            continue
        record[name] = number / SCALE.get(ind.unit, 1.0) if ind is not None else number

    has_on, has_value = _text(values["baseline_on"]) is not None, \
        _text(values["baseline_value"]) is not None
    if has_value and not has_on:
        problem("baseline_on", "baseline_on is missing: a baseline value needs its date")
    elif has_on and not has_value:
        problem("baseline_value", "baseline_value is missing: a baseline date needs its value")
    if (record["baseline_on"] is not None and record["target_on"] is not None
            and record["target_on"] < record["baseline_on"]):
        problem("target_on", f"target_on {record['target_on']} is before baseline_on "
                f"{record['baseline_on']}")
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
        return ImportOutcome(file_error=str(exc))
    problems = list(result.problems)
    if not whole_registry:
        problems += [RowProblem(int(row["row_number"]), "area_id",
                                "area_id is missing: name one of your areas (a target for "
                                "the whole registry is not yours to set)")
                     for row in result.rows.to_dict("records") if row["area_id"] is None]
    if problems:
        problems.sort(key=lambda p: p.row_number)
        table = pd.DataFrame([(p.row_number, p.column or "", p.message) for p in problems],
                             columns=["row", "column", "problem"])
        return ImportOutcome(problems=table)
    if result.rows.empty:
        return ImportOutcome(file_error="the Targets sheet has no rows to import")
    return ImportOutcome(stored=store_targets(store, result.rows, scope=scope))
