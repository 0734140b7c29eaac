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
"""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import pandas as pd
import pytest

from data_access.registry import open_registry
from indicators import compute
from indicators.figures import COMPUTED_LEVEL, Parameters, donor_long_form, registry_levels
from tests.test_relations import found, holds, raw_cells, relation_equations
from tests.test_suppression import determined
from ui.queries import read_areas

ROOT = Path(__file__).resolve().parents[1]
AS_OF = dt.date(2026, 10, 31)  # the demo's end date
PERIOD_START = dt.date(2026, 8, 1)
THRESHOLD = 5
KEYS = ["indicator_id", "area_id", "programme_id", "breakdown"]


def make_demo(folder: Path, households: int, seed: int, union_councils: int) -> str:
    subprocess.run([sys.executable, "-m", "demo", "--out", str(folder / "registry.db"),
                    "--households", str(households), "--seed", str(seed),
                    "--union-councils", str(union_councils)],
                   cwd=ROOT, check=True, capture_output=True)
    return f"sqlite:///{folder / 'registry.db'}"


def true_and_published(url: str) -> tuple[dict, dict, dict]:
    """The demo's true counts (every level), the counts a donor is shown (hidden ones
    missing) and the area tree (area_id -> parent_id)."""
    engine = open_registry(url)
    try:
        areas = read_areas(engine)
        levels = registry_levels(areas)
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
def demo_figures(tmp_path_factory) -> tuple[dict, dict, dict]:
    folder = tmp_path_factory.mktemp("attack")
    return true_and_published(make_demo(folder, households=3000, seed=3, union_councils=40))


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
        make_demo(tmp_path, households=400, seed=2, union_councils=8))
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
