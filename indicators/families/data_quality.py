"""Data quality: adults without national id, malformed ids, households without PMT score, rows left out."""

from __future__ import annotations

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.sql.elements import ColumnElement

from data_access import dialects
from data_access.registry_tables import UNREADABLE
from data_access.schema import enrolment, household, person, referral
from indicators.blocks import Blocks, count_if, read_frame, years_before
from indicators.families.base import Family, Run
from indicators.rollup import Rows, cell

EMITS: tuple[str, ...] = ("dq.adults_without_id", "dq.malformed_id", "dq.unassessed_households",
                          "dq.invalid_rows", "dq.malformed_dates")


def count_data_quality(conn: sa.Connection, b: Blocks
                       ) -> tuple[pd.DataFrame, pd.DataFrame, dict, dict]:
    """dq.* counts per raw area (the household's area_id as recorded, null when unknown)."""
    d = b.as_of
    persons = read_frame(conn, _person_query(b))
    households = read_frame(conn, sa.select(
        b.t.household.c.area_id, sa.func.count().label("households"),
        count_if(b.t.household.c.pmt_score.is_(None), "unassessed"),
    ).where(b.t.household.c.registered_on <= d).group_by(b.t.household.c.area_id))

    def count(query: sa.Select) -> int:
        return int(conn.execute(sa.select(sa.func.count()).select_from(query.subquery())).scalar())

    def valid_persons() -> int:
        if not b.materialised:
            return count(sa.select(b.valid_persons()))
        counts = b.person_counts()
        return int(conn.execute(sa.select(sa.func.coalesce(sa.func.sum(counts.c.persons), 0))
                                .where(counts.c.valid == 1)).scalar())

    totals, unreadable = {}, {}
    for name, table, valid in (
        ("household", household, lambda: count(sa.select(b.valid_households()))),
        ("person", person, valid_persons),
        ("enrolment", enrolment,
         lambda: count(sa.select(b.valid_enrolments(registered_only=False)))),
        ("referral", referral, lambda: count(sa.select(b.valid_referrals()))),
    ):
        rows = count(sa.select(table))
        totals[name] = (rows - valid(), rows)
        source = b.t.by_name[name]
        unreadable[name] = (count(sa.select(source).where(b.t.unreadable_dates(name) > 0))
                            if UNREADABLE in source.c else 0, rows)
    return persons, households, totals, unreadable


def _person_query(b: Blocks) -> sa.Select:
    """Per raw area, of the persons registered on d: adults, adults without an id, persons
    with an id, and those whose id is malformed."""
    if b.materialised:
        counts = b.person_counts()
        adult = counts.c.age.in_(("18-59", "60+"))  # a known birth date at least 18 years back

        def total(condition: ColumnElement, label: str) -> ColumnElement:
            return sa.func.coalesce(sa.func.sum(sa.case((condition, counts.c.persons), else_=0)),
                                    0).label(label)

        return (sa.select(counts.c.area_id.label("area_id"), total(adult, "adults"),
                          total(sa.and_(adult, counts.c.has_id == 0), "adults_without_id"),
                          total(counts.c.has_id == 1, "with_id"),
                          total(sa.and_(counts.c.has_id == 1, counts.c.well_formed == 0),
                                "malformed"))
                .where(counts.c.registered == 1).group_by(counts.c.area_id))
    adult_cutoff = b.date(years_before(b.params.as_of, 18))
    p_area = b.t.household.c.area_id
    well_formed = dialects.is_thirteen_digits(b.dialect, b.t.person.c.national_id)
    adult = sa.and_(b.t.person.c.birth_date.is_not(None), b.t.person.c.birth_date <= adult_cutoff)
    return sa.select(
        p_area.label("area_id"),
        count_if(adult, "adults"),
        count_if(sa.and_(adult, b.t.person.c.national_id.is_(None)), "adults_without_id"),
        count_if(b.t.person.c.national_id.is_not(None), "with_id"),
        count_if(sa.and_(b.t.person.c.national_id.is_not(None), sa.not_(well_formed)), "malformed"),
    ).select_from(b.t.person.outerjoin(b.t.household, b.t.household.c.household_id == b.t.person.c.household_id)
     ).where(b.t.person.c.registered_on <= b.as_of).group_by(p_area)


def _emit_data_quality(rows: Rows, persons: pd.DataFrame, households: pd.DataFrame,
                       totals: dict, unreadable: dict, wanted: set[str]) -> None:
    persons = persons.assign(area_id=persons["area_id"].astype(object))
    households = households.assign(area_id=households["area_id"].astype(object))
    person_t = rows.rollup(persons, [], ["adults", "adults_without_id", "with_id", "malformed"])
    household_t = rows.rollup(households, [], ["households", "unassessed"])
    for area_id in rows.targets():
        key = (area_id,)
        if "dq.adults_without_id" in wanted:
            rows.add("dq.adults_without_id", area_id, cell(person_t, key, "adults_without_id"),
                     cell(person_t, key, "adults"))
        if "dq.malformed_id" in wanted:
            rows.add("dq.malformed_id", area_id, cell(person_t, key, "malformed"),
                     cell(person_t, key, "with_id"))
        if "dq.unassessed_households" in wanted:
            rows.add("dq.unassessed_households", area_id, cell(household_t, key, "unassessed"),
                     cell(household_t, key, "households"))
    if "dq.invalid_rows" in wanted:
        rows.add("dq.invalid_rows", None, sum(v[0] for v in totals.values()),
                 sum(v[1] for v in totals.values()))
        for table_name, (left_out, total) in totals.items():
            rows.add("dq.invalid_rows", None, left_out, total, breakdown=f"table={table_name}")
    if "dq.malformed_dates" in wanted:
        rows.add("dq.malformed_dates", None, sum(v[0] for v in unreadable.values()),
                 sum(v[1] for v in unreadable.values()))
        for table_name, (bad, total) in unreadable.items():
            rows.add("dq.malformed_dates", None, bad, total, breakdown=f"table={table_name}")


def run(run: Run) -> None:
    _emit_data_quality(run.rows, *count_data_quality(run.conn, run.blocks), run.wanted)


FAMILY = Family("data_quality", EMITS, run)
