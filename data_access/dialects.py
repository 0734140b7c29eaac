"""Every difference between SQLite, PostgreSQL, DuckDB and Spark that the indicators meet, in
one place.

Each function takes the dialect name (``engine.dialect.name``) and returns a SQLAlchemy
expression; a backend with no implementation raises an error naming it.

Spark (data_access.spark) has no SQLAlchemy compiler of its own: its statements are compiled
as PostgreSQL and transpiled by sqlglot (:func:`to_spark_sql`). So a Spark expression here is
the PostgreSQL one wherever sqlglot carries its meaning over (``~`` becomes ``RLIKE``, ``TEXT``
``STRING``, NULLS LAST is written out), and its own only where it would not.
"""

from __future__ import annotations

import datetime as dt
import decimal
import functools
import math
from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa
import sqlglot
from sqlalchemy.sql.elements import ColumnElement
from sqlglot import exp

SUPPORTED = ("sqlite", "postgresql", "duckdb", "spark")


class UnsupportedBackend(NotImplementedError):
    pass


def _check(dialect: str) -> None:
    if dialect not in SUPPORTED:
        raise UnsupportedBackend(
            f"indicators are not implemented for the `{dialect}` database "
            f"(supported: {', '.join(SUPPORTED)})"
        )


def materialises_blocks(dialect: str) -> bool:
    """Whether the indicators' shared building blocks are stored in temporary tables once per
    computation. DuckDB: yes, a block is one parallel columnar pass that every family then
    reads. PostgreSQL: no, its read-only transactions refuse CREATE TEMPORARY TABLE. SQLite:
    no, its planner reaches the registry's indexes through the blocks as subqueries. Spark: yes,
    as cached views (``CACHE TABLE``, :func:`to_spark_sql`): without them every family's query
    would read the Parquet files and shuffle them again."""
    _check(dialect)
    return dialect in ("duckdb", "spark")


def joins_by_hash(dialect: str) -> bool:
    """Whether a join to a grouped subquery is a hash join whatever its size. DuckDB and Spark:
    yes. PostgreSQL: not when the grouped side outgrows work_mem (an IN list it cannot hash is
    scanned once per row), so a window over a sort is the safer form there; SQLite: it has no
    index on a derived table to probe."""
    _check(dialect)
    return dialect in ("duckdb", "spark")


def stores_joined_blocks(dialect: str) -> bool:
    """Whether a block that is a table joined to another stored block, with nothing dropped
    or grouped (the valid persons: each person with their valid household's area), is stored
    as well. DuckDB: no. Its hash join, repeated in each family that reads the persons, costs
    about what writing them once does, and the stored copy is memory: the cube of 1M
    households (6.5M persons), three runs each, took 9.3-9.9 s stored and 9.8-10.4 s joined
    where read, with a peak of 1.9-2.0 GB stored and 1.55 GB not. Spark: yes: a join not
    cached is a shuffle of the Parquet files again in every family."""
    _check(dialect)
    return dialect == "spark"


def as_text(column: ColumnElement) -> ColumnElement:
    """The column as text: a registry may store national ids as integers."""
    return sa.cast(column, sa.Text)


def is_thirteen_digits(dialect: str, column: ColumnElement) -> ColumnElement[bool]:
    """True when the value is exactly 13 ASCII digits."""
    _check(dialect)
    text = as_text(column)
    if dialect == "sqlite":
        # SQLite has no built-in REGEXP function; GLOB with a negated class does the job.
        return sa.and_(sa.func.length(text) == 13, sa.not_(text.op("GLOB", is_comparison=True)("*[^0-9]*")))
    if dialect == "duckdb":
        # DuckDB's regexp_matches is a partial match; regexp_full_match anchors both ends.
        return sa.func.regexp_full_match(text, "[0-9]{13}", type_=sa.Boolean)
    return text.op("~", is_comparison=True)("^[0-9]{13}$")


def days_between(dialect: str, later: ColumnElement, earlier: ColumnElement) -> ColumnElement:
    """Whole days from ``earlier`` to ``later``."""
    _check(dialect)
    if dialect == "sqlite":
        # SQLite stores dates as ISO text; julianday turns them into day numbers.
        return sa.func.julianday(later) - sa.func.julianday(earlier)
    if dialect == "duckdb":
        # DuckDB's date - date is an interval in some versions; date_diff is always days.
        return sa.func.date_diff("day", earlier, later)
    if dialect == "spark":
        # Spark's date - date is an interval (Spark 3.3+); datediff(end, start) is days.
        return sa.func.datediff(later, earlier)
    # PostgreSQL: date - date is an integer number of days.
    return later - earlier


# A date of the ISO form, followed by anything (a time), as the contract writes dates.
_ISO_DAY = ("^[0-9]{4}-((0[13578]|1[02])-(0[1-9]|[12][0-9]|3[01])|(0[469]|11)-(0[1-9]|[12][0-9]|30)"
            "|02-(0[1-9]|1[0-9]|2[0-8]))")


def strict_date(dialect: str, column: ColumnElement) -> ColumnElement:
    """The date a text column holds (``YYYY-MM-DD``, maybe followed by a time); NULL for a
    text that holds no valid date ('31/12/2025', '2026-02-30'), never an error."""
    _check(dialect)
    day = sa.func.substr(as_text(column), 1, 10)
    if dialect == "sqlite":
        # SQLite keeps dates as ISO text. date() with a modifier normalises what it can read
        # ('2026-02-30' becomes '2026-03-02'; without a modifier it comes back unchanged), so a
        # day is valid only when it comes back the same.
        return sa.case((sa.func.date(day, "+0 days") == day, day), else_=sa.null())
    if dialect == "duckdb":
        # DuckDB does not compare VARCHAR with DATE; TRY_CAST gives NULL instead of an error.
        return sa.func.try_cast(day.op("AS")(sa.literal_column("DATE")), type_=sa.Date)
    # PostgreSQL has no TRY_CAST (pg_input_is_valid is 16+): a day is valid when it matches
    # the calendar's shape, or is a 29 February of a leap year; only then is it cast.
    year = sa.cast(sa.func.substr(day, 1, 4), sa.Integer)
    leap_day = sa.and_(day.op("~")("^[0-9]{4}-02-29$"),
                       sa.or_(sa.and_(year % 4 == 0, year % 100 != 0), year % 400 == 0))
    return sa.case((sa.or_(day.op("~")(_ISO_DAY), leap_day), sa.cast(day, sa.Date)),
                   else_=sa.null())


# Spark: statements compiled as PostgreSQL, transpiled -------------------------------------

@functools.lru_cache(maxsize=512)
def _parsed_postgres(sql: str) -> exp.Expression:
    return sqlglot.parse_one(sql, read="postgres")


def _literal(value: Any) -> exp.Expression:
    """A bound value as a Spark literal of its own type."""
    if value is None:
        return exp.null()
    if isinstance(value, bool):
        return exp.Boolean(this=value)
    if isinstance(value, (int, decimal.Decimal)):
        return exp.Literal.number(str(value))
    if isinstance(value, float):
        if not math.isfinite(value):
            return exp.cast(exp.Literal.string(str(value)), "double")
        # A DOUBLE literal (1.5D): a plain 1.5 would be a DECIMAL in Spark, and a
        # comparison with a DOUBLE column would then round differently.
        return exp.cast(exp.Literal.number(repr(value)), "double")
    if isinstance(value, dt.datetime):
        return exp.cast(exp.Literal.string(value.isoformat(sep=" ")), "timestamp")
    if isinstance(value, dt.date):
        return exp.cast(exp.Literal.string(value.isoformat()), "date")
    return exp.Literal.string(str(value))


def to_spark_sql(sql: str, parameters: Mapping[str, Any]) -> tuple[str, bool]:
    """A statement compiled by SQLAlchemy's PostgreSQL compiler (named parameters) as Spark
    SQL with its parameters in place, and whether it returns rows.

    Spark SQL takes no bound parameters from Python, so each value is written as a literal
    of its own type (a date as ``CAST('...' AS DATE)``). A temporary table made from a
    query (a building block kept for the families, indicators.blocks) becomes a cached view:
    Spark has no ``CREATE TEMPORARY TABLE ... AS``, and ``CACHE TABLE name AS`` computes the
    block once, eagerly, and keeps it for every query that reads it.
    """
    tree = _parsed_postgres(sql).copy()

    def bind(node: exp.Expression) -> exp.Expression:
        if isinstance(node, exp.Placeholder) and node.name in parameters:
            return _literal(parameters[node.name])
        return node

    tree = tree.transform(bind)
    if isinstance(tree, exp.Create) and tree.args.get("kind") == "TABLE" \
            and isinstance(tree.expression, exp.Query):
        name = tree.this.sql(dialect="spark")
        return f"CACHE TABLE {name} AS {tree.expression.sql(dialect='spark')}", False
    return tree.sql(dialect="spark"), isinstance(tree, exp.Query)


# The linkage model on Splink's backends ------------------------------------------------------
# The model's comparisons and blocking rules are written once, in DuckDB's SQL
# (linkage.model); Splink runs them on DuckDB or Spark (linkage.backends).

LINKAGE_DIALECTS = ("duckdb", "spark")


def linkage_sql(dialect: str, sql: str) -> str:
    """A condition of the linkage model (DuckDB's SQL) in ``dialect``'s.

    On Spark, sqlglot transpiles it (``starts_with`` becomes ``startswith``, ``date_diff``
    Spark's three-argument ``datediff``). Spark has no string similarity of its own: its
    ``damerau_levenshtein`` is Splink's (a jar; the same distances as DuckDB's), its
    ``jaro_winkler_similarity`` DuckDB's own, called from Spark (linkage.backends): the
    Jaro-Winkler of Splink's jar counts transpositions otherwise, and a name pair scored
    0.81 on one engine and 0.79 on the other would fall in another level."""
    if dialect not in LINKAGE_DIALECTS:
        raise ValueError(f"the linkage model runs on {' or '.join(LINKAGE_DIALECTS)}, "
                         f"not on `{dialect}`")
    if dialect == "duckdb":
        return sql

    def rename(node: exp.Expression) -> exp.Expression:
        if isinstance(node, exp.JarowinklerSimilarity):
            return exp.Anonymous(this="jaro_winkler_similarity",
                                 expressions=[node.this, node.expression])
        return node

    return sqlglot.parse_one(sql, read="duckdb").transform(rename).sql(dialect="spark")


def portable_hash(dialect: str, text_sql: str) -> str:
    """A non-negative 60-bit integer hash of a text expression, the same number on DuckDB
    and Spark: the first 15 hex digits of its md5. Splink samples records by a hash of
    their id (the random pairs of the u probabilities); each engine's own ``hash()`` is
    another function, so one seed would draw other records on each."""
    digits = f"substr(md5({text_sql}), 1, 15)"
    if dialect == "spark":
        return f"CAST(conv({digits}, 16, 10) AS BIGINT)"
    if dialect == "duckdb":
        return f"CAST('0x' || {digits} AS BIGINT)"
    raise ValueError(f"no portable hash for `{dialect}`")
