"""The lists officers work (indicators.lists): each list has exactly the rows its indicator's
numerator counts, in every area, on SQLite and PostgreSQL; planted problems of the demo
registry are on them; rights and areas are enforced; rows stream in chunks."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from pathlib import Path

import fixture_registry as fx
import pandas as pd
import pytest
import sqlalchemy as sa
from conftest import BACKENDS, postgres_admin_url
from sqlalchemy.engine import make_url

from data_access.areas import read_areas
from data_access.context import UserContext
from data_access.loader import copy_sqlite_to_duckdb, copy_sqlite_to_postgres
from data_access.registry import open_registry
from demo.generator import Options, generate, output_paths
from indicators import BY_ID, compute, default_period_start
from indicators.lists import (
    DQ_RULES,
    LIST_BY_ID,
    LIST_IDS,
    LISTS,
    ListPermissionError,
    UnknownAreaError,
    UnknownListError,
    count_rows,
    list_frame,
    list_rows,
    parse_list_ids,
    visible_columns,
)

ADMIN = UserContext("admin")
DONOR = UserContext("donor")
DEMO_END = dt.date(2026, 10, 31)
# The indicator each list's rows are the numerator of (data_quality_rows: one per rule).
NUMERATOR_OF = {spec.id: spec.indicator_id for spec in LISTS if spec.id != "data_quality_rows"}
AREA_DQ = ("dq.adults_without_id", "dq.malformed_id", "dq.unassessed_households")


def numerator(figures: pd.DataFrame, indicator_id: str, area_id: str | None,
              breakdown: str | None = None) -> int:
    rows = figures[(figures["indicator_id"] == indicator_id)
                   & (figures["programme_id"].isna())
                   & (figures["breakdown"].isna() if breakdown is None
                      else figures["breakdown"] == breakdown)
                   & (figures["area_id"].isna() if area_id is None
                      else figures["area_id"] == area_id)]
    assert len(rows) == 1, (indicator_id, area_id, breakdown)
    return int(rows["numerator"].iloc[0])


# --------------------------------------------------------------------------- the demo registry


@dataclass
class Demo:
    backend: str
    engine: sa.Engine
    areas: pd.DataFrame
    truth: dict[str, pd.DataFrame]
    figures: dict[int, pd.DataFrame]  # level -> indicators.compute
    as_of: dt.date = DEMO_END

    @property
    def period_start(self) -> dt.date:
        return default_period_start(self.as_of)

    def options(self, **extra) -> dict:
        return dict(context=ADMIN, areas=self.areas, as_of=self.as_of,
                    period_start=self.period_start, **extra)

    def at(self, level: int) -> list[str]:
        return sorted(self.areas.loc[self.areas["level"] == level, "area_id"])


@pytest.fixture(scope="module")
def demo_file(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("lists_demo") / "registry.db"
    generate(Options(out=out, households=1500, seed=7, end_date=DEMO_END))
    return out


@pytest.fixture(scope="module", params=BACKENDS)
def demo(request, demo_file) -> Demo:
    """The demo registry on each backend (PostgreSQL: a database of its own, dropped after)."""
    admin = None
    if request.param == "sqlite":
        engine = open_registry(f"sqlite:///{demo_file}")
    elif request.param == "duckdb":
        engine = open_registry(f"duckdb:///{copy_sqlite_to_duckdb(demo_file, demo_file.with_suffix('.duckdb'))}")
    else:
        admin_url = postgres_admin_url()
        name = f"socle_lists_{uuid.uuid4().hex[:8]}"
        admin = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
        url = make_url(admin_url).set(database=name).render_as_string(hide_password=False)
        copy_sqlite_to_postgres(str(demo_file), url)
        engine = open_registry(url)
    truth_folder = output_paths(demo_file)[1]
    truth = {path.stem: pd.read_csv(path, dtype=str, keep_default_na=False, na_values=[""])
             for path in truth_folder.glob("*.csv")}
    start = default_period_start(DEMO_END)
    figures = {level: compute(engine, as_of=DEMO_END, period_start=start, level=level)
               for level in (2, 3)}
    yield Demo(request.param, engine, read_areas(engine), truth, figures)
    engine.dispose()
    if admin is not None:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


def test_counts_equal_the_numerators_everywhere(demo):
    """Whole registry, every district and every tehsil: list rows == indicator numerator."""
    assert demo.at(2) and demo.at(3)
    nonzero = set()
    for list_id, indicator_id in NUMERATOR_OF.items():
        for level, area_id in [(2, None)] + [(2, a) for a in demo.at(2)] + [
                (3, a) for a in demo.at(3)]:
            expected = numerator(demo.figures[level], indicator_id, area_id)
            got = count_rows(demo.engine, list_id, area_id=area_id, **demo.options())
            assert got == expected, (list_id, area_id)
            if area_id and got:
                nonzero.add(list_id)
    assert nonzero == set(NUMERATOR_OF)  # every list is exercised in some area


def test_list_frames_have_as_many_rows_as_counted(demo):
    district = demo.at(2)[0]
    for list_id in LIST_IDS:
        frame = list_frame(demo.engine, list_id, area_id=district, **demo.options())
        assert len(frame) == count_rows(demo.engine, list_id, area_id=district,
                                        **demo.options())
        assert list(frame.columns) == [c.name for c in LIST_BY_ID[list_id].columns]


def test_data_quality_rows_name_their_rule_and_match_every_dq_numerator(demo):
    whole = list_frame(demo.engine, "data_quality_rows", **demo.options())
    assert whole["rule_id"].notna().all() and whole["rule"].notna().all()
    per_indicator = whole["indicator_id"].value_counts()
    figures = demo.figures[2]
    for indicator_id in (*AREA_DQ, "dq.invalid_rows"):
        assert per_indicator.get(indicator_id, 0) == numerator(figures, indicator_id, None)
    invalid = whole[whole["indicator_id"] == "dq.invalid_rows"]
    for table, rows in invalid.groupby("table"):
        assert len(rows) == numerator(figures, "dq.invalid_rows", None, f"table={table}")
    # A left-out row is listed once, under one reason.
    assert not invalid.duplicated(["table", "row_id"]).any()
    known = {(r.table, r.rule_id) for r in DQ_RULES}
    assert set(zip(whole["table"], whole["rule_id"], strict=True)) <= known
    # Per area, the three area-level rules.
    for level in (2, 3):
        for area_id in demo.at(level):
            frame = list_frame(demo.engine, "data_quality_rows", area_id=area_id,
                               **demo.options())
            counts = frame["indicator_id"].value_counts()
            for indicator_id in AREA_DQ:
                assert counts.get(indicator_id, 0) == numerator(
                    demo.figures[level], indicator_id, area_id), (indicator_id, area_id)


def test_the_planted_problems_are_on_the_lists(demo):
    options = demo.options()
    truth = demo.truth
    dipping = list_frame(demo.engine, "double_dipping", **options)
    planted = truth["double_dipping"]
    assert set(planted["household_id"]) <= set(dipping["household_id"])
    listed = dipping.set_index("household_id")
    for row in planted.itertuples():
        assert row.exclusive_group in listed.at[row.household_id, "exclusive_group"]
        programmes = listed.at[row.household_id, "programmes"].split(", ")
        assert {row.programme_id_a, row.programme_id_b} <= set(programmes)
        assert programmes == sorted(programmes)

    shared = list_frame(demo.engine, "shared_national_ids", **options)
    assert set(truth["shared_national_ids"]["person_id"]) <= set(shared["person_id"])
    assert (shared.groupby("national_id")["person_id"].transform("size")
            == shared["holders"]).all()

    double = list_frame(demo.engine, "double_enrolments", **options)
    listed_pairs = set(zip(double["programme_id"], double["unit_id"], strict=True))
    for row in truth["double_enrolments"].itertuples():
        unit_id = row.person_id if isinstance(row.person_id, str) else row.household_id
        assert (row.programme_id, unit_id) in listed_pairs

    dq = list_frame(demo.engine, "data_quality_rows", **options)
    listed_rules = set(zip(dq["table"], dq["row_id"], dq["rule_id"], strict=True))
    planted_rules = set(zip(truth["dirty_rows"]["table"], truth["dirty_rows"]["row_id"],
                            truth["dirty_rows"]["rule"], strict=True))
    assert planted_rules and planted_rules <= listed_rules


def test_in_list_and_parent_chain_filters_agree(demo):
    """Few descendant ids go as an IN list, many are selected through the parent chain."""
    for area_id in (demo.at(1)[0], demo.at(2)[-1], demo.at(3)[0]):
        for list_id in LIST_IDS:
            short = list_frame(demo.engine, list_id, area_id=area_id, **demo.options())
            chain = list_frame(demo.engine, list_id, area_id=area_id,
                               **demo.options(in_list_limit=0))
            pd.testing.assert_frame_equal(short, chain)
            assert count_rows(demo.engine, list_id, area_id=area_id,
                              **demo.options(in_list_limit=0)) == len(short)


def test_rows_stream_in_chunks(demo):
    whole = list_frame(demo.engine, "data_quality_rows", **demo.options())
    stream = list_rows(demo.engine, "data_quality_rows", chunk_size=50, **demo.options())
    first = next(stream)
    if demo.backend == "postgresql":
        # A server-side cursor: the registry's session is fetching from a declared cursor.
        with demo.engine.connect() as conn:
            queries = conn.execute(sa.text(
                "SELECT query FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()")).scalars()
            assert any(q.lstrip().upper().startswith("FETCH") for q in queries)
    chunks = [first, *stream]
    assert len(chunks) == -(-len(whole) // 50) > 2
    assert all(len(c) == 50 for c in chunks[:-1])
    pd.testing.assert_frame_equal(pd.concat(chunks, ignore_index=True), whole)
    limited = list_frame(demo.engine, "data_quality_rows", limit=7, **demo.options())
    pd.testing.assert_frame_equal(limited, whole.head(7))


# --------------------------------------------------------------------------- the fixture registry


@pytest.fixture
def fixture_engine(make_registry) -> sa.Engine:
    return make_registry(fx.fixture_tables())


def fixture_options(**extra) -> dict:
    return dict(context=ADMIN, as_of=fx.AS_OF, period_start=fx.PERIOD_START, **extra)


def test_fixture_lists_by_hand(fixture_engine):
    overdue = list_frame(fixture_engine, "overdue_referrals", **fixture_options())
    assert list(overdue["referral_id"]) == ["R6", "R13", "R5"]  # longest open first
    assert list(overdue["days_open"]) == [119, 44, 30]  # R5: exactly the SLA
    assert list(overdue["referred_on"]) == [fx.D("2025-11-01"), fx.D("2026-01-15"),
                                            fx.D("2026-01-29")]
    assert str(overdue["days_open"].dtype) == "Int64"
    first = overdue.iloc[0]
    assert (first["household_id"], first["programme_id"], first["programme_name"],
            first["access_point_id"], first["access_point_name"], first["area_id"],
            first["area_name"], first["status"]) == (
        "H3", "PP1", "Programme PP1", "AP4", "U12 mobile camp", "U12", "Union Twelve",
        "pending")

    shared = list_frame(fixture_engine, "shared_national_ids", **fixture_options())
    assert list(shared["person_id"]) == ["P1a", "P5a"]  # P3a's copies are not registered/valid
    assert set(shared["national_id"]) == {"1111111111111"}
    assert list(shared["person_name"]) == ["First P1a Last H1", "First P5a Last H5"]
    assert list(shared["holders"]) == [2, 2]

    double = list_frame(fixture_engine, "double_enrolments", **fixture_options())
    assert double.to_dict("records") == [{
        "unit": "household", "unit_id": "H1", "household_id": "H1", "programme_id": "PH1",
        "programme_name": "Programme PH1", "enrolments": 2,
        "first_enrolled_on": fx.D("2025-02-01"), "last_enrolled_on": fx.D("2025-03-01"),
        "area_id": "U11", "area_name": "Union Eleven"}]

    dipping = list_frame(fixture_engine, "double_dipping", **fixture_options())
    assert dipping.to_dict("records") == [{
        "household_id": "H1", "head_name": "First P1a Last H1", "area_id": "U11",
        "area_name": "Union Eleven", "exclusive_group": "CASH", "programmes": "PH1, PH2",
        "programme_count": 2}]


FIXTURE_DQ = {
    ("person", "adult_without_id"): {"P1b", "P4a", "PX2a"},
    ("person", "malformed_national_id"): {"P2a", "P5b", "PO"},
    ("household", "unassessed_household"): {"H4", "HX2"},
    ("household", "unknown_area"): {"HX1"},
    ("household", "area_not_lowest"): {"HX2"},
    ("person", "household_missing"): {"PO"},
    ("person", "household_left_out"): {"PX1a", "PX2a"},
    ("enrolment", "unknown_programme"): {"EX1"},
    ("enrolment", "programme_unit_unknown"): {"EX9"},
    ("enrolment", "both_unit_ids"): {"EX2"},
    ("enrolment", "no_unit_id"): {"EX3"},
    ("enrolment", "unit_mismatch"): {"EX6", "EX7"},
    ("enrolment", "unit_missing"): {"EX4", "EX5"},
    ("enrolment", "unit_left_out"): {"EX8", "EX10", "EX11"},
    ("referral", "bad_status"): {"RX2"},
    ("referral", "closed_on_missing"): {"RX3"},
    ("referral", "closed_on_before_referred_on"): {"RX4"},
    ("referral", "household_missing"): {"RX1"},
    ("referral", "household_left_out"): {"RX5", "RX6"},
}


def test_fixture_data_quality_rows_by_hand(fixture_engine):
    dq = list_frame(fixture_engine, "data_quality_rows", **fixture_options())
    got: dict = {}
    for row in dq.itertuples():
        got.setdefault((row.table, row.rule_id), set()).add(row.row_id)
    assert got == FIXTURE_DQ
    # Rules in the order DQ_RULES gives them; values say what is wrong.
    order = {(r.table, r.rule_id): n for n, r in enumerate(DQ_RULES)}
    ranks = [order[key] for key in zip(dq["table"], dq["rule_id"], strict=True)]
    assert ranks == sorted(ranks)
    value = dict(zip(zip(dq["rule_id"], dq["row_id"], strict=True), dq["value"], strict=True))
    assert value[("area_not_lowest", "HX2")] == "D1 (level 2)"
    assert value[("unknown_area", "HX1")] == "U99"
    assert value[("malformed_national_id", "P2a")] == "12345-6789012"
    assert value[("closed_on_before_referred_on", "RX4")] == (
        "closed 2025-12-01, referred 2025-12-10")
    assert value[("both_unit_ids", "EX2")] == "H2, P2a"
    assert value[("bad_status", "RX2")] == "closed"
    assert value[("adult_without_id", "P1b")] is None


@pytest.mark.parametrize(("area_id", "expected"), [
    ("P1", {"R5", "R6", "R13"}), ("D1", {"R5", "R6"}), ("U12", {"R6"}), ("D2", {"R13"}),
    ("P2", set()), ("U31", set()),
])
def test_area_filter_includes_descendants(fixture_engine, area_id, expected):
    for limit in (2_000, 0):
        frame = list_frame(fixture_engine, "overdue_referrals", area_id=area_id,
                           **fixture_options(in_list_limit=limit))
        assert set(frame["referral_id"]) == expected


def test_data_quality_rows_of_a_coarser_area_count_at_its_level_and_above(fixture_engine):
    def rows(area_id):
        frame = list_frame(fixture_engine, "data_quality_rows", area_id=area_id,
                           **fixture_options())
        return set(zip(frame["rule_id"], frame["row_id"], strict=True))

    # HX2 is recorded at D1 (not the lowest level): in D1 and P1, not in D1's union councils.
    assert ("area_not_lowest", "HX2") in rows("D1") and ("area_not_lowest", "HX2") in rows("P1")
    assert not {r for r in rows("U11") | rows("U12") if r[1] in ("HX2", "PX2a", "RX6")}
    # Unknown areas and missing households count for the whole registry only.
    everywhere = set().union(*(rows(a) for a in ("P1", "P2")))
    assert ("unknown_area", "HX1") not in everywhere and ("household_missing", "PO") not in everywhere


def test_counts_equal_the_fixture_numerators_at_every_level(fixture_engine):
    areas = read_areas(fixture_engine)
    for level in (1, 2, 3):
        figures = compute(fixture_engine, as_of=fx.AS_OF, period_start=fx.PERIOD_START,
                          level=level)
        for area_id in [None, *areas.loc[areas["level"] == level, "area_id"]]:
            for list_id, indicator_id in NUMERATOR_OF.items():
                assert count_rows(fixture_engine, list_id, area_id=area_id, areas=areas,
                                  **fixture_options()) == numerator(figures, indicator_id,
                                                                    area_id)
            dq = list_frame(fixture_engine, "data_quality_rows", area_id=area_id, areas=areas,
                            **fixture_options())["indicator_id"].value_counts()
            for indicator_id in AREA_DQ:
                assert dq.get(indicator_id, 0) == numerator(figures, indicator_id, area_id)


def test_rights_and_scope(fixture_engine):
    options = dict(as_of=fx.AS_OF, period_start=fx.PERIOD_START)
    for call in (list_rows, count_rows, list_frame):
        with pytest.raises(PermissionError, match="donor role sees aggregate figures only"):
            call(fixture_engine, "overdue_referrals", context=DONOR, **options)
    officer = UserContext("officer", areas=("D1",))
    frame = list_frame(fixture_engine, "overdue_referrals", context=officer, **options)
    assert set(frame["referral_id"]) == {"R5", "R6"}
    frame = list_frame(fixture_engine, "overdue_referrals", context=officer, area_id="U12",
                       **options)
    assert set(frame["referral_id"]) == {"R6"}
    for outside in ("D2", "P1", "U21"):
        with pytest.raises(ListPermissionError, match=f"Area `{outside}` is outside"):
            list_rows(fixture_engine, "overdue_referrals", context=officer, area_id=outside,
                      **options)
    # dq rows with no area (unknown area, missing household) are not in a scoped list.
    dq = list_frame(fixture_engine, "data_quality_rows", context=officer, **options)
    assert dq["area_id"].notna().all() and "HX1" not in set(dq["row_id"])
    with pytest.raises(UnknownAreaError, match="no area `U99`"):
        count_rows(fixture_engine, "overdue_referrals", context=ADMIN, area_id="U99", **options)
    with pytest.raises(UnknownListError, match="overdue_referrals, shared_national_ids"):
        list_rows(fixture_engine, "overdue", context=ADMIN, **options)


# --------------------------------------------------------------------------- pure functions


def test_catalogue_is_consistent():
    assert len(LIST_IDS) == len(set(LIST_IDS)) == 5
    for spec in LISTS:
        names = [c.name for c in spec.columns]
        assert len(names) == len(set(names))
        assert len(spec.title) <= 31 and spec.description
        assert spec.indicator_id == "dq.*" or spec.indicator_id in BY_ID
        assert {c.kind for c in spec.columns} <= {"text", "int", "date"}
        assert visible_columns(spec, ADMIN) == spec.columns
        assert not any(c.personal for c in visible_columns(spec, DONOR))
    personal = {(s.id, c.name) for s in LISTS for c in s.columns if c.personal}
    assert ("overdue_referrals", "person_name") in personal
    assert ("shared_national_ids", "national_id") in personal
    assert ("data_quality_rows", "value") in personal
    assert {r.indicator_id for r in DQ_RULES} == {i for i in BY_ID if i.startswith("dq.")}


def test_parse_list_ids():
    assert parse_list_ids("overdue_referrals, double_dipping,overdue_referrals") == [
        "overdue_referrals", "double_dipping"]
    assert parse_list_ids("all") == list(LIST_IDS)
    assert parse_list_ids("") == []
    with pytest.raises(UnknownListError, match="unknown list `nope`; the lists are: "):
        parse_list_ids("overdue_referrals,nope")
