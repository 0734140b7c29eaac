"""Blocking that adapts (linkage.blocking): each pass counted before scoring, a budget of
candidate pairs per person kept by splitting the blocks too dense, the keys tried in the
order proxy duplicates keep them, deterministic.

The registry of these tests is built with one huge block: 185 records of men whose fathers
are all called Gul Khan, first names all beginning with A, born 1980 to 1982 — the "father
and initial" pass pairs all of them — among 240 persons of unremarkable names. Planted in
the block: 25 men registered twice under one national id, the second record a year
younger and under another family name, in the same tehsil.
"""

from __future__ import annotations

import datetime as dt
import random

import pandas as pd
import pytest

from data_access.loader import write_registry
from data_access.registry import open_registry
from linkage import blocking
from linkage.job import connect, run_linkage
from linkage.model import BLOCKING_PASSES, BLOCKING_RULES, ModelOptions
from linkage.prepare import PERSON_COLUMNS, prepare_frame_in_duckdb

TWICE = 25              # men registered twice in the block
HUGE = 160 + TWICE      # records in the block
OTHERS = 240
FIRST_A = ["Ahmad", "Akbar", "Asad", "Ayaz", "Amjad", "Arif", "Adil", "Anwar", "Asif", "Azam",
           "Aftab", "Amir"]
GIVEN = ["Bilal", "Daud", "Farid", "Hamid", "Imran", "Javed", "Kamran", "Latif", "Naveed",
         "Omar", "Qasim", "Rashid", "Saeed", "Tariq", "Usman", "Waqar", "Yasir", "Zahid"]
FAMILIES = ["Khan", "Afridi", "Yousafzai", "Mohmand", "Shinwari", "Khattak", "Bangash",
            "Orakzai", "Durrani", "Tareen"]
TEHSILS = ["T1", "T2", "T3", "T4"]


def huge_block_persons() -> pd.DataFrame:
    """The registry's persons (PERSON_COLUMNS): the huge block, its planted duplicates and
    the others."""
    rnd = random.Random(15)
    rows = []

    def add(first, last, father, year, tehsil, national_id=None, sex="M"):
        i = len(rows)
        union_council = f"{tehsil}U{rnd.randrange(3)}"
        rows.append({"person_id": f"P{i:04d}", "household_id": f"H{i:04d}",
                     "national_id": national_id, "first_name": first, "last_name": last,
                     "father_name": father, "phone": None, "sex": sex,
                     "birth_date": dt.date(year, rnd.randrange(1, 13), rnd.randrange(2, 28)),
                     "registered_on": dt.date(2023, 1, 1), "area_id": union_council,
                     "area_parent": tehsil})

    for _ in range(HUGE - 2 * TWICE):
        add(rnd.choice(FIRST_A), rnd.choice(FAMILIES), "Gul Khan", rnd.choice((1980, 1981)),
            rnd.choice(TEHSILS))
    for i in range(TWICE):
        first, tehsil = rnd.choice(FIRST_A), rnd.choice(TEHSILS)
        national_id = f"17301{i:07d}1"
        add(first, "Khan", "Gul Khan", 1981, tehsil, national_id)
        add(first, "Afridi", "Gul Khan", 1982, tehsil, national_id)
    for i in range(OTHERS):
        add(f"{rnd.choice(GIVEN)}{i}", rnd.choice(FAMILIES), f"{rnd.choice(GIVEN)} {i}",
            rnd.randrange(1950, 2015), rnd.choice(TEHSILS), sex=rnd.choice("MF"))
    return pd.DataFrame(rows, columns=list(PERSON_COLUMNS))


@pytest.fixture(scope="module")
def persons() -> pd.DataFrame:
    return huge_block_persons()


def prepared(frame: pd.DataFrame):
    con = connect(threads=1)
    prepare_frame_in_duckdb(con, frame, "persons")
    return con


def join_count(con, sql: str) -> int:
    """Pairs a blocking rule gives, built one by one (what the plan counts without them)."""
    return con.execute(f"SELECT count(*) FROM persons l JOIN persons r ON ({sql}) "
                       "AND l.unique_id < r.unique_id").fetchall()[0][0]


def test_each_pass_is_counted_exactly_without_building_its_pairs(persons):
    con = prepared(persons)
    try:
        plan = blocking.plan_blocking(con, "persons", BLOCKING_PASSES, max_pairs_per_person=1e9)
        assert not plan.tightened and plan.rules == list(BLOCKING_RULES)
        father = next(p for p in plan.passes if p.name == "father and initial")
        assert father.largest_block == HUGE
        for p in plan.passes:
            exact = join_count(con, p.sql)
            if p.blocking_pass.symmetric:
                assert p.counted == exact, p.name
            else:  # keys that cross: about half the join of the two sides
                assert exact / 2 - 1 <= p.counted <= 2 * exact + 1, p.name
    finally:
        con.close()


def test_the_budget_splits_the_huge_block(persons):
    n = len(persons)
    budget = 3.0
    con = prepared(persons)
    try:
        declared = {name: join_count(con, sql) for name, sql in BLOCKING_RULES}
        plan = blocking.plan_blocking(con, "persons", BLOCKING_PASSES,
                                      max_pairs_per_person=budget)
        assert plan.counted > budget * n  # the huge block alone is over the budget
        assert plan.tightened and plan.planned <= budget * n
        father = next(p for p in plan.passes if p.name == "father and initial")
        # Split by a key added to its dense blocks: the tehsil first, the key the planted
        # duplicates (one id, two records) all keep — not the birth year, which they differ in.
        assert father.block_column is not None and father.added
        assert father.added[0] == "area_parent"
        assert father.kept["area_parent"] == 1.0 and father.kept["birth_year"] == 0.0
        assert father.planned < father.counted
        # The plan's count of the tightened pass is the pairs its rule gives, a subset of
        # the declared pass's pairs.
        assert join_count(con, father.sql) == father.planned
        declared_sql = father.blocking_pass.condition()
        assert join_count(con, f"({father.sql}) AND NOT ({declared_sql})") == 0
        # Passes with small blocks are left as they were.
        for p in plan.passes:
            if p.block_column is None:
                assert p.sql == dict(BLOCKING_RULES)[p.name]
                assert join_count(con, p.sql) == declared[p.name]
        # The blocking recall it estimates, on the duplicates sharing an id: all found by
        # the other passes as declared; after tightening, what the planned rules find.
        assert plan.proxies == TWICE
        others = " OR ".join(f"({sql})" for name, sql in plan.rules if name != "national id")
        found = con.execute(
            f"SELECT count(*) FROM persons l JOIN persons r ON l.national_id = r.national_id "
            f"AND l.unique_id < r.unique_id WHERE {others}").fetchall()[0][0]
        assert plan.recall_declared == 1.0
        assert plan.recall_planned == pytest.approx(found / TWICE)
        text = "\n".join(plan.lines())
        assert "over the budget" in text and "father and initial" in text
        assert "split by area_parent" in text
    finally:
        con.close()


def test_the_plan_is_deterministic(persons):
    tables = []
    for _ in range(2):
        con = prepared(persons)
        try:
            plan = blocking.plan_blocking(con, "persons", BLOCKING_PASSES,
                                          max_pairs_per_person=3.0)
            columns = [p.block_column for p in plan.passes if p.block_column]
            tables.append((plan.report(), plan.cap, con.execute(
                f"SELECT unique_id, {', '.join(columns)} FROM persons ORDER BY unique_id"
            ).fetchall()))
        finally:
            con.close()
    pd.testing.assert_frame_equal(tables[0][0], tables[1][0])
    assert tables[0][1:] == tables[1][1:]


def test_the_job_keeps_its_budget_on_the_huge_block(persons, tmp_path):
    """The job on a registry holding the huge block: the pass is tightened, the pairs it
    scores stay within the budget, and it says what each stage took."""
    url = f"sqlite:///{tmp_path / 'registry.db'}"
    households = pd.DataFrame({"household_id": persons["household_id"],
                               "area_id": persons["area_id"],
                               "registered_on": persons["registered_on"]})
    areas = pd.DataFrame(
        [{"area_id": "PK", "name": "Province", "level": 1, "parent_id": None}]
        + [{"area_id": t, "name": t, "level": 2, "parent_id": "PK"} for t in TEHSILS]
        + [{"area_id": u, "name": u, "level": 3, "parent_id": u[:2]}
           for u in sorted(set(persons["area_id"]))])
    people = persons.drop(columns=["area_id", "area_parent"]).assign(
        disability=False, is_head=True)
    writer = __import__("sqlalchemy").create_engine(url)
    write_registry(writer, {"area": areas, "household": households, "person": people})
    writer.dispose()
    engine = open_registry(url)
    try:
        budget = 3.0
        result = run_linkage(engine, ModelOptions(u_max_pairs=1e5, max_pairs_per_person=budget))
    finally:
        engine.dispose()
    assert result.plan is not None and result.plan.tightened
    assert result.blocking["comparisons"].sum() <= budget * len(persons)
    father = result.blocking.set_index("rule").loc["father and initial"]
    assert father["planned"] < father["counted"] and father["added_keys"]
    assert set(result.stages) >= {"reading", "preparing", "blocking plan", "training",
                                  "blocking", "scoring"}
