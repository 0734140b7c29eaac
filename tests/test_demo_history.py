"""The demo's history (demo.history) on the set-up demo (tests/demo_setup.py): what the app
store holds after it, what the pages show from the first start, its status file and the
sidebar note while it is built."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pytest
import sqlalchemy as sa
from app_under_test import assert_clean, run_app
from demo_setup import SetUpDemo

from core.settings import load_settings
from data_access import linkage_store, meetings
from data_access.areas import read_area_tree
from data_access.context import UserContext
from data_access.registry import open_registry
from data_access.scope import Scope, scope_of
from data_access.snapshots import snapshot_dates, stored_series
from data_access.targets import targets
from demo import history
from indicators.catalogue import BY_ID
from views import progress

ALL = Scope.everything()


@pytest.fixture
def demo_env(set_up_demo: SetUpDemo, clean_environment, navigation_as_in_a_running_server,
             monkeypatch: pytest.MonkeyPatch) -> SetUpDemo:
    """The set-up demo's settings in this process (AppTest and load_settings read them)."""
    for name, value in set_up_demo.env.items():
        monkeypatch.setenv(name, value)
    return set_up_demo


@pytest.fixture
def engines(set_up_demo: SetUpDemo):
    registry = open_registry(set_up_demo.registry_url)
    store = sa.create_engine(set_up_demo.store_url)
    yield registry, store
    registry.dispose()
    store.dispose()


def districts(registry) -> dict[str, str]:
    tree = read_area_tree(registry)
    table = tree.table
    return dict(zip(table.loc[table["level"] == 2, "name"], table.loc[table["level"] == 2,
                                                                      "area_id"], strict=True))


def test_the_status_file_says_it_is_built(set_up_demo: SetUpDemo):
    status = history.read_status(set_up_demo.registry_url)
    assert status is not None and status.state == "done" and not status.running
    assert status.step == status.steps == 27 and status.finished_at
    assert history.status_path(set_up_demo.registry_url) == set_up_demo.folder / "registry.history.json"
    assert "[27/27]" in set_up_demo.history_log


def test_a_year_of_monthly_snapshots_for_districts_and_the_province(engines):
    registry, store = engines
    for level in (1, 2):
        days = snapshot_dates(store, level)
        assert len(days) == 12
        assert days[-1] == dt.date(2026, 10, 31) and days[0] == dt.date(2025, 11, 30)


def test_two_meetings_of_peshawar_and_one_of_nowshera_with_action_points(engines):
    registry, store = engines
    ids = districts(registry)
    latest = dt.date(2026, 10, 31)
    peshawar = meetings.meetings(store, ids["Peshawar"], scope=ALL)
    nowshera = meetings.meetings(store, ids["Nowshera"], scope=ALL)
    assert [m.as_of for m in peshawar] == [dt.date(2026, 9, 30), dt.date(2026, 6, 30)]
    assert [m.as_of for m in nowshera] == [dt.date(2026, 8, 31)]
    assert all(m.started_at.date() > m.as_of for m in peshawar + nowshera)
    for area_id in (ids["Peshawar"], ids["Nowshera"]):
        points = meetings.action_points(store, area_id, scope=ALL)
        done = [p for p in points if not p.is_open]
        still_open = [p for p in points if p.is_open]
        overdue = [p for p in still_open if p.overdue(latest)]
        assert done and overdue, area_id
    # Peshawar's first meeting's registration drive was closed at its second meeting, and
    # names the union councils with the lowest coverage of the poor.
    closed = [p for p in meetings.action_points(store, ids["Peshawar"], scope=ALL)
              if not p.is_open]
    assert closed[0].closed_on_meeting_id == peshawar[0].meeting_id
    assert closed[0].text.startswith("Registration drive in the union councils")
    assert "{" not in closed[0].text


def test_a_linkage_run_with_pairs_to_review_and_a_few_decided(engines):
    _, store = engines
    run = linkage_store.latest_run(store)
    assert run is not None and run.pairs > 0
    decided = linkage_store.decisions(store)
    assert 3 <= len(decided) <= 6
    assert {"same", "unsure"} <= set(decided["decision"])
    assert len(linkage_store.review_queue(store)) > 0


def test_targets_are_improvements_some_on_track_some_not(engines):
    registry, store = engines
    ids = districts(registry)
    stored = targets(store, scope=ALL)
    assert len(stored) >= 6
    series = stored_series(store, indicator_ids=list(progress.DEFAULT_INDICATORS),
                           area_ids=[None, ids["Peshawar"], ids["Nowshera"]], level=2)
    statuses = []
    for row in stored.itertuples(index=False):
        indicator = BY_ID[row.indicator_id]
        better = row.target_value - row.baseline_value
        assert (better >= 0) if indicator.higher_is_better else (better <= 0)
        mine = series[(series["indicator_id"] == row.indicator_id)
                      & (series["area_id"].fillna("") == (row.area_id or ""))]
        last = mine.sort_values("as_of").iloc[-1]
        code, _ = progress.status(indicator, latest_on=last["as_of"], latest=float(last["value"]),
                                  target_on=row.target_on, target=row.target_value,
                                  baseline_on=row.baseline_on, baseline=row.baseline_value)
        statuses.append(code)
    assert "on_track" in statuses and "off_track" in statuses, statuses


def test_building_again_keeps_the_meetings_and_the_targets(set_up_demo: SetUpDemo, engines):
    registry, store = engines
    from data_access.app_store import open_app_store

    with pytest.MonkeyPatch.context() as patch:
        for name, value in set_up_demo.env.items():
            patch.setenv(name, value)
        settings = load_settings(check_files=False)
        assert not history.needed(settings)
        app_store = open_app_store(set_up_demo.store_url)
        try:
            demo = history.open_demo(settings, registry, app_store)
            count = len(targets(app_store, scope=ALL))
            assert history.hold_meetings(demo) == "0 meeting(s) recorded"
            history.set_targets(demo)
            assert len(targets(app_store, scope=ALL)) == count
        finally:
            app_store.dispose()


def test_the_pages_show_the_history_from_the_first_start(demo_env: SetUpDemo, engines):
    registry, _ = engines
    ids = districts(registry)
    # Donor progress: a year of lines with their targets.
    at = run_app()
    at.switch_page("pages/progress.py").run()
    assert_clean(at)
    charts = at.get("vega_lite_chart")
    assert len(charts) == len(progress.DEFAULT_INDICATORS)
    for chart in charts:
        data = {d.name: pa.ipc.open_stream(d.data.data).read_pandas()
                for d in chart.proto.datasets}
        frames = pd.concat(data.values(), ignore_index=True)
        assert frames["date"].nunique() >= 12
        assert "diamond" in chart.proto.spec  # the target marks
    # The meeting of Peshawar: the change since its last meeting, its open action points.
    at = run_app({"level": "2", "area": ids["Peshawar"]})
    at.switch_page("pages/meeting.py").run()
    assert_clean(at)
    assert sum(1 for m in at.metric if m.proto.delta) >= 5
    assert any("the changes are since the meeting of" in i.value for i in at.info)
    assert any(w.value.startswith("Overdue action points: 1") for w in at.warning)


def write_status(folder: Path, **fields) -> None:
    registry = folder / "registry.db"
    status = history.HistoryStatus(**{
        "state": "building", "step": 3, "steps": 27, "doing": "snapshot of 2026-01-31 (districts)",
        "started_at": "2026-12-07T05:00:00", "finished_at": None, "pid": os.getpid(),
        "app_store": "x", **fields})
    history.write_status(history.status_path(f"sqlite:///{registry}"), status)


@pytest.mark.usefixtures("clean_environment", "navigation_as_in_a_running_server")
def test_the_sidebar_says_while_the_history_is_built_and_if_it_stopped(registry_url: str):
    folder = Path(registry_url.removeprefix("sqlite:///")).parent
    write_status(folder)  # this process: alive
    at = run_app()
    assert_clean(at)
    note = " ".join(i.value for i in at.sidebar.info)
    assert "Building the demo's history in the background: step 4 of 27" in note
    assert "snapshot of 2026-01-31" in note
    dead = subprocess.Popen(["true"])
    dead.wait()
    write_status(folder, pid=dead.pid)  # a builder that was killed
    at = run_app()
    warning = " ".join(w.value for w in at.sidebar.warning)
    assert "stopped before it was complete (interrupted)" in warning
    assert "python -m demo.history" in warning
    write_status(folder, state="done", finished_at="2026-12-07T05:05:00")
    at = run_app()
    assert not at.sidebar.info and not at.sidebar.warning


def test_if_needed_does_nothing_once_built(demo_env: SetUpDemo):
    before = json.loads(history.status_path(demo_env.registry_url).read_text())
    assert history.main(["--if-needed"]) == 0
    assert json.loads(history.status_path(demo_env.registry_url).read_text()) == before


@pytest.mark.parametrize("higher_is_better", [True, False])
@pytest.mark.parametrize("on_track", [True, False])
@pytest.mark.parametrize(("baseline", "latest"), [(0.5, 0.6), (0.6, 0.5), (0.5, 0.5)])
def test_target_values_put_the_line_on_or_off_track(higher_is_better, on_track, baseline,
                                                    latest):
    fraction = 0.6
    target = history.target_value(higher_is_better=higher_is_better, on_track=on_track,
                                  baseline=baseline, latest=latest, fraction=fraction,
                                  margin=0.02)
    good = 1 if higher_is_better else -1
    assert good * (target - baseline) > 0  # always an improvement on the baseline
    expected = baseline + (target - baseline) * fraction
    progressed = good * (latest - baseline) > 0
    assert (good * (latest - expected) >= 0) == (on_track and progressed)


def test_month_ends_of_the_last_year():
    assert history.month_ends(dt.date(2026, 10, 31))[0] == dt.date(2025, 11, 30)
    days = history.month_ends(dt.date(2026, 10, 15))
    assert len(days) == 12 and days[-1] == dt.date(2026, 9, 30) and days[0] == dt.date(2025, 10, 31)


def test_scope_of_the_demo_users(engines):  # the chair sees Peshawar's meetings only
    registry, store = engines
    ids = districts(registry)
    chair = scope_of(UserContext("chair", (ids["Peshawar"],)), read_area_tree(registry))
    assert len(meetings.meetings(store, ids["Peshawar"], scope=chair)) == 2
    with pytest.raises(PermissionError):
        meetings.meetings(store, ids["Nowshera"], scope=chair)
