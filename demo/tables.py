"""Turn the demo model into the contract's tables and write them: SQLite, GeoJSON, truth.

Ids are handed out in order of registration (households, persons), enrolment and referral,
as a registry would; rows are written in id order, which also keeps SQLite's primary-key
indexes append-only and fast.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import sqlalchemy as sa

from data_access.loader import bulk_write_sqlite
from demo.common import Columns, iso_dates, text_ids
from demo.geography import AccessPoints, Geography
from demo.people import Households, Persons
from demo.programmes import PROGRAMMES, Enrolments, Referrals

INDEXES = (
    ("ix_household_area_id", "household", "area_id"),
    ("ix_person_household_id", "person", "household_id"),
    ("ix_enrolment_programme_id", "enrolment", "programme_id"),
    ("ix_enrolment_household_id", "enrolment", "household_id"),
    ("ix_enrolment_person_id", "enrolment", "person_id"),
    ("ix_referral_household_id", "referral", "household_id"),
)


@dataclass
class Model:
    end_day: int
    geography: Geography
    access_points: AccessPoints
    households: Households
    persons: Persons
    enrolments: Enrolments
    referrals: Referrals


@dataclass
class Ids:
    """The text id of every model row (by model index), and the rows in id order."""

    ids: np.ndarray
    order: np.ndarray

    def of(self, index: np.ndarray) -> np.ndarray:
        """Ids for indices, None where the index is -1."""
        index = np.asarray(index)
        return np.where(index >= 0, self.ids[np.maximum(index, 0)], None)


def chronological_ids(prefix: str, width: int, *sort_keys: np.ndarray) -> Ids:
    """Ids numbered in order of the sort keys (most significant last, as np.lexsort)."""
    count = len(sort_keys[0])
    order = np.lexsort((np.arange(count), *sort_keys))
    rank = np.empty(count, dtype=np.int64)
    rank[order] = np.arange(1, count + 1)
    return Ids(text_ids(prefix, rank, max(width, len(str(count)))), order)


@dataclass
class Materialised:
    tables: dict[str, Columns]
    household: Ids
    person: Ids
    enrolment: Ids
    referral: Ids
    access_point: Ids


def materialise(model: Model) -> Materialised:
    geography, households, persons = model.geography, model.households, model.persons
    enrolments, referrals, points = model.enrolments, model.referrals, model.access_points
    household = chronological_ids("HH-", 8, households.registered_on)
    household_rank = np.empty(len(households), dtype=np.int64)
    household_rank[household.order] = np.arange(len(households))
    person = chronological_ids("PR-", 9, household_rank[persons.household], persons.registered_on)
    enrolment = chronological_ids("EN-", 9, enrolments.enrolled_on)
    referral = chronological_ids("RF-", 8, referrals.referred_on)
    point = Ids(text_ids("AP-", np.arange(1, len(points.area) + 1), 4), np.arange(len(points.area)))
    programme_ids = np.array([p.programme_id for p in PROGRAMMES], dtype=object)

    def programme_of(index: np.ndarray) -> np.ndarray:
        return np.where(index >= 0, programme_ids[np.maximum(index, 0)], None)

    area_ids = geography.area_id
    tables: dict[str, Columns] = {
        "area": {
            "area_id": area_ids,
            "name": geography.name,
            "level": geography.level,
            "parent_id": np.where(geography.parent >= 0,
                                  area_ids[np.maximum(geography.parent, 0)], None),
            "population": np.where(geography.population >= 0,
                                   geography.population.astype(object), None),
        },
        "access_point": {
            "access_point_id": point.ids,
            "name": points.name,
            "kind": points.kind,
            "area_id": area_ids[points.area],
            "latitude": points.lat,
            "longitude": points.lon,
            "opened_on": points.opened_on,
        },
        "programme": {
            "programme_id": programme_ids,
            "name": np.array([p.name for p in PROGRAMMES], dtype=object),
            "agency": np.array([p.agency for p in PROGRAMMES], dtype=object),
            "benefit_type": np.array([p.benefit_type for p in PROGRAMMES], dtype=object),
            "unit": np.array([p.unit for p in PROGRAMMES], dtype=object),
            "pmt_max": np.array([np.nan if p.pmt_max is None else p.pmt_max for p in PROGRAMMES]),
            "age_min": np.array([p.age_min for p in PROGRAMMES], dtype=object),
            "age_max": np.array([p.age_max for p in PROGRAMMES], dtype=object),
            "sex": np.array([p.sex for p in PROGRAMMES], dtype=object),
            "disability_only": np.array([p.disability_only for p in PROGRAMMES]),
            "exclusive_group": np.array([p.exclusive_group for p in PROGRAMMES], dtype=object),
            "started_on": np.array([np.datetime64(p.started_on, "D").astype(np.int64)
                                    for p in PROGRAMMES]),
        },
    }
    h = household.order
    tables["household"] = {
        "household_id": household.ids[h],
        "area_id": area_ids[households.area[h]],
        "registered_on": households.registered_on[h],
        "pmt_score": households.pmt_score[h],
        "access_point_id": point.of(households.access_point[h]),
        "latitude": households.lat[h],
        "longitude": households.lon[h],
    }
    p = person.order
    tables["person"] = {
        "person_id": person.ids[p],
        "household_id": household.ids[persons.household[p]],
        "national_id": persons.national_id[p],
        "first_name": persons.first_name[p],
        "last_name": persons.last_name[p],
        "father_name": persons.father_name[p],
        "phone": persons.phone[p],
        "sex": persons.sex[p],
        "birth_date": persons.birth_on[p],
        "disability": persons.disability[p],
        "is_head": persons.is_head[p],
        "registered_on": persons.registered_on[p],
    }
    e = enrolment.order
    tables["enrolment"] = {
        "enrolment_id": enrolment.ids[e],
        "programme_id": programme_ids[enrolments.programme[e]],
        "household_id": household.of(enrolments.household[e]),
        "person_id": person.of(enrolments.person[e]),
        "enrolled_on": enrolments.enrolled_on[e],
        "ended_on": enrolments.ended_on[e],
    }
    r = referral.order
    tables["referral"] = {
        "referral_id": referral.ids[r],
        "household_id": household.ids[referrals.household[r]],
        "person_id": person.of(referrals.person[r]),
        "from_programme_id": programme_of(referrals.from_programme[r]),
        "to_programme_id": programme_ids[referrals.to_programme[r]],
        "access_point_id": point.of(referrals.access_point[r]),
        "referred_on": referrals.referred_on[r],
        "status": referrals.status[r].copy(),
        "closed_on": referrals.closed_on[r].copy(),
    }
    # Dirty rows are planted into these arrays: make sure none is a view of the model.
    for columns in tables.values():
        for name, values in columns.items():
            columns[name] = np.array(values, copy=True)
    return Materialised(tables, household, person, enrolment, referral, point)


# --- SQLite -----------------------------------------------------------------------------------

def _sql_values(values: np.ndarray, column_type: sa.types.TypeEngine) -> list:
    """A column as Python values for sqlite3: ISO dates, 0/1 booleans, None for nulls."""
    if isinstance(column_type, sa.Date):
        return iso_dates(values).tolist()
    if isinstance(column_type, sa.Boolean):
        return np.asarray(values, dtype=bool).astype(np.int64).tolist()
    if isinstance(column_type, sa.Float):
        values = np.asarray(values, dtype=float)
        return np.where(np.isnan(values), None, values.astype(object)).tolist()
    return np.asarray(values).tolist()


def write_sqlite(path: Path, tables: dict[str, Columns]) -> None:
    """Write the demo's tables as a new SQLite registry (data_access.loader.bulk_write_sqlite:
    one transaction, then the demo's indexes), one table's values in memory at a time."""

    def values_of(table: sa.Table) -> list[list]:
        columns = tables[table.name]
        return [_sql_values(columns[c.name], c.type) for c in table.columns]

    bulk_write_sqlite(path, values_of, INDEXES)


def row_counts(tables: dict[str, Columns]) -> dict[str, int]:
    return {name: len(next(iter(columns.values()))) for name, columns in tables.items()}


def temporary_beside(path: Path) -> Path:
    """A temporary name in the same folder, so the final rename is atomic."""
    return path.with_name(f".{path.name}.{os.getpid()}.tmp")
