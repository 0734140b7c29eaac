"""Dates stored as text are read as dates on every backend; unreadable ones are no date at all,
counted by dq.malformed_dates, never a crash (docs/spec-choices.md 31)."""

from __future__ import annotations

from pathlib import Path

import fixture_registry as fx
import pandas as pd
import pytest
import sqlalchemy as sa

from data_access.loader import bulk_write_sqlite, write_duckdb_registry
from data_access.registry import open_registry
from indicators import compute
from tests.reference import long_form_differences, reference_compute

# (table, key column, key, date column, what the registry holds instead of a date)
MALFORMED = [
    ("household", "household_id", "H2", "registered_on", "01/03/2025"),  # not ISO: unregistered
    ("person", "person_id", "P1c", "birth_date", "2015-02-30"),  # no such day: unknown age
    ("enrolment", "enrolment_id", None, "ended_on", "soon"),  # an enrolment stays open
    ("referral", "referral_id", None, "referred_on", "2026-W01-1"),  # a week date: not ours
]


def dirty_date_tables() -> dict[str, pd.DataFrame]:
    tables = {name: frame.copy() for name, frame in fx.fixture_tables().items()}
    for table, key, value, column, text in MALFORMED:
        frame = tables[table].astype(object)
        row = frame.index[0] if value is None else frame.index[frame[key] == value][0]
        frame.loc[row, column] = text
        tables[table] = frame
    return tables


def _engine(kind: str, tmp_path: Path, tables: dict[str, pd.DataFrame]) -> sa.Engine:
    if kind == "duckdb":
        path = tmp_path / "text_dates.duckdb"
        write_duckdb_registry(path, tables, text_dates=True)
        return open_registry(f"duckdb:///{path}")
    path = tmp_path / "text_dates.db"

    def values_of(table: sa.Table) -> list[list]:
        # ISO text is how SQLite stores dates: the cells as text, malformed ones included.
        frame = tables.get(table.name, pd.DataFrame()).reindex(columns=[c.name for c in table.c])
        return [[None if pd.isna(v) else (v.isoformat() if hasattr(v, "isoformat") else v)
                 for v in frame[c.name].astype(object)] for c in table.columns]

    bulk_write_sqlite(path, values_of)
    return open_registry(f"sqlite:///{path}")


@pytest.mark.parametrize("kind", ["sqlite", "duckdb"])
@pytest.mark.parametrize("level", [1, 3])
def test_text_dates_are_read_as_dates_and_unreadable_ones_counted(kind, level, tmp_path):
    tables = dirty_date_tables()
    engine = _engine(kind, tmp_path, tables)
    got = compute(engine, as_of=fx.AS_OF, period_start=fx.PERIOD_START, level=level)
    expected = reference_compute(tables, as_of=fx.AS_OF, period_start=fx.PERIOD_START,
                                 level=level)
    assert long_form_differences(got, expected) == []
    malformed = got[got["indicator_id"] == "dq.malformed_dates"].set_index("breakdown")
    assert malformed.loc["table=household", "numerator"] == 1
    assert malformed.loc["table=person", "numerator"] == 1
    assert malformed.loc["table=enrolment", "numerator"] == 1
    assert malformed.loc["table=referral", "numerator"] == 1
    whole = malformed[malformed.index.isna()].iloc[0]
    assert whole["numerator"] == 4
    assert whole["denominator"] == sum(len(tables[t]) for t in
                                       ("household", "person", "enrolment", "referral"))


@pytest.mark.parametrize("kind", ["sqlite", "duckdb"])
def test_clean_text_dates_give_the_typed_registry_figures(kind, tmp_path):
    """Text dates with nothing unreadable: the same figures as dates stored as dates."""
    tables = fx.fixture_tables()
    engine = _engine(kind, tmp_path, tables)
    got = compute(engine, as_of=fx.AS_OF, period_start=fx.PERIOD_START, level=2)
    expected = reference_compute(tables, as_of=fx.AS_OF, period_start=fx.PERIOD_START, level=2)
    assert long_form_differences(got, expected) == []
    assert set(got.loc[got["indicator_id"] == "dq.malformed_dates", "numerator"]) == {0}


@pytest.mark.parametrize("kind", ["sqlite", "duckdb"])
def test_rows_with_unreadable_dates_are_listed_under_their_rule(kind, tmp_path):
    from data_access.context import UserContext
    from indicators.lists import list_rows

    tables = dirty_date_tables()
    engine = _engine(kind, tmp_path, tables)
    rows = pd.concat(list(list_rows(engine, "data_quality_rows", context=UserContext("admin"),
                                    area_id=None, as_of=fx.AS_OF,
                                    period_start=fx.PERIOD_START)), ignore_index=True)
    unreadable = rows[rows["indicator_id"] == "dq.malformed_dates"]
    assert sorted(unreadable["table"]) == ["enrolment", "household", "person", "referral"]
    assert set(unreadable["rule_id"]) == {"unreadable_date"}
    # The referral whose referred_on is no date is left out, and listed so.
    left_out = rows[(rows["indicator_id"] == "dq.invalid_rows") & (rows["table"] == "referral")]
    assert "referred_on_missing" in set(left_out["rule_id"])
