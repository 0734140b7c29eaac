"""Shared test fixtures: registries written to a real SQLite file and a real PostgreSQL server.

PostgreSQL comes from TEST_POSTGRES_URL (an admin URL, e.g.
postgresql+psycopg://socle@127.0.0.1:5432/postgres); scripts/test.sh starts a local server
and sets it. Without it, the PostgreSQL half of every backend test fails with that advice.
"""

from __future__ import annotations

import os
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
    url = f"sqlite:///{tmp_path / 'registry.db'}"
    writer = sa.create_engine(url)
    write_registry(writer, app_under_test.registry_tables())
    writer.dispose()
    monkeypatch.setenv("SOCLE_DATABASE_URL", url)
    monkeypatch.setenv("SOCLE_APP_STORE_URL", f"sqlite:///{tmp_path / 'store' / 'app.db'}")
    return url
