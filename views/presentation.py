"""The committee meeting projected for the room: its agenda, one item a screen.

Presentation mode (the "Present" switch of pages/meeting.py, drawn by ui/presentation.py)
hides the sidebar and the working controls and shows the meeting's agenda one item per
screen, in large type, with next and previous buttons; the item is in the URL
(``?present=1&item=3``), so a reload or a shared link opens the same screen. The agenda:

1. the headline figures and their change since the last meeting;
2. the union councils (the lowest level) left behind: coverage of the poor on the
   district's map, the lowest ones listed;
3. stuck referrals: the access points with the most overdue referrals;
4. double dipping: the district's share and its areas with the most cases;
5. the open action points, overdue ones first.

Plain Python, no Streamlit: the agenda, the position in it, and the rows each item lists.
Titles are English; the page translates them.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import pandas as pd

from views import gaps

PRESENT_PARAM = "present"
ITEM_PARAM = "item"


@dataclass(frozen=True)
class AgendaItem:
    key: str
    title: str  # English; "{level}" is the lowest level's name (plural, lower case)
    gap: str | None = None  # the views.gaps.Gap.key the item shows, if any


AGENDA: tuple[AgendaItem, ...] = (
    AgendaItem("figures", "Headline figures since the last meeting"),
    AgendaItem("left_behind", "The {level} left behind", gap="coverage"),
    AgendaItem("referrals", "Stuck referrals", gap="overdue"),
    AgendaItem("double_dipping", "Double dipping", gap="double_dipping"),
    AgendaItem("actions", "Open action points"),
)


def position(text: str | None, count: int = len(AGENDA)) -> int:
    """The agenda item (1 to ``count``) a URL's ``item`` names; 1 when it names none."""
    try:
        number = int(str(text).strip())
    except (TypeError, ValueError):
        return 1
    return min(max(number, 1), count)


def item_at(number: int) -> AgendaItem:
    return AGENDA[position(str(number)) - 1]


def previous_item(number: int) -> int | None:
    return number - 1 if number > 1 else None


def next_item(number: int, count: int = len(AGENDA)) -> int | None:
    return number + 1 if number < count else None


def plural(level_name: str) -> str:
    """“union councils” for “Union council” (English; the page translates the title)."""
    name = level_name.strip().lower()
    if name.endswith("y") and not name.endswith(("ay", "ey", "oy", "uy")):
        return name[:-1] + "ies"
    return name if name.endswith("s") else name + "s"


def gap_of(item: AgendaItem, found: Iterable[gaps.Gap]) -> gaps.Gap | None:
    """The gap an agenda item shows, among the meeting page's gaps."""
    return next((g for g in found if g.key == item.gap), None) if item.gap else None


def gap_rows(gap: gaps.Gap, name_label: str) -> pd.DataFrame:
    """A gap's ranked table as people read it on a screen: name, value, counts."""
    if gap.table.empty:
        return pd.DataFrame()
    indicator = gap.indicator
    return pd.DataFrame({
        name_label: gap.table["Name"].astype(str),
        indicator.label: gap.table["Shown"].astype(str),
        "Counted": [f"{_count(n)} of {_count(d)}"
                    for n, d in zip(gap.table["Numerator"], gap.table["Denominator"],
                                    strict=True)],
    })


def _count(value: Any) -> str:
    try:
        return f"{int(value):,}"
    except (TypeError, ValueError):
        return "–"


def action_rows(points: Iterable[Any], as_of: dt.date,
                meeting_dates: Mapping[int, dt.date] | None = None) -> pd.DataFrame:
    """The open action points for the screen, overdue ones first (then by due date)."""
    rows = gaps.action_rows(points, as_of, meeting_dates)
    if rows.empty:
        return rows
    rows = rows.sort_values(["Overdue", "Due", "action_id"], ascending=[False, True, True],
                            kind="mergesort")
    return rows.reset_index(drop=True)
