"""Translations: the catalogues are complete for the code, a language belongs to a context
(a session, a command, an export) and never to the process, numbers and dates follow the
language, and the workbook, the targets template and the brief come out in the language
asked for."""

from __future__ import annotations

import datetime as dt
import io
import threading
from pathlib import Path

import openpyxl
import pytest
from babel.messages.catalog import Catalog
from i18n_support import I18N, LANGUAGES, LOCALES, read_catalogue, template

from core import i18n
from core.i18n import N_, Joined, Message, t
from core.settings import SettingsError, load_settings
from indicators.catalogue import BY_ID, CATALOGUE


@pytest.fixture(autouse=True)
def english_after():
    yield
    i18n.set_language(i18n.DEFAULT_LANGUAGE)


# The catalogues ------------------------------------------------------------------------------

def test_the_languages_are_english_french_urdu_and_pashto():
    assert set(i18n.languages()) >= {"en", *LANGUAGES}
    assert [i18n.language(c).rtl for c in ("en", "fr", "ur", "ps")] == [False, False, True, True]
    assert i18n.language("fr").name == "Français"


@pytest.mark.parametrize("code", LANGUAGES)
def test_every_message_of_the_code_has_a_translation(code: str):
    """Missing, empty or fuzzy entries, and translations whose {fields} differ, all fail."""
    found = I18N.problems(template(), read_catalogue(code))
    assert not found, f"{code}: {len(found)} problems, e.g.\n" + "\n".join(found[:20])


def test_the_template_is_the_code_s_messages():
    """locales/messages.pot is up to date (`python scripts/i18n.py update` was run)."""
    with (LOCALES / "messages.pot").open("rb") as handle:
        from babel.messages.pofile import read_po

        written = {m.id for m in read_po(handle) if m.id}
    extracted = {m.id for m in template() if m.id}
    assert extracted - written == set(), sorted(extracted - written)[:20]
    assert written - extracted == set(), sorted(written - extracted)[:20]


def test_the_check_refuses_missing_empty_fuzzy_and_misfielded_entries():
    source = Catalog()
    for text in ("Overview", "Nothing here", "Checked", "{count} rows", "Not there"):
        source.add(text)
    target = Catalog(locale="fr")
    target.add("Overview", "Vue d'ensemble")
    target.add("Nothing here", "")
    target.add("Checked", "Vérifié", flags=["fuzzy"])
    target.add("{count} rows", "{n} lignes")
    found = I18N.problems(source, target)
    assert [line.split(":")[0] for line in found] == ["empty", "fuzzy", "fields [\'n\'] instead of "
                                                      "[\'count\']", "missing"]


def test_a_fuzzy_or_empty_entry_reads_in_english(tmp_path: Path):
    path = tmp_path / "messages.po"
    path.write_text('msgid ""\nmsgstr "Language: fr\\n"\n\n'
                    'msgid "Overview"\nmsgstr "Vue d\'ensemble"\n\n'
                    '#, fuzzy\nmsgid "Area"\nmsgstr "Zone (à revoir)"\n\n'
                    'msgid "Level"\nmsgstr ""\n', encoding="utf-8")
    assert i18n.read_catalogue(path) == {"Overview": "Vue d'ensemble"}


def test_list_titles_fit_a_sheet_name_in_every_language():
    from indicators.lists import LISTS

    for code in LANGUAGES:
        with i18n.using(code):
            for spec in LISTS:
                title = t(spec.title)
                assert len(title) <= 31 and not set(title) & set("[]:*?/\\"), (code, title)


# The language of a context -------------------------------------------------------------------

def test_a_language_belongs_to_its_thread_not_to_the_process():
    """Two sessions (Streamlit runs each in a thread of its own) in two languages at once."""
    ready = threading.Barrier(2)
    seen: dict[str, list[str]] = {}

    def session(code: str) -> None:
        i18n.set_language(code)
        ready.wait()  # both languages are set before either reads
        seen[code] = [t("Overview") for _ in range(200)]
        ready.wait()
        seen[code].append(t("Coverage map"))

    threads = [threading.Thread(target=session, args=(c,)) for c in ("fr", "ur")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    with i18n.using("fr"):
        french = [t("Overview")] * 200 + [t("Coverage map")]
    with i18n.using("ur"):
        urdu = [t("Overview")] * 200 + [t("Coverage map")]
    assert seen == {"fr": french, "ur": urdu}
    assert french[0] != urdu[0] != "Overview"
    assert i18n.current_language() == "en"  # this thread's: untouched


def test_using_a_language_gives_the_previous_one_back():
    i18n.set_language("fr")
    with i18n.using("ps") as code:
        assert code == "ps" and i18n.current_language() == "ps"
    assert i18n.current_language() == "fr"
    with i18n.using(None):
        assert i18n.current_language() == "fr"
    with i18n.using("xx"):  # unknown: English, with a warning in the log
        assert i18n.current_language() == "en"


def test_an_unknown_default_language_stops_the_settings(tmp_path: Path):
    with pytest.raises(SettingsError, match="app.language.*`xx`.*languages: en, fr, ps, ur"):
        load_settings(env={"SOCLE_APP_LANGUAGE": "xx"}, check_files=False)
    assert load_settings(env={"SOCLE_APP_LANGUAGE": "ur"}, check_files=False)["app.language"] \
        == "ur"


# Messages --------------------------------------------------------------------------------------

def test_a_message_with_fields_is_translated_whole():
    message = N_("Area `{area_id}` is outside the areas this user may see ({areas}).",
                 area_id="PK1", areas="PK2")
    assert isinstance(message, Message)
    assert str(message) == "Area `PK1` is outside the areas this user may see (PK2)."
    with i18n.using("fr"):
        assert t(message) == "La zone `PK1` est hors des zones que cet utilisateur peut voir (PK2)."
        assert t(PermissionError(message)).startswith("La zone `PK1`")
        joined = Joined([N_("Give a due date."), N_("Write what is to be done.")])
        assert t(joined) == "Indiquez une date d'échéance.; Écrivez ce qui doit être fait."
    assert N_("Overview") == "Overview" and not isinstance(N_("Overview"), Message)


def test_the_catalogue_s_definitions_translate_whole():
    indicator = BY_ID["cov.poor_households"]
    assert indicator.definition == (f"{indicator.numerator} ÷ {indicator.denominator}")
    with i18n.using("ur"):
        assert t(indicator.definition) == (f"{t(indicator.numerator)} ÷ "
                                           f"{t(indicator.denominator)}")
        assert all(t(i.label) != i.label for i in CATALOGUE)


def test_a_broken_translation_falls_back_to_english(monkeypatch):
    monkeypatch.setitem(i18n.CATALOGUES, "fr", {"{count} rows": "{n} lignes"})
    with i18n.using("fr"):
        assert t("{count} rows", count=3) == "3 rows"


# Formats ---------------------------------------------------------------------------------------

@pytest.mark.parametrize(("code", "number", "percent", "day"), [
    ("en", "1,234,567.9", "45.6%", "2026-10-31"),
    ("fr", "1\u202f234\u202f567,9", "45,6\u00a0%", "31 oct. 2026"),
    ("ur", "1,234,567.9", "45.6%", "31 اکتوبر، 2026"),
    ("ps", "1.234.567,9", "45,6%", "31 اکتوبر 2026"),
])
def test_numbers_percentages_and_dates_follow_the_language(code, number, percent, day):
    with i18n.using(code):
        assert i18n.format_number(1234567.891, 1) == number
        assert i18n.format_percent(0.456) == percent
        assert i18n.format_date(dt.date(2026, 10, 31)) == day
        assert i18n.format_number(None) == "–"


@pytest.mark.parametrize("value", [0.0625, 0.145, 2.675, 1 / 3, 0.995, 12345.5, 0.0])
def test_english_formats_are_python_s(value):
    """English keeps what Socle printed before (Python's own rounding of the binary value)."""
    assert i18n.format_number(value, 2) == f"{value:,.2f}"
    if value <= 1:  # a share (above 100 %, Babel groups the thousands, Python did not)
        assert i18n.format_percent(value, 1) == f"{value:.1%}"
    assert BY_ID["ref.days_to_complete"].format_value(value) == f"{value:,.1f} days"


def test_an_indicator_value_reads_in_the_language():
    with i18n.using("fr"):
        assert BY_ID["cov.population"].format_value(0.4567) == "45,7\u00a0%"
        assert BY_ID["dup.suspected_pairs"].format_value(0.01234) == "12,34 pour 1 000"
        assert BY_ID["ref.days_to_complete"].format_value(3.25) == "3,2 jours"


# Exports in a language -----------------------------------------------------------------------

def _synthetic_figures():
    import pandas as pd
    from test_exports import synthetic_records

    from indicators.catalogue import LONG_FORM_COLUMNS

    return pd.DataFrame(synthetic_records(), columns=list(LONG_FORM_COLUMNS))


def test_the_workbook_comes_out_in_the_language_asked_for():
    from exports.workbook import build_workbook

    data = build_workbook(_synthetic_figures(), level=2, level_name="District",
                          as_of=dt.date(2026, 10, 31), period_start=dt.date(2026, 8, 1),
                          source="sqlite:///registry.db", language="fr")
    book = openpyxl.load_workbook(io.BytesIO(data))
    assert book.sheetnames[:4] == ["Synthèse", "Indicateurs", "Définitions",
                                   "Qualité des données"]
    summary = {row[0]: row[1] for row in book["Synthèse"].iter_rows(values_only=True) if row}
    assert summary["Niveau"] == "District (niveau 2)"
    assert summary["Au"] == "31 oct. 2026"
    header = next(book["Indicateurs"].iter_rows(values_only=True))
    assert header[0] == "identifiant de l'indicateur" and header[-1] == "valeur"
    values = [row[-1] for row in book["Indicateurs"].iter_rows(min_row=2, values_only=True)]
    assert values and all(v is None or isinstance(v, (int, float)) for v in values)
    definitions = list(book["Définitions"].iter_rows(values_only=True))
    by_id = {row[0]: row for row in definitions[1:]}
    assert by_id["cov.exclusion"][1] == "Erreur d'exclusion"
    assert i18n.current_language() == "en"  # the export's language did not leak


def test_the_targets_template_speaks_the_language_and_still_imports():
    import pandas as pd

    from exports.targets import SHEET, build_template, read_targets

    areas = pd.DataFrame({"area_id": ["D1"], "name": ["Peshawar"], "level": [2]})
    data = build_template(areas, language="ur")
    book = openpyxl.load_workbook(io.BytesIO(data))
    assert SHEET in book.sheetnames  # the sheet the import reads keeps its name
    with i18n.using("ur"):
        assert book["Instructions"]["A1"].value == t("How to fill in the Targets sheet")
    sheet = book[SHEET]
    sheet.append(["cov.poor_households", "D1", None, None, None, dt.date(2027, 6, 30), 90])
    buffer = io.BytesIO()
    book.save(buffer)
    result = read_targets(buffer.getvalue(), known_areas={"D1"}, known_programmes=set())
    assert result.ok and len(result.rows) == 1


def test_the_brief_prints_in_urdu_right_to_left():
    from exports.brief import Brief, build_brief

    brief = Brief(area_name="Peshawar", level_name="District", as_of=dt.date(2026, 10, 31),
                  period_start=dt.date(2026, 8, 1), meeting=None, previous=None,
                  registry_loaded="2026-11-01 08:00", cards=[], gaps=[],
                  generated_at=dt.datetime(2026, 11, 2, 9, 30))
    html = build_brief(brief, language="ur")
    assert '<html lang="ur" dir="rtl">' in html
    with i18n.using("ur"):
        assert t("Committee meeting brief — {area}", area="Peshawar") in html
        assert t("Headline figures") in html
    assert "31 اکتوبر، 2026" in html
    assert '<html lang="en" dir="ltr">' in build_brief(brief)


def test_the_command_line_writes_the_workbook_in_the_language_given(registry_url, tmp_path,
                                                                     capsys):
    from exports.__main__ import main

    out = tmp_path / "district.xlsx"
    assert main(["--level", "2", "--out", str(out), "--language", "ps", "--quiet"]) == 0
    book = openpyxl.load_workbook(out, read_only=True)
    with i18n.using("ps"):
        assert book.sheetnames[:4] == [t(name) for name in ("Summary", "Indicators",
                                                            "Definitions", "Data quality")]
    book.close()
    assert main(["--level", "2", "--out", str(out), "--language", "xx"]) == 2
    assert "argument --language: no catalogue for `xx`" in capsys.readouterr().err
