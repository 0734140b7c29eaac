"""Snapshots: the indicators' long form frozen in the app store, for trends and meetings.

A snapshot is one computation (an as-of date, a level, a period, the parameters) and its
figures. The snapshot command (``python -m indicators.snapshot``) stores source "command"
snapshots, one per (as_of, level): storing again replaces it. Starting a meeting stores a
source "meeting" snapshot, one per meeting (data_access.meetings).

Complete or invisible (migration 0005): the snapshot command stores its whole run (every
date and level) through a :class:`SnapshotRun`, whose snapshots stay incomplete until the
run's last transaction replaces the older ones and marks its own complete. Every reader
here sees complete snapshots only, so a run killed midway leaves no date with levels from
two runs. ``store_snapshot`` (one date and level, one transaction) writes complete ones.

A figure row keeps the long form's columns except the period: ``period_end`` is the
snapshot's, and ``period_start`` the snapshot's for flow indicators (None for stock ones),
as the engine writes them, so ``indicators.figures.snapshot_long_form`` gives back the frame that was stored.

Reading series takes the user's Scope: only areas within it (whole-registry rows only for a
user who sees the whole registry), and for donors the figures are suppressed date by date
(:func:`series`).

Values are on the engine's scale (fractions for percent indicators). Timestamps are naive UTC.
SQLAlchemy Core only; functions take the app-store engine (data_access.app_store).
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import pandas as pd
import sqlalchemy as sa

from core.values import python_value

SOURCES: tuple[str, ...] = ("command", "meeting")
# Rows per executemany: a long form is 10k-100k rows; chunks keep memory and statements small.
CHUNK_ROWS = 5000

metadata = sa.MetaData()

# The tables of migration 0002 (data_access/migrations/versions/0002_*.py).
snapshot = sa.Table(
    "snapshot", metadata,
    sa.Column("snapshot_id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("taken_at", sa.DateTime, nullable=False),
    sa.Column("as_of", sa.Date, nullable=False),
    sa.Column("level", sa.Integer, nullable=False),
    sa.Column("period_start", sa.Date, nullable=False),
    sa.Column("period_end", sa.Date, nullable=False),
    sa.Column("source", sa.String(20), nullable=False),
    sa.Column("parameters", sa.Text, nullable=False),
    sa.Column("run_id", sa.String(32)),  # migration 0005: the run that wrote it
    sa.Column("complete", sa.Boolean, nullable=False, server_default=sa.true()),
)

snapshot_figure = sa.Table(
    "snapshot_figure", metadata,
    sa.Column("figure_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
              primary_key=True, autoincrement=True),
    sa.Column("snapshot_id", sa.Integer, sa.ForeignKey("snapshot.snapshot_id"), nullable=False),
    sa.Column("indicator_id", sa.String(100), nullable=False),
    sa.Column("area_id", sa.String(100)),
    sa.Column("area_name", sa.Text),
    sa.Column("level", sa.Integer),
    sa.Column("programme_id", sa.String(100)),
    sa.Column("breakdown", sa.String(200)),
    sa.Column("numerator", sa.BigInteger),
    sa.Column("denominator", sa.BigInteger),
    sa.Column("value", sa.Double),
)

FIGURE_COLUMNS: tuple[str, ...] = (
    "indicator_id", "area_id", "area_name", "level", "programme_id", "breakdown",
    "numerator", "denominator", "value",
)
SERIES_COLUMNS: tuple[str, ...] = (
    "as_of", "indicator_id", "area_id", "area_name", "value", "numerator", "denominator",
    "source", "snapshot_id",
)


@dataclass(frozen=True)
class Snapshot:
    snapshot_id: int
    taken_at: dt.datetime
    as_of: dt.date
    level: int
    period_start: dt.date
    period_end: dt.date
    source: str
    parameters: dict[str, Any]


def utcnow() -> dt.datetime:
    """Now as naive UTC, the app store's timestamp convention."""
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


def as_naive_utc(moment: dt.datetime) -> dt.datetime:
    """An aware datetime converted to naive UTC; a naive one is taken as UTC already."""
    if moment.tzinfo is None:
        return moment
    return moment.astimezone(dt.UTC).replace(tzinfo=None)


def _figure_records(figures: pd.DataFrame, snapshot_id: int) -> Iterator[list[dict]]:
    missing = [c for c in FIGURE_COLUMNS if c not in figures.columns]
    if missing:
        raise ValueError(f"the figures lack the long-form column(s) {', '.join(missing)}")
    frame = figures[list(FIGURE_COLUMNS)]
    chunk: list[dict] = []
    for row in frame.itertuples(index=False, name=None):
        record = {name: python_value(value) for name, value in zip(FIGURE_COLUMNS, row, strict=True)}
        if record["indicator_id"] is None:
            raise ValueError("a figure has no indicator_id")
        for name in ("level", "numerator", "denominator"):
            if record[name] is not None:
                record[name] = int(record[name])
        if record["value"] is not None:
            record["value"] = float(record["value"])
        record["snapshot_id"] = snapshot_id
        chunk.append(record)
        if len(chunk) >= CHUNK_ROWS:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def insert_snapshot(conn: sa.Connection, figures: pd.DataFrame, *, as_of: dt.date, level: int,
                    period_start: dt.date, period_end: dt.date,
                    parameters: Mapping[str, Any], source: str,
                    run_id: str | None = None, complete: bool = True) -> int:
    """Insert a snapshot and its figures on an open transaction; its id.

    For data_access.meetings, which stores the meeting in the same transaction, and for
    SnapshotRun (``run_id``, ``complete`` false until the run ends).
    """
    if source not in SOURCES:
        raise ValueError(f"unknown snapshot source `{source}` (sources: {', '.join(SOURCES)})")
    if period_start > period_end:
        raise ValueError(f"period_start {period_start} is after period_end {period_end}")
    snapshot_id = conn.execute(
        snapshot.insert().values(
            taken_at=utcnow(), as_of=as_of, level=int(level), period_start=period_start,
            period_end=period_end, source=source,
            parameters=json.dumps(dict(parameters), sort_keys=True, default=str),
            run_id=run_id, complete=complete,
        )
    ).inserted_primary_key[0]
    for chunk in _figure_records(figures, snapshot_id):
        conn.execute(snapshot_figure.insert(), chunk)  # executemany
    return int(snapshot_id)


def _delete_snapshots(conn: sa.Connection, snapshot_ids: Sequence[int]) -> None:
    if not snapshot_ids:
        return
    # No ON DELETE CASCADE: SQLite enforces foreign keys only with a pragma; delete children first.
    conn.execute(snapshot_figure.delete().where(snapshot_figure.c.snapshot_id.in_(snapshot_ids)))
    conn.execute(snapshot.delete().where(snapshot.c.snapshot_id.in_(snapshot_ids)))


def store_snapshot(store: sa.Engine, figures: pd.DataFrame, *, as_of: dt.date, level: int,
                   period_start: dt.date, period_end: dt.date, parameters: Mapping[str, Any],
                   source: str = "command") -> int:
    """Store the long form ``figures`` as a snapshot; its id. One transaction.

    A "command" snapshot replaces the command snapshot of the same (as_of, level), so storing
    twice leaves one. A "meeting" snapshot is always new (use data_access.meetings.start_meeting).
    ``parameters``: poverty_cutoff, referral_sla_days, period_months (kept as JSON).
    """
    with store.begin() as conn:
        if source == "command":
            old = conn.execute(sa.select(snapshot.c.snapshot_id).where(
                snapshot.c.source == "command", snapshot.c.as_of == as_of,
                snapshot.c.level == int(level), snapshot.c.complete)).scalars().all()
            _delete_snapshots(conn, list(old))
        return insert_snapshot(conn, figures, as_of=as_of, level=level,
                               period_start=period_start, period_end=period_end,
                               parameters=parameters, source=source)


class SnapshotRun:
    """One run of the snapshot command: every date and level it stores, visible together.

    ``store`` writes one (as_of, level) in a transaction of its own, incomplete: no reader
    sees it. ``finish`` then, in one transaction, deletes the command snapshots the run
    replaces (the complete ones of its dates and levels, and anything an interrupted run
    left of them) and marks the run's snapshots complete. A run that fails calls
    ``abandon`` (its rows go); one killed leaves incomplete rows that nobody sees and that
    the next run removes (``purge_abandoned``).
    """

    def __init__(self, store: sa.Engine) -> None:
        self.store = store
        self.run_id = uuid.uuid4().hex
        self.started_at = utcnow()
        self.stored: list[tuple[dt.date, int]] = []

    def add(self, figures: pd.DataFrame, *, as_of: dt.date, level: int,
            period_start: dt.date, period_end: dt.date,
            parameters: Mapping[str, Any]) -> int:
        """Store one date and level of the run (invisible until ``finish``); its id."""
        with self.store.begin() as conn:
            snapshot_id = insert_snapshot(
                conn, figures, as_of=as_of, level=level, period_start=period_start,
                period_end=period_end, parameters=parameters, source="command",
                run_id=self.run_id, complete=False)
        self.stored.append((as_of, int(level)))
        return snapshot_id

    def finish(self) -> None:
        """Make the whole run visible at once, in place of what it replaces."""
        with self.store.begin() as conn:
            for as_of, level in sorted(set(self.stored)):
                replaced = conn.execute(sa.select(snapshot.c.snapshot_id).where(
                    snapshot.c.source == "command", snapshot.c.as_of == as_of,
                    snapshot.c.level == level,
                    sa.or_(snapshot.c.run_id.is_(None), snapshot.c.run_id != self.run_id),
                )).scalars().all()
                _delete_snapshots(conn, list(replaced))
            marked = conn.execute(snapshot.update().where(snapshot.c.run_id == self.run_id)
                                  .values(complete=True)).rowcount
            if marked != len(self.stored):
                # Another run finished the same dates and levels meanwhile and removed ours.
                raise RuntimeError(f"snapshot run {self.run_id}: {marked} of "
                                   f"{len(self.stored)} snapshots left to mark complete")

    def abandon(self) -> None:
        """Remove what the run stored (it failed before ``finish``)."""
        with self.store.begin() as conn:
            mine = conn.execute(sa.select(snapshot.c.snapshot_id).where(
                snapshot.c.run_id == self.run_id, sa.not_(snapshot.c.complete))).scalars().all()
            _delete_snapshots(conn, list(mine))
        self.stored.clear()


@contextmanager
def snapshot_run(store: sa.Engine) -> Iterator[SnapshotRun]:
    """A run of snapshots, visible as a whole when the block ends, removed if it fails
    (what runs killed long ago left is purged first: invisible anyway)."""
    purge_abandoned(store)
    run = SnapshotRun(store)
    try:
        yield run
    except BaseException:
        try:
            run.abandon()
        except sa.exc.SQLAlchemyError:
            pass  # invisible anyway; the next run purges it
        raise
    run.finish()


def purge_abandoned(store: sa.Engine, older_than: dt.timedelta = dt.timedelta(hours=6)) -> int:
    """Remove incomplete snapshots that a killed run left more than ``older_than`` ago
    (a run still going is younger); the number removed."""
    with store.begin() as conn:
        left = conn.execute(sa.select(snapshot.c.snapshot_id).where(
            sa.not_(snapshot.c.complete), snapshot.c.taken_at < utcnow() - older_than
        )).scalars().all()
        _delete_snapshots(conn, list(left))
    return len(left)


def _snapshot_of(row: sa.Row) -> Snapshot:
    return Snapshot(snapshot_id=int(row.snapshot_id), taken_at=row.taken_at, as_of=row.as_of,
                    level=int(row.level), period_start=row.period_start,
                    period_end=row.period_end, source=row.source,
                    parameters=json.loads(row.parameters))


def get_snapshot(store: sa.Engine, snapshot_id: int) -> Snapshot:
    """The snapshot ``snapshot_id``; KeyError when there is none."""
    with store.connect() as conn:
        row = conn.execute(sa.select(snapshot).where(snapshot.c.snapshot_id == snapshot_id,
                                                     snapshot.c.complete)).first()
    if row is None:
        raise KeyError(f"no snapshot {snapshot_id}")
    return _snapshot_of(row)


def snapshots(store: sa.Engine, *, level: int | None = None,
              source: str | None = None) -> list[Snapshot]:
    """Snapshots (of a level, of a source), oldest as-of first."""
    query = (sa.select(snapshot).where(snapshot.c.complete)
             .order_by(snapshot.c.as_of, snapshot.c.level, snapshot.c.snapshot_id))
    if level is not None:
        query = query.where(snapshot.c.level == int(level))
    if source is not None:
        query = query.where(snapshot.c.source == source)
    with store.connect() as conn:
        return [_snapshot_of(row) for row in conn.execute(query)]


def snapshot_dates(store: sa.Engine, level: int, *, source: str | None = "command") -> list[dt.date]:
    """The as-of dates with a snapshot of ``level``, oldest first (source None: any source)."""
    query = (sa.select(snapshot.c.as_of).where(snapshot.c.level == int(level),
                                               snapshot.c.complete)
             .distinct().order_by(snapshot.c.as_of))
    if source is not None:
        query = query.where(snapshot.c.source == source)
    with store.connect() as conn:
        return list(conn.execute(query).scalars())


_INT_COLUMNS = ("level", "numerator", "denominator")


def typed_long_form(frame: pd.DataFrame) -> pd.DataFrame:
    """The dtypes of indicators.engine's long form: Int64 counts, Float64 value, None for empty.

    Other columns (text, dates) are object columns holding None for empty cells.
    """
    for col in frame.columns:
        cells = [python_value(v) for v in frame[col]]
        if col in _INT_COLUMNS:
            frame[col] = pd.array(cells, dtype="Int64")
        elif col == "value":
            frame[col] = pd.array(cells, dtype="Float64")
        elif col == "snapshot_id":
            frame[col] = pd.array(cells, dtype="int64")
        else:
            frame[col] = pd.Series(cells, index=frame.index, dtype=object)
    return frame


def stored_figures(store: sa.Engine, snapshot_id: int) -> pd.DataFrame:
    """The figures of a snapshot in the order they were stored, each row with the snapshot's
    ``period_start`` and ``period_end`` (indicators.figures.snapshot_long_form blanks the
    period start of stock indicators, which the store does not tell apart)."""
    info = get_snapshot(store, snapshot_id)
    with store.connect() as conn:
        result = conn.execute(
            sa.select(*[snapshot_figure.c[c] for c in FIGURE_COLUMNS])
            .where(snapshot_figure.c.snapshot_id == snapshot_id)
            .order_by(snapshot_figure.c.figure_id))
        frame = pd.DataFrame(result.fetchall(), columns=list(FIGURE_COLUMNS), dtype=object)
    frame["period_start"] = [info.period_start] * len(frame)
    frame["period_end"] = [info.period_end] * len(frame)
    return frame


def in_values(column: sa.ColumnElement, values: Iterable[str | None]) -> sa.ColumnElement:
    """column IN values, with None meaning IS NULL."""
    values = list(values)
    given = [v for v in values if v is not None]
    parts = [column.in_(given)] if given else []
    if len(given) < len(values):
        parts.append(column.is_(None))
    return sa.or_(*parts) if parts else sa.false()


def stored_series(store: sa.Engine, *, indicator_ids: Iterable[str], area_ids: Iterable[str | None],
            level: int, programme_id: str | None = None,
            source: str | None = None) -> pd.DataFrame:
    f, s = snapshot_figure, snapshot
    query = (
        sa.select(s.c.as_of, f.c.indicator_id, f.c.area_id, f.c.area_name, f.c.value,
                  f.c.numerator, f.c.denominator, s.c.source, s.c.snapshot_id, s.c.taken_at)
        .select_from(f.join(s, f.c.snapshot_id == s.c.snapshot_id))
        .where(s.c.level == int(level), s.c.complete,
               f.c.indicator_id.in_(list(indicator_ids)),
               in_values(f.c.area_id, area_ids), f.c.breakdown.is_(None),
               in_values(f.c.programme_id, [programme_id]))
    )
    if source is not None:
        query = query.where(s.c.source == source)
    with store.connect() as conn:
        result = conn.execute(query)
        frame = pd.DataFrame(result.fetchall(), columns=list(result.keys()), dtype=object)
    if frame.empty:
        return typed_long_form(pd.DataFrame(columns=list(SERIES_COLUMNS), dtype=object))
    frame["_rank"] = (frame["source"] != "command").astype(int)
    frame["_area"] = frame["area_id"].map(lambda a: "" if a is None else a)
    frame = frame.sort_values(["as_of", "indicator_id", "_area", "_rank", "taken_at",
                               "snapshot_id"], ascending=[True, True, True, True, False, False])
    frame = frame.drop_duplicates(["as_of", "indicator_id", "_area"], keep="first")
    return typed_long_form(frame[list(SERIES_COLUMNS)].reset_index(drop=True))


def command_snapshots_on(store: sa.Engine, as_of: dt.date) -> list[tuple[int, dt.datetime]]:
    """(snapshot_id, taken_at) of the command snapshots of ``as_of``, oldest first."""
    with store.connect() as conn:
        rows = conn.execute(
            sa.select(snapshot.c.snapshot_id, snapshot.c.taken_at)
            .where(snapshot.c.as_of == as_of, snapshot.c.source == "command",
                   snapshot.c.complete)
            .order_by(snapshot.c.snapshot_id)).all()
    return [(int(snapshot_id), taken_at) for snapshot_id, taken_at in rows]
