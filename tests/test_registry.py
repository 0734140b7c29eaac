"""The registry gateway: read-only on every backend, and the contract check's messages."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa

from data_access.loader import write_duckdb_registry
from data_access.registry import RegistryError, limit_duckdb_memory, open_registry
from data_access.schema import SchemaError, check_schema, require_schema

TINY = {
    "area": pd.DataFrame([{"area_id": "P", "name": "Province", "level": 1}]),
    "household": pd.DataFrame([{"household_id": "H1", "area_id": "P",
                                "registered_on": dt.date(2024, 1, 1)}]),
}


@pytest.mark.parametrize("statement", [
    "INSERT INTO area (area_id, name, level) VALUES ('X', 'X', 1)",
    "UPDATE household SET pmt_score = 1",
    "DELETE FROM household",
    "CREATE TABLE socle_was_here (x INTEGER)",
])
def test_writes_through_socles_engine_fail(make_registry, statement: str) -> None:
    engine = make_registry(TINY)
    with pytest.raises(sa.exc.DBAPIError) as caught:
        with engine.begin() as conn:
            conn.execute(sa.text(statement))
    assert "read" in str(caught.value).lower()  # "readonly database" / "read-only transaction"
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM household")).scalar() == 1
        assert conn.execute(sa.text("SELECT count(*) FROM area")).scalar() == 1


def test_missing_sqlite_file_is_named(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere" / "registry.db"
    with pytest.raises(RegistryError, match="nowhere/registry.db"):
        open_registry(f"sqlite:///{missing}")
    assert not missing.exists()  # opening read-only never creates the file


def test_unreachable_postgres_is_named() -> None:
    with pytest.raises(RegistryError, match="cannot open the registry"):
        open_registry("postgresql+psycopg://nobody@127.0.0.1:1/registry")


def _sqlite(tmp_path: Path, ddl: list[str]) -> sa.Engine:
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'custom.db'}")
    with engine.begin() as conn:
        for statement in ddl:
            conn.execute(sa.text(statement))
    return engine


def test_schema_check_lists_every_problem_in_one_message(tmp_path: Path, make_registry) -> None:
    full = make_registry(TINY)
    assert check_schema(full) == []

    engine = _sqlite(tmp_path, [
        "CREATE TABLE area (area_id TEXT, name TEXT, level INTEGER, parent_id TEXT)",
        "CREATE TABLE household (household_id TEXT, area_id TEXT, registered_on DATE, "
        "pmt_score BLOB, access_point_id TEXT, latitude REAL, longitude REAL)",
        "CREATE TABLE enrolment (enrolment_id TEXT, programme_id TEXT, household_id TEXT, "
        "person_id TEXT, enrolled_on TEXT)",
    ])
    with pytest.raises(SchemaError) as caught:
        require_schema(engine)
    message = str(caught.value)
    assert "table `area` lacks column `population`" in message
    assert "table `enrolment` lacks column `ended_on`" in message
    assert "column `household.pmt_score` is BLOB, which cannot hold real values" in message
    for table in ("access_point", "person", "programme", "referral"):
        assert f"table `{table}` is missing" in message
    assert message.count(";") == 7 - 1  # seven problems, one message


def test_views_named_after_the_contract_pass_the_check(tmp_path: Path) -> None:
    """A real MIS maps itself onto the contract with views."""
    from data_access.loader import write_registry

    url = f"sqlite:///{tmp_path / 'mis.db'}"
    writer = sa.create_engine(url)
    write_registry(writer, TINY)
    with writer.begin() as conn:
        conn.execute(sa.text("ALTER TABLE household RENAME TO mis_household"))
        conn.execute(sa.text("CREATE VIEW household AS SELECT * FROM mis_household"))
    engine = open_registry(url)
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT household_id FROM household")).scalar() == "H1"


@pytest.fixture
def duckdb_memory_limit() -> Iterator[Callable[[str | None], None]]:
    """Set the process's DuckDB memory limit for a test; DuckDB's default again afterwards."""
    yield limit_duckdb_memory
    limit_duckdb_memory(None)


def test_duckdb_memory_limit_bounds_a_duckdb_registry_and_keeps_the_figures(
        tmp_path: Path, duckdb_memory_limit) -> None:
    from indicators import compute
    from tests.fixture_registry import AS_OF, PERIOD_START, fixture_tables

    tables = fixture_tables()
    figures = {}
    for limit in (None, "64MB"):
        path = tmp_path / f"registry_{limit}.duckdb"
        write_duckdb_registry(path, tables)
        duckdb_memory_limit(limit)
        engine = open_registry(f"duckdb:///{path}")
        try:
            with engine.connect() as conn:
                held = conn.exec_driver_sql("SELECT current_setting('memory_limit')").scalar()
            figures[limit] = compute(engine, as_of=AS_OF, period_start=PERIOD_START, level=2)
        finally:
            engine.dispose()
        if limit is None:
            assert held not in ("61.0 MiB", "64.0 MiB", "64.0 MB"), held
        else:
            assert held in ("61.0 MiB", "64.0 MB"), held  # DuckDB shows 64MB as MiB
    pd.testing.assert_frame_equal(figures[None], figures["64MB"])


@pytest.mark.parametrize("limit", ["lots", "1GB'; SELECT 1; --", "-1GB"])
def test_a_duckdb_memory_limit_that_is_not_a_size_is_refused(limit: str,
                                                            duckdb_memory_limit) -> None:
    with pytest.raises(ValueError, match="not a memory size"):
        duckdb_memory_limit(limit)
