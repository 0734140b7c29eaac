"""The indicator engine: compute(engine, as_of=..., level=...) -> the spec's long form."""

from __future__ import annotations

import calendar
import datetime as dt
from dataclasses import dataclass
from typing import Iterable

import pandas as pd
import sqlalchemy as sa


@dataclass(frozen=True)
class Parameters:
    as_of: dt.date
    period_start: dt.date
    poverty_cutoff: float = 32.0
    referral_sla_days: int = 30


def shift_months(day: dt.date, months: int) -> dt.date:
    """The same day ``months`` calendar months later (earlier if negative), clamped to month end."""
    index = day.year * 12 + day.month - 1 + months
    year, month = divmod(index, 12)
    last = calendar.monthrange(year, month + 1)[1]
    return dt.date(year, month + 1, min(day.day, last))


def default_period_start(as_of: dt.date, months: int = 3) -> dt.date:
    """Start of the ``months`` calendar months ending on as_of."""
    return shift_months(as_of, -months) + dt.timedelta(days=1)


def default_as_of(engine: sa.Engine, today: dt.date | None = None) -> dt.date:
    raise NotImplementedError


def compute(
    engine: sa.Engine,
    *,
    as_of: dt.date | None = None,
    level: int,
    period_start: dt.date | None = None,
    poverty_cutoff: float = 32.0,
    referral_sla_days: int = 30,
    period_months: int = 3,
    indicator_ids: Iterable[str] | None = None,
) -> pd.DataFrame:
    """Every indicator (or those asked for) for every area of ``level`` and the whole registry.

    Returns the spec's long form (catalogue.LONG_FORM_COLUMNS): empty text cells are None,
    ``level`` is None on whole-registry rows, numerator/denominator are integers or None,
    value is a float or None.
    """
    raise NotImplementedError
