"""Socle's own database (the app store): opened read-write and kept at the newest schema.

The schema is versioned with Alembic revisions in ``data_access/migrations/versions``
(0001 baseline: ``store_info``; later revisions add users, meetings, action points, reviews,
snapshots, audit). ``open_app_store`` upgrades to the newest revision every time it opens the
store, so a deployment never runs on an old schema. No alembic.ini is needed: the Alembic
configuration is built in code.

Command line (from the repository root)::

    python -m data_access.app_store upgrade            # the store of config.toml
    python -m data_access.app_store current
    python -m data_access.app_store revision -m "add meetings"   # writes versions/0002_add_meetings.py
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import make_url
from sqlalchemy.pool import StaticPool

MIGRATIONS = Path(__file__).resolve().parent / "migrations"

log = logging.getLogger(__name__)

# pg_advisory_xact_lock key serialising upgrades of one PostgreSQL app store.
_LOCK_KEY = 0x50C1E


class AppStoreError(RuntimeError):
    """The app store cannot be opened or upgraded; the message names the URL or file."""


def alembic_config(url: str | None = None) -> Config:
    """Alembic's configuration for the app store, built in code."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("path_separator", "os")
    # Revision files are named 0002_add_meetings.py (ConfigParser needs %% for %).
    config.set_main_option("file_template", "%%(rev)s_%%(slug)s")
    if url:
        config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def head_revision() -> str:
    """The newest revision of the migrations."""
    heads = ScriptDirectory.from_config(alembic_config()).get_heads()
    if len(heads) != 1:
        raise AppStoreError(f"the app store migrations have {len(heads)} heads: {heads}")
    return heads[0]


def _safe(url: str) -> str:
    return make_url(url).render_as_string(hide_password=True)


def _create_engine(url: str) -> sa.Engine:
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database
        if not database or database == ":memory:":
            # One shared connection, or every connection would see a new empty database.
            return sa.create_engine(url, poolclass=StaticPool,
                                    connect_args={"check_same_thread": False})
        folder = Path(database).parent
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise AppStoreError(
                f"cannot create the folder `{folder}` of the app store `{database}`: {exc}"
            ) from None
        return sa.create_engine(url, connect_args={"check_same_thread": False})
    return sa.create_engine(url, pool_pre_ping=True)


def upgrade(engine: sa.Engine, revision: str = "head") -> None:
    """Bring the app store's schema to ``revision`` on one connection, in one transaction."""
    config = alembic_config()
    with engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            # Two app processes starting together must not both create the tables.
            connection.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": _LOCK_KEY})
        config.attributes["connection"] = connection
        command.upgrade(config, revision)


def open_app_store(url: str) -> sa.Engine:
    """An engine on the app store, its schema upgraded to the newest revision.

    A SQLite file's folder is created when missing. Raise AppStoreError naming the store
    when it cannot be reached or upgraded.
    """
    try:
        engine = _create_engine(url)
    except sa.exc.ArgumentError as exc:
        raise AppStoreError(f"the app store URL `{url}` is not valid: {exc}") from None
    except ImportError as exc:
        raise AppStoreError(f"the driver for the app store `{_safe(url)}` is missing: {exc}") from None
    try:
        upgrade(engine)
    except sa.exc.SQLAlchemyError as exc:
        engine.dispose()
        detail = exc.orig if getattr(exc, "orig", None) is not None else exc
        raise AppStoreError(
            f"cannot open or upgrade the app store at `{_safe(url)}`: {detail}"
        ) from None
    return engine


def app_store_revision(engine: sa.Engine) -> str | None:
    """The app store's current revision (None for a store never upgraded)."""
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def _next_rev_id() -> str:
    script = ScriptDirectory.from_config(alembic_config())
    numbers = [int(r.revision) for r in script.walk_revisions() if r.revision.isdigit()]
    return f"{max(numbers, default=0) + 1:04d}"


def main(argv: list[str] | None = None) -> int:
    from core.settings import load_settings

    parser = argparse.ArgumentParser(prog="python -m data_access.app_store",
                                     description="Manage Socle's app store schema.")
    sub = parser.add_subparsers(dest="action", required=True)
    sub.add_parser("upgrade", help="upgrade the app store of the settings to the newest revision")
    sub.add_parser("current", help="print the app store's revision and the newest one")
    new = sub.add_parser("revision", help="write a new, empty, numbered revision file")
    new.add_argument("-m", "--message", required=True)
    args = parser.parse_args(argv)

    if args.action == "revision":
        rev_id = _next_rev_id()
        command.revision(alembic_config(), message=args.message, rev_id=rev_id)
        return 0
    url = load_settings(check_files=False).app_store_url
    engine = open_app_store(url) if args.action == "upgrade" else _create_engine(url)
    try:
        print(f"app store {_safe(url)}: revision {app_store_revision(engine)} "
              f"(newest {head_revision()})")
    finally:
        engine.dispose()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
