"""The targets template, its reader and the targets in the app store (SQLite file, PostgreSQL)."""

from __future__ import annotations

import datetime as dt
import io
import shutil
import subprocess
from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa
from openpyxl import Workbook, load_workbook

from data_access.scope import Scope  # noqa: E402
from data_access.targets import TARGET_COLUMNS, store_targets, targets
from exports.targets import TargetFileError, build_template, read_targets
from indicators.catalogue import CATALOGUE

ALL = Scope.everything()  # a whole-registry admin: these tests are not about scope

AREAS = pd.DataFrame({
    "area_id": ["PK6", "PK601", "PK602", "PK60101"],
    "name": ["Khyber Pakhtunkhwa", "Peshawar", "Mardan", "Peshawar City"],
    "level": [1, 2, 2, 3],
})
PROGRAMMES = pd.DataFrame({"programme_id": ["bisp_kafaalat", "sehat_card"],
                           "name": ["BISP Kafaalat", "Sehat card"]})
KNOWN = {"known_areas": set(AREAS["area_id"]),
         "known_programmes": set(PROGRAMMES["programme_id"])}
D = dt.date


@pytest.fixture(scope="module")
def template() -> bytes:
    return build_template(AREAS, PROGRAMMES)


def filled(template: bytes, rows: list[list], formats: dict[tuple[int, int], str] | None = None
           ) -> bytes:
    """The template with ``rows`` written from row 2 of the Targets sheet (None: blank row)."""
    wb = load_workbook(io.BytesIO(template))
    ws = wb["Targets"]
    for offset, row in enumerate(rows):
        for column, value in enumerate(row or [], start=1):
            if value is not None:
                ws.cell(row=2 + offset, column=column, value=value)
    for (row_number, column), number_format in (formats or {}).items():
        ws.cell(row=row_number, column=column).number_format = number_format
    buffer = io.BytesIO()
    wb.save(buffer)
    return buffer.getvalue()


def test_template_sheets_lists_and_dropdowns(template: bytes):
    wb = load_workbook(io.BytesIO(template))
    assert wb.sheetnames == ["Targets", "Instructions", "Indicators", "Areas", "Programmes"]
    ws = wb["Targets"]
    assert [c.value for c in ws[1]] == list(TARGET_COLUMNS)
    assert ws.max_row == 1  # no example rows: the instructions are on their own sheet
    assert ws.freeze_panes == "A2"

    indicators = list(wb["Indicators"].iter_rows(min_row=2, values_only=True))
    assert [r[0] for r in indicators] == [i.id for i in CATALOGUE]
    assert indicators[0][1:4] == ("Programme coverage", "percent", "required")
    by_id = {r[0]: r for r in indicators}
    assert by_id["ref.made"][3] == "allowed" and by_id["cov.population"][3] == "none"
    areas = list(wb["Areas"].iter_rows(min_row=2, values_only=True))
    assert areas == [("PK6", "Khyber Pakhtunkhwa", 1), ("PK601", "Peshawar", 2),
                     ("PK602", "Mardan", 2), ("PK60101", "Peshawar City", 3)]

    lists = {str(dv.sqref): dv.formula1 for dv in ws.data_validations.dataValidation
             if dv.type == "list"}
    assert lists == {"A2:A2001": f"Indicators!$A$2:$A${len(CATALOGUE) + 1}",
                     "B2:B2001": "Areas!$A$2:$A$5", "C2:C2001": "Programmes!$A$2:$A$3"}
    kinds = sorted(dv.type for dv in ws.data_validations.dataValidation)
    assert kinds == ["date", "date", "decimal", "decimal", "list", "list", "list"]
    assert "45 for 45 %" in " ".join(str(r[0]) for r in wb["Instructions"].iter_rows(
        values_only=True))


def test_template_round_trip_through_the_store(store: sa.Engine, template: bytes):
    rows = [
        ["cov.poor_households", "PK601", None, D(2026, 6, 30), 41.5, D(2027, 6, 30), 60],
        ["cov.poor_households", None, None, None, None, D(2027, 6, 30), 55],  # whole registry
        ["cov.programme", "PK602", "bisp_kafaalat", D(2026, 6, 30), 30, D(2027, 12, 31), 45],
        ["ref.made", "PK60101", "sehat_card", None, None, D(2027, 3, 31), 120],  # a count
        None,  # a blank row is skipped
        ["pkg.mean_programmes_poor", "PK6", None, D(2026, 1, 1), 1.25, D(2027, 1, 1), 1.75],
    ]
    result = read_targets(filled(template, rows), **KNOWN)
    assert result.problems == []
    assert list(result.rows["row_number"]) == [2, 3, 4, 5, 7]
    got = result.rows
    # Percent values as written by people (60) are stored on the engine's scale (0.6).
    assert list(got["target_value"]) == [0.6, 0.55, 0.45, 120.0, 1.75]
    assert list(got["baseline_value"]) == [0.415, None, 0.3, None, 1.25]

    assert store_targets(store, got, scope=ALL) == 5
    stored = targets(store, indicator_ids=[i.id for i in CATALOGUE],
                     area_ids=["PK6", "PK601", "PK602", "PK60101", None], scope=ALL)
    expected = got[list(TARGET_COLUMNS)].sort_values(
        ["indicator_id", "area_id"], na_position="first").reset_index(drop=True)
    pd.testing.assert_frame_equal(stored[list(TARGET_COLUMNS)], expected)
    assert all(isinstance(v, dt.datetime) for v in stored["imported_at"])

    # Importing again replaces by key, also the whole-registry row (area_id NULL).
    again = read_targets(filled(template, [
        ["cov.poor_households", None, None, None, None, D(2027, 6, 30), 65],
        ["cov.poor_households", None, None, None, None, D(2028, 6, 30), 70],  # a new key
    ]), **KNOWN)
    assert store_targets(store, again.rows, scope=ALL) == 2
    whole = targets(store, indicator_ids=["cov.poor_households"], area_ids=[None], scope=ALL)
    assert list(whole["target_on"]) == [D(2027, 6, 30), D(2028, 6, 30)]
    assert list(whole["target_value"]) == [0.65, 0.7]
    assert len(targets(store, scope=ALL)) == 6
    assert targets(store, indicator_ids=["ref.made"], area_ids=["PK60101"], scope=ALL)[
        "programme_id"].tolist() == ["sehat_card"]


def test_one_problem_per_bad_row_with_its_excel_row_number(template: bytes):
    good = ["cov.poor_households", "PK601", None, D(2026, 6, 30), 40, D(2027, 6, 30), 60]
    rows = [
        good,                                                                     # 2
        ["cov.nope", "PK601", None, None, None, D(2027, 6, 30), 60],             # 3
        ["cov.poor_households", "PK999", None, None, None, D(2027, 6, 30), 60],  # 4
        ["cov.programme", "PK601", "no_such", None, None, D(2027, 6, 30), 60],   # 5
        ["cov.poor_households", "PK601", "sehat_card", None, None, D(2027, 6, 30), 60],  # 6
        ["cov.programme", "PK601", None, None, None, D(2027, 6, 30), 60],        # 7
        ["cov.poor_households", "PK602", None, None, None, None, 60],            # 8
        ["cov.poor_households", "PK602", None, None, None, "next year", 60],     # 9
        ["cov.poor_households", "PK602", None, None, None, D(2027, 6, 30), "high"],  # 10
        ["cov.poor_households", "PK602", None, None, None, D(2028, 6, 30), 120],  # 11
        None,                                                                     # 12 blank
        good,                                                                     # 13
        ["cov.poor_households", "PK6", None, None, 40, D(2027, 6, 30), 60],      # 14
        ["cov.poor_households", "PK6", None, "2026-02-30", 40, D(2028, 6, 30), 60],  # 15
        [None, "PK6", None, None, None, D(2029, 6, 30), 60],                     # 16
        ["ref.made", "PK6", None, None, None, D(2029, 6, 30), -5],               # 17
        ["cov.poor_households", "PK6", None, D(2027, 1, 1), 40, D(2026, 6, 30), 60],  # 18
        ["cov.poor_households", "PK6", None, D(2026, 1, 1), None, D(2030, 6, 30), 60],  # 19
        ["cov.poor_households", "PK6", None, None, None, D(2031, 6, 30), None],   # 20
    ]
    result = read_targets(filled(template, rows), **KNOWN)
    got = [(p.row_number, p.column) for p in result.problems]
    assert got == [
        (3, "indicator_id"), (4, "area_id"), (5, "programme_id"), (6, "programme_id"),
        (7, "programme_id"), (8, "target_on"), (9, "target_on"), (10, "target_value"),
        (11, "target_value"), (13, None), (14, "baseline_on"), (15, "baseline_on"),
        (16, "indicator_id"), (17, "target_value"), (18, "target_on"), (19, "baseline_value"),
        (20, "target_value"),
    ]
    messages = {p.row_number: p.message for p in result.problems}
    assert messages[3] == "unknown indicator `cov.nope` (see the Indicators sheet)"
    assert messages[4].startswith("unknown area `PK999`")
    assert messages[5] == "unknown programme `no_such`"
    assert "`cov.poor_households` is not given per programme" in messages[6]
    assert "`cov.programme` is given per programme" in messages[7]
    assert messages[8] == "target_on is missing"
    assert messages[9].startswith("target_on `next year` is not a date")
    assert messages[10] == "target_value `high` is not a number"
    assert messages[11].startswith("target_value 120 is outside 0–100")
    assert "as row 2" in messages[13]
    assert "a baseline value needs its date" in messages[14]
    assert messages[15].startswith("baseline_on `2026-02-30` is not a date")
    assert messages[16] == "indicator_id is missing"
    assert messages[17] == "target_value -5 is negative"
    assert messages[18] == "target_on 2026-06-30 is before baseline_on 2027-01-01"
    assert "a baseline date needs its value" in messages[19]
    assert messages[20] == "target_value is missing"
    assert list(result.rows["row_number"]) == [2]
    assert not result.ok
    assert list(result.problems_table().columns) == ["row", "column", "problem"]


def test_percent_formatted_cells_and_text_numbers(template: bytes):
    rows = [
        ["cov.poor_households", "PK601", None, "2026-06-30", "40%", D(2027, 6, 30), 0.45],
        ["ref.made", 601, None, None, None, D(2027, 6, 30), "1,200"],
    ]
    # 0.45 shown as 45 % in Excel means 45 %; an area id typed as a number is text.
    data = filled(template, rows, formats={(2, 7): "0%"})
    result = read_targets(data, known_areas={"PK601", "601"}, known_programmes=set())
    assert result.problems == []
    assert list(result.rows["target_value"]) == [pytest.approx(0.45), 1200.0]
    assert list(result.rows["baseline_value"]) == [pytest.approx(0.40), None]
    assert list(result.rows["baseline_on"]) == [D(2026, 6, 30), None]
    assert list(result.rows["area_id"]) == ["PK601", "601"]


@pytest.mark.parametrize(("header", "message"), [
    (["indicator_id", "area_id", "programme_id", "baseline_on", "baseline_value", "target_on"],
     "missing column `target_value`"),
    (["indicator", "area_id", "programme_id", "baseline_on", "baseline_value", "target_on",
      "target_value"], "missing column `indicator_id`; unknown column `indicator` in cell A1"),
    (["indicator_id", "area_id", "programme_id", "baseline_on", "baseline_value", "target_on",
      "target_value", "target_on"], "column `target_on` appears twice (cell H1)"),
])
def test_wrong_header_is_named(header, message):
    wb = Workbook()
    wb.active.title = "Targets"
    wb.active.append(header)
    buffer = io.BytesIO()
    wb.save(buffer)
    with pytest.raises(TargetFileError, match="header") as caught:
        read_targets(buffer.getvalue(), **KNOWN)
    assert message in str(caught.value)
    assert "It must read: indicator_id, area_id, programme_id" in str(caught.value)


def test_missing_sheet_and_empty_sheet():
    wb = Workbook()
    wb.active.title = "Sheet1"
    buffer = io.BytesIO()
    wb.save(buffer)
    with pytest.raises(TargetFileError, match=r"no sheet `Targets` \(its sheets: Sheet1\)"):
        read_targets(buffer.getvalue(), **KNOWN)
    wb.active.title = "Targets"
    buffer = io.BytesIO()
    wb.save(buffer)
    with pytest.raises(TargetFileError, match="the Targets sheet is empty"):
        read_targets(buffer.getvalue(), **KNOWN)


@pytest.mark.parametrize("data", [
    b"indicator_id,area_id,target_on,target_value\ncov.poor_households,PK601,2027-06-30,60\n",
    b"",
    b"PK\x03\x04 not really a zip",
])
def test_not_an_xlsx_is_a_clear_error(data: bytes):
    with pytest.raises(TargetFileError, match=r"not an Excel workbook \(\.xlsx\)"):
        read_targets(data, **KNOWN)


def test_read_from_a_path(tmp_path: Path, template: bytes):
    path = tmp_path / "targets.xlsx"
    path.write_bytes(filled(template, [
        ["dq.malformed_id", None, None, None, None, D(2027, 6, 30), 2.5]]))
    result = read_targets(path, **KNOWN)
    assert result.ok and list(result.rows["target_value"]) == [0.025]
    with pytest.raises(TargetFileError, match="does not exist"):
        read_targets(tmp_path / "missing.xlsx", **KNOWN)


def test_filled_and_saved_by_libreoffice_reads_the_same(tmp_path: Path, template: bytes):
    """A donor filling the template in LibreOffice Calc: saved as xlsx, read the same."""
    soffice = shutil.which("soffice") or shutil.which("libreoffice")
    if soffice is None:
        pytest.fail("LibreOffice (`soffice`) is not on PATH: install it with "
                    "`apt-get install libreoffice-calc-nogui` to run this test (CI does).")
    rows = [
        ["cov.poor_households", "PK601", None, D(2026, 6, 30), 41.5, D(2027, 6, 30), 60],
        ["ref.made", None, "sehat_card", None, None, D(2027, 3, 31), 120],
    ]
    source = tmp_path / "in" / "targets.xlsx"
    source.parent.mkdir()
    source.write_bytes(filled(template, rows))
    outdir = tmp_path / "out"
    result = subprocess.run(
        [soffice, f"-env:UserInstallation={(tmp_path / 'lo-profile').as_uri()}", "--headless",
         "--norestore", "--convert-to", "xlsx:Calc MS Excel 2007 XML", "--outdir", str(outdir),
         str(source)],
        capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    saved = read_targets(outdir / "targets.xlsx", **KNOWN)
    original = read_targets(source, **KNOWN)
    assert saved.problems == [] and original.problems == []
    pd.testing.assert_frame_equal(saved.rows, original.rows)
    wb = load_workbook(outdir / "targets.xlsx")
    assert any(dv.type == "list" for dv in wb["Targets"].data_validations.dataValidation)
