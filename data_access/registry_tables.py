"""The registry's tables as the indicators read them: dates read as dates on every backend.

A registry may store dates as text (SQLite always does; CSV-born DuckDB and PostgreSQL
registries often do). Such a date column is read through ``dialects.strict_date`` (on SQLite
only when the column holds an unreadable date: ISO text already compares like dates): a text
holding a valid ``YYYY-MM-DD`` day is that day, anything else ('31/12/2025', '2026-02-30') is
no date at all, never an error. Each table whose dates are read this way gets a column
``_unreadable_dates``: how many of the row's dates were present but unreadable, which
``dq.malformed_dates`` counts. Tables whose dates are stored as dates are used as they are
(the SQL is unchanged); the analytical copy (data_access.analytic_copy) stores dates typed and
keeps the count it found in the same column.
"""

from __future__ import annotations

import threading
import weakref
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.sql.elements import ColumnElement

from data_access import dialects
from data_access.registry import registry_last_loaded
from data_access.schema import REGISTRY_TABLES, column_families

UNREADABLE = "_unreadable_dates"
# The tables dq.malformed_dates (and dq.invalid_rows) report on.
DATED_TABLES = ("household", "person", "enrolment", "referral")
COPY_MARKER = "socle_copy"  # a table only the analytical copy has

@dataclass(frozen=True)
class RegistryTables:
    """Each contract table (or the select that reads its dates) by name."""

    by_name: dict[str, sa.FromClause | ReadingDates]

    @property
    def area(self) -> sa.FromClause:
        return self.by_name["area"]

    @property
    def access_point(self) -> sa.FromClause:
        return self.by_name["access_point"]

    @property
    def household(self) -> sa.FromClause:
        return self.by_name["household"]

    @property
    def person(self) -> sa.FromClause:
        return self.by_name["person"]

    @property
    def programme(self) -> sa.FromClause:
        return self.by_name["programme"]

    @property
    def enrolment(self) -> sa.FromClause:
        return self.by_name["enrolment"]

    @property
    def referral(self) -> sa.FromClause:
        return self.by_name["referral"]

    def unreadable_dates(self, name: str) -> ColumnElement:
        """How many dates of a row of table ``name`` are present but unreadable (0 when the
        table's dates are stored as dates)."""
        source = self.by_name[name]
        return source.c[UNREADABLE] if UNREADABLE in source.c else sa.literal(0)


def _date_columns(table: sa.Table) -> list[str]:
    return [c.name for c in table.columns if isinstance(c.type, sa.Date)]


class _Columns:
    """Columns by name, as ``table.c`` gives them (``c.area_id``, ``c["area_id"]``, ``in``)."""

    def __init__(self, columns: dict[str, ColumnElement]) -> None:
        self._columns = columns

    def __getattr__(self, name: str) -> ColumnElement:
        try:
            return self._columns[name]
        except KeyError:
            raise AttributeError(name) from None

    def __getitem__(self, name: str) -> ColumnElement:
        return self._columns[name]

    def __contains__(self, name: object) -> bool:
        return name in self._columns

    def __iter__(self):
        return iter(self._columns.values())


class ReadingDates:
    """A contract table whose text dates are read as dates where its columns are used.

    Not a subquery: joins and selects name the table itself (``__clause_element__``), so the
    database keeps using its indexes (a derived table in an EXISTS has none on SQLite); only
    the date columns are expressions, labelled with their names.
    """

    def __init__(self, table: sa.FromClause, dialect: str, text_dates: list[str]) -> None:
        self._table, self._dialect, self._text_dates = table, dialect, text_dates
        columns: dict[str, ColumnElement] = {}
        unreadable: list[ColumnElement] = []
        for column in table.columns:
            if column.name in text_dates:
                read = dialects.strict_date(dialect, column)
                columns[column.name] = read.label(column.name)
                unreadable.append(sa.case((sa.and_(column.is_not(None), read.is_(None)), 1),
                                          else_=0))
            else:
                columns[column.name] = column
        columns[UNREADABLE] = sum(unreadable[1:], unreadable[0]).label(UNREADABLE)
        self.c = _Columns(columns)

    def __clause_element__(self) -> sa.FromClause:
        return self._table

    @property
    def name(self) -> str:
        return self._table.name

    def alias(self, name: str) -> ReadingDates:
        return ReadingDates(self._table.alias(name), self._dialect, self._text_dates)

    def join(self, *args, **kwargs) -> sa.Join:
        return self._table.join(*args, **kwargs)

    def outerjoin(self, *args, **kwargs) -> sa.Join:
        return self._table.outerjoin(*args, **kwargs)


def _copy_table(table: sa.Table) -> sa.Table:
    """The copy's table: the contract's columns (dates typed) and its unreadable count."""
    return sa.Table(table.name, sa.MetaData(),
                    *[sa.Column(c.name, c.type, primary_key=c.primary_key) for c in table.columns],
                    sa.Column(UNREADABLE, sa.Integer))


def _sqlite_unreadable(engine: sa.Engine, table: sa.Table, dates: list[str]) -> list[str]:
    """The date columns of ``table`` holding at least one unreadable date (SQLite)."""
    found = []
    with engine.connect() as conn:
        for name in dates:
            column = table.c[name]
            read = dialects.strict_date("sqlite", column)
            query = sa.select(sa.exists().where(column.is_not(None), read.is_(None)))
            if conn.execute(query).scalar():
                found.append(name)
    return found


def build_registry_tables(engine: sa.Engine) -> RegistryTables:
    """The tables of the registry behind ``engine``, reading text dates as dates."""
    families = column_families(engine)
    dialect = engine.dialect.name
    is_copy = COPY_MARKER in families
    by_name: dict[str, sa.FromClause | ReadingDates] = {}
    for table in REGISTRY_TABLES:
        dates = _date_columns(table)
        if is_copy and dates and UNREADABLE in families.get(table.name, {}):
            by_name[table.name] = _copy_table(table)
            continue
        stored = families.get(table.name, {})
        if dialect == "sqlite":
            # SQLite has no date storage class: its dates are ISO text, which compares like
            # dates. Reading each date costs a function call per row on every query, so it
            # is done only for the columns that hold an unreadable date (checked once).
            text_dates = _sqlite_unreadable(engine, table, dates) if dates else []
        else:
            text_dates = [c for c in dates if stored.get(c, ("date", ""))[0] in ("text", "any")]
        by_name[table.name] = ReadingDates(table, dialect, text_dates) if text_dates else table
    return RegistryTables(by_name)


_CACHE: weakref.WeakKeyDictionary[sa.Engine, tuple[object, RegistryTables]] = \
    weakref.WeakKeyDictionary()
_LOCK = threading.Lock()


def registry_tables(engine: sa.Engine) -> RegistryTables:
    """build_registry_tables, once per engine and registry version (a reloaded SQLite file
    is looked at again)."""
    version = registry_last_loaded(engine)
    with _LOCK:
        cached = _CACHE.get(engine)
    if cached is not None and cached[0] == version:
        return cached[1]
    found = build_registry_tables(engine)
    with _LOCK:
        _CACHE[engine] = (version, found)
    return found
