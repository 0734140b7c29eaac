"""Apache Spark as a registry backend: the indicators' SQLAlchemy statements run on Spark SQL.

A national registry (tens of millions of households) is Spark's work, not one machine's. The
engine (indicators.engine) is written once, in SQLAlchemy; on Spark it runs unchanged through
this gateway:

- a **registry** is a folder holding one Parquet file or dataset per contract table, named
  after the table (``area.parquet``, ``household.parquet``, ...), or a PostgreSQL database
  read over JDBC; each table becomes a temporary view of a Spark session of its own (one per
  engine, so two registries in one process never see each other's tables);
- a **statement** is compiled by SQLAlchemy's PostgreSQL compiler and transpiled to Spark
  SQL by sqlglot (data_access.dialects.to_spark_sql, where Spark's quirks are);
- the engine is an ordinary ``sa.Engine`` (dialect name ``spark``), opened by
  data_access.registry.open_registry from a URL ``spark:///<Parquet folder>`` or
  ``spark:///?jdbc=<JDBC URL>``, so the registry gateway, the contract check and the engine
  are the same code on every backend.

The Spark session is local (``local[*]``, or ``SOCLE_SPARK_MASTER``) unless a session is
already running in the process (``spark-submit`` on a cluster starts one: it is used).
``SOCLE_SPARK_DRIVER_MEMORY`` (e.g. ``6g``) and ``SOCLE_SPARK_SHUFFLE_PARTITIONS`` (default
8: the indicators' groupings have a few thousand areas at most) are read when a local
session starts.
"""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql.base import (
    PGCompiler,
    PGDDLCompiler,
    PGIdentifierPreparer,
    PGTypeCompiler,
)
from sqlalchemy.engine import URL, default

from core.settings import SPARK_DRIVER_MEMORY_ENV, SPARK_MASTER_ENV, SPARK_SHUFFLE_PARTITIONS_ENV
from data_access import dialects
from data_access.registry import RegistryError
from data_access.registry_sources import parquet_table_path
from data_access.schema import REGISTRY_TABLES

DEFAULT_MASTER = "local[*]"
# Debian's libpostgresql-jdbc-java: the driver Spark reads a PostgreSQL registry with.
POSTGRES_JDBC_JARS = (Path("/usr/share/java/postgresql.jar"),)
# Named, because java.sql.DriverManager does not look in jars Spark adds after start-up.
JDBC_DRIVERS = {"jdbc:postgresql:": "org.postgresql.Driver"}

_ROOT_LOCK = threading.Lock()


class SparkRegistryError(RegistryError):
    """A Spark registry cannot be read; the message names the folder, file or table."""


def is_spark_error(exc: BaseException) -> bool:
    """Whether ``exc`` was raised by Spark or by the JVM behind it (py4j)."""
    return type(exc).__module__.startswith(("pyspark", "py4j"))


def spark_message(exc: BaseException) -> str:
    """The first line of what Spark (or the JVM behind py4j) says went wrong."""
    java = getattr(exc, "java_exception", None)
    text = java.toString() if java is not None else str(exc)
    first = text.strip().splitlines()[0] if text.strip() else type(exc).__name__
    if "JAVA_GATEWAY_EXITED" in first:
        first += (f" Spark could not start Java (JAVA_HOME: "
                  f"{os.environ.get('JAVA_HOME', 'not set')}); it needs Java 8, 11 or 17.")
    return first


# The Spark session ----------------------------------------------------------------------

def _prefer_java_17() -> None:
    """Spark 3.5 runs on Java 8, 11 or 17, not on newer ones a machine may also have as its
    default ``java``: without a JAVA_HOME, Debian's Java 17 is used when it is there."""
    if "JAVA_HOME" in os.environ:
        return
    found = sorted(Path("/usr/lib/jvm").glob("java-17-openjdk-*/bin/java"))
    if found:
        os.environ["JAVA_HOME"] = str(found[0].parents[1])


def _splink_jars() -> tuple[Path, ...]:
    """The jar of the string similarity functions Splink's Spark backend registers
    (``jaro_winkler``, ``damerau_levenshtein``: the linkage model's), when Splink is
    installed: only a session's start can add a jar that functions are registered from."""
    try:
        from splink.backends.spark import similarity_jar_location
    except ImportError:
        return ()
    return (Path(similarity_jar_location()),)


def spark_session(master: str | None = None, config: dict[str, str] | None = None) -> Any:
    """The process's Spark session: the running one (spark-submit), else a local one with
    ``config`` added (which only a session's first start can set: memory, the UI)."""
    from pyspark.sql import SparkSession

    with _ROOT_LOCK:
        active = SparkSession.getActiveSession()
        if active is not None:
            return active
        if os.environ.get("PYSPARK_GATEWAY_PORT"):
            # Started by spark-submit (or a platform's gateway): the session is the cluster's,
            # with the master, jars and memory it was submitted with; none of ours.
            session = SparkSession.builder.getOrCreate()
            session.sparkContext.setLogLevel("ERROR")
            return session
        os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
        # Python UDFs (the linkage's) run in this interpreter's environment, not the
        # first python3 on the PATH.
        os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
        _prefer_java_17()
        builder = (SparkSession.builder
                   .master(master or os.environ.get(SPARK_MASTER_ENV, DEFAULT_MASTER))
                   .appName("socle")
                   .config("spark.ui.enabled", "false")
                   .config("spark.ui.showConsoleProgress", "false")
                   # Dates are days, never instants: no time zone may shift one.
                   .config("spark.sql.session.timeZone", "UTC")
                   # The indicators group a registry into a few thousand areas at most.
                   .config("spark.sql.shuffle.partitions",
                           os.environ.get(SPARK_SHUFFLE_PARTITIONS_ENV, "8")))
        if os.environ.get(SPARK_DRIVER_MEMORY_ENV):
            builder = builder.config("spark.driver.memory", os.environ[SPARK_DRIVER_MEMORY_ENV])
        jars = [str(p) for p in (*POSTGRES_JDBC_JARS, *_splink_jars()) if p.is_file()]
        if jars:
            builder = builder.config("spark.jars", ",".join(jars))
        for key, value in (config or {}).items():
            builder = builder.config(key, value)
        session = builder.getOrCreate()
        session.sparkContext.setLogLevel("ERROR")
        return session


def register_parquet_registry(session: Any, folder: Path) -> None:
    """Each contract table of the Parquet registry ``folder`` as a temporary view of
    ``session`` (a table missing is left out: the contract check names it)."""
    if not folder.is_dir():
        raise SparkRegistryError(f"the Parquet registry folder `{folder}` does not exist")
    for table in REGISTRY_TABLES:
        path = parquet_table_path(folder, table.name)
        if path is None:
            continue
        try:
            session.read.parquet(str(path)).createOrReplaceTempView(table.name)
        except Exception as exc:  # Spark's AnalysisException and py4j errors alike
            raise SparkRegistryError(
                f"cannot read `{path}` as the registry's `{table.name}` table: "
                f"{spark_message(exc)}") from None


def register_remote_parquet_registry(session: Any, location: str) -> None:
    """Each contract table of a Parquet registry that Spark reads from a storage URI
    (``s3a://``, ``abfss://``, ``gs://``, ``hdfs://``, ``dbfs:/``): ``<table>.parquet``
    under it, as a temporary view (a table missing is left out: the contract check names
    it)."""
    for table in REGISTRY_TABLES:
        path = f"{location.rstrip('/')}/{table.name}.parquet"
        try:
            session.read.parquet(path).createOrReplaceTempView(table.name)
        except Exception as exc:
            message = spark_message(exc)
            if "PATH_NOT_FOUND" in message or "does not exist" in message:
                continue
            raise SparkRegistryError(f"cannot read `{path}` as the registry's `{table.name}` "
                                     f"table: {message}") from None


def register_jdbc_registry(session: Any, jdbc_url: str) -> None:
    """Each contract table of the database at ``jdbc_url`` as a temporary view (read over
    JDBC as queries ask for it; a table missing is left out: the contract check names it)."""
    options = {"url": jdbc_url}
    for prefix, driver in JDBC_DRIVERS.items():
        if jdbc_url.startswith(prefix):
            options["driver"] = driver
    for table in REGISTRY_TABLES:
        try:
            frame = session.read.format("jdbc").options(**options, dbtable=table.name).load()
        except Exception as exc:  # the driver's error, through py4j
            message = spark_message(exc)
            if "does not exist" in message:
                continue
            raise SparkRegistryError(f"cannot read the registry's `{table.name}` table over "
                                     f"JDBC: {message}") from None
        frame.createOrReplaceTempView(table.name)


# DB-API 2.0 over a Spark session (what SQLAlchemy drives) ----------------------------------

class Error(Exception):
    pass


class Warning(Exception):  # noqa: A001 - the DB-API names it so
    pass


class InterfaceError(Error):
    pass


class DatabaseError(Error):
    pass


class DataError(DatabaseError):
    pass


class OperationalError(DatabaseError):
    pass


class IntegrityError(DatabaseError):
    pass


class InternalError(DatabaseError):
    pass


class ProgrammingError(DatabaseError):
    pass


class NotSupportedError(DatabaseError):
    pass


apilevel = "2.0"
threadsafety = 2  # connections share the session; Spark takes jobs from many threads
paramstyle = "named"


class Cursor:
    arraysize = 1000

    def __init__(self, session: Any) -> None:
        self._session = session
        self._rows: Iterator[tuple] = iter(())
        self.description: list[tuple] | None = None
        self.rowcount = -1

    def execute(self, operation: str, parameters: Mapping[str, Any] | None = None) -> None:
        statement, returns_rows = dialects.to_spark_sql(operation, parameters or {})
        try:
            frame = self._session.sql(statement)
            if returns_rows:
                self.description = [(field.name, field.dataType.simpleString(), None, None,
                                     None, None, True) for field in frame.schema.fields]
                self._rows = iter([tuple(row) for row in frame.collect()])
            else:
                self.description = None
                self._rows = iter(())
        except Exception as exc:  # Spark's AnalysisException, ParseException, py4j errors
            raise ProgrammingError(f"{spark_message(exc)}\n[Spark SQL] {statement}") from None

    def executemany(self, operation: str, seq_of_parameters: Sequence[Mapping[str, Any]]) -> None:
        for parameters in seq_of_parameters:
            self.execute(operation, parameters)

    def fetchone(self) -> tuple | None:
        return next(self._rows, None)

    def fetchmany(self, size: int | None = None) -> list[tuple]:
        rows = []
        for _ in range(size or self.arraysize):
            row = next(self._rows, None)
            if row is None:
                break
            rows.append(row)
        return rows

    def fetchall(self) -> list[tuple]:
        return list(self._rows)

    def close(self) -> None:
        self._rows = iter(())

    def setinputsizes(self, sizes: object) -> None:
        pass

    def setoutputsize(self, size: object, column: object = None) -> None:
        pass


class Connection:
    """A DB-API connection: the engine's Spark session. Nothing is ever written to the
    registry, so commit and rollback have nothing to do."""

    def __init__(self, session: Any) -> None:
        self.session = session

    def cursor(self) -> Cursor:
        return Cursor(self.session)

    def commit(self) -> None:
        pass

    def rollback(self) -> None:
        pass

    def close(self) -> None:
        pass


# The SQLAlchemy dialect -------------------------------------------------------------------

# Spark's type names (DataType.simpleString) as the contract's SQLAlchemy types.
_SPARK_TYPES: dict[str, sa.types.TypeEngine] = {
    "string": sa.Text(), "varchar": sa.Text(), "char": sa.Text(),
    "tinyint": sa.Integer(), "smallint": sa.Integer(), "int": sa.Integer(),
    "bigint": sa.BigInteger(),
    "float": sa.Float(), "double": sa.Float(), "decimal": sa.Numeric(),
    "boolean": sa.Boolean(),
    "date": sa.Date(), "timestamp": sa.DateTime(), "timestamp_ntz": sa.DateTime(),
}


def _sa_type(spark_type: str) -> sa.types.TypeEngine:
    base = spark_type.split("(", 1)[0].lower()
    return _SPARK_TYPES.get(base, sa.types.NullType())


class SparkDialect(default.DefaultDialect):
    """SQLAlchemy's PostgreSQL compiler over the DB-API above (statements are transpiled to
    Spark SQL as they are executed)."""

    name = "spark"
    driver = "pyspark"
    statement_compiler = PGCompiler
    ddl_compiler = PGDDLCompiler
    type_compiler_cls = PGTypeCompiler
    preparer = PGIdentifierPreparer
    default_paramstyle = "named"
    supports_statement_cache = True
    supports_native_boolean = True
    supports_native_decimal = True
    supports_sane_rowcount = False
    # What PGCompiler reads off its dialect: a literal's backslash is no escape in Spark's
    # transpiled text either (sqlglot re-quotes every string it writes).
    _backslash_escapes = False
    _supports_jsonb_subscripting = False

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._session: Any = None
        self._session_lock = threading.Lock()

    @classmethod
    def import_dbapi(cls) -> Any:
        import data_access.spark as module

        return module

    def create_connect_args(self, url: URL) -> tuple[list, dict]:
        return [], {"folder": url.database or "", "jdbc": url.query.get("jdbc"),
                    "parquet": url.query.get("parquet"), "master": url.query.get("master")}

    def connect(self, *args: Any, folder: str = "", jdbc: str | None = None,
                parquet: str | None = None, master: str | None = None,
                **kwargs: Any) -> Connection:
        with self._session_lock:
            if self._session is None:
                # A session of its own per engine: the registry's views are its own.
                session = spark_session(master).newSession()
                if jdbc:
                    register_jdbc_registry(session, jdbc)
                elif parquet:
                    register_remote_parquet_registry(session, parquet)
                else:
                    register_parquet_registry(session, Path(folder))
                self._session = session
        return Connection(self._session)

    def initialize(self, connection: Any) -> None:
        self.server_version_info = (0,)
        self.default_schema_name = "default"
        self.default_isolation_level = None

    def _get_server_version_info(self, connection: Any) -> tuple:
        return (0,)

    def _get_default_schema_name(self, connection: Any) -> str:
        return "default"

    def get_isolation_level(self, dbapi_connection: Any) -> str:
        return "AUTOCOMMIT"

    def do_rollback(self, dbapi_connection: Any) -> None:
        pass

    def do_commit(self, dbapi_connection: Any) -> None:
        pass

    def do_ping(self, dbapi_connection: Any) -> bool:
        return True

    def _catalog(self, connection: sa.Connection) -> Any:
        return connection.connection.dbapi_connection.session.catalog

    def get_table_names(self, connection: sa.Connection, schema: str | None = None,
                        **kw: Any) -> list[str]:
        return []

    def get_view_names(self, connection: sa.Connection, schema: str | None = None,
                       **kw: Any) -> list[str]:
        return [t.name for t in self._catalog(connection).listTables() if t.isTemporary]

    def has_table(self, connection: sa.Connection, table_name: str, schema: str | None = None,
                  **kw: Any) -> bool:
        return table_name.lower() in {n.lower() for n in self.get_view_names(connection)}

    def get_columns(self, connection: sa.Connection, table_name: str,
                    schema: str | None = None, **kw: Any) -> list[dict]:
        session = connection.connection.dbapi_connection.session
        return [{"name": field.name, "type": _sa_type(field.dataType.simpleString()),
                 "nullable": field.nullable, "default": None}
                for field in session.table(table_name).schema.fields]

    def get_pk_constraint(self, connection: sa.Connection, table_name: str,
                          schema: str | None = None, **kw: Any) -> dict:
        return {"constrained_columns": [], "name": None}

    def get_foreign_keys(self, connection: sa.Connection, table_name: str,
                         schema: str | None = None, **kw: Any) -> list:
        return []

    def get_indexes(self, connection: sa.Connection, table_name: str,
                    schema: str | None = None, **kw: Any) -> list:
        return []


sa.dialects.registry.register("spark", "data_access.spark", "SparkDialect")
