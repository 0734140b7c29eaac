"""Attacks on the donors' figures, as a donor with a valid account would try them (issue 17).

- **One subtraction.** The hidden inclusion-error numerator of a programme was the shown
  enrolled units minus the shown eligible-and-enrolled units. On a demo registry, every
  hidden cell that one relation of the long form gives away by subtraction is counted (the
  relations found on random registries by tests/test_relations.py, tried at every area and
  programme, kept where they hold on the true figures): none may be.
- **Every relation at once, exactly.** On a smaller demo registry the attacker's equations
  are all those relations together (every level, indicator, programme and breakdown); each
  hidden cell is checked for being fixed by them with exact rational elimination
  (tests/test_suppression.determined).
- **Differencing two requests.** The donor's Excel export (the page's own function) for
  referral periods starting a day apart, and for as-of dates a day apart: one day's referrals
  (or registrations) = one workbook minus the other, with "a count is never negative" giving
  away more. Then two adjacent calendar periods: their windows must not nest, so nothing is
  the difference of the two.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict

import pandas as pd
import pytest

from data_access.areas import AreaTree, read_areas
from data_access.registry import open_registry
from indicators import compute
from indicators.figures import COMPUTED_LEVEL, Parameters, donor_long_form
from tests.app_server import make_demo
from tests.test_relations import found, holds, raw_cells, relation_equations
from tests.test_suppression import determined

AS_OF = dt.date(2026, 10, 31)  # the demo's end date
PERIOD_START = dt.date(2026, 8, 1)
THRESHOLD = 5
KEYS = ["indicator_id", "area_id", "programme_id", "breakdown"]


def true_and_published(url: str) -> tuple[dict, dict, dict]:
    """The demo's true counts (every level), the counts a donor is shown (hidden ones
    missing) and the area tree (area_id -> parent_id)."""
    engine = open_registry(url)
    try:
        areas = read_areas(engine)
        levels = AreaTree.of(areas).levels
        truth = pd.concat([compute(engine, as_of=AS_OF, level=level, period_start=PERIOD_START)
                           for level in levels], ignore_index=True).drop_duplicates(KEYS)
        shown = donor_long_form(engine, areas, as_of=AS_OF, period_start=PERIOD_START,
                                parameters=Parameters(threshold=THRESHOLD))
    finally:
        engine.dispose()
    shown = shown.drop(columns=[COMPUTED_LEVEL]).drop_duplicates(KEYS)
    parents = {str(a): (None if pd.isna(p) else str(p))
               for a, p in zip(areas["area_id"], areas["parent_id"], strict=True)}
    return raw_cells(truth), raw_cells(shown), parents


def attacker_equations(truth: dict, parents: dict) -> list[dict]:
    """Every relation found on random registries, tried at every area and programme of the
    demo, kept where it holds on the true counts (what a careful attacker can check on the
    published figures)."""
    _, relations = found()
    seen: set = set()
    equations = []
    for relation in relations:
        for equation in relation_equations(relation, truth, parents, level_of=None):
            key = frozenset(equation.items())
            if key not in seen and holds(equation, truth):
                seen.add(key)
                equations.append(equation)
    return equations


@pytest.fixture(scope="module")
def demo_url(tmp_path_factory) -> str:
    registry = make_demo(tmp_path_factory.mktemp("attack"), households=3000, seed=3,
                         union_councils=40, geography="kp")
    return f"sqlite:///{registry}"


@pytest.fixture(scope="module")
def demo_figures(demo_url: str) -> tuple[dict, dict, dict]:
    return true_and_published(demo_url)


def one_subtraction(equations: list[dict], truth: dict, shown: dict) -> dict:
    """Hidden cells an equation gives away alone: all its other cells shown."""
    recovered = {}
    for equation in equations:
        hidden = [c for c in equation if c not in shown]
        if len(hidden) == 1:
            (cell,) = hidden
            value = -sum(k * shown[c] for c, k in equation.items() if c != cell) / equation[cell]
            assert value == truth[cell]  # the relation holds: the value is the true one
            recovered[cell] = truth[cell]
    return recovered


def test_the_inclusion_error_is_not_one_subtraction_away(demo_figures):
    """Issue 17's attack: cov.inclusion numerator = enrolled − eligible-and-enrolled."""
    truth, shown, _ = demo_figures
    recovered = {}
    for (indicator_id, measure, area, programme, breakdown), value in truth.items():
        cell = (indicator_id, measure, area, programme, breakdown)
        if indicator_id != "cov.inclusion" or measure != "numerator" or cell in shown:
            continue
        enrolled = shown.get(("cov.inclusion", "denominator", area, programme, breakdown))
        covered = shown.get(("cov.programme", "numerator", area, programme, breakdown))
        if enrolled is not None and covered is not None:
            assert enrolled - covered == value
            recovered[cell] = value
    hidden = [c for c in truth if c[:2] == ("cov.inclusion", "numerator") and c not in shown]
    assert hidden  # not vacuous: the demo has hidden inclusion-error numerators
    assert not recovered, f"{len(recovered)} hidden cells recovered, e.g. {list(recovered.items())[:5]}"


def test_no_relation_of_the_long_form_gives_a_hidden_cell_away_by_subtraction(demo_figures):
    truth, shown, parents = demo_figures
    equations = attacker_equations(truth, parents)
    assert len(equations) > 1000  # not vacuous: thousands of relations hold on the demo
    recovered = one_subtraction(equations, truth, shown)
    small = {c: v for c, v in recovered.items() if 1 <= v < THRESHOLD}
    assert not recovered, (f"{len(recovered)} hidden cells recovered ({len(small)} small), "
                           f"e.g. {list(recovered.items())[:5]}")


def test_no_hidden_cell_is_fixed_by_all_the_relations_together(tmp_path):
    """Exact: every hidden cell of a small demo's donor figures, against every relation of
    the long form that holds there (all levels, indicators, programmes, breakdowns)."""
    truth, shown, parents = true_and_published(
        f"sqlite:///{make_demo(tmp_path, households=400, seed=2, union_councils=8)}")
    hidden = {c for c in truth if c not in shown}
    assert hidden and len(hidden) < len(truth)
    equations = []
    for equation in attacker_equations(truth, parents):
        # The published cells go to the right-hand side; only hidden ones are unknowns.
        unknowns = {c: k for c, k in equation.items() if c in hidden}
        if unknowns:
            equations.append(unknowns)
    # Solve each connected block of equations on its own (exact, rational).
    block_of: dict = {}
    blocks: dict = defaultdict(list)
    for equation in equations:
        roots = {block_of.get(c, c) for c in equation}
        root = min(roots, key=repr)
        merged = [e for r in roots for e in blocks.pop(r, [])] + [equation]
        for e in merged:
            for cell in e:
                block_of[cell] = root
        blocks[root] = merged
    fixed = set()
    for block in blocks.values():
        fixed |= determined(block, {c for e in block for c in e})
    assert not fixed, f"{len(fixed)} hidden cells fixed, e.g. {sorted(fixed, key=repr)[:5]}"


# Differencing two requests ------------------------------------------------------------------

def donor_workbook(url: str, as_of: dt.date, period_start: dt.date) -> dict:
    """The donor's workbook for these dates (built as the Excel export page builds it):
    {(indicator, area, programme, breakdown): (numerator, denominator, period_start,
    period_end)} of its Indicators sheet."""
    from core.settings import load_settings
    from data_access.context import UserContext
    from exports.page_export import ExportChoices, build_export, sheet_values

    settings = load_settings(env={"SOCLE_DATABASE_URL": url,
                                  "SOCLE_GEOGRAPHY_BOUNDARY_FILE": ""}, check_files=False)
    engine = open_registry(url)
    try:
        built = build_export(engine, settings, ExportChoices(level=4, as_of=as_of,
                                                             period_start=period_start),
                             context=UserContext("donor", username="dora"))
    finally:
        engine.dispose()
    rows = sheet_values(built.data)["Indicators"]
    header = list(rows[0])
    rows = [tuple(r) + (None,) * (len(header) - len(r)) for r in rows]  # empty cells at the end
    at = {name: header.index(name) for name in header}
    return {(r[at["indicator_id"]], r[at["area_id"]], r[at["programme_id"]],
             r[at["breakdown"]]): (r[at["numerator"]], r[at["denominator"]],
                                   r[at["period_start"]], r[at["period_end"]])
            for r in rows[1:]}


def differencing(first: dict, second: dict) -> tuple[dict, dict]:
    """What subtracting two workbooks gives away, where the second's window lies inside the
    first's (counts of the days in one and not the other): (exact small differences,
    hidden cells pinned by "never negative")."""
    exact, pinned = {}, {}
    for key, (num_a, den_a, *_) in first.items():
        if key not in second:
            continue
        num_b, den_b, *_ = second[key]
        for measure, a, b in (("numerator", num_a, num_b), ("denominator", den_a, den_b)):
            if a is not None and b is not None and 1 <= a - b < THRESHOLD:
                exact[(*key, measure)] = a - b
            elif a is not None and b is None and 1 <= a < THRESHOLD:
                # b is hidden, so 1 <= b; and b <= a: a small window of values, a 1 exactly.
                pinned[(*key, measure)] = (1, a)
    return exact, pinned


def test_period_starts_a_day_apart_give_no_day_away(demo_url):
    """Issue 17: exports from 2026-08-01 and 2026-08-02 gave 38 exact one-day counts."""
    first = donor_workbook(demo_url, AS_OF, dt.date(2026, 8, 1))
    second = donor_workbook(demo_url, AS_OF, dt.date(2026, 8, 2))
    exact, pinned = differencing(first, second)
    assert not exact, f"{len(exact)} exact one-day counts, e.g. {list(exact.items())[:5]}"
    assert not pinned, f"{len(pinned)} hidden cells pinned, e.g. {list(pinned.items())[:5]}"
    assert first == second  # the calendar's period, whatever the start asked for


def test_as_of_dates_a_day_apart_give_no_day_away(demo_url):
    first = donor_workbook(demo_url, dt.date(2026, 10, 31), dt.date(2026, 8, 1))
    second = donor_workbook(demo_url, dt.date(2026, 10, 30), dt.date(2026, 7, 31))
    exact, pinned = differencing(first, second)
    assert not exact and not pinned
    assert first == second


def test_two_adjacent_calendar_periods_do_not_nest(demo_url):
    """The periods a donor can get tile the calendar: the windows of two neighbours overlap
    in at most their end day, so neither lies inside the other and no subtraction of the
    two is the count of a shorter period."""
    later = donor_workbook(demo_url, dt.date(2026, 10, 31), dt.date(2026, 8, 1))
    earlier = donor_workbook(demo_url, dt.date(2026, 6, 30), dt.date(2026, 4, 1))
    windows = set()
    for workbook in (later, earlier):
        flows = {(v[2], v[3]) for k, v in workbook.items()
                 if k[0].startswith("ref.") and v[2] is not None}
        assert len(flows) == 1
        windows |= flows
    (a_start, a_end), (b_start, b_end) = sorted(windows)
    assert a_end < b_start or (a_end == b_start and a_start < b_start)  # no nesting
    assert not (b_start <= a_start and a_end <= b_end) and not (a_start <= b_start
                                                               and b_end <= a_end)
