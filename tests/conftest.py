"""Shared test fixtures: registries written to a real SQLite file and a real PostgreSQL server.

PostgreSQL comes from TEST_POSTGRES_URL (an admin URL, e.g.
postgresql+psycopg://socle@127.0.0.1:5432/postgres); scripts/test.sh starts a local server
and sets it. Without it, the PostgreSQL half of every backend test fails with that advice.
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa
import streamlit as st
from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import app_under_test  # noqa: E402  (tests/ is on sys.path: pytest's rootdir conftest)
import browser_support  # noqa: E402
import demo_setup  # noqa: E402
from app_server import serving  # noqa: E402

from data_access.loader import write_duckdb_registry, write_registry  # noqa: E402
from data_access.registry import open_registry  # noqa: E402

SHARED = ROOT.parent / "shared"
# The registry backends every indicator, list and read-only test runs on. DuckDB registries
# hold dates as dates; tests/test_dates.py covers DuckDB and SQLite registries holding text.
BACKENDS = ("sqlite", "postgresql", "duckdb")

RegistryFactory = Callable[[Mapping[str, pd.DataFrame]], sa.Engine]


def postgres_admin_url() -> str:
    url = os.environ.get("TEST_POSTGRES_URL")
    if not url:
        pytest.fail("TEST_POSTGRES_URL is not set: run the tests with scripts/test.sh, which "
                    "starts a local PostgreSQL server, or point it at one.")
    return url


@pytest.fixture(scope="session")
def postgres_database() -> Iterator[str]:
    """A fresh database on the test server for this session; its URL."""
    admin_url = postgres_admin_url()
    name = f"socle_test_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    url = make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    yield url
    with admin.connect() as conn:
        conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    admin.dispose()


@pytest.fixture(params=BACKENDS)
def backend(request) -> str:
    return request.param


@pytest.fixture
def make_registry(backend: str, tmp_path: Path, request) -> Iterator[RegistryFactory]:
    """Write the given tables as a registry on the backend; return Socle's read-only engine on it."""
    engines: list[sa.Engine] = []

    def factory(tables: Mapping[str, pd.DataFrame]) -> sa.Engine:
        for old in engines:
            old.dispose()
        if backend == "duckdb":
            path = tmp_path / f"registry_{len(engines)}.duckdb"
            write_duckdb_registry(path, tables)
            url = f"duckdb:///{path}"
        else:
            if backend == "sqlite":
                url = f"sqlite:///{tmp_path / f'registry_{len(engines)}.db'}"
            else:
                url = request.getfixturevalue("postgres_database")
            writer = sa.create_engine(url)
            write_registry(writer, tables)
            writer.dispose()
        engine = open_registry(url)
        engines.append(engine)
        return engine

    yield factory
    for engine in engines:
        engine.dispose()


# The app store (Socle's own database) on both backends -----------------------------------

@pytest.fixture
def postgres_store_url() -> Iterator[str]:
    """A throwaway empty database on the test server for an app store, dropped afterwards."""
    admin_url = postgres_admin_url()  # fails with advice when TEST_POSTGRES_URL is unset
    name = f"socle_store_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    try:
        yield make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


# The app store's backends (Socle's own database: SQLite or PostgreSQL).
STORE_BACKENDS = ("sqlite", "postgresql")


@pytest.fixture(params=STORE_BACKENDS)
def store_url(request, tmp_path: Path) -> str:
    """URL of a new, empty app store: a SQLite file in a folder still to be made, or a new
    PostgreSQL database."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'new' / 'folder' / 'app_store.db'}"
    return request.getfixturevalue("postgres_store_url")


@pytest.fixture
def store(store_url: str) -> Iterator[sa.Engine]:
    """An app store upgraded to the newest revision, on each backend."""
    from data_access.app_store import open_app_store

    engine = open_app_store(store_url)
    yield engine
    engine.dispose()


# The app under test (AppTest): page tests use these with
#   pytestmark = pytest.mark.usefixtures("clean_environment", "navigation_as_in_a_running_server")

@pytest.fixture
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path_factory):
    """No SOCLE_* setting from the shell, no boundary file, and empty Streamlit caches."""
    for name in list(os.environ):
        if name.startswith("SOCLE_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("SOCLE_GEOGRAPHY_BOUNDARY_FILE", "")
    # The analytical copy of this test's registry, in a folder of its own.
    monkeypatch.setenv("SOCLE_ANALYTICS_COPY_FOLDER", str(tmp_path_factory.mktemp("copy")))
    st.cache_data.clear()
    st.cache_resource.clear()
    yield
    st.cache_data.clear()
    st.cache_resource.clear()


@pytest.fixture
def navigation_as_in_a_running_server(monkeypatch: pytest.MonkeyPatch):
    """Run every AppTest run the way a running server runs every run after its first.

    Streamlit treats a ``pages/`` folder the old way until some script of the process calls
    ``st.navigation``; AppTest forgets that call before each run, so without this every
    rerun would run the page file alone, without app.py (see ui.widgets' notes).
    """
    from streamlit.runtime.pages_manager import PagesManager

    original = PagesManager.__init__

    def init(self, *args, **kwargs):
        original(self, *args, **kwargs)
        PagesManager.uses_pages_directory = False

    monkeypatch.setattr(PagesManager, "__init__", init)


@pytest.fixture
def registry_url(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    return app_under_test.app_registry(tmp_path, monkeypatch, app_under_test.registry_tables())


@pytest.fixture
def meeting_registry_url(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """The app's registry with referrals at access points (app_under_test)."""
    return app_under_test.app_registry(tmp_path, monkeypatch, app_under_test.meeting_registry_tables())


# The browser tests (tests/browser_support.py) ---------------------------------------------

@pytest.fixture(scope="module")
def browser_demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small demo registry (five synthetic districts) for the browser tests."""
    folder = tmp_path_factory.mktemp("browser")
    subprocess.run(
        [sys.executable, "-m", "demo", "--out", str(folder / "registry.db"),
         "--households", "1500", "--seed", "5", "--union-councils", "40",
         # Five light districts: under SwiftShader a click on KP's 35 detailed ones can miss
         # deck.gl's tap window (docs: stack notes); test_browser_demo draws the KP map.
         "--geography", "synthetic"],
        cwd=browser_support.ROOT, check=True, capture_output=True,
    )
    return folder


@pytest.fixture(scope="module")
def app_url(browser_demo: Path) -> Iterator[str]:
    """The app served on the browser tests' demo registry."""
    with serving({
        "SOCLE_DATABASE_URL": f"sqlite:///{browser_demo / 'registry.db'}",
        "SOCLE_ANALYTICS_COPY_FOLDER": str(browser_demo / "copy"),
        "SOCLE_APP_STORE_URL": f"sqlite:///{browser_demo / 'app_store.db'}",
        "SOCLE_GEOGRAPHY_BOUNDARY_FILE": str(browser_demo / "registry.geojson"),
    }, browser_demo / "server.log") as url:
        yield url


@pytest.fixture(scope="module")
def browser():
    if not browser_support.CHROMIUM.exists():
        pytest.fail("Debian's chromium is not installed at /usr/bin/chromium: .ci/run installs "
                    "it (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    # Playwright starts Chromium with a fresh temporary profile of its own.
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(browser_support.CHROMIUM), headless=True,
                                             args=browser_support.CHROMIUM_ARGS)
        yield browser
        browser.close()


# The demo as scripts/run_demo.sh sets it up (tests/demo_setup.py) ---------------------------

@pytest.fixture(scope="session")
def set_up_demo(tmp_path_factory: pytest.TempPathFactory) -> demo_setup.SetUpDemo:
    from core.settings import load_settings
    from demo.history import build
    from linkage.model import ModelOptions

    folder = tmp_path_factory.mktemp("set-up-demo")
    env = {
        "SOCLE_DATABASE_URL": f"sqlite:///{folder / 'registry.db'}",
        "SOCLE_ANALYTICS_COPY_FOLDER": str(folder / "copy"),
        "SOCLE_APP_STORE_URL": f"sqlite:///{folder / 'app_store.db'}",
        "SOCLE_GEOGRAPHY_BOUNDARY_FILE": str(folder / "registry.geojson"),
    }
    demo = demo_setup.SetUpDemo(folder, env, "")
    # The commands of scripts/run_demo.sh (the demo's default geography: KP's districts).
    subprocess.run([sys.executable, "-m", "demo", "--out", str(folder / "registry.db"),
                    "--households", str(demo_setup.HOUSEHOLDS), "--seed", "1",
                    "--union-councils", str(demo_setup.UNION_COUNCILS)],
                   cwd=demo_setup.ROOT, env=demo.process_env(), check=True, capture_output=True)
    subprocess.run([sys.executable, "-m", "data_access.users", "demo"], cwd=demo_setup.ROOT,
                   env=demo.process_env(), check=True, capture_output=True)
    # The history as run_demo.sh builds it (here in the foreground, and with the linkage
    # tests' smaller sample of random pairs: a registry this small needs no more).
    lines: list[str] = []
    with pytest.MonkeyPatch.context() as patch:
        for name in [n for n in os.environ if n.startswith("SOCLE_")]:
            patch.delenv(name)
        for name, value in env.items():
            patch.setenv(name, value)
        build(load_settings(check_files=False), say=lines.append,
              linkage_options=ModelOptions(u_max_pairs=2e5))
    return demo_setup.SetUpDemo(folder, env, "\n".join(lines))
