"""``python -m indicators.cube``: the long form of every level of a Parquet registry, computed on
DuckDB or Spark, written as one Parquet file or as the app store's snapshots."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import fixture_registry as fx
import pandas as pd
import pytest
import sqlalchemy as sa
from spark_support import assert_spark_failure_named

from data_access.app_store import open_app_store
from data_access.loader import write_parquet_registry, write_registry
from data_access.registry import open_registry
from data_access.snapshots import snapshots, stored_figures
from indicators import compute
from indicators.cube import main, whole_registry_once
from tests.reference import long_form_differences

ROOT = Path(__file__).resolve().parents[1]
LEVELS = (1, 2, 3)


@pytest.fixture(scope="module")
def parquet_registry(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_parquet_registry(tmp_path_factory.mktemp("cube") / "registry",
                                  fx.fixture_tables())


@pytest.fixture(scope="module")
def sqlite_long_forms(tmp_path_factory: pytest.TempPathFactory) -> dict[int, pd.DataFrame]:
    path = tmp_path_factory.mktemp("cube-sqlite") / "registry.db"
    writer = sa.create_engine(f"sqlite:///{path}")
    write_registry(writer, fx.fixture_tables())
    writer.dispose()
    engine = open_registry(f"sqlite:///{path}")
    try:
        return {level: compute(engine, as_of=fx.AS_OF, period_start=fx.PERIOD_START, level=level)
                for level in LEVELS}
    finally:
        engine.dispose()


def run_cube(*args: str) -> int:
    return main([*args, "--as-of", str(fx.AS_OF), "--period-start", str(fx.PERIOD_START),
                 "--quiet"])


@pytest.mark.parametrize("engine", ["duckdb", "spark"])
def test_the_parquet_long_form_is_every_level_with_the_whole_registry_once(
        engine, parquet_registry, sqlite_long_forms, tmp_path):
    out = tmp_path / "long.parquet"
    assert run_cube("--engine", engine, "--registry", str(parquet_registry),
                    "--levels", "1,2,3", "--out", str(out)) == 0
    got = pd.read_parquet(out)
    whole = got[got["level"].isna()]
    assert len(whole) == len(sqlite_long_forms[1][sqlite_long_forms[1]["level"].isna()])
    for level in LEVELS:
        part = pd.concat([got[got["level"] == level], whole], ignore_index=True)
        assert long_form_differences(part, sqlite_long_forms[level]) == [], f"level {level}"
    expected = whole_registry_once([sqlite_long_forms[level] for level in LEVELS])
    assert len(got) == len(expected)


def test_the_whole_registry_rows_are_the_same_at_every_level(sqlite_long_forms):
    wholes = [frame[frame["level"].isna()].reset_index(drop=True)
              for frame in sqlite_long_forms.values()]
    for other in wholes[1:]:
        pd.testing.assert_frame_equal(wholes[0], other)


def test_the_app_store_gets_one_command_snapshot_per_level(parquet_registry, sqlite_long_forms,
                                                          tmp_path):
    store_url = f"sqlite:///{tmp_path / 'store.db'}"
    for _ in range(2):  # again replaces
        assert run_cube("--registry", str(parquet_registry), "--levels", "2,3",
                        "--out", store_url) == 0
    store = open_app_store(store_url)
    try:
        for level in (2, 3):
            [snapshot] = snapshots(store, level=level, source="command")
            assert snapshot.as_of == fx.AS_OF and snapshot.period_start == fx.PERIOD_START
            # The snapshot keeps its own period on every row; the figures are the same.
            no_period = {"period_start": None, "period_end": None}
            figures = stored_figures(store, snapshot.snapshot_id).assign(**no_period)
            expected = sqlite_long_forms[level].assign(**no_period)
            assert long_form_differences(figures, expected) == []
        assert snapshots(store, level=1) == []
    finally:
        store.dispose()


@pytest.mark.parametrize(("args", "message"), [
    (["--engine", "duckdb", "--registry", "jdbc:postgresql://db/registry"],
     "a JDBC URL or a storage URI needs --engine spark"),
    (["--engine", "duckdb", "--registry", "s3a://bucket/registry"],
     "a JDBC URL or a storage URI needs --engine spark"),
    (["--engine", "spark", "--registry", "/no/such/folder"],
     "the Parquet registry folder `/no/such/folder` does not exist"),
    (["--registry", "{registry}", "--levels", "7"],
     "the registry has no area of level 7"),
    (["--registry", "{registry}", "--levels", "0"], "levels start at 1"),
    (["--engine", "flink", "--registry", "{registry}"], "invalid choice: 'flink'"),
])
def test_problems_are_named_in_one_line(args, message, parquet_registry, tmp_path, capsys):
    args = [a.replace("{registry}", str(parquet_registry)) for a in args]
    assert main([*args, "--out", str(tmp_path / "x.parquet"), "--quiet"]) == 2
    error = capsys.readouterr().err.strip()
    assert message in error and len(error.splitlines()) == 1
    assert not (tmp_path / "x.parquet").exists()


def test_a_missing_table_is_named(tmp_path):
    folder = write_parquet_registry(tmp_path / "registry", fx.fixture_tables())
    (folder / "enrolment.parquet").unlink()
    assert main(["--registry", str(folder), "--out", str(tmp_path / "x.parquet"),
                 "--quiet"]) == 2


def test_the_command_runs_as_a_module(parquet_registry, tmp_path):
    out = tmp_path / "long.parquet"
    done = subprocess.run([sys.executable, "-m", "indicators.cube", "--registry",
                           str(parquet_registry), "--as-of", str(fx.AS_OF), "--levels", "2",
                           "--out", str(out)], cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "level 2: population" in done.stderr  # progress per stage
    assert "figures of levels 2" in done.stdout
    assert len(pd.read_parquet(out)) > 100


def test_a_spark_that_cannot_start_is_named(parquet_registry, tmp_path):
    assert_spark_failure_named("indicators.cube", [
        "--engine", "spark", "--registry", str(parquet_registry), "--out",
        str(tmp_path / "long.parquet"), "--quiet"], tmp_path)
