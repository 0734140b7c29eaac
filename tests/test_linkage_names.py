"""Record linkage: name keys (transliteration, Muhammad, swaps) and the comparison levels of
names, birth dates, ids and household context, evaluated with the model's own SQL."""

from __future__ import annotations

import datetime as dt

import pytest

from linkage import names
from linkage.model import compare_records

D = dt.date


@pytest.mark.parametrize("a, b", [
    ("Muhammad Ali", "Mohammad Ali"),
    ("Muhammad Ali", "Mohd Ali"),
    ("Muhammad Ali", "Md Ali"),
    ("Muhammad Ali", "Mohammed Ali"),
    ("Muhammad Ali", "Moohammad Ali"),
    ("Muhammad Ali", "Muhammed  Ali"),
    ("Muhammad Ali", "M. Ali"),
    ("Muhammad Ali", "Muhmamad Ali"),   # a slip in Muhammad
    ("Muhammad Ali", "Mohmed Ali"),
    ("Muhammad Ali", "Muhanmad Ali"),   # two slips at most, ending -ad
    ("Muhammad Ali", "Mhuhamad Ali"),
    ("Khan", "Kan"),
    ("Khan", "Khaan"),
    ("Khattak", "Kattak"),
    ("Tariq", "Tarik"),
    ("Qasim", "Kasim"),
    ("Sameer", "Samir"),
    ("Noor", "Nur"),
    ("Yousaf", "Yusaf"),
    ("Hammad", "Hamad"),
    ("Abdul Rahman", "AbdulRahman"),
    ("Abdul Rahman", "Abd ul Rahman"),
    ("Waqar", "Vaqar"),
    ("ZUBAIR", "zubair"),
])
def test_spellings_of_one_name_share_the_key(a: str, b: str):
    assert names.key(a) == names.key(b)


@pytest.mark.parametrize("a, b", [
    ("Yousaf", "Yusuf"),          # vowels differ: the skeleton still agrees
    ("Muhammad Ali", "Ali"),      # with and without Muhammad
    ("Sulaiman", "Suleman"),
])
def test_looser_spellings_share_the_skeleton(a: str, b: str):
    assert names.skeleton(a) == names.skeleton(b)


@pytest.mark.parametrize("a, b", [
    ("Mahmood", "Muhammad"),      # a different name, not a spelling of Muhammad
    ("Sara", "Zara"),
    ("Ali", "Aliya"),
    ("Hassan", "Hussain"),
    ("Jan", "Khan"),
])
def test_different_names_keep_different_keys(a: str, b: str):
    assert names.key(a) != names.key(b)


def test_keys_of_nothing_are_none():
    assert names.clean(None) is None
    assert names.key("  -- ") is None
    assert names.core(None) is None
    assert names.skeleton("") is None


def test_muhammad_is_recognised_only_as_a_word():
    assert names.is_muhammad("mohd")
    assert names.is_muhammad("muhammed")
    for other in ("mahmud", "mahmood", "mehmood", "mumtaz", "majid", "mohsin", "ahmad",
                  "hamad", "momin", "mohmand", "mujahid"):
        assert not names.is_muhammad(other), other
    assert names.core("Muhammad Ali") == "ali"
    assert names.core("Muhammad") == "mhd"  # alone, Muhammad is the name


@pytest.mark.parametrize("a, b", [
    ("Bibi Fatima", "Fatima"),
    ("Beebi Nargis", "Nargis"),
    ("Bib Ayesha", "Ayesha"),       # Bibi with a slip
    ("Biib Sitara", "Sitara"),
    ("Syed Ali Shah", "Ali Shah"),
    ("Haji Gul Zaman", "Gul Zaman"),
    ("Muhammad Ali", "Ali"),
])
def test_a_leading_title_is_left_out_of_the_core(a: str, b: str):
    assert names.core(a) == names.core(b)
    assert names.key(a) != names.key(b)  # the key keeps it: "same name" needs both


def test_a_name_that_is_only_a_title_keeps_it():
    assert names.core("Bibi") == "bibi"
    assert names.core("Bilal Khan") == "bilalkan"  # not a slip of Bibi: a name
    assert names.core("Abid Ali") == "abidali"


def person(**fields) -> dict:
    base = dict(first_name="Muhammad Ali", last_name="Khan", father_name="Akbar Khan",
                birth_date=D(1990, 3, 7), national_id=None, phone=None, sex="M",
                household_id="HH-1", area_id="UC-1")
    base.update(fields)
    return base


@pytest.mark.parametrize("left, right, level", [
    ({}, {}, "same name"),
    ({}, {"first_name": "Mohd Ali"}, "same name, other spelling"),
    ({}, {"first_name": "MUHAMMAD  ALI"}, "same name"),
    ({}, {"first_name": "Ali"}, "same name but for Muhammad or a title (Bibi, Syed...)"),
    ({"first_name": "Bibi Mahnaz"}, {"first_name": "Mehnaz"}, "one letter apart"),
    ({"first_name": "Yousaf"}, {"first_name": "Yusuf"}, "one letter apart"),
    ({"first_name": "Sulaiman"}, {"first_name": "Suleman"}, "same consonants"),
    ({}, {"first_name": "Khan", "last_name": "Muhammad Ali"}, "first and last names swapped"),
    ({}, {"first_name": "Khan", "last_name": "Muhammad Ali", "father_name": None},
     "first and last names swapped"),
    # The father's name is the household comparison's evidence, not the name's.
    ({}, {"first_name": "Khan", "last_name": "Muhammad Ali", "father_name": "Rashid Iqbal"},
     "first and last names swapped"),
    # Birth years more than two apart: a swap is no evidence; the names compare as names.
    ({}, {"first_name": "Khan", "last_name": "Muhammad Ali", "birth_date": D(1980, 3, 7)},
     "different names"),
    ({"first_name": "Tanzeela"}, {"first_name": "Tanzeea"}, "one letter apart"),
    ({"first_name": "Hamza"}, {"first_name": "Hazma"}, "one letter apart"),
    ({"first_name": "Ayesha"}, {"first_name": "Fatima"}, "different names"),
])
def test_first_name_levels(left: dict, right: dict, level: str):
    assert compare_records(person(**left), person(**right))["first_name"] == level


@pytest.mark.parametrize("right, level", [
    (D(1990, 3, 7), "same date"),
    (D(1990, 7, 3), "day and month swapped"),
    (D(1991, 3, 7), "year off by one"),
    (D(1989, 3, 7), "year off by one"),
    (D(1990, 1, 1), "same year, one date is year-only"),
    (D(1989, 1, 1), "years one apart, one date is year-only"),
    (D(1990, 3, 20), "same year and month"),
    (D(1991, 11, 30), "within two years"),
    (D(1995, 6, 1), "different dates"),
    (None, "missing"),
])
def test_birth_date_levels(right, level: str):
    assert compare_records(person(), person(birth_date=right))["birth_date"] == level


def test_a_year_only_date_on_the_left_counts_too():
    left = person(birth_date=D(1990, 1, 1))
    assert compare_records(left, person())["birth_date"] == "same year, one date is year-only"
    # Year-only dates of different years are just different dates.
    assert compare_records(left, person(birth_date=D(1994, 1, 1)))["birth_date"] == \
        "different dates"


def test_placeholder_days_are_those_the_model_is_given():
    from linkage.model import comparisons, level_sql

    birth = next(c for c in comparisons(((7, 1),)) if c["output_column_name"] == "birth_date")
    default = next(c for c in comparisons() if c["output_column_name"] == "birth_date")
    assert "birth_month_l = 7 AND birth_day_l = 1" in level_sql(birth)
    assert "birth_month_l = 7" not in level_sql(default)


def test_placeholder_days_are_found_in_the_data():
    import duckdb

    from linkage.dates import placeholder_days, placeholder_days_sql

    con = duckdb.connect()
    # 2,000 dates spread over the year, 300 more on 1 July and 100 on 1 January.
    con.execute("CREATE TABLE p AS SELECT DATE '1980-01-01' + CAST((i * 7) % 365 AS INTEGER) "
                "AS birth_date "
                "FROM range(2000) t(i) UNION ALL SELECT DATE '1975-07-01' FROM range(300) "
                "UNION ALL SELECT DATE '1990-01-01' FROM range(100)")
    con.execute("CREATE TABLE q AS SELECT birth_date, month(birth_date) AS birth_month, "
                "day(birth_date) AS birth_day FROM p")
    assert con.execute(placeholder_days_sql("q")).fetchall() == [(1, 1), (7, 1)]
    assert placeholder_days(con, "q") == ((1, 1), (7, 1))
    con.execute("DELETE FROM q WHERE birth_day = 1 AND birth_month IN (1, 7)")
    assert placeholder_days(con, "q") == ((1, 1),)  # none stands out: 1 January


def test_birth_dates_as_text_are_read():
    assert compare_records(person(birth_date="1990-03-07"),
                           person(birth_date="1990-07-03"))["birth_date"] == \
        "day and month swapped"


@pytest.mark.parametrize("left, right, level", [
    ("1610112345671", "16101-1234567-1", "same id"),
    ("1610112345671", "16101 1234567 1", "same id"),
    ("1610112345671", "1610112345681", "one digit apart"),
    ("1610112345671", "1730198765432", "different ids"),
    ("1610112345671", None, "missing"),
])
def test_national_id_levels(left, right, level: str):
    assert compare_records(person(national_id=left),
                           person(national_id=right))["national_id"] == level


@pytest.mark.parametrize("right, level", [
    ({}, "same household"),
    ({"first_name": "Mohd Ali"}, "same household"),
    ({"first_name": "Zahid"}, "same household, unlike first names"),  # a brother, a twin
    # A son named after his father: his father's name is the other's own.
    ({"father_name": "Muhammad Ali Khan", "birth_date": None},
     "same household, fathers' names differ"),
    ({"father_name": None}, "same household"),
    ({"household_id": "HH-2", "area_id": "UC-9"},
     "same family and father written the same, other area"),
    ({"household_id": "HH-2", "area_id": "UC-9", "father_name": "Akbar Khaan"},
     "same family and father written the same, other area"),
    ({"household_id": "HH-2", "father_name": "Akber Khan", "area_id": "UC-9"},
     "same family and father, other area"),
    ({"household_id": "HH-2", "father_name": None, "area_id": "UC-9"},
     "same family name, father unknown, other area"),
    ({"household_id": "HH-2", "father_name": None}, "same family name, father unknown, same area"),
    ({"household_id": "HH-2"}, "same family and father written the same, same area"),
    ({"household_id": "HH-2", "father_name": "Akbar"}, "same family and father, same area"),
    ({"household_id": "HH-2", "father_name": "Muhammad Akbar Khan", "area_id": "UC-9"},
     "same family and father, other area"),
    ({"household_id": "HH-2", "father_name": "Akbar", "area_id": "UC-9"},
     "same family and father, other area"),
    ({"household_id": "HH-2", "area_id": "UC-9", "father_name": "Tariq", "phone": "0300-1234567"},
     "same phone, other household"),
    ({"household_id": "HH-2", "area_id": "UC-9", "last_name": "Afridi"}, "same father's name"),
    ({"household_id": "HH-2", "father_name": "Tariq Khan"}, "same family name, same area"),
    ({"household_id": "HH-2", "father_name": "Tariq", "last_name": "Afridi"}, "same area"),
    ({"household_id": "HH-2", "father_name": "Tariq", "last_name": "Afridi",
      "area_id": "UC-9"}, "nothing in common"),
])
def test_household_context_is_one_comparison(right: dict, level: str):
    left = person(phone="03001234567")
    assert compare_records(left, person(**right))["household"] == level


def test_sex_levels():
    assert compare_records(person(), person())["sex"] == "same sex"
    assert compare_records(person(), person(sex="F"))["sex"] == "different sex"


def test_two_records_without_birth_dates_compare():
    """No birth date on either side: the date columns stay typed, the level is "missing"."""
    assert compare_records(person(birth_date=None), person(birth_date=None))["birth_date"] == \
        "missing"
