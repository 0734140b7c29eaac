"""The registry records behind suspected duplicate pairs, as a user may see them.

The record-linkage job keeps pairs of person ids in the app store
(data_access.linkage_store); an officer reviewing a pair needs the two persons' registry
fields side by side. ``person_records`` reads them by id, through the read-only registry
engine, and keeps what the user context may see:

- only persons of the context's areas (an area of the context or below it; persons whose
  household is missing, or whose area is unknown, only for a context that sees the whole
  registry);
- the personal fields (names, birth date, national id, phone) only for a context that sees
  row-level data (``context.sees_lists``); a donor may not read records at all
  (indicators.lists.ListPermissionError).

SQLAlchemy Core only; no Streamlit.
"""

from __future__ import annotations

from collections.abc import Iterable

import pandas as pd
import sqlalchemy as sa

from data_access.context import UserContext
from data_access.schema import household, person
from data_access.scope import require_lists, visible_area_ids

RECORD_COLUMNS: tuple[str, ...] = (
    "person_id", "household_id", "area_id", "first_name", "last_name", "father_name", "sex",
    "birth_date", "national_id", "phone", "registered_on",
)
PERSONAL_COLUMNS: frozenset[str] = frozenset(
    {"first_name", "last_name", "father_name", "birth_date", "national_id", "phone"})
CHUNK = 500  # ids per IN list


def person_records(engine: sa.Engine, person_ids: Iterable[str], *, context: UserContext,
                   areas: pd.DataFrame) -> pd.DataFrame:
    """The registry fields (RECORD_COLUMNS; personal ones only when the context sees row-level
    data) of the persons among ``person_ids`` that the context may see, by person_id.

    ``areas``: the registry's area table (area_id, parent_id), to resolve the context's
    areas. ListPermissionError for a context that may not see row-level data.
    """
    require_lists(context)
    wanted = sorted({str(p) for p in person_ids if p is not None})
    rows: list[tuple] = []
    query = (sa.select(person.c.person_id, person.c.household_id, household.c.area_id,
                       person.c.first_name, person.c.last_name, person.c.father_name,
                       person.c.sex, person.c.birth_date, person.c.national_id, person.c.phone,
                       person.c.registered_on)
             .select_from(person.outerjoin(household,
                                           household.c.household_id == person.c.household_id)))
    with engine.connect() as conn:
        for start in range(0, len(wanted), CHUNK):
            chunk = wanted[start:start + CHUNK]
            rows.extend(tuple(r) for r in conn.execute(query.where(person.c.person_id.in_(chunk))))
    frame = pd.DataFrame(rows, columns=list(RECORD_COLUMNS), dtype=object)
    frame["person_id"] = frame["person_id"].astype(str)
    visible = visible_area_ids(areas, context)
    if visible is not None:
        frame = frame[frame["area_id"].isin(visible)]
    if not context.sees_lists:  # unreachable today (require_lists), kept for new roles
        frame = frame.drop(columns=[c for c in frame.columns if c in PERSONAL_COLUMNS])
    frame = frame.astype(object).where(frame.notna(), None)
    return frame.sort_values("person_id").reset_index(drop=True)
