"""Access control as users meet it: sign-in, pages by role, scope below the UI, donor
suppression, the audit log — through AppTest, the export page's builder and the CLI.

The registry is small and written in code: one province, two districts (Peshawar, Nowshera)
with their tehsils, union councils, access points, households, persons, enrolments and
referrals. Peshawar's people are all named "Zarghuna" and Nowshera's "Bibi"; household ids
start with HP / HN, national ids with 17301 / 17302. A user scoped to one district must never
be shown an id or a name of the other (nor the province's, nor the whole registry's totals)
in anything rendered: every element of every page (its protobuf, dataframes and the map's
deck JSON included), the workbook the export page builds and the one the CLI writes.
"""

from __future__ import annotations

import datetime as dt
import io
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import geopandas as gpd
import openpyxl
import pandas as pd
import pytest
import sqlalchemy as sa
import streamlit as st
from app_under_test import app_registry
from argon2 import PasswordHasher, profiles
from shapely.geometry import box
from shapely.ops import unary_union
from streamlit.testing.v1 import AppTest
from test_suppression import determined

from core.settings import load_settings
from data_access import admin, audit, users
from data_access.app_store import open_app_store
from data_access.areas import read_areas
from data_access.context import UserContext
from data_access.registry import open_registry
from data_access.scope import ScopeError, scope_of
from exports.page_export import ExportChoices, build_export
from indicators import compute, default_period_start, lists
from indicators.figures import COMPUTED_LEVEL, Parameters, donor_long_form, series
from indicators.lists import ListPermissionError
from indicators.suppression import figure_cells
from ui import list_queries, widgets

ROOT = Path(__file__).resolve().parents[1]
APP = str(ROOT / "app.py")
VENV_PYTHON = ROOT / ".venv" / "bin" / "python"
AS_OF = dt.date(2024, 12, 31)
PASSWORD = "a long enough password"

AREAS = [
    # area_id, name, level, parent_id
    ("KP1", "Khyber Pakhtunkhwa", 1, None),
    ("PSH", "Peshawar", 2, "KP1"),
    ("NSH", "Nowshera", 2, "KP1"),
    ("PSH-T1", "Peshawar City", 3, "PSH"),
    ("NSH-T1", "Pabbi", 3, "NSH"),
    ("NSH-T2", "Jehangira", 3, "NSH"),
    ("PSH-U1", "Hashtnagri", 4, "PSH-T1"),
    ("PSH-U2", "Gulbahar", 4, "PSH-T1"),
    ("NSH-U1", "Akbarpura", 4, "NSH-T1"),
    ("NSH-U2", "Kheshgi", 4, "NSH-T2"),
]
NAMES = {a: n for a, n, _, _ in AREAS}
PARENT = {a: p for a, _, _, p in AREAS}
PESHAWAR = {"PSH", "PSH-T1", "PSH-U1", "PSH-U2"}
NOWSHERA = {"NSH", "NSH-T1", "NSH-T2", "NSH-U1", "NSH-U2"}
ACCESS_POINTS = [
    ("AP-PSH", "Peshawar one-window", "PSH-U1", 34.05, 71.05),
    ("AP-NSH", "Akbarpura desk", "NSH-U1", 34.05, 71.25),
]
HOMES = {"PSH-U1": 9, "PSH-U2": 3, "NSH-U1": 8, "NSH-U2": 4}
FIRST_NAME = {"PSH": "Zarghuna", "NSH": "Bibi"}


def district_of(area_id: str) -> str:
    while PARENT.get(area_id) and PARENT[area_id] != "KP1":
        area_id = PARENT[area_id]
    return area_id


def registry_tables() -> dict[str, pd.DataFrame]:
    day = dt.date(2024, 6, 1)
    households, persons, enrolments, referrals = [], [], [], []
    n = 0
    for area_id, count in HOMES.items():
        district = district_of(area_id)
        tag = "P" if district == "PSH" else "N"
        for k in range(count):
            n += 1
            hh = f"H{tag}{n:02d}"
            households.append({"household_id": hh, "area_id": area_id,
                               "registered_on": day + dt.timedelta(days=k),
                               "pmt_score": float(10 + 3 * k)})
            for j in range(1 + k % 3):
                persons.append({
                    "person_id": f"{hh}-{j}", "household_id": hh,
                    "national_id": f"1730{1 if tag == 'P' else 2}{n:04d}{j:03d}{j % 2 + 1}",
                    "first_name": FIRST_NAME[district], "sex": "FM"[(k + j) % 2],
                    "birth_date": dt.date(1970 + 5 * j + k, 3, 1), "disability": k % 5 == 0,
                    "is_head": j == 0, "registered_on": day + dt.timedelta(days=k),
                })
            if k % 2 == 0:
                enrolments.append({"enrolment_id": f"E-bisp-{hh}", "programme_id": "BISP",
                                   "household_id": hh, "enrolled_on": day})
            if k % 3 == 0:
                enrolments.append({"enrolment_id": f"E-cash-{hh}", "programme_id": "CASH",
                                   "household_id": hh, "enrolled_on": day})
            desk = "AP-PSH" if tag == "P" else "AP-NSH"
            referrals.append({
                "referral_id": f"R{tag}{n:02d}", "household_id": hh, "to_programme_id": "SEHAT",
                "access_point_id": desk, "referred_on": dt.date(2024, 10, 1) + dt.timedelta(k),
                "status": "completed" if k % 3 == 0 else "pending",
                "closed_on": dt.date(2024, 11, 1) if k % 3 == 0 else None,
            })
    programmes = [
        {"programme_id": "BISP", "name": "BISP Kafaalat", "benefit_type": "cash",
         "unit": "household", "pmt_max": 32.0, "disability_only": False,
         "exclusive_group": "cash"},
        {"programme_id": "CASH", "name": "Provincial grant", "benefit_type": "cash",
         "unit": "household", "pmt_max": 40.0, "disability_only": False,
         "exclusive_group": "cash"},
        {"programme_id": "SEHAT", "name": "Sehat card", "benefit_type": "health_insurance",
         "unit": "household", "disability_only": False},
    ]
    return {
        "area": pd.DataFrame(AREAS, columns=["area_id", "name", "level", "parent_id"]).assign(
            population=1000),
        "access_point": pd.DataFrame([
            {"access_point_id": a, "name": name, "kind": "desk", "area_id": area,
             "latitude": lat, "longitude": lon} for a, name, area, lat, lon in ACCESS_POINTS]),
        "household": pd.DataFrame(households),
        "person": pd.DataFrame(persons),
        "programme": pd.DataFrame(programmes),
        "enrolment": pd.DataFrame(enrolments),
        "referral": pd.DataFrame(referrals),
    }


def boundary_frame() -> gpd.GeoDataFrame:
    shapes: dict[str, object] = {
        "PSH-U1": box(71.0, 34.0, 71.1, 34.1), "PSH-U2": box(71.1, 34.0, 71.2, 34.1),
        "NSH-U1": box(71.2, 34.0, 71.3, 34.1), "NSH-U2": box(71.3, 34.0, 71.4, 34.1)}
    for level in (3, 2, 1):
        for area_id, _, lvl, _ in AREAS:
            if lvl == level:
                shapes[area_id] = unary_union(
                    [g for child, g in shapes.items() if PARENT.get(child) == area_id])
    return gpd.GeoDataFrame([{"area_id": a, "name": n, "level": lvl, "geometry": shapes[a]}
                             for a, n, lvl, _ in AREAS], crs="EPSG:4326")


# What must not be seen -----------------------------------------------------------------------

def out_of_scope_patterns(visible: set[str]) -> list[re.Pattern]:
    """Ids and names of the areas outside ``visible`` (the province included), and the ids,
    national ids and names of the people living there."""
    hidden = [a for a, *_ in AREAS if a not in visible]
    words = [*hidden, *(NAMES[a] for a in hidden)]
    if not visible & PESHAWAR:
        words += ["Zarghuna", "AP-PSH", "Peshawar one-window"]
    if not visible & NOWSHERA:
        words += ["Bibi", "AP-NSH", "Akbarpura desk"]
    patterns = [re.compile(rf"(?<![A-Za-z0-9-]){re.escape(w)}(?![A-Za-z0-9])") for w in words]
    if not visible & PESHAWAR:
        patterns += [re.compile(r"\bHP\d\d\b"), re.compile(r"\bRP\d\d\b"),
                     re.compile(r"173010\d{8}")]
    if not visible & NOWSHERA:
        patterns += [re.compile(r"\bHN\d\d\b"), re.compile(r"\bRN\d\d\b"),
                     re.compile(r"173020\d{8}")]
    return patterns


PERSONAL_PATTERNS = [re.compile(r"\b(Zarghuna|Bibi)\b"), re.compile(r"1730[12]\d{9}"),
                     re.compile(r"\bH[PN]\d\d\b"), re.compile(r"\bR[PN]\d\d\b")]


def leaks(text: str, patterns: list[re.Pattern]) -> list[str]:
    found = []
    for pattern in patterns:
        match = pattern.search(text)
        if match:
            start = max(match.start() - 60, 0)
            found.append(f"{pattern.pattern}: …{text[start:match.end() + 60]}…")
    return found


def rendered(at: AppTest) -> str:
    """Everything the run sent to the browser: each element's protobuf (labels, values,
    options, helps, dataframes' Arrow bytes, the deck's JSON, charts' data), and the
    dataframes as CSV, and the URL."""
    parts: list[str] = []

    def walk(node) -> None:
        proto = getattr(node, "proto", None)
        if proto is not None:
            parts.append(str(proto))
        for child in getattr(node, "children", {}).values():
            walk(child)

    walk(at._tree)
    parts += [df.value.to_csv() for df in at.dataframe]
    parts.append(repr(dict(at.query_params)))
    return "\n".join(parts)


def workbook_text(data: bytes) -> str:
    book = openpyxl.load_workbook(io.BytesIO(data), read_only=True)
    try:
        return "\n".join(repr(row) for name in book.sheetnames
                         for row in book[name].iter_rows(values_only=True))
    finally:
        book.close()


# Fixtures -------------------------------------------------------------------------------------

@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch):
    for name in list(os.environ):
        if name.startswith("SOCLE_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("SOCLE_GEOGRAPHY_BOUNDARY_FILE", "")
    # argon2's cheapest parameters keep the tests fast (test_users checks the real ones).
    monkeypatch.setattr(users, "HASHER", PasswordHasher.from_parameters(profiles.CHEAPEST))
    st.cache_data.clear()
    st.cache_resource.clear()
    yield
    st.cache_data.clear()
    st.cache_resource.clear()


@pytest.fixture(autouse=True)
def _runs_as_in_a_running_server(navigation_as_in_a_running_server):
    """Every AppTest run as a running server runs it after its first (conftest)."""


@pytest.fixture
def registry_url(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    url = app_registry(tmp_path, monkeypatch, registry_tables())
    boundaries = tmp_path / "areas.geojson"
    boundary_frame().to_file(boundaries, driver="GeoJSON")
    monkeypatch.setenv("SOCLE_GEOGRAPHY_BOUNDARY_FILE", str(boundaries))
    monkeypatch.setenv("SOCLE_APP_DEMO_MODE", "false")
    return url


@pytest.fixture
def store(registry_url: str, tmp_path: Path) -> Iterator[sa.Engine]:
    """The app store, with one account per role (and a donor of Nowshera only)."""
    engine = open_app_store(f"sqlite:///{tmp_path / 'store' / 'app.db'}")
    for name, role, areas in ACCOUNTS.values():
        users.create_user(engine, name, role, areas, password=PASSWORD, actor="setup")
    yield engine
    engine.dispose()


ACCOUNTS = {
    # key: (username, role, areas)
    "admin": ("ada", "admin", ()),
    "chair": ("chad", "chair", ("PSH",)),
    "officer": ("omar", "officer", ("NSH",)),
    "donor": ("dora", "donor", ()),
    "scoped_donor": ("dina", "donor", ("NSH",)),
}


def signed_in(store: sa.Engine, key: str, query: dict[str, str] | None = None) -> AppTest:
    """The app as ``key``'s account, signed in (its session token in the session state)."""
    name = ACCOUNTS[key][0]
    session = users.authenticate(store, name, PASSWORD)
    at = AppTest.from_file(APP, default_timeout=90)
    at.session_state["socle_session_token"] = session.token
    at.query_params.update({"as_of": AS_OF.isoformat(), **(query or {})})
    return at.run()


def assert_clean(at: AppTest) -> None:
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]


def context_of(key: str) -> UserContext:
    name, role, areas = ACCOUNTS[key]
    return UserContext(role, areas, username=name)


def visible_of(key: str) -> set[str]:
    _, _, areas = ACCOUNTS[key]
    if not areas:
        return {a for a, *_ in AREAS}
    return {a for a in NAMES if any(x == a or _below(a, x) for x in areas)}


def _below(area_id: str, root: str) -> bool:
    node = PARENT.get(area_id)
    while node is not None:
        if node == root:
            return True
        node = PARENT.get(node)
    return False


def audit_actions(store: sa.Engine, **filters) -> pd.DataFrame:
    return audit.audit_rows(store, context=UserContext("admin", username="test"), limit=None,
                            **filters)


# Sign-in ----------------------------------------------------------------------------------------

def test_outside_demo_mode_only_the_sign_in_form_is_shown(store: sa.Engine):
    at = AppTest.from_file(APP, default_timeout=90).run()
    assert_clean(at)
    assert at.title[0].value == "Sign in to Socle"
    assert not at.metric and not at.dataframe
    assert not at.sidebar.selectbox  # no level, no area: nothing of the registry
    text = rendered(at)
    assert not leaks(text, out_of_scope_patterns(set()))
    for name in ("Registered households", "Coverage of the poor"):
        assert name not in text


def test_signing_in_through_the_form_opens_the_users_view(store: sa.Engine):
    at = AppTest.from_file(APP, default_timeout=90).run()
    at.text_input(key="sign_in_username").input("omar")
    at.text_input(key="sign_in_password").input(PASSWORD)
    at.button[0].click().run()
    assert_clean(at)
    assert at.sidebar.selectbox(key="area").options == ["Nowshera"]
    assert "Signed in as **omar** (officer)" in [m.value for m in at.sidebar.markdown]
    assert at.metric
    signed = audit_actions(store, action="sign_in")
    assert signed.iloc[0]["username"] == "omar" and signed.iloc[0]["filters"]["via"] == "form"

    # Sign out: back to the form, audited.
    at.button(key="socle_sign_out").click().run()
    assert_clean(at)
    assert at.title[0].value == "Sign in to Socle" and not at.metric
    assert "You are signed out." in [w.value for w in at.warning]
    assert audit_actions(store, action="sign_out").iloc[0]["username"] == "omar"


def test_a_wrong_password_is_refused_then_the_account_locks(store: sa.Engine, monkeypatch):
    monkeypatch.setenv("SOCLE_AUTH_MAX_FAILURES", "2")
    at = AppTest.from_file(APP, default_timeout=90).run()
    for _ in range(2):
        at.text_input(key="sign_in_username").input("omar")
        at.text_input(key="sign_in_password").input("not the password")
        at.button[0].click().run()
    assert not at.exception
    assert "Wrong username or password." in at.error[0].value
    assert "locked until" in at.error[0].value
    # Locked: even the right password is refused, without a word on whether it was right.
    at.text_input(key="sign_in_username").input("omar")
    at.text_input(key="sign_in_password").input(PASSWORD)
    at.button[0].click().run()
    assert "Too many failed sign-ins" in at.error[0].value
    assert not at.metric and at.title[0].value == "Sign in to Socle"
    failed = audit_actions(store, action="sign_in_failed")
    assert list(failed["filters"].map(lambda f: f["reason"])) == [
        "locked", "wrong_password", "wrong_password"]


def test_an_expired_session_goes_back_to_the_form(store: sa.Engine):
    at = signed_in(store, "officer")
    assert_clean(at)
    assert at.metric
    with store.begin() as conn:
        conn.execute(users.sessions.update().values(
            expires_at=dt.datetime(2000, 1, 1)))
    at.run()
    assert not at.exception
    assert at.title[0].value == "Sign in to Socle" and not at.metric
    assert any("Your session has expired" in w.value for w in at.warning)


def test_a_disabled_account_is_signed_out_at_once(store: sa.Engine):
    at = signed_in(store, "officer")
    users.set_disabled(store, "omar", True, actor=context_of("admin"))
    at.run()
    assert at.title[0].value == "Sign in to Socle" and not at.metric
    assert any("disabled" in w.value for w in at.warning)


def test_demo_mode_opens_as_the_default_user_and_offers_sign_in(store: sa.Engine, monkeypatch):
    monkeypatch.setenv("SOCLE_APP_DEMO_MODE", "true")
    at = AppTest.from_file(APP, default_timeout=90)
    at.query_params["as_of"] = AS_OF.isoformat()
    at.run()
    assert_clean(at)
    assert at.metric  # the demo opens on the figures
    assert "Demo mode: you are the default user (admin)." in [
        m.value for m in at.sidebar.markdown]
    at.text_input(key="sign_in_username").input("omar")
    at.text_input(key="sign_in_password").input(PASSWORD)
    at.button[0].click().run()
    assert_clean(at)
    assert at.sidebar.selectbox(key="area").options == ["Nowshera"]


def test_identity_provider_users_are_matched_to_local_accounts(store: sa.Engine, monkeypatch):
    monkeypatch.setenv("SOCLE_AUTH_OIDC", "true")
    users.create_user(store, "omar@kp.gov.pk", "officer", ["NSH"], password=None,
                      actor=context_of("admin"))
    at = AppTest.from_file(APP, default_timeout=90)
    at.user = {"is_logged_in": True, "email": "Omar@kp.gov.pk", "name": "Omar"}
    at.query_params["as_of"] = AS_OF.isoformat()
    at.run()
    assert_clean(at)
    assert at.sidebar.selectbox(key="area").options == ["Nowshera"]
    row = audit_actions(store, action="sign_in").iloc[0]
    assert row["username"] == "omar@kp.gov.pk" and row["filters"]["via"] == "oidc"

    stranger = AppTest.from_file(APP, default_timeout=90)
    stranger.user = {"is_logged_in": True, "email": "someone@else.org"}
    stranger.run()
    assert not stranger.exception and not stranger.metric
    assert any("no enabled account of that name" in w.value for w in stranger.warning)
    stranger.run()  # refused once: not audited again on every rerun
    assert len(audit_actions(store, action="sign_in_failed", username="someone@else.org")) == 1


# Pages by role; nothing out of scope anywhere ------------------------------------------------

EXPECTED_PAGES = {
    "admin": ["Overview", "Coverage map", "Referrals", "Duplicates", "Data quality",
              "Committee meeting", "Donor progress", "Excel export", "Users", "Audit log"],
    "chair": ["Overview", "Coverage map", "Referrals", "Duplicates", "Data quality",
              "Committee meeting", "Donor progress", "Excel export"],
    "officer": ["Overview", "Coverage map", "Referrals", "Duplicates", "Data quality",
                "Committee meeting", "Donor progress", "Excel export"],
    "donor": ["Overview", "Coverage map", "Donor progress", "Excel export"],
    "scoped_donor": ["Overview", "Coverage map", "Donor progress", "Excel export"],
}


@pytest.mark.parametrize("key", list(ACCOUNTS))
def test_each_role_gets_its_pages(key: str):
    role = ACCOUNTS[key][1]
    assert [p.title for p in widgets.pages_for(role)] == EXPECTED_PAGES[key]


def visit_every_page(at: AppTest, role: str, *, level: int | None = None) -> str:
    """Every page of the role (each with lists drilled and the map drawn); all rendered."""
    texts = []
    for spec in widgets.pages_for(role):
        at.switch_page(spec.path).run()
        assert_clean(at)
        texts.append(rendered(at))
        if spec.file_name == "export.py":
            at.button(key="export_build").click().run()
            assert_clean(at)
            texts.append(rendered(at))
    return "\n".join(texts)


@pytest.mark.parametrize("key", ["chair", "officer", "scoped_donor", "donor", "admin"])
def test_every_page_shows_nothing_outside_the_scope(store: sa.Engine, key: str):
    role = ACCOUNTS[key][1]
    at = signed_in(store, key)
    assert_clean(at)
    text = visit_every_page(at, role)
    # The same pages at the lowest level (union councils: the map, tables and lists there).
    at.sidebar.selectbox(key="level").select(4).run()
    assert_clean(at)
    text += visit_every_page(at, role)
    visible = visible_of(key)
    assert not leaks(text, out_of_scope_patterns(visible))
    if role == "donor":
        assert not leaks(text, PERSONAL_PATTERNS)
        for column in ("person_name", "national_id", "head_name", "household_id",
                       "person_id", "birth_date"):
            assert column not in {c for d in at.dataframe for c in d.value.columns}
    if key == "officer":
        assert "Bibi" in text  # the officer does see their own people (not a vacuous test)
    if key == "admin":
        assert "Zarghuna" in text and "Bibi" in text and "Khyber Pakhtunkhwa" in text


def test_a_page_run_for_another_role_refuses(store: sa.Engine, monkeypatch):
    """A page file run without app.py (a server's first request deep-linking to it) checks
    the role itself."""
    monkeypatch.undo()
    monkeypatch.setattr(users, "HASHER", PasswordHasher.from_parameters(profiles.CHEAPEST))
    for name, value in (("SOCLE_DATABASE_URL", str(store.url).replace("store/app.db",
                                                                      "registry.db")),
                        ("SOCLE_APP_STORE_URL", str(store.url)),
                        ("SOCLE_GEOGRAPHY_BOUNDARY_FILE", ""),
                        ("SOCLE_APP_DEMO_MODE", "false")):
        monkeypatch.setenv(name, value)
    session = users.authenticate(store, "dora", PASSWORD)
    at = AppTest.from_file(str(ROOT / "pages" / "referrals.py"), default_timeout=90)
    at.session_state["socle_session_token"] = session.token
    at.run()
    assert not at.exception
    assert "This page is not available to the donor role." in [w.value for w in at.warning]
    assert not at.metric and not at.dataframe


# Below the UI: data_access filters by the context ---------------------------------------------

def settings_for(url: str):
    return load_settings(env={"SOCLE_DATABASE_URL": url, "SOCLE_GEOGRAPHY_BOUNDARY_FILE": ""},
                         check_files=False)


def test_data_access_refuses_donors_lists_and_raw_counts(store: sa.Engine, registry_url: str):
    settings = settings_for(registry_url)
    donor = context_of("donor")
    period = default_period_start(AS_OF, 3)
    with pytest.raises(ListPermissionError):
        list_queries.referral_counts(donor, settings, as_of=AS_OF, period_start=period, area_id=None)
    with pytest.raises(ListPermissionError):
        list_queries.list_scan(donor, settings, "overdue_referrals", area_id=None, as_of=AS_OF,
                           period_start=period)
    engine = open_registry(registry_url)
    try:
        with pytest.raises(ListPermissionError):
            next(lists.list_rows(engine, "shared_national_ids", context=donor))
        # An officer asking for the other district's list is refused too.
        with pytest.raises(ListPermissionError):
            next(lists.list_rows(engine, "overdue_referrals", context=context_of("officer"),
                                 area_id="PSH"))
    finally:
        engine.dispose()


def test_app_store_rows_are_scoped(store: sa.Engine, registry_url: str):
    from data_access import meetings
    from data_access.targets import store_targets, targets

    engine = open_registry(registry_url)
    areas = read_areas(engine)
    engine.dispose()
    chair = scope_of(context_of("chair"), areas)
    officer = scope_of(context_of("officer"), areas)
    admin_scope = scope_of(context_of("admin"), areas)
    meetings.add_action_point(store, scope=chair, area_id="PSH", text="Visit", owner="Chad",
                              due_on=AS_OF, created_by="chad")
    with pytest.raises(ScopeError):
        meetings.action_points(store, "PSH", scope=officer)
    with pytest.raises(ScopeError):
        meetings.add_action_point(store, scope=officer, area_id="PSH", text="x", owner="y",
                                  due_on=AS_OF, created_by="omar")
    assert meetings.action_points(store, "NSH", scope=officer,
                                  include_descendants=["PSH", "NSH-U1"]) == []
    rows = pd.DataFrame([{"indicator_id": "cov.population", "area_id": a, "programme_id": None,
                          "baseline_on": None, "baseline_value": None,
                          "target_on": dt.date(2026, 1, 1), "target_value": 0.5}
                         for a in (None, "PSH", "NSH")])
    with pytest.raises(ScopeError):
        store_targets(store, rows, scope=officer)  # admins set targets
    assert store_targets(store, rows, scope=admin_scope) == 3
    assert list(targets(store, scope=officer)["area_id"]) == ["NSH"]
    assert list(targets(store, scope=chair, area_ids=[None, "PSH", "NSH"])["area_id"]) == ["PSH"]


def test_admin_functions_refuse_other_roles(store: sa.Engine):
    for key in ("chair", "officer", "donor"):
        with pytest.raises(admin.AdminOnlyError):
            admin.users_table(store, context_of(key))
        with pytest.raises(admin.AdminOnlyError):
            admin.audit_log(store, context_of(key))
        with pytest.raises(admin.AdminOnlyError):
            admin.create_user(store, context_of(key), "eve", "admin", [], password=None,
                              known_areas=set(NAMES))
    with pytest.raises(users.UserError, match="your own account"):
        admin.set_disabled(store, context_of("admin"), "ada", True)


# The exports: page builder and CLI -----------------------------------------------------------

@pytest.mark.parametrize("key", ["officer", "chair", "scoped_donor", "donor"])
def test_the_export_page_workbook_holds_nothing_outside_the_scope(store: sa.Engine,
                                                                  registry_url: str, key: str):
    context = context_of(key)
    settings = settings_for(registry_url)
    engine = open_registry(registry_url)
    try:
        for level in (1, 2, 4):
            choices = ExportChoices(
                level=level, as_of=AS_OF, period_start=default_period_start(AS_OF, 3),
                lists=tuple(lists.LIST_IDS) if context.sees_lists else ())
            built = build_export(engine, settings, choices, context=context, audit_store=store)
            text = workbook_text(built.data)
            assert not leaks(text, out_of_scope_patterns(visible_of(key))), level
            if context.role == "donor":
                assert not leaks(text, PERSONAL_PATTERNS)
            if context.role == "chair":  # lists, but no personal column leaves the app
                assert built.lists and not re.search(r"\bZarghuna\b|1730\d{9}", text)
    finally:
        engine.dispose()
    exports = audit_actions(store, action="export")
    assert len(exports) == 3 and set(exports["username"]) == {ACCOUNTS[key][0]}
    assert exports.iloc[0]["filters"]["via"] == "page"


def run_cli(tmp_path: Path, registry_url: str, role: str, areas: str, *args: str
            ) -> subprocess.CompletedProcess:
    config = tmp_path / "cli.toml"
    config.write_text(
        '[geography]\nboundary_file = ""\n'
        f'[database]\nurl = "{registry_url}"\n'
        f'[app_store]\nurl = "sqlite:///{tmp_path / "store" / "app.db"}"\n'
        f'[app]\ndefault_role = "{role}"\ndefault_areas = [{areas}]\n', encoding="utf-8")
    python = str(VENV_PYTHON) if VENV_PYTHON.exists() else sys.executable
    env = {k: v for k, v in os.environ.items() if not k.startswith("SOCLE_")}
    return subprocess.run([python, "-m", "exports", "--config", str(config), *args],
                          capture_output=True, text=True, timeout=300, cwd=ROOT, env=env)


def test_the_cli_exports_as_the_default_user_within_its_scope(store: sa.Engine,
                                                              registry_url: str,
                                                              tmp_path: Path):
    out = tmp_path / "nowshera.xlsx"
    result = run_cli(tmp_path, registry_url, "officer", '"NSH"', "--level", "4", "--as-of",
                     AS_OF.isoformat(), "--lists", "all", "--out", str(out))
    assert result.returncode == 0, result.stderr
    text = workbook_text(out.read_bytes())
    assert not leaks(text, out_of_scope_patterns(visible_of("officer")))
    assert "Bibi" in text and "Kheshgi" in text  # its own rows are there
    row = audit_actions(store, action="export").iloc[0]
    assert row["username"].startswith("cli:") and row["role"] == "officer"
    assert row["filters"]["via"] == "cli" and row["filters"]["personal_data"] is True

    donor_out = tmp_path / "donor.xlsx"
    result = run_cli(tmp_path, registry_url, "donor", "", "--level", "2", "--as-of",
                     AS_OF.isoformat(), "--out", str(donor_out))
    assert result.returncode == 0, result.stderr
    text = workbook_text(donor_out.read_bytes())
    assert not leaks(text, PERSONAL_PATTERNS)
    assert "Suppressed" in text


def test_the_cli_output_is_unchanged_for_the_default_admin(store: sa.Engine, registry_url: str,
                                                           tmp_path: Path):
    """The default unscoped admin gets indicators.compute's long form, as before."""
    out = tmp_path / "all.xlsx"
    result = run_cli(tmp_path, registry_url, "admin", "", "--level", "2", "--as-of",
                     AS_OF.isoformat(), "--out", str(out))
    assert result.returncode == 0, result.stderr
    book = openpyxl.load_workbook(out, read_only=True)
    rows = list(book["Indicators"].iter_rows(values_only=True))
    book.close()
    engine = open_registry(registry_url)
    try:
        figures = compute(engine, as_of=AS_OF, level=2,
                          period_start=default_period_start(AS_OF, 3))
    finally:
        engine.dispose()
    assert len(rows) - 1 == len(figures)
    assert {r[1] for r in rows[1:]} == {None, "PSH", "NSH"}


# Donor suppression ----------------------------------------------------------------------------

def test_what_a_donor_sees_cannot_be_rebuilt(store: sa.Engine, registry_url: str):
    """The solver: unknowns are the cells hidden from the donor, equations every sum of the
    area tree (from AREAS, not from the suppression module), of breakdowns and of
    programmes, with everything the donor sees on the right-hand side: nothing is fixed."""
    engine = open_registry(registry_url)
    try:
        areas = read_areas(engine)
        period = default_period_start(AS_OF, 3)
        shown = donor_long_form(engine, areas, as_of=AS_OF, period_start=period,
                                parameters=Parameters())
        truth = pd.concat([compute(engine, as_of=AS_OF, level=level, period_start=period)
                           .assign(**{COMPUTED_LEVEL: level}) for level in range(1, 5)],
                          ignore_index=True)
    finally:
        engine.dispose()
    values, row_keys = figure_cells(truth)
    hidden = set()
    for keys, (numerator, denominator) in zip(row_keys, shown[["numerator", "denominator"]]
                                              .itertuples(index=False), strict=True):
        for key, shown_count in zip(keys, (numerator, denominator), strict=True):
            if key is not None and pd.isna(shown_count):
                hidden.add(key)
    small = {k for k, v in values.items() if 1 <= v < 5}
    assert small and small <= hidden  # every small count is hidden
    assert len(hidden) < len(values)  # and not everything
    # Equations, from the tree: parent = sum of its children; the registry = the province.
    children: dict = {}
    for area_id, *_rest in AREAS:
        children.setdefault(PARENT[area_id], []).append(area_id)
    equations = []
    slices = {(q, p, b) for q, _, p, b in values}
    for q, programme, breakdown in slices:
        for parent, kids in children.items():
            total = (q, parent, programme, breakdown)
            parts = [(q, k, programme, breakdown) for k in kids]
            if total in values and all(p in values for p in parts):
                equations.append({total: 1, **{p: -1 for p in parts}})
    by_dimension: dict = {}
    for q, area_id, programme, breakdown in values:
        if breakdown is not None:
            by_dimension.setdefault((q, area_id, programme, breakdown.split("=")[0]), []).append(
                (q, area_id, programme, breakdown))
    for (q, area_id, programme, _), parts in by_dimension.items():
        total = (q, area_id, programme, None)
        if total in values:
            equations.append({total: 1, **{p: -1 for p in parts}})
    by_programme: dict = {}
    for q, area_id, programme, breakdown in values:
        if programme is not None:
            by_programme.setdefault((q, area_id, breakdown), []).append(
                (q, area_id, programme, breakdown))
    for (q, area_id, breakdown), parts in by_programme.items():
        total = (q, area_id, None, breakdown)
        if total in values:
            equations.append({total: 1, **{p: -1 for p in parts}})
    assert equations
    assert determined(equations, hidden) == set()


def test_the_donor_pages_show_the_suppressed_figures(store: sa.Engine, registry_url: str):
    at = signed_in(store, "donor", {"level": "4", "area": "NSH-U2"})
    assert_clean(at)
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Registered households"] == "hidden"  # Kheshgi: 4 households
    assert any("Hidden: a small count" in c.value for c in at.caption)


def test_the_donor_progress_page_is_suppressed_date_by_date(store: sa.Engine,
                                                            registry_url: str, monkeypatch):
    from indicators.snapshot import main as snapshot_main

    monkeypatch.setenv("SOCLE_DATABASE_URL", registry_url)
    for day in ("2024-11-30", "2024-12-31"):
        assert snapshot_main(["--as-of", day, "--levels", "1,2,3,4", "--quiet"]) == 0
    engine = open_registry(registry_url)
    areas = read_areas(engine)
    engine.dispose()
    donor = scope_of(context_of("donor"), areas)
    got = series(store, scope=donor, indicator_ids=["ref.made"],
                 area_ids=["NSH-U1", "NSH-U2"], level=4)
    # The quarter end only (the donors' calendar, issue 17: 30 November is no period end).
    assert len(got) == 2 and got["suppressed"].any()  # Kheshgi: 4 referrals
    assert all(pd.isna(v) for v in got.loc[got["suppressed"], "value"])
    assert not any(1 <= n < 5 for n in got["numerator"].dropna())
    plain = series(store, scope=scope_of(context_of("admin"), areas),
                   indicator_ids=["ref.made"], area_ids=["NSH-U1", "NSH-U2"], level=4)
    assert plain["value"].notna().all()
    # What the page draws for the donor: no small count anywhere.
    at = signed_in(store, "donor", {"level": "4", "area": "NSH-U2"})
    at.switch_page("pages/progress.py").run()
    assert_clean(at)
    text = rendered(at)
    assert not leaks(text, PERSONAL_PATTERNS)
    assert any("no hidden figure can be worked out" in c.value for c in at.caption)


# The audit log --------------------------------------------------------------------------------

def test_a_list_with_personal_data_is_audited_once_per_view(store: sa.Engine):
    at = signed_in(store, "officer")
    at.switch_page("pages/referrals.py").run()
    assert_clean(at)
    at.run()
    at.run()
    viewed = audit_actions(store, action="list_view")
    assert len(viewed) == 1
    row = viewed.iloc[0]
    assert row["username"] == "omar" and row["filters"]["list"] == "overdue_referrals"
    assert row["filters"]["as_of"] == AS_OF.isoformat()
    # Each other view, one more row: the tehsil level opens on its first tehsil (Jehangira),
    # then Pabbi is chosen.
    at.sidebar.selectbox(key="level").select(3).run()
    at.sidebar.selectbox(key="area").select("NSH-T1").run()
    viewed = audit_actions(store, action="list_view")
    assert [f["area_id"] for f in viewed["filters"]] == ["NSH-T1", "NSH-T2", "NSH"]


def test_a_csv_download_is_audited_and_a_chairs_has_no_personal_column(store: sa.Engine,
                                                                       registry_url: str):
    settings = load_settings(env={"SOCLE_DATABASE_URL": registry_url,
                                  "SOCLE_APP_STORE_URL": str(store.url),
                                  "SOCLE_GEOGRAPHY_BOUNDARY_FILE": ""}, check_files=False)
    period = default_period_start(AS_OF, 3)
    for key in ("chair", "officer"):
        build = list_queries.csv_download(context_of(key), settings, "double_dipping",
                                      area_id=None, as_of=AS_OF, period_start=period)
        text = build().decode("utf-8")
        if key == "chair":  # the households, not their heads' names
            assert "Zarghuna" not in text and "Head of household" not in text and "HP" in text
        else:
            assert "Bibi" in text and "Zarghuna" not in text
    rows = audit_actions(store, action="export")
    assert list(rows["username"]) == ["omar", "chad"]
    assert [f["personal_data"] for f in rows["filters"]] == [True, False]


def test_the_admin_manages_users_and_sees_who_exported_what(store: sa.Engine,
                                                            registry_url: str):
    at = signed_in(store, "admin")
    at.switch_page("pages/users.py").run()
    assert_clean(at)
    assert set(at.dataframe[0].value["username"]) >= {"ada", "omar", "dora"}
    at.text_input(key="user_new_name").input("nadia")
    at.selectbox(key="user_new_role").select("officer")
    at.multiselect(key="user_new_areas").select("NSH-T1")
    at.button[0].click().run()  # the form's submit button
    assert_clean(at)
    assert any("User nadia created" in s.value for s in at.success)
    created = users.get_user(store, "nadia")
    assert created.role == "officer" and created.areas == ("NSH-T1",)
    change = audit_actions(store, action="user_change").iloc[0]
    assert change["username"] == "ada" and change["filters"]["username"] == "nadia"

    # An officer exports; the admin's audit log shows it.
    officer = context_of("officer")
    engine = open_registry(registry_url)
    try:
        build_export(engine, settings_for(registry_url),
                     ExportChoices(level=2, as_of=AS_OF, period_start=AS_OF,
                                   lists=("overdue_referrals",)),
                     context=officer, audit_store=store)
    finally:
        engine.dispose()
    at.switch_page("pages/audit_log.py").run()
    assert_clean(at)
    log = at.dataframe[0].value
    assert {"Export", "Sign-in", "Change of a user"} <= set(log["action"])
    exported = log[log["action"] == "Export"].iloc[0]
    assert exported["username"] == "omar" and "overdue_referrals" in exported["filters"]
