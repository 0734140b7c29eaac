"""Indicators computed in the database with SQLAlchemy Core. Never imports Streamlit."""

from indicators.catalogue import BY_ID, CATALOGUE, LONG_FORM_COLUMNS, Indicator, indicator
from indicators.engine import Parameters, compute, default_as_of, default_period_start

__all__ = [
    "BY_ID", "CATALOGUE", "LONG_FORM_COLUMNS", "Indicator", "indicator",
    "Parameters", "compute", "default_as_of", "default_period_start",
]
