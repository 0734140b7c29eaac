"""Committee meetings and action points in the app store, on a SQLite file and on PostgreSQL."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest
import sqlalchemy as sa

from data_access.meetings import (
    action_points,
    add_action_point,
    changes,
    close_action_point,
    get_meeting,
    latest_meeting,
    meetings,
    previous_meeting,
    set_meeting_notes,
    start_meeting,
)
from data_access.scope import Scope  # noqa: E402
from data_access.snapshots import snapshot_dates, snapshots
from indicators.catalogue import LONG_FORM_COLUMNS
from indicators.figures import meeting_figures

ALL = Scope.everything()  # a whole-registry admin: these tests are not about scope

AS_OF = dt.date(2026, 10, 31)
PERIOD_START = dt.date(2026, 8, 1)
PARAMETERS = {"poverty_cutoff": 32.0, "referral_sla_days": 30, "period_months": 3}


def long_form(poor: float | None, overdue: float | None, population: float) -> pd.DataFrame:
    """A small long form with the engine's dtypes: district D1, its tehsil T1, whole registry."""
    def row(indicator_id, area_id, num, den, value, *, programme_id=None, breakdown=None,
            flow=False):
        return {
            "indicator_id": indicator_id, "area_id": area_id,
            "area_name": {"D1": "Peshawar", "T1": "Peshawar City", None: "All areas"}[area_id],
            "level": {"D1": 2, "T1": 3, None: None}[area_id], "programme_id": programme_id,
            "breakdown": breakdown, "period_start": PERIOD_START if flow else None,
            "period_end": AS_OF, "numerator": num, "denominator": den, "value": value,
        }
    rows = [
        row("cov.programme", "D1", 3, 4, 0.75, programme_id="bisp_kafaalat"),
        row("cov.poor_households", "D1", None if poor is None else int(poor * 8), 8, poor),
        row("cov.poor_households", None, 20, 40, 0.5),
        row("cov.population", "D1", int(population * 16), 16, population),
        row("cov.population", "D1", 2, 8, 0.25, breakdown="sex=F"),
        row("ref.overdue", "D1", None if overdue is None else int(overdue * 4), 4, overdue,
            flow=True),
        row("ref.overdue", "T1", 1, 2, 0.5, flow=True),
        row("ref.days_to_complete", "D1", None, None, None, flow=True),
        row("dq.invalid_rows", None, 3, 300, 0.01),
    ]
    frame = pd.DataFrame(rows, columns=list(LONG_FORM_COLUMNS))
    for col in ("level", "numerator", "denominator"):
        frame[col] = frame[col].astype("Int64")
    frame["value"] = frame["value"].astype("Float64")
    for col in ("indicator_id", "area_id", "area_name", "programme_id", "breakdown",
                "period_start", "period_end"):
        frame[col] = frame[col].astype(object).where(frame[col].notna(), None)
    return frame


def start(store: sa.Engine, figures: pd.DataFrame, area_id: str = "D1", by: str = "chair"):
    return start_meeting(store, area_id=area_id, area_name="Peshawar", as_of=AS_OF,
                         started_by=by, figures=figures, level=2, period_start=PERIOD_START,
                         period_end=AS_OF, parameters=PARAMETERS, scope=ALL)


def test_meeting_freezes_its_figures(store: sa.Engine):
    first_figures = long_form(poor=0.5, overdue=0.25, population=0.5)
    first = start(store, first_figures)
    second = start(store, long_form(poor=0.75, overdue=None, population=0.625), by="officer")

    assert (first.area_id, first.as_of, first.started_by, first.level) == ("D1", AS_OF,
                                                                           "chair", 2)
    assert (first.period_start, first.period_end, first.notes) == (PERIOD_START, AS_OF, None)
    pd.testing.assert_frame_equal(meeting_figures(store, first, scope=ALL), first_figures)
    # The same day, the same area: two meetings, two meeting snapshots, none replaced.
    assert second.meeting_id != first.meeting_id
    assert second.snapshot_id != first.snapshot_id
    assert [s.source for s in snapshots(store)] == ["meeting", "meeting"]
    assert snapshot_dates(store, 2) == []  # command snapshots only by default
    assert meeting_figures(store, second, scope=ALL)["value"].iloc[1] == 0.75

    assert [m.meeting_id for m in meetings(store, "D1", scope=ALL)] == [second.meeting_id,
                                                              first.meeting_id]
    assert meetings(store, "D2", scope=ALL) == []
    assert latest_meeting(store, "D1", scope=ALL) == second
    assert latest_meeting(store, "D1", before=first.started_at, scope=ALL) is None
    aware = (second.started_at).replace(tzinfo=dt.UTC)
    assert latest_meeting(store, "D1", before=aware, scope=ALL) == first
    assert previous_meeting(store, second, scope=ALL) == first
    assert previous_meeting(store, first, scope=ALL) is None
    assert get_meeting(store, first.meeting_id, scope=ALL) == first

    set_meeting_notes(store, first.meeting_id, "  Quorum reached. ", scope=ALL)
    assert get_meeting(store, first.meeting_id, scope=ALL).notes == "Quorum reached."
    with pytest.raises(KeyError, match="no meeting 999"):
        set_meeting_notes(store, 999, "x", scope=ALL)


def test_action_points_raised_then_closed_at_a_later_meeting(store: sa.Engine):
    figures = long_form(poor=0.5, overdue=0.25, population=0.5)
    first = start(store, figures)
    due_soon, due_later = dt.date(2026, 11, 15), dt.date(2026, 12, 31)
    visit = add_action_point(store, area_id="D1", text="  Visit the union councils with "
                             "overdue referrals ", owner="District officer", due_on=due_soon,
                             meeting_id=first.meeting_id, created_by="chair", scope=ALL)
    list_check = add_action_point(store, area_id="T1", text="Check the BISP list",
                                  owner="Tehsil focal person", due_on=due_later,
                                  meeting_id=first.meeting_id, created_by="chair", scope=ALL)
    other = add_action_point(store, area_id="D2", text="Elsewhere", owner="Someone",
                             due_on=due_soon, created_by="chair", scope=ALL)
    assert visit.text == "Visit the union councils with overdue referrals"
    assert (visit.status, visit.meeting_id, visit.closed_at) == ("open", first.meeting_id, None)
    assert other.meeting_id is None

    assert [a.action_id for a in action_points(store, "D1", scope=ALL)] == [visit.action_id]
    both = action_points(store, "D1", include_descendants=["T1"], scope=ALL)
    assert [a.action_id for a in both] == [visit.action_id, list_check.action_id]  # by due date

    on = dt.date(2026, 11, 20)
    assert [a.overdue(on) for a in both] == [True, False]
    assert not visit.overdue(due_soon)  # due today is not overdue yet

    second = start(store, long_form(poor=0.75, overdue=0.5, population=0.5))
    closed = close_action_point(store, visit.action_id, meeting_id=second.meeting_id,
                                closed_by="chair", scope=ALL)
    assert (closed.status, closed.closed_by, closed.closed_on_meeting_id) == (
        "closed", "chair", second.meeting_id)
    assert closed.closed_at is not None and closed.closed_at >= closed.created_at
    assert not closed.overdue(on)

    still_open = action_points(store, "D1", status="open", include_descendants=["T1"], scope=ALL)
    assert [a.action_id for a in still_open] == [list_check.action_id]
    done = action_points(store, "D1", status="closed", include_descendants=["T1"], scope=ALL)
    assert [a.action_id for a in done] == [visit.action_id]
    assert [a.action_id for a in action_points(store, "D2", status="open", scope=ALL)] == [other.action_id]

    with pytest.raises(ValueError, match="already closed"):
        close_action_point(store, visit.action_id, closed_by="chair", scope=ALL)
    with pytest.raises(KeyError, match="no action point 999"):
        close_action_point(store, 999, closed_by="chair", scope=ALL)
    with pytest.raises(ValueError, match="`meeting_id` 999 is not a meeting"):
        close_action_point(store, list_check.action_id, meeting_id=999, closed_by="chair", scope=ALL)
    with pytest.raises(ValueError, match="unknown status `done`"):
        action_points(store, "D1", status="done", scope=ALL)


@pytest.mark.parametrize(("changes_to", "message"), [
    ({"text": ""}, "`text` is empty"),
    ({"text": "   "}, "`text` is empty"),
    ({"owner": ""}, "`owner` is empty"),
    ({"owner": None}, "`owner` is empty"),
    ({"due_on": None}, "`due_on` is missing"),
    ({"due_on": "2026-12-01"}, "`due_on` must be a date"),
    ({"area_id": " "}, "`area_id` is empty"),
    ({"created_by": ""}, "`created_by` is empty"),
    ({"meeting_id": 12345}, "`meeting_id` 12345 is not a meeting"),
])
def test_action_point_validation_names_the_field(store: sa.Engine, changes_to, message):
    fields = {"area_id": "D1", "text": "Do it", "owner": "Officer",
              "due_on": dt.date(2026, 12, 1), "created_by": "chair", **changes_to}
    with pytest.raises(ValueError, match=message):
        add_action_point(store, **fields, scope=ALL)
    assert action_points(store, "D1", scope=ALL) == []


def test_changes_between_two_meetings(store: sa.Engine):
    first = start(store, long_form(poor=0.5, overdue=0.25, population=0.5))
    second = start(store, long_form(poor=0.75, overdue=None, population=0.625))
    ids = ["cov.poor_households", "ref.overdue", "cov.population", "cov.programme",
           "ref.days_to_complete", "dq.invalid_rows"]
    previous = previous_meeting(store, second, scope=ALL)
    got = changes(meeting_figures(store, second, scope=ALL), meeting_figures(store, previous, scope=ALL), ids, "D1")
    assert list(got.columns) == ["indicator_id", "previous", "current", "change"]
    assert got.to_dict("records") == [
        {"indicator_id": "cov.poor_households", "previous": 0.5, "current": 0.75,
         "change": 0.25},
        {"indicator_id": "ref.overdue", "previous": 0.25, "current": None, "change": None},
        {"indicator_id": "cov.population", "previous": 0.5, "current": 0.625,
         "change": 0.125},  # the total, not the sex=F breakdown row
        # rows per programme only: no value without programme
        {"indicator_id": "cov.programme", "previous": None, "current": None, "change": None},
        {"indicator_id": "ref.days_to_complete", "previous": None, "current": None,
         "change": None},
        # whole-registry only: nothing for D1
        {"indicator_id": "dq.invalid_rows", "previous": None, "current": None, "change": None},
    ]
    whole = changes(meeting_figures(store, second, scope=ALL), meeting_figures(store, first, scope=ALL),
                    ["cov.poor_households", "dq.invalid_rows"], None)
    assert list(whole["change"]) == [0.0, 0.0]
    tehsil = changes(meeting_figures(store, second, scope=ALL), None, ["ref.overdue"], "T1")
    assert tehsil.to_dict("records") == [
        {"indicator_id": "ref.overdue", "previous": None, "current": 0.5, "change": None}]
