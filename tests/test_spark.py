"""The indicators on Spark (PySpark in local mode): the same engine, compiled for Spark SQL,
gives SQLite's long form, row for row, on the fixture registry, on random registries (the
property test's, a modest number: Spark starts slowly) and on the demo registry at every
level. Registries are Parquet folders, as a national registry would be handed over."""

from __future__ import annotations

import os
from pathlib import Path

import fixture_registry as fx
import pandas as pd
import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from data_access.loader import (
    copy_sqlite_to_duckdb,
    export_duckdb_to_parquet,
    write_parquet_registry,
    write_registry,
)
from data_access.registry import RegistryError, open_registry
from data_access.registry_sources import registry_url, spark_registry_url
from data_access.schema import SchemaError
from indicators import compute
from tests.reference import long_form_differences, reference_compute
from tests.test_dates import dirty_date_tables
from tests.test_indicators_property import (
    AS_OF,
    PERIOD_START,
    SLA_DAYS,
    registries,
    suspected_pairs,
)

EXAMPLES = int(os.environ.get("SOCLE_SPARK_PROPERTY_EXAMPLES", "6"))


def spark_registry(folder: Path, tables: dict[str, pd.DataFrame], **kwargs) -> sa.Engine:
    write_parquet_registry(folder, tables, **kwargs)
    return open_registry(spark_registry_url(str(folder)))


def sqlite_registry(path: Path, tables: dict[str, pd.DataFrame]) -> sa.Engine:
    if path.exists():
        path.unlink()
    writer = sa.create_engine(f"sqlite:///{path}")
    write_registry(writer, tables)
    writer.dispose()
    return open_registry(f"sqlite:///{path}")


@pytest.fixture(scope="module")
def fixture_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The fixture registry as a Parquet folder."""
    return write_parquet_registry(tmp_path_factory.mktemp("spark") / "fixture",
                                  fx.fixture_tables())


@pytest.mark.parametrize("level", [1, 2, 3])
def test_spark_long_form_equals_sqlite_on_the_fixture(level, fixture_folder, tmp_path):
    tables = fx.fixture_tables()
    spark = open_registry(spark_registry_url(str(fixture_folder)))
    assert spark.dialect.name == "spark"
    sqlite = sqlite_registry(tmp_path / "fixture.db", tables)
    pairs = pd.DataFrame([("P1a", "P2a"), ("P3a", "P1b")], columns=["person_id_a", "person_id_b"])
    got = compute(spark, as_of=fx.AS_OF, period_start=fx.PERIOD_START, level=level,
                  suspected_pairs=pairs)
    expected = compute(sqlite, as_of=fx.AS_OF, period_start=fx.PERIOD_START, level=level,
                       suspected_pairs=pairs)
    assert len(got) > 100
    assert long_form_differences(got, expected) == []
    pd.testing.assert_frame_equal(got, expected)


def test_text_dates_on_spark_are_read_as_dates_and_unreadable_ones_counted(tmp_path):
    tables = dirty_date_tables()
    engine = spark_registry(tmp_path / "text-dates", tables, text_dates=True)
    got = compute(engine, as_of=fx.AS_OF, period_start=fx.PERIOD_START, level=3)
    expected = reference_compute(tables, as_of=fx.AS_OF, period_start=fx.PERIOD_START, level=3)
    assert long_form_differences(got, expected) == []
    whole = got[(got["indicator_id"] == "dq.malformed_dates") & got["area_id"].isna()
                & got["breakdown"].isna()]
    assert whole["numerator"].tolist() == [4]


def test_spark_equals_sqlite_on_random_registries(tmp_path):
    counter = iter(range(10_000))

    @settings(max_examples=EXAMPLES, deadline=None, database=None,
              suppress_health_check=[HealthCheck.function_scoped_fixture,
                                     HealthCheck.too_slow, HealthCheck.data_too_large])
    @given(tables=registries(), level=st.integers(1, 3),
           cutoff=st.sampled_from((32.0, 31.5, 50.0)), data=st.data())
    def check(tables, level, cutoff, data):
        n = next(counter)
        spark = spark_registry(tmp_path / f"registry-{n}", tables)
        sqlite = sqlite_registry(tmp_path / f"registry-{n}.db", tables)
        pairs = data.draw(suspected_pairs(list(tables["person"]["person_id"])
                                          if len(tables["person"]) else []))
        options = dict(as_of=AS_OF, level=level, period_start=PERIOD_START,
                       poverty_cutoff=cutoff, referral_sla_days=SLA_DAYS, suspected_pairs=pairs)
        try:
            got = compute(spark, **options)
            expected = compute(sqlite, **options)
        finally:
            spark.dispose()
            sqlite.dispose()
        problems = long_form_differences(got, expected)
        assert not problems, "\n".join(problems)

    check()


def test_spark_equals_sqlite_on_the_demo_registry_at_every_level(set_up_demo, tmp_path):
    from data_access.areas import read_area_tree
    from data_access.linkage_store import undismissed_pairs

    sqlite = open_registry(set_up_demo.registry_url)
    duckdb_file = copy_sqlite_to_duckdb(sqlite.url.database.split("?")[0].removeprefix("file:"),
                                        tmp_path / "demo.duckdb")
    spark = open_registry(spark_registry_url(str(export_duckdb_to_parquet(
        duckdb_file, tmp_path / "demo-parquet"))))
    store = sa.create_engine(set_up_demo.store_url)
    pairs = undismissed_pairs(store)
    store.dispose()
    levels = read_area_tree(sqlite).levels
    assert len(levels) >= 3
    for level in levels:
        got = compute(spark, level=level, suspected_pairs=pairs)
        expected = compute(sqlite, level=level, suspected_pairs=pairs)
        assert long_form_differences(got, expected) == [], f"level {level}"


def test_a_missing_parquet_table_is_named(tmp_path):
    folder = write_parquet_registry(tmp_path / "registry", fx.fixture_tables())
    (folder / "referral.parquet").unlink()
    with pytest.raises(SchemaError, match="table `referral` is missing"):
        open_registry(spark_registry_url(str(folder)))


def test_a_missing_parquet_folder_is_named(tmp_path):
    with pytest.raises(RegistryError, match="no-such-folder"):
        open_registry(spark_registry_url(str(tmp_path / "no-such-folder")))


def test_a_file_that_is_not_parquet_is_named(tmp_path):
    folder = write_parquet_registry(tmp_path / "registry", fx.fixture_tables())
    (folder / "person.parquet").write_text("person_id,household_id\nP1,H1\n")
    with pytest.raises(RegistryError, match="person.parquet"):
        open_registry(spark_registry_url(str(folder)))


def test_spark_reads_a_postgresql_registry_over_jdbc(postgres_database, tmp_path):
    """A registry in PostgreSQL, read by Spark through Debian's JDBC driver."""
    tables = fx.fixture_tables()
    writer = sa.create_engine(postgres_database)
    write_registry(writer, tables)
    writer.dispose()
    spark = open_registry(registry_url("spark", postgres_database))
    assert spark.url.query["jdbc"].startswith("jdbc:postgresql://")
    postgres = open_registry(postgres_database)
    got = compute(spark, as_of=fx.AS_OF, period_start=fx.PERIOD_START, level=2)
    expected = compute(postgres, as_of=fx.AS_OF, period_start=fx.PERIOD_START, level=2)
    assert long_form_differences(got, expected) == []


def test_a_registry_in_a_storage_uri_is_read_where_it_is(fixture_folder, tmp_path):
    """A cluster's storage (s3a://, hdfs://, dbfs:/ ...) is handed to Spark as it is; here
    file:// stands for it."""
    url = registry_url("spark", f"file://{fixture_folder}")
    assert "parquet=file" in url
    got = compute(open_registry(url), as_of=fx.AS_OF, period_start=fx.PERIOD_START, level=2)
    expected = compute(open_registry(spark_registry_url(str(fixture_folder))), as_of=fx.AS_OF,
                       period_start=fx.PERIOD_START, level=2)
    assert long_form_differences(got, expected) == []
    with pytest.raises(SchemaError, match="table `area` is missing"):
        open_registry(registry_url("spark", f"file://{tmp_path}"))
