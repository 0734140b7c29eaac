"""The one gateway to the registry database: opened read-only, checked against the contract.

Code outside data_access never calls ``engine.connect()``: it reads through
:func:`connection`, so that how a connection is taken, and given back after an error or an
interruption, is decided in one place for every backend.
"""

from __future__ import annotations

import datetime as dt
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import make_url

from core.values import as_date
from data_access.schema import household, person, require_schema


class RegistryError(RuntimeError):
    """The registry cannot be opened; the message names the URL or file."""


def sqlite_path(url: str) -> Path | None:
    """The file behind a sqlite URL, or None for other databases."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or not parsed.database:
        return None
    return Path(parsed.database)


def database_file(url: str) -> Path | None:
    """The file behind a SQLite or DuckDB URL, or None for a server database."""
    parsed = make_url(url)
    if parsed.get_backend_name() not in ("sqlite", "duckdb"):
        return None
    if not parsed.database or parsed.database == ":memory:":
        return None
    return Path(parsed.database)


def open_registry(url: str, *, check: bool = True) -> sa.Engine:
    """An engine on the registry that cannot write, checked against the contract.

    SQLite is opened through a ``mode=ro`` URI, so even a stray write fails in the driver.
    PostgreSQL sessions start with ``default_transaction_read_only``, so every transaction
    is read-only. DuckDB files are opened with ``read_only``.
    """
    parsed = make_url(url)
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        path = sqlite_path(url)
        if path is None or not path.is_file():
            raise RegistryError(f"registry database file `{parsed.database}` does not exist")
        uri = f"file:{path.resolve()}?mode=ro"
        engine = sa.create_engine(
            "sqlite://", creator=lambda: sqlite3.connect(uri, uri=True, check_same_thread=False)
        )
    elif backend == "postgresql":
        engine = sa.create_engine(
            url, connect_args={"options": "-c default_transaction_read_only=on"},
            pool_pre_ping=True,
        )
    elif backend == "duckdb":
        database = parsed.database or ""
        if database in ("", ":memory:") or not Path(database).is_file():
            raise RegistryError(f"registry database file `{database}` does not exist")
        # read_only: DuckDB refuses every write, and several readers may share the file.
        engine = sa.create_engine(url, connect_args={"read_only": True})
    else:
        raise RegistryError(f"unsupported registry database `{backend}` in `{url}`")
    try:
        with engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
    except sa.exc.SQLAlchemyError as exc:
        raise RegistryError(f"cannot open the registry at `{parsed.render_as_string(hide_password=True)}`: "
                            f"{exc.orig if hasattr(exc, 'orig') else exc}") from None
    if check:
        require_schema(engine)
    return engine


def registry_file(engine: sa.Engine) -> Path | None:
    """The file behind a SQLite or DuckDB engine; None for a server database."""
    path = database_file(engine.url.render_as_string(hide_password=False))
    if path is None and engine.dialect.name == "sqlite":
        # The read-only SQLite engine is built from a creator; ask the connection for its file.
        with engine.connect() as conn:
            rows = conn.exec_driver_sql("PRAGMA database_list").fetchall()
        files = [r[2] for r in rows if r[1] == "main" and r[2]]
        path = Path(files[0]) if files else None
    return path


def registry_last_loaded(engine: sa.Engine) -> dt.datetime | None:
    """When the registry was last written: the file time for SQLite, else unknown (None)."""
    path = registry_file(engine)
    if path is None or not path.exists():
        return None
    return dt.datetime.fromtimestamp(path.stat().st_mtime)


def latest_registration(engine: sa.Engine) -> dt.date | None:
    """The latest registered_on of the household and person tables."""
    # Max over raw text on SQLite is the latest ISO date; read it without date parsing,
    # so a malformed date in the registry cannot crash here.
    latest: list[dt.date] = []
    with engine.connect() as conn:
        for table in (household, person):
            value = conn.execute(
                sa.select(sa.func.max(sa.cast(table.c.registered_on, sa.Text)))
            ).scalar()
            parsed = as_date(value)
            if parsed is not None:
                latest.append(parsed)
    return max(latest) if latest else None


def default_as_of(engine: sa.Engine, today: dt.date | None = None) -> dt.date:
    """Today, or the latest registration in the registry if that is earlier."""
    today = today or dt.date.today()
    latest = latest_registration(engine)
    return min(today, latest) if latest else today


@contextmanager
def connection(engine: sa.Engine) -> Iterator[sa.Connection]:
    """A connection of ``engine`` (the registry's, or another database Socle reads) for one
    unit of work, rolled back and given back to the pool when the block ends."""
    with engine.connect() as conn:
        yield conn
