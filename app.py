"""Socle: the entry point (``streamlit run app.py``).

Loads the settings, opens the registry (read-only) and the app store, signs the user in and
draws the sidebar (level, area, as-of date) — all in ``widgets.start()`` — and routes to
the pages of the user's role (``pages()``, from widgets.PAGES). Outside demo mode, nobody
signed in sees the sign-in page (widgets.sign_in_page) and nothing else. A problem with the configuration or the databases is shown as a plain message
saying what to do, never as a traceback.

``streamlit run app.py`` first imports this file to look for an ASGI app: it finds ``app``
below, an ``st.App`` of this same script with Socle's HTTP middleware (ui/http_guard.py:
the browser's key cookie, personal downloads for their browser only, no session ids in the
logs), and serves that. Run as the page script (``__main__``), the file draws the app.
"""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from data_access.context import UserContext

if __name__ == "__main__":  # the page script (the server's import only needs ui.http_guard)
    from core.i18n import t
    from ui import widgets


def pages(context: UserContext | None = None) -> list[st.Page]:
    """The pages of the user's role, in menu order (widgets.PAGES; None: every page, to
    declare them without drawing any)."""
    return [st.Page(spec.path, title=t(spec.title), icon=spec.icon, url_path=spec.url_path,
                    default=spec.default)
            for spec in widgets.pages_for(context.role if context is not None else None)]


def main() -> None:
    try:
        view = widgets.start()
    except widgets.StartupProblem as problem:
        widgets.show_problem(problem)
        # Declare the pages without drawing them, so Streamlit does not list pages/ itself.
        st.navigation(pages(), position="hidden")
        st.stop()
    except widgets.SignInRequired:
        # The sign-in form is a page of its own. Drawn by this script before st.navigation,
        # its first submission in a browser was lost: Streamlit 1.67 gives the entry
        # script's widgets other ids on a session's first run than on the next.
        st.navigation([st.Page(widgets.sign_in_page, title=t("Sign in"), url_path="sign-in",
                               default=True)], position="hidden").run()
        return
    st.navigation(pages(view.context), position="sidebar").run()


if __name__ == "__main__":
    # A local icon: a Material icon as favicon is fetched from fonts.gstatic.com (not offline).
    st.set_page_config(page_title="Socle",
                       page_icon=str(Path(__file__).parent / "assets" / "socle.png"),
                       layout="wide")
    widgets.configure_logging()
    widgets.guarded(main)
else:  # imported by `streamlit run app.py`: the server, with Socle's HTTP layer
    from ui import http_guard

    app = st.App(__file__, middleware=http_guard.middleware())
