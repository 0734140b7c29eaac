"""Faults, nothing lost (issue 18): kill -9 of a writer and of the server while an action
point is added, kill -9 of the snapshot command, a retried "Add", and a registry file that
goes missing, unreadable or corrupt while the app runs.

Real processes and real signals: ``os.kill(pid, SIGKILL)``, nothing simulated. Afterwards
the app store passes SQLite's integrity check, every action point whose add returned is
there exactly once, and no half-written snapshot run is visible.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import pytest
import sqlalchemy as sa
from app_server import (
    AppServer,
    demo_settings,
    launch_chromium,
    load_page,
    make_demo,
    wait_drawn,
)
from fault_writer import point
from test_meeting_page import ALL, LATER, add_action_point, open_page

from data_access import meetings
from data_access.app_store import open_app_store
from data_access.areas import read_areas
from data_access.registry import open_registry
from data_access.snapshots import (
    SnapshotRun,
    purge_abandoned,
    snapshot,
    snapshot_dates,
    snapshots,
    store_snapshot,
)
from indicators import compute, default_as_of
from views import gaps

pytestmark = pytest.mark.usefixtures("clean_environment", "navigation_as_in_a_running_server",
                                     "live_registry")

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def live_registry(monkeypatch: pytest.MonkeyPatch) -> None:
    """The app reads the registry itself: these faults are of its file and of the app store
    (the analytical copy's are in tests/test_analytic_copy.py)."""
    monkeypatch.setenv("SOCLE_ANALYTICS_SOURCE", "live")
WRITER = ROOT / "tests" / "fault_writer.py"


def sqlite_file(url: str) -> Path | None:
    return Path(sa.engine.make_url(url).database) if url.startswith("sqlite") else None


def integrity(url: str) -> str:
    """SQLite's integrity check of the store ("ok"), or a sanity query on PostgreSQL."""
    path = sqlite_file(url)
    if path is not None:
        with sqlite3.connect(path) as conn:
            return conn.execute("PRAGMA integrity_check").fetchone()[0]
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            conn.execute(sa.text("SELECT COUNT(*) FROM action_point")).scalar_one()
            conn.execute(sa.text("SELECT COUNT(*) FROM snapshot_figure")).scalar_one()
    finally:
        engine.dispose()
    return "ok"


def stored_points(url: str, text: str) -> int:
    """Action points with this text in the store, read without Socle's code (0 before the
    table exists)."""
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as conn:
            return conn.execute(sa.text("SELECT COUNT(*) FROM action_point WHERE text = :t"),
                                {"t": text}).scalar_one()
    except sa.exc.OperationalError:
        return 0
    finally:
        engine.dispose()


def points_by_text(store_engine: sa.Engine) -> dict[str, int]:
    with store_engine.connect() as conn:
        rows = conn.execute(sa.text("SELECT text, COUNT(*) FROM action_point GROUP BY text"))
        return {text: count for text, count in rows}


# The idempotency key -------------------------------------------------------------------------

@pytest.fixture
def page_store(meeting_registry_url: str, tmp_path: Path):
    """The app store of the AppTest pages (test_meeting_page's registry and store)."""
    engine = open_app_store(f"sqlite:///{tmp_path / 'store' / 'app.db'}")
    yield engine
    engine.dispose()


@pytest.fixture
def any_store(store_url: str):
    """An app store on each backend."""
    engine = open_app_store(store_url)
    yield engine
    engine.dispose()


def test_an_add_with_a_known_key_returns_the_point_it_wrote(any_store: sa.Engine):
    store = any_store
    first = meetings.add_action_point(store, scope=ALL, **point(1))
    again = meetings.add_action_point(store, scope=ALL, **point(1))
    assert again.action_id == first.action_id
    assert points_by_text(store) == {"Action point 1": 1}
    other = point(2) | {"idempotency_key": "key-1"}  # the key of another point
    with pytest.raises(meetings.IdempotencyKeyReused):
        meetings.add_action_point(store, scope=ALL, **other)
    assert points_by_text(store) == {"Action point 1": 1}
    meetings.add_action_point(store, scope=ALL, **(point(3) | {"idempotency_key": None}))
    meetings.add_action_point(store, scope=ALL, **(point(3) | {"idempotency_key": None}))
    assert points_by_text(store)["Action point 3"] == 2  # no key: two adds, two points


def test_the_same_add_from_eight_threads_at_once_writes_one_point(store_url: str):
    engine = open_app_store(store_url)
    try:
        barrier = threading.Barrier(8)
        ids: list[int] = []
        errors: list[BaseException] = []

        def add() -> None:
            barrier.wait()
            try:
                ids.append(meetings.add_action_point(engine, scope=ALL, **point(7)).action_id)
            except BaseException as exc:  # noqa: BLE001 - reported below
                errors.append(exc)

        threads = [threading.Thread(target=add) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        locked = [e for e in errors if "locked" in str(e)]  # SQLite's writer lock, retried
        for _ in locked:
            ids.append(meetings.add_action_point(engine, scope=ALL, **point(7)).action_id)
        assert [e for e in errors if e not in locked] == []
        assert len(set(ids)) == 1 and len(ids) == 8
        assert points_by_text(engine) == {"Action point 7": 1}
    finally:
        engine.dispose()


def test_a_retried_add_writes_the_action_point_once(meeting_registry_url: str, page_store: sa.Engine):
    """The first "Add" committed but its confirmation never reached the user; the retry
    (same session, same form) finds it."""
    at = open_page({"level": "2", "area": "D1", "as_of": LATER.isoformat()})
    key = at.session_state["_meeting_add_key"]
    assert at.query_params["adding"] in (key, [key])  # in the link before "Add" is clicked
    meetings.add_action_point(page_store, scope=ALL, area_id="D1", text="Call the BISP desk",
                              owner="Tehsil office", due_on=gaps.default_due(LATER),
                              created_by="admin", idempotency_key=key)
    add_action_point(at, "Call the BISP desk", "Tehsil office")
    assert "Action point added." in at.success[0].value
    assert points_by_text(page_store) == {"Call the BISP desk": 1}
    assert at.session_state["_meeting_add_key"] != key  # the next point gets a new key
    assert at.query_params["adding"] in (at.session_state["_meeting_add_key"],
                                         [at.session_state["_meeting_add_key"]])
    add_action_point(at, "Call the BISP desk", "Tehsil office")  # a second, wanted point
    assert points_by_text(page_store) == {"Call the BISP desk": 2}


def test_a_retry_after_a_server_restart_finds_the_point_by_the_link(meeting_registry_url: str,
                                                                   page_store: sa.Engine):
    """The server was killed after the commit: the new session starts from the link the
    browser kept (``adding=<key>``), so the retry does not add the point twice; a link
    whose key stands for another point gets a new key, and its point is added."""
    meetings.add_action_point(page_store, scope=ALL, area_id="D1", text="Repair the pump",
                              owner="Tehsil office", due_on=gaps.default_due(LATER),
                              created_by="admin", idempotency_key="k-before-the-kill")
    at = open_page({"level": "2", "area": "D1", "as_of": LATER.isoformat(),
                    "adding": "k-before-the-kill"})
    add_action_point(at, "Repair the pump", "Tehsil office")
    assert points_by_text(page_store) == {"Repair the pump": 1}
    at = open_page({"level": "2", "area": "D1", "as_of": LATER.isoformat(),
                    "adding": "k-before-the-kill"})
    add_action_point(at, "Something else entirely", "Tehsil office")
    assert points_by_text(page_store) == {"Repair the pump": 1, "Something else entirely": 1}


# kill -9 of a writer, mid-transaction -----------------------------------------------------------

def test_kill_9_while_adding_action_points_loses_nothing_committed(store_url: str):
    """A process adds action points in a tight loop (most of its time inside a transaction)
    and is killed with SIGKILL, three times. Every point whose add returned is there once;
    the one in flight is there at most once, and retrying it with its key does not add it
    again; the store passes its integrity check."""
    open_app_store(store_url).dispose()  # the schema, before the writers race to make it
    confirmed: list[int] = []
    in_flight: list[int] = []
    number = 1
    for round_ in range(3):
        writer = subprocess.Popen([sys.executable, str(WRITER), store_url, str(number)],
                                  cwd=ROOT, stdout=subprocess.PIPE, text=True)
        assert writer.stdout.readline().strip() == "ready"
        started, this_round = time.monotonic(), 0
        while True:  # a while, and some adds, before the kill (however busy the machine)
            elapsed = time.monotonic() - started
            if (elapsed >= 1.0 + 0.4 * round_ and this_round >= 10) or elapsed >= 60:
                break
            line = writer.stdout.readline()
            if not line:
                break
            confirmed.append(int(line.split()[1]))
            this_round += 1
        os.kill(writer.pid, signal.SIGKILL)
        writer.wait(timeout=30)
        rest = writer.stdout.read()  # lines printed before the kill landed
        confirmed += [int(line.split()[1]) for line in rest.splitlines() if line.strip()]
        number = (confirmed[-1] if confirmed else number - 1) + 1
        in_flight.append(number)
        assert integrity(store_url) == "ok"
        engine = open_app_store(store_url)
        try:
            counts = points_by_text(engine)
            assert all(counts.get(f"Action point {n}") == 1 for n in confirmed)
            assert counts.get(f"Action point {number}", 0) <= 1
            # The user retries the add that got no confirmation: one point, not two.
            meetings.add_action_point(engine, scope=ALL, **point(number))
            assert points_by_text(engine)[f"Action point {number}"] == 1
        finally:
            engine.dispose()
        number += 1
    assert len(confirmed) >= 30  # the writer did work before each kill


# kill -9 of the server while an action point is added -------------------------------------------

@pytest.fixture(scope="module")
def small_demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("faults_demo")
    make_demo(folder, households=1200, seed=4, union_councils=30)
    return folder


def test_kill_9_of_the_server_while_adding_then_the_retry_adds_nothing_twice(
        small_demo: Path, tmp_path: Path):
    """In a real browser: "Add" is clicked, the server is killed with SIGKILL as the add
    is under way, and started again on the same address. The browser reconnects; the user
    fills the form again and clicks "Add" again. The store is intact and holds the point
    once."""
    from playwright.sync_api import sync_playwright

    store_url = f"sqlite:///{tmp_path / 'app_store.db'}"
    engine = open_registry(f"sqlite:///{small_demo / 'registry.db'}")
    as_of = default_as_of(engine)
    district = str(read_areas(engine).query("level == 2")["area_id"].iloc[0])
    engine.dispose()
    server = AppServer(demo_settings(small_demo) | {"SOCLE_APP_STORE_URL": store_url},
                       tmp_path / "server.log").start()
    text = "Visit the union council office about the pending referrals"
    try:
        with sync_playwright() as playwright:
            browser = launch_chromium(playwright)
            page = browser.new_page()
            page.goto(server.url + "/", wait_until="domcontentloaded")
            wait_drawn(page, '[data-testid="stMetric"]')
            meeting_url = f"{server.url}/meeting?level=2&area={district}&as_of={as_of}"

            def fill_and_add() -> None:
                page.get_by_label("What is to be done", exact=True).fill(text)
                page.get_by_label("Owner", exact=True).fill("Tehsil office")
                page.get_by_role("button", name="Add the action point").click()

            connected = '[data-testid="stApp"][data-test-connection-state="CONNECTED"]'
            page.goto(meeting_url, wait_until="domcontentloaded")
            wait_drawn(page, '[data-testid="stForm"]')
            # The form's key is in the link as soon as the form is drawn, before "Add".
            page.wait_for_function("() => window.location.href.includes('adding=')",
                                   timeout=30_000)
            key = parse_qs(urlparse(page.url).query)["adding"][0]
            fill_and_add()
            # Kill the server the moment the point is committed: before the page could
            # confirm it (the confirmation comes with the next run of the page).
            deadline = time.monotonic() + 120
            while stored_points(store_url, text) == 0 and time.monotonic() < deadline:
                time.sleep(0.01)
            port = server.port
            server.kill()
            assert stored_points(store_url, text) == 1
            assert integrity(store_url) == "ok"
            page.wait_for_selector(connected, state="detached", timeout=60_000)
            assert page.get_by_text("Action point added.").count() == 0
            assert f"adding={key}" in page.url  # the key of the add under way, kept
            server.start(port=port)
            # The browser reconnects by itself and runs the page again with its link.
            page.wait_for_selector(connected, timeout=120_000)
            wait_drawn(page, '[data-testid="stForm"]')
            assert f"adding={key}" in page.url
            fill_and_add()
            page.get_by_text("Action point added.").wait_for(timeout=120_000)
            # The run that confirms puts the next point's key in the link; the browser
            # writes the new link a moment after drawing the text.
            page.wait_for_function(
                "key => window.location.href.includes('adding=')"
                " && !window.location.href.includes('adding=' + key)", arg=key, timeout=30_000)
            browser.close()
    finally:
        server.stop()
    assert integrity(store_url) == "ok"
    store_engine = open_app_store(store_url)
    try:
        assert points_by_text(store_engine) == {text: 1}
    finally:
        store_engine.dispose()


# Snapshot runs: complete or invisible --------------------------------------------------------------

def test_a_snapshot_run_is_invisible_until_finished(any_store: sa.Engine, small_demo: Path):
    store = any_store
    registry = open_registry(f"sqlite:///{small_demo / 'registry.db'}")
    as_of = default_as_of(registry)
    start = as_of - dt.timedelta(days=90)
    figures = {level: compute(registry, as_of=as_of, level=level, period_start=start)
               for level in (1, 2)}
    registry.dispose()
    old = {level: store_snapshot(store, figures[level], as_of=as_of, level=level,
                                 period_start=start, period_end=as_of,
                                 parameters={"run": "old"}) for level in (1, 2)}
    run = SnapshotRun(store)
    run.add(figures[1], as_of=as_of, level=1, period_start=start, period_end=as_of,
            parameters={"run": "new"})
    # Half a run: the readers still see the old one, whole.
    assert [s.snapshot_id for s in snapshots(store)] == [old[1], old[2]]
    assert snapshot_dates(store, 1) == [as_of]
    run.add(figures[2], as_of=as_of, level=2, period_start=start, period_end=as_of,
            parameters={"run": "new"})
    assert {s.parameters["run"] for s in snapshots(store)} == {"old"}
    run.finish()
    shown = snapshots(store)
    assert [s.parameters["run"] for s in shown] == ["new", "new"]
    assert len(shown) == 2
    # A failed run takes its rows away; a killed one's are purged once old.
    failed = SnapshotRun(store)
    failed.add(figures[1], as_of=as_of, level=1, period_start=start, period_end=as_of,
               parameters={"run": "failed"})
    failed.abandon()
    killed = SnapshotRun(store)
    killed.add(figures[1], as_of=as_of, level=1, period_start=start, period_end=as_of,
               parameters={"run": "killed"})
    with store.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(snapshot)).scalar_one() == 3
    assert purge_abandoned(store, older_than=dt.timedelta(0)) == 1
    assert [s.parameters["run"] for s in snapshots(store)] == ["new", "new"]


def _snapshot_command(small_demo: Path, store_url: str, cutoff: float, as_of: dt.date,
                      ) -> subprocess.Popen:
    env = {name: value for name, value in os.environ.items() if not name.startswith("SOCLE_")}
    env |= demo_settings(small_demo) | {"SOCLE_APP_STORE_URL": store_url,
                                        "SOCLE_INDICATORS_POVERTY_CUTOFF": str(cutoff)}
    return subprocess.Popen(
        [sys.executable, "-m", "indicators.snapshot", "--as-of", as_of.isoformat(),
         "--levels", "1,2,3,4"],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_kill_9_of_the_snapshot_command_leaves_no_half_run(small_demo: Path, store_url: str):
    """A complete run with one poverty cutoff, then a run with another killed with SIGKILL
    once it has stored its first level: the readers see the first run, all four levels,
    and nothing of the second; run again, the second replaces the first as a whole."""
    registry = open_registry(f"sqlite:///{small_demo / 'registry.db'}")
    as_of = default_as_of(registry)
    registry.dispose()
    first = _snapshot_command(small_demo, store_url, 32.0, as_of)
    assert first.wait(timeout=600) == 0, first.stderr.read()

    second = _snapshot_command(small_demo, store_url, 40.0, as_of)
    for line in second.stderr:  # a line per stored level (stderr is no terminal)
        if " 1/4 " in line:
            break
    os.kill(second.pid, signal.SIGKILL)
    second.wait(timeout=30)
    assert second.returncode == -signal.SIGKILL

    assert integrity(store_url) == "ok"
    engine = open_app_store(store_url)
    try:
        shown = snapshots(engine)
        assert [(s.level, s.parameters["poverty_cutoff"]) for s in shown] == [
            (1, 32.0), (2, 32.0), (3, 32.0), (4, 32.0)]
        with engine.connect() as conn:
            hidden = conn.execute(sa.select(snapshot.c.level, snapshot.c.parameters)
                                  .where(sa.not_(snapshot.c.complete))).all()
        # The second run had stored its first level (or more) when it was killed.
        assert hidden and {json.loads(p)["poverty_cutoff"] for _, p in hidden} == {40.0}
        assert 1 in {level for level, _ in hidden}
    finally:
        engine.dispose()

    third = _snapshot_command(small_demo, store_url, 40.0, as_of)
    assert third.wait(timeout=600) == 0, third.stderr.read()
    engine = open_app_store(store_url)
    try:
        shown = snapshots(engine)
        assert [(s.level, s.parameters["poverty_cutoff"]) for s in shown] == [
            (1, 40.0), (2, 40.0), (3, 40.0), (4, 40.0)]
        with engine.connect() as conn:
            assert conn.execute(sa.select(sa.func.count()).select_from(snapshot)).scalar_one() == 4
    finally:
        engine.dispose()


# The registry file goes missing, unreadable or corrupt while the app runs -------------------------

def _without_file_rights() -> list[str]:
    """Run the server without root's right to read any file (CAP_DAC_OVERRIDE), so that a
    chmod 000 registry is unreadable to it as it would be to a service account."""
    if os.geteuid() != 0:
        return []
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        pytest.fail("setpriv (util-linux) is needed to run the server without root's file "
                    "rights: apt-get install util-linux")
    return [setpriv, "--inh-caps=-dac_override,-dac_read_search",
            "--bounding-set=-dac_override,-dac_read_search"]


def _metrics_shown(load) -> bool:
    return load.finished and "metric" in load.elements and not load.texts("error")


def test_a_registry_file_gone_wrong_is_named_and_the_app_recovers(tmp_path: Path):
    folder = tmp_path / "registry"
    make_demo(folder, households=600, seed=6, union_councils=20)
    registry = folder / "registry.db"
    server = AppServer(demo_settings(folder) | {
        "SOCLE_APP_STORE_URL": f"sqlite:///{tmp_path / 'app_store.db'}"},
        tmp_path / "server.log", prefix=_without_file_rights()).start()
    query = "level=2"
    try:
        assert _metrics_shown(load_page(server.url, "", query))

        def fault(state: str) -> None:
            load = load_page(server.url, "", query)
            assert load.finished and "metric" not in load.elements
            shown = " ".join(load.texts("error"))
            assert f"The registry database file `{registry}` is {state}" in shown, load.alerts
            assert "could not be reached" not in shown and "Check `url`" not in shown
            log = server.log()
            assert f"ERROR data_access.registry: registry database file `{registry}` is " \
                   f"{state}" in log, log[-3000:]

        # Missing: moved away, then back.
        registry.rename(folder / "elsewhere.db")
        fault("missing")
        (folder / "elsewhere.db").rename(registry)
        assert _metrics_shown(load_page(server.url, "", query))

        # Unreadable: no read permission for the server, then given back.
        registry.chmod(0)
        fault("unreadable")
        registry.chmod(0o644)
        assert _metrics_shown(load_page(server.url, "", query))

        # Corrupt: truncated to half in place, then the good copy put back.
        good = folder / "good.db"
        shutil.copy2(registry, good)
        os.truncate(registry, registry.stat().st_size // 2)
        fault("corrupt")
        os.replace(good, registry)
        assert _metrics_shown(load_page(server.url, "", query + "&as_of=2025-01-31"))
        assert server.alive()
    finally:
        if registry.exists():
            registry.chmod(0o644)
        server.stop()


def test_only_admins_read_the_registry_file_s_name(meeting_registry_url: str, monkeypatch):
    """A chair sees that the registry's file is missing, not where it lives."""
    path = sqlite_file(meeting_registry_url)
    at = open_page({"level": "2", "area": "D1"})
    path.rename(path.with_suffix(".away"))
    try:
        at.run()
        assert f"The registry database file `{path}` is missing" in at.error[0].value
        monkeypatch.setenv("SOCLE_APP_DEFAULT_ROLE", "chair")
        monkeypatch.setenv("SOCLE_APP_DEFAULT_AREAS", "D1")
        from test_app import run_app

        chair = run_app({"level": "2", "area": "D1"})
        message = chair.error[0].value
        assert "its database file is missing" in message
        assert str(path) not in message
    finally:
        path.with_suffix(".away").rename(path)
