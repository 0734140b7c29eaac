"""Cell values as Python sees them: one place that says what "missing" is.

Database drivers, pandas and openpyxl each have their own empty value (None, NaN, pd.NA,
NaT); every layer converts through these functions instead of writing its own check.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pandas as pd


def is_missing(value: Any) -> bool:
    """Whether a cell is empty: None, NaN (Python or numpy), pd.NA or NaT. Text is never
    missing, nor is a list or other container."""
    if value is None:
        return True
    if isinstance(value, (str, bytes)):
        return False
    if isinstance(value, float):
        return value != value
    try:
        return bool(pd.api.types.is_scalar(value) and pd.isna(value))
    except (TypeError, ValueError):
        return False


def plain(value: Any) -> Any:
    """None for a missing cell, else the value unchanged."""
    return None if is_missing(value) else value


def python_value(value: Any) -> Any:
    """A cell as a plain Python value: numpy scalars unwrapped, every missing value None
    (what a database driver, JSON or a cache key takes)."""
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):
        try:
            value = value.item()
        except (TypeError, ValueError):
            pass
    return plain(value)


def as_int(value: Any) -> int | None:
    """A count as a Python int (None when missing)."""
    return None if is_missing(value) else int(value)


def as_float(value: Any) -> float | None:
    """A number as a Python float (None when missing)."""
    return None if is_missing(value) else float(value)


def as_text(value: Any) -> str | None:
    """Text of a cell (None when missing)."""
    return None if is_missing(value) else str(value)


def as_date(value: object) -> dt.date | None:
    """A date from what a database driver returns (date, datetime, ISO text); None otherwise."""
    if value is None or (isinstance(value, float) and value != value):  # NULL or NaN
        return None
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(str(value)[:10])
    except ValueError:
        return None
