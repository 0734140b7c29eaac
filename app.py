"""Socle: the entry point (``streamlit run app.py``).

Loads the settings, opens the registry (read-only) and the app store, draws the sidebar
(level, area, as-of date) — all in ``ui_widgets.start()`` — and routes to the pages listed in
``pages()``. A problem with the configuration or the databases is shown as a plain message
saying what to do, never as a traceback.
"""

from __future__ import annotations

from pathlib import Path

import streamlit as st

import ui_widgets
from data_access.context import UserContext
from i18n import t


def pages(context: UserContext | None = None) -> list[st.Page]:
    """The pages, in menu order. Add a page here (filtered by ``context.role`` later)."""
    return [
        st.Page("pages/overview.py", title=t("Overview"), icon=":material/dashboard:",
                url_path="overview", default=True),
        st.Page("pages/coverage.py", title=t("Coverage map"), icon=":material/map:",
                url_path="coverage"),
        st.Page("pages/referrals.py", title=t("Referrals"), icon=":material/swap_horiz:",
                url_path="referrals"),
        st.Page("pages/duplicates.py", title=t("Duplicates"), icon=":material/content_copy:",
                url_path="duplicates"),
        st.Page("pages/data_quality.py", title=t("Data quality"), icon=":material/rule:",
                url_path="data-quality"),
        st.Page("pages/meeting.py", title=t("Committee meeting"), icon=":material/groups:",
                url_path="meeting"),
        st.Page("pages/progress.py", title=t("Donor progress"), icon=":material/trending_up:",
                url_path="progress"),
        st.Page("pages/export.py", title=t("Excel export"), icon=":material/download:",
                url_path="export"),
    ]


def main() -> None:
    try:
        view = ui_widgets.start()
    except ui_widgets.StartupProblem as problem:
        ui_widgets.show_problem(problem)
        # Declare the pages without drawing them, so Streamlit does not list pages/ itself.
        st.navigation(pages(), position="hidden")
        st.stop()
    st.navigation(pages(view.context), position="sidebar").run()


# A local icon: a Material icon as favicon is fetched from fonts.gstatic.com (not offline).
st.set_page_config(page_title="Socle", page_icon=str(Path(__file__).parent / "assets" / "socle.png"),
                   layout="wide")

if __name__ == "__main__":
    ui_widgets.guarded(main)
