"""Warm pages: a page seen again with the same view is drawn from the caches.

Timings are in bench/bench_pages.py and the README; here, what makes a warm page fast and
can be checked without a clock: the run asks the registry nothing (no statement, no
connection: the registry's last-loaded time comes from the file, not from a query), and the
view survives a change of page through the menu (or the page would be a cold one).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa
import streamlit as st
from streamlit.testing.v1 import AppTest

from data_access.loader import write_registry
from ui import queries as ui

ROOT = Path(__file__).resolve().parents[1]
APP = str(ROOT / "app.py")
sys.path.insert(0, str(Path(__file__).parent))
from test_app import registry_tables  # noqa: E402


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch):
    for name in list(os.environ):
        if name.startswith("SOCLE_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("SOCLE_GEOGRAPHY_BOUNDARY_FILE", "")
    st.cache_data.clear()
    st.cache_resource.clear()
    yield
    st.cache_data.clear()
    st.cache_resource.clear()


@pytest.fixture(autouse=True)
def navigation_as_in_a_running_server(monkeypatch: pytest.MonkeyPatch):
    """Every AppTest run as a running server runs it (see tests/test_app.py)."""
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
    write_registry(writer, registry_tables())
    writer.dispose()
    monkeypatch.setenv("SOCLE_DATABASE_URL", url)
    monkeypatch.setenv("SOCLE_APP_STORE_URL", f"sqlite:///{tmp_path / 'store' / 'app.db'}")
    return url


def registry_statements(url: str) -> tuple[list[str], list[int]]:
    """Statements run on the app's registry engine from now on, and connections checked out."""
    engine = ui.registry_engine(url)  # the engine the app's runs use (cache_resource)
    statements: list[str] = []
    checkouts: list[int] = []
    sa.event.listen(engine, "before_cursor_execute",
                    lambda conn, cursor, statement, *rest: statements.append(statement))
    sa.event.listen(engine.pool, "checkout", lambda *args: checkouts.append(1))
    return statements, checkouts


@pytest.mark.parametrize("page", ["pages/overview.py", "pages/meeting.py",
                                  "pages/data_quality.py", "pages/referrals.py"])
def test_a_page_seen_again_asks_the_registry_nothing(registry_url: str, page: str):
    at = AppTest.from_file(APP, default_timeout=60)
    at.query_params.update({"level": "2", "area": "D1"})
    at.run()
    at.switch_page(page).run()  # cold: figures computed and cached
    assert not at.exception and not at.error
    statements, checkouts = registry_statements(registry_url)
    at.run()  # the same view again
    assert not at.exception and not at.error
    assert statements == []
    assert checkouts == []


def test_the_view_survives_a_change_of_page_through_the_menu(tmp_path: Path):
    """In a real browser: Streamlit 1.67 reset the sidebar's widgets to their first option
    when the user changed page through the menu, so a page was never seen again "with the
    same view" (and a chair lost their district on the way to the meeting page)."""
    from app_server import AppServer, demo_settings, launch_chromium, make_demo, wait_drawn
    from playwright.sync_api import sync_playwright

    make_demo(tmp_path, households=800, seed=2, union_councils=30)
    server = AppServer(demo_settings(tmp_path), tmp_path / "server.log").start()
    try:
        with sync_playwright() as playwright:
            browser = launch_chromium(playwright)
            page = browser.new_page()
            page.goto(server.url + "/?level=3&as_of=2025-06-30", wait_until="domcontentloaded")
            wait_drawn(page, '[data-testid="stMetric"]')
            main = page.locator('[data-testid="stMain"]')
            assert "All areas · Tehsil · as of 2025-06-30" in main.inner_text()
            for title in ("Committee meeting", "Data quality", "Overview"):
                page.locator('[data-testid="stSidebarNav"] a', has_text=title).first.click()
                page.wait_for_function(
                    """title => [...document.querySelectorAll('[data-testid="stMain"] h1')]
                        .some(h => h.innerText.trim() === title)""", arg=title)
                wait_drawn(page, "h1")
                assert "level=3" in page.url and "as_of=2025-06-30" in page.url, page.url
                if title != "Committee meeting":  # it asks for an area first
                    assert "All areas · Tehsil · as of 2025-06-30" in main.inner_text()
            browser.close()
    finally:
        server.stop()


# Families cached one by one ------------------------------------------------------------------

@pytest.mark.parametrize("level", [1, 2, 3])
def test_families_computed_apart_give_compute_s_long_form(make_registry, level: int):
    """ui.queries caches the engine's families one by one (the Meeting page then computes
    only what the Overview did not): put together they are compute()'s frame, row for row."""
    import pandas as pd

    from indicators import compute
    from indicators.engine import (
        families_of,
        family_indicator_ids,
        merge_long_forms,
    )
    from tests.fixture_registry import AS_OF, PERIOD_START, fixture_tables

    engine = make_registry(fixture_tables())
    pairs = pd.DataFrame({"person_id_a": ["P1a"], "person_id_b": ["P1b"]})
    whole = compute(engine, as_of=AS_OF, level=level, period_start=PERIOD_START,
                    suspected_pairs=pairs)
    parts = [compute(engine, as_of=AS_OF, level=level, period_start=PERIOD_START,
                     indicator_ids=list(family_indicator_ids(family)),
                     suspected_pairs=pairs if family == "suspected_pairs" else None)
             for family in families_of(None)]
    pd.testing.assert_frame_equal(merge_long_forms(parts), whole)

    headline = ("cov.poor_households", "ref.overdue", "dq.invalid_rows")
    asked = compute(engine, as_of=AS_OF, level=level, period_start=PERIOD_START,
                    indicator_ids=list(headline))
    merged = merge_long_forms(
        compute(engine, as_of=AS_OF, level=level, period_start=PERIOD_START,
                indicator_ids=list(family_indicator_ids(family)))
        for family in families_of(headline))
    merged = merged[merged["indicator_id"].isin(headline)].reset_index(drop=True)
    pd.testing.assert_frame_equal(merged, asked)
