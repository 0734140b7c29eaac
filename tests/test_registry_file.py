"""The registry's file while the app runs (data_access.registry.RegistryHandle, diagnose_file):
each problem named with the file, an engine that follows the file, no connection for the
last-loaded time. The same through a real server: tests/test_faults.py."""

from __future__ import annotations

import logging
import os
import shutil
from pathlib import Path

import pytest
import sqlalchemy as sa

from core.settings import SettingsError, load_settings
from data_access.loader import write_registry
from data_access.registry import (
    RegistryHandle,
    RegistryUnavailable,
    diagnose_file,
    open_registry,
    registry_file,
    registry_last_loaded,
)
from tests.fixture_registry import fixture_tables


@pytest.fixture
def registry(tmp_path: Path) -> Path:
    path = tmp_path / "reg istry#1.db"  # a space and a '#': the file URI quotes them
    writer = sa.create_engine(f"sqlite:///{path}")
    write_registry(writer, fixture_tables())
    writer.dispose()
    return path


def count_areas(engine: sa.Engine) -> int:
    with engine.connect() as conn:
        return conn.execute(sa.text("SELECT COUNT(*) FROM area")).scalar_one()


def test_the_engine_knows_its_file_and_its_time_without_connecting(registry: Path):
    engine = open_registry(f"sqlite:///{registry}")
    try:
        assert registry_file(engine) == registry
        checkouts: list[int] = []
        sa.event.listen(engine.pool, "checkout", lambda *args: checkouts.append(1))
        assert registry_last_loaded(engine).timestamp() == pytest.approx(
            registry.stat().st_mtime, abs=1e-3)
        assert checkouts == []
        assert type(engine.pool).__name__ == "QueuePool"
        assert count_areas(engine) > 0
    finally:
        engine.dispose()


def test_each_problem_of_the_file_is_named(tmp_path: Path, registry: Path):
    assert diagnose_file(registry) is None
    missing = diagnose_file(tmp_path / "nowhere.db")
    assert missing.state == "missing" and "nowhere.db" in str(missing)
    folder = tmp_path / "a folder.db"
    folder.mkdir()
    assert diagnose_file(folder).state == "unreadable"
    text = tmp_path / "notes.db"
    text.write_text("not a database at all " * 10, encoding="utf-8")
    assert diagnose_file(text).state == "corrupt"
    cut = tmp_path / "cut.db"
    shutil.copy(registry, cut)
    os.truncate(cut, cut.stat().st_size // 2)
    problem = diagnose_file(cut)
    assert problem.state == "corrupt" and "truncated" in problem.detail
    with pytest.raises(RegistryUnavailable, match="is corrupt"):
        open_registry(f"sqlite:///{cut}")


def test_the_handle_follows_the_file_and_recovers(tmp_path: Path, registry: Path, caplog):
    handle = RegistryHandle(f"sqlite:///{registry}")
    first = handle.engine()
    assert handle.engine() is first  # unchanged file: the same engine, no reopening
    assert count_areas(first) > 0

    away = tmp_path / "away.db"
    registry.rename(away)
    with caplog.at_level(logging.ERROR, logger="data_access.registry"):
        with pytest.raises(RegistryUnavailable) as missing:
            handle.engine()
    assert missing.value.state == "missing"
    assert [r for r in caplog.records if r.levelno == logging.ERROR
            and str(registry) in r.getMessage() and "missing" in r.getMessage()]
    away.rename(registry)
    back = handle.engine()
    assert back is not first and count_areas(back) > 0

    # A file replaced by another (a reload of the registry): a new engine on the new file.
    replacement = tmp_path / "new.db"
    shutil.copy(registry, replacement)
    os.replace(replacement, registry)
    assert handle.engine() is not back
    handle.dispose()


def test_max_computations_is_checked(tmp_path: Path):
    config = tmp_path / "config.toml"
    config.write_text("[database]\nmax_computations = 0\n", encoding="utf-8")
    with pytest.raises(SettingsError, match="database.max_computations"):
        load_settings(config, env={}, check_files=False)
    config.write_text("[database]\nmax_computations = 5\n", encoding="utf-8")
    assert load_settings(config, env={}, check_files=False)["database.max_computations"] == 5
