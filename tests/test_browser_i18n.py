"""The Overview in Urdu in a real browser (Debian's Chromium, headless, through Playwright): the
language is chosen in the sidebar as a user would, the page reads right to left, the sidebar
follows, the map keeps its own layout, and a screenshot is kept.

The app, the demo registry and the browser are conftest.py's fixtures.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

from browser_support import VIEWPORT

from core import i18n

SCREENSHOT = "overview-ur.png"
HEADING_TEXT = """h => { const range = document.createRange(); range.selectNodeContents(h);
    const r = range.getBoundingClientRect(); return {left: r.left, right: r.right}; }"""


def _urdu_fonts() -> list[str]:
    """Font families fontconfig has for Urdu (Debian's fonts-noto-core: .ci/run installs it)."""
    found = subprocess.run(["fc-list", ":lang=ur", "family"], capture_output=True, text=True)
    return [line for line in found.stdout.splitlines() if line.strip()]


def _direction(page, test_id: str) -> str:
    return page.locator(f'[data-testid="{test_id}"]').first.evaluate(
        "el => getComputedStyle(el).direction")


def _warm_up(browser, url: str) -> None:
    """The first session after the server starts runs before st.navigation exists (see
    ui/widgets.py) and gives the sidebar's widgets other ids on its rerun: spend it here."""
    context = browser.new_context(viewport=VIEWPORT)
    try:
        page = context.new_page()
        page.goto(url + "/", wait_until="networkidle")
        page.get_by_role("heading", name="Overview").wait_for(timeout=60_000)
    finally:
        context.close()


def test_the_overview_in_urdu_reads_right_to_left(app_url: str, browser, tmp_path: Path):
    assert _urdu_fonts(), "no font renders Urdu: install Debian's fonts-noto-core (.ci/run does)"
    with i18n.using("ur"):
        title, label, map_page = (i18n.t("Overview"), i18n.t("Registered households"),
                                  i18n.t("Coverage map"))
    _warm_up(browser, app_url)
    context = browser.new_context(viewport=VIEWPORT)
    page = context.new_page()
    try:
        page.goto(app_url + "/", wait_until="networkidle")
        page.get_by_role("heading", name="Overview").wait_for(timeout=60_000)
        assert _direction(page, "stMain") == "ltr"

        page.get_by_text(i18n.language("ur").name, exact=True).click()  # the sidebar's chooser
        heading = page.get_by_role("heading", name=title)
        heading.wait_for(timeout=60_000)
        page.get_by_text(label).first.wait_for(timeout=30_000)
        page.wait_for_timeout(1000)  # let the fonts settle before the screenshot
        shot = tmp_path / SCREENSHOT
        page.screenshot(path=str(shot), full_page=True)
        print(f"screenshot: {shot}")

        assert _direction(page, "stMain") == "rtl"
        assert _direction(page, "stSidebarContent") == "rtl"
        # The title's text stands at the right of the main area, as Urdu is read.
        text = heading.evaluate(HEADING_TEXT)
        main = page.locator('[data-testid="stMain"]').bounding_box()
        assert text["left"] > main["x"] + main["width"] * 0.5, (text, main)
        assert shot.stat().st_size > 20_000

        # The map keeps its own (left-to-right) layout inside the right-to-left page.
        page.get_by_role("link", name=map_page).click()
        page.get_by_role("heading", name=map_page).wait_for(timeout=60_000)
        page.locator('[data-testid="stDeckGlJsonChart"]').first.wait_for(timeout=60_000)
        assert _direction(page, "stMain") == "rtl"
        assert _direction(page, "stDeckGlJsonChart") == "ltr"
    finally:
        context.close()
