"""Reading the registry's persons into DuckDB and preparing them for the model.

Persons are read through the registry gateway in chunks into an in-process DuckDB and
prepared there in SQL (digits-only ids and phones, birth-date parts); name keys, the sex and
the birth dates are computed in Python once per distinct value and joined. ``prepare`` runs
the same preparation on a frame (tests, single pairs).
"""

from __future__ import annotations

import datetime as dt
import gc
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import sqlalchemy as sa

from core.values import as_text
from data_access.registry import connection
from data_access.schema import area, household, person
from linkage import names

PERSON_COLUMNS: tuple[str, ...] = (
    "person_id", "household_id", "national_id", "first_name", "last_name", "father_name",
    "phone", "sex", "birth_date", "registered_on", "area_id", "area_parent",
)


# Columns of the prepared table that the model reads (prepare_in_duckdb writes them).
MODEL_COLUMNS: tuple[str, ...] = (
    "unique_id", "household_id", "area_id", "sex", "national_id", "phone",
    "first_clean", "first_key", "first_core", "first_skel", "first_initial",
    "last_key", "last_skel", "father_key", "father_core", "father_skel", "name_pair",
    "birth_date", "birth_year", "birth_month", "birth_day", "area_parent", "father_initial",
)

# --- reading and preparing ---------------------------------------------------------------

# The registry's columns that the preparation reads, kept as text (dates as ISO text) in the
# raw table the job reads the registry into.
RAW_COLUMNS: tuple[str, ...] = tuple(c for c in PERSON_COLUMNS if c != "registered_on")
# Rows fetched from the registry at a time (a chunk is converted to Arrow, then inserted).
CHUNK_ROWS = 100_000


def _persons_query(columns: tuple[str, ...] = PERSON_COLUMNS) -> sa.Select:
    # area_parent: the area one level above the household's (a tehsil for a union
    # council), a key adaptive blocking may add to a block too large.
    source = {**{c.name: c for c in person.c}, "area_id": household.c.area_id,
              "area_parent": area.c.parent_id.label("area_parent")}
    return (
        sa.select(*[source[c] for c in columns])
        .select_from(person.outerjoin(household,
                                      household.c.household_id == person.c.household_id)
                     .outerjoin(area, area.c.area_id == household.c.area_id))
        .order_by(person.c.person_id)
    )


def read_persons(engine: sa.Engine) -> pd.DataFrame:
    """Every person of the registry with their household's area (None when the household is
    missing), sorted by person_id. (The job itself reads in chunks: read_raw_persons.)"""
    with connection(engine) as conn:
        result = conn.execute(_persons_query())
        frame = pd.DataFrame(result.fetchall(), columns=list(PERSON_COLUMNS), dtype=object)
    return frame


def _text_array(values: list[Any]) -> pa.Array:
    """A column as Arrow text, as pandas' astype("string") gives it: missing values (None,
    NaN, NaT) null, anything else str() (a date: its ISO text)."""
    try:
        return pa.array(values, type=pa.string(), from_pandas=True)
    except (pa.ArrowTypeError, pa.ArrowInvalid):
        pass
    # Dates (a registry's birth dates): converted by Arrow, ISO text as str() gives it.
    if not any(isinstance(v, dt.datetime) for v in values):
        try:
            dates = pa.array(values, from_pandas=True)
        except (pa.ArrowTypeError, pa.ArrowInvalid):
            dates = None
        if dates is not None and dates.type == pa.date32():
            return dates.cast(pa.string())
    return pa.array([as_text(v) for v in values], type=pa.string(), from_pandas=True)


def _raw_table(columns: list[list[Any]], names: tuple[str, ...] = RAW_COLUMNS) -> pa.Table:
    return pa.table({name: _text_array(values) for name, values in zip(names, columns,
                                                                        strict=True)})


def _create_raw(con, table: str, extra: str = "") -> None:
    columns = ", ".join(f"{c} VARCHAR" for c in RAW_COLUMNS)
    con.execute(f"CREATE TABLE {table} ({columns}{extra})")


@contextmanager
def _no_cyclic_gc() -> Iterator[None]:
    """The cyclic garbage collector paused: reading makes many short-lived objects and no
    cycles, and the collector's passes over each chunk's rows took a third of the read."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def read_raw_persons(engine: sa.Engine, con, table: str, *,
                     chunk_rows: int = CHUNK_ROWS) -> int:
    """Read the registry's persons (RAW_COLUMNS) into a new DuckDB table of text columns,
    ``chunk_rows`` at a time (Python never holds every person); the number of persons."""
    _create_raw(con, table)
    count = 0
    with _no_cyclic_gc(), connection(engine) as conn:
        result = conn.execution_options(yield_per=chunk_rows).execute(
            _persons_query(RAW_COLUMNS))
        for rows in result.partitions():
            chunk = _raw_table([list(column) for column in zip(*rows, strict=True)])
            con.register("linkage_raw_chunk", chunk)
            try:
                con.execute(f"INSERT INTO {table} SELECT * FROM linkage_raw_chunk")
            finally:
                con.unregister("linkage_raw_chunk")
            count += len(rows)
    return count


def _dates(values: pd.Series) -> pd.Series:
    return pd.to_datetime(values.astype("string"), errors="coerce", format="ISO8601")


def _sexes(values: pd.Series) -> pd.Series:
    return values.astype("string").str.strip().str.upper()


def _lookups(con, raw: str) -> dict[str, pa.Table]:
    """What Python computes once per distinct value of the raw table, as Arrow tables to join:
    the name keys (names.py) of every first, last and father's name, the sex as written
    upper case, and the birth dates parsed (ISO 8601; anything else unknown)."""
    def distinct(sql: str) -> list[str]:
        return [row[0] for row in con.execute(sql).fetchall()]

    found = distinct(
        f"SELECT first_name FROM {raw} WHERE first_name IS NOT NULL UNION "
        f"SELECT last_name FROM {raw} WHERE last_name IS NOT NULL UNION "
        f"SELECT father_name FROM {raw} WHERE father_name IS NOT NULL")
    text = pa.string()
    name_keys = pa.table({
        "name": pa.array(found, type=text),
        "clean": pa.array([names.clean(n) for n in found], type=text),
        "key": pa.array([names.key(n) for n in found], type=text),
        "core": pa.array([names.core(n) for n in found], type=text),
        "skel": pa.array([names.skeleton(n) for n in found], type=text),
    })
    written = pd.Series(distinct(f"SELECT DISTINCT sex FROM {raw} WHERE sex IS NOT NULL"),
                        dtype=object)
    sexes = pa.table({"value": pa.array(written.tolist(), type=text),
                      "sex": pa.array(_sexes(written).tolist(), type=text, from_pandas=True)})
    given = pd.Series(distinct(f"SELECT DISTINCT birth_date FROM {raw} "
                               "WHERE birth_date IS NOT NULL"), dtype=object)
    born = _dates(given)
    known = born.notna()
    year, month, day = (pa.array(part.astype("Int64"), type=pa.int64())
                        for part in (born.dt.year, born.dt.month, born.dt.day))
    dates = pa.table({
        "value": pa.array(given.tolist(), type=text),
        "birth_date": pa.array(born.dt.date.where(known, None).tolist(), type=pa.date32()),
        "birth_year": year, "birth_month": month, "birth_day": day,
    })
    return {"linkage_name_keys": name_keys, "linkage_sexes": sexes, "linkage_dates": dates}


def _digits_sql(column: str) -> str:
    # Letter O read as 0, then every character but a decimal digit (Unicode Nd, as Python's
    # \d) removed.
    return f"regexp_replace(replace({column}, 'O', '0'), '\\P{{Nd}}', '', 'g')"


# The model's input columns (model.MODEL_COLUMNS) as SQL over the raw table ``r`` (with the
# digits of its national_id and phone) and the lookups joined to it: f, l, a (first, last,
# father's name keys), s (sex), b (birth date).
_PREPARED_SQL: dict[str, str] = {
    "unique_id": "CAST(r.person_id AS VARCHAR)",
    "household_id": "r.household_id",
    # A person whose household is missing gets an area of its own: no area is shared.
    "area_id": "coalesce(r.area_id, '?' || r.household_id)",
    "sex": "s.sex",
    "national_id": "CASE WHEN length(r.national_digits) >= 10 THEN r.national_digits END",
    "phone": "CASE WHEN length(r.phone_digits) >= 7 THEN r.phone_digits END",
    "first_clean": "f.clean",
    "first_key": "f.key",
    "first_core": "f.core",
    "first_skel": "f.skel",
    "first_initial": "left(f.core, 1)",
    "last_key": "l.key",
    "last_skel": "l.skel",
    "father_key": "a.key",
    "father_core": "a.core",
    "father_skel": "a.skel",
    "name_pair": "CASE WHEN f.key IS NOT NULL AND l.key IS NOT NULL "
                 "THEN least(f.key, l.key) || '|' || greatest(f.key, l.key) END",
    "birth_date": "b.birth_date",
    "birth_year": "b.birth_year",
    "birth_month": "b.birth_month",
    "birth_day": "b.birth_day",
    # The area one level up; without one (a top-level or unknown area), the area itself.
    "area_parent": "coalesce(r.area_parent, r.area_id, '?' || r.household_id)",
    "father_initial": "left(a.core, 1)",
}


def prepare_in_duckdb(con, raw: str, out: str, *, order_by: str = "unique_id") -> None:
    """Create the table ``out`` of the model's input (model.MODEL_COLUMNS) from the raw
    persons table ``raw`` (RAW_COLUMNS, text), sorted by ``order_by`` (SQL over the output
    columns or ``r.``, the raw table).

    Digits-only national id (the letter O read as 0; 10 digits at least) and phone (its last
    10 digits; 7 at least); the sex upper case; a person without a household's area gets an
    area of their own; name keys (names.py) and birth dates computed once per distinct
    value."""
    missing = [c for c in MODEL_COLUMNS if c not in _PREPARED_SQL]
    if missing:
        raise RuntimeError(f"prepare._PREPARED_SQL does not give {', '.join(missing)}")
    lookups = _lookups(con, raw)
    columns = ", ".join(f"{_PREPARED_SQL[c]} AS {c}" for c in MODEL_COLUMNS)
    for name, table in lookups.items():
        con.register(name, table)
    try:
        con.execute(
            f"CREATE TABLE {out} AS SELECT {columns} "
            f"FROM (SELECT *, {_digits_sql('national_id')} AS national_digits, "
            f"right({_digits_sql('phone')}, 10) AS phone_digits FROM {raw}) r "
            "LEFT JOIN linkage_name_keys f ON f.name = r.first_name "
            "LEFT JOIN linkage_name_keys l ON l.name = r.last_name "
            "LEFT JOIN linkage_name_keys a ON a.name = r.father_name "
            "LEFT JOIN linkage_sexes s ON s.value = r.sex "
            "LEFT JOIN linkage_dates b ON b.value = r.birth_date "
            f"ORDER BY {order_by}")
    finally:
        for name in lookups:
            con.unregister(name)


def prepare_frame_in_duckdb(con, frame: pd.DataFrame, out: str) -> None:
    """The table ``out`` of the DuckDB ``con``: prepare_in_duckdb on read_persons' frame, in the
    frame's order (its columns typed, even a column with no value)."""
    _create_raw(con, "raw_persons", ", row_number BIGINT")
    # A frame without the area one level up (older callers) leaves it unknown.
    chunk = _raw_table([frame[c].tolist() if c in frame else [None] * len(frame)
                        for c in RAW_COLUMNS]).append_column(
        "row_number", pa.array(np.arange(len(frame), dtype=np.int64)))
    con.register("frame_persons", chunk)
    con.execute("INSERT INTO raw_persons SELECT * FROM frame_persons")
    con.unregister("frame_persons")
    prepare_in_duckdb(con, "raw_persons", out, order_by="r.row_number")
    con.execute("DROP TABLE raw_persons")


def prepare(frame: pd.DataFrame) -> pd.DataFrame:
    """The model's input (model.MODEL_COLUMNS) from read_persons' frame, in its order and
    index: prepare_in_duckdb run on the frame in a DuckDB of its own."""
    import duckdb

    con = duckdb.connect(":memory:")
    try:
        con.execute("SET threads = 1")
        prepare_frame_in_duckdb(con, frame, "prepared")
        cursor = con.execute("SELECT * FROM prepared")
        names_ = [d[0] for d in cursor.description]
        rows = cursor.fetchall()
    finally:
        con.close()
    columns = list(zip(*rows, strict=True)) if rows else [()] * len(names_)
    out = pd.DataFrame({c: pd.Series(list(v), index=frame.index, dtype=object)
                        for c, v in zip(names_, columns, strict=True)})
    out["unique_id"] = out["unique_id"].astype(str)
    for c in ("birth_year", "birth_month", "birth_day"):
        out[c] = out[c].astype("Int64")
    return out
