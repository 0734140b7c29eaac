"""The analytical copy: the registry's tables in a DuckDB file of Socle's own, for fast reading.

Committees read; the MIS writes. A registry that lives in SQLite or PostgreSQL is copied into a
columnar DuckDB file in Socle's data folder (``analytics.copy_folder``), never the registry,
and the indicators, lists and pages read the copy. The registry is only read, through its
read-only access (SQLite ``mode=ro``; PostgreSQL read-only transactions).

- **Streamed.** Each table is read as Arrow record batches by the ADBC driver of the source
  (``adbc_driver_sqlite``, ``adbc_driver_postgresql``: the rows never become Python objects)
  and written by DuckDB as it reads them. Dates are read as dates by the same rule as the live
  engine (``dialects.strict_date``); each table keeps ``_unreadable_dates``, the number of
  dates of a row that were present but unreadable (``dq.malformed_dates``).
- **Versioned.** A refresh writes a new file and then points ``current.json`` at it (an
  atomic rename), so a reader never sees a half-written copy; the previous version is kept
  for readers still on it, older ones are removed.
- **Incremental where the registry allows it.** The contract has no change stamp, but it has
  dates: rows registered, enrolled, ended, referred or closed on or after the last copy's
  latest such date are read again and replace their earlier version (by primary key); the
  small tables (areas, access points, programmes) are copied whole. If a table's row count
  then differs from the registry's (rows were deleted), the refresh is made whole. A change
  that moves no date (a referral accepted, a name corrected) is picked up by the next whole
  refresh (``analytics.whole_refresh_hours``).
"""

from __future__ import annotations

import atexit
import dataclasses
import datetime as dt
import json
import logging
import os
import shutil
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import make_url

from core.settings import Settings
from data_access import dialects
from data_access.loader import duckdb_type
from data_access.registry import registry_file
from data_access.registry_tables import COPY_MARKER, UNREADABLE
from data_access.schema import REGISTRY_TABLES, column_families

log = logging.getLogger(__name__)

POINTER = "current.json"
# Tables small enough to copy whole at every refresh.
SMALL_TABLES = ("area", "access_point", "programme")
Progress = Callable[[float, str], None]


class CopyError(RuntimeError):
    """The copy cannot be made or read; the message names the folder, file or source."""


@dataclass(frozen=True)
class CopyState:
    """A finished copy: its file, when it was made, from where, and how."""

    path: Path
    copied_at: dt.datetime  # naive UTC
    source: str  # the registry's URL, password hidden
    kind: str  # "whole" or "incremental"
    rows: dict[str, int] = field(default_factory=dict)
    watermarks: dict[str, str | None] = field(default_factory=dict)  # table -> latest date
    seconds: float = 0.0
    whole_at: dt.datetime | None = None  # when every row was last copied (naive UTC)

    def as_json(self) -> dict[str, Any]:
        return {"file": self.path.name, "copied_at": self.copied_at.isoformat(),
                "source": self.source, "kind": self.kind, "rows": self.rows,
                "watermarks": self.watermarks, "seconds": round(self.seconds, 3),
                "whole_at": (self.whole_at or self.copied_at).isoformat()}

    @property
    def url(self) -> str:
        """The SQLAlchemy URL of the copy (open it with data_access.registry.open_registry)."""
        return f"duckdb:///{self.path}"


def current_copy(folder: Path) -> CopyState | None:
    """The copy ``current.json`` points at, or None when there is none (yet)."""
    pointer = folder / POINTER
    try:
        data = json.loads(pointer.read_text())
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        raise CopyError(f"the copy's pointer `{pointer}` cannot be read: {exc}") from None
    path = folder / data["file"]
    if not path.is_file():
        return None
    copied_at = dt.datetime.fromisoformat(data["copied_at"])
    return CopyState(path=path, copied_at=copied_at,
                     source=data["source"], kind=data["kind"], rows=data.get("rows", {}),
                     watermarks=data.get("watermarks", {}), seconds=data.get("seconds", 0.0),
                     whole_at=dt.datetime.fromisoformat(data.get("whole_at") or data["copied_at"]))


# Reading the source as Arrow ----------------------------------------------------------------

def _safe(url: str) -> str:
    """The URL naming a registry in the copy's state: password hidden, a file's path whole."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite" and parsed.database:
        return f"sqlite:///{Path(parsed.database).resolve()}"
    return parsed.render_as_string(hide_password=True)


def _source_name(source: sa.Engine) -> str:
    """_safe of the registry behind ``source`` (its file when SQLite)."""
    path = registry_file(source) if source.dialect.name == "sqlite" else None
    return (f"sqlite:///{path.resolve()}" if path is not None
            else _safe(source.url.render_as_string(hide_password=False)))


@contextmanager
def _arrow_source(source: sa.Engine) -> Iterator[Callable[[str], Any]]:
    """A function running a query on the registry and giving an Arrow RecordBatchReader."""
    parsed = source.url
    backend = source.dialect.name
    if backend == "sqlite":
        import adbc_driver_sqlite.dbapi as adbc

        path = registry_file(source)
        if path is None or not path.is_file():
            raise CopyError(f"registry database file `{path}` does not exist")
        conn = adbc.connect(f"file:{path.resolve()}?mode=ro")  # read-only, as Socle's engine
    elif backend == "postgresql":
        import adbc_driver_postgresql.dbapi as adbc

        libpq = parsed.set(drivername="postgresql").render_as_string(hide_password=False)
        conn = adbc.connect(libpq)
        with conn.cursor() as cursor:
            cursor.execute("SET default_transaction_read_only = on")
    else:
        raise CopyError(f"no analytical copy from a `{backend}` registry (SQLite and "
                        "PostgreSQL are copied; a DuckDB registry is read as it is)")
    cursors = []

    def run(sql: str):
        cursor = conn.cursor()
        cursors.append(cursor)
        cursor.execute(sql)
        return cursor.fetch_record_batch()

    try:
        yield run
    finally:
        for cursor in cursors:
            cursor.close()
        conn.close()


def _source_select(table: sa.Table, backend: str, families: dict[str, tuple[str, str]],
                   where: str = "") -> str:
    """The source's SELECT of ``table``: every column in a type that stays the same across the
    table (SQLite columns may hold any type: a value of the wrong type is read as missing)."""
    parts = []
    for column in table.columns:
        name = column.name
        stored = families.get(name, ("any", ""))[0]
        if isinstance(column.type, sa.Date):
            kind = "date" if backend == "postgresql" and stored == "date" else "text"
        elif isinstance(column.type, sa.Boolean):
            kind = "boolean"
        elif isinstance(column.type, sa.Integer):
            kind = "integer"
        elif isinstance(column.type, sa.Float):
            kind = "real"
        else:
            kind = "text"
        if backend == "sqlite":
            number = f"typeof({name}) IN ('integer', 'real')"
            parts.append({
                "text": f"CAST({name} AS TEXT) AS {name}",
                "integer": f"CASE WHEN {number} THEN CAST({name} AS INTEGER) END AS {name}",
                "real": f"CASE WHEN {number} THEN CAST({name} AS REAL) END AS {name}",
                "boolean": f"CASE WHEN {number} THEN CAST({name} != 0 AS INTEGER) END AS {name}",
            }[kind])
        else:
            parts.append(f"CAST({name} AS TEXT) AS {name}" if kind == "text" else name)
    return f"SELECT {', '.join(parts)} FROM {table.name}{where}"


def _date_columns(table: sa.Table) -> list[str]:
    return [c.name for c in table.columns if isinstance(c.type, sa.Date)]


def _typed_select(table: sa.Table, source: str) -> str:
    """DuckDB's SELECT turning the source's rows into the copy's: contract types, dates read
    by the live engine's rule (dialects.strict_date), and the count of unreadable dates."""
    import duckdb_engine

    def duckdb_sql(expression: sa.ColumnElement) -> str:
        return str(expression.compile(dialect=duckdb_engine.Dialect(),
                                      compile_kwargs={"literal_binds": True}))

    columns, unreadable = [], []
    for column in table.columns:
        raw = sa.column(column.name)
        if isinstance(column.type, sa.Date):
            read = duckdb_sql(dialects.strict_date("duckdb", raw))
            columns.append(f"{read} AS {column.name}")
            unreadable.append(f"CASE WHEN {column.name} IS NOT NULL AND {read} IS NULL "
                              "THEN 1 ELSE 0 END")
        else:
            columns.append(f"CAST({column.name} AS {duckdb_type(column.type)}) AS {column.name}")
    count = " + ".join(unreadable) or "0"
    return f"SELECT {', '.join(columns)}, CAST({count} AS INTEGER) AS {UNREADABLE} FROM {source}"


# Writing the copy ---------------------------------------------------------------------------

def _new_path(folder: Path) -> Path:
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S%f")
    return folder / f"registry-{stamp}.duckdb"


def _write_pointer(folder: Path, state: CopyState) -> None:
    temporary = folder / f".{POINTER}.{os.getpid()}.tmp"
    temporary.write_text(json.dumps(state.as_json(), indent=1))
    os.replace(temporary, folder / POINTER)  # atomic: readers see the old copy or the new one


def _remove_old_versions(folder: Path, keep: set[Path]) -> None:
    for path in folder.glob("registry-*.duckdb"):
        if path not in keep:
            try:
                path.unlink()
            except OSError as exc:  # a reader on another machine still has it: next time
                log.warning("cannot remove the old copy %s: %s", path, exc)


def _watermark(con, table: sa.Table) -> str | None:
    dates = _date_columns(table)
    if not dates:
        return None
    greatest = ", ".join(f"max({c})" for c in dates)
    value = con.execute(f"SELECT greatest({greatest}) FROM {table.name}").fetchall()[0][0]
    return None if value is None else value.isoformat()


def _metadata(con, state: CopyState) -> None:
    con.execute(f"CREATE OR REPLACE TABLE {COPY_MARKER} (key VARCHAR, value VARCHAR)")
    con.execute(f"INSERT INTO {COPY_MARKER} VALUES (?, ?)",
                ["state", json.dumps(state.as_json())])


def _copy_table(con, run, table: sa.Table, backend: str,
                families: dict[str, tuple[str, str]], *, where: str = "",
                replace: bool = True) -> int:
    """Read ``table`` (rows matching ``where``) from the source into the copy; rows read."""
    reader = run(_source_select(table, backend, families, where))
    con.register("source_batches", reader)
    try:
        select = _typed_select(table, "source_batches")
        if replace:
            con.execute(f"CREATE OR REPLACE TABLE {table.name} AS {select}")
            return int(con.execute(f"SELECT count(*) FROM {table.name}").fetchall()[0][0])
        con.execute(f"CREATE OR REPLACE TEMP TABLE changed AS {select}")
    finally:
        con.unregister("source_batches")
    key = next(c.name for c in table.columns if c.primary_key)
    con.execute(f"DELETE FROM {table.name} WHERE {key} IN (SELECT {key} FROM changed)")
    con.execute(f"INSERT INTO {table.name} SELECT * FROM changed")
    changed = int(con.execute("SELECT count(*) FROM changed").fetchall()[0][0])
    con.execute("DROP TABLE changed")
    return changed


def _since(previous: CopyState) -> dt.date:
    """The first day whose dated rows an incremental refresh reads again: the previous copy's
    day, less one (a row written that day may carry that day's date in another time zone).
    Rows are stamped with the day something happened to them (registered, enrolled, ended,
    referred, closed), which is the day it was written or later; a row entered with an earlier
    date changes the table's row count, which makes the refresh whole."""
    return previous.copied_at.date() - dt.timedelta(days=1)


def _source_count(run, table: sa.Table) -> int:
    reader = run(f"SELECT count(*) AS n FROM {table.name}")
    return int(reader.read_all().column(0)[0].as_py())


def refresh(source: sa.Engine, folder: Path, *, incremental: bool = True,
            progress: Progress | None = None) -> CopyState:
    """Bring the copy of the registry behind ``source`` up to date; the new copy's state.

    Incremental when a copy of the same registry exists and ``incremental``; whole otherwise
    (or when the registry lost rows since). Raise CopyError naming what failed.
    """
    report = progress or (lambda fraction, message: None)
    started = time.perf_counter()
    backend = source.dialect.name
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise CopyError(f"cannot create the copy's folder `{folder}`: {exc}") from None
    previous = current_copy(folder)
    name = _source_name(source)
    incremental = bool(incremental and previous is not None and previous.source == name)
    families = column_families(source)
    path = _new_path(folder)
    import duckdb

    try:
        if incremental:
            assert previous is not None
            shutil.copyfile(previous.path, path)
        con = duckdb.connect(str(path))
    except (OSError, duckdb.Error) as exc:
        raise CopyError(f"cannot write the copy `{path}`: {exc}") from None
    rows: dict[str, int] = {}
    kind = "incremental" if incremental else "whole"
    try:
        with _arrow_source(source) as run:
            for index, table in enumerate(REGISTRY_TABLES):
                report(index / len(REGISTRY_TABLES), f"{kind} copy: {table.name}")
                stored = families.get(table.name, {})
                dates = _date_columns(table)
                if not incremental or table.name in SMALL_TABLES or not dates:
                    rows[table.name] = _copy_table(con, run, table, backend, stored)
                    continue
                assert previous is not None
                since = " OR ".join(f"{c} >= '{_since(previous).isoformat()}'" for c in dates)
                _copy_table(con, run, table, backend, stored, where=f" WHERE {since}",
                            replace=False)
                rows[table.name] = int(con.execute(
                    f"SELECT count(*) FROM {table.name}").fetchall()[0][0])
                if rows[table.name] != _source_count(run, table):
                    # Rows were deleted from the registry: only a whole copy can tell which.
                    con.close()
                    path.unlink(missing_ok=True)
                    log.info("copy: %s lost rows since the last copy; copying whole", table.name)
                    return refresh(source, folder, incremental=False, progress=progress)
            now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
            state = CopyState(
                path=path, copied_at=now, source=name, kind=kind, rows=rows,
                watermarks={t.name: _watermark(con, t) for t in REGISTRY_TABLES},
                seconds=round(time.perf_counter() - started, 3),
                whole_at=previous.whole_at if incremental and previous else now)
            _metadata(con, state)
        con.execute("CHECKPOINT")
        con.close()
    except CopyError:
        con.close()
        path.unlink(missing_ok=True)
        raise
    except Exception as exc:  # any failure leaves the previous copy in place
        con.close()
        path.unlink(missing_ok=True)
        raise CopyError(f"the copy of `{name}` failed: {exc}") from exc
    _write_pointer(folder, state)
    _remove_old_versions(folder, keep={path} | ({previous.path} if previous else set()))
    report(1.0, f"{kind} copy done")
    return state


# Which database the app reads ----------------------------------------------------------------

def uses_copy(settings: Settings) -> bool:
    """Whether indicators and lists read the analytical copy (``analytics.source``)."""
    source = settings["analytics.source"]
    if source != "auto":
        return source == "copy"
    return make_url(settings.database_url).get_backend_name() in ("sqlite", "postgresql")


def reading_settings(settings: Settings, state: CopyState) -> Settings:
    """``settings`` reading the copy: ``database.url`` is the copy's, ``analytics.registry_url``
    keeps the registry's (for refreshing and for saying where the copy comes from)."""
    values = dict(settings.values)
    values["analytics.registry_url"] = settings.database_url
    values["database.url"] = state.url
    values["analytics.copied_at"] = state.copied_at
    return dataclasses.replace(settings, values=values)


def due(state: CopyState | None, settings: Settings,
        now: dt.datetime | None = None) -> str | None:
    """What refresh the copy needs now: "whole", "incremental" or None."""
    if state is None:
        return "whole"
    now = now or dt.datetime.now(dt.UTC).replace(tzinfo=None)
    whole_hours = settings["analytics.whole_refresh_hours"]
    if whole_hours and now - (state.whole_at or state.copied_at) >= dt.timedelta(hours=whole_hours):
        return "whole"
    minutes = settings["analytics.refresh_minutes"]
    if minutes and now - state.copied_at >= dt.timedelta(minutes=minutes):
        return "incremental"
    return None


# How long a process that ends waits for a refresh under way. A daemon thread still inside
# DuckDB or the ADBC driver when the interpreter finalises aborts the process ("terminate
# called after throwing…", exit code 134), so the exit waits for it instead.
EXIT_WAIT_SECONDS = 600.0


class Refresher:
    """Keeps the copy of one folder up to date for a running app: the first copy is made
    before the first page (there is nothing to read without it); later ones run in a
    background thread, one at a time, while pages keep reading the current copy."""

    _by_folder: dict[Path, Refresher] = {}
    _guard = threading.Lock()

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._lock = threading.Lock()  # one refresh at a time
        self._thread: threading.Thread | None = None
        self.last_error: str | None = None
        self.doing: str | None = None  # "refreshing", "computing ahead" or None
        # Work to do after each refresh, in the background (the app computes the new copy's
        # default view ahead: indicators.cube); set by the layer that knows it.
        self.after_refresh: Callable[[CopyState], None] | None = None

    @classmethod
    def of(cls, folder: Path) -> Refresher:
        with cls._guard:
            if folder not in cls._by_folder:
                cls._by_folder[folder] = cls(folder)
            return cls._by_folder[folder]

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    @classmethod
    def wait_all(cls, timeout: float = EXIT_WAIT_SECONDS) -> None:
        """Wait for the background refreshes to end (at most ``timeout`` seconds in all)."""
        deadline = time.monotonic() + timeout
        with cls._guard:
            threads = [r._thread for r in cls._by_folder.values() if r._thread is not None]
        for thread in threads:
            thread.join(max(deadline - time.monotonic(), 0))

    def _run(self, registry_url: str, whole: bool) -> CopyState:
        from data_access.registry import open_registry

        with self._lock:
            registry = open_registry(registry_url)
            try:
                return refresh(registry, self.folder, incremental=not whole)
            finally:
                registry.dispose()

    def _background(self, registry_url: str, whole: bool | None) -> None:
        try:
            if whole is None:
                state = current_copy(self.folder)
            else:
                self.doing = "refreshing"
                state = self._run(registry_url, whole)
            self.last_error = None
            if self.after_refresh is not None and state is not None:
                self.doing = "computing ahead"
                self.after_refresh(state)
        except Exception as exc:  # the pages keep the current copy; the admin sees why
            log.exception("refreshing the analytical copy failed")
            self.last_error = str(exc)
        finally:
            self.doing = None

    def start(self, registry_url: str, *, whole: bool | None = False) -> bool:
        """Refresh in the background (False when one is already running); ``whole=None``:
        only the work after a refresh, on the current copy."""
        with self._guard:
            if self.running:
                return False
            self._thread = threading.Thread(target=self._background, args=(registry_url, whole),
                                            name="socle-copy-refresh", daemon=True)
            self._thread.start()
            return True

    def ensure(self, settings: Settings) -> CopyState:
        """The copy to read now: made first if there is none, refreshed in the background
        when due (``analytics.refresh_minutes``, ``analytics.whole_refresh_hours``)."""
        state = current_copy(self.folder)
        if state is None or state.source != _safe(settings.database_url):
            # No copy yet, or one of another registry (the settings changed): copy now.
            state = self._run(settings.database_url, whole=True)
            self.start(settings.database_url, whole=None)  # then what follows a refresh
        else:
            needed = due(state, settings)
            if needed is not None:
                self.start(settings.database_url, whole=needed == "whole")
        return state


atexit.register(Refresher.wait_all)
