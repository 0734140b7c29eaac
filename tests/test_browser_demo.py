"""The freshly set-up demo in a real browser (Debian's Chromium through Playwright): the pages
a newcomer opens first are not empty — the map of KP's districts, a year of lines with
targets, the meeting's change since the last one and its open action points, pairs in the
review queue — and the committee meeting steps through its agenda in presentation mode.

The demo is tests/demo_setup.py's (set up as scripts/run_demo.sh does). Screenshots of each
step are saved to tests/output/browser/ (ignored by git; CI keeps the folder as artefacts).
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from app_server import serving
from browser_support import VIEWPORT, coloured_share
from demo_setup import SetUpDemo
from PIL import Image

from data_access.areas import read_area_tree
from data_access.registry import open_registry

ROOT = Path(__file__).resolve().parents[1]
OUTPUT = ROOT / "tests" / "output" / "browser"
IDLE = "() => !document.querySelector('[data-testid=\"stStatusWidget\"]')"


@pytest.fixture(scope="module")
def demo_app(set_up_demo: SetUpDemo) -> Iterator[str]:
    with serving(set_up_demo.env) as url:
        yield url


@pytest.fixture(scope="module")
def district_ids(set_up_demo: SetUpDemo) -> dict[str, str]:
    engine = open_registry(set_up_demo.registry_url)
    table = read_area_tree(engine).table
    engine.dispose()
    districts = table[table["level"] == 2]
    return dict(zip(districts["name"], districts["area_id"], strict=True))


def shot(page, name: str) -> None:
    """A screenshot of the whole page, kept as an artefact."""
    OUTPUT.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(OUTPUT / f"{name}.png"), full_page=True)


def settle(page, pause_ms: int = 1_500) -> None:
    """Wait until Streamlit has finished running the page (and the browser has drawn it)."""
    page.wait_for_timeout(500)
    page.wait_for_function(IDLE, timeout=120_000)
    page.wait_for_timeout(pause_ms)


def open_first(page, url: str) -> None:
    """Open / first: a first session that deep-links to a page gets "Page not found"."""
    page.goto(url + "/", wait_until="networkidle")
    page.wait_for_selector('[data-testid="stMetric"]', timeout=120_000)


def dark_pixels(png: bytes) -> int:
    """Pixels as dark as a drawn line (the whole registry's is #333333)."""
    pixels = np.asarray(Image.open(io.BytesIO(png)).convert("RGB")).astype(int)
    return int((pixels.max(axis=2) < 90).sum())


def test_the_set_up_demo_shows_what_socle_is_for(demo_app: str, browser, district_ids):
    page = browser.new_page(viewport=VIEWPORT)
    try:
        open_first(page, demo_app)
        shot(page, "1-overview")

        # The coverage map: KP's 35 districts, credited to OpenStreetMap.
        page.goto(demo_app + "/coverage", wait_until="networkidle")
        canvas = page.wait_for_selector('[data-testid="stDeckGlJsonChart"] canvas',
                                        timeout=120_000)
        page.get_by_text("© OpenStreetMap contributors").wait_for(timeout=60_000)
        settle(page, 3_000)
        assert coloured_share(canvas.screenshot()) > 0.10
        page.get_by_text("Coverage of the poor by district in All areas").wait_for()
        assert "level=2" in page.url  # the sidebar opened on the district level
        shot(page, "2-coverage-map")

        # Donor progress: a chart per indicator, each with a year of line and its targets.
        page.goto(demo_app + "/progress", wait_until="networkidle")
        charts = page.locator('[data-testid="stVegaLiteChart"]')
        charts.nth(2).wait_for(timeout=120_000)
        settle(page, 2_000)
        assert charts.count() == 3
        for index in range(3):
            assert dark_pixels(charts.nth(index).screenshot()) > 300, f"chart {index} is empty"
        shot(page, "3-donor-progress")

        # The committee meeting of Peshawar: the change since its last meeting, action points.
        page.goto(f"{demo_app}/meeting?level=2&area={district_ids['Peshawar']}",
                  wait_until="networkidle")
        page.get_by_text("the changes are since the meeting of").wait_for(timeout=120_000)
        settle(page)
        assert page.locator('[data-testid="stMetricDelta"]').count() >= 5
        page.get_by_text("Overdue action points: 1").wait_for()
        assert page.locator('[data-testid="stDataFrame"]').count() >= 3  # gaps, action points
        shot(page, "4-committee-meeting")

        # Duplicates: the review queue has pairs, some decided already.
        page.goto(demo_app + "/duplicates", wait_until="networkidle")
        page.get_by_text("Suspected duplicate persons").wait_for(timeout=120_000)
        page.get_by_text("Pair 1 of").first.wait_for(timeout=120_000)
        settle(page)
        page.get_by_text("reviewed of").first.wait_for()
        shot(page, "5-review-queue")
    finally:
        page.close()


AGENDA_TITLES = ["Headline figures since the last meeting", "The union councils left behind",
                 "Stuck referrals", "Double dipping", "Open action points"]


def test_presentation_mode_steps_through_the_agenda(demo_app: str, browser, district_ids):
    page = browser.new_page(viewport=VIEWPORT)
    heading = page.locator('[data-testid="stMain"] h1').first
    try:
        open_first(page, demo_app)
        page.goto(f"{demo_app}/meeting?level=2&area={district_ids['Peshawar']}",
                  wait_until="networkidle")
        start = page.get_by_role("button", name="Start meeting")
        start.wait_for(timeout=120_000)
        settle(page)
        page.get_by_text("Present", exact=True).click()
        page.wait_for_url("**present=1**", timeout=60_000)
        settle(page)
        assert not page.locator('[data-testid="stSidebar"]').is_visible()
        assert not start.count()  # no working controls
        for number, title in enumerate(AGENDA_TITLES, start=1):
            if number > 1:
                page.get_by_role("button", name="Next").click()
                page.wait_for_url(f"**item={number}**", timeout=60_000)
                settle(page)
            assert heading.inner_text().strip() == title
            page.get_by_text(f"{number} of 5").wait_for()
            if number == 2:  # the union councils on the district's map
                canvas = page.wait_for_selector('[data-testid="stDeckGlJsonChart"] canvas',
                                                timeout=60_000)
                page.wait_for_timeout(2_000)
                assert coloured_share(canvas.screenshot()) > 0.10
            shot(page, f"6-present-{number}")
        assert page.get_by_role("button", name="Next").is_disabled()
        page.get_by_role("button", name="Previous").click()
        page.wait_for_url("**item=4**", timeout=60_000)
        settle(page)
        assert heading.inner_text().strip() == "Double dipping"

        # The position is in the URL: a reload (or a shared link) opens the same screen.
        page.reload(wait_until="networkidle")
        page.get_by_text("4 of 5").wait_for(timeout=120_000)
        assert heading.inner_text().strip() == "Double dipping"
        assert not page.locator('[data-testid="stSidebar"]').is_visible()

        # Switched off: the working page and its sidebar come back.
        page.get_by_text("Present", exact=True).click()
        start.wait_for(timeout=60_000)
        assert "present=" not in page.url
        assert page.locator('[data-testid="stSidebar"]').is_visible()
    finally:
        page.close()
