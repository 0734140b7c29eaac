"""Birth-date comparison: the levels, as SQL over the prepared columns, and their labels.

A person re-registered gives their birth date again, often differently: day and month
swapped (03/07 for 07/03), the year off by one (age given instead of a date), only the year
known (written as 1 January, or 1 July, of that year), or none. The levels, best first:

1. same date
2. day and month swapped (same year)
3. same day and month, year off by one
4. same year, and one of the two dates is a year-only placeholder (1 January, 1 July...)
5. years one apart, and one of the two dates is a year-only placeholder (age given)
6. same year and month (a slipped day)
7. within two years
8. anything else

Which month-days are placeholders depends on the registry: the job finds them in the data
(``placeholder_days``: days far more frequent than a day of the year can be), 1 January
when none stands out.

The prepared input has ``birth_date`` (DATE) and ``birth_year``, ``birth_month``,
``birth_day`` (integers); SQL uses ``_l`` / ``_r`` suffixes as Splink does.
"""

from __future__ import annotations

import datetime as dt

# Month-day pairs that registries write when only the year is known, when the data show
# none: 1 January.
PLACEHOLDER_DAYS: tuple[tuple[int, int], ...] = ((1, 1),)
# A month-day is a placeholder when it holds this share of the known birth dates or more
# (a day of the year holds 1/365, about 0.27 %) and at least PLACEHOLDER_MIN_DATES of them.
PLACEHOLDER_SHARE = 0.012
PLACEHOLDER_MIN_DATES = 20


def _is_placeholder(side: str, days: tuple[tuple[int, int], ...]) -> str:
    return "(" + " OR ".join(
        f"(birth_month_{side} = {m} AND birth_day_{side} = {d})" for m, d in days
    ) + ")"


def birth_date_levels(placeholder_days: tuple[tuple[int, int], ...] = PLACEHOLDER_DAYS
                      ) -> tuple[tuple[str, str], ...]:
    """(label, SQL condition) of each level, best first; the null level comes before them and
    "else" after."""
    year_only = (f"({_is_placeholder('l', placeholder_days)} "
                 f"OR {_is_placeholder('r', placeholder_days)})")
    return (
        ("same date", "birth_date_l = birth_date_r"),
        ("day and month swapped",
         "birth_year_l = birth_year_r AND birth_month_l = birth_day_r "
         "AND birth_day_l = birth_month_r"),
        ("year off by one",
         "abs(birth_year_l - birth_year_r) = 1 AND birth_month_l = birth_month_r "
         "AND birth_day_l = birth_day_r"),
        ("same year, one date is year-only", f"birth_year_l = birth_year_r AND {year_only}"),
        ("years one apart, one date is year-only",
         f"abs(birth_year_l - birth_year_r) = 1 AND {year_only}"),
        ("same year and month", "birth_year_l = birth_year_r AND birth_month_l = birth_month_r"),
        ("within two years", "abs(date_diff('day', birth_date_l, birth_date_r)) <= 731"),
    )


BIRTH_DATE_LEVELS = birth_date_levels()
BIRTH_DATE_NULL = "birth_date_l IS NULL OR birth_date_r IS NULL"


def placeholder_days_sql(table: str) -> str:
    """The query giving (month, day) of the placeholder days of ``table`` (prepared persons)."""
    return (f"SELECT birth_month, birth_day FROM {table} WHERE birth_date IS NOT NULL "
            f"GROUP BY 1, 2 HAVING count(*) >= {PLACEHOLDER_MIN_DATES} "
            f"AND count(*) >= {PLACEHOLDER_SHARE} * (SELECT count(birth_date) FROM {table}) "
            f"ORDER BY 1, 2")


def placeholder_days(con, table: str) -> tuple[tuple[int, int], ...]:
    """The placeholder month-days of the prepared persons ``table`` in the DuckDB ``con``;
    PLACEHOLDER_DAYS when none stands out."""
    found = tuple((int(m), int(d)) for m, d in con.execute(placeholder_days_sql(table)).fetchall())
    return found or PLACEHOLDER_DAYS


def parts(day: dt.date | None) -> dict[str, object]:
    """The prepared columns of one birth date (for tests and single comparisons)."""
    if day is None:
        return {"birth_date": None, "birth_year": None, "birth_month": None, "birth_day": None}
    return {"birth_date": day, "birth_year": day.year, "birth_month": day.month,
            "birth_day": day.day}
