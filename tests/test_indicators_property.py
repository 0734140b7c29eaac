"""Property test: on random small registries, the engine equals the pandas reference, row for row.

Registries are 2 districts x 2 lowest areas (plus a province), up to 12 households of up to 5
persons, a few programmes of both units with random rules, enrolments and referrals, and
dirty rows of every kind (unknown and non-lowest areas, orphans, unknown programmes, wrong
unit ids, bad statuses, closed_on missing or before referred_on). Dates are drawn from a
small window around the as-of date and the period's ends, so every boundary gets hit.
"""

from __future__ import annotations

import datetime as dt
import os

import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from indicators import compute
from tests.reference import long_form_differences, reference_compute

AS_OF = dt.date(2026, 2, 28)
PERIOD_START = dt.date(2025, 12, 1)
SLA_DAYS = 30
# SOCLE_PROPERTY_EXAMPLES=500 runs a longer search than the default 25 per backend.
MAX_EXAMPLES = int(os.environ.get("SOCLE_PROPERTY_EXAMPLES", "25"))
LOWEST = ("U11", "U12", "U21", "U22")
AREAS = [
    {"area_id": "P1", "name": "Province", "level": 1, "parent_id": None, "population": 9000},
    {"area_id": "D1", "name": "District 1", "level": 2, "parent_id": "P1", "population": 4000},
    {"area_id": "D2", "name": "District 2", "level": 2, "parent_id": "P1", "population": None},
    {"area_id": "U11", "name": "Union 11", "level": 3, "parent_id": "D1", "population": 2000},
    {"area_id": "U12", "name": "Union 12", "level": 3, "parent_id": "D1", "population": 2000},
    {"area_id": "U21", "name": "Union 21", "level": 3, "parent_id": "D2", "population": 0},
    {"area_id": "U22", "name": "Union 22", "level": 3, "parent_id": "D2", "population": None},
]
ACCESS_POINTS = ("AP1", "AP2", "AP3")
WELL_FORMED = ("1111111111111", "2222222222222", "3333333333333")
MALFORMED = ("123", "12345678901234", "12345-6789012", "abcdefghijklm", " 111111111111")

# Day offsets that sit on the rules' boundaries: d, d +- 1, the period start +- 1, and the
# overdue cut (d - SLA) +- 1.
_start = (PERIOD_START - AS_OF).days
_cut = -SLA_DAYS
DAY_OFFSETS = sorted({0, -1, 1, _start, _start - 1, _start + 1, _cut, _cut - 1, _cut + 1,
                      -200, -45, -10})


def day(offset: int) -> dt.date:
    return AS_OF + dt.timedelta(days=offset)


dates = st.sampled_from(DAY_OFFSETS).map(day)
maybe_dates = st.one_of(st.none(), dates)


def shift_years(d: dt.date, years: int) -> dt.date:
    try:
        return d.replace(year=d.year + years)
    except ValueError:  # 29 February
        return d.replace(year=d.year + years, day=28)


@st.composite
def birth_dates(draw) -> dt.date | None:
    if draw(st.integers(0, 9)) == 0:
        return None
    if draw(st.integers(0, 14)) == 0:
        return dt.date(2008, 2, 29)  # 18 on 1 March 2026 only (choice 5)
    age = draw(st.sampled_from((0, 4, 5, 17, 18, 49, 50, 59, 60, 75)))
    return shift_years(AS_OF, -age) + dt.timedelta(days=draw(st.sampled_from((-1, 0, 1))))


@st.composite
def programmes(draw) -> list[dict]:
    n = draw(st.integers(1, 4))
    rows = []
    for i in range(n):
        unit = draw(st.sampled_from(("household", "person", "person", "household", "family")
                                    if i == n - 1 else ("household", "person")))
        rows.append({
            "programme_id": f"PG{i}", "name": f"Programme {i}", "agency": None,
            "benefit_type": "cash", "unit": unit,
            "pmt_max": draw(st.sampled_from((None, None, 20.0, 32.0, 50.0))),
            "age_min": draw(st.sampled_from((None, None, 5, 18, 60))),
            "age_max": draw(st.sampled_from((None, None, 17, 49, 59))),
            "sex": draw(st.sampled_from((None, None, "F", "M"))),
            "disability_only": draw(st.booleans()),
            "exclusive_group": draw(st.sampled_from((None, "G1", "G1", "G2"))),
            "started_on": None,
        })
    return rows


@st.composite
def registries(draw) -> dict[str, pd.DataFrame]:
    progs = draw(programmes())
    programme_ids = [p["programme_id"] for p in progs]

    households = []
    for i in range(draw(st.integers(0, 12))):
        area = draw(st.sampled_from(LOWEST * 4 + ("D1", "ZZ")))  # non-lowest / unknown area
        households.append({
            "household_id": f"H{i}", "area_id": area, "registered_on": draw(dates),
            "pmt_score": draw(st.sampled_from((None, 10.0, 20.0, 31.5, 32.0, 32.5, 50.0, 80.0))),
            "access_point_id": draw(st.sampled_from((None,) + ACCESS_POINTS)),
            "latitude": None, "longitude": None,
        })
    household_ids = [h["household_id"] for h in households]

    persons = []
    owners = household_ids + ["H-missing"]  # the last: persons whose household does not exist
    for hid in owners:
        count = draw(st.integers(0, 5)) if hid != "H-missing" else draw(st.integers(0, 1))
        for j in range(count):
            persons.append({
                "person_id": f"{hid}-P{j}", "household_id": hid,
                "national_id": draw(st.sampled_from((None,) + WELL_FORMED * 2 + MALFORMED)),
                "first_name": "A", "last_name": None, "father_name": None, "phone": None,
                "sex": draw(st.sampled_from(("F", "M", "F", "M", "X", "F", "M", "U"))),  # U: choice 17
                "birth_date": draw(birth_dates()),
                "disability": draw(st.booleans()),
                "is_head": j == 0,
                "registered_on": draw(dates),
            })
    person_ids = [p["person_id"] for p in persons]

    enrolments: list[dict] = []

    def enrol(programme_id: str, hid: str | None, pid: str | None) -> None:
        enrolments.append({
            "enrolment_id": f"E{len(enrolments)}", "programme_id": programme_id,
            "household_id": hid, "person_id": pid, "enrolled_on": draw(dates),
            "ended_on": draw(st.one_of(st.none(), st.none(), dates)),
        })

    # well-formed enrolments, dense enough for packages and double dipping to happen
    for prog in progs:
        if prog["unit"] == "person":
            for pid in person_ids:
                if draw(st.integers(0, 9)) < 3:
                    enrol(prog["programme_id"], None, pid)
        else:  # household (or the unknown unit "family", whose enrolments are left out)
            for hid in household_ids:
                if draw(st.integers(0, 9)) < 4:
                    enrol(prog["programme_id"], hid, None)
    # dirty ones: unknown programme or unit, both or neither unit id, the other unit's id
    for _ in range(draw(st.integers(0, 4))):
        programme_id = draw(st.sampled_from(programme_ids + ["PG-missing"]))
        unit = next((p["unit"] for p in progs if p["programme_id"] == programme_id), "household")
        hid = draw(st.sampled_from(household_ids + ["H-missing"]))
        pid = draw(st.sampled_from(person_ids + ["P-missing"]))
        shape = draw(st.sampled_from(("right", "both", "neither", "wrong")))
        ids = {"right": (hid, None) if unit == "household" else (None, pid),
               "both": (hid, pid), "neither": (None, None),
               "wrong": (None, pid) if unit == "household" else (hid, None)}[shape]
        enrol(programme_id, *ids)
    # double enrolments: repeat a few enrolments under a new id
    if enrolments:
        for k in range(draw(st.integers(0, 3))):
            again = draw(st.sampled_from(enrolments))
            enrolments.append({**again, "enrolment_id": f"E-again-{k}",
                               "ended_on": draw(maybe_dates)})

    referrals = []
    for k in range(draw(st.integers(0, 12))):
        referred = draw(dates)
        status = draw(st.sampled_from(("pending", "accepted", "rejected", "completed",
                                       "rejected", "completed", "closed")))
        closed_kind = draw(st.sampled_from(("none", "date", "date", "date", "before")))
        if closed_kind == "none":
            closed = None
        elif closed_kind == "before":
            closed = referred - dt.timedelta(days=draw(st.integers(1, 5)))
        else:
            closed = max(referred, draw(dates))
        referrals.append({
            "referral_id": f"R{k}",
            "household_id": draw(st.sampled_from(household_ids + ["H-missing"]))
            if household_ids else "H-missing",
            "person_id": None, "from_programme_id": None,
            "to_programme_id": draw(st.sampled_from(programme_ids + ["PG-missing"])),
            # AP9 is in no access_point row: it still gets its breakdown rows (choice 8)
            "access_point_id": draw(st.sampled_from((None, "AP9") + ACCESS_POINTS)),
            "referred_on": referred, "status": status, "closed_on": closed,
        })

    access_points = [{"access_point_id": ap, "name": ap, "kind": "one_window", "area_id": area,
                      "latitude": None, "longitude": None, "opened_on": None}
                     for ap, area in zip(ACCESS_POINTS, LOWEST, strict=False)]

    def frame(rows: list[dict]) -> pd.DataFrame:
        return pd.DataFrame(rows, dtype=object)

    return {
        "area": frame(AREAS), "access_point": frame(access_points),
        "household": frame(households), "person": frame(persons),
        "programme": frame(progs), "enrolment": frame(enrolments),
        "referral": frame(referrals),
    }


@st.composite
def suspected_pairs(draw, person_ids: list[str]) -> pd.DataFrame | None:
    """Record-linkage pairs over the registry's persons (and one unknown id), in either
    order, repeated or of a person with itself now and then; None: no linkage run."""
    if draw(st.booleans()) and draw(st.booleans()):
        return None
    ids = st.sampled_from(person_ids + ["P-unknown"])
    pairs = draw(st.lists(st.tuples(ids, ids), max_size=12))
    return pd.DataFrame(pairs, columns=["person_id_a", "person_id_b"], dtype=object)


def test_engine_agrees_with_the_pandas_model_on_random_registries(make_registry, backend):
    @settings(max_examples=MAX_EXAMPLES, deadline=None, database=None,
              suppress_health_check=[HealthCheck.function_scoped_fixture,
                                     HealthCheck.too_slow, HealthCheck.data_too_large])
    @given(tables=registries(), level=st.integers(1, 3),
           cutoff=st.sampled_from((32.0, 32.0, 31.5, 50.0)), data=st.data())
    def check(tables, level, cutoff, data):
        engine = make_registry(tables)  # overwrites the previous example's registry
        pairs = data.draw(suspected_pairs(list(tables["person"]["person_id"])
                                          if len(tables["person"]) else []))
        actual = compute(engine, as_of=AS_OF, level=level, period_start=PERIOD_START,
                         poverty_cutoff=cutoff, referral_sla_days=SLA_DAYS,
                         suspected_pairs=pairs)
        expected = reference_compute(tables, as_of=AS_OF, level=level, period_start=PERIOD_START,
                                     poverty_cutoff=cutoff, referral_sla_days=SLA_DAYS,
                                     suspected_pairs=pairs)
        problems = long_form_differences(actual, expected)
        assert not problems, "\n".join(problems)

    check()
