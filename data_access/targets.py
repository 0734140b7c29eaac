"""Donor targets in the app store: a baseline and a target value of an indicator.

Values are on the engine's scale: fractions for percent indicators (0.45 for 45 %), as
``value`` in the long form. The Excel template (exports.targets) takes percentages as users
write them (45) and converts. An area_id of None is the whole registry; a programme_id of
None a target on the indicator's rows without programme.

A target's key is (indicator_id, area_id, programme_id, target_on). Importing a key again
replaces its row. Because neither SQLite nor PostgreSQL treats two NULLs as equal in a unique
key, the replacement is a delete (IS NULL aware) then insert in one transaction, not an
"ON CONFLICT" on the unique constraint.

Scope: reading takes the user's Scope (only targets of areas within it; whole-registry
targets only for a user who sees the whole registry); storing is for admins, on areas within
their scope (ScopeError otherwise).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

import pandas as pd
import sqlalchemy as sa

from core.values import python_value
from data_access.scope import Scope, ScopeError
from data_access.snapshots import in_values, metadata, utcnow

TARGET_COLUMNS: tuple[str, ...] = (
    "indicator_id", "area_id", "programme_id", "baseline_on", "baseline_value",
    "target_on", "target_value",
)
KEY_COLUMNS: tuple[str, ...] = ("indicator_id", "area_id", "programme_id", "target_on")

# The table of migration 0002 (data_access/migrations/versions/0002_*.py).
target = sa.Table(
    "target", metadata,
    sa.Column("target_id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("indicator_id", sa.String(100), nullable=False),
    sa.Column("area_id", sa.String(100)),
    sa.Column("programme_id", sa.String(100)),
    sa.Column("baseline_on", sa.Date),
    sa.Column("baseline_value", sa.Double),
    sa.Column("target_on", sa.Date, nullable=False),
    sa.Column("target_value", sa.Double, nullable=False),
    sa.Column("imported_at", sa.DateTime, nullable=False),
)


def _same(column: sa.ColumnElement, value: object) -> sa.ColumnElement:
    return column.is_(None) if value is None else column == value


def _records(rows: pd.DataFrame) -> list[dict]:
    missing = [c for c in TARGET_COLUMNS if c not in rows.columns]
    if missing:
        raise ValueError(f"the target rows lack the column(s) {', '.join(missing)}")
    records = []
    for row in rows[list(TARGET_COLUMNS)].itertuples(index=False, name=None):
        record = {c: python_value(v) for c, v in zip(TARGET_COLUMNS, row, strict=True)}
        for col in ("baseline_on", "target_on"):
            value = record[col]
            if isinstance(value, pd.Timestamp | dt.datetime):
                record[col] = value.date()
        for col in ("baseline_value", "target_value"):
            if record[col] is not None:
                record[col] = float(record[col])
        if record["indicator_id"] is None or record["target_on"] is None \
                or record["target_value"] is None:
            raise ValueError("a target row lacks its indicator_id, target_on or target_value")
        records.append(record)
    return records


def require_target_admin(scope: Scope) -> None:
    """ScopeError unless the user may set targets (admins)."""
    if not scope.context.is_admin:
        raise ScopeError(f"Only administrators set targets (role `{scope.context.role}`).")


def store_targets(store: sa.Engine, rows: pd.DataFrame, *, scope: Scope) -> int:
    """Insert or replace targets by key, in one transaction; the number of keys stored.

    ``rows``: TARGET_COLUMNS, values on the engine's scale (exports.targets.read_targets
    gives such a frame). ScopeError for a user who is not an admin, or a row of an area
    outside the scope.
    """
    require_target_admin(scope)
    # A key given twice: the last row wins (exports.targets.read_targets reports duplicates).
    records = list({tuple(r[k] for k in KEY_COLUMNS): r for r in _records(rows)}.values())
    for record in records:
        scope.require(record["area_id"])
    now = utcnow()
    with store.begin() as conn:
        for record in records:
            conn.execute(target.delete().where(
                *[_same(target.c[k], record[k]) for k in KEY_COLUMNS]))
        if records:
            conn.execute(target.insert(), [{**r, "imported_at": now} for r in records])
    return len(records)


def targets(store: sa.Engine, *, scope: Scope, indicator_ids: Iterable[str] | None = None,
            area_ids: Iterable[str | None] | None = None) -> pd.DataFrame:
    """Stored targets (of these indicators and areas; None: all) within the scope, by key.

    Columns TARGET_COLUMNS + imported_at; empty cells None, values floats.
    """
    query = sa.select(*[target.c[c] for c in (*TARGET_COLUMNS, "imported_at")])
    if indicator_ids is not None:
        query = query.where(target.c.indicator_id.in_(list(indicator_ids)))
    if area_ids is not None:
        query = query.where(in_values(target.c.area_id, scope.keep_ids(area_ids)))
    # NULLS FIRST on both backends (PostgreSQL sorts NULL last by default, SQLite first).
    query = query.order_by(target.c.indicator_id, target.c.area_id.nulls_first(),
                           target.c.programme_id.nulls_first(), target.c.target_on,
                           target.c.target_id)
    with store.connect() as conn:
        result = conn.execute(query)
        frame = pd.DataFrame(result.fetchall(), columns=list(result.keys()), dtype=object)
    for col in frame.columns:
        frame[col] = pd.Series([python_value(v) for v in frame[col]], index=frame.index, dtype=object)
    return scope.keep(frame)
