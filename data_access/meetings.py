"""Committee meetings of a district and their action points, in the app store.

Starting a meeting freezes the figures the committee looks at: the long form is stored as a
"meeting" snapshot (data_access.snapshots), one per meeting — two meetings the same day are
two meetings with two snapshots — and the meeting row, in one transaction. Action points
belong to an area, optionally to the meeting that raised them, and are closed (by someone,
optionally at a later meeting). ``changes`` compares a meeting's figures with the previous
meeting's; pages only show the result.

Scope: every function takes the user's :class:`~data_access.scope.Scope` and refuses an
area outside it (ScopeError) — a chair of Peshawar cannot read or write Nowshera's meetings or
action points — and frozen figures come back cut to the scope.

Timestamps are naive UTC. SQLAlchemy Core only, no Streamlit; every function takes the
app-store engine (data_access.app_store.open_app_store).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import pandas as pd
import sqlalchemy as sa

from data_access.scope import Scope
from data_access.snapshots import (
    as_naive_utc,
    insert_snapshot,
    metadata,
    snapshot,
    utcnow,
)

STATUSES: tuple[str, ...] = ("open", "closed")

# The tables of migration 0002 (data_access/migrations/versions/0002_*.py).
meeting = sa.Table(
    "meeting", metadata,
    sa.Column("meeting_id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("area_id", sa.String(100), nullable=False),
    sa.Column("area_name", sa.Text, nullable=False),
    sa.Column("as_of", sa.Date, nullable=False),
    sa.Column("started_at", sa.DateTime, nullable=False),
    sa.Column("started_by", sa.Text, nullable=False),
    sa.Column("snapshot_id", sa.Integer, sa.ForeignKey("snapshot.snapshot_id"), nullable=False),
    sa.Column("notes", sa.Text),
)

action_point = sa.Table(
    "action_point", metadata,
    sa.Column("action_id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("meeting_id", sa.Integer, sa.ForeignKey("meeting.meeting_id")),
    sa.Column("area_id", sa.String(100), nullable=False),
    sa.Column("text", sa.Text, nullable=False),
    sa.Column("owner", sa.Text, nullable=False),
    sa.Column("due_on", sa.Date, nullable=False),
    sa.Column("status", sa.String(10), nullable=False),
    sa.Column("created_at", sa.DateTime, nullable=False),
    sa.Column("created_by", sa.Text, nullable=False),
    sa.Column("closed_at", sa.DateTime),
    sa.Column("closed_by", sa.Text),
    sa.Column("closed_on_meeting_id", sa.Integer, sa.ForeignKey("meeting.meeting_id")),
    sa.Column("idempotency_key", sa.String(64)),  # migration 0005: unique where set
)

CHANGE_COLUMNS: tuple[str, ...] = ("indicator_id", "previous", "current", "change")


@dataclass(frozen=True)
class Meeting:
    meeting_id: int
    area_id: str
    area_name: str
    as_of: dt.date
    started_at: dt.datetime  # naive UTC
    started_by: str
    snapshot_id: int
    notes: str | None
    level: int  # of the frozen snapshot
    period_start: dt.date
    period_end: dt.date


@dataclass(frozen=True)
class ActionPoint:
    action_id: int
    meeting_id: int | None  # the meeting that raised it
    area_id: str
    text: str
    owner: str
    due_on: dt.date
    status: str  # open | closed
    created_at: dt.datetime
    created_by: str
    closed_at: dt.datetime | None
    closed_by: str | None
    closed_on_meeting_id: int | None

    @property
    def is_open(self) -> bool:
        return self.status == "open"

    def overdue(self, today: dt.date) -> bool:
        """Open and due before ``today``."""
        return self.is_open and self.due_on < today


def _required_text(value: str | None, field: str, what: str) -> str:
    text = (value or "").strip()
    if not text:
        raise ValueError(f"`{field}` is empty: {what}")
    return text


def _required_date(value: dt.date | None, field: str) -> dt.date:
    if value is None:
        raise ValueError(f"`{field}` is missing: give a date")
    if isinstance(value, dt.datetime):
        return value.date()
    if not isinstance(value, dt.date):
        raise ValueError(f"`{field}` must be a date, got {value!r}")
    return value


# ----------------------------------------------------------------------------- meetings

_MEETING_COLUMNS = (*meeting.c, snapshot.c.level, snapshot.c.period_start, snapshot.c.period_end)


def _meeting_query() -> sa.Select:
    return (sa.select(*_MEETING_COLUMNS)
            .select_from(meeting.join(snapshot, meeting.c.snapshot_id == snapshot.c.snapshot_id)))


def _newest_first(query: sa.Select) -> sa.Select:
    return query.order_by(meeting.c.started_at.desc(), meeting.c.meeting_id.desc())


def _meeting_of(row: sa.Row) -> Meeting:
    m = row._mapping
    return Meeting(meeting_id=int(m["meeting_id"]), area_id=m["area_id"],
                   area_name=m["area_name"], as_of=m["as_of"], started_at=m["started_at"],
                   started_by=m["started_by"], snapshot_id=int(m["snapshot_id"]),
                   notes=m["notes"], level=int(m["level"]), period_start=m["period_start"],
                   period_end=m["period_end"])


def start_meeting(store: sa.Engine, *, scope: Scope, area_id: str, area_name: str,
                  as_of: dt.date, started_by: str, figures: pd.DataFrame, level: int,
                  period_start: dt.date, period_end: dt.date, parameters: Mapping[str, Any],
                  notes: str | None = None, at: dt.datetime | None = None) -> Meeting:
    """Start a meeting of ``area_id``: freeze ``figures`` (long form; the rows within the
    scope) as a new "meeting" snapshot and record the meeting, in one transaction.

    ``at``: when it started (default now; the demo's history records past meetings)."""
    area_id = _required_text(area_id, "area_id", "choose the district of the meeting")
    scope.require(area_id)
    figures = scope.keep(figures)
    area_name = _required_text(area_name, "area_name", "give the district's name")
    started_by = _required_text(started_by, "started_by", "say who starts the meeting")
    as_of = _required_date(as_of, "as_of")
    with store.begin() as conn:
        snapshot_id = insert_snapshot(conn, figures, as_of=as_of, level=level,
                                      period_start=period_start, period_end=period_end,
                                      parameters=parameters, source="meeting")
        meeting_id = conn.execute(meeting.insert().values(
            area_id=area_id, area_name=area_name, as_of=as_of,
            started_at=utcnow() if at is None else as_naive_utc(at),
            started_by=started_by, snapshot_id=snapshot_id, notes=notes or None,
        )).inserted_primary_key[0]
        row = conn.execute(_meeting_query().where(meeting.c.meeting_id == meeting_id)).one()
    return _meeting_of(row)


def get_meeting(store: sa.Engine, meeting_id: int, *, scope: Scope) -> Meeting:
    """The meeting ``meeting_id``; KeyError when there is none, ScopeError when its area is
    outside the scope."""
    with store.connect() as conn:
        row = conn.execute(_meeting_query().where(meeting.c.meeting_id == meeting_id)).first()
    if row is None:
        raise KeyError(f"no meeting {meeting_id}")
    found = _meeting_of(row)
    scope.require(found.area_id)
    return found


def meetings(store: sa.Engine, area_id: str, *, scope: Scope) -> list[Meeting]:
    """The meetings of ``area_id``, newest first."""
    scope.require(area_id)
    with store.connect() as conn:
        rows = conn.execute(_newest_first(_meeting_query().where(meeting.c.area_id == area_id)))
        return [_meeting_of(row) for row in rows]


def latest_meeting(store: sa.Engine, area_id: str, before: dt.datetime | None = None, *,
                   scope: Scope) -> Meeting | None:
    """The newest meeting of ``area_id`` (started strictly before ``before`` if given)."""
    scope.require(area_id)
    query = _meeting_query().where(meeting.c.area_id == area_id)
    if before is not None:
        query = query.where(meeting.c.started_at < as_naive_utc(before))
    with store.connect() as conn:
        row = conn.execute(_newest_first(query).limit(1)).first()
    return None if row is None else _meeting_of(row)


def previous_meeting(store: sa.Engine, this: Meeting, *, scope: Scope) -> Meeting | None:
    """The meeting of the same area just before ``this`` one (None for the first)."""
    scope.require(this.area_id)
    earlier = sa.or_(
        meeting.c.started_at < this.started_at,
        sa.and_(meeting.c.started_at == this.started_at, meeting.c.meeting_id < this.meeting_id),
    )
    query = _meeting_query().where(meeting.c.area_id == this.area_id, earlier)
    with store.connect() as conn:
        row = conn.execute(_newest_first(query).limit(1)).first()
    return None if row is None else _meeting_of(row)


def set_meeting_notes(store: sa.Engine, meeting_id: int, notes: str | None, *,
                      scope: Scope) -> None:
    """Replace the meeting's notes (empty text clears them)."""
    get_meeting(store, meeting_id, scope=scope)
    with store.begin() as conn:
        done = conn.execute(meeting.update().where(meeting.c.meeting_id == meeting_id)
                            .values(notes=(notes or "").strip() or None)).rowcount
    if not done:
        raise KeyError(f"no meeting {meeting_id}")


# ------------------------------------------------------------------------- action points

def _action_of(row: sa.Row) -> ActionPoint:
    m = row._mapping
    return ActionPoint(
        action_id=int(m["action_id"]), meeting_id=m["meeting_id"], area_id=m["area_id"],
        text=m["text"], owner=m["owner"], due_on=m["due_on"], status=m["status"],
        created_at=m["created_at"], created_by=m["created_by"], closed_at=m["closed_at"],
        closed_by=m["closed_by"], closed_on_meeting_id=m["closed_on_meeting_id"])


def _require_meeting(conn: sa.Connection, meeting_id: int | None, field: str) -> None:
    if meeting_id is None:
        return
    found = conn.execute(sa.select(meeting.c.meeting_id)
                         .where(meeting.c.meeting_id == meeting_id)).first()
    if found is None:
        raise ValueError(f"`{field}` {meeting_id} is not a meeting")


class IdempotencyKeyReused(ValueError):
    """The idempotency key already stands for another action point (other text, owner,
    due date, area or meeting): the caller draws a new key."""


def _same_point(row: sa.Row, *, area_id: str, text: str, owner: str, due_on: dt.date,
                meeting_id: int | None) -> bool:
    m = row._mapping
    return (m["area_id"], m["text"], m["owner"], m["due_on"], m["meeting_id"]) == (
        area_id, text, owner, due_on, meeting_id)


def _by_key(conn: sa.Connection, key: str) -> sa.Row | None:
    return conn.execute(sa.select(action_point)
                        .where(action_point.c.idempotency_key == key)).first()


def add_action_point(store: sa.Engine, *, scope: Scope, area_id: str, text: str, owner: str,
                     due_on: dt.date | None, meeting_id: int | None = None,
                     created_by: str, at: dt.datetime | None = None,
                     idempotency_key: str | None = None) -> ActionPoint:
    """Record an open action point (at ``at``, default now); ValueError naming the field
    when one is missing.

    ``idempotency_key``: drawn with the form, kept until the add is confirmed. Adding again
    with the key of a point already recorded (a retried "Add" whose first attempt committed
    unseen: a lost confirmation, a server killed just after) returns that point and writes
    nothing. The same key with different contents raises IdempotencyKeyReused.
    """
    text = _required_text(text, "text", "write what is to be done")
    owner = _required_text(owner, "owner", "say who will do it")
    due_on = _required_date(due_on, "due_on")
    area_id = _required_text(area_id, "area_id", "choose the area of the action point")
    created_by = _required_text(created_by, "created_by", "say who records it")
    scope.require(area_id)
    same = {"area_id": area_id, "text": text, "owner": owner, "due_on": due_on,
            "meeting_id": meeting_id}
    try:
        with store.begin() as conn:
            if idempotency_key is not None:
                found = _by_key(conn, idempotency_key)
                if found is not None:
                    if not _same_point(found, **same):
                        raise IdempotencyKeyReused(
                            f"the idempotency key {idempotency_key} stands for action point "
                            f"{found._mapping['action_id']}")
                    return _action_of(found)
            _require_meeting(conn, meeting_id, "meeting_id")
            action_id = conn.execute(action_point.insert().values(
                meeting_id=meeting_id, area_id=area_id, text=text, owner=owner, due_on=due_on,
                status="open", created_at=utcnow() if at is None else as_naive_utc(at),
                created_by=created_by,
                idempotency_key=idempotency_key,
            )).inserted_primary_key[0]
            row = conn.execute(sa.select(action_point)
                               .where(action_point.c.action_id == action_id)).one()
    except sa.exc.IntegrityError:
        # Two attempts with one key at the same moment: the other one wrote it.
        if idempotency_key is None:
            raise
        with store.connect() as conn:
            found = _by_key(conn, idempotency_key)
        if found is None:
            raise
        if not _same_point(found, **same):
            raise IdempotencyKeyReused(
                f"the idempotency key {idempotency_key} stands for action point "
                f"{found._mapping['action_id']}") from None
        return _action_of(found)
    return _action_of(row)


def close_action_point(store: sa.Engine, action_id: int, *, scope: Scope,
                       meeting_id: int | None = None, closed_by: str,
                       at: dt.datetime | None = None) -> ActionPoint:
    """Close an open action point (at ``meeting_id`` if given; at the time ``at``, default
    now).

    KeyError when there is no such action point, ValueError when it is already closed,
    ScopeError when its area is outside the scope.
    """
    closed_by = _required_text(closed_by, "closed_by", "say who closes it")
    with store.begin() as conn:
        area_id = conn.execute(sa.select(action_point.c.area_id)
                               .where(action_point.c.action_id == action_id)).scalar()
        if area_id is not None:
            scope.require(area_id)
        _require_meeting(conn, meeting_id, "meeting_id")
        done = conn.execute(
            action_point.update()
            .where(action_point.c.action_id == action_id, action_point.c.status == "open")
            .values(status="closed", closed_at=utcnow() if at is None else as_naive_utc(at),
                    closed_by=closed_by,
                    closed_on_meeting_id=meeting_id)
        ).rowcount
        row = conn.execute(sa.select(action_point)
                           .where(action_point.c.action_id == action_id)).first()
    if row is None:
        raise KeyError(f"no action point {action_id}")
    if not done:
        raise ValueError(f"action point {action_id} is already closed")
    return _action_of(row)


def action_points(store: sa.Engine, area_id: str, *, scope: Scope, status: str | None = None,
                  include_descendants: Iterable[str] | None = None) -> list[ActionPoint]:
    """Action points of ``area_id`` (and of the given descendant areas within the scope), by
    due date.

    ``status``: "open", "closed" or None for both. The caller passes the descendants (the
    area tree is the registry's, not the app store's).
    """
    if status is not None and status not in STATUSES:
        raise ValueError(f"unknown status `{status}` (statuses: {', '.join(STATUSES)})")
    scope.require(area_id)
    areas = scope.keep_ids(dict.fromkeys([area_id, *(include_descendants or ())]))
    query = (sa.select(action_point).where(action_point.c.area_id.in_(areas))
             .order_by(action_point.c.due_on, action_point.c.action_id))
    if status is not None:
        query = query.where(action_point.c.status == status)
    with store.connect() as conn:
        return [_action_of(row) for row in conn.execute(query)]


# ------------------------------------------------------------------------------- changes

def _values(frame: pd.DataFrame | None, area_id: str | None) -> dict[str, float | None]:
    """{indicator_id: value} of the area's rows without programme and breakdown."""
    if frame is None or frame.empty:
        return {}
    keep = frame["programme_id"].isna() & frame["breakdown"].isna()
    keep &= frame["area_id"].isna() if area_id is None else (frame["area_id"] == area_id)
    out: dict[str, float | None] = {}
    for indicator_id, value in zip(frame.loc[keep, "indicator_id"], frame.loc[keep, "value"],
                                   strict=True):
        out[indicator_id] = None if pd.isna(value) else float(value)
    return out


def changes(current: pd.DataFrame, previous: pd.DataFrame | None,
            indicator_ids: Iterable[str], area_id: str | None) -> pd.DataFrame:
    """For each indicator, the area's previous value, current value and change.

    Rows without programme and without breakdown of ``area_id`` (None: the whole registry).
    change = current − previous on the engine's scale (fraction points for percent
    indicators); None when either value is missing. ``previous`` None: no previous meeting.
    Columns indicator_id, previous, current, change (object columns: floats or None).
    """
    now, before = _values(current, area_id), _values(previous, area_id)
    rows = []
    for indicator_id in indicator_ids:
        cur, prev = now.get(indicator_id), before.get(indicator_id)
        change = None if cur is None or prev is None else cur - prev
        rows.append((indicator_id, prev, cur, change))
    return pd.DataFrame(rows, columns=list(CHANGE_COLUMNS), dtype=object)
