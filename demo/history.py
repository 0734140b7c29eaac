"""The demo's history: a year of snapshots, donors' targets, past meetings and a linkage run.

    python -m demo.history [--config PATH] [--if-needed] [--quiet]

A new demo registry holds years of registrations, enrolments and referrals, but Socle's app
store knows nothing of them yet: Donor progress has no snapshot to draw, the committee has
never met, nobody looked for duplicate persons. This command gives the app store of the
configured registry the history a district would have after a year with Socle:

1. **a linkage run** (linkage.job, as ``python -m linkage``) whose pairs fill the
   Duplicates page's review queue, a few of them already decided by the demo's officer
   (same person or not as the demo's planted truth says, one left unsure);
2. **past committee meetings**: two of Peshawar and one of Nowshera (the demo's chair's and
   officer's districts; else the first two districts), their figures frozen at month-ends
   before the as-of date, as "Start meeting" freezes them, with action points done, open
   and overdue;
3. **monthly snapshots** of the last 12 month-ends, districts first (the level the pages
   open on) then the province (as ``python -m indicators.snapshot --monthly-from``);
4. **donors' targets and baselines** of Donor progress's default indicators for the whole
   registry and those two districts, set from the snapshots so that some are on track and
   some are not.

It takes a few minutes on the 20,000-household demo (mostly the 24 snapshots), so
scripts/run_demo.sh starts it in the background once the app is up. Its progress is kept in
``<registry>.history.json`` beside the registry (``status_path``): the app's sidebar says
while it runs (``read_status``), and ``--if-needed`` does nothing when it is done or running.
Running it again replaces the snapshots and targets and adds a linkage run (decisions are
kept by pair); meetings already recorded are left as they are. Never imports Streamlit.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import json
import os
import signal
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import sqlalchemy as sa

from core.settings import Settings
from data_access.areas import AreaTree
from data_access.context import UserContext
from data_access.registry import sqlite_path

PROG = "python -m demo.history"
STATUS_SUFFIX = ".history.json"
MONTHS = 12
SNAPSHOT_LEVELS = (2, 1)  # districts first: the level every page opens on
DISTRICT_LEVEL = 2


# Status -----------------------------------------------------------------------------------

@dataclass(frozen=True)
class HistoryStatus:
    """Where the history of a demo registry stands (the ``.history.json`` file)."""

    state: str  # building | done | failed
    step: int  # steps done
    steps: int
    doing: str  # the step under way (English)
    started_at: str  # ISO, UTC
    finished_at: str | None
    pid: int
    app_store: str  # the app store it fills (password hidden)
    message: str = ""  # what failed

    @property
    def alive(self) -> bool:
        """The process building it still runs (not a zombie)."""
        return process_alive(self.pid)

    @property
    def running(self) -> bool:
        return self.state == "building" and self.alive

    @property
    def interrupted(self) -> bool:
        """Left half built: the process stopped without saying so (killed)."""
        return self.state == "building" and not self.alive


def process_alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process: it exists
        return True
    try:  # a finished child nobody waited for is a zombie: dead, though kill(0) succeeds
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return True
    return state not in {"Z", "X"}


def status_path(database_url: str) -> Path | None:
    """``data/registry.history.json`` for ``sqlite:///data/registry.db``; None for a
    registry that is not a file (a real deployment's: no demo history)."""
    path = sqlite_path(database_url)
    return None if path is None else path.with_name(path.stem + STATUS_SUFFIX)


def read_status(database_url: str) -> HistoryStatus | None:
    """The history's status beside the registry; None when there is none (or it is not
    readable: a half-written file is read again on the next run)."""
    path = status_path(database_url)
    if path is None or not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        fields = {f.name for f in dataclasses.fields(HistoryStatus)}
        return HistoryStatus(**{k: v for k, v in data.items() if k in fields})
    except (OSError, ValueError, TypeError):
        return None


def write_status(path: Path, status: HistoryStatus) -> None:
    """Replace the status file in one step (readers never see half of it)."""
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_text(json.dumps(dataclasses.asdict(status), indent=2) + "\n",
                         encoding="utf-8")
    temporary.replace(path)


def _safe_url(url: str) -> str:
    return sa.engine.make_url(url).render_as_string(hide_password=True)


def needed(settings: Settings) -> bool:
    """Whether the history is still to be built: no status, a failed or interrupted one, or
    one of another app store (or of a SQLite app store since deleted)."""
    status = read_status(settings.database_url)
    if status is None or status.state == "failed" or status.interrupted:
        return True
    if status.app_store != _safe_url(settings.app_store_url):
        return True
    store_file = sqlite_path(settings.app_store_url)
    return status.state == "done" and store_file is not None and not store_file.is_file()


# Dates ------------------------------------------------------------------------------------

def month_ends(latest: dt.date, months: int = MONTHS) -> list[dt.date]:
    """The last ``months`` month-ends up to ``latest`` (included when it is one), oldest first."""
    from views.progress import month_end

    last = latest if latest == month_end(latest) else \
        month_end(latest.replace(day=1) - dt.timedelta(days=1))
    days = [last]
    while len(days) < months:
        days.append(days[-1].replace(day=1) - dt.timedelta(days=1))
    return days[::-1]


def _at(day: dt.date, hour: int, now: dt.datetime) -> dt.datetime:
    """``day`` at ``hour`` o'clock UTC, never later than an hour before ``now``."""
    moment = dt.datetime.combine(day, dt.time(hour))
    return min(moment, now - dt.timedelta(hours=1))


# The work ---------------------------------------------------------------------------------

@dataclass
class Demo:
    """What the steps share: the databases, the dates, the two districts and their users."""

    settings: Settings
    registry: sa.Engine
    store: sa.Engine
    tree: AreaTree
    latest: dt.date  # the as-of date the app opens on
    months: list[dt.date]
    chair_area: str
    officer_area: str
    now: dt.datetime
    pairs: pd.DataFrame | None = None  # the linkage run's undismissed pairs
    linkage_options: Any = None  # linkage.model.ModelOptions (None: the job's defaults)

    def name(self, area_id: str) -> str:
        return str(self.tree.name(area_id) or area_id)

    def figures(self, as_of: dt.date, level: int,
                indicator_ids: Sequence[str] | None = None) -> pd.DataFrame:
        from indicators import compute, default_period_start

        s = self.settings
        return compute(self.registry, as_of=as_of, level=level,
                       period_start=default_period_start(as_of, s.period_months),
                       poverty_cutoff=s.poverty_cutoff, referral_sla_days=s.referral_sla_days,
                       period_months=s.period_months, indicator_ids=indicator_ids,
                       suspected_pairs=self.pairs)

    def scope(self, context: UserContext):
        from data_access.scope import scope_of

        return scope_of(context, self.tree, int(self.settings["privacy.small_cell_threshold"]))


def _truth_pairs(database_url: str) -> set[tuple[str, str]] | None:
    """The demo's planted re-registrations (person_id_a < person_id_b), if the truth folder
    is beside the registry."""
    path = sqlite_path(database_url)
    truth = None if path is None else path.with_name(f"{path.stem}.truth") / "fuzzy_duplicates.csv"
    if truth is None or not truth.is_file():
        return None
    frame = pd.read_csv(truth, dtype=str)
    return {tuple(sorted(pair)) for pair in zip(frame["person_id_a"], frame["person_id_b"],
                                                strict=True)}


def link_persons(demo: Demo) -> str:
    """A linkage run; the officer decides a few pairs of their district."""
    from data_access.linkage_store import (
        record_decision,
        store_linkage_run,
        suspected_pairs,
        undismissed_pairs,
    )
    from linkage.job import run_linkage

    result = run_linkage(demo.registry, demo.linkage_options, as_of=demo.latest)
    run_id = store_linkage_run(demo.store, result)
    pairs = suspected_pairs(demo.store, run_id)
    pairs = pairs[pairs["decision"].isna()]
    district = set(demo.tree.below(demo.officer_area))
    mine = pairs[pairs["area_id_a"].isin(district)]
    if len(mine) < 6:
        mine = pairs
    truth = _truth_pairs(demo.settings.database_url)
    # The surest pairs and the most uncertain ones, as an officer working the queue would.
    uncertain = mine.assign(distance=(mine["match_probability"] - 0.5).abs())
    chosen = pd.concat([mine.head(3), uncertain.nsmallest(3, "distance")])
    chosen = chosen.drop_duplicates(["person_id_a", "person_id_b"])
    notes = {"same": "Same father's name and village; the union council office confirmed.",
             "different": "Different fathers: two persons of the same name.",
             "unsure": "Ask the facilitation centre to check the CNIC copies."}
    for number, row in enumerate(chosen.itertuples(index=False)):
        pair = (row.person_id_a, row.person_id_b)
        if number == len(chosen) - 1:
            decision = "unsure"
        elif truth is not None:
            decision = "same" if pair in truth else "different"
        else:
            decision = "same" if row.match_probability >= 0.9 else "different"
        record_decision(demo.store, *pair, decision, decided_by="officer",
                        note=notes[decision], run_id=run_id,
                        match_probability=float(row.match_probability),
                        at=demo.now - dt.timedelta(days=10 - number))
    demo.pairs = undismissed_pairs(demo.store, run_id)
    return (f"{len(result.pairs):,} suspected pairs among {result.persons:,} persons, "
            f"{len(chosen)} decided")


@dataclass(frozen=True)
class PlannedMeeting:
    area_id: str
    as_of: dt.date
    role: str  # who chairs it: the demo account of that district
    # (text, owner, due days after the as-of date, closed: None open, "next" at the next
    # meeting, else days after the meeting)
    actions: tuple[tuple[str, str, int, str | int | None], ...]


def planned_meetings(demo: Demo) -> list[PlannedMeeting]:
    """Peshawar met four months and one month before the as-of date, Nowshera two months
    before; their action points end up done, open and overdue on the as-of date."""
    m = demo.months
    return [
        PlannedMeeting(demo.chair_area, m[-5], "chair", (
            ("Registration drive in the union councils with the lowest coverage of the poor: "
             "{lowest}.", "District Social Welfare Officer", 45, "next"),
            ("Clear the overdue referrals at {overdue}.", "BISP Tehsil Office", 60, None),
        )),
        PlannedMeeting(demo.officer_area, m[-3], "officer", (
            ("Mobile registration camp in {lowest}.", "Assistant Commissioner", 30, 21),
            ("Agree the referral pathway for disability allowance with the health "
             "department.", "District Health Officer", 40, None),
        )),
        PlannedMeeting(demo.chair_area, m[-2], "chair", (
            ("Stop the second payment to the households receiving two programmes of one "
             "exclusive group.", "Provincial cash grant focal person", 60, None),
            ("Review the suspected duplicate persons in the review queue.", "Data officer",
             45, None),
        )),
    ]


def _gap_names(demo: Demo, meeting: PlannedMeeting, district: pd.DataFrame) -> dict[str, str]:
    """The names the action points quote: the district's three union councils with the
    lowest coverage of the poor, and its access point with the most overdue referrals."""
    from data_access.reference import read_access_points
    from views import gaps

    areas = demo.tree.table
    lowest_level = gaps.lowest_level(areas, default=DISTRICT_LEVEL)
    children = gaps.areas_within(areas, meeting.area_id, lowest_level)
    child_figures = demo.figures(meeting.as_of, lowest_level, ("cov.poor_households",))
    lowest = gaps.lowest_coverage(child_figures, children, name_label="", top=3).table
    overdue = gaps.most_overdue_access_points(district, meeting.area_id,
                                              read_access_points(demo.registry), top=1).table
    return {"lowest": ", ".join(lowest["Name"]) or demo.name(meeting.area_id),
            "overdue": overdue["Name"].iloc[0] if len(overdue)
            else f"the access points of {demo.name(meeting.area_id)}"}


def hold_meetings(demo: Demo) -> str:
    """The planned meetings not recorded yet, with their action points."""
    from data_access import meetings
    from indicators import default_period_start
    from views import gaps
    from views.figure_cards import HEADLINE_IDS

    held = 0
    planned = planned_meetings(demo)  # oldest first
    to_close: dict[int, list[int]] = {}  # planned meeting -> action points closed there
    for index, plan in enumerate(planned):
        context = UserContext(plan.role, (plan.area_id,), username=plan.role)
        scope = demo.scope(context)
        if any(m.as_of == plan.as_of for m in meetings.meetings(demo.store, plan.area_id,
                                                                scope=scope)):
            continue
        figures = demo.figures(plan.as_of, DISTRICT_LEVEL,
                               gaps.meeting_indicator_ids(HEADLINE_IDS))
        frozen = gaps.snapshot_rows(figures, plan.area_id, whole_registry=False)
        started = _at(plan.as_of + dt.timedelta(days=7), 10, demo.now)
        meeting = meetings.start_meeting(
            demo.store, scope=scope, area_id=plan.area_id, area_name=demo.name(plan.area_id),
            as_of=plan.as_of, started_by=f"{plan.role} ({plan.role})", figures=frozen,
            level=DISTRICT_LEVEL,
            period_start=default_period_start(plan.as_of, demo.settings.period_months),
            period_end=plan.as_of, parameters=gaps.meeting_parameters(demo.settings),
            at=started)
        names = _gap_names(demo, plan, frozen) if any(
            "{" in text for text, *_ in plan.actions) else {}
        for text, owner, due_days, closed in plan.actions:
            point = meetings.add_action_point(
                demo.store, scope=scope, area_id=plan.area_id, text=text.format(**names),
                owner=owner, due_on=plan.as_of + dt.timedelta(days=due_days),
                meeting_id=meeting.meeting_id, created_by=f"{plan.role} ({plan.role})",
                at=started + dt.timedelta(minutes=40))
            if closed is None:
                continue
            if closed == "next":  # closed at the district's next meeting
                later = next(i for i in range(index + 1, len(planned))
                             if planned[i].area_id == plan.area_id)
                to_close.setdefault(later, []).append(point.action_id)
                continue
            meetings.close_action_point(
                demo.store, point.action_id, scope=scope, closed_by=f"{plan.role} ({plan.role})",
                at=_at(plan.as_of + dt.timedelta(days=int(closed)), 15, demo.now))
        for action_id in to_close.pop(index, []):
            meetings.close_action_point(
                demo.store, action_id, scope=scope, meeting_id=meeting.meeting_id,
                closed_by=f"{plan.role} ({plan.role})", at=started + dt.timedelta(minutes=20))
        held += 1
    return f"{held} meeting(s) recorded"


def take_snapshot(demo: Demo, day: dt.date, level: int) -> str:
    from indicators import default_period_start
    from views.progress import snapshot_parameters, take_snapshots

    stored = take_snapshots(
        demo.store, lambda lv: demo.figures(day, lv), levels=[level], as_of=day,
        period_start=default_period_start(day, demo.settings.period_months),
        parameters=snapshot_parameters(demo.settings))
    return f"{stored:,} figures"


# Targets: (indicator, area: None whole registry / "chair" / "officer", meant to be on track)
TARGET_PLAN: tuple[tuple[str, str | None, bool], ...] = (
    ("cov.poor_households", None, True),
    ("cov.poor_households", "chair", False),
    ("cov.poor_households", "officer", True),
    ("cov.population", None, False),
    ("cov.population", "chair", True),
    ("cov.population", "officer", False),
    ("ref.overdue", None, True),
    ("ref.overdue", "chair", False),
    ("ref.overdue", "officer", True),
)


def target_value(*, higher_is_better: bool, on_track: bool, baseline: float, latest: float,
                 fraction: float, margin: float) -> float:
    """A target better than the baseline whose straight line from the baseline passes, on the
    latest date (``fraction`` of the way to the target date), below what was achieved (on
    track: 70 % of the progress made) or above it (off track: 160 % of it, at least
    ``margin``). A line that made no progress can only be off track."""
    good = 1.0 if higher_is_better else -1.0
    progress = good * (latest - baseline)
    if on_track and progress > 0:
        expected = 0.7 * progress
    else:
        expected = max(1.6 * progress, margin)
    return baseline + good * expected / fraction


def set_targets(demo: Demo) -> str:
    """Baselines on the first month-end, targets eight months after the as-of date."""
    from data_access.snapshots import stored_series
    from data_access.targets import store_targets
    from indicators.catalogue import BY_ID

    first, last = demo.months[0], demo.months[-1]
    target_on = month_ends(last.replace(day=1) + dt.timedelta(days=8 * 31 + 15), 1)[0]
    fraction = (last - first).days / (target_on - first).days
    areas = {None: None, "chair": demo.chair_area, "officer": demo.officer_area}
    series = stored_series(demo.store, indicator_ids={i for i, _, _ in TARGET_PLAN},
                           area_ids=list(areas.values()), level=DISTRICT_LEVEL)
    values = {(r.indicator_id, r.area_id if isinstance(r.area_id, str) else None, r.as_of):
              r.value for r in series.itertuples(index=False)}
    rows = []
    for indicator_id, who, on_track in TARGET_PLAN:
        indicator, area_id = BY_ID[indicator_id], areas[who]
        baseline = values.get((indicator_id, area_id, first))
        latest = values.get((indicator_id, area_id, last))
        if baseline is None or latest is None or pd.isna(baseline) or pd.isna(latest):
            continue
        percent = indicator.unit == "percent"
        value = target_value(higher_is_better=bool(indicator.higher_is_better),
                             on_track=on_track, baseline=float(baseline), latest=float(latest),
                             fraction=fraction, margin=0.02 if percent else 2.0)
        value = min(max(value, 0.0), 1.0) if percent else max(round(value), 0)
        rows.append({"indicator_id": indicator_id, "area_id": area_id, "programme_id": None,
                     "baseline_on": first, "baseline_value": float(baseline),
                     "target_on": target_on, "target_value": float(value)})
    admin = demo.scope(UserContext("admin", (), username="admin"))
    stored = store_targets(demo.store, pd.DataFrame(rows), scope=admin)
    return f"{stored} targets to {target_on}"


# Running ----------------------------------------------------------------------------------

Step = tuple[str, Callable[[Demo], str]]


def plan_steps(demo: Demo) -> list[Step]:
    """The steps in the order that fills the pages soonest: the review queue, the meetings,
    the districts' newest and oldest month (then the targets can be set), the other months,
    the province."""
    months = demo.months
    first_two = [months[-1], months[0]] if len(months) > 1 else list(months)
    rest = [day for day in months if day not in first_two]

    def snapshot(day: dt.date, level: int) -> Step:
        what = "districts" if level == DISTRICT_LEVEL else f"level {level}"
        return (f"snapshot of {day} ({what})", lambda d: take_snapshot(d, day, level))

    steps: list[Step] = [("linkage run (duplicate persons)", link_persons),
                         ("past committee meetings", hold_meetings)]
    steps += [snapshot(day, DISTRICT_LEVEL) for day in first_two]
    steps.append(("targets and baselines", set_targets))
    steps += [snapshot(day, DISTRICT_LEVEL) for day in rest]
    for level in SNAPSHOT_LEVELS:
        if level != DISTRICT_LEVEL:
            steps += [snapshot(day, level) for day in months]
    return steps


def open_demo(settings: Settings, registry: sa.Engine, store: sa.Engine,
              now: dt.datetime | None = None) -> Demo:
    from data_access.areas import read_area_tree
    from data_access.registry import default_as_of
    from data_access.users import demo_districts

    tree = read_area_tree(registry)
    chair_area, officer_area = demo_districts(tree.table)
    if chair_area is None or officer_area is None:
        raise ValueError("the registry has no district to hold meetings in")
    latest = default_as_of(registry)
    now = now or dt.datetime.now(dt.UTC).replace(tzinfo=None)
    return Demo(settings=settings, registry=registry, store=store, tree=tree, latest=latest,
                months=month_ends(latest), chair_area=chair_area, officer_area=officer_area,
                now=now)


def build(settings: Settings, *, say: Callable[[str], None] = print,
          now: dt.datetime | None = None, linkage_options: Any = None) -> HistoryStatus:
    """Build the history, keeping its status beside the registry (when it is a file).

    ``linkage_options``: the linkage model's options (linkage.model.ModelOptions; the tests'
    smaller sample of random pairs), default the job's."""
    from data_access.app_store import open_app_store
    from data_access.registry import open_registry

    path = status_path(settings.database_url)
    started = dt.datetime.now(dt.UTC).replace(tzinfo=None).isoformat(timespec="seconds")
    status = HistoryStatus("building", 0, 0, "opening the databases", started, None, os.getpid(),
                           _safe_url(settings.app_store_url))

    def record(new: HistoryStatus) -> HistoryStatus:
        if path is not None:
            write_status(path, new)
        return new

    status = record(status)
    registry = store = None
    try:
        registry = open_registry(settings.database_url)
        store = open_app_store(settings.app_store_url)
        demo = open_demo(settings, registry, store, now)
        demo.linkage_options = linkage_options
        steps = plan_steps(demo)
        for number, (label, run) in enumerate(steps):
            status = record(dataclasses.replace(status, step=number, steps=len(steps),
                                                doing=label))
            clock = time.perf_counter()
            outcome = run(demo)
            say(f"[{number + 1}/{len(steps)}] {label}: {outcome} "
                f"({time.perf_counter() - clock:.1f} s)")
        finished = dt.datetime.now(dt.UTC).replace(tzinfo=None).isoformat(timespec="seconds")
        return record(dataclasses.replace(status, state="done", step=len(steps), doing="",
                                          finished_at=finished))
    except BaseException as exc:  # noqa: BLE001 - a stopped build must say so, then stop
        problem = "stopped" if isinstance(exc, KeyboardInterrupt | SystemExit) else str(exc)
        record(dataclasses.replace(status, state="failed", message=problem or type(exc).__name__))
        raise
    finally:
        for engine in (registry, store):
            if engine is not None:
                engine.dispose()


def parser() -> argparse.ArgumentParser:
    from core.cli import Parser

    p = Parser(prog=PROG, description="Give the demo's app store a year of history: monthly "
               "snapshots, targets, past meetings with action points, a linkage run.")
    p.add_argument("--config", help="configuration file (default: config.toml, or SOCLE_CONFIG)")
    p.add_argument("--if-needed", action="store_true",
                   help="do nothing when the history is built already or being built")
    p.add_argument("--quiet", action="store_true", help="print nothing but problems")
    return p


def _stop(signum, frame) -> None:  # noqa: ARG001
    raise SystemExit(128 + signum)  # so that the status says the build stopped


def main(argv: list[str] | None = None) -> int:
    from core.cli import UsageError
    from core.settings import SettingsError, load_settings

    try:
        args = parser().parse_args(argv)
    except UsageError as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return 2
    try:
        settings = load_settings(args.config, check_files=False)
    except SettingsError as exc:
        print(f"{PROG}: error: configuration: {exc}", file=sys.stderr)
        return 2
    if args.if_needed and not needed(settings):
        status = read_status(settings.database_url)
        if not args.quiet and status is not None:
            print(f"the demo's history is {'built' if status.state == 'done' else 'being built'}"
                  f" already ({status_path(settings.database_url)})")
        return 0
    signal.signal(signal.SIGTERM, _stop)
    clock = time.perf_counter()
    try:
        build(settings, say=(lambda _text: None) if args.quiet else print)
    except Exception as exc:  # the status file says it too
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return 2
    if not args.quiet:
        print(f"the demo's history is built, in {time.perf_counter() - clock:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
