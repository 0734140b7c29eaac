"""Write a registry (the demo, test fixtures, benchmark copies): never used on a real registry.

Tables are created from the contract without foreign keys or NOT NULL constraints, so that
dirty rows (unknown areas, missing units) can be loaded as real registries hold them.
"""

from __future__ import annotations

import datetime as dt
import sqlite3
from collections.abc import Callable, Iterable, Mapping
from contextlib import closing
from pathlib import Path

import pandas as pd
import sqlalchemy as sa

from data_access.schema import REGISTRY_TABLES


def loose_metadata() -> sa.MetaData:
    """The contract's tables with primary keys only."""
    metadata = sa.MetaData()
    for table in REGISTRY_TABLES:
        sa.Table(table.name, metadata, *[
            sa.Column(c.name, c.type, primary_key=c.primary_key, nullable=True)
            for c in table.columns
        ])
    return metadata


def _as_date(value: object) -> object:
    """ISO text (or a timestamp) as a date, so every backend's Date type takes it."""
    if isinstance(value, str):
        return dt.date.fromisoformat(value[:10])
    if isinstance(value, dt.datetime):
        return value.date()
    return value


def _records(table: sa.Table, frame: pd.DataFrame) -> list[dict]:
    frame = frame.astype(object).where(frame.notna(), None)
    for column in table.columns:
        if isinstance(column.type, sa.Date) and column.name in frame.columns:
            frame[column.name] = frame[column.name].map(_as_date)
    return frame.to_dict("records")


def write_registry(
    engine: sa.Engine,
    tables: Mapping[str, pd.DataFrame | Iterable[dict]],
    *,
    replace: bool = True,
    chunk_rows: int = 50_000,
) -> None:
    """Create the contract's tables in ``engine`` and insert the given rows.

    Columns missing from a frame are written as null. Dates may be ``datetime.date`` or
    ISO text; booleans Python bools or 0/1.
    """
    metadata = loose_metadata()
    if replace:
        metadata.drop_all(engine)
    metadata.create_all(engine)
    with engine.begin() as conn:
        for table in metadata.sorted_tables:
            rows = tables.get(table.name)
            if rows is None:
                continue
            frame = rows if isinstance(rows, pd.DataFrame) else pd.DataFrame(list(rows))
            if frame.empty:
                continue
            unknown = set(frame.columns) - set(table.columns.keys())
            if unknown:
                raise ValueError(f"table `{table.name}` has no column(s) {sorted(unknown)}")
            for start in range(0, len(frame), chunk_rows):
                conn.execute(table.insert(), _records(table, frame.iloc[start:start + chunk_rows]))


# Indexes a registry needs for the indicator queries to run in seconds at a million
# households; real registries are asked to have the same (README, "Pointing Socle at a
# real registry").
REGISTRY_INDEXES: tuple[tuple[str, str], ...] = (
    ("household", "area_id"),
    ("person", "household_id"),
    ("person", "national_id"),
    ("enrolment", "programme_id"),
    ("enrolment", "household_id"),
    ("enrolment", "person_id"),
    ("referral", "household_id"),
)


def create_indexes(engine: sa.Engine) -> None:
    with engine.begin() as conn:
        for table, column in REGISTRY_INDEXES:
            conn.exec_driver_sql(
                f"CREATE INDEX IF NOT EXISTS ix_{table}_{column} ON {table} ({column})"
            )


def copy_sqlite_to_postgres(sqlite_path: str, postgres_url: str, batch_rows: int = 100_000) -> None:
    """Copy a SQLite registry into a PostgreSQL database with COPY (benchmarks, tests)."""
    target = sa.create_engine(postgres_url)
    metadata = loose_metadata()
    metadata.drop_all(target)
    metadata.create_all(target)
    source = sqlite3.connect(f"file:{sqlite_path}?mode=ro", uri=True)
    try:
        raw = target.raw_connection()
        try:
            with raw.cursor() as cursor:
                for table in metadata.sorted_tables:
                    columns = [c.name for c in table.columns]
                    rows = source.execute(f"SELECT {', '.join(columns)} FROM {table.name}")
                    with cursor.copy(
                        f"COPY {table.name} ({', '.join(columns)}) FROM STDIN"
                    ) as copy:
                        while batch := rows.fetchmany(batch_rows):
                            for row in batch:
                                copy.write_row(row)
            raw.commit()
        finally:
            raw.close()
    finally:
        source.close()
    create_indexes(target)
    # ANALYZE inside a transaction that is rolled back would lose its statistics.
    with target.execution_options(isolation_level="AUTOCOMMIT").connect() as conn:
        conn.exec_driver_sql("ANALYZE")
    target.dispose()


def bulk_write_sqlite(path: Path, values_of: Callable[[sa.Table], list[list]],
                      indexes: Iterable[tuple[str, str, str]] = ()) -> None:
    """A new SQLite registry at ``path``: the contract's tables (no foreign keys, so dirty rows
    load), each filled with ``values_of(table)`` (one list of Python values per column, in the
    table's column order; asked for one table at a time), then ``indexes`` (name, table,
    column).

    One transaction with journaling and syncing off: write to a temporary file that is only
    renamed into place once complete, so a crash cannot leave a half-written registry.
    """
    if path.exists():
        path.unlink()
    engine = sa.create_engine(f"sqlite:///{path}")
    loose_metadata().create_all(engine)
    engine.dispose()
    with closing(sqlite3.connect(path, isolation_level=None)) as conn:
        for pragma in ("journal_mode=OFF", "synchronous=OFF", "locking_mode=EXCLUSIVE",
                       "temp_store=MEMORY", "cache_size=-262144"):
            conn.execute(f"PRAGMA {pragma}")
        conn.execute("BEGIN")
        for table in REGISTRY_TABLES:
            names = [c.name for c in table.columns]
            values = values_of(table)
            conn.executemany(
                f"INSERT INTO {table.name} ({', '.join(names)}) "
                f"VALUES ({', '.join('?' * len(names))})",
                zip(*values, strict=True))
            del values
        conn.execute("COMMIT")
        for index, table_name, column in indexes:
            conn.execute(f"CREATE INDEX {index} ON {table_name} ({column})")


def duckdb_type(column_type: sa.types.TypeEngine, *, text_dates: bool = False) -> str:
    """The DuckDB type of a contract column (``text_dates``: dates as VARCHAR, as a CSV-born
    registry holds them)."""
    if isinstance(column_type, sa.Date):
        return "VARCHAR" if text_dates else "DATE"
    if isinstance(column_type, sa.Boolean):
        return "BOOLEAN"
    if isinstance(column_type, sa.Float):
        return "DOUBLE"  # SQLAlchemy's Float is DuckDB's 4-byte FLOAT: scores would drift
    if isinstance(column_type, sa.Integer):
        return "BIGINT"
    return "VARCHAR"


def write_duckdb_registry(path: Path, tables: Mapping[str, pd.DataFrame | Iterable[dict]], *,
                          text_dates: bool = False) -> None:
    """A new DuckDB registry file at ``path`` holding the given rows (tests, benchmarks).

    Columns missing from a frame are null; dates may be dates or ISO text (with
    ``text_dates`` they are written as the text given, malformed or not)."""
    import duckdb

    if path.exists():
        path.unlink()
    con = duckdb.connect(str(path))
    try:
        for table in REGISTRY_TABLES:
            types = {c.name: duckdb_type(c.type, text_dates=text_dates) for c in table.columns}
            con.execute(f"CREATE TABLE {table.name} ("
                        + ", ".join(f"{n} {t}" for n, t in types.items()) + ")")
            rows = tables.get(table.name)
            if rows is None:
                continue
            frame = rows if isinstance(rows, pd.DataFrame) else pd.DataFrame(list(rows))
            if frame.empty:
                continue
            unknown = set(frame.columns) - set(types)
            if unknown:
                raise ValueError(f"table `{table.name}` has no column(s) {sorted(unknown)}")
            frame = frame.astype(object).where(frame.notna(), None)
            for name, kind in types.items():
                if name not in frame.columns:
                    frame[name] = None
                elif kind == "DATE":
                    frame[name] = frame[name].map(_as_date)
                elif kind == "VARCHAR":
                    frame[name] = frame[name].map(lambda v: None if v is None else str(v))
            frame = frame[list(types)]
            con.register("incoming", frame)
            con.execute(f"INSERT INTO {table.name} SELECT "
                        + ", ".join(f"CAST({n} AS {t})" for n, t in types.items())
                        + " FROM incoming")
            con.unregister("incoming")
    finally:
        con.close()


def copy_sqlite_to_duckdb(sqlite_path: str | Path, duckdb_path: str | Path) -> Path:
    """A DuckDB registry (dates as dates) holding a SQLite registry's rows (tests, benchmarks;
    small registries: the rows pass through pandas)."""
    source = sqlite3.connect(f"file:{Path(sqlite_path).resolve()}?mode=ro", uri=True)
    try:
        tables = {t.name: pd.read_sql_query(f"SELECT * FROM {t.name}", source)
                  for t in REGISTRY_TABLES}
    finally:
        source.close()
    write_duckdb_registry(Path(duckdb_path), tables)
    return Path(duckdb_path)


def export_duckdb_to_parquet(duckdb_path: Path, folder: Path) -> Path:
    """A Parquet registry (one ``<table>.parquet`` per contract table, as data_access.spark
    reads it) holding a DuckDB registry's tables; the folder."""
    import duckdb

    folder.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect(str(duckdb_path), read_only=True)
    try:
        for table in REGISTRY_TABLES:
            target = str((folder / f"{table.name}.parquet").resolve()).replace("'", "''")
            con.execute(f"COPY {table.name} TO '{target}' (FORMAT PARQUET)")
    finally:
        con.close()
    return folder


def write_parquet_registry(folder: Path, tables: Mapping[str, pd.DataFrame | Iterable[dict]], *,
                           text_dates: bool = False) -> Path:
    """A new Parquet registry in ``folder`` holding the given rows (tests, benchmarks), typed
    as write_duckdb_registry types them."""
    import tempfile

    with tempfile.TemporaryDirectory() as scratch:
        path = Path(scratch) / "registry.duckdb"
        write_duckdb_registry(path, tables, text_dates=text_dates)
        return export_duckdb_to_parquet(path, folder)
