"""Birth-date comparison: the levels, as SQL over the prepared columns, and their labels.

A person re-registered gives their birth date again, often differently: day and month
swapped (03/07 for 07/03), the year off by one (age given instead of a date), only the year
known (written as 1 January, or 1 July, of that year), or none. The levels, best first:

1. same date
2. day and month swapped (same year)
3. same day and month, year off by one
4. same year, and one of the two dates is a year-only placeholder (1 January)
5. same year and month (a slipped day)
6. within two years
7. anything else

The prepared input has ``birth_date`` (DATE) and ``birth_year``, ``birth_month``,
``birth_day`` (integers); SQL uses ``_l`` / ``_r`` suffixes as Splink does.
"""

from __future__ import annotations

import datetime as dt

# Month-day pairs that registries write when only the year is known: 1 January. (A registry
# that writes 1 July too adds (7, 1); every such date is then weaker evidence.)
PLACEHOLDER_DAYS: tuple[tuple[int, int], ...] = ((1, 1),)


def _is_placeholder(side: str) -> str:
    return "(" + " OR ".join(
        f"(birth_month_{side} = {m} AND birth_day_{side} = {d})" for m, d in PLACEHOLDER_DAYS
    ) + ")"


# (label, SQL condition), best first; the null level comes before them and "else" after.
BIRTH_DATE_LEVELS: tuple[tuple[str, str], ...] = (
    ("same date", "birth_date_l = birth_date_r"),
    ("day and month swapped",
     "birth_year_l = birth_year_r AND birth_month_l = birth_day_r "
     "AND birth_day_l = birth_month_r"),
    ("year off by one",
     "abs(birth_year_l - birth_year_r) = 1 AND birth_month_l = birth_month_r "
     "AND birth_day_l = birth_day_r"),
    ("same year, one date is year-only",
     f"birth_year_l = birth_year_r AND ({_is_placeholder('l')} OR {_is_placeholder('r')})"),
    ("same year and month", "birth_year_l = birth_year_r AND birth_month_l = birth_month_r"),
    ("within two years", "abs(date_diff('day', birth_date_l, birth_date_r)) <= 731"),
)
BIRTH_DATE_NULL = "birth_date_l IS NULL OR birth_date_r IS NULL"


def parts(day: dt.date | None) -> dict[str, object]:
    """The prepared columns of one birth date (for tests and single comparisons)."""
    if day is None:
        return {"birth_date": None, "birth_year": None, "birth_month": None, "birth_day": None}
    return {"birth_date": day, "birth_year": day.year, "birth_month": day.month,
            "birth_day": day.day}
