"""Widget helpers shared by app.py and the pages: start-up, the sidebar's view, metrics, errors.

``start()`` loads the settings, opens the registry and the app store, finds who is signed
in (auth_widgets: the session's UserContext, the demo's default user in demo mode, or the
sign-in form and ``SignInRequired``) and draws the sidebar; a problem comes back as a
``StartupProblem`` (a plain message and what to do), never as a traceback. app.py calls it on
every run and leaves the ``View`` for the page, which takes it with ``page_view(__file__)``.

``PAGES`` lists the pages and the roles each is for; app.py builds the navigation of the
user's role from it, and ``page_view(__file__)`` refuses a page run for another role.

The sidebar's choices (level, area, as-of date) live in ``st.session_state`` under the
widget keys below and are mirrored in ``st.query_params`` (``?level=2&area=PK-KP-PSH&
as_of=2026-11-29``), so a copied link reopens the same view.

Why ``page_view(__file__)`` can call ``start()`` itself: while no script of the process has called
``st.navigation`` yet, Streamlit treats the ``pages/`` folder the old way and may run a
page file without the entry script (the first request after the server starts, if it
deep-links to a page; every rerun under AppTest). The page then draws the sidebar itself.
"""

from __future__ import annotations

import datetime as dt
import functools
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa
import streamlit as st

from core.i18n import N_, format_date, format_number, t
from core.settings import Settings, SettingsError, load_settings
from core.text import markdown_text
from data_access import analytic_copy
from data_access.app_store import AppStoreError
from data_access.context import LIST_ROLES, ROLES, UserContext, default_context
from data_access.registry import (
    RegistryError,
    RegistryUnavailable,
    limit_duckdb_memory,
    sqlite_path,
)
from data_access.schema import SchemaError
from indicators.catalogue import Indicator
from indicators.donor_calendar import period_end_on_or_before
from ui import demo_history, language, queries, sign_in
from ui.sign_in import SignInRequired
from views.figure_cards import FigureCard

log = logging.getLogger(__name__)

LEVEL_KEY = "level"
AREA_KEY = "area"
AS_OF_KEY = "as_of"
VIEW_KEY = "socle_view"
ROLE_KEY = "_socle_role"  # the role of this session's user, for guarded()'s messages
ALL_AREAS = "__all__"  # the area option standing for the whole registry
MIN_DATE = dt.date(1970, 1, 1)


@dataclass(frozen=True)
class PageSpec:
    """A page of the app and the roles it is for."""

    path: str
    title: str  # English (N_); app.py translates it
    icon: str
    url_path: str
    roles: frozenset[str]
    default: bool = False

    @property
    def file_name(self) -> str:
        return Path(self.path).name


EVERYONE = frozenset(ROLES)
# Donors see the pages whose every figure comes through data_access's suppression (the
# Overview, the Coverage map, Donor progress and the export's indicator sheets); the pages
# built on lists and referral counts are not theirs.
PAGES: tuple[PageSpec, ...] = (
    PageSpec("pages/overview.py", N_("Overview"), ":material/dashboard:", "overview", EVERYONE,
             default=True),
    PageSpec("pages/coverage.py", N_("Coverage map"), ":material/map:", "coverage", EVERYONE),
    PageSpec("pages/referrals.py", N_("Referrals"), ":material/swap_horiz:", "referrals",
             LIST_ROLES),
    PageSpec("pages/duplicates.py", N_("Duplicates"), ":material/content_copy:", "duplicates",
             LIST_ROLES),
    PageSpec("pages/data_quality.py", N_("Data quality"), ":material/rule:", "data-quality",
             LIST_ROLES),
    PageSpec("pages/meeting.py", N_("Committee meeting"), ":material/groups:", "meeting",
             LIST_ROLES),
    PageSpec("pages/progress.py", N_("Donor progress"), ":material/trending_up:", "progress",
             EVERYONE),
    PageSpec("pages/export.py", N_("Excel export"), ":material/download:", "export", EVERYONE),
    PageSpec("pages/users.py", N_("Users"), ":material/manage_accounts:", "users",
             frozenset({"admin"})),
    PageSpec("pages/audit_log.py", N_("Audit log"), ":material/history:", "audit-log",
             frozenset({"admin"})),
)


def pages_for(role: str | None) -> tuple[PageSpec, ...]:
    """The pages of a role, in menu order (None: every page)."""
    return tuple(p for p in PAGES if role is None or role in p.roles)


@dataclass(frozen=True)
class View:
    """What the sidebar chose: the pages draw this."""

    settings: Settings
    context: UserContext
    level: int
    level_name: str
    area_id: str | None  # None: all areas (the whole registry)
    area_name: str
    as_of: dt.date
    period_start: dt.date


# Query parameters ---------------------------------------------------------------------------

def _param(name: str) -> str | None:
    value = st.query_params.get(name)
    return value.strip() if isinstance(value, str) and value.strip() else None


def parse_level(text: str | None, levels: Sequence[int]) -> int | None:
    try:
        level = int(text) if text is not None else None
    except ValueError:
        return None
    return level if level in levels else None


def parse_date(text: str | None, earliest: dt.date, latest: dt.date) -> dt.date | None:
    try:
        day = dt.date.fromisoformat(text) if text is not None else None
    except ValueError:
        return None
    return day if day is not None and earliest <= day <= latest else None


def _sync_query_params(level: int, area: str, as_of: dt.date) -> None:
    wanted = {LEVEL_KEY: str(level), AS_OF_KEY: as_of.isoformat()}
    if area != ALL_AREAS:
        wanted[AREA_KEY] = area
    for name, value in wanted.items():
        if st.query_params.get(name) != value:
            st.query_params[name] = value
    if area == ALL_AREAS and AREA_KEY in st.query_params:
        del st.query_params[AREA_KEY]


def linked_choice(key: str, options: Sequence[str], default: str) -> None:
    """Give a page widget its first value from the link (``?key=...``), else ``default``.

    Call before drawing the widget with the same ``key``; a value not among ``options``
    (a stale or hand-edited link) falls back to the default.
    """
    state = st.session_state
    if key not in state or state[key] not in options:
        linked = _param(key)
        state[key] = linked if linked in options else default


def link(params: dict[str, str | None]) -> None:
    """Mirror a page's choices in the URL (None removes a parameter)."""
    for name, value in params.items():
        if value is None:
            if name in st.query_params:
                del st.query_params[name]
        elif st.query_params.get(name) != value:
            st.query_params[name] = value


def choose_area(level: int, area_id: str | None) -> None:
    """Make ``area_id`` (None: all areas) of ``level`` the sidebar's choice.

    For widget callbacks (a click on the map, a breadcrumb button): they run before the
    sidebar is drawn, when its widgets' state may still be changed.
    """
    st.session_state[LEVEL_KEY] = level
    st.session_state[AREA_KEY] = ALL_AREAS if area_id is None else area_id


# Sidebar ------------------------------------------------------------------------------------

def sidebar(settings: Settings, context: UserContext) -> View:
    """Draw the level, area and as-of choices; keep them in session state and the URL."""
    state = st.session_state
    # Streamlit 1.67 resets these widgets to their first option when the user changes page
    # through the menu (their values were set through session state); giving each value back
    # to session state at the start of the run keeps the view from page to page.
    for key in (LEVEL_KEY, AREA_KEY, AS_OF_KEY):
        if key in state:
            state[key] = state[key]
    url = settings.database_url
    areas = queries.areas(context, url)
    levels = queries.level_choices(areas, len(settings.level_names))

    # Level: from the link on the first run (or the linked area's level), else level 2.
    linked_area = _param(AREA_KEY)
    if LEVEL_KEY not in state or state[LEVEL_KEY] not in levels:
        linked_level = parse_level(_param(LEVEL_KEY), levels)
        if linked_level is None and linked_area in set(areas["area_id"]):
            linked_level = int(areas.loc[areas["area_id"] == linked_area, "level"].iloc[0])
        state[LEVEL_KEY] = linked_level or queries.default_level(levels)
    level = st.sidebar.selectbox(
        t("Level"), levels, key=LEVEL_KEY,
        format_func=lambda n: t(settings.level_name(n)),
        help=t("The administrative level whose areas you compare."),
    )

    # Area: the areas of that level within the user's scope, and all areas for a user
    # who sees the whole registry.
    choices = queries.area_choices(areas, level)
    options = ([ALL_AREAS] if context.whole_registry else []) + list(choices)
    if not options:
        st.sidebar.warning(t("None of the areas you may see ({areas}) is in the registry.",
                             areas=", ".join(context.areas)))
        options = [ALL_AREAS]
    if AREA_KEY not in state or state[AREA_KEY] not in options:
        state[AREA_KEY] = linked_area if linked_area in options else options[0]
    area = st.sidebar.selectbox(
        t("Area"), options, key=AREA_KEY,
        format_func=lambda a: t("All areas") if a == ALL_AREAS else choices.get(a, a),
    )

    # As-of date: today or the registry's latest registration date.
    default_day = queries.default_as_of(url)
    latest = max(dt.date.today(), default_day)
    if AS_OF_KEY not in state or not isinstance(state[AS_OF_KEY], dt.date) \
            or not MIN_DATE <= state[AS_OF_KEY] <= latest:
        state[AS_OF_KEY] = parse_date(_param(AS_OF_KEY), MIN_DATE, latest) or default_day
    donor = context.sees_suppressed_figures
    if donor:  # the donors' fixed calendar: a period end (indicators.donor_calendar)
        state[AS_OF_KEY] = period_end_on_or_before(state[AS_OF_KEY], settings.period_months)
    as_of = st.sidebar.date_input(
        t("As of"), key=AS_OF_KEY, min_value=MIN_DATE, max_value=latest, format="YYYY-MM-DD",
        help=(t("Figures of calendar periods of {months} months only: a date moves to the end "
                "of the latest complete period on or before it.",
                months=settings.period_months) if donor else
              t("Stock figures count what was registered and enrolled on this date; referral "
                "figures cover the {months} months ending on it.",
                months=settings.period_months)),
    ) or default_day
    if donor:
        as_of = period_end_on_or_before(as_of, settings.period_months)
    start = queries.period_start(settings, as_of)

    _sync_query_params(level, area, as_of)

    st.sidebar.caption(t("Figures as of {as_of}; referrals made from {start} to {as_of}.",
                         as_of=format_date(as_of), start=format_date(start)))
    _registry_caption(settings, context)

    view = View(
        settings=settings, context=context, level=level,
        level_name=t(settings.level_name(level)),
        area_id=None if area == ALL_AREAS else area,
        area_name=t("All areas") if area == ALL_AREAS else choices.get(area, area),
        as_of=as_of, period_start=start,
    )
    state[VIEW_KEY] = view
    return view


def _registry_caption(settings: Settings, context: UserContext) -> None:
    """When the figures' data was taken from the registry; admins may refresh the copy."""
    copied_at = settings.values.get("analytics.copied_at")
    if copied_at is None:
        loaded = queries.last_loaded(settings.database_url)
        st.sidebar.caption(
            t("Registry last loaded: {when}.", when=f"{format_date(loaded)} {loaded:%H:%M}")
            if loaded else t("Registry last loaded: unknown."))
        return
    st.sidebar.caption(t("Registry copied at {when} UTC.",
                         when=f"{format_date(copied_at)} {copied_at:%H:%M}"))
    if not context.is_admin:
        return
    refresher = analytic_copy.Refresher.of(Path(settings["analytics.copy_folder"]))
    if refresher.doing == "refreshing":
        st.sidebar.caption(t("The copy is being refreshed; pages switch to it when it is done."))
    elif refresher.doing == "computing ahead":
        st.sidebar.caption(t("The copy's figures are being computed ahead for the next pages."))
    elif refresher.running:
        pass  # just starting or ending
    elif st.sidebar.button(t("Refresh the copy now"), key="socle_refresh_copy"):
        refresher.start(settings["analytics.registry_url"])
        st.sidebar.caption(t("The copy is being refreshed; pages switch to it when it is done."))
    if refresher.last_error:
        st.sidebar.warning(t("The last refresh of the copy failed: {problem}",
                             problem=refresher.last_error))


# Start-up ------------------------------------------------------------------------------------

class StartupProblem(Exception):
    """Socle cannot start: a plain message for the user and what to do about it.

    ``others``: the problem as users other than admins see it (without file names or
    advice meant for the administrator); None when everyone sees the same.
    """

    def __init__(self, message: str, advice: str = "",
                 others: StartupProblem | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.advice = advice
        self.others = others

    def for_role(self, role: str | None) -> StartupProblem:
        return self if role == "admin" or self.others is None else self.others


# A registry file that went missing, unreadable or corrupt: what admins and others read.
_FILE_PROBLEMS = {
    "missing": (N_("The registry database file `{file}` is missing ({detail})."),
                N_("Put it back (or point `[database] url` at it): Socle opens it again by "
                   "itself as soon as it is there, without a restart.")),
    "unreadable": (N_("The registry database file `{file}` is unreadable ({detail})."),
                   N_("Check the file's permissions for the user running Socle: Socle opens it "
                      "again by itself as soon as it can read it.")),
    "corrupt": (N_("The registry database file `{file}` is corrupt ({detail})."),
                N_("Restore the last good copy or load the registry again: Socle opens the new "
                   "file by itself, without a restart.")),
}
_FILE_PROBLEMS_FOR_OTHERS = {
    "missing": N_("The registry is unavailable just now: its database file is missing."),
    "unreadable": N_("The registry is unavailable just now: its database file is unreadable."),
    "corrupt": N_("The registry is unavailable just now: its database file is corrupt."),
}


def registry_file_problem(problem: RegistryUnavailable) -> StartupProblem:
    """The message of a registry file that is missing, unreadable or corrupt: the file and
    what to do for admins; the state, and that the administrator is told, for others."""
    message, advice = _FILE_PROBLEMS[problem.state]
    others = StartupProblem(
        t(_FILE_PROBLEMS_FOR_OTHERS[problem.state]),
        t("The administrator can see the details in the server log; the page works again "
          "once the file is back in order."))
    return StartupProblem(t(message, file=problem.path, detail=problem.detail or problem.state),
                          t(advice), others=others)


def show_problem(problem: StartupProblem) -> None:
    st.error(f"{problem.message}\n\n{problem.advice}" if problem.advice else problem.message)


def _configuration_problem(exc: SettingsError) -> StartupProblem:
    return StartupProblem(
        t("Socle's configuration has a problem: {problem}.", problem=exc),
        t("Correct config.toml (or the SOCLE_… environment variable named above) and "
          "reload the page."),
    )


def _settings() -> Settings:
    try:
        settings = load_settings()
    except SettingsError as exc:
        raise _configuration_problem(exc) from None
    limit_duckdb_memory(settings["database.duckdb_memory_limit"])
    return settings


def _reading(settings: Settings) -> Settings:
    """The settings the pages read with: the analytical copy's when ``analytics.source`` says
    so (made now if there is none yet, refreshed in the background when due)."""
    if not analytic_copy.uses_copy(settings):
        return settings
    folder = Path(settings["analytics.copy_folder"])
    refresher = analytic_copy.Refresher.of(folder)
    if refresher.after_refresh is None:
        refresher.after_refresh = functools.partial(queries.compute_ahead, settings)
    try:
        if analytic_copy.current_copy(folder) is None:
            with st.spinner(t("Copying the registry for fast reading (the first start only)…")):
                state = refresher.ensure(settings)
        else:
            state = refresher.ensure(settings)
    except (RegistryError, SchemaError) as exc:
        raise _registry_problem(exc, settings.database_url) from None
    except analytic_copy.CopyError as exc:
        raise StartupProblem(
            t("The registry cannot be copied for reading: {problem}.", problem=exc),
            t("Check `url` in the `[database]` section of config.toml (or SOCLE_DATABASE_URL), "
              "and that Socle may write in `[analytics] copy_folder`; or set `[analytics] "
              "source = \"live\"` to read the registry itself."),
        ) from None
    return analytic_copy.reading_settings(settings, state)


def _context(settings: Settings) -> UserContext:
    try:
        return default_context(settings)
    except SettingsError as exc:
        raise _configuration_problem(exc) from None


def _registry_problem(exc: Exception, url: str) -> StartupProblem:
    """What to tell the user when the registry at ``url`` cannot be opened or breaks the
    contract (RegistryError, RegistryUnavailable, SchemaError)."""
    if isinstance(exc, RegistryUnavailable):
        if exc.state != "missing" or queries.registry_opened_once(url):
            return registry_file_problem(exc)
        return _no_registry_yet(sqlite_path(url) or exc.path)
    if isinstance(exc, SchemaError):
        return StartupProblem(
            t("The registry at `{url}` does not follow Socle's registry contract. {problem}.",
              url=sa.engine.make_url(url).render_as_string(hide_password=True), problem=exc),
            t("A registry that stores things differently maps itself onto the contract with "
              "SQL views of the contract's names; or point `[database] url` at another "
              "registry."),
        )
    path = sqlite_path(url)
    if path is not None and not path.is_file():
        return _no_registry_yet(path)
    return StartupProblem(
        t("The registry cannot be opened: {problem}.", problem=exc),
        t("Check `url` in the `[database]` section of config.toml (or SOCLE_DATABASE_URL) "
          "and that the database server is running."),
    )


def _open_registry(settings: Settings) -> None:
    url = settings.database_url
    try:
        queries.registry_engine(url)
    except (RegistryError, SchemaError) as exc:
        raise _registry_problem(exc, url) from None
    except sa.exc.SQLAlchemyError as exc:
        problem = queries.registry_problem(url, exc)
        if problem is not None:
            raise registry_file_problem(problem) from None
        log.exception("cannot read the registry")
        raise StartupProblem(
            t("The registry cannot be read. The details are in the server log."),
            t("Check `url` in the `[database]` section of config.toml (or SOCLE_DATABASE_URL)."),
        ) from None


def _no_registry_yet(path: Path) -> StartupProblem:
    return StartupProblem(
        t("The registry database `{file}` does not exist.", file=path),
        t("To try Socle, build the demo registry with `python -m demo "
          "--out {file}` (or run `scripts/run_demo.sh`); to use your own registry, set "
          "`url` in the `[database]` section of config.toml (or SOCLE_DATABASE_URL).",
          file=path),
    )


def _open_app_store(settings: Settings) -> None:
    try:
        queries.app_store_engine(settings.app_store_url)
    except AppStoreError as exc:
        raise StartupProblem(
            t("Socle's own database (the app store) cannot be opened: {problem}.", problem=exc),
            t("Check `url` in the `[app_store]` section of config.toml (or SOCLE_APP_STORE_URL): "
              "Socle must be able to write there."),
        ) from None


def start() -> View:
    """Settings, registry, app store, the signed-in user, sidebar: the View of this run.

    Raises StartupProblem (shown by the caller), or SignInRequired once the sign-in form is
    drawn (outside demo mode, nobody signed in).
    """
    settings = _settings()
    language.apply(settings)  # before any text: this session's language, for this run
    language.chooser()
    language.direction()
    default = _context(settings) if settings["app.demo_mode"] else None
    registry_settings = settings  # the registry's own (the demo's history lives beside it)
    try:
        settings = _reading(settings)
        _open_registry(settings)
        registry_problem = None
    except StartupProblem as problem:
        registry_problem = problem  # shown once the user is known (details: admins only)
    _open_app_store(settings)
    demo_history.show_status(registry_settings)
    try:
        who = sign_in.current_user(settings, default)
        language.remember(queries.app_store_engine(settings.app_store_url), who.session)
        context = who.context
    except sa.exc.SQLAlchemyError:
        log.exception("cannot read the app store for the sign-in")
        raise StartupProblem(
            t("Socle's own database (the app store) could not be read just now. Try again in "
              "a moment; if it keeps failing, tell the administrator (the details are in the "
              "server log).")
        ) from None
    st.session_state[ROLE_KEY] = context.role
    if registry_problem is not None:
        raise registry_problem.for_role(context.role)
    try:
        if context.sees_suppressed_figures:
            st.sidebar.caption(t("Aggregates only: figures that count very few people, and "
                                 "those that would give them away, are hidden."))
        return sidebar(settings, context)
    except sa.exc.SQLAlchemyError:
        log.exception("cannot read the registry for the sidebar")
        raise StartupProblem(
            t("The registry could not be read just now. Try again in a moment; if it keeps "
              "failing, tell the administrator (the details are in the server log).")
        ) from None
    except Exception:
        log.exception("cannot draw the sidebar")
        raise StartupProblem(
            t("Something went wrong while preparing the dashboard. The details are in the "
              "server log; please tell the administrator.")
        ) from None


def page_view(page_file: str) -> View | None:
    """The View app.py left for this run's page (``page_file``: the page's ``__file__``);
    None once a start-up problem is shown, or when the page is not for the user's role.

    The view is taken (not read), so a page never draws a view left by an earlier run.
    """
    page = Path(page_file).name
    view = st.session_state.pop(VIEW_KEY, None)
    if not isinstance(view, View):
        try:
            view = start()  # the page runs without the entry script: see the module's notes
        except StartupProblem as problem:
            show_problem(problem)
            return None
        except SignInRequired:
            sign_in_page()
            return None
        st.session_state.pop(VIEW_KEY, None)
    spec = next((p for p in PAGES if p.file_name == page), None)
    if spec is not None and view.context.role not in spec.roles:
        st.warning(t("This page is not available to the {role} role.", role=t(view.context.role)))
        return None
    return view


def sign_in_page() -> None:
    """The sign-in page (outside demo mode, nobody signed in): app.py's only page then."""
    try:
        settings = _settings()
        _open_app_store(settings)
    except StartupProblem as problem:
        show_problem(problem)
        return
    sign_in.sign_in_page(settings, queries.app_store_engine(settings.app_store_url))


def view_caption(view: View) -> None:
    """The line under a page's title: the area, its level and the as-of date."""
    st.caption(t("{area} · {level} · as of {as_of}", area=markdown_text(view.area_name),
                 level=view.level_name, as_of=format_date(view.as_of)))


def page_header(title: str, view: View) -> None:
    """A page's title (English; translated here) and the view it shows."""
    st.title(t(title))
    view_caption(view)


def map_credit(settings: Settings) -> None:
    """The boundary data's credit line under a map (its licence asks for one: the demo's
    districts are © OpenStreetMap contributors, ODbL)."""
    credit = settings["geography.boundary_attribution"]
    if credit:
        st.caption(credit)


# Figures ------------------------------------------------------------------------------------

def _whole(value: int) -> str:
    return format_number(value)


def metric(card: FigureCard, *, explain_empty: bool = True,
           change_since: str | None = None) -> None:
    """One figure card: its value (and the change since the previous meeting, ``change_since``
    describing it), its definition in the help, what it counts below."""
    help_text = t(card.definition)
    if card.indicator is not None and card.indicator.note:
        help_text += "\n\n" + t(card.indicator.note)
    change = {} if card.change_text is None else dict(
        delta=card.change_text, delta_color=card.delta_color, delta_arrow=card.delta_arrow,
        delta_description=change_since)
    st.metric(t(card.label), t("hidden") if card.hidden else card.text, help=help_text,
              border=True, **change)
    notes: list[str] = []
    if card.hidden:
        notes.append(t("Hidden: a small count, or one that would give a small count away."))
    elif card.empty and card.indicator is not None:
        if explain_empty:
            notes.append(t("Nothing to count: no {what}.", what=t(card.indicator.denominator)))
    elif card.numerator is not None and card.denominator is not None:
        notes.append(t("{numerator} of {denominator}", numerator=_whole(card.numerator),
                       denominator=_whole(card.denominator)))
    if card.whole_registry_only:
        notes.append(t("Whole registry"))
    elif card.registry_text is not None:
        notes.append(t("All areas: {value}", value=card.registry_text))
    if card.previous_text is not None:
        notes.append(t("Previous meeting: {value}", value=card.previous_text))
    if notes:
        st.caption(" · ".join(notes))


def metric_grid(
    figures: Sequence[FigureCard], *, per_row: int = 4, explain_empty: bool = True,
    change_since: str | None = None,
) -> None:
    """The figures in rows of ``per_row``; ``explain_empty`` notes ratios with nothing to count;
    ``change_since`` describes the change a card shows (the committee meeting's)."""
    for start in range(0, len(figures), per_row):
        columns = st.columns(per_row)
        for column, figure in zip(columns, figures[start:start + per_row], strict=False):
            with column:
                metric(figure, explain_empty=explain_empty, change_since=change_since)


VALUE_FORMATS = {"percent": "%.1f %%", "count": "%d", "days": "%.1f", "mean": "%.2f"}


def value_columns(indicator: Indicator) -> dict:
    """Column settings of a table of one indicator per area (Value in the indicator's unit)."""
    return {
        "Area": st.column_config.TextColumn(t("Area")),
        "Value": st.column_config.NumberColumn(
            t(indicator.label), format=VALUE_FORMATS.get(indicator.unit, "%.2f"),
            help=t(indicator.definition)),
        "Numerator": st.column_config.NumberColumn(t("Numerator"), format="%d",
                                                   help=t(indicator.numerator)),
        "Denominator": st.column_config.NumberColumn(t("Denominator"), format="%d",
                                                     help=t(indicator.denominator or "—")),
    }


def definitions(figures: Sequence[FigureCard]) -> None:
    """A list of every figure's definition (for the "Definitions" expander)."""
    lines = []
    for figure in figures:
        line = f"- **{t(figure.label)}**: {t(figure.definition)}"
        if figure.indicator is not None and figure.indicator.note:
            line += f" {t(figure.indicator.note)}"
        lines.append(line)
    st.markdown("\n".join(lines))


# Errors -------------------------------------------------------------------------------------

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def configure_logging() -> None:
    """Socle's own log lines with their level (ERROR for a registry file gone missing,
    unreadable or corrupt), once per process. Streamlit sets up its own loggers only;
    without this, Python printed Socle's warnings and errors bare, without a level."""
    root = logging.getLogger()
    if not any(getattr(h, "_socle", False) for h in root.handlers):
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter(LOG_FORMAT))
        handler._socle = True  # type: ignore[attr-defined]
        root.addHandler(handler)
        if root.level == logging.NOTSET or root.level > logging.WARNING:
            root.setLevel(logging.WARNING)


def _file_problem_behind(error: BaseException) -> RegistryUnavailable | None:
    """The registry file's problem behind a failed query, if there is one to see."""
    try:
        url = load_settings().database_url
    except SettingsError:
        return None
    return queries.registry_problem(url, error)


def guarded(main: Callable[[], None]) -> None:
    """Run a page; any error becomes a plain message on screen and a traceback in the log.

    A connection pool that gave none in time is a busy server, not a broken database: it
    says so. A registry file gone missing, unreadable or corrupt is named (to admins).
    """
    try:
        main()
    except sa.exc.TimeoutError:
        log.warning("no database connection was free in time while drawing the page",
                    exc_info=True)
        st.warning(t("Socle is busy with other users' figures just now and this page did not "
                     "get its turn in time. Reload the page in a moment: nothing is wrong "
                     "with the data."))
    except (RegistryUnavailable, sa.exc.SQLAlchemyError) as exc:
        problem = _file_problem_behind(exc)
        if problem is not None:
            log.error("%s (while drawing the page)", problem)
            show_problem(registry_file_problem(problem).for_role(st.session_state.get(ROLE_KEY)))
            return
        log.exception("database error while drawing the page")
        st.error(t("A database could not be reached just now (the registry, or Socle's own "
                   "store of meetings and snapshots). Try again in a moment; if it keeps "
                   "failing, tell the administrator (the details are in the server log)."))
    except Exception:
        log.exception("error while drawing the page")
        st.error(t("Something went wrong while drawing this page. The details are in the "
                   "server log; please tell the administrator."))
