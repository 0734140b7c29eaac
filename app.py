"""Socle: the entry point (``streamlit run app.py``).

Loads the settings, opens the registry (read-only) and the app store, signs the user in and
draws the sidebar (level, area, as-of date) — all in ``ui_widgets.start()`` — and routes to
the pages of the user's role (``pages()``, from ui_widgets.PAGES). Outside demo mode, nobody
signed in sees the sign-in form and nothing else. A problem with the configuration or the databases is shown as a plain message
saying what to do, never as a traceback.
"""

from __future__ import annotations

from pathlib import Path

import streamlit as st

import ui_widgets
from data_access.context import UserContext
from i18n import t


def pages(context: UserContext | None = None) -> list[st.Page]:
    """The pages of the user's role, in menu order (ui_widgets.PAGES; None: every page, to
    declare them without drawing any)."""
    return [st.Page(spec.path, title=t(spec.title), icon=spec.icon, url_path=spec.url_path,
                    default=spec.default)
            for spec in ui_widgets.pages_for(context.role if context is not None else None)]


def main() -> None:
    try:
        view = ui_widgets.start()
    except (ui_widgets.StartupProblem, ui_widgets.SignInRequired) as stopped:
        if isinstance(stopped, ui_widgets.StartupProblem):
            ui_widgets.show_problem(stopped)
        # Declare the pages without drawing them, so Streamlit does not list pages/ itself.
        st.navigation(pages(), position="hidden")
        st.stop()
    st.navigation(pages(view.context), position="sidebar").run()


# A local icon: a Material icon as favicon is fetched from fonts.gstatic.com (not offline).
st.set_page_config(page_title="Socle", page_icon=str(Path(__file__).parent / "assets" / "socle.png"),
                   layout="wide")

if __name__ == "__main__":
    ui_widgets.configure_logging()
    ui_widgets.guarded(main)
