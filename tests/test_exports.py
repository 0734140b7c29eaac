"""The Excel export: sheets, round trip of the long form, LibreOffice opening it, the CLI."""

from __future__ import annotations

import datetime as dt
import io
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import openpyxl
import pandas as pd
import pytest
import sqlalchemy as sa

from data_access.loader import write_registry
from exports import SHEETS, build_workbook, public_source, write_workbook
from exports.workbook import ALL_AREAS, LEFT_OUT_NOTE, TITLE
from indicators.catalogue import BY_ID, CATALOGUE, LONG_FORM_COLUMNS

ROOT = Path(__file__).resolve().parents[1]
VENV_PYTHON = ROOT / ".venv" / "bin" / "python"
AS_OF = dt.date(2026, 11, 29)
START = dt.date(2026, 8, 30)
AREAS = [("D02", "Beta"), ("D01", "Alpha"), ("D03", "Gamma")]
HEADLINE = [i for i in CATALOGUE if i.headline]


def _row(indicator_id, area=None, *, programme=None, breakdown=None, num=None, den=None,
         value="ratio", flow=False):
    area_id, area_name = area if area else (None, ALL_AREAS)
    if value == "ratio":
        value = None if not den else num / den
    return {
        "indicator_id": indicator_id, "area_id": area_id, "area_name": area_name,
        "level": 2 if area_id else None, "programme_id": programme, "breakdown": breakdown,
        "period_start": START if flow else None, "period_end": AS_OF,
        "numerator": num, "denominator": den, "value": value,
    }


def synthetic_records() -> list[dict]:
    rows: list[dict] = []
    for k, area in enumerate([None] + AREAS):
        scale = 1 if area else 3
        rows.append(_row("cov.poor_households", area, num=7 * scale,
                          den=0 if area == ("D01", "Alpha") else 9 * scale))
        rows.append(_row("cov.population", area, num=40 * scale + k, den=120 * scale))
        for sex, n in (("F", 22), ("M", 18), ("X", 0)):
            rows.append(_row("cov.population", area, breakdown=f"sex={sex}", num=n, den=2 * n))
        for prog in ("BISP", "SEHAT"):
            rows.append(_row("cov.programme", area, programme=prog, num=3 + k, den=11))
        rows.append(_row("ref.made", area, num=12 + k, value=12.0 + k, flow=True))
        rows.append(_row("ref.made", area, breakdown="access_point=AP-0012", num=5, value=5.0,
                         flow=True))
        rows.append(_row("ref.overdue", area, num=2, den=7, flow=True))
        rows.append(_row("ref.overdue", area, programme="BISP", num=1, den=3, flow=True))
        rows.append(_row("ref.days_to_complete", area, value=None if k == 3 else 12.5,
                         flow=True))
        rows.append(_row("dup.double_dipping", area, num=1, den=30))
        rows.append(_row("dq.unassessed_households", area, num=4, den=50))
        rows.append(_row("dq.adults_without_id", area, num=0, den=0))
    rows.append(_row("dq.invalid_rows", num=11, den=1000))
    for table, n in (("household", 3), ("person", 5), ("enrolment", 2), ("referral", 1)):
        rows.append(_row("dq.invalid_rows", breakdown=f"table={table}", num=n, den=250))
    return rows


@pytest.fixture
def figures() -> pd.DataFrame:
    # Built the way pandas builds it from records: numerator/denominator become float with
    # NaN where None, as a real engine frame may too.
    return pd.DataFrame(synthetic_records(), columns=list(LONG_FORM_COLUMNS))


def _build(figures: pd.DataFrame, **kw) -> bytes:
    args = dict(level=2, level_name="District", as_of=AS_OF, period_start=START,
                source=public_source("postgresql+psycopg://socle:s3cret@db.example/registry"))
    args.update(kw)
    return build_workbook(figures, **args)


@pytest.fixture
def book(figures) -> openpyxl.Workbook:
    return openpyxl.load_workbook(io.BytesIO(_build(figures)))


def _plain(value):
    """A cell value as the long form holds it (Excel stores dates as datetimes)."""
    if isinstance(value, dt.datetime):
        return value.date()
    return value


# --------------------------------------------------------------------------- the workbook


def test_sheet_names(book):
    assert book.sheetnames == list(SHEETS)
    assert book.sheetnames[:4] == ["Summary", "Indicators", "Definitions", "Data quality"]


def test_indicators_sheet_round_trips_the_long_form(book):
    ws = book["Indicators"]
    rows = list(ws.iter_rows(values_only=True))
    assert rows[0] == LONG_FORM_COLUMNS
    got = [dict(zip(LONG_FORM_COLUMNS, map(_plain, r), strict=True)) for r in rows[1:]]
    assert got == synthetic_records()
    assert ws.freeze_panes == "A2"


def test_indicators_sheet_cell_types(book):
    ws = book["Indicators"]
    header = [c.value for c in ws[1]]
    col = {name: header.index(name) for name in header}
    for cells in ws.iter_rows(min_row=2):
        end = cells[col["period_end"]]
        assert end.is_date and end.number_format == "yyyy-mm-dd"
        start = cells[col["period_start"]]
        assert start.value is None or (start.is_date and start.number_format == "yyyy-mm-dd")
        for name in ("numerator", "denominator", "level"):
            value = cells[col[name]].value
            assert value is None or type(value) is int
        value = cells[col["value"]]
        assert value.value is None or isinstance(value.value, (int, float))
        if value.value is not None:
            assert value.number_format == BY_ID[cells[col["indicator_id"]].value].number_format
        for name in ("area_id", "programme_id", "breakdown"):
            assert cells[col[name]].value != ""  # missing is an empty cell, not ""


def test_summary_sheet(book, figures):
    ws = book["Summary"]
    assert ws["A1"].value == TITLE
    titles = {ws.cell(r, 1).value: ws.cell(r, 2).value for r in range(2, 8)}
    assert titles["Level"] == "District (level 2)"
    assert titles["As of"] == "2026-11-29"
    assert titles["Period"].startswith("2026-08-30 to 2026-11-29")
    assert titles["Source"] == "postgresql+psycopg://socle:***@db.example/registry"
    assert "s3cret" not in str(list(ws.values))
    assert titles["Generated"]

    header_row = next(r for r in range(1, 20) if ws.cell(r, 1).value == "area_id")
    assert ws.freeze_panes == f"A{header_row + 1}"
    header = [c.value for c in ws[header_row]]
    assert header == ["area_id", "area name"] + [i.label for i in HEADLINE]

    body = list(ws.iter_rows(min_row=header_row + 1))
    assert [(r[0].value, r[1].value) for r in body] == [
        (None, ALL_AREAS), ("D01", "Alpha"), ("D02", "Beta"), ("D03", "Gamma")]
    expected = {
        (r["area_id"], r["indicator_id"]): r["value"] for r in synthetic_records()
        if r["breakdown"] is None and r["programme_id"] is None
    }
    for cells in body:
        area_id = cells[0].value
        for ind, cell in zip(HEADLINE, cells[2:], strict=True):
            assert cell.value == expected.get((area_id, ind.id))
            if cell.value is not None:
                assert cell.number_format == ind.number_format
    # A headline value that is None (denominator 0) is an empty cell.
    alpha = next(c for c in body if c[0].value == "D01")
    assert alpha[2].value is None
    # Whole-registry-only indicator: empty in area rows, given for All areas.
    dq_col = 2 + [i.id for i in HEADLINE].index("dq.invalid_rows")
    assert body[0][dq_col].value == pytest.approx(0.011)
    assert all(r[dq_col].value is None for r in body[1:])
    for letter in "ABC":
        assert ws.column_dimensions[letter].width >= 10


def test_definitions_sheet(book):
    ws = book["Definitions"]
    rows = list(ws.iter_rows(values_only=True))
    header = rows[0]
    assert header[:3] == ("id", "label", "family")
    for name in ("numerator", "denominator", "unit", "higher is better", "breakdowns", "note"):
        assert name in header
    ids = [r[0] for r in rows[1:]]
    assert ids == [i.id for i in CATALOGUE]
    by_id = {r[0]: dict(zip(header, r, strict=True)) for r in rows[1:]}
    assert by_id["cov.population"]["breakdowns"].startswith("sex=F, sex=M")
    assert by_id["ref.made"]["higher is better"] == "—"
    assert by_id["dq.invalid_rows"]["note"] == BY_ID["dq.invalid_rows"].note


def test_data_quality_sheet(book):
    ws = book["Data quality"]
    rows = list(ws.iter_rows(values_only=True))
    assert any(LEFT_OUT_NOTE in (r[0] or "") for r in rows)
    assert "excluded from every other indicator" in LEFT_OUT_NOTE
    header_index = next(n for n, r in enumerate(rows) if r[0] == "indicator")
    header = rows[header_index]
    body = [dict(zip(header, r, strict=True)) for r in rows[header_index + 1:]]
    dq = [r for r in synthetic_records() if r["indicator_id"].startswith("dq.")]
    assert len(body) == len(dq)
    assert {(r["indicator_id"], r["area_id"], r["breakdown"], r["numerator"], r["denominator"])
            for r in body} == {
        (r["indicator_id"], r["area_id"], r["breakdown"], r["numerator"], r["denominator"])
        for r in dq}
    labels = {r["indicator"] for r in body}
    assert "Rows left out of the indicators" in labels
    invalid = [r for r in body if r["indicator_id"] == "dq.invalid_rows"]
    assert [r["breakdown"] for r in invalid] == [
        None, "table=enrolment", "table=household", "table=person", "table=referral"]
    assert all(r["area"] == ALL_AREAS for r in invalid)
    # Formatted values, numbers still.
    value_cells = [row[header.index("value")] for row in
                   ws.iter_rows(min_row=header_index + 2)]
    assert all(c.number_format == "0.0%" for c in value_cells if c.value is not None)


def test_progress_and_write_workbook(tmp_path, figures):
    calls: list[tuple[float, str]] = []
    path = write_workbook(tmp_path / "out.xlsx", figures, level=2, level_name="District",
                          as_of="2026-11-29", period_start=None, source="sqlite:///x.db",
                          progress=lambda f, m: calls.append((f, m)))
    assert path.is_file() and not list(tmp_path.glob(".*partial"))
    fractions = [f for f, _ in calls]
    assert fractions == sorted(fractions) and fractions[0] == 0.0 and fractions[-1] == 1.0
    assert all(isinstance(m, str) and m for _, m in calls)
    book = openpyxl.load_workbook(path)
    period = next(r[1] for r in book["Summary"].iter_rows(values_only=True) if r[0] == "Period")
    assert period.startswith("up to 2026-11-29")


def test_missing_values_of_every_kind_are_empty_cells():
    frame = pd.DataFrame(synthetic_records()[:6], columns=list(LONG_FORM_COLUMNS))
    frame["numerator"] = frame["numerator"].astype("Int64")
    frame["denominator"] = frame["denominator"].astype("Float64")
    frame["level"] = frame["level"].astype("Int64")
    frame["period_start"] = pd.to_datetime(frame["period_start"])  # NaT where missing
    frame["period_end"] = frame["period_end"].astype(str)  # ISO text
    frame.loc[0, "breakdown"] = ""
    frame.loc[1, "value"] = float("nan")
    book = openpyxl.load_workbook(io.BytesIO(_build(frame)))
    rows = list(book["Indicators"].iter_rows(min_row=2, values_only=True))
    expected = synthetic_records()[:6]
    expected[1]["value"] = None
    assert [dict(zip(LONG_FORM_COLUMNS, map(_plain, r), strict=True)) for r in rows] == expected


def test_empty_figures_and_missing_columns():
    empty = pd.DataFrame(columns=list(LONG_FORM_COLUMNS))
    book = openpyxl.load_workbook(io.BytesIO(_build(empty)))
    assert book.sheetnames == list(SHEETS)
    assert list(book["Indicators"].values) == [LONG_FORM_COLUMNS]
    with pytest.raises(ValueError, match="value"):
        _build(empty.drop(columns=["value"]))


def test_public_source_hides_the_password():
    assert public_source("postgresql://u:pw@h:5432/db") == "postgresql://u:***@h:5432/db"
    assert public_source("sqlite:///data/registry.db") == "sqlite:///data/registry.db"


# --------------------------------------------------------------------------- LibreOffice


def test_libreoffice_converts_the_workbook_to_pdf(tmp_path, figures):
    soffice = shutil.which("soffice") or shutil.which("libreoffice")
    if soffice is None:
        pytest.fail("LibreOffice (`soffice`) is not on PATH: install it with "
                    "`apt-get install libreoffice-calc-nogui` to run this test (CI does).")
    xlsx = tmp_path / "socle.xlsx"
    xlsx.write_bytes(_build(figures))
    profile = tmp_path / "lo-profile"
    outdir = tmp_path / "pdf"
    started = time.perf_counter()
    result = subprocess.run(
        [soffice, f"-env:UserInstallation={profile.as_uri()}", "--headless", "--norestore",
         "--convert-to", "pdf", "--outdir", str(outdir), str(xlsx)],
        capture_output=True, text=True, timeout=120,
    )
    elapsed = time.perf_counter() - started
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "error" not in output.lower(), output
    pdf = outdir / "socle.pdf"
    assert pdf.is_file(), output
    assert pdf.stat().st_size > 1000 and pdf.read_bytes()[:5] == b"%PDF-"
    print(f"LibreOffice converted the workbook in {elapsed:.1f} s")


# --------------------------------------------------------------------------- the CLI


def _python() -> str:
    return str(VENV_PYTHON) if VENV_PYTHON.exists() else sys.executable


def _cli(*args: str, tmp_path: Path) -> subprocess.CompletedProcess:
    config = tmp_path / "config.toml"
    if not config.exists():
        config.write_text('[geography]\nlevel_names = ["Region", "District"]\n'
                          'boundary_file = ""\n', encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith("SOCLE_")}
    return subprocess.run(
        [_python(), "-m", "exports", "--config", str(config), *args],
        capture_output=True, text=True, timeout=300, cwd=ROOT, env=env,
    )


def _assert_clean_error(result: subprocess.CompletedProcess, code: int, *needles: str) -> None:
    assert result.returncode == code, result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    for needle in needles:
        assert needle in result.stderr, result.stderr


def test_cli_bad_date_exits_2(tmp_path):
    result = _cli("--level", "2", "--as-of", "2026-13-01", "--out", str(tmp_path / "x.xlsx"),
                  tmp_path=tmp_path)
    _assert_clean_error(result, 2, "--as-of", "2026-13-01")
    result = _cli("--level", "2", "--as-of", "2026-11-29", "--period-start", "yesterday",
                  "--out", str(tmp_path / "x.xlsx"), tmp_path=tmp_path)
    _assert_clean_error(result, 2, "--period-start")


def test_cli_missing_out_directory_exits_2(tmp_path):
    result = _cli("--level", "2", "--as-of", "2026-11-29",
                  "--out", str(tmp_path / "nowhere" / "x.xlsx"), tmp_path=tmp_path)
    _assert_clean_error(result, 2, "--out", "nowhere")


def test_cli_bad_level_exits_2(tmp_path):
    result = _cli("--level", "0", "--as-of", "2026-11-29", "--out", str(tmp_path / "x.xlsx"),
                  tmp_path=tmp_path)
    _assert_clean_error(result, 2, "--level")


def test_cli_missing_database_file_exits_1(tmp_path):
    missing = tmp_path / "no_such_registry.db"
    result = _cli("--database-url", f"sqlite:///{missing}", "--level", "2",
                  "--as-of", "2026-11-29", "--out", str(tmp_path / "x.xlsx"), tmp_path=tmp_path)
    _assert_clean_error(result, 1, "no_such_registry.db")
    assert not (tmp_path / "x.xlsx").exists()


def test_cli_bad_config_exits_1(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("[indicators]\npoverty_cutoff = 'low'\n", encoding="utf-8")
    result = subprocess.run(
        [_python(), "-m", "exports", "--config", str(bad), "--level", "2",
         "--out", str(tmp_path / "x.xlsx")],
        capture_output=True, text=True, timeout=120, cwd=ROOT,
        env={k: v for k, v in os.environ.items() if not k.startswith("SOCLE_")},
    )
    _assert_clean_error(result, 1, "poverty_cutoff")


def tiny_registry() -> dict[str, pd.DataFrame]:
    d = dt.date
    return {
        "area": pd.DataFrame([
            {"area_id": "R1", "name": "North", "level": 1, "parent_id": None, "population": 90},
            {"area_id": "D1", "name": "Alpha", "level": 2, "parent_id": "R1", "population": 50},
            {"area_id": "D2", "name": "Beta", "level": 2, "parent_id": "R1", "population": 40},
        ]),
        "access_point": pd.DataFrame([
            {"access_point_id": "AP-0001", "name": "Centre", "kind": "one_window",
             "area_id": "D1"},
        ]),
        "household": pd.DataFrame([
            {"household_id": "H1", "area_id": "D1", "registered_on": d(2026, 1, 5),
             "pmt_score": 20.0, "access_point_id": "AP-0001"},
            {"household_id": "H2", "area_id": "D2", "registered_on": d(2026, 2, 5),
             "pmt_score": 50.0},
            {"household_id": "H3", "area_id": "D9", "registered_on": d(2026, 2, 5),
             "pmt_score": None},  # unknown area: left out
        ]),
        "person": pd.DataFrame([
            {"person_id": f"P{n}", "household_id": h, "national_id": nid, "first_name": "A",
             "sex": sex, "birth_date": born, "disability": False, "is_head": n in (1, 3),
             "registered_on": d(2026, 1, 5)}
            for n, h, nid, sex, born in (
                (1, "H1", "1234567890123", "F", d(1980, 1, 1)),
                (2, "H1", None, "M", d(2015, 6, 1)),
                (3, "H2", "12345", "M", d(1950, 3, 3)),
                (4, "H3", None, "F", None),
            )
        ]),
        "programme": pd.DataFrame([
            {"programme_id": "BISP", "name": "Cash", "benefit_type": "cash",
             "unit": "household", "pmt_max": 32.0, "disability_only": False,
             "exclusive_group": "cash"},
            {"programme_id": "SEHAT", "name": "Health", "benefit_type": "health_insurance",
             "unit": "person", "disability_only": False},
        ]),
        "enrolment": pd.DataFrame([
            {"enrolment_id": "E1", "programme_id": "BISP", "household_id": "H1",
             "enrolled_on": d(2026, 2, 1)},
            {"enrolment_id": "E2", "programme_id": "SEHAT", "person_id": "P3",
             "enrolled_on": d(2026, 3, 1)},
        ]),
        "referral": pd.DataFrame([
            {"referral_id": "R1", "household_id": "H1", "to_programme_id": "SEHAT",
             "access_point_id": "AP-0001", "referred_on": d(2026, 9, 1), "status": "pending"},
            {"referral_id": "R2", "household_id": "H2", "to_programme_id": "BISP",
             "referred_on": d(2026, 10, 1), "status": "completed",
             "closed_on": d(2026, 10, 20)},
        ]),
    }


@pytest.fixture
def registry_file(tmp_path) -> Path:
    path = tmp_path / "registry.db"
    writer = sa.create_engine(f"sqlite:///{path}")
    write_registry(writer, tiny_registry())
    writer.dispose()
    return path


def test_cli_level_missing_from_the_registry_exits_2(tmp_path, registry_file):
    result = _cli("--database-url", f"sqlite:///{registry_file}", "--level", "3",
                  "--as-of", "2026-11-29", "--out", str(tmp_path / "x.xlsx"), tmp_path=tmp_path)
    _assert_clean_error(result, 2, "--level", "level 3")
    assert "1 (Region), 2 (District)" in result.stderr


def test_cli_end_to_end_on_a_real_registry(tmp_path, registry_file):
    """Needs indicators.compute (the engine)."""
    out = tmp_path / "district.xlsx"
    result = _cli("--database-url", f"sqlite:///{registry_file}", "--level", "2",
                  "--as-of", "2026-11-29", "--out", str(out), tmp_path=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    book = openpyxl.load_workbook(out)
    assert book.sheetnames == list(SHEETS)
    rows = list(book["Indicators"].iter_rows(values_only=True))
    assert rows[0] == LONG_FORM_COLUMNS
    figures = [dict(zip(LONG_FORM_COLUMNS, r, strict=True)) for r in rows[1:]]
    assert {f["area_id"] for f in figures} == {None, "D1", "D2"}
    assert {f["indicator_id"] for f in figures} >= {i.id for i in CATALOGUE}
    assert all(_plain(f["period_end"]) == AS_OF for f in figures)
    poor = next(f for f in figures if f["indicator_id"] == "cov.poor_households"
                and f["area_id"] is None and f["breakdown"] is None)
    assert (poor["numerator"], poor["denominator"]) == (1, 1)
    summary = list(book["Summary"].iter_rows(values_only=True))
    assert ("Source", f"sqlite:///{registry_file}") in [r[:2] for r in summary]
    header = next(n for n, r in enumerate(summary) if r[0] == "area_id")
    assert [r[:2] for r in summary[header + 1:]] == [
        (None, ALL_AREAS), ("D1", "Alpha"), ("D2", "Beta")]
    period_start = next(f["period_start"] for f in figures if f["indicator_id"] == "ref.made")
    assert _plain(period_start) == dt.date(2026, 8, 30)
