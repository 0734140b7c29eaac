"""The Export page under AppTest, and the builder it calls: the CLI's workbook, as bytes.

AppTest shows a download button's media URL, not its bytes, so the workbook itself is checked
by calling ``exports.page_export.build_export`` directly (what the page calls), against
``count_rows`` and against the file ``python -m exports`` writes for the same choices.
The registry is test_app's (one province, two districts, three tehsils, four union councils).
"""

from __future__ import annotations

import datetime as dt
import io
import os
import subprocess
import sys
from pathlib import Path

import openpyxl
import pytest
import sqlalchemy as sa
from app_under_test import ROOT, assert_clean, registry_tables, run_app

from core.settings import load_settings
from data_access.context import UserContext
from data_access.registry import open_registry
from exports import page_export
from exports.page_export import ExportChoices, ExportError, build_export, sheet_values
from exports.workbook import SHEETS, describe_engine
from indicators import default_as_of, default_period_start
from indicators.lists import LIST_BY_ID, count_rows

pytestmark = pytest.mark.usefixtures("clean_environment",
                                     "navigation_as_in_a_running_server")

PAGE = "pages/export.py"
THREE_LISTS = ("overdue_referrals", "double_dipping", "data_quality_rows")
VENV_PYTHON = ROOT / ".venv" / "bin" / "python"


def open_page(query: dict[str, str] | None = None):
    at = run_app(query)
    at.switch_page(PAGE).run()
    assert_clean(at)
    return at


def registry_dates(url: str) -> tuple[dt.date, dt.date]:
    engine = open_registry(url)
    try:
        as_of = default_as_of(engine)
    finally:
        engine.dispose()
    return as_of, default_period_start(as_of, 3)


def download_buttons(at) -> list:
    return list(at.get("download_button"))


def run_cli(arguments: list[str], url: str, tmp_path: Path,
            env: dict[str, str] | None = None) -> Path:
    python = str(VENV_PYTHON) if VENV_PYTHON.exists() else sys.executable
    out = tmp_path / "cli.xlsx"
    assert arguments[-2] == "--out"
    args = [*arguments[:-2], "--out", str(out)]  # the page's arguments, another file
    result = subprocess.run(
        [python, "-m", "exports", "--database-url", url, "--quiet", *args],
        capture_output=True, text=True, timeout=300, cwd=ROOT,
        env={**os.environ, **(env or {})})
    assert result.returncode == 0, result.stderr
    return out


# The page ---------------------------------------------------------------------------------------

def test_default_state_shows_the_choices_and_the_button(registry_url: str):
    as_of, start = registry_dates(registry_url)
    at = open_page()
    assert at.title[0].value == "Excel export"
    assert at.date_input(key="export_period").value == start
    lists = at.multiselect(key="export_lists")
    assert lists.value == ["overdue_referrals"]
    assert lists.options == [LIST_BY_ID[i].title for i in LIST_BY_ID]
    assert at.button(key="export_build").label == "Build workbook"
    assert not download_buttons(at)  # nothing built yet
    assert at.query_params["period"] == start.isoformat()
    assert at.query_params["lists"] == "overdue_referrals"
    captions = " ".join(c.value for c in at.main.caption)
    assert f"from {start.isoformat()} to {as_of.isoformat()}" in captions
    holds = at.expander[0]
    assert holds.label == "What the workbook holds"
    assert "**Overdue referrals**" in holds.markdown[0].value
    assert "numerator of “Referrals overdue”" in holds.markdown[0].value
    command = at.code[0].value
    assert command == (f"python -m exports --level 2 --as-of {as_of} --period-start {start} "
                       f"--lists overdue_referrals --out socle_level-2_{as_of}.xlsx")


def test_building_shows_a_download_button(registry_url: str):
    at = open_page({"level": "3", "area": "T1"})
    at.button(key="export_build").click().run()
    assert_clean(at)
    buttons = download_buttons(at)
    assert len(buttons) == 1
    as_of, _ = registry_dates(registry_url)
    assert buttons[0].proto.label == f"Download socle_T1_{as_of}.xlsx"
    assert at.success[0].value.startswith("The workbook is ready")
    engine = open_registry(registry_url)
    try:
        rows = count_rows(engine, "overdue_referrals", context=UserContext("admin"),
                          area_id="T1", as_of=as_of,
                          period_start=default_period_start(as_of, 3))
    finally:
        engine.dispose()
    assert rows > 0
    assert f"“Overdue referrals”: {rows} rows." in [c.value for c in at.main.caption]

    # Another choice: the workbook built is not offered for it; back again, it is.
    at.multiselect(key="export_lists").select("double_dipping").run()
    assert not download_buttons(at)
    assert at.query_params["lists"] == "overdue_referrals,double_dipping"
    at.multiselect(key="export_lists").unselect("double_dipping").run()
    assert len(download_buttons(at)) == 1


def test_an_empty_list_says_why(registry_url: str):
    at = open_page({"level": "4", "area": "U4"})  # UC Kokarai: no households
    at.button(key="export_build").click().run()
    assert_clean(at)
    assert len(download_buttons(at)) == 1
    assert "“Overdue referrals” has no rows in UC Kokarai" in at.info[0].value


def test_a_donor_gets_no_lists_and_is_told_why(registry_url: str, monkeypatch):
    monkeypatch.setenv("SOCLE_APP_DEFAULT_ROLE", "donor")
    at = open_page()
    assert not at.multiselect
    assert "sees aggregate figures only" in at.info[0].value
    assert "lists" not in at.query_params
    at.button(key="export_build").click().run()
    assert_clean(at)
    assert len(download_buttons(at)) == 1
    assert not [c for c in at.main.caption if "rows" in c.value]


def test_a_link_reopens_the_same_choices(registry_url: str):
    link = {"level": "3", "area": "T2", "as_of": "2024-09-20", "period": "2024-07-15",
            "lists": "double_dipping,overdue_referrals"}
    at = open_page(link)
    assert at.sidebar.selectbox(key="area").value == "T2"
    assert at.date_input(key="export_period").value == dt.date(2024, 7, 15)
    assert at.multiselect(key="export_lists").value == ["double_dipping", "overdue_referrals"]
    assert {k: at.query_params[k] for k in link} == link
    assert "--period-start 2024-07-15 --lists double_dipping,overdue_referrals --area T2" \
        in at.code[0].value


@pytest.mark.parametrize("params", [
    {"period": "2099-01-01", "lists": "nothing"},  # after the as-of date; unknown list
    {"period": "soon", "lists": ""},
])
def test_a_broken_link_falls_back_to_the_defaults(registry_url: str, params):
    _, start = registry_dates(registry_url)
    at = open_page(params)
    assert at.date_input(key="export_period").value == start
    assert at.multiselect(key="export_lists").value == ["overdue_referrals"]


def test_the_period_follows_the_as_of_date_until_it_is_chosen(registry_url: str):
    at = open_page()
    at.sidebar.date_input(key="as_of").set_value(dt.date(2024, 8, 31)).run()
    assert at.date_input(key="export_period").value == default_period_start(
        dt.date(2024, 8, 31), 3)
    at.date_input(key="export_period").set_value(dt.date(2024, 7, 1)).run()
    assert at.query_params["period"] == "2024-07-01"
    at.sidebar.date_input(key="as_of").set_value(dt.date(2024, 9, 15)).run()
    assert at.date_input(key="export_period").value == dt.date(2024, 7, 1)  # kept
    at.sidebar.date_input(key="as_of").set_value(dt.date(2024, 6, 15)).run()
    assert_clean(at)  # the period would start after the as-of date: back to the default
    assert at.date_input(key="export_period").value == default_period_start(
        dt.date(2024, 6, 15), 3)


def test_a_problem_is_a_plain_message(registry_url: str, monkeypatch):
    def refused(*args, **kwargs):
        raise ExportError("Area `T9` is outside the areas this user may see (D1).")

    monkeypatch.setattr(page_export, "build_export", refused)
    at = open_page()
    at.button(key="export_build").click().run()
    assert not at.exception
    assert at.error[0].value == ("The workbook could not be built: Area `T9` is outside the "
                                 "areas this user may see (D1).")
    assert not download_buttons(at)

    def broken(*args, **kwargs):
        raise ZeroDivisionError("boom")

    monkeypatch.setattr(page_export, "build_export", broken)
    at.button(key="export_build").click().run()
    assert not at.exception
    assert "Something went wrong while drawing this page" in at.error[0].value
    assert "boom" not in at.error[0].value


# The builder ------------------------------------------------------------------------------------

def test_an_officer_downloads_the_overdue_referrals_of_one_tehsil(registry_url: str,
                                                                  tmp_path: Path, monkeypatch):
    """The story: the builder's workbook holds exactly the tehsil's overdue referrals, and is
    the CLI's workbook for the same choices and the same user."""
    monkeypatch.setenv("SOCLE_APP_DEFAULT_ROLE", "officer")
    monkeypatch.setenv("SOCLE_APP_DEFAULT_AREAS", "D1")
    settings = load_settings()
    officer = UserContext("officer", ("D1",))
    as_of, start = registry_dates(registry_url)
    choices = ExportChoices(level=3, as_of=as_of, period_start=start, area_id="T1",
                            lists=THREE_LISTS)
    engine = open_registry(registry_url)
    marks: list[tuple[float, str]] = []
    try:
        built = build_export(engine, settings, choices, context=officer,
                             progress=lambda f, m: marks.append((f, m)))
        expected = {list_id: count_rows(engine, list_id, context=officer, area_id="T1",
                                        as_of=as_of, period_start=start,
                                        referral_sla_days=settings.referral_sla_days,
                                        poverty_cutoff=settings.poverty_cutoff)
                    for list_id in THREE_LISTS}
    finally:
        engine.dispose()
    assert expected["overdue_referrals"] > 0
    book = openpyxl.load_workbook(io.BytesIO(built.data), read_only=True)
    assert book.sheetnames == [*SHEETS, *(LIST_BY_ID[i].title for i in THREE_LISTS)]
    overdue = list(book["Overdue referrals"].iter_rows(values_only=True))
    assert overdue[0][0] == "Referral"
    assert len(overdue) - 1 == expected["overdue_referrals"]
    assert {row[overdue[0].index("Area")] for row in overdue[1:]} <= {"U1", "U2"}
    book.close()
    assert [(c.title, c.rows) for c in built.lists] == [
        (LIST_BY_ID[i].title, expected[i]) for i in THREE_LISTS]
    assert built.file_name == f"socle_T1_{as_of}.xlsx"
    assert marks[-1] == (1.0, "Done")
    assert [f for f, _ in marks] == sorted(f for f, _ in marks)

    cli = run_cli(page_export.cli_arguments(choices), registry_url, tmp_path)
    assert sheet_values(built.data) == sheet_values(cli.read_bytes())
    generated = [row for row in sheet_values(built.data, skip_generated=False)["Summary"]
                 if row and row[0] == "Generated"]
    assert len(generated) == 1  # the one line left out of the comparison


def test_the_builder_equals_the_cli_on_each_backend(tmp_path: Path, monkeypatch, backend,
                                                  make_registry):
    """Same workbook on each backend, for all areas and every list (whole-registry user)."""
    engine = make_registry(registry_tables())
    url = describe_engine(engine)  # the file for SQLite (opened read-only, by a creator)
    monkeypatch.setenv("SOCLE_DATABASE_URL", url)
    settings = load_settings(check_files=False)
    as_of = default_as_of(engine)
    choices = ExportChoices(level=2, as_of=as_of, period_start=dt.date(2024, 8, 10),
                            lists=tuple(LIST_BY_ID))
    built = build_export(engine, settings, choices, context=UserContext("admin"))
    cli = run_cli(page_export.cli_arguments(choices), url, tmp_path)
    values = sheet_values(built.data)
    assert values == sheet_values(cli.read_bytes())
    assert ("Period", "2024-08-10 to " f"{as_of} (referral indicators)") in [
        row[:2] for row in values["Summary"]]


def test_a_donor_workbook_has_no_list_sheets(registry_url: str):
    settings = load_settings()
    as_of, start = registry_dates(registry_url)
    engine = open_registry(registry_url)
    donor = UserContext("donor")
    try:
        assert page_export.offered_lists(donor) == ()
        built = build_export(engine, settings, ExportChoices(2, as_of, start), context=donor)
        assert openpyxl.load_workbook(io.BytesIO(built.data)).sheetnames == list(SHEETS)
        assert built.lists == ()
        with pytest.raises(ExportError, match="aggregate figures only"):
            build_export(engine, settings,
                         ExportChoices(2, as_of, start, lists=("overdue_referrals",)),
                         context=donor)
    finally:
        engine.dispose()


@pytest.mark.parametrize(("choices", "message"), [
    (ExportChoices(3, dt.date(2024, 9, 1), dt.date(2024, 6, 1), "T2", ("overdue_referrals",)),
     "outside the areas this user may see"),
    (ExportChoices(3, dt.date(2024, 9, 1), dt.date(2024, 6, 1), "XX", ("overdue_referrals",)),
     "no area `XX`"),
    (ExportChoices(7, dt.date(2024, 9, 1), dt.date(2024, 6, 1)), "no area of level 7"),
])
def test_builder_problems_are_plain_messages(registry_url: str, choices, message):
    engine = open_registry(registry_url)
    try:
        with pytest.raises(ExportError, match=message):
            build_export(engine, load_settings(), choices, context=UserContext("officer", ("D1",)))
    finally:
        engine.dispose()


def test_a_registry_that_cannot_be_read_is_a_plain_message(registry_url: str, monkeypatch):
    import exports.page_export as module

    def unreadable(*args, **kwargs):
        raise sa.exc.OperationalError("SELECT 1", {}, Exception("disk I/O error"))

    monkeypatch.setattr(module, "export_registry", unreadable)
    with pytest.raises(ExportError, match="could not be read just now") as caught:
        build_export(None, load_settings(), ExportChoices(2, dt.date(2024, 9, 1),
                                                          dt.date(2024, 6, 1)),
                     context=UserContext("admin"))
    assert "disk I/O" not in str(caught.value)


# Pure helpers -----------------------------------------------------------------------------------

@pytest.mark.parametrize(("text", "expected"), [
    (None, None), ("", None), ("none", []), ("nothing", None),
    ("double_dipping,overdue_referrals,double_dipping", ["double_dipping", "overdue_referrals"]),
    ("overdue_referrals,bogus", ["overdue_referrals"]),
])
def test_lists_param_round_trips(text, expected):
    assert page_export.parse_lists_param(text) == expected
    if expected is not None:
        assert page_export.parse_lists_param(page_export.lists_param(expected)) == expected


def test_file_names_and_cli_arguments():
    day, start = dt.date(2026, 10, 31), dt.date(2026, 8, 1)
    assert ExportChoices(2, day, start).file_name == "socle_level-2_2026-10-31.xlsx"
    assert ExportChoices(3, day, start, "PK 601/a").file_name == "socle_PK-601-a_2026-10-31.xlsx"
    assert page_export.cli_arguments(ExportChoices(3, day, start, "PK601")) == [
        "--level", "3", "--as-of", "2026-10-31", "--period-start", "2026-08-01",
        "--out", "socle_PK601_2026-10-31.xlsx"]  # --area only says which rows lists hold
    assert page_export.cli_command(
        ExportChoices(3, day, start, "PK 1", ("overdue_referrals",)), out="a b.xlsx") == (
        "python -m exports --level 3 --as-of 2026-10-31 --period-start 2026-08-01 "
        "--lists overdue_referrals --area 'PK 1' --out 'a b.xlsx'")


def test_list_counts_read_split_lists_from_the_summary():
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.title = "Summary"
    for row in (["Socle — indicator summary"], ["Lists of", "D1"],
                ["List: Data quality rows", 2_000_000, "sheets Data quality rows, "
                 "Data quality rows (2)"], ["List: Double dipping", 0], [],
                ["area_id", "area name"], ["List: not a title line", 3]):
        sheet.append(row)
    buffer = io.BytesIO()
    book.save(buffer)
    assert page_export.list_counts(buffer.getvalue()) == (
        page_export.ListCount("Data quality rows", 2_000_000,
                              ("Data quality rows", "Data quality rows (2)")),
        page_export.ListCount("Double dipping", 0, ("Double dipping",)),
    )
    assert page_export.ListCount("x", 1234567, ("x",)).rows_text == "1,234,567"


def test_built_exports_match_their_choices_only():
    choices = ExportChoices(2, dt.date(2026, 10, 31), dt.date(2026, 8, 1))
    built = page_export.BuiltExport(choices, UserContext("admin"), None, b"x" * 1_500_000, (),
                                    2.04)
    assert built.matches(choices, UserContext("admin"), None)
    assert not built.matches(choices, UserContext("officer"), None)
    assert not built.matches(choices, UserContext("admin"), dt.datetime(2026, 11, 1))
    assert not built.matches(ExportChoices(3, choices.as_of, choices.period_start),
                             UserContext("admin"), None)
    assert (built.size_text, built.seconds_text) == ("1.5 MB", "2.0")
