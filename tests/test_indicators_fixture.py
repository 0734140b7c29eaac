"""Hand-counted indicator figures on the fixture registry (tests/fixture_registry.py).

Every expected numerator and denominator below is written literally and explained from the
fixture's rows: none is computed by code. Each expectation is checked on Socle's engine
(``indicators.compute`` on SQLite and PostgreSQL, through ``make_registry``) and on the
independent pandas reference (tests/reference.py), so the reference is verified too:
``pytest -k reference`` runs the reference half alone.

Fixture reminders (d = 2026-02-28, period [2025-12-01, 2026-02-28], overdue if referred on or
before 2026-01-29):
  registered, not left out: households H1 (U11, pmt 32), H2 (U11, 20), H3 (U12, 55),
  H4 (U12, null), H5 (U21, 10); persons P1a P1b P1c P2a P2b P2c (U11), P3a P4a (U12),
  P5a P5b (U21).
  active enrolments counted: (H1,PH1) twice, (H1,PH2), (H3,PH1), (P1c,PP1), (P1b,PP1),
  (P2a,PP2), (P1b,PP3).
  households receive: H1 {PH1, PH2, PP1, PP3}; H2 {PP2}; H3 {PH1}; H4 {}; H5 {}.
  households eligible for: H1 {PH1, PH2, PP1, PP3}; H2 {PH1, PH2, PP1, PP2}; H3 {PP3};
  H4 {PP2}; H5 {PH1, PH2, PP1, PP3}.
  covered persons: P1a P1b P1c (H1's PH1), P2a (PP2), P3a (H3's PH1).
"""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import pandas as pd
import pytest
from conftest import BACKENDS

from indicators import CATALOGUE, compute
from indicators.catalogue import BEYOND_SPEC_IDS, LONG_FORM_COLUMNS, SPEC_IDS_NOT_YET_COMPUTED
from tests.fixture_registry import AS_OF, LOWEST_LEVEL, PERIOD_START, fixture_tables
from tests.reference import long_form_differences, normalise_long_form, reference_compute

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"

SOURCES = ("reference",) + BACKENDS

# Parametrizing `backend` directly overrides conftest's fixture of that name, so make_registry
# writes on the named backend; "reference" runs the pandas reference and writes nothing.
on_every_source = pytest.mark.parametrize("backend", SOURCES)


@pytest.fixture
def results(backend, make_registry):
    """results(level, population_p2=1000, pairs=None) -> the long form of the fixture at that
    level (``pairs``: suspected duplicate pairs, a tuple of (person_id_a, person_id_b))."""
    cache: dict[tuple, object] = {}
    written: dict[str, object] = {}

    def at(level: int = LOWEST_LEVEL, *, population_p2: int | None = 1000,
           pairs: tuple[tuple[str, str], ...] | None = None):
        key = (level, population_p2, pairs)
        frame = (None if pairs is None
                 else pd.DataFrame(list(pairs), columns=["person_id_a", "person_id_b"]))
        if key not in cache:
            tables = fixture_tables(population_p2=population_p2)
            if backend == "reference":
                cache[key] = reference_compute(tables, as_of=AS_OF, level=level,
                                               period_start=PERIOD_START,
                                               suspected_pairs=frame)
            else:
                if written.get("variant", "none") != population_p2:
                    # make_registry overwrites its previous registry: cache per variant only
                    cache.clear()
                    written["engine"] = make_registry(tables)
                    written["variant"] = population_p2
                cache[key] = compute(written["engine"], as_of=AS_OF, level=level,
                                     period_start=PERIOD_START, suspected_pairs=frame)
        return cache[key]

    return at


def row(frame, indicator_id, area_id=None, programme_id=None, breakdown=None) -> dict:
    rows = [r for r in normalise_long_form(frame)
            if r["indicator_id"] == indicator_id and r["area_id"] == area_id
            and r["programme_id"] == programme_id and r["breakdown"] == breakdown]
    assert len(rows) == 1, (f"{len(rows)} rows for {indicator_id} area={area_id} "
                            f"programme={programme_id} breakdown={breakdown}")
    return rows[0]


def check(frame, indicator_id, area_id, numerator, denominator, *, programme_id=None,
          breakdown=None):
    """The row's numerator and denominator are these; its value follows from them."""
    r = row(frame, indicator_id, area_id, programme_id, breakdown)
    where = f"{indicator_id} area={area_id} programme={programme_id} breakdown={breakdown}"
    assert (r["numerator"], r["denominator"]) == (numerator, denominator), where
    if denominator in (None, 0):
        assert r["value"] is None, where
    else:
        assert r["value"] == pytest.approx(numerator / denominator, abs=1e-12), where


def check_made(frame, area_id, numerator, *, programme_id=None, breakdown=None):
    """ref.made: no denominator, value = numerator (choice 10)."""
    r = row(frame, "ref.made", area_id, programme_id, breakdown)
    assert (r["numerator"], r["denominator"]) == (numerator, None)
    assert r["value"] == pytest.approx(float(numerator))


def check_median(frame, area_id, value, *, programme_id=None):
    """ref.days_to_complete: no numerator or denominator (choice 9)."""
    r = row(frame, "ref.days_to_complete", area_id, programme_id)
    assert (r["numerator"], r["denominator"]) == (None, None)
    if value is None:
        assert r["value"] is None
    else:
        assert r["value"] == pytest.approx(value, abs=1e-12)


def has_row(frame, indicator_id, area_id=None, programme_id=None, breakdown=None) -> bool:
    return any(r["indicator_id"] == indicator_id and r["area_id"] == area_id
               and r["programme_id"] == programme_id and r["breakdown"] == breakdown
               for r in normalise_long_form(frame))


# ---------------------------------------------------------------------------------------------
# The catalogue against the spec, and the shape of the long form
# ---------------------------------------------------------------------------------------------

def spec_indicator_ids() -> set[str]:
    spec = SHARED / "spec" / "indicators.md"
    if not spec.is_file():
        pytest.skip(f"the indicator spec is not at {spec}")
    return set(re.findall(r"^\| `([a-z]+\.[a-z_]+)`", spec.read_text(encoding="utf-8"), re.M))


def test_catalogue_lists_every_spec_indicator():
    spec_ids = spec_indicator_ids()
    assert spec_ids, "no indicator ids found in the spec's tables"
    catalogue_ids = {i.id for i in CATALOGUE}
    assert SPEC_IDS_NOT_YET_COMPUTED <= spec_ids
    assert catalogue_ids - BEYOND_SPEC_IDS == spec_ids - SPEC_IDS_NOT_YET_COMPUTED
    assert SPEC_IDS_NOT_YET_COMPUTED == set()


@on_every_source
@pytest.mark.parametrize("level", [1, 2, 3])
def test_rows_for_every_catalogue_indicator_area_and_whole_registry(results, level):
    frame = results(level)
    assert tuple(frame.columns) == LONG_FORM_COLUMNS
    rows = normalise_long_form(frame)
    areas = {1: {"P1", "P2"}, 2: {"D1", "D2", "D3"}, 3: {"U11", "U12", "U21", "U31"}}[level]
    for ind in CATALOGUE:
        mine = [r for r in rows if r["indicator_id"] == ind.id]
        assert mine, f"no rows for {ind.id}"
        whole = [r for r in mine if r["area_id"] is None]
        assert whole and all(r["area_name"] == "All areas" and r["level"] is None for r in whole)
        if ind.whole_registry_only:  # choices 12 and 31: whole registry only
            assert len(whole) == len(mine) == 5
            continue
        # every area of the level, areas with nothing to count (U31, D3, P2) included
        assert {r["area_id"] for r in mine} - {None} == areas, ind.id
        assert all(r["level"] == level for r in mine if r["area_id"] is not None)
        if ind.per_programme:  # rows for each programme only, all six programmes
            assert all(r["programme_id"] is not None for r in mine), ind.id
            assert {r["programme_id"] for r in mine} == {"PH1", "PH2", "PP1", "PP2", "PP3", "PQ"}
    names = {r["area_id"]: r["area_name"] for r in rows}
    assert names.get("U11", "Union Eleven") == "Union Eleven"
    assert names.get("P1", "Province One") == "Province One"


@on_every_source
def test_period_columns(results):
    for r in normalise_long_form(results()):
        assert r["period_end"] == AS_OF.isoformat()
        if r["indicator_id"].startswith("ref."):
            assert r["period_start"] == PERIOD_START.isoformat()
        else:
            assert r["period_start"] is None


@pytest.mark.parametrize("backend", BACKENDS)
def test_default_period_is_three_months_ending_on_as_of(make_registry):
    engine = make_registry(fixture_tables())
    frame = compute(engine, as_of=AS_OF, level=1)
    starts = {r["period_start"] for r in normalise_long_form(frame)
              if r["indicator_id"].startswith("ref.")}
    # choice 15: 2026-02-28 minus 3 months is 2025-11-28, plus one day
    assert starts == {"2025-11-29"}


# ---------------------------------------------------------------------------------------------
# Hand-counted expectations
# ---------------------------------------------------------------------------------------------

@on_every_source
def test_poverty_cutoff_is_inclusive(results):
    f = results()
    # poor registered households: H1 (pmt 32 = cutoff), H2 (20), H5 (10); not H3 (55),
    # H4 (null), H6 (5 but registered after d), HX1 (15 but unknown area: left out).
    # H1 receives PH1..., H2 receives PP2 via P2a, H5 receives nothing.
    check(f, "cov.poor_households", None, 2, 3)
    check(f, "cov.poor_households", "U11", 2, 2)   # H1, H2
    check(f, "cov.poor_households", "U12", 0, 0)   # H3 not poor, H4 unassessed
    check(f, "cov.poor_households", "U21", 0, 1)   # H5; H6 not registered
    check(f, "cov.poor_households", "U31", 0, 0)   # nothing to count
    # programmes received by the poor: H1 4 (PH1, PH2, PP1, PP3) + H2 1 (PP2) + H5 0
    check(f, "pkg.mean_programmes_poor", None, 5, 3)
    check(f, "pkg.mean_programmes_poor", "U11", 5, 2)
    check(f, "pkg.mean_programmes_poor", "U21", 0, 1)
    # PH1 (pmt_max 32): H1 at exactly 32 and H2 are eligible in U11; H1 is enrolled
    check(f, "cov.programme", "U11", 1, 2, programme_id="PH1")
    # PH1 for the whole registry: eligible H1, H2, H5; enrolled H1 (E1, E2), H3 (E5)
    check(f, "cov.programme", None, 1, 3, programme_id="PH1")
    check(f, "cov.exclusion", None, 2, 3, programme_id="PH1")   # H2 (E4 ended on d), H5
    check(f, "cov.inclusion", None, 1, 2, programme_id="PH1")   # H3 (pmt 55)


@on_every_source
def test_age_boundaries_on_the_as_of_date(results):
    f = results()
    # P1b (F, born 2008-02-28) turns 18 on d: eligible for PP3 (F, 18-49) by age_min, no
    # longer for PP1 (5-17) by age_max. P2b (born 2008-02-29) is still 17 (choice 5).
    # PP1 eligible: P1c (10, H1 pmt 32), P2b (17, H2), P5b (6, H5); enrolled P1c (E6), P1b (E7).
    check(f, "cov.programme", None, 1, 3, programme_id="PP1")
    check(f, "cov.exclusion", None, 2, 3, programme_id="PP1")   # P2b, P5b
    check(f, "cov.inclusion", None, 1, 2, programme_id="PP1")   # P1b, 18 on d
    # PP3 eligible: P1a (45), P1b (18 today), P3a (35), P5a (40); enrolled P1b (E15); E9
    # (P5a) starts after d.
    check(f, "cov.programme", None, 1, 4, programme_id="PP3")
    check(f, "cov.inclusion", None, 0, 1, programme_id="PP3")
    check(f, "cov.programme", "U11", 1, 2, programme_id="PP3")  # P1a, P1b
    # adults on d in U11: P1a, P1b (18 today, no id), P2a (66); P2b is 17, P2c has no birth date
    check(f, "dq.adults_without_id", "U11", 1, 3)
    # ages: 0-17 P1c P2b P5b (covered P1c); 18-59 P1a P1b P3a P4a P5a (covered P1a P1b P3a);
    # 60+ P2a (covered); unknown P2c.
    check(f, "cov.population", None, 1, 3, breakdown="age=0-17")
    check(f, "cov.population", None, 3, 5, breakdown="age=18-59")
    check(f, "cov.population", None, 1, 1, breakdown="age=60+")
    check(f, "cov.population", None, 0, 1, breakdown="age=unknown")


@on_every_source
def test_enrolment_and_registration_dates(results):
    f = results()
    # E3 (PH2, H1) starts on d: active. PH2 eligible H1, H2, H5 (pmt <= 40; its age_min is
    # ignored for a household programme, choice 4); enrolled H1 only (E12 on H5 starts after d).
    check(f, "cov.programme", None, 1, 3, programme_id="PH2")
    check(f, "cov.inclusion", None, 0, 1, programme_id="PH2")
    # E4 (PH1, H2) ends on d: not active, so H2 is excluded from PH1
    check(f, "cov.exclusion", "U11", 1, 2, programme_id="PH1")
    # H5 registered on d counts; H6 registered the day after does not, nor does its active
    # PH1 enrolment E10 (U21: no PH1 enrolled unit, PH1 eligible H5 only).
    check(f, "cov.programme", "U21", 0, 1, programme_id="PH1")
    check(f, "cov.inclusion", "U21", 0, 0, programme_id="PH1")
    check(f, "dq.unassessed_households", "U21", 0, 1)
    # P5a, P5b registered on d: U21 population is P5a, P5b (P6a registered after d); none
    # covered (E9 and E12 start after d).
    check(f, "cov.population", "U21", 0, 2)


@on_every_source
def test_population_coverage_and_breakdowns(results):
    f = results()
    # registered persons not left out: 10; covered 5 (P1a, P1b, P1c, P2a, P3a)
    check(f, "cov.population", None, 5, 10)
    check(f, "cov.population", "U11", 4, 6)   # P1a P1b P1c (H1's PH1), P2a (PP2) of 6
    check(f, "cov.population", "U12", 1, 2)   # P3a (H3's PH1, though H3 is not eligible); P4a
    check(f, "cov.population", "U31", 0, 0)
    # F: P1a P1b P1c P2b P3a P5a (covered P1a P1b P1c P3a); M: P2a P4a P5b (P2a); X: P2c
    check(f, "cov.population", None, 4, 6, breakdown="sex=F")
    check(f, "cov.population", None, 1, 3, breakdown="sex=M")
    check(f, "cov.population", None, 0, 1, breakdown="sex=X")
    # disability: P2a (covered), P4a (E11 ended); the other 8 (covered P1a P1b P1c P3a)
    check(f, "cov.population", None, 1, 2, breakdown="disability=yes")
    check(f, "cov.population", None, 4, 8, breakdown="disability=no")
    check(f, "cov.population", "U11", 1, 1, breakdown="disability=yes")


@on_every_source
def test_census_population(results):
    f3, f2, f1 = results(3), results(2), results(1)
    # covered persons over the area's recorded population
    check(f3, "cov.population_census", "U11", 4, 2000)
    check(f3, "cov.population_census", "U12", 1, 1000)
    check(f3, "cov.population_census", "U21", 0, 800)
    check(f3, "cov.population_census", "U31", 0, 1000)
    check(f2, "cov.population_census", "D1", 5, 3000)
    check(f2, "cov.population_census", "D2", 0, None)   # D2 has no recorded population
    check(f2, "cov.population_census", "D3", 0, 1000)
    check(f1, "cov.population_census", "P1", 5, 5000)
    check(f1, "cov.population_census", "P2", 0, 1000)
    # whole registry: the sum over the level-1 areas P1 (5000) + P2 (1000)
    for f in (f1, f2, f3):
        check(f, "cov.population_census", None, 5, 6000)


@on_every_source
def test_census_population_with_a_null_level_one_population(results):
    f3 = results(3, population_p2=None)
    f1 = results(1, population_p2=None)
    # P2's population is null: no whole-registry denominator, the numerator is still given
    check(f3, "cov.population_census", None, 5, None)
    check(f1, "cov.population_census", None, 5, None)
    check(f1, "cov.population_census", "P2", 0, None)
    check(f1, "cov.population_census", "P1", 5, 5000)


@on_every_source
def test_per_programme_coverage(results):
    f = results()
    # eligible / enrolled (registered units, active on d):
    # PH1 {H1,H2,H5} / {H1,H3}; PH2 {H1,H2,H5} / {H1}; PP1 {P1c,P2b,P5b} / {P1c,P1b};
    # PP2 {P2a,P4a} / {P2a} (EX7 and EX10 left out, E11 ended); PP3 {P1a,P1b,P3a,P5a} / {P1b};
    # PQ (unit "family") none / none (EX9 left out).
    expected = {
        # programme: (cov.programme, cov.exclusion, cov.inclusion)
        "PH1": ((1, 3), (2, 3), (1, 2)),
        "PH2": ((1, 3), (2, 3), (0, 1)),
        "PP1": ((1, 3), (2, 3), (1, 2)),
        "PP2": ((1, 2), (1, 2), (0, 1)),
        "PP3": ((1, 4), (3, 4), (0, 1)),
        "PQ": ((0, 0), (0, 0), (0, 0)),
    }
    for programme, figures in expected.items():
        for indicator_id, (num, den) in zip(("cov.programme", "cov.exclusion", "cov.inclusion"),
                                            figures, strict=True):
            check(f, indicator_id, None, num, den, programme_id=programme)
    # per programme only: no all-programmes row (choice 7: zeros included, e.g. U31)
    assert not has_row(f, "cov.programme", None)
    check(f, "cov.programme", "U31", 0, 0, programme_id="PP2")
    # U12: PH1 eligible none, enrolled H3 -> inclusion 1/1
    check(f, "cov.inclusion", "U12", 1, 1, programme_id="PH1")
    check(f, "cov.programme", "U12", 0, 0, programme_id="PH1")
    # PP2 in U12: P4a eligible (disability, no pmt rule though H4's pmt is null), not enrolled
    check(f, "cov.exclusion", "U12", 1, 1, programme_id="PP2")


@on_every_source
def test_combined_packages(results):
    f = results()
    # eligible for >= 2 programmes: H1 {PH1,PH2,PP1,PP3} receives all four (PP1 and PP3 via
    # members P1c/P1b, P1b): complete. H2 {PH1,PH2,PP1,PP2} receives PP2 only; H5
    # {PH1,PH2,PP1,PP3} receives nothing. H3 {PP3} and H4 {PP2} are eligible for one only.
    check(f, "pkg.complete", None, 1, 3)
    check(f, "pkg.complete", "U11", 1, 2)
    check(f, "pkg.complete", "U12", 0, 0)
    check(f, "pkg.complete", "U21", 0, 1)


@on_every_source
def test_duplicates(results):
    f3, f2 = results(3), results(2)
    # registered persons with a well-formed id: P1a 111.., P2c 222.., P3a 333.., P5a 111..
    # (P2a "12345-6789012" and P5b 12 digits are malformed). P1a (U11) and P5a (U21) share
    # across districts. P3a's id is also held by P3b (registered after d) and PX1a (left out):
    # not shared.
    check(f3, "dup.shared_id", None, 2, 4)
    check(f3, "dup.shared_id", "U11", 1, 2)   # P1a shared, P2c not
    check(f3, "dup.shared_id", "U12", 0, 1)   # P3a
    check(f3, "dup.shared_id", "U21", 1, 1)   # P5a
    check(f2, "dup.shared_id", "D1", 1, 3)
    check(f2, "dup.shared_id", "D2", 1, 1)
    # (unit, programme) pairs active on d: (H1,PH1) x2 [E1,E2], (H1,PH2), (H3,PH1), (P1c,PP1)
    # [E14 ended], (P1b,PP1), (P2a,PP2), (P1b,PP3). E4, E9-E13 are inactive or unregistered.
    check(f3, "dup.double_enrolment", None, 1, 7)
    check(f3, "dup.double_enrolment", "U11", 1, 6)
    check(f3, "dup.double_enrolment", "U12", 0, 1)
    check(f3, "dup.double_enrolment", "U21", 0, 0)
    # receiving a programme with an exclusive group: H1 (PH1 & PH2, both CASH: double dips),
    # H2 (PP2, DIS, via P2a), H3 (PH1, CASH)
    check(f3, "dup.double_dipping", None, 1, 3)
    check(f3, "dup.double_dipping", "U11", 1, 2)
    check(f3, "dup.double_dipping", "U12", 0, 1)
    check(f2, "dup.double_dipping", "D2", 0, 0)


# Suspected pairs as the app store would hand them over (some reversed, repeated or void).
PAIRS = (
    ("P1a", "P5a"),   # both registered (P5a on d): U11, P1a's area (P1a < P5a)
    ("P5a", "P1a"),   # the same pair reversed: counted once
    ("P2c", "P2b"),   # reversed: the first person is P2b (the smaller id), U11
    ("P5b", "P4a"),   # first person P4a: U12, although P5b lives in U21
    ("P3a", "P3b"),   # P3b registered after d: not counted
    ("P4a", "PX1a"),  # PX1a's household is left out: not counted
    ("P1a", "PO"),    # PO's household does not exist (left out): not counted
    ("P6a", "P1c"),   # P6a registered after d: not counted
    ("P1b", "P1b"),   # a person with itself: no pair
)


@on_every_source
def test_suspected_pairs(results):
    f3, f2 = results(3, pairs=PAIRS), results(2, pairs=PAIRS)
    # denominator: registered persons, as cov.population's (U11 6, U12 2, U21 2)
    check(f3, "dup.suspected_pairs", None, 3, 10)
    check(f3, "dup.suspected_pairs", "U11", 2, 6)   # P1a-P5a, P2b-P2c
    check(f3, "dup.suspected_pairs", "U12", 1, 2)   # P4a-P5b
    check(f3, "dup.suspected_pairs", "U21", 0, 2)
    check(f3, "dup.suspected_pairs", "U31", 0, 0)
    check(f2, "dup.suspected_pairs", "D1", 3, 8)
    check(f2, "dup.suspected_pairs", "D2", 0, 2)
    # No pairs at all (a run that found none, or everything dismissed): zero.
    check(results(3, pairs=()), "dup.suspected_pairs", None, 0, 10)


@on_every_source
def test_suspected_pairs_without_a_linkage_run_are_unknown_not_zero(results):
    f3 = results(3)
    for area_id, persons in ((None, 10), ("U11", 6), ("U31", 0)):
        r = row(f3, "dup.suspected_pairs", area_id)
        assert (r["numerator"], r["denominator"], r["value"]) == (None, persons, None)


@on_every_source
def test_referral_flows(results):
    f = results()
    # valid referrals made in [2025-12-01, 2026-02-28]: R1 R2 R5 R7 (U11), R8 R12 (U12),
    # R4 R9 R10 R13 (U21); not R3 R6 R11 R14 (before start), R15 (after end), RX* (left out).
    check_made(f, None, 10)
    check_made(f, "U11", 4)
    check_made(f, "U12", 2)
    check_made(f, "U21", 4)   # R9's household H6 is not registered: flows are not filtered
    check_made(f, "U31", 0)
    # completed by the end: R1 R2 R9 R12 (closed on end); R8 closed after end
    check(f, "ref.completed", None, 4, 10)
    check(f, "ref.completed", "U11", 2, 4)
    check(f, "ref.completed", "U12", 1, 2)
    check(f, "ref.completed", "U21", 1, 4)
    check(f, "ref.completed", "U31", 0, 0)
    # rejected by the end: R7; R13 was rejected after the end
    check(f, "ref.rejected", None, 1, 10)
    check(f, "ref.rejected", "U11", 1, 4)
    check(f, "ref.rejected", "U21", 0, 4)
    # open at end: R4 R5 R6 R8 (completed after end) R10 R13 (rejected after end);
    # overdue (referred on or before 2026-01-29): R5 (exactly), R6, R13
    check(f, "ref.overdue", None, 3, 6)
    check(f, "ref.overdue", "U11", 1, 1)   # R5
    check(f, "ref.overdue", "U12", 1, 2)   # R6 overdue, R8 not
    check(f, "ref.overdue", "U21", 1, 3)   # R13 overdue, R4 R10 not
    check(f, "ref.overdue", "U31", 0, 0)


@on_every_source
def test_referral_median_days(results):
    f = results()
    # completed with start <= closed_on <= end, whenever made: R11 1 day (closed on start),
    # R9 4, R12 8 (closed on end), R1 10, R2 20, R3 91 (made before start). Six values: the
    # mean of the two middle ones, (8 + 10) / 2.
    check_median(f, None, 9.0)
    check_median(f, "U11", 10.0)   # R11 1, R1 10, R2 20
    check_median(f, "U12", 49.5)   # R12 8, R3 91: (8 + 91) / 2
    check_median(f, "U21", 4.0)    # R9
    check_median(f, "U31", None)
    check_median(f, None, 46.0, programme_id="PH1")   # R11 1, R3 91
    check_median(f, None, 9.0, programme_id="PH2")    # R12 8, R1 10
    check_median(f, None, None, programme_id="PP1")
    check_median(f, None, 20.0, programme_id="PP2")   # R2
    check_median(f, None, 4.0, programme_id="PP3")    # R9
    check_median(f, None, None, programme_id="PQ")
    assert not any(r["indicator_id"] == "ref.days_to_complete" and r["breakdown"] is not None
                   for r in normalise_long_form(f))


@on_every_source
def test_referral_programme_breakdown(results):
    f = results()
    # made by programme referred to: PH1 R4 R5 R7; PH2 R1 R8 R12; PP1 R13; PP2 R2; PP3 R9;
    # PQ none. R10 (to unknown PZ) is in the all-programmes row only (choice 6): 3+3+1+1+1 = 9.
    check_made(f, None, 3, programme_id="PH1")
    check_made(f, None, 3, programme_id="PH2")
    check_made(f, None, 1, programme_id="PP1")
    check_made(f, None, 1, programme_id="PP2")
    check_made(f, None, 1, programme_id="PP3")
    check_made(f, None, 0, programme_id="PQ")
    assert not has_row(f, "ref.made", None, programme_id="PZ")
    check(f, "ref.completed", None, 0, 3, programme_id="PH1")
    check(f, "ref.rejected", None, 1, 3, programme_id="PH1")     # R7
    check(f, "ref.completed", None, 2, 3, programme_id="PH2")    # R1, R12
    check(f, "ref.completed", None, 0, 0, programme_id="PQ")
    # open at end by programme: PH1 R4 R5 (R5 overdue); PH2 R8; PP1 R6 R13 (both overdue)
    check(f, "ref.overdue", None, 1, 2, programme_id="PH1")
    check(f, "ref.overdue", None, 0, 1, programme_id="PH2")
    check(f, "ref.overdue", None, 2, 2, programme_id="PP1")
    check(f, "ref.overdue", None, 0, 0, programme_id="PP2")
    check_made(f, "U11", 2, programme_id="PH1")   # R5, R7
    check_made(f, "U31", 0, programme_id="PH1")


@on_every_source
def test_referral_access_point_breakdown(results):
    f = results()
    # made: AP1 R1 R2 R5; AP2 R8 R12; AP3 R4 R9 R10 R13; R7 has no access point (no row)
    check_made(f, None, 3, breakdown="access_point=AP1")
    check_made(f, None, 2, breakdown="access_point=AP2")
    check_made(f, None, 4, breakdown="access_point=AP3")
    check(f, "ref.completed", None, 2, 3, breakdown="access_point=AP1")   # R1, R2
    check(f, "ref.completed", None, 1, 4, breakdown="access_point=AP3")   # R9
    check(f, "ref.rejected", None, 0, 3, breakdown="access_point=AP1")
    # open at end: AP1 R5; AP2 R8; AP3 R4 R10 R13; AP4 R6 (made before start)
    check(f, "ref.overdue", None, 1, 1, breakdown="access_point=AP1")
    check(f, "ref.overdue", None, 0, 1, breakdown="access_point=AP2")
    check(f, "ref.overdue", None, 1, 3, breakdown="access_point=AP3")
    check(f, "ref.overdue", None, 1, 1, breakdown="access_point=AP4")
    # choice 8: rows only for access points the denominator counts there. AP4 has no made
    # referral anywhere; U12 has AP2 (made, open) and AP4 (open) only; U31 has none.
    assert not has_row(f, "ref.made", None, breakdown="access_point=AP4")
    assert not has_row(f, "ref.completed", None, breakdown="access_point=AP4")
    check_made(f, "U12", 2, breakdown="access_point=AP2")
    assert not has_row(f, "ref.made", "U12", breakdown="access_point=AP4")
    assert not has_row(f, "ref.made", "U12", breakdown="access_point=AP1")
    check(f, "ref.overdue", "U12", 0, 1, breakdown="access_point=AP2")
    check(f, "ref.overdue", "U12", 1, 1, breakdown="access_point=AP4")
    assert not any(r["area_id"] == "U31" and (r["breakdown"] or "").startswith("access_point=")
                   for r in normalise_long_form(f))
    # access-point rows fill breakdown, not programme_id
    assert not any((r["breakdown"] or "").startswith("access_point=") and r["programme_id"]
                   for r in normalise_long_form(f))


@on_every_source
def test_data_quality_counts_left_out_rows_by_area(results):
    f3, f2, f1 = results(3), results(2), results(1)
    # dq.unassessed_households, registered households (left-out ones included): H1..H5, HX1
    # (unknown area: whole registry only), HX2 (area D1: counts at levels 2 and 1); null
    # pmt: H4, HX2. H6 is registered after d.
    check(f3, "dq.unassessed_households", None, 2, 7)
    check(f3, "dq.unassessed_households", "U11", 0, 2)
    check(f3, "dq.unassessed_households", "U12", 1, 2)   # H4; HX2 is coarser than level 3
    check(f2, "dq.unassessed_households", "D1", 2, 5)    # H1 H2 H3 H4 HX2
    check(f2, "dq.unassessed_households", "D3", 0, 0)
    check(f1, "dq.unassessed_households", "P1", 2, 6)
    check(f1, "dq.unassessed_households", "P2", 0, 0)
    # dq.adults_without_id: registered adults P1a P1b P2a (U11), P3a P4a (U12), P5a (U21),
    # PX2a (HX2 at D1), PX1a (HX1, unknown area), PO (no household); without id: P1b, P4a, PX2a
    check(f3, "dq.adults_without_id", None, 3, 9)
    check(f3, "dq.adults_without_id", "U12", 1, 2)
    check(f3, "dq.adults_without_id", "U21", 0, 1)
    check(f2, "dq.adults_without_id", "D1", 3, 6)
    check(f1, "dq.adults_without_id", "P1", 3, 7)
    # dq.malformed_id: registered persons with an id: P1a, P2a (malformed), P2c (U11), P3a
    # (U12), P5a, P5b (malformed, U21), PX1a (whole only), PO (malformed, whole only);
    # P3b is registered after d.
    check(f3, "dq.malformed_id", None, 3, 8)
    check(f3, "dq.malformed_id", "U11", 1, 3)
    check(f3, "dq.malformed_id", "U12", 0, 1)
    check(f3, "dq.malformed_id", "U21", 1, 2)
    check(f2, "dq.malformed_id", "D1", 1, 4)
    check(f1, "dq.malformed_id", "P1", 2, 6)


@on_every_source
def test_invalid_rows(results):
    f = results()
    # households: HX1 (unknown area), HX2 (not lowest) of 8 rows
    check(f, "dq.invalid_rows", None, 2, 8, breakdown="table=household")
    # persons: PX1a, PX2a (left-out households), PO (no household) of 15 rows
    check(f, "dq.invalid_rows", None, 3, 15, breakdown="table=person")
    # enrolments: EX1..EX11 of 26 rows (E10 and E13 are of unregistered units: not invalid)
    check(f, "dq.invalid_rows", None, 11, 26, breakdown="table=enrolment")
    # referrals: RX1..RX6 of 21 rows (R9 of unregistered H6 and R10 to unknown PZ are valid)
    check(f, "dq.invalid_rows", None, 6, 21, breakdown="table=referral")
    check(f, "dq.invalid_rows", None, 22, 70)
    assert not any(r["indicator_id"] == "dq.invalid_rows" and r["area_id"] is not None
                   for r in normalise_long_form(f))


# ---------------------------------------------------------------------------------------------
# The engine against the reference, row for row
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("level", [1, 2, 3])
def test_engine_agrees_with_the_pandas_model_on_the_fixture(make_registry, level):
    tables = fixture_tables()
    engine = make_registry(tables)
    actual = compute(engine, as_of=AS_OF, level=level, period_start=PERIOD_START)
    expected = reference_compute(tables, as_of=AS_OF, level=level, period_start=PERIOD_START)
    problems = long_form_differences(actual, expected)
    assert not problems, "\n".join(problems)
    pairs = pd.DataFrame(list(PAIRS), columns=["person_id_a", "person_id_b"])
    actual = compute(engine, as_of=AS_OF, level=level, period_start=PERIOD_START,
                     suspected_pairs=pairs)
    expected = reference_compute(tables, as_of=AS_OF, level=level, period_start=PERIOD_START,
                                 suspected_pairs=pairs)
    problems = long_form_differences(actual, expected)
    assert not problems, "\n".join(problems)


def test_levels_computed_together_equal_each_level_computed_alone(make_registry):
    """compute_levels counts once for every level: each level's long form is compute's."""
    from indicators import compute_levels

    engine = make_registry(fixture_tables())
    pairs = pd.DataFrame(list(PAIRS), columns=["person_id_a", "person_id_b"])
    options = dict(as_of=AS_OF, period_start=PERIOD_START, suspected_pairs=pairs)
    together = compute_levels(engine, levels=[3, 1, 2, 1], **options)
    assert list(together) == [3, 1, 2]
    for level, frame in together.items():
        pd.testing.assert_frame_equal(frame, compute(engine, level=level, **options))
    with pytest.raises(ValueError, match="no area of level 7"):
        compute_levels(engine, levels=[1, 7], **options)


def test_reference_accepts_iso_text_dates():
    """The reference reads dates given as ISO text the same as date objects."""
    tables = fixture_tables()
    text_tables = {}
    for name, frame in tables.items():
        frame = frame.copy()
        for column in frame.columns:
            frame[column] = [v.isoformat() if isinstance(v, dt.date) else v
                             for v in frame[column]]
        text_tables[name] = frame
    a = reference_compute(tables, as_of=AS_OF, level=2, period_start=PERIOD_START)
    b = reference_compute(text_tables, as_of=AS_OF.isoformat(), level=2,
                          period_start=PERIOD_START.isoformat())
    assert not long_form_differences(a, b)
