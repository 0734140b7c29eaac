"""Where Splink runs the linkage model: an in-process DuckDB (the default) or Spark.

    backend = linkage_backend("spark", con)   # con: the job's DuckDB, holding the persons
    table = backend.register("persons")       # the prepared persons, where Splink reads them
    ...                                       # Linker(table, settings(..., backend.name))
    backend.close()

The persons are read and prepared in the job's DuckDB whichever the backend, and the
blocking plan and the exactly counted u probabilities are made there too: each is linear in
the persons (a national registry's persons fit one machine's disk). What grows with the
pairs — Splink's random pairs for u, its EM training, the blocked pairs and their scores —
runs on the backend. On Spark the prepared persons go over as one Parquet file (written by
DuckDB in a scratch folder, read by Spark, removed on close).

Both backends draw the same random pairs: Splink samples records by a hash of their id and
DuckDB's ``hash()`` and Spark's are different functions, so each backend here hashes with
data_access.dialects.portable_hash instead; one seed picks the same records on both, and
the model trained is the same (tests/test_linkage_spark.py).
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
from splink import DuckDBAPI
from splink.internals.dialects import DuckDBDialect, SparkDialect

from data_access.dialects import LINKAGE_DIALECTS, portable_hash


class _PortableHash:
    """A Splink dialect hashing ids with portable_hash: the same numbers on DuckDB and Spark
    (the hash is never negative: a plain remainder is a bucket)."""

    def hash_function_expression(self, col_expression: str) -> str:
        return portable_hash(self.sql_dialect_str, f"CAST({col_expression} AS STRING)")

    def hash_bucket_expression(self, col_expression: str, modulus: int) -> str:
        return f"({self.hash_function_expression(col_expression)} % {int(modulus)})"


class _DuckDBSampling(_PortableHash, DuckDBDialect):
    """DuckDB as Splink knows it, hashing ids as Spark does."""


class _SparkSampling(_PortableHash, SparkDialect):
    """Spark as Splink knows it, hashing ids as DuckDB does."""


# Splink's jar's edit distance (data_access.spark adds the jar to the session): the same
# distances as DuckDB's damerau_levenshtein, in the JVM.
_DAMERAU_LEVENSHTEIN = ("damerau_levenshtein", "uk.gov.moj.dash.linkage.LevDamerauDistance",
                        "double")


def _jaro_winkler(left: pd.Series, right: pd.Series) -> pd.Series:
    """DuckDB's jaro_winkler_similarity of each pair of texts (a batch of Spark's rows)."""
    import duckdb

    with duckdb.connect(":memory:") as con:
        con.register("pairs", pd.DataFrame({"l": left, "r": right}))
        found = con.execute("SELECT jaro_winkler_similarity(l, r) FROM pairs").fetchnumpy()
    return pd.Series(next(iter(found.values())), index=left.index, dtype="float64")


def _jaro_winkler_udf() -> Any:
    """jaro_winkler_similarity for Spark SQL: DuckDB's, over Arrow batches (a pandas UDF),
    so that both engines put a pair of names in the same level."""
    from pyspark.sql.functions import pandas_udf
    from pyspark.sql.types import DoubleType

    return pandas_udf(_jaro_winkler, DoubleType())


class _DuckDBAPI(DuckDBAPI):
    sql_dialect = _DuckDBSampling()


class DuckDBBackend:
    """Splink on the job's own DuckDB connection."""

    name = "duckdb"

    def __init__(self, con: Any) -> None:
        self.con = con
        self.api = self.new_api()

    def new_api(self) -> Any:
        """A Splink database API of its own (its own cache of Splink's tables)."""
        return _DuckDBAPI(connection=self.con)

    def register(self, persons: str, name: str = "persons_input", api: Any = None) -> Any:
        """The prepared persons table of the job's DuckDB as Splink's input ``name``."""
        return (api or self.api).register(persons, table_name=name)

    def text_table(self, columns: dict[str, list[str]]) -> Any:
        """A table of text columns from Python, for ``api.register``."""
        return pa.table({k: pa.array(v, type=pa.string()) for k, v in columns.items()})

    def unregister(self, name: str) -> None:
        self.con.unregister(name)

    def rows(self, sql: str) -> list[tuple]:
        """The rows of a query over the backend's tables (Splink's included)."""
        return self.con.execute(sql).fetchall()

    def close(self) -> None:
        """Nothing of its own to release: the connection is the job's."""


class SparkBackend:
    """Splink on a Spark session of its own (data_access.spark: local, or the cluster's when
    the job runs under spark-submit), reading the persons the job prepared in DuckDB."""

    name = "spark"

    def __init__(self, con: Any) -> None:
        from data_access.spark import spark_session

        self.con = con
        self.session = spark_session().newSession()
        # The comparisons' conditions make long generated Java; past 64 KB Janino gives up
        # and Spark falls back to interpreting the plan after logging the failure, for
        # every query: interpreting at once is as fast and quiet.
        self.session.conf.set("spark.sql.codegen.wholeStage", "false")
        self.session.udf.register("jaro_winkler_similarity", _jaro_winkler_udf())
        self.session.udf.registerJavaFunction(*_DAMERAU_LEVENSHTEIN)
        self._scratch = Path(tempfile.mkdtemp(prefix="socle-linkage-"))
        self._read: dict[str, Any] = {}
        self.api = self.new_api()

    def new_api(self) -> Any:
        from splink.internals.spark.database_api import SparkAPI

        class _SparkAPI(SparkAPI):
            sql_dialect = _SparkSampling()

        partitions = int(self.session.conf.get("spark.sql.shuffle.partitions"))
        # Persisted (memory, then disk) rather than written to a checkpoint folder: nothing
        # is left behind on the machine or the cluster's storage.
        return _SparkAPI(spark_session=self.session, break_lineage_method="persist",
                         num_partitions_on_repartition=max(1, partitions // 2),
                         register_udfs_automatically=False)

    def register(self, persons: str, name: str = "persons_input", api: Any = None) -> Any:
        """The prepared persons table of the job's DuckDB, written once as Parquet and read
        by Spark, as Splink's input ``name``."""
        if persons not in self._read:
            path = self._scratch / f"{persons}.parquet"
            self.con.execute(f"COPY {persons} TO '{path}' (FORMAT parquet)")
            self._read[persons] = self.session.read.parquet(str(path))
        return (api or self.api).register(self._read[persons], table_name=name)

    def text_table(self, columns: dict[str, list[str]]) -> Any:
        from pyspark.sql.types import StringType, StructField, StructType

        schema = StructType([StructField(k, StringType()) for k in columns])
        return self.session.createDataFrame(list(zip(*columns.values(), strict=True)), schema)

    def unregister(self, name: str) -> None:
        self.session.catalog.dropTempView(name)

    def rows(self, sql: str) -> list[tuple]:
        return [tuple(row) for row in self.session.sql(sql).collect()]

    def close(self) -> None:
        """Splink's tables go (a temporary view dropped is uncached too: the session is
        the backend's own, its views are Splink's), and the scratch folder."""
        for table in self.session.catalog.listTables():
            if table.isTemporary:
                self.session.catalog.dropTempView(table.name)
        shutil.rmtree(self._scratch, ignore_errors=True)


Backend = DuckDBBackend | SparkBackend


def linkage_backend(name: str, con: Any) -> Backend:
    """The backend ``name`` (duckdb or spark) over the job's DuckDB ``con``."""
    if name == "duckdb":
        return DuckDBBackend(con)
    if name == "spark":
        return SparkBackend(con)
    raise ValueError(f"the linkage runs on {' or '.join(LINKAGE_DIALECTS)}, not on `{name}`")
