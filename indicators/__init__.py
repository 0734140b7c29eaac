"""Indicators computed in the database with SQLAlchemy Core. Never imports Streamlit."""

from data_access.registry import default_as_of
from indicators.blocks import Parameters, default_period_start
from indicators.catalogue import BY_ID, CATALOGUE, LONG_FORM_COLUMNS, Indicator, indicator
from indicators.engine import compute, compute_levels

__all__ = [
    "BY_ID", "CATALOGUE", "LONG_FORM_COLUMNS", "Indicator", "indicator",
    "Parameters", "compute", "compute_levels", "default_as_of", "default_period_start",
]
