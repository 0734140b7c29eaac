"""Benchmark: every page in a real browser, cold and warm, on the demo registry.

    .venv/bin/python bench/bench_pages.py [--households 20000] [--workdir DIR] [--repeats 3]

Starts ``streamlit run app.py`` on the demo (generated in the work folder unless there) and
drives Debian's Chromium through Playwright. A page is "drawn" when Streamlit's script run
is over (the app's ``data-test-script-state`` is ``notRunning``), the page's title is shown
and its main element is there (metrics, the map, a table). For each page:

- **cold**: the page opened with an as-of date no page has asked for (every figure computed);
- **warm, same session**: back on the page through the sidebar's menu, same view (what a
  user does: a rerun of their session);
- **warm, reload**: the same address opened again (a new browser session, the server's
  caches warm);
- **warm, server only**: the same view asked again by a websocket client speaking
  Streamlit's protocol (tests/app_server.WebsocketSession), until the script run is over:
  the server's part of a warm page, without the browser's drawing (on a shared, busy
  machine the browser's part — deck.gl on software WebGL, React — varies most).

Warm figures are the median of ``--repeats``. Prints one line per measurement, the load
average of the machine, the peak resident memory of the app's server process, and a Markdown
table for the README.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import os
import platform
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from app_server import (  # noqa: E402
    SCRIPT_DONE,
    AppServer,
    WebsocketSession,
    demo_settings,
    launch_chromium,
    make_demo,
)
from browser_support import VIEWPORT  # noqa: E402

from data_access.areas import read_areas  # noqa: E402
from data_access.registry import open_registry  # noqa: E402
from indicators import default_as_of  # noqa: E402

# (menu title, url path, the element that says the page's content is there)
PAGES: tuple[tuple[str, str, str], ...] = (
    ("Overview", "", '[data-testid="stMetric"]'),
    ("Coverage map", "coverage", '[data-testid="stDeckGlJsonChart"]'),
    ("Referrals", "referrals", '[data-testid="stMetric"]'),
    ("Duplicates", "duplicates", '[data-testid="stMetric"]'),
    ("Data quality", "data-quality", '[data-testid="stMetric"]'),
    ("Committee meeting", "meeting", '[data-testid="stMetric"]'),
    ("Donor progress", "progress", "h1"),
    ("Excel export", "export", '[data-testid="stDownloadButton"], [data-testid="stButton"]'),
    ("Users", "users", "h1"),
    ("Audit log", "audit-log", "h1"),
)
TIMEOUT_MS = 300_000


def drawn(page, title: str, marker: str) -> None:
    """Until the script run is over, with this page's title and main element shown."""
    page.wait_for_function(
        """([title, done]) => {
            const h1 = document.querySelector('[data-testid="stMain"] h1');
            return h1 && h1.innerText.trim() === title && document.querySelector(done);
        }""", arg=[title, SCRIPT_DONE], timeout=TIMEOUT_MS, polling=20)
    page.wait_for_selector(marker, timeout=TIMEOUT_MS)
    page.wait_for_selector(SCRIPT_DONE, timeout=TIMEOUT_MS)


def open_url(page, url: str, title: str, marker: str) -> float:
    start = time.perf_counter()
    page.goto(url, wait_until="commit", timeout=TIMEOUT_MS)
    drawn(page, title, marker)
    return time.perf_counter() - start


def through_menu(page, title: str, marker: str) -> float:
    start = time.perf_counter()
    page.locator('[data-testid="stSidebarNav"] a', has_text=title).first.click()
    drawn(page, title, marker)
    return time.perf_counter() - start


def server_only(server_url: str, path: str, query: str, repeats: int) -> float:
    """Median script-run time of the same view asked again in one websocket session."""
    session = WebsocketSession(server_url)
    # On a thread of its own: Playwright's sync API keeps an event loop on this one.
    with ThreadPoolExecutor(1) as pool:
        loads = pool.submit(asyncio.run, session.loads([(path, query)] * (repeats + 1))).result()
    if not all(load.finished for load in loads):
        raise RuntimeError(f"a run of /{path}?{query} did not finish")
    return statistics.median(load.seconds for load in loads[1:])


def run(workdir: Path, households: int, repeats: int, source: str = "auto"
        ) -> tuple[list[tuple[str, float, float, float, float]], int]:
    """Each page's seconds (cold, warm through the menu, warm reload, server only) and the
    server process's peak resident memory in bytes."""
    registry = workdir / "registry.db"
    if not registry.exists():
        print(f"generating the demo ({households:,} households) in {workdir}", flush=True)
        make_demo(workdir, households=households, seed=1)
    engine = open_registry(f"sqlite:///{registry}")
    latest = default_as_of(engine)
    areas = read_areas(engine)
    engine.dispose()
    district = str(areas.loc[areas["level"] == 2, "area_id"].iloc[0])
    store = workdir / "bench_pages_store.db"
    store.unlink(missing_ok=True)
    server = AppServer(demo_settings(workdir, source=source)
                       | {"SOCLE_APP_STORE_URL": f"sqlite:///{store}"},
                       workdir / "bench_pages_server.log").start()
    rows = []
    from playwright.sync_api import sync_playwright

    try:
        with sync_playwright() as playwright:
            browser = launch_chromium(playwright)
            page = browser.new_page(viewport=VIEWPORT)
            # A first session that deep-links to a page gets "Page not found": open / first.
            open_url(page, server.url + "/", "Overview", '[data-testid="stMetric"]')
            for index, (title, path, marker) in enumerate(PAGES):
                day = latest - dt.timedelta(days=7 * (index + 1))
                url = f"{server.url}/{path}?level=2&area={district}&as_of={day}"
                cold = open_url(page, url, title, marker)
                print(f"{title}: cold {cold:.2f} s", flush=True)
                menu, reload = [], []
                for _ in range(repeats):
                    other = "Overview" if title != "Overview" else "Data quality"
                    other_marker = '[data-testid="stMetric"]'
                    through_menu(page, other, other_marker)  # away (not timed)
                    menu.append(through_menu(page, title, marker))
                    reload.append(open_url(page, url, title, marker))
                query = url.split("?", 1)[1]
                alone = server_only(server.url, path, query, repeats)
                row = (title, cold, statistics.median(menu), statistics.median(reload), alone)
                print(f"{title}: warm same session {row[2]:.2f} s, warm reload {row[3]:.2f} s "
                      f"({', '.join(f'{m:.2f}' for m in menu)} / "
                      f"{', '.join(f'{r:.2f}' for r in reload)}), server only {alone:.2f} s",
                      flush=True)
                rows.append(row)
            browser.close()
        peak = server.peak_rss_bytes()
    finally:
        server.stop()
    return rows, peak


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--households", type=int, default=20_000)
    parser.add_argument("--workdir", type=Path, help="folder of the demo (kept; default: a "
                        "temporary folder)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--source", default="auto", choices=("auto", "copy", "live"),
                        help="analytics.source of the server (auto: the analytical copy for "
                        "SQLite and PostgreSQL registries)")
    args = parser.parse_args(argv)
    before = os.getloadavg()[0]
    if args.workdir is None:
        with tempfile.TemporaryDirectory(prefix="socle_bench_pages_") as folder:
            rows, peak = run(Path(folder), args.households, args.repeats, args.source)
    else:
        rows, peak = run(args.workdir, args.households, args.repeats, args.source)
    print(f"\n{platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"{platform.python_version()}; load average {before:.1f} before, "
          f"{os.getloadavg()[0]:.1f} after; demo of {args.households:,} households; "
          f"seconds until the page is drawn; peak memory of the app's server process "
          f"{peak / 2**30:.2f} GiB\n")
    print("| page | cold | warm, same session | warm, reload | warm, server only |")
    print("|---|---:|---:|---:|---:|")
    for title, cold, menu, reload, alone in rows:
        print(f"| {title} | {cold:.2f} | {menu:.2f} | {reload:.2f} | {alone:.2f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
