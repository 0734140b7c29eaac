"""A shared server survives its users (issue 18): fast clicking, interrupted computations,
identical requests at once.

The crash these tests reproduce: the registry was opened with a ``creator`` and no file in
its URL, so SQLAlchemy used SingletonThreadPool (one connection per thread, at most five);
Streamlit runs each script run on a new thread and an abandoned run keeps querying, so
from the sixth thread on a checkout closed a connection another thread was still reading:
"Cannot operate on a closed database", then segmentation faults that took the whole
server down. Both tests below failed on that code (the threaded one with the helper
process dying of SIGSEGV, the browser one with the server dead within seconds).
"""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa
from app_server import AppServer, demo_settings, health, launch_chromium, make_demo, wait_drawn
from conftest import postgres_admin_url
from sqlalchemy.engine import make_url

from data_access.areas import read_areas
from data_access.loader import copy_sqlite_to_postgres
from data_access.registry import open_registry
from indicators import default_as_of

ROOT = Path(__file__).resolve().parents[1]
STRESS = ROOT / "tests" / "registry_stress.py"
CLICKING_SECONDS = 25  # the sessions navigate this long, and for at least MIN_LOADS loads
MIN_LOADS = 40
MAX_SECONDS = 120  # however slow a busy machine makes each navigation
SESSIONS = 4
CRASH_SIGNS = ("Cannot operate on a closed database", "Segmentation fault",
               "Fatal Python error")


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("survive")
    make_demo(folder, households=3000, seed=3, union_councils=40)
    return folder


@pytest.fixture(scope="module")
def demo_on_postgres(demo: Path) -> Iterator[str]:
    """The same demo registry copied into a database of its own on the test server."""
    admin_url = postgres_admin_url()
    name = f"socle_survive_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    url = make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    try:
        copy_sqlite_to_postgres(str(demo / "registry.db"), url)
        yield url
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


def registry_url(backend: str, demo: Path, request) -> str:
    if backend == "sqlite":
        return f"sqlite:///{demo / 'registry.db'}"
    return request.getfixturevalue("demo_on_postgres")


# Threads interrupted mid-computation -------------------------------------------------------

def test_interrupted_computations_leave_the_engine_sound(backend: str, demo: Path, request):
    """12 threads (more than the old pool's 5) compute on one engine; their runs are stopped
    between queries (Streamlit's StopException) and cancelled mid-statement. Afterwards no
    connection is left checked out or inside a transaction, every stopped run's connection
    was discarded, and the engine gives the same figures as before."""
    url = registry_url(backend, demo, request)
    done = subprocess.run([sys.executable, str(STRESS), url, "--threads", "12",
                           "--seconds", "12"],
                          cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, (
        f"the computing process died (code {done.returncode}):\n{done.stderr[-3000:]}")
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["errors"] == []
    assert report["computed"] > 0 and report["stopped"] > 0 and report["cancel_calls"] > 0
    assert report["leaked"] == 0
    assert report["pooled_idle"] and all(report["pooled_idle"])
    # A run stopped mid-computation hands back a connection that is closed, not reused.
    assert report["invalidated"] >= report["stopped"]
    assert report["same_figures"]


# Fast-clicking users in real browsers --------------------------------------------------------

def _district(url: str) -> str:
    engine = open_registry(url)
    try:
        areas = read_areas(engine)
    finally:
        engine.dispose()
    return str(areas.loc[areas["level"] == 2, "area_id"].iloc[0])


def _click_fast(server: AppServer, district: str, latest: dt.date, seconds: float) -> int:
    """SESSIONS browser sessions moving between pages every ~0.3 s, each load with a new
    as-of date (so caches miss), for ``seconds`` and MIN_LOADS loads (at most MAX_SECONDS).
    The number of page loads started."""
    from playwright.sync_api import Error as PlaywrightError
    from playwright.sync_api import sync_playwright

    paths = ["/", "/meeting?area={district}", "/data-quality", "/referrals", "/coverage",
             "/duplicates", "/progress"]
    loads = 0
    with sync_playwright() as playwright:
        browser = launch_chromium(playwright)
        try:
            first = browser.new_page()
            # A first session that deep-links to a page gets "Page not found": open / first.
            first.goto(server.url + "/", wait_until="domcontentloaded")
            wait_drawn(first, '[data-testid="stMetric"]')
            pages = [first] + [browser.new_context().new_page() for _ in range(SESSIONS - 1)]
            started = time.monotonic()
            step = 0
            while server.alive():
                elapsed = time.monotonic() - started
                if (elapsed >= seconds and loads >= MIN_LOADS) or elapsed >= MAX_SECONDS:
                    break
                for index, page in enumerate(pages):
                    step += 1
                    path = paths[(step + index) % len(paths)].format(district=district)
                    day = latest - dt.timedelta(days=step)
                    join = "&" if "?" in path else "?"
                    try:
                        page.goto(f"{server.url}{path}{join}level=2&as_of={day}",
                                  wait_until="commit", timeout=10_000)
                        loads += 1
                    except PlaywrightError:
                        pass  # a navigation cut short by the next one, or a dead server
                time.sleep(0.3)
        finally:
            browser.close()
    return loads


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_fast_clicking_users_do_not_bring_the_server_down(backend: str, demo: Path, request,
                                                          tmp_path: Path):
    url = registry_url(backend, demo, request)
    engine = open_registry(url)
    latest = default_as_of(engine)
    engine.dispose()
    district = _district(url)
    server = AppServer(demo_settings(demo, url) | {
        "SOCLE_APP_STORE_URL": f"sqlite:///{tmp_path / 'app_store.db'}"},
        tmp_path / "server.log").start()
    try:
        loads = _click_fast(server, district, latest, CLICKING_SECONDS)
        assert server.alive(), (f"the server died after {loads} page loads:\n"
                                f"{server.log()[-4000:]}")
        assert health(server.url) == "ok"
        log = server.log()
        assert not [sign for sign in CRASH_SIGNS if sign in log], log[-4000:]
        assert loads >= MIN_LOADS // 2
        # And it still draws a page, with figures.
        from playwright.sync_api import sync_playwright

        with sync_playwright() as playwright:
            browser = launch_chromium(playwright)
            page = browser.new_page()
            page.goto(f"{server.url}/?level=2&as_of={latest}", wait_until="domcontentloaded")
            wait_drawn(page, '[data-testid="stMetric"]')
            assert page.locator('[data-testid="stMetric"]').count() >= 4
            assert page.get_by_text("could not be reached").count() == 0
            browser.close()
    finally:
        server.stop()


# Identical requests share one computation -----------------------------------------------------

def test_identical_requests_at_once_share_one_computation():
    """Streamlit 1.67's st.cache_data takes a lock per cache key before computing
    (cache_utils: compute_value_lock, double-checked): of eight threads asking for the same
    value at once, one computes and seven wait for its result. ui.queries relies on it."""
    import streamlit as st

    calls: list[int] = []
    started = threading.Event()

    @st.cache_data(show_spinner=False)
    def slow(key: str, token: str) -> pd.DataFrame:
        calls.append(1)
        started.set()
        time.sleep(0.5)
        return pd.DataFrame({"key": [key]})

    token = uuid.uuid4().hex  # a fresh key in this process's cache
    results: list[pd.DataFrame] = []

    def ask() -> None:
        results.append(slow("same", token))

    threads = [threading.Thread(target=ask) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(calls) == 1
    assert len(results) == 8 and all(r["key"].tolist() == ["same"] for r in results)
    slow("other", token)
    assert len(calls) == 2
