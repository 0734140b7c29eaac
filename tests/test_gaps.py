"""The meeting page's plain logic (views.gaps) and its brief (exports.brief), on frames
written by hand: ranking, ties, missing values, areas outside the district, changes, meeting
choice, action points, and the HTML brief."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

import pandas as pd
import pytest

from data_access.meetings import ActionPoint, changes
from exports import brief as briefs
from indicators.catalogue import BY_ID
from views import gaps

AS_OF = dt.date(2026, 10, 31)

AREAS = pd.DataFrame(
    [("P", "Province", 1, None), ("D1", "Peshawar", 2, "P"), ("D2", "Swat", 2, "P"),
     ("T1", "City", 3, "D1"), ("T2", "Rural", 3, "D1"), ("T3", "Mingora", 3, "D2"),
     ("U1", "Alpha", 4, "T1"), ("U2", "Bravo", 4, "T1"), ("U3", "Charlie", 4, "T2"),
     ("U4", "Delta", 4, "T2"), ("U5", "Echo", 4, "T3")],
    columns=["area_id", "name", "level", "parent_id"])


def row(indicator_id: str, area_id: str | None, numerator: int | None,
        denominator: int | None, value: float | None = None, *, programme_id: str | None = None,
        breakdown: str | None = None, area_name: str | None = None) -> dict:
    if value is None and numerator is not None and denominator:
        value = numerator / denominator
    return {"indicator_id": indicator_id, "area_id": area_id,
            "area_name": area_name or (dict(zip(AREAS.area_id, AREAS.name, strict=True))
                                       .get(area_id, "All areas")),
            "level": None, "programme_id": programme_id, "breakdown": breakdown,
            "period_start": None, "period_end": AS_OF, "numerator": numerator,
            "denominator": denominator, "value": value}


def frame(*rows: dict) -> pd.DataFrame:
    out = pd.DataFrame(list(rows))
    for column in ("numerator", "denominator"):
        out[column] = pd.array(out[column], dtype="Int64")
    out["value"] = pd.array(out["value"], dtype="Float64")
    return out


# Areas ------------------------------------------------------------------------------------

def test_areas_within_a_district_are_its_lowest_level_descendants():
    assert gaps.lowest_level(AREAS, default=2) == 4
    assert gaps.lowest_level(AREAS.iloc[0:0], default=2) == 2
    assert sorted(gaps.areas_within(AREAS, "D1", 4)) == ["U1", "U2", "U3", "U4"]
    assert gaps.areas_within(AREAS, "U5", 4) == ["U5"]
    assert gaps.areas_within(AREAS, "nowhere", 4) == []


# Lowest coverage of the poor ------------------------------------------------------------------

def test_lowest_coverage_ranks_the_district_areas_lowest_first():
    figures = frame(
        row("cov.poor_households", "U1", 8, 10),    # 80 %, 2 left out
        row("cov.poor_households", "U2", 1, 2),     # 50 %
        row("cov.poor_households", "U3", 30, 40),   # 75 %
        row("cov.poor_households", "U4", 3, 4),     # 75 %, tie with U3 but fewer left out
        row("cov.poor_households", "U5", 0, 100),   # 0 %, but in Swat: excluded
        row("cov.poor_households", "D1", 42, 56),   # the district itself: not a union council
        row("cov.poor_households", "U1", 1, 2, breakdown="sex=F"),  # breakdown rows ignored
    )
    gap = gaps.lowest_coverage(figures, gaps.areas_within(AREAS, "D1", 4),
                               name_label="Union council")
    assert gap.table["id"].tolist() == ["U2", "U3", "U4", "U1"]
    assert gap.table["Name"].tolist() == ["Bravo", "Charlie", "Delta", "Alpha"]
    assert gap.table["Value"].tolist() == [50.0, 75.0, 75.0, 80.0]
    assert gap.table["Numerator"].tolist() == [1, 30, 3, 8]
    assert gap.table["Denominator"].tolist() == [2, 40, 4, 10]
    assert gap.table["Shown"].tolist() == ["50.0%", "75.0%", "75.0%", "80.0%"]
    assert gap.unranked == 0
    assert gap.name_label == "Union council"


def test_lowest_coverage_leaves_out_full_coverage_and_nothing_to_count():
    figures = frame(
        row("cov.poor_households", "U1", 10, 10),   # no gap
        row("cov.poor_households", "U2", 0, 0),     # no poor household: no value
        row("cov.poor_households", "U3", 2, 3),
        # U4 has no row at all
    )
    gap = gaps.lowest_coverage(figures, ["U1", "U2", "U3", "U4"], name_label="UC")
    assert gap.table["id"].tolist() == ["U3"]
    assert gap.unranked == 3
    assert "{count}" in gap.unranked_note


def test_lowest_coverage_ties_fall_back_to_the_name_and_keep_the_top():
    figures = frame(*(row("cov.poor_households", a, 1, 2, area_name=n)
                      for a, n in [("U1", "Zeta"), ("U2", "Alpha"), ("U3", "Mu"),
                                   ("U4", "Beta")]))
    gap = gaps.lowest_coverage(figures, ["U1", "U2", "U3", "U4"], name_label="UC", top=3)
    assert gap.table["Name"].tolist() == ["Alpha", "Beta", "Mu"]


def test_lowest_coverage_of_nothing_is_an_empty_table():
    empty = frame(row("cov.poor_households", "U5", 1, 2))
    gap = gaps.lowest_coverage(empty, ["U1"], name_label="UC")
    assert gap.table.empty
    assert list(gap.table.columns) == list(gaps.GAP_COLUMNS)
    assert gap.empty_note


# Exclusion error by programme -----------------------------------------------------------------

PROGRAMMES = {"bisp": "BISP Kafaalat", "sehat": "Sehat card", "food": "Food support",
              "skills": "Skills training"}


def test_highest_exclusion_ranks_the_district_programmes():
    figures = frame(
        row("cov.exclusion", "D1", 4, 8, programme_id="bisp"),     # 50 %
        row("cov.exclusion", "D1", 30, 40, programme_id="sehat"),  # 75 %
        row("cov.exclusion", "D1", 3, 4, programme_id="food"),     # 75 %, fewer excluded
        row("cov.exclusion", "D1", 0, 9, programme_id="skills"),   # none excluded
        row("cov.exclusion", "D1", 0, 0, programme_id="ghost"),    # nothing to count
        row("cov.exclusion", "D2", 9, 9, programme_id="bisp"),     # another district
        row("cov.exclusion", None, 90, 100, programme_id="bisp"),  # the whole registry
    )
    gap = gaps.highest_exclusion(figures, "D1", PROGRAMMES)
    assert gap.table["id"].tolist() == ["sehat", "food", "bisp"]
    assert gap.table["Name"].tolist() == ["Sehat card", "Food support", "BISP Kafaalat"]
    assert gap.table["Value"].tolist() == [75.0, 75.0, 50.0]
    assert gap.unranked == 2
    assert gap.name_label == "Programme"


def test_highest_exclusion_names_unknown_programmes_by_id():
    figures = frame(row("cov.exclusion", "D1", 1, 2, programme_id="new_scheme"))
    assert gaps.highest_exclusion(figures, "D1", {}).table["Name"].tolist() == ["new_scheme"]


# Overdue referrals by access point ------------------------------------------------------------

def test_most_overdue_access_points_from_the_district_breakdown_rows():
    figures = frame(
        row("ref.overdue", "D1", 9, 20),  # the district's own row: not an access point
        row("ref.overdue", "D1", 3, 10, breakdown="access_point=AP1"),
        row("ref.overdue", "D1", 3, 4, breakdown="access_point=AP2"),   # tie: higher share
        row("ref.overdue", "D1", 5, 5, breakdown="access_point=AP9"),   # not in the table
        row("ref.overdue", "D1", 0, 2, breakdown="access_point=AP3"),   # none overdue
        row("ref.overdue", "D1", 1, 1, programme_id="bisp"),
        row("ref.overdue", "D2", 7, 7, breakdown="access_point=AP4"),
        row("ref.made", "D1", 30, None, 30.0, breakdown="access_point=AP5"),
    )
    points = pd.DataFrame({"access_point_id": ["AP1", "AP2", "AP3", "AP4"],
                           "name": ["Desk one", "Desk two", "Camp", None]})
    gap = gaps.most_overdue_access_points(figures, "D1", points)
    assert gap.table["id"].tolist() == ["AP9", "AP2", "AP1"]
    assert gap.table["Name"].tolist() == ["AP9", "Desk two", "Desk one"]
    assert gap.table["Numerator"].tolist() == [5, 3, 3]
    assert gap.unranked == 1


def test_no_overdue_referral_is_an_empty_gap():
    figures = frame(row("ref.overdue", "D1", 0, 0))
    gap = gaps.most_overdue_access_points(figures, "D1", None)
    assert gap.table.empty and gap.unranked == 0


# Double dipping ------------------------------------------------------------------------------

def test_double_dipping_summary_and_worst_areas():
    district = frame(row("dup.double_dipping", "D1", 3, 129),
                     row("dup.double_dipping", "D2", 9, 10))
    children = frame(
        row("dup.double_dipping", "U1", 1, 4),     # 25 %
        row("dup.double_dipping", "U2", 1, 1),     # 100 %: same count, higher share first
        row("dup.double_dipping", "U3", 2, 100),   # most households
        row("dup.double_dipping", "U4", 0, 50),
        row("dup.double_dipping", "U5", 9, 10),    # Swat
    )
    gap = gaps.double_dipping(district, children, "D1", "Peshawar",
                              gaps.areas_within(AREAS, "D1", 4), name_label="Union council")
    assert gap.table["id"].tolist() == ["U3", "U2", "U1"]
    assert gap.unranked == 1
    assert gap.summary == "Peshawar: 2.3% (3 of 129)"


def test_double_dipping_summary_with_nothing_to_count():
    district = frame(row("dup.double_dipping", "D1", 0, 0))
    gap = gaps.double_dipping(district, district.iloc[0:0], "D1", "Peshawar", [],
                              name_label="UC")
    assert "nothing to count" in gap.summary
    assert gaps.double_dipping(district, district, "D9", "Nowhere", [],
                               name_label="UC").summary is None


# Changes -----------------------------------------------------------------------------------------

@pytest.mark.parametrize(("indicator_id", "change", "text"), [
    ("cov.poor_households", 0.025, "+2.5 pts"),
    ("cov.poor_households", -0.1333, "-13.3 pts"),
    ("cov.poor_households", 0.00001, "0 pts"),
    ("ref.made", 12.0, "+12"),
    ("ref.made", -1234.0, "-1,234"),
    ("ref.days_to_complete", 1.25, "+1.2 days"),
    ("pkg.mean_programmes_poor", -0.5, "-0.50"),
    (None, 3.0, "+3"),
    ("cov.population", None, None),
])
def test_changes_read_in_the_indicator_unit(indicator_id, change, text):
    indicator = BY_ID[indicator_id] if indicator_id else None
    assert gaps.format_change(indicator, change) == text


@dataclass(frozen=True)
class Figure:
    """Stands for views.figure_cards.FigureCard."""

    key: str
    label: str
    definition: str
    indicator: object
    value: float | None
    numerator: int | None = None
    denominator: int | None = None
    whole_registry_only: bool = False

    @property
    def text(self) -> str:
        if self.indicator is None:
            return "–" if self.value is None else f"{self.value:,.0f}"
        return self.indicator.format_value(self.value)


def figures_of(households: float | None, poor: float | None, overdue: float,
               invalid: float) -> list[Figure]:
    return [
        Figure("households", "Registered households", "households registered", None, households),
        Figure("cov.poor_households", "Coverage of the poor", "…",
               BY_ID["cov.poor_households"], poor, 8, 10),
        Figure("ref.overdue", "Referrals overdue", "…", BY_ID["ref.overdue"], overdue, 1, 4),
        Figure("ref.made", "Referrals made", "…", BY_ID["ref.made"], 3.0),
        Figure("dq.invalid_rows", "Rows left out", "…", BY_ID["dq.invalid_rows"], invalid,
               whole_registry_only=True),
    ]


def test_headline_cards_pair_the_figures_with_the_previous_meeting():
    now = frame(row("cov.poor_households", "D1", 8, 10), row("ref.overdue", "D1", 1, 4),
                row("ref.made", "D1", 3, None, 3.0))
    before = frame(row("cov.poor_households", "D1", 7, 10), row("ref.overdue", "D1", 1, 2),
                   row("ref.made", "D1", 3, None, 3.0))
    delta = changes(now, before, ["cov.poor_households", "ref.overdue", "ref.made"], "D1")
    cards = {c.key: c for c in gaps.headline_cards(
        figures_of(120, 0.8, 0.25, 0.01), figures_of(100, 0.7, 0.5, 0.02), delta)}
    assert cards["households"].change_text == "+20"
    assert cards["households"].delta_color == "off"  # a volume is neither good nor bad
    assert cards["households"].previous_text == "100"
    poor = cards["cov.poor_households"]
    assert (poor.text, poor.previous_text, poor.change_text) == ("80.0%", "70.0%", "+10.0 pts")
    assert poor.delta_color == "normal" and poor.delta_arrow == "auto"
    overdue = cards["ref.overdue"]
    assert overdue.change_text == "-25.0 pts"
    assert overdue.delta_color == "inverse"  # fewer overdue is better: shown green
    made = cards["ref.made"]
    assert made.change_text == "0" and made.delta_arrow == "off" and made.delta_color == "off"
    assert cards["ref.made"].delta_color == "off"
    invalid = cards["dq.invalid_rows"]  # whole registry only: the figures' own values
    assert invalid.change_text == "-1.0 pts" and invalid.whole_registry_only


def test_a_change_that_rounds_to_nothing_is_grey():
    cards = {c.key: c for c in gaps.headline_cards(figures_of(100, 0.8, 0.2500004, 0.01),
                                                   figures_of(100, 0.8, 0.25, 0.01))}
    overdue = cards["ref.overdue"]
    assert overdue.change and overdue.change_text == "0 pts"
    assert (overdue.delta_color, overdue.delta_arrow) == ("off", "off")


def test_headline_cards_without_a_previous_meeting_have_no_change():
    cards = gaps.headline_cards(figures_of(120, 0.8, 0.25, 0.01), None)
    assert all(c.change is None and c.change_text is None and c.previous_text is None
               for c in cards)


def test_a_missing_value_has_no_change():
    cards = {c.key: c for c in gaps.headline_cards(figures_of(None, None, 0.25, 0.01),
                                                   figures_of(100, 0.7, 0.25, 0.01))}
    assert cards["households"].change is None
    assert cards["households"].previous_text == "100"


# Which meeting -----------------------------------------------------------------------------------

@dataclass(frozen=True)
class M:
    meeting_id: int
    as_of: dt.date
    started_at: dt.datetime = dt.datetime(2026, 11, 1, 9, 0)


def test_the_meeting_in_progress_is_the_newest_of_the_as_of_date():
    july, august, august2, october = (M(1, dt.date(2026, 7, 31)), M(2, dt.date(2026, 8, 31)),
                                      M(3, dt.date(2026, 8, 31)), M(4, dt.date(2026, 10, 31)))
    newest_first = [october, august2, august, july]
    state = gaps.meeting_state(newest_first, dt.date(2026, 8, 31))
    assert state.current == august2
    assert state.previous == july  # never the restarted meeting of the same date
    assert state.later == october


def test_without_a_meeting_at_the_date_the_change_is_since_the_last_earlier_one():
    july, october = M(1, dt.date(2026, 7, 31)), M(2, dt.date(2026, 10, 31))
    state = gaps.meeting_state([october, july], dt.date(2026, 9, 30))
    assert (state.current, state.previous, state.later) == (None, july, october)
    assert gaps.meeting_state([], AS_OF) == gaps.MeetingState(None, None, None)


def test_meeting_rows_keep_the_district_and_the_whole_registry_if_seen():
    figures = frame(row("cov.poor_households", "D1", 1, 2), row("cov.poor_households", "D2", 1, 2),
                    row("cov.poor_households", None, 2, 4))
    assert gaps.snapshot_rows(figures, "D1", True)["area_id"].fillna("").tolist() == ["D1", ""]
    assert gaps.meeting_rows(figures, "D1", False)["area_id"].tolist() == ["D1"]


def test_meeting_indicator_ids_add_the_gap_indicators_once():
    ids = gaps.meeting_indicator_ids(("cov.poor_households", "ref.overdue"))
    assert ids == ("cov.poor_households", "ref.overdue", "cov.exclusion", "dup.double_dipping")


# Action points ------------------------------------------------------------------------------------

def point(action_id: int, due: dt.date, *, status: str = "open", text: str = "Visit",
          meeting_id: int | None = 1, closed_on: int | None = None) -> ActionPoint:
    return ActionPoint(
        action_id=action_id, meeting_id=meeting_id, area_id="D1", text=text, owner="Tehsil office",
        due_on=due, status=status, created_at=dt.datetime(2026, 9, 1, 10, 0),
        created_by="chair", closed_at=dt.datetime(2026, 11, 1, 10, 0) if status == "closed" else None,
        closed_by="chair" if status == "closed" else None, closed_on_meeting_id=closed_on)


def test_action_rows_flag_the_overdue_ones():
    points = [point(1, dt.date(2026, 10, 1)), point(2, AS_OF), point(3, dt.date(2026, 10, 30)),
              point(4, dt.date(2026, 1, 1), status="closed", closed_on=2)]
    rows = gaps.action_rows(points, AS_OF, {1: dt.date(2026, 8, 31), 2: AS_OF})
    assert rows["Overdue"].tolist() == [True, False, True, False]
    assert rows["Status"].tolist() == ["Overdue by 30 days", "Open", "Overdue by 1 day", "Closed"]
    assert rows["Raised"].iloc[0] == "meeting of 2026-08-31"
    assert rows["Closed"].iloc[3] == "2026-11-01 10:00 UTC · meeting of 2026-10-31 · chair"
    assert [p.action_id for p in gaps.overdue_points(points, AS_OF)] == [1, 3]
    assert [p.action_id for p in gaps.closed_at(points, M(2, AS_OF))] == [4]
    assert gaps.closed_at(points, None) == []


def test_no_action_point_is_an_empty_table_with_the_columns():
    rows = gaps.action_rows([], AS_OF)
    assert rows.empty and list(rows.columns) == list(gaps.ACTION_COLUMNS)


def test_close_choices_list_open_points_only_and_shorten_long_texts():
    long_text = "Reconcile the enrolment lists of every union council " * 3
    choices = gaps.close_choices([point(1, dt.date(2026, 10, 1), text=long_text),
                                  point(2, dt.date(2026, 12, 1)),
                                  point(3, AS_OF, status="closed")], AS_OF)
    assert list(choices) == [1, 2]
    assert choices[1].startswith("#1 · Reconcile") and choices[1].endswith("— overdue")
    assert "…" in choices[1]
    assert choices[2] == "#2 · Visit (Tehsil office, due 2026-12-01)"


@pytest.mark.parametrize(("text", "owner", "due", "problems"), [
    ("Visit", "Office", AS_OF, 0),
    ("  ", "Office", AS_OF, 1),
    ("Visit", "", None, 2),
])
def test_a_new_action_point_needs_text_owner_and_due_date(text, owner, due, problems):
    assert len(gaps.action_point_problems(text, owner, due)) == problems


def test_default_due_date_is_thirty_days_after_the_as_of_date():
    assert gaps.default_due(AS_OF) == dt.date(2026, 11, 30)


# The brief ------------------------------------------------------------------------------------

def sample_brief(**changes) -> briefs.Brief:
    now = figures_of(120, 0.8, 0.25, 0.01)
    cards = gaps.headline_cards(now, figures_of(100, 0.7, 0.5, 0.02))
    coverage = gaps.lowest_coverage(frame(row("cov.poor_households", "U1", 1, 2,
                                              area_name="Alpha <script>")),
                                    ["U1"], name_label="Union council")
    exclusion = gaps.highest_exclusion(frame(row("cov.exclusion", "D1", 0, 0, programme_id="x")),
                                       "D1", {})
    points = gaps.action_rows([point(1, dt.date(2026, 10, 1), text="Visit <b>UC</b> & report"),
                               point(2, dt.date(2026, 12, 1), text="Clean duplicates")], AS_OF)
    fields = dict(
        area_name="Peshawar & Co", level_name="District", as_of=AS_OF,
        period_start=dt.date(2026, 8, 1), meeting="the meeting of 2026-11-29 10:00 UTC",
        previous="the meeting of 2026-10-01 10:00 UTC (figures as of 2026-09-30)",
        registry_loaded="2026-11-28 08:00", cards=cards, gaps=[coverage, exclusion],
        open_points=points.to_dict("records"),
        closed_points=gaps.action_rows([point(3, AS_OF, status="closed", text="Old task",
                                              closed_on=2)], AS_OF).to_dict("records"),
        generated_at=dt.datetime(2026, 11, 29, 10, 5),
    )
    fields.update(changes)
    return briefs.Brief(**fields)


def test_brief_holds_the_figures_changes_gaps_and_action_points():
    page = briefs.build_brief(sample_brief())
    assert page.startswith("<!DOCTYPE html>")
    assert "Committee meeting brief — Peshawar &amp; Co" in page
    assert "figures as of 2026-10-31" in page and "from 2026-08-01" in page
    assert "Registry last loaded: 2026-11-28 08:00." in page
    for text in ("Coverage of the poor", "80.0%", "70.0%", "+10.0 pts", "-25.0 pts",
                 "Previous meeting", "Change", "Lowest coverage of the poor", "50.0%",
                 "Highest exclusion error", "No programme leaves out an eligible unit here.",
                 "Clean duplicates", "Old task", "Closed at this meeting", "1 overdue."):
        assert text in page, text
    assert page.count('<tr class="overdue">') == 1
    assert 'class="num up-good"' in page  # coverage went up: good
    assert 'class="num down-good"' in page  # overdue went down: good


def test_brief_escapes_what_it_is_given():
    page = briefs.build_brief(sample_brief())
    assert "<script>" not in page and "Alpha &lt;script&gt;" in page
    assert "Visit &lt;b&gt;UC&lt;/b&gt; &amp; report" in page


def test_brief_is_self_contained_and_print_ready():
    page = briefs.build_brief(sample_brief())
    assert "@media print" in page and "size: A4" in page
    assert not re.search(r"(src|href)\s*=|@import|url\(|https?://", page)
    assert "<script" not in page
    assert briefs.brief_bytes(sample_brief()).decode("utf-8") == page


def test_brief_without_meetings_or_action_points_says_so():
    page = briefs.build_brief(sample_brief(meeting=None, previous=None, open_points=[],
                                           closed_points=[]))
    assert "No meeting has been started at this as-of date" in page
    assert "No earlier meeting to compare with." in page
    assert "No open action point." in page
    assert "Previous meeting" not in page


def test_brief_file_name_is_safe():
    assert briefs.file_name("PK601", AS_OF) == "meeting-brief-PK601-2026-10-31.html"
    assert briefs.file_name("../a b", AS_OF) == "meeting-brief-a_b-2026-10-31.html"
