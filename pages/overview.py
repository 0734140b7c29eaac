"""Overview: the headline figures of the chosen area beside the whole registry's."""

from __future__ import annotations

import streamlit as st

from core.i18n import format_date, format_number, t
from ui import queries, widgets
from views import figure_cards


def main() -> None:
    view = widgets.page_view(__file__)
    if view is None:  # a start-up problem, already shown
        return
    widgets.page_header("Overview", view)

    figures = queries.figures(view.context, view.settings, as_of=view.as_of, level=view.level,
                         period_start=view.period_start, indicator_ids=figure_cards.HEADLINE_IDS)
    headline = figure_cards.headline_figures(figures, view.area_id)

    empty_area = not figure_cards.card(headline, "households").value
    if empty_area:
        st.info(t("No households are registered in {area} on {as_of}, so its figures are empty. "
                  "Pick another area, or a later as-of date.",
                  area=view.area_name, as_of=format_date(view.as_of)))
    left_out = figure_cards.card(headline, "dq.invalid_rows")
    if left_out.numerator:
        st.warning(t("{count} rows of the registry break the registry contract and are left out "
                     "of the indicators (data-quality figures count them).",
                     count=format_number(left_out.numerator)))

    widgets.metric_grid(headline, explain_empty=not empty_area)

    with st.expander(t("Definitions")):
        widgets.definitions(headline)
        st.caption(t("Stock figures are counted on {as_of}; referral figures over the period "
                     "from {start} to {as_of}. Households with a PMT score at or below {cutoff} "
                     "are poor; an open referral is overdue after {days} days.",
                     as_of=format_date(view.as_of), start=format_date(view.period_start),
                     cutoff=format_number(view.settings.poverty_cutoff, None),
                     days=view.settings.referral_sla_days))


if __name__ == "__main__":
    widgets.guarded(main)
