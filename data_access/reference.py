"""The registry's small reference tables as the pages use them: programmes and access points."""

from __future__ import annotations

import pandas as pd
import sqlalchemy as sa

from data_access.registry import connection
from data_access.schema import access_point as access_point_table
from data_access.schema import programme as programme_table


def read_programmes(engine: sa.Engine) -> dict[str, str]:
    """programme_id -> name, by name (the id stands in for a missing name)."""
    query = sa.select(programme_table.c.programme_id, programme_table.c.name)
    with connection(engine) as conn:
        rows = [(str(pid), str(name) if name else str(pid))
                for pid, name in conn.execute(query) if pid is not None]
    return dict(sorted(rows, key=lambda item: (item[1], item[0])))


ACCESS_POINT_COLUMNS = ("access_point_id", "name", "kind", "area_id", "latitude", "longitude")


def read_access_points(engine: sa.Engine) -> pd.DataFrame:
    """The access points with their place (latitude and longitude may be missing)."""
    query = sa.select(*(access_point_table.c[name] for name in ACCESS_POINT_COLUMNS))
    with connection(engine) as conn:
        frame = pd.DataFrame(conn.execute(query).all(), columns=list(ACCESS_POINT_COLUMNS))
    for column in ("latitude", "longitude"):
        frame[column] = pd.to_numeric(frame[column], errors="coerce")
    frame["access_point_id"] = frame["access_point_id"].astype(str)
    return frame
