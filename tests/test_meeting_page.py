"""The committee meeting page under AppTest, on test_app's registry (with access points) and
a real app-store file: the empty states, the figures and gaps, and a chair's story across
two meetings (start, action points, a later as-of date, the change, closing)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pandas as pd
import pytest
from app_under_test import assert_clean, run_app

from data_access.app_store import open_app_store
from data_access.meetings import action_points, meetings
from data_access.scope import Scope
from indicators import BY_ID
from indicators.figures import meeting_figures
from ui import queries

pytestmark = pytest.mark.usefixtures("clean_environment",
                                     "navigation_as_in_a_running_server")

ALL = Scope.everything()  # a whole-registry admin: these tests are not about scope

PAGE = "pages/meeting.py"
FIRST = dt.date(2024, 7, 15)   # the first meeting: 5 households in Peshawar
LATER = dt.date(2024, 12, 31)  # the next "month": 8 households, referrals overdue

@pytest.fixture
def store(meeting_registry_url: str, tmp_path: Path):
    engine = open_app_store(f"sqlite:///{tmp_path / 'store' / 'app.db'}")
    yield engine
    engine.dispose()


def open_page(query: dict[str, str] | None = None):
    at = run_app(query)
    at.switch_page(PAGE).run()
    assert_clean(at)
    return at


def metrics(at) -> dict[str, tuple[str, str]]:
    return {m.label: (m.value, m.proto.delta) for m in at.metric}


def texts(elements) -> str:
    return "\n".join(e.value for e in elements)


def button(at, label: str):
    return next(b for b in at.button if b.label == label)


def frames(at) -> list[pd.DataFrame]:
    return [d.value for d in at.dataframe]


def add_action_point(at, text: str, owner: str, due: dt.date | None = None, scope=ALL):
    at.text_area(key="action_text").input(text)
    at.text_input(key="action_owner").input(owner)
    if due is not None:
        due_input = next(d for d in at.date_input if str(d.key).startswith("action_due_"))
        due_input.set_value(due)
    button(at, "Add the action point").click().run()
    assert_clean(at)
    return at


# Empty states ----------------------------------------------------------------------------------

def test_without_a_district_the_page_asks_for_one(meeting_registry_url: str):
    at = open_page()
    assert "No district is chosen" in at.info[0].value
    assert not at.metric
    assert [b.label for b in at.main.button] == ["Peshawar", "Swat"]
    captions = texts(at.sidebar.caption)
    assert "Figures as of" in captions and "Registry copied at" in captions


def test_a_district_button_chooses_it(meeting_registry_url: str):
    at = open_page()
    button(at, "Swat").click().run()
    assert_clean(at)
    assert at.sidebar.selectbox(key="area").value == "D2"
    assert at.query_params["area"] == "D2"
    assert at.title[0].value == "Committee meeting"
    assert at.metric


def test_a_district_shows_figures_gaps_and_no_meeting_yet(meeting_registry_url: str):
    at = open_page({"level": "2", "area": "D1", "as_of": LATER.isoformat()})
    assert "No meeting yet for Peshawar" in at.info[0].value
    shown = metrics(at)
    assert shown["Registered households"] == ("8", "")
    assert shown["Double dipping"] == ("40.0%", "")
    assert shown["Referrals overdue"] == ("100.0%", "")
    helps = {m.label: m.help for m in at.metric}
    assert helps["Double dipping"].startswith(BY_ID["dup.double_dipping"].definition)
    assert "registered on or before the as-of date" in helps["Registered households"]

    tables = frames(at)
    exclusion, overdue, dipping = tables[0], tables[1], tables[2]
    assert exclusion["Name"].tolist() == ["Sehat card", "Ehsaas cash", "BISP Kafaalat"]
    assert exclusion["Numerator"].tolist() == [6, 4, 2]
    assert overdue["Name"].tolist() == ["Hashtnagri desk", "Mobile camp"]
    assert overdue["Numerator"].tolist() == [3, 2]
    assert dipping["Name"].tolist() == ["UC Gulbahar", "UC Hashtnagri"]  # tie: higher share
    captions = texts(at.main.caption)
    assert "Every area here covers all its poor households" in captions
    assert "Peshawar: 40.0% (2 of 5)" in captions
    for indicator_id in ("cov.poor_households", "cov.exclusion", "ref.overdue",
                         "dup.double_dipping"):
        assert BY_ID[indicator_id].definition in captions
    assert "No open action point for Peshawar." in captions
    assert at.get("download_button")


# The chair's story ---------------------------------------------------------------------------

def test_a_chair_meets_twice_and_sees_the_change(meeting_registry_url: str, store):
    # First meeting, in July.
    at = open_page({"level": "2", "area": "D1", "as_of": FIRST.isoformat()})
    assert metrics(at)["Registered households"] == ("5", "")
    button(at, "Start meeting").click().run()
    assert_clean(at)
    assert "Meeting started" in at.success[0].value
    assert "Meeting in progress" in at.success[1].value
    assert not [b for b in at.button if b.label == "Start meeting"]
    first = meetings(store, "D1", scope=ALL)
    assert len(first) == 1 and first[0].as_of == FIRST and first[0].started_by == "admin"
    frozen = meeting_figures(store, first[0], scope=ALL)
    assert set(frozen["area_id"].fillna("(all)")) == {"D1", "(all)"}
    assert {"cov.poor_households", "cov.exclusion", "ref.overdue"} <= set(frozen["indicator_id"])
    assert "This is the first meeting of Peshawar" in texts(at.main.caption)

    add_action_point(at, "Visit UC Gulbahar about the pending referrals", "Tehsil office", scope=ALL)
    assert "Action point added." in at.success[0].value
    add_action_point(at, "Stop double payments of the cash programmes", "BISP desk",
                     due=dt.date(2025, 1, 31), scope=ALL)
    points = action_points(store, "D1", status="open", scope=ALL)
    assert [p.text for p in points] == ["Visit UC Gulbahar about the pending referrals",
                                        "Stop double payments of the cash programmes"]
    assert points[0].due_on == FIRST + dt.timedelta(days=30)  # the default due date
    assert all(p.meeting_id == first[0].meeting_id and p.created_by == "admin" for p in points)
    assert at.text_area(key="action_text").value == ""  # the form is cleared
    assert not at.warning  # nothing overdue yet

    # The next "month": a later as-of date shows the live figures against the first meeting.
    at.sidebar.date_input(key="as_of").set_value(LATER).run()
    assert_clean(at)
    assert "No meeting yet at this as-of date" in at.info[0].value
    assert "the meeting of" in at.info[0].value and "2024-07-15" in at.info[0].value
    shown = metrics(at)
    assert shown["Registered households"] == ("8", "+3")
    assert shown["Double dipping"] == ("40.0%", "+15.0 pts")
    assert shown["Population coverage"] == ("86.7%", "-13.3 pts")
    colours = {m.label: m.proto.delta_description for m in at.metric}
    assert colours["Double dipping"] == "since 2024-07-15"
    assert "Previous meeting: 25.0%" in texts(at.main.caption)

    # The first action point is now overdue and stands out.
    assert "Overdue action points: 1 (open and due before 2024-12-31)" in at.warning[0].value
    open_table = next(f for f in frames(at) if "Owner" in f.columns)
    assert open_table["Status"].tolist()[0].startswith("Overdue by 139 days")
    assert open_table["Overdue"].tolist() == [True, False]

    # Second meeting: its figures are frozen, the change is against the first.
    button(at, "Start meeting").click().run()
    assert_clean(at)
    second = meetings(store, "D1", scope=ALL)[0]
    assert second.as_of == LATER
    assert metrics(at)["Registered households"] == ("8", "+3")

    # Close the overdue action point at this meeting.
    to_close = points[0].action_id
    at.selectbox(key="action_to_close").select(to_close).run()
    button(at, "Close it").click().run()
    assert_clean(at)
    assert "Action point closed." in at.success[0].value
    closed = action_points(store, "D1", status="closed", scope=ALL)
    assert [p.action_id for p in closed] == [to_close]
    assert closed[0].closed_on_meeting_id == second.meeting_id
    assert closed[0].closed_by == "admin"
    assert [p.action_id for p in action_points(store, "D1", status="open", scope=ALL)] == [points[1].action_id]
    assert not at.warning  # nothing overdue any more
    assert "Closed action points (1)" in [e.label for e in at.expander]


def test_a_frozen_meeting_keeps_its_figures(meeting_registry_url: str, store, monkeypatch):
    at = open_page({"level": "2", "area": "D1", "as_of": LATER.isoformat()})
    button(at, "Start meeting").click().run()
    before = metrics(at)

    def changed(*args, **kwargs):  # the registry's figures change after the meeting starts
        frame = original(*args, **kwargs).copy()
        frame["value"] = frame["value"] * 0 + 0.5
        return frame

    original = queries.figures
    monkeypatch.setattr(queries, "figures", changed)
    at.run()
    assert_clean(at)
    assert metrics(at) == before


def test_an_incomplete_action_point_is_refused(meeting_registry_url: str, store):
    at = open_page({"level": "2", "area": "D1", "as_of": LATER.isoformat()})
    add_action_point(at, "Something to do", "", scope=ALL)
    assert "Say who will do it" in at.warning[0].value
    assert action_points(store, "D1", scope=ALL) == []
    assert at.text_area(key="action_text").value == "Something to do"  # kept to correct


def test_a_district_chair_meets_on_its_own_figures(meeting_registry_url: str, store, monkeypatch):
    # (Donors have no meeting page: tests/test_access.py.)
    monkeypatch.setenv("SOCLE_APP_DEFAULT_ROLE", "chair")
    monkeypatch.setenv("SOCLE_APP_DEFAULT_AREAS", "D1")
    at = open_page({"level": "2", "area": "D1", "as_of": LATER.isoformat()})
    assert metrics(at)["Registered households"] == ("8", "")
    assert metrics(at)["Rows left out of the indicators"] == ("–", "")  # whole registry
    button(at, "Start meeting").click().run()
    assert_clean(at)
    meeting = meetings(store, "D1", scope=ALL)[0]
    assert meeting.started_by == "chair"
    # Only the district's own rows are frozen: never the whole registry's, never Swat's.
    assert set(meeting_figures(store, meeting, scope=ALL)["area_id"]) == {"D1"}


def test_an_unexpected_error_is_a_plain_message(meeting_registry_url: str, monkeypatch):
    def broken(*args, **kwargs):
        raise ZeroDivisionError("boom")

    from views import gaps
    monkeypatch.setattr(gaps, "highest_exclusion", broken)
    at = run_app({"level": "2", "area": "D1"})
    at.switch_page(PAGE).run()
    assert not at.exception
    assert "Something went wrong while drawing this page" in at.error[0].value
    assert "boom" not in at.error[0].value
