"""The app store: created on first open, upgraded to the newest revision, on SQLite and PostgreSQL."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa

from data_access.app_store import (
    AppStoreError,
    app_store_revision,
    head_revision,
    open_app_store,
)


def test_revisions_form_one_numbered_line():
    from alembic.script import ScriptDirectory

    from data_access.app_store import alembic_config

    script = ScriptDirectory.from_config(alembic_config())
    revisions = [r.revision for r in script.walk_revisions()][::-1]
    assert revisions == [f"{n:04d}" for n in range(1, len(revisions) + 1)]
    assert head_revision() == revisions[-1]


def test_fresh_store_is_upgraded_to_head(store_url: str):
    engine = open_app_store(store_url)
    try:
        assert app_store_revision(engine) == head_revision()
        tables = set(sa.inspect(engine).get_table_names())
        assert {"store_info", "alembic_version"} <= tables
        with engine.connect() as conn:
            info = dict(conn.execute(sa.text("SELECT key, value FROM store_info")).all())
        assert info == {"application": "socle"}
    finally:
        engine.dispose()


def test_second_open_is_idempotent(store_url: str):
    first = open_app_store(store_url)
    with first.begin() as conn:
        conn.execute(sa.text("INSERT INTO store_info (key, value) VALUES ('site', 'Peshawar')"))
    first.dispose()
    second = open_app_store(store_url)
    try:
        assert app_store_revision(second) == head_revision()
        with second.connect() as conn:
            rows = conn.execute(sa.text("SELECT key, value FROM store_info ORDER BY key")).all()
            versions = conn.execute(sa.text("SELECT version_num FROM alembic_version")).all()
        assert [tuple(r) for r in rows] == [("application", "socle"), ("site", "Peshawar")]
        assert [v[0] for v in versions] == [head_revision()]
    finally:
        second.dispose()


def test_sqlite_folder_is_created(tmp_path: Path):
    path = tmp_path / "a" / "b" / "store.db"
    engine = open_app_store(f"sqlite:///{path}")
    engine.dispose()
    assert path.is_file()


def test_in_memory_store_keeps_its_schema():
    engine = open_app_store("sqlite://")
    try:
        assert app_store_revision(engine) == head_revision()
        assert "store_info" in sa.inspect(engine).get_table_names()
    finally:
        engine.dispose()


def test_never_upgraded_store_has_no_revision(tmp_path: Path):
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'empty.db'}")
    try:
        assert app_store_revision(engine) is None
    finally:
        engine.dispose()


def test_unreachable_store_is_an_app_store_error():
    url = "postgresql+psycopg://socle:secret@127.0.0.1:1/nowhere"
    with pytest.raises(AppStoreError, match="cannot open or upgrade the app store") as caught:
        open_app_store(url)
    assert "secret" not in str(caught.value)


def test_folder_that_cannot_be_created_is_an_app_store_error(tmp_path: Path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder", encoding="utf-8")
    with pytest.raises(AppStoreError, match="cannot create the folder"):
        open_app_store(f"sqlite:///{blocker / 'store.db'}")


def test_bad_url_is_an_app_store_error():
    with pytest.raises(AppStoreError, match="not valid"):
        open_app_store("not a url")
