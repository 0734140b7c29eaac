"""Write a registry (the demo, test fixtures, benchmark copies): never used on a real registry.

Tables are created from the contract without foreign keys or NOT NULL constraints, so that
dirty rows (unknown areas, missing units) can be loaded as real registries hold them.
"""

from __future__ import annotations

from typing import Iterable, Mapping

import pandas as pd
import sqlalchemy as sa

from data_access.schema import REGISTRY_TABLES


def loose_metadata() -> sa.MetaData:
    """The contract's tables with primary keys only."""
    metadata = sa.MetaData()
    for table in REGISTRY_TABLES:
        sa.Table(table.name, metadata, *[
            sa.Column(c.name, c.type, primary_key=c.primary_key, nullable=True)
            for c in table.columns
        ])
    return metadata


def _records(frame: pd.DataFrame) -> list[dict]:
    frame = frame.astype(object).where(frame.notna(), None)
    return frame.to_dict("records")


def write_registry(
    engine: sa.Engine,
    tables: Mapping[str, pd.DataFrame | Iterable[dict]],
    *,
    replace: bool = True,
    chunk_rows: int = 50_000,
) -> None:
    """Create the contract's tables in ``engine`` and insert the given rows.

    Columns missing from a frame are written as null. Dates may be ``datetime.date`` or
    ISO text; booleans Python bools or 0/1.
    """
    metadata = loose_metadata()
    if replace:
        metadata.drop_all(engine)
    metadata.create_all(engine)
    with engine.begin() as conn:
        for table in metadata.sorted_tables:
            rows = tables.get(table.name)
            if rows is None:
                continue
            frame = rows if isinstance(rows, pd.DataFrame) else pd.DataFrame(list(rows))
            if frame.empty:
                continue
            unknown = set(frame.columns) - set(table.columns.keys())
            if unknown:
                raise ValueError(f"table `{table.name}` has no column(s) {sorted(unknown)}")
            for start in range(0, len(frame), chunk_rows):
                conn.execute(table.insert(), _records(frame.iloc[start:start + chunk_rows]))
