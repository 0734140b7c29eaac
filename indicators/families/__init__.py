"""The indicator families: each module counts a group of indicators in the database and writes
their rows. A catalogue row names its family (``Indicator.computed_by``); a family declares the
rows it emits (``EMITS``); tests/test_catalogue.py keeps the two in step.

Adding an indicator: one catalogue row, and its counting in one family (an existing one, or a
new module listed in :data:`FAMILIES`).
"""

from __future__ import annotations

from indicators.families import (
    data_quality,
    duplicates,
    households,
    population,
    programme_coverage,
    referrals,
    suspected_pairs,
)
from indicators.families.base import Family, Run

# In the order they run (the population's counts serve the suspected pairs after it).
FAMILIES: dict[str, Family] = {family.name: family for family in (
    programme_coverage.FAMILY, households.FAMILY, population.FAMILY, duplicates.FAMILY,
    suspected_pairs.FAMILY, referrals.FAMILY, data_quality.FAMILY,
)}

__all__ = ["FAMILIES", "Family", "Run"]
