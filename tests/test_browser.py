"""The coverage map in a real browser: Debian's Chromium, headless, driven by Playwright.

The app runs with ``streamlit run`` on a small demo registry; the test opens the coverage
page, checks that the map canvas drew coloured polygons, clicks a district and sees its
tehsils. Chromium comes from Debian (``.ci/run`` installs it); Playwright never downloads
a browser here (``executable_path``).
"""

from __future__ import annotations

import math
from pathlib import Path

from browser_support import VIEWPORT, coloured_share

from data_access.areas import read_areas
from data_access.registry import open_registry
from maps import coverage, layers
from maps.boundaries import BoundarySource, read_boundaries

ROOT = Path(__file__).resolve().parents[1]



def _mercator(lon: float, lat: float, zoom: float) -> tuple[float, float]:
    """deck.gl's web-mercator world pixels (512-pixel tiles) at ``zoom``."""
    scale = 512 * 2 ** zoom
    x = (lon + 180) / 360 * scale
    y = (math.pi - math.log(math.tan(math.pi / 4 + math.radians(lat) / 2))) / (2 * math.pi) * scale
    return x, y


def _screen_point(lon: float, lat: float, view, box: dict) -> tuple[float, float]:
    """Where (lon, lat) falls in the canvas ``box`` for the deck's initial view state."""
    cx, cy = _mercator(view.longitude, view.latitude, view.zoom)
    x, y = _mercator(lon, lat, view.zoom)
    return box["x"] + box["width"] / 2 + (x - cx), box["y"] + box["height"] / 2 + (y - cy)


def _view(bounds):
    """The deck's initial view state for a focus on ``bounds`` (as the page builds it)."""
    return layers.fit_view(bounds, width_px=coverage.MAP_WIDTH, height_px=coverage.MAP_HEIGHT)


def test_coverage_map_draws_and_drills_down(app_url: str, browser, browser_demo: Path):
    source = BoundarySource(path=browser_demo / "registry.geojson", id_field="area_id", name_field="name",
                            level=None, level_field="level")
    frame = read_boundaries([source]).frame
    districts = frame[frame["level"] == 2]
    engine = open_registry(f"sqlite:///{browser_demo / 'registry.db'}")
    areas = read_areas(engine)
    engine.dispose()

    page = browser.new_page(viewport=VIEWPORT)
    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    try:
        # Open / first: a first session that deep-links to a page gets "Page not found".
        page.goto(app_url + "/", wait_until="networkidle")
        page.wait_for_selector('[data-testid="stMetric"]', timeout=60_000)
        page.goto(app_url + "/coverage?level=2", wait_until="networkidle")
        canvas = page.wait_for_selector('[data-testid="stDeckGlJsonChart"] canvas',
                                        timeout=60_000)
        page.wait_for_timeout(3_000)  # deck.gl draws after the element appears
        box = canvas.bounding_box()
        assert box and box["width"] > 200 and box["height"] > 200

        share = coloured_share(canvas.screenshot())
        assert share > 0.10, f"the map canvas is nearly blank ({share:.1%} coloured pixels)"

        # Click the district whose inner point is nearest the centre of the view.
        minx, miny, maxx, maxy = (float(v) for v in districts.total_bounds)
        view = _view((minx, miny, maxx, maxy))
        inner = districts.geometry.representative_point()
        points = [(_screen_point(p.x, p.y, view, box), area_id)
                  for p, area_id in zip(inner, districts["area_id"], strict=True)]
        centre = (box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
        (x, y), district_id = min(points, key=lambda item: math.dist(item[0], centre))
        district_name = areas.loc[areas["area_id"] == district_id, "name"].iloc[0]
        tehsils = areas[(areas["parent_id"] == district_id) & (areas["level"] == 3)]

        page.mouse.move(x, y)
        page.wait_for_timeout(500)
        page.mouse.click(x, y)
        page.wait_for_url(f"**area={district_id}**", timeout=30_000)
        caption = page.get_by_text(f"by tehsil in {district_name}")
        caption.wait_for(timeout=30_000)

        # The map now shows the district's tehsils: hover one and read its tooltip.
        page.wait_for_timeout(3_000)  # the new deck replaces the old one
        canvas = page.locator('[data-testid="stDeckGlJsonChart"] canvas').first
        box = canvas.bounding_box()
        focus = districts[districts["area_id"] == district_id]
        view = _view(tuple(float(v) for v in focus.total_bounds))
        tehsil_shapes = frame[frame["area_id"].isin(set(tehsils["area_id"]))]
        target = tehsil_shapes.iloc[0]
        spot = target.geometry.representative_point()
        page.mouse.move(*_screen_point(spot.x, spot.y, view, box))
        tooltip = page.locator(".deck-tooltip")
        tooltip.wait_for(state="visible", timeout=10_000)
        assert target["name"] in tooltip.inner_text()
        assert coloured_share(canvas.screenshot()) > 0.10

        # The breadcrumb goes back up to every district.
        page.get_by_role("button", name="All areas").click()
        page.get_by_text("by district in All areas").wait_for(timeout=30_000)
        assert "area=" not in page.url

        # Offline: the page fetched nothing but the app itself (no tiles, styles or CDN).
        outside = [url for url in requested
                   if not url.startswith((app_url, "data:", "blob:"))]
        assert not outside, f"requests left the machine: {outside[:5]}"
    finally:
        page.close()
