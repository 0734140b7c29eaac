"""The committee meeting's figures, worked out in plain Python for ``pages/meeting.py``.

- **Which meeting.** ``meeting_state`` picks, among a district's meetings, the one *in
  progress* (the newest meeting of the chosen as-of date: its figures are frozen, so everyone
  discusses the same numbers) and the *previous* one (the newest earlier meeting whose as-of
  date is before it), which the change is measured against. Meetings of a later as-of date
  are never compared with: they are reported as ``later``.
- **What is frozen.** Starting a meeting stores the district's own rows of the district-level
  long form (the headline indicators and the district-level gap indicators, by programme and
  by access point) plus the whole registry's rows when the user sees the whole registry
  (``snapshot_rows``). One snapshot has one level; the union-council gaps are read live from
  the registry at the meeting's as-of date.
- **Changes.** ``headline_cards`` pairs each headline figure with the previous meeting's and
  formats the change (percentage points for rates).
- **Gaps.** The biggest gaps of the district, each a ranked table of the rows that have
  something to fix: union councils with the lowest coverage of the poor, programmes with the
  highest exclusion error, access points with the most overdue referrals, union councils
  with the most double dipping. Ties are broken by the size of the gap, then by name.
- **Action points.** Rows for the tables (overdue ones flagged), checks of a new action point,
  labels of the close choices.

Texts are English, through ``i18n.t`` where they are composed here; labels and definitions
from the catalogue stay English for the page to translate. No Streamlit, no SQL: the page
passes the frames and the app store's objects (duck-typed: ``Meeting`` and ``ActionPoint``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd

from core.i18n import N_, format_date, format_number, t
from core.values import as_float
from data_access.areas import AreaTree, UnknownAreaError
from indicators.catalogue import ACCESS_POINT, BY_ID, Indicator
from views.figure_cards import FigureCard

TOP = 5  # rows of each gap table
DEFAULT_DUE_DAYS = 30  # an action point's default due date: as-of date + 30 days
SHORT_TEXT = 60  # characters of an action point shown in a choice list

# Indicators read at the district's level besides the headline ones, and at the lowest level.
DISTRICT_GAP_IDS: tuple[str, ...] = ("cov.exclusion", "ref.overdue", "dup.double_dipping")
CHILD_GAP_IDS: tuple[str, ...] = ("cov.poor_households", "dup.double_dipping")

GAP_COLUMNS: tuple[str, ...] = ("id", "Name", "Value", "Numerator", "Denominator", "Shown")
ACTION_COLUMNS: tuple[str, ...] = (
    "action_id", "Action", "Owner", "Due", "Status", "Overdue", "Raised", "Closed",
)


def meeting_indicator_ids(headline_ids: Iterable[str]) -> tuple[str, ...]:
    """The district-level indicators the page computes and a meeting freezes."""
    return tuple(dict.fromkeys((*headline_ids, *DISTRICT_GAP_IDS)))


# Areas ---------------------------------------------------------------------------------------

def lowest_level(areas: pd.DataFrame, default: int) -> int:
    """The deepest level among ``areas`` (``default`` when there are none)."""
    levels = pd.to_numeric(areas["level"], errors="coerce").dropna()
    return int(levels.max()) if len(levels) else default


def areas_within(areas: pd.DataFrame, area_id: str, level: int) -> list[str]:
    """The areas of ``level`` inside ``area_id`` (the area itself if it is of that level)."""
    try:
        inside = AreaTree.of(areas).below(area_id)
    except UnknownAreaError:  # not an area of the registry
        return []
    rows = areas[(areas["level"] == level) & areas["area_id"].isin(inside)]
    return list(rows["area_id"])


# Meetings ------------------------------------------------------------------------------------

@dataclass(frozen=True)
class MeetingState:
    """The meeting in progress at the as-of date, the one before it, a later one if any."""

    current: Any | None  # data_access.meetings.Meeting
    previous: Any | None
    later: Any | None

    @property
    def reference(self) -> Any | None:
        """The meeting whose figures the change is measured against."""
        return self.previous


def meeting_state(meetings: Sequence[Any], as_of: dt.date) -> MeetingState:
    """``meetings``: one district's meetings, newest first (data_access.meetings.meetings).

    In progress: the newest meeting of ``as_of``. Previous: the newest meeting started before
    it (before now when none is in progress) whose as-of date is earlier than ``as_of`` — a
    meeting restarted at the same as-of date is never its own comparison. Later: the newest
    meeting of a later as-of date, which is not compared with.
    """
    current = next((m for m in meetings if m.as_of == as_of), None)
    start = meetings.index(current) + 1 if current is not None else 0
    previous = next((m for m in meetings[start:] if m.as_of < as_of), None)
    later = next((m for m in meetings if m.as_of > as_of), None)
    return MeetingState(current=current, previous=previous, later=later)


def meeting_rows(figures: pd.DataFrame, area_id: str, whole_registry: bool) -> pd.DataFrame:
    """The rows of a long form a meeting of ``area_id`` shows and freezes.

    The area's own rows, and the whole registry's (area_id empty) for a user who sees the
    whole registry; other areas' rows are dropped.
    """
    keep = figures["area_id"] == area_id
    if whole_registry:
        keep |= figures["area_id"].isna()
    return figures[keep.fillna(False).astype(bool)].reset_index(drop=True)


def snapshot_rows(figures: pd.DataFrame, area_id: str, whole_registry: bool) -> pd.DataFrame:
    """What "Start meeting" freezes: ``meeting_rows`` of the district-level long form."""
    return meeting_rows(figures, area_id, whole_registry)


def meeting_dates(meetings: Iterable[Any]) -> dict[int, dt.date]:
    """meeting_id -> the meeting's as-of date."""
    return {int(m.meeting_id): m.as_of for m in meetings}


def meeting_parameters(settings: Any) -> dict[str, Any]:
    """The indicator parameters a meeting's snapshot records."""
    return {"poverty_cutoff": float(settings.poverty_cutoff),
            "referral_sla_days": int(settings.referral_sla_days),
            "period_months": int(settings.period_months)}


def when(moment: dt.datetime | None) -> str:
    """A stored (naive UTC) timestamp for people."""
    if moment is None:
        return "–"
    return t("{day} {time} UTC", day=format_date(moment.date()), time=f"{moment:%H:%M}")


def meeting_label(meeting: Any) -> str:
    """“the meeting of 2026-11-29 10:12 UTC (figures as of 2026-10-31)”."""
    return t("the meeting of {when} (figures as of {as_of})", when=when(meeting.started_at),
             as_of=format_date(meeting.as_of))


# Changes -------------------------------------------------------------------------------------

def format_change(indicator: Indicator | None, change: float | None) -> str | None:
    """A change for people: percentage points for rates, the indicator's unit otherwise.

    The sign always shows ("+2.5 pts", "-3", "0 pts"), an ASCII sign before the number in
    every language, as st.metric reads it; the number has the language's separators.
    """
    if change is None:
        return None
    unit = indicator.unit if indicator is not None else "count"
    if unit == "percent":
        number, template, digits = change * 100, N_("{value} pts"), 1
    elif unit == "per_1000":
        number, template, digits = change * 1000, N_("{value} per 1,000"), 2
    elif unit == "days":
        number, template, digits = change, N_("{value} days"), 1
    elif unit == "mean":
        number, template, digits = change, "{value}", 2
    else:
        number, template, digits = change, "{value}", 0
    number = round(number, digits)
    if number == 0:
        return t(template, value="0")
    sign = "+" if number > 0 else "-"
    return t(template, value=sign + format_number(abs(number), digits))


def headline_cards(current: Sequence[Any], previous: Sequence[Any] | None,
                   changes: pd.DataFrame | None = None) -> list[FigureCard]:
    """Cards for the headline figures (``views.figure_cards.headline_figures`` of the current
    figures and of the previous meeting's, None when there is none), each with the previous
    meeting's value and the change (no whole-registry value beside it: the meeting is the
    district's).

    ``changes``: ``data_access.meetings.changes`` of the two long forms for the area; it gives
    the change of the area's indicators. Counts and whole-registry figures (not in it) change
    by the difference of the two figures' values.
    """
    by_id: dict[str, float | None] = {}
    if changes is not None and not changes.empty:
        by_id = {row.indicator_id: as_float(row.change) for row in changes.itertuples()}
    before = {f.key: f for f in previous} if previous is not None else {}
    cards = []
    for figure in current:
        old = before.get(figure.key)
        change = None
        if old is not None:
            if figure.key in by_id and not figure.whole_registry_only:
                change = by_id[figure.key]
            elif figure.value is not None and old.value is not None:
                change = float(figure.value) - float(old.value)
        cards.append(FigureCard(
            key=figure.key, label=figure.label, definition=figure.definition,
            indicator=figure.indicator, value=figure.value, numerator=figure.numerator,
            denominator=figure.denominator, whole_registry_only=figure.whole_registry_only,
            previous_text=old.text if old is not None else None, change=change,
            change_text=format_change(figure.indicator, change),
        ))
    return cards


# Gaps ----------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Gap:
    """A ranked table of one kind of gap in the district.

    ``table`` columns: id, Name, Value (the unit people read: 45.2 for 45.2 %), Numerator,
    Denominator, Shown (the value formatted). Texts are English.
    """

    key: str
    title: str
    name_label: str
    indicator: Indicator
    table: pd.DataFrame
    unranked: int  # rows left out of the ranking: nothing to count, or no gap
    unranked_note: str  # "{count} … are not listed: …"
    empty_note: str  # why the table is empty
    summary: str | None = None  # the district's own figure, when the gap has one


def _plain(figures: pd.DataFrame, indicator_id: str) -> pd.DataFrame:
    rows = figures[(figures["indicator_id"] == indicator_id) & figures["breakdown"].isna()
                   & figures["programme_id"].isna()]
    return rows


def _numbers(rows: pd.DataFrame) -> pd.DataFrame:
    out = rows.copy()
    for column in ("value", "numerator", "denominator"):
        out[column] = pd.to_numeric(out[column], errors="coerce").astype("float64")
    return out


def _table(rows: pd.DataFrame, indicator: Indicator, ids: str, names: pd.Series) -> pd.DataFrame:
    value = rows["value"] * (100 if indicator.unit == "percent" else 1)
    frame = pd.DataFrame({
        "id": rows[ids].astype(str).to_numpy(),
        "Name": names.astype(str).to_numpy(),
        "Value": value.round(2).to_numpy(),
        "Numerator": rows["numerator"].astype("Int64").to_numpy(),
        "Denominator": rows["denominator"].astype("Int64").to_numpy(),
        "Shown": [indicator.format_value(v) for v in rows["value"]],
    })
    return frame.reset_index(drop=True)


def _empty_table() -> pd.DataFrame:
    return pd.DataFrame({column: pd.Series(dtype=object) for column in GAP_COLUMNS})


def _ranked(rows: pd.DataFrame, keys: list[tuple[str, bool]], top: int) -> pd.DataFrame:
    columns = [name for name, _ in keys]
    ascending = [up for _, up in keys]
    return rows.sort_values(columns, ascending=ascending, kind="mergesort").head(top)


def district_summary(figures: pd.DataFrame, indicator_id: str, area_id: str,
                     area_name: str) -> str | None:
    """“Peshawar: 2.3% (3 of 129)” for the district's own row of an indicator."""
    rows = _numbers(_plain(figures, indicator_id))
    rows = rows[rows["area_id"] == area_id]
    if rows.empty:
        return None
    row = rows.iloc[0]
    indicator = BY_ID[indicator_id]
    value = as_float(row["value"])
    if row["denominator"] != row["denominator"] or not row["denominator"]:
        return t("{area}: nothing to count (no {what}).", area=area_name,
                 what=t(indicator.denominator))
    return t("{area}: {value} ({numerator} of {denominator})", area=area_name,
             value=indicator.format_value(value), numerator=format_number(row["numerator"]),
             denominator=format_number(row["denominator"]))


def lowest_coverage(figures: pd.DataFrame, area_ids: Iterable[str], *, name_label: str,
                    top: int = TOP) -> Gap:
    """The areas of ``area_ids`` with the lowest coverage of the poor, poor households left out.

    Areas with no poor household (no value) or covering all of them (no gap) are not ranked.
    Ties: more poor households left out first, then by name.
    """
    indicator = BY_ID["cov.poor_households"]
    wanted = list(dict.fromkeys(area_ids))
    rows = _numbers(_plain(figures, indicator.id))
    rows = rows[rows["area_id"].isin(wanted)].drop_duplicates("area_id")
    rows = rows.assign(left_out=rows["denominator"] - rows["numerator"],
                       name=rows["area_name"].fillna(rows["area_id"]).astype(str))
    gap = rows["value"].notna() & (rows["left_out"] > 0)
    ranked = _ranked(rows[gap], [("value", True), ("left_out", False), ("name", True),
                                 ("area_id", True)], top)
    return Gap(
        key="coverage", title=N_("Lowest coverage of the poor"), name_label=name_label,
        indicator=indicator,
        table=_table(ranked, indicator, "area_id", ranked["name"]) if len(ranked)
        else _empty_table(),
        unranked=len(wanted) - int(gap.sum()),
        unranked_note=N_("{count} more cover every poor household they have, or have none."),
        empty_note=N_("Every area here covers all its poor households (or has none)."),
    )


def highest_exclusion(figures: pd.DataFrame, area_id: str, programmes: Mapping[str, str], *,
                      top: int = TOP) -> Gap:
    """The programmes with the highest exclusion error in ``area_id`` (its per-programme rows).

    Programmes with no eligible unit (no value) or none excluded are not ranked. Ties: more
    eligible units excluded first, then by name.
    """
    indicator = BY_ID["cov.exclusion"]
    rows = figures[(figures["indicator_id"] == indicator.id) & figures["breakdown"].isna()
                   & figures["programme_id"].notna() & (figures["area_id"] == area_id)]
    rows = _numbers(rows).drop_duplicates("programme_id")
    rows = rows.assign(name=[programmes.get(p, p) for p in rows["programme_id"]])
    gap = rows["value"].notna() & (rows["numerator"] > 0)
    ranked = _ranked(rows[gap], [("value", False), ("numerator", False), ("name", True),
                                 ("programme_id", True)], top)
    return Gap(
        key="exclusion", title=N_("Highest exclusion error"), name_label=N_("Programme"),
        indicator=indicator,
        table=_table(ranked, indicator, "programme_id", ranked["name"]) if len(ranked)
        else _empty_table(),
        unranked=len(rows) - int(gap.sum()),
        unranked_note=N_("{count} more programmes exclude no eligible unit, or have none here."),
        empty_note=N_("No programme leaves out an eligible unit here."),
    )


def _access_point_names(access_points: pd.DataFrame | Mapping[str, str] | None) -> dict[str, str]:
    if access_points is None:
        return {}
    if isinstance(access_points, Mapping):
        return {str(k): str(v) for k, v in access_points.items()}
    names = access_points["name"].where(access_points["name"].notna(),
                                        access_points["access_point_id"])
    return dict(zip(access_points["access_point_id"].astype(str), names.astype(str),
                    strict=True))


def most_overdue_access_points(figures: pd.DataFrame, area_id: str,
                               access_points: pd.DataFrame | Mapping[str, str] | None, *,
                               top: int = TOP) -> Gap:
    """The access points with the most overdue referrals of ``area_id``'s households.

    From the area's ``access_point=<id>`` rows of ref.overdue (referrals open at the end of
    the period). Access points with none overdue are not ranked. Ties: the higher share of
    open referrals overdue first, then by name. A missing name shows the id.
    """
    indicator = BY_ID["ref.overdue"]
    prefix = f"{ACCESS_POINT}="
    rows = figures[(figures["indicator_id"] == indicator.id) & figures["programme_id"].isna()
                   & figures["breakdown"].fillna("").astype(str).str.startswith(prefix)
                   & (figures["area_id"] == area_id)]
    rows = _numbers(rows)
    rows = rows.assign(access_point_id=rows["breakdown"].astype(str).str.slice(len(prefix)))
    rows = rows.drop_duplicates("access_point_id")
    names = _access_point_names(access_points)
    rows = rows.assign(name=[names.get(a, a) for a in rows["access_point_id"]])
    gap = rows["numerator"] > 0
    ranked = _ranked(rows[gap], [("numerator", False), ("value", False), ("name", True),
                                 ("access_point_id", True)], top)
    return Gap(
        key="overdue", title=N_("Most overdue referrals"), name_label=N_("Access point"),
        indicator=indicator,
        table=_table(ranked, indicator, "access_point_id", ranked["name"]) if len(ranked)
        else _empty_table(),
        unranked=len(rows) - int(gap.sum()),
        unranked_note=N_("{count} more access points have open referrals, none overdue."),
        empty_note=N_("No referral of the district's households is overdue."),
    )


def double_dipping(district_figures: pd.DataFrame, child_figures: pd.DataFrame, area_id: str,
                   area_name: str, area_ids: Iterable[str], *, name_label: str,
                   top: int = TOP) -> Gap:
    """Double dipping in the district (summary) and its areas with the most cases.

    Areas without a case are not ranked. Ties: the higher share first, then by name.
    """
    indicator = BY_ID["dup.double_dipping"]
    wanted = list(dict.fromkeys(area_ids))
    rows = _numbers(_plain(child_figures, indicator.id))
    rows = rows[rows["area_id"].isin(wanted)].drop_duplicates("area_id")
    rows = rows.assign(name=rows["area_name"].fillna(rows["area_id"]).astype(str))
    gap = rows["numerator"] > 0
    ranked = _ranked(rows[gap], [("numerator", False), ("value", False), ("name", True),
                                 ("area_id", True)], top)
    return Gap(
        key="double_dipping", title=N_("Double dipping"), name_label=name_label,
        indicator=indicator,
        table=_table(ranked, indicator, "area_id", ranked["name"]) if len(ranked)
        else _empty_table(),
        unranked=len(wanted) - int(gap.sum()),
        unranked_note=N_("{count} more have no household receiving two programmes of one "
                         "exclusive group."),
        empty_note=N_("No household here receives two programmes of the same exclusive group."),
        summary=district_summary(district_figures, indicator.id, area_id, area_name),
    )


# Action points ---------------------------------------------------------------------------

def default_due(as_of: dt.date) -> dt.date:
    return as_of + dt.timedelta(days=DEFAULT_DUE_DAYS)


def action_point_problems(text: str | None, owner: str | None,
                          due_on: dt.date | None) -> list[str]:
    """What is missing from a new action point (English, for t()); empty when it is complete."""
    problems = []
    if not (text or "").strip():
        problems.append(N_("Write what is to be done."))
    if not (owner or "").strip():
        problems.append(N_("Say who will do it (the owner)."))
    if due_on is None:
        problems.append(N_("Give a due date."))
    return problems


def overdue_points(points: Iterable[Any], as_of: dt.date) -> list[Any]:
    """The open action points due before the as-of date."""
    return [p for p in points if p.overdue(as_of)]


def _status(point: Any, as_of: dt.date) -> str:
    if not point.is_open:
        return t("Closed")
    if point.overdue(as_of):
        days = (as_of - point.due_on).days
        return t("Overdue by {days} days", days=days) if days != 1 else t("Overdue by 1 day")
    return t("Open")


def action_rows(points: Iterable[Any], as_of: dt.date,
                meeting_dates: Mapping[int, dt.date] | None = None) -> pd.DataFrame:
    """Action points as table rows; ``Overdue`` is True for open ones due before ``as_of``.

    ``meeting_dates``: meeting_id -> its as-of date, to say which meeting raised or closed it.
    """
    dates = meeting_dates or {}

    def at(meeting_id: int | None) -> str:
        if meeting_id is None:
            return ""
        day = dates.get(meeting_id)
        return t("meeting of {as_of}", as_of=format_date(day)) if day else f"#{meeting_id}"

    rows = []
    for p in points:
        closed = ""
        if not p.is_open:
            closed = when(p.closed_at)
            if p.closed_on_meeting_id is not None:
                closed += f" · {at(p.closed_on_meeting_id)}"
            if p.closed_by:
                closed += f" · {p.closed_by}"
        rows.append({
            "action_id": int(p.action_id), "Action": p.text, "Owner": p.owner,
            "Due": p.due_on, "Status": _status(p, as_of), "Overdue": bool(p.overdue(as_of)),
            "Raised": at(p.meeting_id) or when(p.created_at), "Closed": closed,
        })
    if not rows:
        return pd.DataFrame({column: pd.Series(dtype=object) for column in ACTION_COLUMNS})
    return pd.DataFrame(rows, columns=list(ACTION_COLUMNS))


def closed_at(points: Iterable[Any], meeting: Any | None) -> list[Any]:
    """The action points closed at ``meeting`` (none when there is no meeting)."""
    if meeting is None:
        return []
    return [p for p in points if p.closed_on_meeting_id == meeting.meeting_id]


def close_choices(points: Iterable[Any], as_of: dt.date) -> dict[int, str]:
    """action_id -> label of the open action points, for the close choice."""
    choices = {}
    for p in points:
        if not p.is_open:
            continue
        text = p.text if len(p.text) <= SHORT_TEXT else p.text[:SHORT_TEXT - 1] + "…"
        label = t("#{id} · {text} ({owner}, due {due})", id=p.action_id, text=text,
                  owner=p.owner, due=format_date(p.due_on))
        if p.overdue(as_of):
            label = t("{label} — overdue", label=label)
        choices[int(p.action_id)] = label
    return choices
