"""A tiny registry, built in code, in which every rule of the indicator spec is exercised.

The expectations in tests/test_indicators_fixture.py are counted by hand from the rows below;
each row's comment says which rule it is there for. Change a row and those counts change.

Dates: AS_OF d = 2026-02-28 (not a leap year); the referral period is
[PERIOD_START, d] = [2025-12-01, 2026-02-28]; with the 30-day SLA an open referral is overdue
when referred_on <= 2026-01-29.

Areas (three levels; U* are the lowest level)::

    P1 (pop 5000)                          P2 (pop 1000)
    ├── D1 (pop 3000)                      └── D3 (pop 1000)
    │   ├── U11 (pop 2000): H1, H2             └── U31 (pop 1000): nothing to count
    │   └── U12 (pop 1000): H3, H4
    └── D2 (pop null)
        └── U21 (pop 800): H5, H6

Households: H1..H6 well-formed (H6 registered after d); HX1 (unknown area U99) and HX2
(area D1, not of the lowest level) are left out. Programmes: PH1, PH2 (household, exclusive
group CASH), PP1, PP2, PP3 (person), PQ (unit "family": never valid, choice 18).
"""

from __future__ import annotations

import datetime as dt

import pandas as pd

AS_OF = dt.date(2026, 2, 28)
PERIOD_START = dt.date(2025, 12, 1)
LOWEST_LEVEL = 3


def D(text: str) -> dt.date:
    return dt.date.fromisoformat(text)


def _frame(rows: list[dict], columns: list[str]) -> pd.DataFrame:
    # object dtype keeps Python ints, dates and None as they are
    return pd.DataFrame(rows, columns=columns, dtype=object)


AREA_COLUMNS = ["area_id", "name", "level", "parent_id", "population"]
AREAS = [
    ("P1", "Province One", 1, None, 5000),
    ("P2", "Province Two", 1, None, 1000),      # a level-1 area with nothing to count
    ("D1", "District One", 2, "P1", 3000),
    ("D2", "District Two", 2, "P1", None),      # null population: no census value for D2
    ("D3", "District Three", 2, "P2", 1000),    # nothing to count
    ("U11", "Union Eleven", 3, "D1", 2000),
    ("U12", "Union Twelve", 3, "D1", 1000),
    ("U21", "Union Twenty-one", 3, "D2", 800),
    ("U31", "Union Thirty-one", 3, "D3", 1000),  # nothing to count
]

ACCESS_POINT_COLUMNS = ["access_point_id", "name", "kind", "area_id", "latitude", "longitude",
                        "opened_on"]
ACCESS_POINTS = [
    ("AP1", "U11 facilitation centre", "facilitation_centre", "U11", None, None, D("2024-01-01")),
    ("AP2", "U12 one window", "one_window", "U12", None, None, None),
    ("AP3", "U21 office", "union_council_office", "U21", None, None, None),
    ("AP4", "U12 mobile camp", "mobile_camp", "U12", None, None, None),
]

HOUSEHOLD_COLUMNS = ["household_id", "area_id", "registered_on", "pmt_score", "access_point_id"]
HOUSEHOLDS = [
    ("H1", "U11", D("2025-01-10"), 32.0, "AP1"),   # pmt exactly the cutoff: poor; PH1-eligible
    ("H2", "U11", D("2025-03-01"), 20.0, "AP1"),   # poor
    ("H3", "U12", D("2025-06-01"), 55.0, "AP2"),   # not poor; enrolled in PH1 without being eligible
    ("H4", "U12", D("2025-07-01"), None, "AP2"),   # null pmt: unassessed, not poor, fails pmt_max
    ("H5", "U21", D("2026-02-28"), 10.0, "AP3"),   # registered on d: registered; poor
    ("H6", "U21", D("2026-03-01"), 5.0, "AP3"),    # registered after d: not registered
    ("HX1", "U99", D("2025-01-01"), 15.0, None),   # unknown area: left out
    ("HX2", "D1", D("2025-01-01"), None, None),    # area not of the lowest level: left out
]

PERSON_COLUMNS = ["person_id", "household_id", "national_id", "first_name", "last_name",
                  "father_name", "phone", "sex", "birth_date", "disability", "is_head",
                  "registered_on"]
# (person_id, household_id, national_id, sex, birth_date, disability, is_head, registered_on)
# Ages are on d = 2026-02-28.
PERSONS = [
    ("P1a", "H1", "1111111111111", "F", D("1980-05-01"), False, True, D("2025-01-10")),   # 45; id shared with P5a (other district)
    ("P1b", "H1", None, "F", D("2008-02-28"), False, False, D("2025-01-10")),            # turns 18 on d: adult without id; PP3 yes (age_min 18), PP1 no (age_max 17)
    ("P1c", "H1", None, "F", D("2015-09-09"), False, False, D("2025-01-10")),            # 10
    ("P2a", "H2", "12345-6789012", "M", D("1960-01-01"), True, True, D("2025-03-01")),   # 66, disability; malformed id
    ("P2b", "H2", None, "F", D("2008-02-29"), False, False, D("2025-03-01")),            # born 29 Feb: still 17 on 28 Feb 2026 (choice 5)
    ("P2c", "H2", "2222222222222", "X", None, False, False, D("2025-03-01")),            # sex X, age unknown
    ("P3a", "H3", "3333333333333", "F", D("1990-03-01"), False, True, D("2025-06-01")),   # 35 (36 the day after d); id also held by P3b (unregistered) and PX1a (left out): not shared
    ("P3b", "H3", "3333333333333", "M", D("1992-01-01"), False, False, D("2026-03-15")),  # registered after d
    ("P4a", "H4", None, "M", D("1970-06-15"), True, True, D("2025-07-01")),              # 55, disability; adult without id
    ("P5a", "H5", "1111111111111", "F", D("1985-12-12"), False, True, D("2026-02-28")),   # 40; registered on d
    ("P5b", "H5", "555555555555", "M", D("2020-02-28"), False, False, D("2026-02-28")),   # 6 today; 12-digit id: malformed
    ("P6a", "H6", None, "F", D("1999-01-01"), False, True, D("2026-03-01")),             # registered after d
    ("PX1a", "HX1", "3333333333333", "F", D("1980-01-01"), False, True, D("2025-01-01")),  # household left out
    ("PX2a", "HX2", None, "M", D("1950-01-01"), False, True, D("2025-01-01")),           # household left out (at D1); adult without id
    ("PO", "H404", "ABC1234567890", "F", D("1990-01-01"), False, True, D("2025-01-01")),   # household does not exist; malformed id
]

PROGRAMME_COLUMNS = ["programme_id", "name", "agency", "benefit_type", "unit", "pmt_max",
                     "age_min", "age_max", "sex", "disability_only", "exclusive_group",
                     "started_on"]
PROGRAMMES = [
    # (id, unit, pmt_max, age_min, age_max, sex, disability_only, exclusive_group)
    ("PH1", "household", 32.0, None, None, None, False, "CASH"),  # eligible: H1 (32), H2, H5
    ("PH2", "household", 40.0, 60, None, None, False, "CASH"),    # eligible: H1, H2, H5 (age_min ignored: choice 4)
    ("PP1", "person", 32.0, 5, 17, None, False, None),            # eligible: P1c, P2b, P5b
    ("PP2", "person", None, None, None, None, True, "DIS"),       # eligible: P2a, P4a
    ("PP3", "person", None, 18, 49, "F", False, None),            # eligible: P1a, P1b, P3a, P5a
    ("PQ", "family", None, None, None, None, False, None),        # unknown unit: eligible none
]

ENROLMENT_COLUMNS = ["enrolment_id", "programme_id", "household_id", "person_id", "enrolled_on",
                     "ended_on"]
ENROLMENTS = [
    ("E1", "PH1", "H1", None, D("2025-02-01"), None),
    ("E2", "PH1", "H1", None, D("2025-03-01"), None),                # (H1, PH1) enrolled twice
    ("E3", "PH2", "H1", None, D("2026-02-28"), None),                # enrolled on d: active; H1 double dips (CASH)
    ("E4", "PH1", "H2", None, D("2025-04-01"), D("2026-02-28")),     # ended on d: not active
    ("E5", "PH1", "H3", None, D("2025-07-01"), None),                # H3 not eligible: inclusion error
    ("E6", "PP1", None, "P1c", D("2025-09-01"), None),
    ("E7", "PP1", None, "P1b", D("2024-09-01"), None),               # P1b is 18: inclusion error
    ("E8", "PP2", None, "P2a", D("2025-05-01"), None),               # H2 receives PP2 via a member
    ("E9", "PP3", None, "P5a", D("2026-03-01"), None),               # starts after d: not active
    ("E10", "PH1", "H6", None, D("2026-01-01"), None),               # H6 not registered: not counted
    ("E11", "PP2", None, "P4a", D("2025-01-01"), D("2025-12-31")),   # ended before d
    ("E12", "PH2", "H5", None, D("2026-03-01"), None),               # starts after d
    ("E13", "PP3", None, "P3b", D("2026-01-01"), None),              # P3b not registered: not counted
    ("E14", "PP1", None, "P1c", D("2024-01-01"), D("2025-01-01")),   # a second, ended, enrolment
    ("E15", "PP3", None, "P1b", D("2025-12-01"), None),              # completes H1's package
    # left out (all would be active on d):
    ("EX1", "PZ", "H1", None, D("2025-01-01"), None),                # unknown programme
    ("EX2", "PH1", "H2", "P2a", D("2025-01-01"), None),              # both unit ids
    ("EX3", "PP1", None, None, D("2025-01-01"), None),               # neither unit id
    ("EX4", "PH1", "H404", None, D("2025-01-01"), None),             # household does not exist
    ("EX5", "PP1", None, "P404", D("2025-01-01"), None),             # person does not exist
    ("EX6", "PH1", None, "P1a", D("2025-01-01"), None),              # person id on a household programme
    ("EX7", "PP2", "H4", None, D("2025-01-01"), None),               # household id on a person programme
    ("EX8", "PH1", "HX1", None, D("2025-01-01"), None),              # its household is left out
    ("EX9", "PQ", "H1", None, D("2025-01-01"), None),                # programme unit neither (choice 18)
    ("EX10", "PP2", None, "PO", D("2025-01-01"), None),              # its person is left out (no household)
    ("EX11", "PP3", None, "PX1a", D("2025-01-01"), None),            # its person is left out (household HX1)
]

REFERRAL_COLUMNS = ["referral_id", "household_id", "person_id", "from_programme_id",
                    "to_programme_id", "access_point_id", "referred_on", "status", "closed_on"]
# (id, household, to_programme, access_point, referred_on, status, closed_on)
REFERRALS = [
    ("R1", "H1", "PH2", "AP1", D("2025-12-05"), "completed", D("2025-12-15")),  # made; completed in 10 days
    ("R2", "H2", "PP2", "AP1", D("2026-01-10"), "completed", D("2026-01-30")),  # made; 20 days
    ("R3", "H3", "PH1", "AP2", D("2025-10-01"), "completed", D("2025-12-31")),  # made before start; 91 days (counts in the median)
    ("R4", "H5", "PH1", "AP3", D("2026-02-28"), "pending", None),               # made on end; open, not overdue
    ("R5", "H2", "PH1", "AP1", D("2026-01-29"), "accepted", None),              # made; open; overdue (= end - 30)
    ("R6", "H3", "PP1", "AP4", D("2025-11-01"), "pending", None),               # before start: open, overdue, not made
    ("R7", "H1", "PH1", None, D("2026-01-05"), "rejected", D("2026-01-06")),    # made; rejected; no access point
    ("R8", "H4", "PH2", "AP2", D("2026-02-01"), "completed", D("2026-03-05")),  # made; completed after end: open, not overdue
    ("R9", "H6", "PP3", "AP3", D("2026-02-10"), "completed", D("2026-02-14")),  # unregistered household still counts; 4 days
    ("R10", "H5", "PZ", "AP3", D("2026-02-20"), "pending", None),               # unknown programme: all-programmes row only
    ("R11", "H1", "PH1", "AP1", D("2025-11-30"), "completed", D("2025-12-01")),  # day before start; closed on start: 1 day
    ("R12", "H3", "PH2", "AP2", D("2026-02-20"), "completed", D("2026-02-28")),  # made; closed on end: 8 days
    ("R13", "H5", "PP1", "AP3", D("2026-01-15"), "rejected", D("2026-03-02")),  # made; rejected after end: open, overdue
    ("R14", "H2", "PH1", "AP1", D("2025-10-01"), "completed", D("2025-11-15")),  # all before start: nothing
    ("R15", "H1", "PH2", "AP1", D("2026-03-01"), "pending", None),              # after end: nothing
    # left out:
    ("RX1", "H404", "PH1", "AP1", D("2026-01-01"), "pending", None),              # household does not exist
    ("RX2", "H1", "PH1", "AP1", D("2026-01-01"), "closed", D("2026-01-02")),      # not one of the four statuses
    ("RX3", "H2", "PH1", "AP1", D("2026-01-01"), "completed", None),              # closed status without closed_on
    ("RX4", "H3", "PH1", "AP2", D("2025-12-10"), "rejected", D("2025-12-01")),    # closed_on before referred_on
    ("RX5", "HX1", "PH1", "AP1", D("2026-01-01"), "pending", None),               # household left out (unknown area)
    ("RX6", "HX2", "PH1", "AP1", D("2026-01-01"), "completed", D("2026-01-02")),  # household left out (not lowest)
]


def fixture_tables(*, population_p2: int | None = 1000) -> dict[str, pd.DataFrame]:
    """The fixture registry as a dict of DataFrames (one per contract table).

    ``population_p2=None`` is the variant in which a level-1 area has no recorded population,
    so the whole-registry census coverage has no denominator.
    """
    areas = [dict(zip(AREA_COLUMNS, row, strict=True)) for row in AREAS]
    for area in areas:
        if area["area_id"] == "P2":
            area["population"] = population_p2
    persons = []
    for pid, hid, nid, sex, birth, disability, head, registered in PERSONS:
        persons.append({
            "person_id": pid, "household_id": hid, "national_id": nid,
            "first_name": f"First {pid}", "last_name": f"Last {hid}", "father_name": None,
            "phone": None, "sex": sex, "birth_date": birth, "disability": disability,
            "is_head": head, "registered_on": registered,
        })
    programmes = []
    for pid, unit, pmt_max, age_min, age_max, sex, disability_only, group in PROGRAMMES:
        programmes.append({
            "programme_id": pid, "name": f"Programme {pid}", "agency": None,
            "benefit_type": "cash", "unit": unit, "pmt_max": pmt_max, "age_min": age_min,
            "age_max": age_max, "sex": sex, "disability_only": disability_only,
            "exclusive_group": group, "started_on": D("2020-01-01"),
        })
    referrals = []
    for rid, hid, to_programme, ap, referred, status, closed in REFERRALS:
        referrals.append({
            "referral_id": rid, "household_id": hid, "person_id": None,
            "from_programme_id": None, "to_programme_id": to_programme,
            "access_point_id": ap, "referred_on": referred, "status": status,
            "closed_on": closed,
        })
    return {
        "area": _frame(areas, AREA_COLUMNS),
        "access_point": _frame([dict(zip(ACCESS_POINT_COLUMNS, r, strict=True))
                                for r in ACCESS_POINTS], ACCESS_POINT_COLUMNS),
        "household": _frame([dict(zip(HOUSEHOLD_COLUMNS, r, strict=True)) for r in HOUSEHOLDS],
                            HOUSEHOLD_COLUMNS),
        "person": _frame(persons, PERSON_COLUMNS),
        "programme": _frame(programmes, PROGRAMME_COLUMNS),
        "enrolment": _frame([dict(zip(ENROLMENT_COLUMNS, r, strict=True)) for r in ENROLMENTS],
                            ENROLMENT_COLUMNS),
        "referral": _frame(referrals, REFERRAL_COLUMNS),
    }
