"""Sign-in for the app: who the user of this browser session is (ui.widgets.start() asks here).

- **Local accounts**: a form (username, password) calls data_access.users.authenticate
  (argon2, lock-out, audited); the session's token is kept in ``st.session_state`` (never in
  the URL, never sent to the browser) and every run resumes it
  (data_access.users.resume_session): an expired, ended or disabled session goes back to the
  form with the reason. "Sign out" ends it (audited). Reloading the browser tab starts a new
  Streamlit session, so it asks to sign in again.
- **Bound to the browser**: a browser connection carries the HTTP-only key cookie of
  ui/http_guard.py. The Streamlit session remembers the key's hash on its first run and the
  Socle session is opened for that key; a run presenting another key (a Streamlit session id
  replayed from another browser) clears the Streamlit session's state, ends the Socle
  session and is audited (``sign_in_failed``, reason ``session_replay``). Without the key
  (cookies blocked, or a server started without app.py's st.App) nobody can sign in.
  Runs with no browser behind them (AppTest, bare mode) have no key and bind nothing.
- **Identity provider** (``auth.oidc`` true): a button calls ``st.login()``; once
  ``st.user`` is signed in, its e-mail address (else its name) must be a local, enabled
  account, whose role and areas apply (data_access.users.start_session, audited). Signing
  out also calls ``st.logout()``.
- **Demo mode** (``app.demo_mode``): before sign-in the app runs as the settings' default
  user, and the sidebar offers the form to sign in with an account (the demo's are printed
  by ``python -m data_access.users demo``). Outside demo mode nothing but the form is drawn
  until the user is signed in (:class:`SignInRequired`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

import sqlalchemy as sa
import streamlit as st
from streamlit.errors import StreamlitAuthError

from core.i18n import N_, t
from core.settings import Settings
from core.text import markdown_text
from data_access import audit, users
from data_access.context import UserContext
from ui import http_guard, language, queries

log = logging.getLogger(__name__)

TOKEN_KEY = "socle_session_token"
OIDC_KEY = "_socle_session_via_oidc"  # the session was opened through the identity provider
NOTICE_KEY = "_socle_sign_in_notice"  # why the user must sign in again (shown once)
REFUSED_KEY = "_socle_oidc_refused"  # the identity-provider name refused this session
FORM_KEY = "socle_sign_in"
USERNAME_KEY = "sign_in_username"
PASSWORD_KEY = "sign_in_password"
SIGN_OUT_KEY = "socle_sign_out"
OIDC_BUTTON_KEY = "socle_sign_in_oidc"
BROWSER_KEY = "_socle_browser"  # the hash of the browser key this Streamlit session is bound to
BINDING_KEY = "_socle_binding"  # what a download checks when it is clicked (Binding)
NO_KEY = "none"  # a browser connection without a key


@dataclass(frozen=True)
class Binding:
    """Who may still download what this run offers: the app store, the Socle session's token
    (None: the demo's default user) and the browser's key."""

    store_url: str
    token: str | None
    browser: str | None


class SignInRequired(Exception):
    """Nobody is signed in outside demo mode: the sign-in page is all there is to draw."""


@dataclass(frozen=True)
class Who:
    """The user of this run: a signed-in session, or the demo's default user (no session)."""

    context: UserContext
    session: users.Session | None


def _policy(settings: Settings) -> users.AuthPolicy:
    return users.AuthPolicy.from_settings(settings)


def _client() -> dict[str, str]:
    """What the audit log keeps about the browser (its address when known)."""
    try:
        address = st.context.ip_address
    except Exception:  # no request behind this run (tests, bare mode)
        address = None
    return {"ip": address} if address else {}


def _served() -> bool:
    """Whether a browser connection is behind this run (AppTest and bare mode have none)."""
    try:
        return bool(st.context.headers)
    except Exception:
        return False


def browser_key() -> str | None:
    """This run's browser key (ui.http_guard's HTTP-only cookie); None without one."""
    if not _served():
        return None
    return http_guard.valid_key(st.context.cookies.get(http_guard.BROWSER_COOKIE))


def _bind_browser(store: sa.Engine, default: UserContext | None) -> None:
    """Bind this Streamlit session to its browser's key on its first run; a later run from
    another browser (its session id replayed) finds the state cleared and the Socle session
    ended, and is audited."""
    if not _served():
        return
    key = browser_key()
    seen = http_guard.key_hash(key) if key else NO_KEY
    bound = st.session_state.get(BROWSER_KEY)
    if bound is None:
        st.session_state[BROWSER_KEY] = seen
        return
    if bound == seen:
        return
    token = st.session_state.get(TOKEN_KEY)
    replayed = {**_client(), "reason": "session_replay"}
    if token:
        try:  # ends the Socle session and audits it (the key differs from its own)
            users.resume_session(store, token, browser=key, filters=_client())
        except users.AuthError:
            pass
    else:
        audit.record(store, default if default is not None else "(no session)",
                     "sign_in_failed", "Streamlit session refused: presented by another "
                     "browser (its state is cleared)", replayed)
    log.warning("a Streamlit session was presented by another browser: its state is cleared")
    st.session_state.clear()
    st.session_state[BROWSER_KEY] = seen
    st.session_state[NOTICE_KEY] = ("This session was opened in another browser: please "
                                    "sign in again.")


def _resume(store: sa.Engine) -> users.Session | None:
    token = st.session_state.get(TOKEN_KEY)
    if not token:
        return None
    try:
        return users.resume_session(store, token, browser=browser_key(), filters=_client())
    except users.AuthError as exc:
        st.session_state.pop(TOKEN_KEY, None)
        st.session_state[NOTICE_KEY] = exc.args[0]  # the message, translated when shown
        if st.session_state.pop(OIDC_KEY, False) and _provider_user():
            # A session of the identity provider ends with it: sign in there again.
            st.logout()
        return None


def _provider_user() -> str | None:
    """The identity provider's signed-in user (e-mail, else name), or None."""
    try:
        info = st.user.to_dict()
    except Exception:  # no [auth] configuration behind st.user
        return None
    if not info.get("is_logged_in"):
        return None
    name = str(info.get("email") or info.get("name") or "").strip().lower()
    return name or None


def _provider_session(settings: Settings, store: sa.Engine) -> users.Session | None:
    name = _provider_user()
    if name is None or st.session_state.get(REFUSED_KEY) == name:
        return None
    if _served() and browser_key() is None:
        return None  # the form says why (sign_in_form)
    try:
        session = users.start_session(store, name, policy=_policy(settings), via="oidc",
                                      filters=_client(), browser=browser_key())
    except users.AuthError:
        st.session_state[REFUSED_KEY] = name  # audited once, not on every rerun
        return None
    st.session_state[TOKEN_KEY] = session.token
    st.session_state[OIDC_KEY] = True
    st.session_state.pop(REFUSED_KEY, None)
    if language.restore(session):
        st.rerun()  # once, at sign-in: the account's language from the first page on
    return session


def current_user(settings: Settings, default: UserContext | None) -> Who:
    """The user of this run. ``default``: the demo's default user (None outside demo mode:
    the form is drawn and SignInRequired raised when nobody is signed in)."""
    store = queries.app_store_engine(settings.app_store_url)
    _bind_browser(store, default)
    session = _resume(store)
    if session is None and settings["auth.oidc"]:
        session = _provider_session(settings, store)
    st.session_state[BINDING_KEY] = Binding(settings.app_store_url,
                                            session.token if session else None, browser_key())
    if session is not None:
        _signed_in_box(settings, store, session)
        return Who(session.context, session)
    if default is not None:
        _demo_box(settings, store, default)
        return Who(default, None)
    raise SignInRequired  # app.py shows the sign-in page (widgets.sign_in_page)


# Drawing ------------------------------------------------------------------------------------

def _locked_text(exc: users.AuthError) -> str:
    if exc.reason == "invalid" and exc.locked_until is not None:
        return t("Wrong username or password. Too many failed sign-ins: the account is locked "
                 "until {time} UTC.", time=exc.locked_until.strftime("%H:%M"))
    return t(exc)


def sign_in_form(settings: Settings, store: sa.Engine) -> None:
    """The username and password form; a success reruns the app as the new user."""
    notice = st.session_state.pop(NOTICE_KEY, None)
    if notice:
        st.warning(t(notice))
    with st.form(FORM_KEY, clear_on_submit=True):
        username = st.text_input(t("Username"), key=USERNAME_KEY, autocomplete="username")
        password = st.text_input(t("Password"), key=PASSWORD_KEY, type="password",
                                 autocomplete="current-password")
        submitted = st.form_submit_button(t("Sign in"), icon=":material/login:")
    if not submitted:
        return
    if not username.strip() or not password:
        st.warning(t("Give your username and password."))
        return
    if _served() and browser_key() is None:
        st.error(t("This browser did not send Socle's sign-in cookie, so a session cannot be "
                   "tied to it: allow cookies for this site and reload the page. (If cookies "
                   "are allowed, the server was not started with `streamlit run app.py`: tell "
                   "the administrator.)"))
        if not http_guard.installed():
            log.error("served without ui.http_guard: start the server with `streamlit run "
                      "app.py`, whose st.App sets the browser key")
        return
    try:
        session = users.authenticate(store, username, password, policy=_policy(settings),
                                     filters={"via": "form", **_client()},
                                     browser=browser_key())
    except users.AuthError as exc:
        st.error(_locked_text(exc))
        return
    st.session_state[TOKEN_KEY] = session.token
    st.session_state.pop(OIDC_KEY, None)
    language.restore(session)
    st.rerun()


def _provider_button(settings: Settings) -> None:
    if not settings["auth.oidc"]:
        return
    refused = st.session_state.get(REFUSED_KEY)
    if refused and _provider_user() == refused:
        st.warning(t("You are signed in with your organisation's account as {name}, but Socle "
                     "has no enabled account of that name: ask an administrator to create it.",
                     name=markdown_text(refused)))
        if st.button(t("Sign out of the organisation's account"), key="socle_oidc_logout"):
            st.session_state.pop(REFUSED_KEY, None)
            st.logout()
        return
    if st.button(t("Sign in with your organisation's account"), key=OIDC_BUTTON_KEY,
                 icon=":material/badge:", type="primary"):
        try:
            st.login()
        except StreamlitAuthError:
            log.exception("st.login is not configured")
            st.error(t("Signing in with the organisation's account is not set up on this "
                       "server (an [auth] section in .streamlit/secrets.toml). Tell the "
                       "administrator, or sign in with a Socle account below."))


def sign_in_page(settings: Settings, store: sa.Engine) -> None:
    st.title(t("Sign in to Socle"))
    st.caption(t("Socle shows the social registry's figures and lists to the committee members, "
                 "officers and partners who have an account. Ask an administrator for one."))
    _provider_button(settings)
    sign_in_form(settings, store)


def _area_names(settings: Settings, context: UserContext) -> str:
    if context.whole_registry:
        return t("the whole registry")
    areas = queries.areas(context, settings.database_url)
    names = dict(zip(areas["area_id"], areas["name"], strict=True))
    return ", ".join(markdown_text(names.get(a, a)) for a in context.areas)


def _signed_in_box(settings: Settings, store: sa.Engine, session: users.Session) -> None:
    context = session.context
    box = st.sidebar.container(border=True)
    box.markdown(t("Signed in as **{user}** ({role})", user=markdown_text(context.username),
                   role=t(context.role)))
    box.caption(t("Sees {areas}.", areas=_area_names(settings, context)))
    if box.button(t("Sign out"), key=SIGN_OUT_KEY, icon=":material/logout:"):
        users.sign_out(store, session.token)
        st.session_state.pop(TOKEN_KEY, None)
        via_provider = st.session_state.pop(OIDC_KEY, False)
        st.session_state[NOTICE_KEY] = N_("You are signed out.")
        if via_provider and _provider_user():
            st.logout()
        st.rerun()


def _demo_box(settings: Settings, store: sa.Engine, default: UserContext) -> None:
    box = st.sidebar.container(border=True)
    box.markdown(t("Demo mode: you are the default user ({role}).", role=t(default.role)))
    box.caption(t("Sign in with a demo account to see what each role sees (`python -m "
                  "data_access.users demo` prints them)."))
    notice = st.session_state.pop(NOTICE_KEY, None)
    if notice:
        box.warning(t(notice))
    with box.popover(t("Sign in"), icon=":material/login:"):
        _provider_button(settings)
        sign_in_form(settings, store)


def still_allowed() -> tuple[Callable[[], bool], str | None]:
    """For a download offered on this run: a check that the account and its session are
    still valid (for the demo's default user: always), and the browser key to bind it to."""
    binding = st.session_state.get(BINDING_KEY)
    if not isinstance(binding, Binding):
        return (lambda: False), None
    store = queries.app_store_engine(binding.store_url)

    def check() -> bool:
        if binding.token is None:
            return True
        try:
            users.resume_session(store, binding.token, browser=binding.browser)
        except users.AuthError:
            return False
        return True

    return check, binding.browser


def personal_download(build: Callable[[], bytes]) -> Callable[[], bytes]:
    """The ``data`` of a download button for a file with personal data (ui.http_guard.personal):
    built when clicked while the account may still have it, then for this browser only."""
    check, key = still_allowed()
    return http_guard.personal(build, allowed=check, browser_key=key)
