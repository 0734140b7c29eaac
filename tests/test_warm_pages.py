"""Warm pages: a page seen again with the same view is drawn from the caches.

Timings are in bench/bench_pages.py and the README; here, what makes a warm page fast and
can be checked without a clock: the run asks the registry nothing (no statement, no
connection: the registry's last-loaded time comes from the file, not from a query), and the
view survives a change of page through the menu (or the page would be a cold one).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import sqlalchemy as sa
from app_under_test import APP
from streamlit.testing.v1 import AppTest

from core.settings import load_settings
from data_access import analytic_copy
from ui import queries


def watch(engine: sa.Engine) -> tuple[list[str], list[int]]:
    """Statements run on ``engine`` from now on, and connections checked out."""
    statements: list[str] = []
    checkouts: list[int] = []
    sa.event.listen(engine, "before_cursor_execute",
                    lambda conn, cursor, statement, *rest: statements.append(statement))
    sa.event.listen(engine.pool, "checkout", lambda *args: checkouts.append(1))
    return statements, checkouts


def engines_read(registry_url: str, source: str) -> list[sa.Engine]:
    """The engines the app's runs use (cache_resource): the registry's, and with the
    analytical copy the copy's too."""
    engines = [queries.registry_engine(registry_url)]
    if source == "copy":
        state = analytic_copy.current_copy(Path(os.environ["SOCLE_ANALYTICS_COPY_FOLDER"]))
        assert state is not None, "the first run made no copy"
        reading = analytic_copy.reading_settings(load_settings(), state)
        engines.append(queries.registry_engine(reading.database_url))
    return engines


@pytest.mark.usefixtures("clean_environment", "navigation_as_in_a_running_server")
@pytest.mark.parametrize("source", ["live", "copy"])
@pytest.mark.parametrize("page", ["pages/overview.py", "pages/meeting.py",
                                  "pages/data_quality.py", "pages/referrals.py"])
def test_a_page_seen_again_asks_the_registry_nothing(registry_url: str, page: str, source: str,
                                                     monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("SOCLE_ANALYTICS_SOURCE", source)
    at = AppTest.from_file(APP, default_timeout=60)
    at.query_params.update({"level": "2", "area": "D1"})
    at.run()
    at.switch_page(page).run()  # cold: figures computed and cached
    assert not at.exception and not at.error
    watched = [watch(engine) for engine in engines_read(registry_url, source)]
    at.run()  # the same view again
    assert not at.exception and not at.error
    for statements, checkouts in watched:
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


def test_a_family_s_part_of_a_batch_is_the_family_computed_alone(make_registry):
    """ui.queries counts the families a page misses in one computation, then caches each
    family's part: a part is the family computed alone, row for row, at every level."""
    import pandas as pd

    from data_access.areas import read_area_tree
    from indicators import compute_levels
    from indicators.engine import families_of, family_indicator_ids, family_part
    from tests.fixture_registry import AS_OF, PERIOD_START, fixture_tables

    engine = make_registry(fixture_tables())
    levels = read_area_tree(engine).levels
    pairs = pd.DataFrame({"person_id_a": ["P1a"], "person_id_b": ["P1b"]})
    batch = compute_levels(engine, as_of=AS_OF, levels=levels, period_start=PERIOD_START,
                           suspected_pairs=pairs)
    for family in families_of(None):
        alone = compute_levels(engine, as_of=AS_OF, levels=levels, period_start=PERIOD_START,
                               indicator_ids=list(family_indicator_ids(family)),
                               suspected_pairs=pairs)
        for level in levels:
            pd.testing.assert_frame_equal(family_part(batch[level], family), alone[level])


@pytest.mark.usefixtures("clean_environment", "navigation_as_in_a_running_server")
def test_a_cold_page_counts_the_families_it_misses_in_one_computation(
        registry_url: str, monkeypatch: pytest.MonkeyPatch):
    """Each as-of date a page needs is one computation of the families it misses (the
    linkage pairs' family apart), and no family is counted twice for one date, also when
    the next page asks for more."""
    from collections import Counter

    from indicators.engine import families_of

    monkeypatch.setenv("SOCLE_ANALYTICS_SOURCE", "live")
    computations: list[tuple[object, tuple[str, ...]]] = []
    real = queries.compute_levels

    def counted(*args, **kwargs):
        computations.append((kwargs["as_of"], tuple(families_of(kwargs["indicator_ids"]))))
        return real(*args, **kwargs)

    monkeypatch.setattr(queries, "compute_levels", counted)
    at = AppTest.from_file(APP, default_timeout=60)
    at.query_params.update({"level": "2", "area": "D1"})
    def batches_per_day(runs: list[tuple[object, tuple[str, ...]]]) -> Counter:
        return Counter(day for day, families in runs if families != ("suspected_pairs",))

    at.run()  # the Overview, cold
    assert not at.exception and not at.error
    overview = list(computations)
    assert batches_per_day(overview) and max(batches_per_day(overview).values()) == 1, overview
    assert any(len(families) >= 3 for _, families in overview), overview
    at.switch_page("pages/meeting.py").run()  # the Overview's families and more
    assert not at.exception and not at.error
    meeting = computations[len(overview):]
    assert max(batches_per_day(meeting).values(), default=1) == 1, meeting
    per_family = Counter((day, f) for day, families in computations for f in families)
    assert max(per_family.values()) == 1, computations


@pytest.mark.usefixtures("clean_environment")
def test_a_pair_replaced_among_many_is_counted_again(tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch):
    """The figures are kept per view and linkage pairs by a hash of every pair: with 60,000
    pairs, a new linkage run that finds as many pairs, one of them another, is counted
    again. Streamlit's own hashing of a frame that large hashes 10,000 rows drawn with a
    fixed seed: a pair replaced at a row it does not draw would give the kept figure."""
    import itertools

    import pandas as pd
    from app_server import make_demo

    from indicators import compute

    registry = make_demo(tmp_path / "demo", households=120)
    url = f"sqlite:///{registry}"
    monkeypatch.setenv("SOCLE_DATABASE_URL", url)
    settings = load_settings()
    engine = queries.registry_engine(url)
    with engine.connect() as conn:
        ids = sorted(conn.exec_driver_sql("SELECT person_id FROM person").scalars())
    pairs = pd.DataFrame(itertools.islice(itertools.combinations(ids, 2), 60_000),
                         columns=["person_id_a", "person_id_b"])
    drawn = set(pd.Series(range(len(pairs))).sample(n=10_000, random_state=0))
    row = min(set(range(len(pairs))) - drawn)  # a row Streamlit's hashing does not read
    other = pairs.copy()
    other.loc[row] = ["ZZ-not-registered-a", "ZZ-not-registered-b"]  # not counted
    as_of = queries.default_as_of(url)
    start = queries.period_start(settings, as_of)

    def whole_registry(frame: pd.DataFrame) -> int:
        rows = frame[frame["area_id"].isna()
                     & (frame["indicator_id"] == "dup.suspected_pairs")]
        return int(rows["numerator"].iloc[0])

    def kept(frame: pd.DataFrame) -> int:
        counted = queries._counted_families(
            engine, url, queries.registry_last_loaded(engine), settings, as_of=as_of,
            period_start=start, families=["suspected_pairs"], suspected_pairs=frame)
        return whole_registry(counted["suspected_pairs"][1])

    def computed(frame: pd.DataFrame) -> int:
        return whole_registry(compute(engine, as_of=as_of, level=1, period_start=start,
                                      indicator_ids=["dup.suspected_pairs"],
                                      suspected_pairs=frame))

    assert computed(other) == computed(pairs) - 1  # the replaced pair was counted
    assert kept(pairs) == computed(pairs)
    assert kept(other) == computed(other)
