"""List sheets in the Excel export: streamed without holding the list, split past a sheet's
limit, wired into the workbook and the CLI (``--lists``, ``--area``)."""

from __future__ import annotations

import datetime as dt
import io
import os
import re
import shutil
import subprocess
import sys
import time
import tracemalloc
import zipfile
from collections.abc import Iterator
from pathlib import Path

import fixture_registry as fx
import numpy as np
import openpyxl
import pandas as pd
import pytest
import sqlalchemy as sa
from openpyxl import Workbook

from data_access.context import UserContext
from data_access.loader import write_registry
from data_access.registry import open_registry
from exports import SHEETS, build_workbook, write_workbook
from exports.lists import (
    MAX_DATA_ROWS,
    ListTooLongError,
    sheet_title,
    write_list_sheets,
)
from indicators import compute
from indicators.lists import (
    LIST_BY_ID,
    LIST_IDS,
    ListPermissionError,
    UnknownAreaError,
    UnknownListError,
    count_rows,
    list_frame,
)

ROOT = Path(__file__).resolve().parents[1]
VENV_PYTHON = ROOT / ".venv" / "bin" / "python"
ADMIN = UserContext("admin")
COLUMNS = ["referral_id", "household_id", "person_name", "programme_id", "area_name",
           "referred_on", "status", "days_open"]


def synthetic_chunks(rows: int, chunk: int) -> Iterator[pd.DataFrame]:
    """``rows`` rows of 8 columns, ``chunk`` at a time; ids unique per row, so a writer that
    kept rows would show in the memory it holds. Text is held as list_rows gives it (object
    columns of Python str)."""
    template = pd.DataFrame({
        "person_name": [f"Name {i % 997} Khan" for i in range(chunk)],
        "programme_id": ["bisp_kafaalat", "sehat_card"] * (chunk // 2),
        "area_name": [f"Union council {i % 150}" for i in range(chunk)],
        "referred_on": [dt.date(2020, 1, 1) + dt.timedelta(days=i % 2000) for i in range(chunk)],
        "status": ["pending", "accepted", "accepted", "pending"] * (chunk // 4),
        "days_open": pd.array(np.arange(chunk) % 400, dtype="Int64"),
    }).astype({name: object for name in ("person_name", "programme_id", "area_name",
                                         "status")})
    for start in range(0, rows, chunk):
        frame = template.iloc[: min(chunk, rows - start)].copy()
        numbers = range(start, start + len(frame))
        frame["referral_id"] = pd.Series([f"RF-{i:09d}" for i in numbers], dtype=object,
                                         index=frame.index)
        frame["household_id"] = pd.Series([f"HH-{i:09d}" for i in numbers], dtype=object,
                                          index=frame.index)
        yield frame


def count_sheet_rows(path: Path, sheet_file: str) -> tuple[int, int]:
    """(rows, last row number) of a sheet's XML, streamed from the zip."""
    count, last, tail = 0, 0, b""
    pattern = re.compile(rb'<row r="(\d+)"')
    with zipfile.ZipFile(path) as archive, archive.open(sheet_file) as sheet:
        while True:
            block = sheet.read(1 << 20)
            data = tail + block
            # A tag may straddle two blocks: matches starting in the last 64 bytes wait for
            # the next block (a match is shorter than that).
            cut = len(data) - 64 if block else len(data)
            for match in pattern.finditer(data):
                if match.start() < cut:
                    count += 1
                    last = int(match.group(1))
            tail = data[cut:]
            if not block:
                return count, last


# --------------------------------------------------------------------------- streaming


def test_a_long_list_streams_in_bounded_memory(tmp_path):
    """200,000 rows x 8 columns: Python's peak memory stays bounded while the file holds all.

    Held in memory, the rows would take about 80 MB (1.6 million Python values and their
    rows) and the sheet's XML about 30 MB. What may be live at once: one 10,000-row chunk of
    the generator (about 5 MB traced), the row being serialised, openpyxl's workbook and
    write buffers. 25 MB bounds that with room and fits neither the rows nor the XML; it
    grows with the chunk size, never with the list (measured: about 7.5 MB).
    """
    rows = 200_000
    path = tmp_path / "long.xlsx"
    book = Workbook(write_only=True)
    tracemalloc.start()
    try:
        started = time.perf_counter()
        report = write_list_sheets(book, "Overdue referrals", COLUMNS,
                                   synthetic_chunks(rows, 10_000))
        book.save(path)
        elapsed = time.perf_counter() - started
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    print(f"{rows:,} rows in {elapsed:.1f} s under tracemalloc, peak {peak / 1e6:.1f} MB")
    assert report.rows == rows and report.sheets == ["Overdue referrals"]
    assert peak < 25e6, f"peak traced memory {peak / 1e6:.1f} MB"
    assert count_sheet_rows(path, "xl/worksheets/sheet1.xml") == (rows + 1, rows + 1)
    # The first rows, read from the sheet's XML (openpyxl's read-only load takes seconds here;
    # the other tests read list sheets back with openpyxl).
    with zipfile.ZipFile(path) as archive, archive.open("xl/worksheets/sheet1.xml") as sheet:
        head = sheet.read(1 << 14).decode("utf-8")
    first = dict(re.findall(r'<row r="(\d+)"[^>]*>(.*?)</row>', head))
    assert re.findall(r"<t>(.*?)</t>", first["1"]) == COLUMNS
    assert re.findall(r"<t>(.*?)</t>", first["2"]) == [
        "RF-000000000", "HH-000000000", "Name 0 Khan", "bisp_kafaalat", "Union council 0",
        "pending"]
    # 2020-01-01 is Excel day 43831; days_open 0.
    assert re.findall(r"<v>(.*?)</v>", first["2"]) == ["43831", "0"]


def test_splitting_past_max_rows_and_refusing_to(tmp_path):
    frames = list(synthetic_chunks(1_000, 100))
    book = Workbook(write_only=True)
    book.create_sheet("Summary")
    progress: list[int] = []
    report = write_list_sheets(book, "Overdue referrals", COLUMNS, iter(frames), max_rows=400,
                               progress=progress.append)
    assert report.rows == 1_000
    assert report.sheets == ["Overdue referrals", "Overdue referrals (2)",
                             "Overdue referrals (3)"]
    assert progress[-1] == 1_000
    path = tmp_path / "split.xlsx"
    book.save(path)
    back = openpyxl.load_workbook(path)
    ids: list[str] = []
    for name, size in zip(report.sheets, (400, 400, 200), strict=True):
        ws = back[name]
        rows = list(ws.iter_rows(values_only=True))
        assert rows[0] == tuple(COLUMNS) and len(rows) == size + 1
        assert ws.freeze_panes == "A2" and ws.auto_filter.ref == f"A1:H{size + 1}"
        ids += [r[0] for r in rows[1:]]
    assert ids == [f"RF-{i:09d}" for i in range(1_000)]  # every row, in order

    with pytest.raises(ListTooLongError, match=r"“Overdue referrals” has more than 400 rows"):
        write_list_sheets(Workbook(write_only=True), "Overdue referrals", COLUMNS,
                          iter(frames), max_rows=400, split=False)
    exact = write_list_sheets(Workbook(write_only=True), "Overdue referrals", COLUMNS,
                              synthetic_chunks(400, 100), max_rows=400, split=False)
    assert (exact.rows, len(exact.sheets)) == (400, 1)
    with pytest.raises(ValueError, match="max_rows"):
        write_list_sheets(Workbook(write_only=True), "x", COLUMNS, [], max_rows=MAX_DATA_ROWS + 1)


def test_sheet_titles_are_short_unique_and_legal():
    book = Workbook(write_only=True)
    book.create_sheet("Data quality")
    assert sheet_title(book, "Data quality") == "Data quality (2)"
    assert sheet_title(book, "data QUALITY", 1) == "data QUALITY (2)"  # Excel ignores case
    long = "Referrals overdue for more than thirty days"
    assert sheet_title(book, long) == long[:31]
    assert sheet_title(book, long, 12) == long[:26].rstrip() + " (12)"
    assert len(sheet_title(book, long, 12)) <= 31
    assert sheet_title(book, "a/b:c*d?[e]") == "a b c d  e"


def test_cell_values_round_trip(tmp_path):
    frame = pd.DataFrame({
        "text": ["A & B <c>", "  padded ", "tab\there\x01", None, "", "ok"],
        "int": pd.array([1, None, -3, 2**40, 0, 7], dtype="Int64"),
        "float": [0.1, float("nan"), 2 / 3, float("inf"), 1.0, -2.5],
        "date": [dt.date(2026, 2, 28), None, pd.NaT, dt.date(1900, 1, 15), dt.date(2000, 1, 1),
                 pd.Timestamp("2024-02-29")],
        "when": [dt.datetime(2026, 1, 2, 3, 4, 5), None, None, None, None, None],
        "flag": [True, False, None, np.int64(5), np.float64(1.5), pd.NA],
    })
    book = Workbook(write_only=True)
    write_list_sheets(book, "Values", [(c, c.title()) for c in frame.columns], [frame])
    path = tmp_path / "values.xlsx"
    book.save(path)
    ws = openpyxl.load_workbook(path)["Values"]
    rows = list(ws.iter_rows(values_only=True))
    assert rows[0] == ("Text", "Int", "Float", "Date", "When", "Flag")
    assert [r[0] for r in rows[1:]] == ["A & B <c>", "  padded ", "tab\there", None, None,
                                        "ok"]
    assert [r[1] for r in rows[1:]] == [1, None, -3, 2**40, 0, 7]
    assert [r[2] for r in rows[1:]] == [0.1, None, 2 / 3, None, 1, -2.5]
    assert [r[3] for r in rows[1:]] == [dt.datetime(2026, 2, 28), None, None,
                                        dt.datetime(1900, 1, 15), dt.datetime(2000, 1, 1),
                                        dt.datetime(2024, 2, 29)]
    assert rows[1][4] == dt.datetime(2026, 1, 2, 3, 4, 5)
    assert [r[5] for r in rows[1:]] == [True, False, None, 5, 1.5, None]
    for cell in ws["D"][1:]:
        assert cell.value is None or (cell.is_date and cell.number_format == "yyyy-mm-dd")
    assert ws["A1"].font.bold


# --------------------------------------------------------------------------- the workbook


@pytest.fixture
def fixture_engine(make_registry) -> sa.Engine:
    return make_registry(fx.fixture_tables())


def _figures(engine: sa.Engine) -> pd.DataFrame:
    return compute(engine, as_of=fx.AS_OF, period_start=fx.PERIOD_START, level=2)


def _build(engine: sa.Engine, figures: pd.DataFrame, **kw) -> bytes:
    return build_workbook(figures, level=2, level_name="District", as_of=fx.AS_OF,
                          period_start=fx.PERIOD_START, source="test", engine=engine,
                          context=ADMIN, **kw)


def test_workbook_with_list_sheets(fixture_engine):
    figures = _figures(fixture_engine)
    plain = openpyxl.load_workbook(io.BytesIO(_build(fixture_engine, figures)))
    assert plain.sheetnames == list(SHEETS)
    assert not any(str(r[0]).startswith("List") for r in plain["Summary"].iter_rows(
        max_row=10, values_only=True) if r[0])

    calls: list[tuple[float, str]] = []
    data = _build(fixture_engine, figures, lists=["overdue_referrals", "data_quality_rows"],
                  area_id="D1", progress=lambda f, m: calls.append((f, m)))
    book = openpyxl.load_workbook(io.BytesIO(data))
    assert book.sheetnames == [*SHEETS, "Overdue referrals", "Data quality rows"]
    fractions = [f for f, _ in calls]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0
    assert any("Overdue referrals" in m for _, m in calls)

    counts = {list_id: count_rows(fixture_engine, list_id, context=ADMIN, area_id="D1",
                                  as_of=fx.AS_OF, period_start=fx.PERIOD_START)
              for list_id in ("overdue_referrals", "data_quality_rows")}
    assert counts["overdue_referrals"] == 2
    overdue = list(book["Overdue referrals"].iter_rows(values_only=True))
    spec = LIST_BY_ID["overdue_referrals"]
    assert overdue[0] == tuple(c.label for c in spec.columns)
    assert [r[0] for r in overdue[1:]] == ["R6", "R5"]
    referred = book["Overdue referrals"].cell(2, 11)
    assert referred.is_date and referred.number_format == "yyyy-mm-dd"
    assert referred.value == dt.datetime(2025, 11, 1)
    assert book["Data quality rows"].max_row == counts["data_quality_rows"] + 1

    summary = {r[0]: r[1:3] for r in book["Summary"].iter_rows(max_row=14, values_only=True)
               if r[0]}
    assert summary["Lists of"][0] == "District One (D1) and the areas below it"
    assert summary["List: Overdue referrals"] == (2, None)
    assert summary["List: Data quality rows"][0] == counts["data_quality_rows"]
    header_row = next(r for r in range(1, 20) if book["Summary"].cell(r, 1).value == "area_id")
    assert book["Summary"].freeze_panes == f"A{header_row + 1}"


def test_workbook_lists_are_checked_before_anything_is_written(fixture_engine, tmp_path):
    figures = _figures(fixture_engine)
    folder = tmp_path / "out"
    folder.mkdir()
    out = folder / "refused.xlsx"
    kwargs = dict(level=2, level_name="District", as_of=fx.AS_OF, period_start=fx.PERIOD_START,
                  source="test", engine=fixture_engine)
    with pytest.raises(ListPermissionError):
        write_workbook(out, figures, lists=["double_dipping"], context=UserContext("donor"),
                       **kwargs)
    with pytest.raises(ListPermissionError, match="outside"):
        write_workbook(out, figures, lists=["double_dipping"],
                       context=UserContext("officer", ["D2"]), area_id="D1", **kwargs)
    with pytest.raises(UnknownAreaError):
        write_workbook(out, figures, lists=["double_dipping"], context=ADMIN, area_id="Z9",
                       **kwargs)
    with pytest.raises(UnknownListError, match="double_dipping"):
        write_workbook(out, figures, lists=["dipping"], context=ADMIN, **kwargs)
    with pytest.raises(ValueError, match="context"):
        write_workbook(out, figures, lists=["double_dipping"], **kwargs)
    assert not list(folder.iterdir())


# --------------------------------------------------------------------------- the CLI


def _python() -> str:
    return str(VENV_PYTHON) if VENV_PYTHON.exists() else sys.executable


@pytest.fixture
def registry_file(tmp_path) -> Path:
    path = tmp_path / "registry.db"
    writer = sa.create_engine(f"sqlite:///{path}")
    write_registry(writer, fx.fixture_tables())
    writer.dispose()
    return path


def _cli(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    config = tmp_path / "config.toml"
    config.write_text('[geography]\nlevel_names = ["Province", "District", "Union council"]\n'
                      'boundary_file = ""\n', encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith("SOCLE_")}
    return subprocess.run([_python(), "-m", "exports", "--config", str(config), *args],
                          capture_output=True, text=True, timeout=300, cwd=ROOT, env=env)


def _one_line_error(result: subprocess.CompletedProcess, code: int) -> str:
    assert result.returncode == code, result.stderr
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    return result.stderr


def test_cli_lists_and_area(tmp_path, registry_file):
    out = tmp_path / "d1.xlsx"
    url = f"sqlite:///{registry_file}"
    result = _cli(tmp_path, "--database-url", url, "--level", "2",
                  "--as-of", fx.AS_OF.isoformat(), "--period-start",
                  fx.PERIOD_START.isoformat(), "--out", str(out),
                  "--lists", "overdue_referrals,double_dipping,data_quality_rows",
                  "--area", "D1")
    assert result.returncode == 0, result.stderr
    book = openpyxl.load_workbook(out)
    assert book.sheetnames == [*SHEETS, "Overdue referrals", "Double dipping",
                               "Data quality rows"]
    engine = sa.create_engine(url)
    try:
        for list_id in ("overdue_referrals", "double_dipping", "data_quality_rows"):
            spec = LIST_BY_ID[list_id]
            expected = count_rows(engine, list_id, context=ADMIN, area_id="D1", as_of=fx.AS_OF,
                                  period_start=fx.PERIOD_START)
            assert book[spec.title].max_row == expected + 1, list_id
        frame = list_frame(engine, "data_quality_rows", context=ADMIN, area_id="D1",
                           as_of=fx.AS_OF, period_start=fx.PERIOD_START)
    finally:
        engine.dispose()
    sheet = list(book["Data quality rows"].iter_rows(min_row=2, values_only=True))
    assert [r[1] for r in sheet] == list(frame["row_id"])

    # The same workbook as the library gives (the app's export page calls it).
    everything = tmp_path / "all.xlsx"
    result = _cli(tmp_path, "--database-url", url, "--level", "2", "--as-of",
                  fx.AS_OF.isoformat(), "--out", str(everything), "--lists", "all")
    assert result.returncode == 0, result.stderr
    assert openpyxl.load_workbook(everything, read_only=True).sheetnames == [
        *SHEETS, *(LIST_BY_ID[i].title for i in LIST_IDS)]


def test_cli_help_names_every_list():
    from exports.__main__ import parser

    text = parser().format_help()
    assert all(list_id in text for list_id in LIST_IDS)


def test_cli_bad_lists_and_areas_exit_2(tmp_path, registry_file):
    url = f"sqlite:///{registry_file}"
    out = tmp_path / "x.xlsx"
    base = ("--database-url", url, "--level", "2", "--as-of", fx.AS_OF.isoformat(),
            "--out", str(out))
    error = _one_line_error(_cli(tmp_path, *base, "--lists", "overdue_referrals,dipping"), 2)
    assert "--lists" in error and "unknown list `dipping`" in error
    assert ", ".join(LIST_IDS) in error
    error = _one_line_error(_cli(tmp_path, *base, "--lists", "all", "--area", "Z9"), 2)
    assert "--area" in error and "Z9" in error
    error = _one_line_error(_cli(tmp_path, *base, "--area", "D1"), 2)
    assert "--area" in error and "--lists" in error
    assert not out.exists()


def test_libreoffice_reads_the_list_sheets(tmp_path, registry_file):
    """The list rows are serialised by Socle, not openpyxl: LibreOffice must read them."""
    soffice = shutil.which("soffice") or shutil.which("libreoffice")
    if soffice is None:
        pytest.fail("LibreOffice (`soffice`) is not on PATH: install it with "
                    "`apt-get install libreoffice-calc-nogui` to run this test (CI does).")
    engine = open_registry(f"sqlite:///{registry_file}")
    try:
        data = _build(engine, _figures(engine), lists=["overdue_referrals"])
    finally:
        engine.dispose()
    xlsx = tmp_path / "lists.xlsx"
    xlsx.write_bytes(data)
    sheet = SHEETS.index("Data quality") + 2  # 1-based: the first list sheet
    result = subprocess.run(
        [soffice, f"-env:UserInstallation={(tmp_path / 'profile').as_uri()}", "--headless",
         "--norestore", "--convert-to",
         f'csv:Text - txt - csv (StarCalc):44,34,76,1,,0,false,true,false,false,false,{sheet}',
         "--outdir", str(tmp_path / "csv"), str(xlsx)],
        capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    csv = next((tmp_path / "csv").glob("*.csv"))
    lines = csv.read_text(encoding="utf-8").splitlines()
    assert lines[0].startswith("Referral,Household,Person")
    assert [line.split(",")[0] for line in lines[1:]] == ["R6", "R13", "R5"]
    assert "2025-11-01" in lines[1] and lines[1].endswith(",pending,119")
