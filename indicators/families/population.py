"""Persons: population coverage (by sex, age and disability) and coverage of the census population."""

from __future__ import annotations

import pandas as pd
import sqlalchemy as sa

from indicators.blocks import AGE_BUCKETS, Blocks, count_if, read_frame
from indicators.catalogue import SEX
from indicators.families.base import Family, Run
from indicators.rollup import Rows, cell

EMITS: tuple[str, ...] = ("cov.population", "cov.population_census")


def count_population(conn: sa.Connection, b: Blocks) -> pd.DataFrame:
    """Registered persons and covered persons per raw area, sex, age bucket and disability."""
    if b.materialised:
        counts = b.person_counts()
        return read_frame(conn, sa.select(
            counts.c.area_id, counts.c.sex, counts.c.age, counts.c.disability,
            sa.func.sum(counts.c.persons).label("persons"),
            sa.func.sum(counts.c.persons * counts.c.covered).label("covered"),
        ).where(counts.c.valid == 1, counts.c.registered == 1)
         .group_by(counts.c.area_id, counts.c.sex, counts.c.age, counts.c.disability))
    persons = b.registered_persons()
    covered = b.is_covered(persons)
    age = b.age_bucket(persons.c.birth_date).label("age")
    disability = b.disability_label(persons.c.disability).label("disability")
    return read_frame(conn, sa.select(
        persons.c.area_id, persons.c.sex, age, disability,
        sa.func.count().label("persons"), count_if(covered, "covered"),
    ).group_by(persons.c.area_id, persons.c.sex, age, disability))


def _emit_population(rows: Rows, counts: pd.DataFrame, wanted: set[str]) -> None:
    frame = counts.copy()
    frame["sex"] = frame["sex"].astype(object)
    table_total = rows.rollup(frame, [], ["persons", "covered"])
    tables = {
        "sex": rows.rollup(frame, ["sex"], ["persons", "covered"]),
        "age": rows.rollup(frame, ["age"], ["persons", "covered"]),
        "disability": rows.rollup(frame, ["disability"], ["persons", "covered"]),
    }
    for area_id in rows.targets():
        covered = cell(table_total, (area_id,), "covered")
        if "cov.population" in wanted:
            rows.add("cov.population", area_id, covered, cell(table_total, (area_id,), "persons"))
            for label in SEX + tuple(f"age={a}" for a in AGE_BUCKETS) + ("disability=yes",
                                                                         "disability=no"):
                key_name, value = label.split("=", 1)
                key = (area_id, value)
                rows.add("cov.population", area_id, cell(tables[key_name], key, "covered"),
                         cell(tables[key_name], key, "persons"), breakdown=label)
        if "cov.population_census" in wanted:
            population = rows.tree.population(area_id)
            rows.add("cov.population_census", area_id, covered, population)


def run(run: Run) -> None:
    _emit_population(run.rows, run.shared("population", count_population), run.wanted)


FAMILY = Family("population", EMITS, run)
