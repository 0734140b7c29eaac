"""The figure card: one figure of an area as every page shows it (ui.widgets.metric draws it).

A card holds the area's value with its numerator and denominator, the whole registry's value
beside it when an area is chosen, whether a donor's suppression hid it, and, on the committee
meeting page, the previous meeting's value and the change (views.gaps.headline_cards).
Texts (label, definition) are English; the page translates them. No Streamlit here.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from core.i18n import N_, format_number
from core.values import as_float, as_int, is_missing
from indicators.catalogue import BY_ID, CATALOGUE, Indicator

# Indicators whose rows give the headline figures (the Overview page, the Summary sheet).
HEADLINE_INDICATORS: tuple[Indicator, ...] = tuple(i for i in CATALOGUE if i.headline)
HEADLINE_IDS: tuple[str, ...] = tuple(
    dict.fromkeys(("dq.unassessed_households", *(i.id for i in HEADLINE_INDICATORS)))
)
# Figures of the whole registry only (their area rows do not exist).
WHOLE_REGISTRY_ONLY: frozenset[str] = frozenset(i.id for i in CATALOGUE if i.whole_registry_only)


def _count_text(value: float | None) -> str:
    return format_number(value, 0)  # "–" when missing


@dataclass(frozen=True)
class FigureCard:
    """One figure: the chosen area's value and, beside it, the whole registry's (or the
    previous meeting's, with the change)."""

    key: str  # "households", "persons" or the indicator id
    label: str
    definition: str
    indicator: Indicator | None  # None for the plain counts
    value: float | None  # the chosen area's (the whole registry's when whole_registry_only)
    numerator: int | None = None
    denominator: int | None = None
    registry_value: float | None = None  # whole registry, when an area is chosen
    whole_registry_only: bool = False
    hidden: bool = False  # suppressed for a donor (a small count, or one that would give it)
    previous_text: str | None = None  # the previous meeting's value; None: no previous meeting
    change: float | None = None  # since the previous meeting
    change_text: str | None = None

    def format(self, value: float | None) -> str:
        if self.indicator is None:
            return _count_text(value)
        return self.indicator.format_value(value)

    @property
    def text(self) -> str:
        return self.format(self.value)

    @property
    def registry_text(self) -> str | None:
        return None if self.registry_value is None else self.format(self.registry_value)

    @property
    def empty(self) -> bool:
        """A ratio with nothing to count (its denominator is 0 or unknown, and not hidden)."""
        return (not self.hidden and self.indicator is not None
                and bool(self.indicator.denominator) and not self.denominator)

    @property
    def delta_color(self) -> str:
        """For st.metric: green for a change for the better, red for the worse, grey for none
        (as shown) or for a figure that is neither good nor bad."""
        if self.change_text is None or self.change_text.startswith("0"):
            return "off"
        better = self.indicator.higher_is_better if self.indicator is not None else None
        if better is None:
            return "off"
        return "normal" if better else "inverse"

    @property
    def delta_arrow(self) -> str:
        return "off" if self.change_text is not None and self.change_text.startswith("0") \
            else "auto"


COUNT_DEFINITIONS: dict[str, tuple[str, str, str]] = {
    # key: (label, definition, indicator whose denominator gives the count)
    "households": (
        N_("Registered households"),
        N_("households registered on or before the as-of date, rows left out of the other "
           "indicators included (the denominator of “Households without PMT score”)"),
        "dq.unassessed_households",
    ),
    "persons": (
        N_("Registered persons"),
        N_("persons registered on or before the as-of date, rows left out excluded "
           "(the denominator of “Population coverage”)"),
        "cov.population",
    ),
}


def is_hidden(row: dict | None, column: str) -> bool:
    """Whether a donor's suppression blanked ``column`` of the row."""
    flag = row.get("suppressed") if row else None
    return isinstance(flag, (bool, np.bool_)) and bool(flag) and as_float(row.get(column)) is None


RowIndex = dict[tuple[str, str | None, str | None], dict]


def row_index(figures: pd.DataFrame) -> RowIndex:
    """{(indicator_id, programme_id or None, area_id or None): first row} of the rows
    without breakdown: one pass over the long form for every card of a page (a filter of
    the whole frame per card took most of a warm Overview at many areas)."""
    plain = figures[figures["breakdown"].isna()]
    rows: RowIndex = {}
    for row in plain.to_dict("records"):
        key = (row["indicator_id"], None if is_missing(row["programme_id"]) else row["programme_id"],
               None if is_missing(row["area_id"]) else row["area_id"])
        rows.setdefault(key, row)
    return rows


def _indexed(figures: pd.DataFrame | RowIndex) -> RowIndex:
    return figures if isinstance(figures, dict) else row_index(figures)


def figure_row(figures: pd.DataFrame | RowIndex, indicator_id: str, area_id: str | None,
               programme_id: str | None = None) -> dict | None:
    """The row of an indicator for an area (None: the whole registry) without breakdown, of
    ``programme_id`` (None: the row without programme)."""
    return _indexed(figures).get((indicator_id, programme_id, area_id))


def figure_card(figures: pd.DataFrame | RowIndex, indicator_id: str, area_id: str | None,
                programme_id: str | None = None) -> FigureCard:
    """The card of an indicator of the long form: the area's (None: the whole registry's)
    row, of ``programme_id`` when given, beside the whole registry's when an area is chosen.
    Missing rows (an area out of scope, an indicator not computed) give empty values."""
    indicator = BY_ID[indicator_id]
    figures = _indexed(figures)
    registry_only = indicator_id in WHOLE_REGISTRY_ONLY
    own = figure_row(figures, indicator_id, None if registry_only else area_id, programme_id)
    whole = (figure_row(figures, indicator_id, None, programme_id)
             if area_id is not None and not registry_only else None)
    return FigureCard(
        key=indicator_id, label=indicator.label, definition=indicator.definition,
        indicator=indicator,
        value=as_float(own["value"]) if own else None,
        numerator=as_int(own["numerator"]) if own else None,
        denominator=as_int(own["denominator"]) if own else None,
        registry_value=as_float(whole["value"]) if whole else None,
        whole_registry_only=registry_only,
        hidden=is_hidden(own, "value"),
    )


def figure_cards(figures: pd.DataFrame, indicator_ids: Iterable[str], area_id: str | None,
                 programme_id: str | None = None) -> list[FigureCard]:
    """The cards of these indicators (:func:`figure_card`), the long form read once."""
    rows = row_index(figures)
    return [figure_card(rows, indicator_id, area_id, programme_id)
            for indicator_id in indicator_ids]


def count_card(figures: pd.DataFrame | RowIndex, key: str, area_id: str | None) -> FigureCard:
    """A plain count of COUNT_DEFINITIONS (registered households or persons): the denominator
    of the indicator that counts them."""
    figures = _indexed(figures)
    label, definition, source = COUNT_DEFINITIONS[key]
    own = figure_row(figures, source, area_id)
    whole = figure_row(figures, source, None) if area_id is not None else None
    return FigureCard(
        key=key, label=label, definition=definition, indicator=None,
        value=as_float(own["denominator"]) if own else None,
        registry_value=as_float(whole["denominator"]) if whole else None,
        hidden=is_hidden(own, "denominator"),
    )


def headline_figures(figures: pd.DataFrame, area_id: str | None) -> list[FigureCard]:
    """The Overview's figures for an area (None: the whole registry), in display order:
    registered households and persons, then the catalogue's headline indicators."""
    rows = row_index(figures)
    return ([count_card(rows, key, area_id) for key in COUNT_DEFINITIONS]
            + [figure_card(rows, indicator.id, area_id) for indicator in HEADLINE_INDICATORS])


def card(cards: list[FigureCard], key: str) -> FigureCard:
    return next(c for c in cards if c.key == key)
