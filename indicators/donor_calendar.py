"""The donors' fixed calendar: the only as-of dates and periods a donor's figures are computed for.

Two requests that differ by one day give away that day by subtraction (the referrals made
on 1 August = the period from 1 August minus the period from 2 August; the households
registered on 31 October = the stock on the 31st minus the stock on the 30th). So a donor
does not choose dates freely (docs/suppression.md, "Dates"): whatever date is asked for, the
figures are those of the end of the latest complete calendar period on or before it, and
the referral period is the configured ``period_months`` months ending there — the engine's
default period (indicators.engine.default_period_start), the same as the command
snapshots' that the Donor progress page reads.

Calendar periods tile the months from January of year 1 in blocks of ``period_months``
(3: the quarters ending 31 March, 30 June, 30 September and 31 December; 1: every month
end; 12: 31 December), so consecutive periods never nest: no subtraction of two of them
is a shorter period. No Streamlit, no database.
"""

from __future__ import annotations

import calendar
import datetime as dt

from indicators.blocks import default_period_start


def _month_end(year: int, month: int) -> dt.date:
    return dt.date(year, month, calendar.monthrange(year, month)[1])


def is_period_end(day: dt.date, months: int) -> bool:
    """Whether ``day`` is the last day of a calendar period of ``months`` months."""
    return day == _month_end(day.year, day.month) and (day.year * 12 + day.month) % months == 0


def period_end_on_or_before(day: dt.date, months: int) -> dt.date:
    """The last day of the latest calendar period of ``months`` months ending on or before
    ``day``."""
    if months < 1:
        raise ValueError(f"a period has at least one month, not {months}")
    index = day.year * 12 + day.month  # months since year 0, December of year 0 being 12
    if day != _month_end(day.year, day.month):
        index -= 1  # this month is not over on ``day``
    index -= index % months
    year, month = divmod(index - 1, 12)
    return _month_end(year, month + 1)


def donor_dates(as_of: dt.date, months: int) -> tuple[dt.date, dt.date]:
    """(period start, as-of date) of a donor's figures for a request of ``as_of``."""
    end = period_end_on_or_before(as_of, months)
    return default_period_start(end, months), end
