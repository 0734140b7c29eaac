"""The session's language: applied at the start of every run, chosen in the sidebar, kept with
the account, and the page's direction (right to left for Urdu and Pashto).

- :func:`apply` sets core.i18n's language for this run from ``st.session_state`` (the
  chooser's value), else ``[app] language``. It runs first in ``widgets.start()``, before any
  text is drawn, and in the widget callbacks that write a text.
- :func:`chooser` draws the sidebar's choice (first, so the sign-in page has it too); a
  change made while signed in is stored with the account (:func:`remember`), and the
  account's language comes back at sign-in (:func:`restore`: taken up by the next run's
  :func:`apply`, as a widget's value cannot change once it is drawn).
- :func:`direction` injects a small style sheet for right-to-left languages: the main area
  and the sidebar read right to left (figures such as "45.6%" keep their order by the
  Unicode bidirectional algorithm); maps, charts, tables and code keep their left-to-right
  layout (their canvases place columns and numbers themselves).
"""

from __future__ import annotations

import logging

import sqlalchemy as sa
import streamlit as st

from core import i18n
from core.i18n import t
from core.settings import Settings
from data_access import users

log = logging.getLogger(__name__)

LANGUAGE_KEY = "socle_language"
CHOSEN_KEY = "_socle_language_chosen"  # the user picked a language in this session
RESTORED_KEY = "_socle_language_restored"  # the account's language, for the next run
LAST_KEY = "_socle_language_last"  # the language of the session's previous run
# Widgets whose options are shown translated. A widget keeps the option text the browser
# drew it with until its value is set again, so after a change of language their values
# are set again (the same values) for the browser to show the new texts.
TRANSLATED_WIDGETS: tuple[str, ...] = (
    "level", "area", "indicator", "classes", "points", "rules", "programme", "indicators",
    "export_lists", "map", "list_area", "user_new_role", "user_new_password", "audit_action",
    "action_to_close", "review_decision",
)

# Right to left for the page's text; the visualisations keep their own layout. Streamlit
# aligns its text blocks left explicitly: "start" makes them follow the direction.
RTL_CSS = """
[data-testid="stMain"], [data-testid="stSidebarContent"] { direction: rtl; text-align: start; }
[data-testid="stMain"] :is([data-testid="stMarkdownContainer"], [data-testid="stCaptionContainer"],
  [data-testid="stHeading"], [data-testid="stWidgetLabel"], h1, h2, h3, h4, p, li),
[data-testid="stSidebarContent"] :is([data-testid="stMarkdownContainer"],
  [data-testid="stCaptionContainer"], [data-testid="stWidgetLabel"], p, li) { text-align: start; }
[data-testid="stMain"], [data-testid="stSidebarContent"] { font-family: %(text)s, sans-serif; }
[data-testid="stMain"] :is(p, li, h1, h2, h3, h4) { line-height: %(line_height)s; }
:is([data-testid="stMain"], [data-testid="stSidebarContent"]) :is(input, textarea, button,
  [data-baseweb="select"], [data-testid="stMetricLabel"], [data-testid="stMetricValue"]) {
  font-family: %(dense)s, sans-serif; }
[data-testid="stDeckGlJsonChart"], [data-testid="stVegaLiteChart"],
[data-testid="stArrowVegaLiteChart"], [data-testid="stDataFrame"], [data-testid="stTable"],
[data-testid="stCode"], [data-testid="stCodeBlock"], pre, code { direction: ltr; text-align: left; }
"""
# Arabic-script fonts of Debian's fonts-noto-core, then the theme's. Urdu is read in
# Nastaliq; its tall letters would be clipped in inputs, buttons and figure labels, which
# use Naskh, as Pashto does throughout (Nastaliq Urdu lacks some Pashto letters: ښ ږ ځ).
NASKH = '"Noto Naskh Arabic", "Noto Sans Arabic", "Source Sans", "Source Sans Pro"'
FONTS: dict[str, dict[str, str]] = {
    "ur": {"text": '"Noto Nastaliq Urdu", ' + NASKH, "dense": NASKH, "line_height": "1.9"},
}
DEFAULT_FONTS = {"text": NASKH, "dense": NASKH, "line_height": "1.6"}


def session_language(settings: Settings) -> str:
    """The language this session asked for (the chooser's), else the configured default."""
    chosen = i18n.known_language(st.session_state.get(LANGUAGE_KEY))
    return chosen or i18n.known_language(settings["app.language"]) or i18n.DEFAULT_LANGUAGE


def apply(settings: Settings) -> str:
    """Use the session's language for this run (texts and formats); return it."""
    restored = st.session_state.pop(RESTORED_KEY, None)
    if restored is not None:
        st.session_state[LANGUAGE_KEY] = restored
    code = i18n.set_language(session_language(settings))
    state = st.session_state
    if state.get(LANGUAGE_KEY) != code:
        state[LANGUAGE_KEY] = code  # a stale or unknown choice: the one used
    if state.get(LAST_KEY, code) != code:
        for key in TRANSLATED_WIDGETS:
            if key in state:
                state[key] = state[key]
    state[LAST_KEY] = code
    return code


def apply_current() -> None:
    """In a widget callback (it runs before the script): the session's language, as chosen."""
    i18n.set_language(st.session_state.get(LANGUAGE_KEY))


def _chosen() -> None:
    st.session_state[CHOSEN_KEY] = True


def chooser() -> str:
    """The sidebar's language choice (each language named in itself, all in view: a few
    buttons, not a list to open); the language used."""
    options = list(i18n.languages())
    names = {code: i18n.language(code).name for code in options}
    code = st.sidebar.segmented_control(
        t("Language"), options, key=LANGUAGE_KEY, on_change=_chosen, required=True,
        format_func=names.__getitem__, width="stretch",
        help=t("The language of the pages, the workbook and the meeting brief. Signed in, "
               "Socle keeps your choice for your next visit."))
    return i18n.set_language(code)


def restore(session: users.Session) -> bool:
    """At sign-in: the account's language becomes the session's from the next run on (an
    account without one keeps the session's choice). Whether it differs from this run's."""
    code = i18n.known_language(session.language)
    if code is None:
        return False
    st.session_state[RESTORED_KEY] = code
    st.session_state.pop(CHOSEN_KEY, None)
    return code != i18n.current_language()


def remember(store: sa.Engine, session: users.Session | None) -> None:
    """Keep a language the signed-in user chose with their account."""
    if session is None or not st.session_state.get(CHOSEN_KEY):
        return
    code = i18n.current_language()
    if code != session.language:
        try:
            users.set_language(store, session.username, code)
        except sa.exc.SQLAlchemyError:  # a preference: the page goes on without it
            log.exception("cannot keep the language of %s", session.username)
            return
    st.session_state.pop(CHOSEN_KEY, None)


def direction() -> None:
    """Right to left for Urdu and Pashto (a style sheet; nothing for the other languages)."""
    code = i18n.current_language()
    if i18n.is_rtl(code):
        st.html(f"<style>{RTL_CSS % FONTS.get(code, DEFAULT_FONTS)}</style>")
