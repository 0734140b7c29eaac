"""Where ``python -m indicators.cube`` finds a registry for the engine asked for.

    registry_url("spark", "/data/registry")            # a Parquet folder, read by Spark
    registry_url("spark", "jdbc:postgresql://db/reg")  # a PostgreSQL registry, over JDBC
    registry_url("spark", "postgresql+psycopg://db/reg")  # the same
    registry_url("spark", "s3a://bucket/registry")     # a cluster's storage, read by Spark
    registry_url("duckdb", "/data/registry", scratch)  # the same folder, read by DuckDB
    registry_url("duckdb", "duckdb:///registry.duckdb")

A Parquet registry is a folder holding one Parquet file or dataset per contract table, named
after the table (``area.parquet``, ``household.parquet``, ...).
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import quote

from data_access.registry import RegistryError
from data_access.schema import REGISTRY_TABLES

ENGINES = ("duckdb", "spark")


def parquet_table_path(folder: Path, table: str) -> Path | None:
    """The Parquet file or dataset of ``table`` in a registry folder, or None."""
    for candidate in (folder / f"{table}.parquet", folder / table):
        if candidate.exists():
            return candidate
    return None


# Where a cluster keeps files: a Parquet registry there is read by Spark where it is.
STORAGE_SCHEMES = ("s3://", "s3a://", "s3n://", "abfs://", "abfss://", "wasbs://", "gs://",
                   "hdfs://", "dbfs:/", "file://")


def is_storage_uri(registry: str) -> bool:
    return registry.lower().startswith(STORAGE_SCHEMES)


def spark_registry_url(registry: str) -> str:
    """The SQLAlchemy URL (data_access.spark) of a registry given as a Parquet folder (on
    this machine, or a cluster's storage URI) or a JDBC URL."""
    if registry.startswith("jdbc:"):
        return f"spark:///?jdbc={quote(registry, safe='')}"
    if is_storage_uri(registry):
        return f"spark:///?parquet={quote(registry, safe='')}"
    return f"spark:///{Path(registry).resolve()}"


def jdbc_url(url: str) -> str:
    """The JDBC URL of a PostgreSQL SQLAlchemy URL (``postgresql+psycopg://u:p@host/db``)."""
    from urllib.parse import urlencode

    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    if parsed.get_backend_name() != "postgresql":
        raise RegistryError(f"the spark engine reads PostgreSQL over JDBC, not "
                            f"`{parsed.get_backend_name()}`")
    credentials = {key: value for key, value in (("user", parsed.username),
                                                  ("password", parsed.password)) if value}
    where = f"{parsed.host or 'localhost'}:{parsed.port or 5432}/{parsed.database or ''}"
    return f"jdbc:postgresql://{where}" + (f"?{urlencode(credentials)}" if credentials else "")


def _sql_text(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def duckdb_over_parquet(folder: Path, database: Path) -> Path:
    """A DuckDB file at ``database`` holding one view per Parquet table of ``folder`` (DuckDB
    reads the files where they are: nothing is copied)."""
    import duckdb

    if database.exists():
        database.unlink()
    con = duckdb.connect(str(database))
    try:
        for table in REGISTRY_TABLES:
            path = parquet_table_path(folder, table.name)
            if path is None:
                continue  # the contract check names it
            files = str((path / "**" / "*.parquet") if path.is_dir() else path.resolve())
            try:
                con.execute(f"CREATE VIEW {table.name} AS SELECT * FROM read_parquet("
                            f"{_sql_text(files)})")
            except duckdb.Error as exc:
                raise RegistryError(f"cannot read `{path}` as the registry's `{table.name}` "
                                    f"table: {str(exc).splitlines()[0]}") from None
    finally:
        con.close()
    return database


def registry_url(engine: str, registry: str, scratch: Path | None = None) -> str:
    """The SQLAlchemy URL the registry ``registry`` (a Parquet folder, a JDBC URL or a
    database URL) is read through on ``engine``; ``scratch``: a folder for DuckDB's views."""
    if engine not in ENGINES:
        raise RegistryError(f"unknown engine `{engine}` (engines: {', '.join(ENGINES)})")
    is_jdbc = registry.startswith("jdbc:")
    is_url = "://" in registry and not is_jdbc and not is_storage_uri(registry)
    if engine == "spark":
        if is_url:
            return spark_registry_url(jdbc_url(registry))
        if is_storage_uri(registry):
            return spark_registry_url(registry)
        if not is_jdbc and not Path(registry).is_dir():
            raise RegistryError(f"the Parquet registry folder `{registry}` does not exist")
        return spark_registry_url(registry)
    if is_jdbc or is_storage_uri(registry):
        raise RegistryError("the duckdb engine reads a Parquet folder or a DuckDB file on this "
                            "machine; a JDBC URL or a storage URI needs --engine spark")
    if is_url:
        return registry
    path = Path(registry)
    if path.is_file() and path.suffix == ".duckdb":
        return f"duckdb:///{path.resolve()}"
    if not path.is_dir():
        raise RegistryError(f"the Parquet registry folder `{registry}` does not exist")
    if scratch is None:
        raise RegistryError("reading a Parquet folder on DuckDB needs a scratch folder")
    return f"duckdb:///{duckdb_over_parquet(path, scratch / 'registry-views.duckdb')}"
