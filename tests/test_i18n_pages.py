"""Every page in every language (AppTest: the real app on a demo registry with its boundaries,
a record-linkage run, a meeting and a snapshot), and two sessions in two languages at once.

The pseudo-locale ``qps`` (tests/i18n_support.py) wraps every message of the code in ⟦ ⟧:
a page drawn in it that still shows an English word of the messages outside the brackets
has a text that escaped the catalogues — written without t(), not marked N_, composed from
English pieces — and the test names it with the page and the element.
"""

from __future__ import annotations

import os
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest
import sqlalchemy as sa
from app_under_test import APP, assert_clean
from i18n_support import LANGUAGES, PSEUDO, english_words, pseudo_catalogue, shown_texts
from streamlit.testing.v1 import AppTest

from core import i18n
from data_access import linkage_store
from data_access.app_store import open_app_store
from data_access.registry import open_registry
from demo.generator import Options, generate
from linkage.job import run_linkage
from linkage.model import ModelOptions
from ui.widgets import PAGES, pages_for

pytestmark = pytest.mark.usefixtures("clean_environment",
                                     "navigation_as_in_a_running_server")

OVERVIEW, MEETING, PROGRESS = "pages/overview.py", "pages/meeting.py", "pages/progress.py"


@dataclass(frozen=True)
class World:
    registry: Path  # with its boundary file beside it
    store: Path  # an app store holding a record-linkage run
    district: str  # a district of the registry, with union councils
    programme: str  # a programme of the registry
    words: frozenset[str]  # the registry's names (areas, programmes, people): not translated


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> World:
    folder = tmp_path_factory.mktemp("i18n_pages")
    registry = folder / "registry.db"
    generate(Options(out=registry, households=800, seed=3))
    engine = open_registry(f"sqlite:///{registry}")
    try:
        result = run_linkage(engine, ModelOptions(u_max_pairs=2e5))
        with engine.connect() as conn:
            district = conn.execute(sa.text(
                "SELECT area_id FROM area WHERE level = 2 ORDER BY area_id")).scalar()
            programme = conn.execute(sa.text(
                "SELECT programme_id FROM programme ORDER BY programme_id")).scalar()
            names = [value for query in (
                "SELECT name FROM area", "SELECT name FROM programme",
                "SELECT exclusive_group FROM programme", "SELECT name FROM access_point",
                "SELECT kind FROM access_point", "SELECT first_name FROM person",
                "SELECT last_name FROM person", "SELECT father_name FROM person")
                for (value,) in conn.execute(sa.text(query)) if value]
    finally:
        engine.dispose()
    store_file = folder / "app.db"
    store = open_app_store(f"sqlite:///{store_file}")
    linkage_store.store_linkage_run(store, result)
    store.dispose()
    words = frozenset(w for name in names for w in re.findall(r"[A-Za-z]+", str(name)))
    return World(registry, store_file, district, programme, words)


@pytest.fixture
def app(world: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> World:
    """The app on the world (a fresh copy of its store), with the pseudo-locale."""
    shutil.copy(world.store, tmp_path / "app.db")
    monkeypatch.setenv("SOCLE_DATABASE_URL", f"sqlite:///{world.registry}")
    monkeypatch.setenv("SOCLE_APP_STORE_URL", f"sqlite:///{tmp_path / 'app.db'}")
    monkeypatch.setenv("SOCLE_GEOGRAPHY_BOUNDARY_FILE", str(world.registry.with_suffix(".geojson")))
    monkeypatch.setitem(i18n.CATALOGUES, PSEUDO, pseudo_catalogue())
    yield world
    i18n.set_language(i18n.DEFAULT_LANGUAGE)


def open_page(page: str, code: str, query: dict[str, str] | None = None) -> AppTest:
    """The page in language ``code``, as the sidebar's chooser leaves it in the session.

    AppTest calls a widget's format_func from the test's thread to find the option shown:
    that thread gets the session's language too (the ``app`` fixture resets it)."""
    i18n.set_language(code)
    at = AppTest.from_file(APP, default_timeout=180)
    at.session_state["socle_language"] = code
    if query:
        at.query_params.update(query)
    at.run()
    if page != OVERVIEW:
        at.switch_page(page).run()
    assert_clean(at)
    return at


def leftovers(at: AppTest, page: str, words: frozenset[str]) -> list[str]:
    """Every English word of the messages that a page shows outside ⟦ ⟧, where."""
    found = []
    for where, text in shown_texts(at):
        left = english_words(text, allowed=words)
        if left:
            found.append(f"{page} | {where} | {text[:150]!r}: {left[:6]}")
    return found


def button(at: AppTest, label: str):
    return next(b for b in at.button if b.label == label)


def pseudo(text: str) -> str:
    return f"⟦{text}⟧"


# --- the pseudo-locale: nothing escapes the catalogues ----------------------------------------

@pytest.mark.parametrize("role", ["admin", "chair", "officer", "donor"])
def test_every_page_of_every_role_is_in_the_catalogues(app: World, role: str, monkeypatch):
    monkeypatch.setenv("SOCLE_APP_DEFAULT_ROLE", role)
    if role in ("chair", "officer"):
        monkeypatch.setenv("SOCLE_APP_DEFAULT_AREAS", app.district)
    found: list[str] = []
    for spec in pages_for(role):
        query = {"area": app.district} if spec.path == MEETING else None
        found += leftovers(open_page(spec.path, PSEUDO, query), spec.path, app.words)
    assert not found, "\n".join(found)


def test_a_meeting_and_its_brief_are_in_the_catalogues(app: World):
    at = open_page(MEETING, PSEUDO, {"area": app.district})
    button(at, pseudo("Start meeting")).click().run()
    assert_clean(at)
    at.text_area(key="action_text").input("Visit the desk")
    at.text_input(key="action_owner").input("Omar")
    button(at, pseudo("Add the action point")).click().run()
    assert_clean(at)
    found = leftovers(at, MEETING, app.words | {"Visit", "desk", "Omar"})
    assert [s for s in at.success if s.value.startswith("⟦Meeting in progress")]
    assert not found, "\n".join(found)


def test_a_snapshot_and_the_progress_charts_are_in_the_catalogues(app: World):
    at = open_page(PROGRESS, PSEUDO)
    at.button(key="progress_snapshot_now").click().run()
    assert_clean(at)
    assert at.get("vega_lite_chart")
    found = leftovers(at, PROGRESS, app.words)
    assert not found, "\n".join(found)


def test_the_sign_in_page_is_in_the_catalogues(app: World, monkeypatch):
    monkeypatch.setenv("SOCLE_APP_DEMO_MODE", "false")
    at = open_page(OVERVIEW, PSEUDO)
    assert at.title[0].value == pseudo("Sign in to Socle")
    at.text_input(key="sign_in_username").input("nobody")
    at.text_input(key="sign_in_password").input("not the password")
    at.button[0].click().run()
    assert at.error  # wrong username or password, said in the language
    found = leftovers(at, "sign-in", app.words | {"nobody"})
    assert not found, "\n".join(found)


# --- the real languages ---------------------------------------------------------------------

@pytest.mark.parametrize("code", LANGUAGES)
def test_every_page_draws_in_each_language(app: World, code: str):
    catalogue = i18n.CATALOGUES[code]
    for spec in PAGES:
        query = {"area": app.district} if spec.path == MEETING else None
        at = open_page(spec.path, code, query)
        title = at.title[0].value
        assert title == catalogue[spec.title], (spec.path, title)


# --- per session, per account ---------------------------------------------------------------

def _titles(at: AppTest) -> tuple[str, list[str]]:
    return at.title[0].value, [m.value for m in at.metric]


def test_two_sessions_in_two_languages_at_once_keep_their_own(app: World):
    """Two users of one server: each picks a language in the sidebar, and their reruns, at
    the same time on two threads as Streamlit runs them, each keep their own."""
    import threading

    sessions = {}
    for code in ("fr", "ur"):
        at = open_page(OVERVIEW, "en")
        at.sidebar.button_group[0].set_value(code).run()  # the sidebar's chooser
        assert_clean(at)
        sessions[code] = at
    expected = {}
    for code in ("fr", "ur"):
        with i18n.using(code):
            expected[code] = i18n.t("Overview")
        assert sessions[code].title[0].value == expected[code]
    french_values = [m.value for m in sessions["fr"].metric]
    assert any("," in v and "%" in v for v in french_values), french_values  # 98,4 %

    seen: dict[str, list[str]] = {"fr": [], "ur": []}
    start = threading.Barrier(2)

    def rerun(code: str) -> None:
        i18n.set_language(code)  # this thread stands for the session's browser
        start.wait()
        for _ in range(3):
            sessions[code].run()
            seen[code].append(sessions[code].title[0].value)

    threads = [threading.Thread(target=rerun, args=(code,)) for code in seen]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert seen == {code: [expected[code]] * 3 for code in seen}
    assert [m.value for m in sessions["fr"].metric] == french_values


def test_the_account_keeps_its_language_and_brings_it_back_at_sign_in(app: World):
    from data_access import users

    store = open_app_store(os.environ["SOCLE_APP_STORE_URL"])
    password = "a long enough password"
    users.create_user(store, "amina", "officer", [app.district], password=password, actor="test")

    def sign_in(at: AppTest) -> AppTest:
        at.text_input(key="sign_in_username").input("amina")
        at.text_input(key="sign_in_password").input(password)
        next(b for b in at.button if b.proto.form_id == "socle_sign_in").click().run()
        assert_clean(at)
        return at

    at = sign_in(open_page(OVERVIEW, "en"))
    assert users.get_user(store, "amina").language is None  # nothing chosen yet
    at.sidebar.button_group[0].set_value("ps").run()
    i18n.set_language("ps")
    assert_clean(at)
    assert users.get_user(store, "amina").language == "ps"

    again = sign_in(open_page(OVERVIEW, "en"))  # another day, another browser: English first
    i18n.set_language("ps")
    again.run()
    with i18n.using("ps"):
        assert again.title[0].value == i18n.t("Overview")
    assert again.sidebar.button_group[0].value == "ps"
    store.dispose()


def test_an_export_a_new_user_and_the_audit_log_are_in_the_catalogues(app: World):
    found: list[str] = []
    at = open_page("pages/export.py", PSEUDO)
    at.button(key="export_build").click().run()  # the workbook, with the overdue referrals
    assert_clean(at)
    assert at.success and at.get("download_button")
    found += leftovers(at, "pages/export.py", app.words)

    at = open_page("pages/users.py", PSEUDO)
    at.text_input(key="user_new_name").input("zainab")
    at.selectbox(key="user_new_role").set_value("donor")
    next(b for b in at.button if b.proto.form_id == "user_create").click().run()
    assert_clean(at)
    assert at.success
    found += leftovers(at, "pages/users.py", app.words | {"zainab"})

    at = open_page("pages/audit_log.py", PSEUDO)
    assert not at.dataframe[0].value.empty  # the export and the new user, recorded
    found += leftovers(at, "pages/audit_log.py", app.words | {"zainab"})
    assert not found, "\n".join(found)


@pytest.mark.parametrize(("page", "query"), [
    ("pages/coverage.py", {"indicator": "cov.exclusion", "classes": "fixed"}),
    ("pages/referrals.py", {"programme": "{programme}"}),
    ("pages/data_quality.py", {"rules": "person.malformed_national_id"}),
    ("pages/progress.py", {"indicators": "cov.programme,ref.days_to_complete"}),
])
def test_the_pages_choices_are_in_the_catalogues(app: World, page: str, query: dict[str, str]):
    query = {name: value.format(programme=app.programme) for name, value in query.items()}
    found = leftovers(open_page(page, PSEUDO, query), page, app.words)
    assert not found, "\n".join(found)
