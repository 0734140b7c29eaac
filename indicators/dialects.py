"""Every difference between SQLite, PostgreSQL and DuckDB that the indicators meet, in one place.

Each function takes the dialect name (``engine.dialect.name``) and returns a SQLAlchemy
expression; a backend with no implementation raises an error naming it.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.sql.elements import ColumnElement

SUPPORTED = ("sqlite", "postgresql", "duckdb")


class UnsupportedBackend(NotImplementedError):
    pass


def _check(dialect: str) -> None:
    if dialect not in SUPPORTED:
        raise UnsupportedBackend(
            f"indicators are not implemented for the `{dialect}` database "
            f"(supported: {', '.join(SUPPORTED)})"
        )


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
    # PostgreSQL: date - date is an integer number of days.
    return later - earlier
