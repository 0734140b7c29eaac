"""Donor suppression knows every linear relation the published figures obey.

The relations are not listed here: they are *found*, numerically, on the long forms of random
registries (the property test's hypothesis strategies, computed by the independent pandas
reference, tests/reference.py, at every level). A relation is kept when it holds in every
example where its cells are published, with enough examples and non-zero parts that it is no
coincidence. Families searched, per kind of cell (level 1, 2, 3 or the whole registry; per
programme or not):

- two counts are always equal (the same units published under two indicators);
- a count is always the sum of two others of the same area and programme (any indicators,
  any breakdowns; access points only with the same access point: they are places, like
  areas) — also the sum over programmes of a per-programme count;
- a count is the sum of its cells of one breakdown (sex, age, disability, table…);
- an area's count is the sum of its child areas' (the whole registry: of the level-1 areas).

Then each relation is checked against indicators.suppression: its equation must lie in the
row space of the equations of the groups suppression protects with (build_groups), on an
example where it holds with non-zero cells. A relation suppression does not know is a way to
recover a hidden cell by addition and subtraction (issue 17: the inclusion-error numerator =
enrolled − eligible-and-enrolled).
"""

from __future__ import annotations

import itertools
import os
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from indicators.suppression import build_groups, figure_cells, quantity
from tests.reference import reference_compute
from tests.test_indicators_property import (
    AREAS,
    AS_OF,
    PERIOD_START,
    SLA_DAYS,
    registries,
    suspected_pairs,
)

# SOCLE_RELATION_EXAMPLES=2000 searches longer; the default finds every relation below in
# about 30 s and no coincidence (checked up to 2,000 examples).
EXAMPLES = int(os.environ.get("SOCLE_RELATION_EXAMPLES", "400"))
MIN_SUPPORT = 20  # examples × cells where every cell of the relation is published
MIN_NONZERO = 5  # of which each part is non-zero
# Distinct values the total takes: tiny counts (the few referrals of one access point) agree
# by chance where they take one or two values; the relations below take 7 or more.
MIN_DISTINCT = {"same": 2, "sum": 3}
SUM_OVER_PROGRAMMES = "Σ programmes"
LEVEL_OF = {a["area_id"]: a["level"] for a in AREAS}
PARENT_OF = {a["area_id"]: a["parent_id"] for a in AREAS}
AREA_FRAME = pd.DataFrame(AREAS)[["area_id", "parent_id"]]

Column = tuple  # (indicator_id, measure, breakdown) or (SUM_OVER_PROGRAMMES, …the same)


@dataclass(frozen=True)
class Relation:
    """``total`` = Σ ``parts`` wherever ``kind`` applies (found on the examples)."""

    kind: str  # "same", "sum", "breakdowns", "areas"
    where: tuple  # (level or "whole", "programme" or "no programme")
    total: Column
    parts: tuple[Column, ...]

    def __str__(self) -> str:
        parts = (" + ".join(_name(p) for p in self.parts) if self.kind != "areas"
                 else "Σ child areas")
        return f"[{self.kind} @ {self.where}] {_name(self.total)} = {parts}"


def _name(column: Column) -> str:
    if column[0] == SUM_OVER_PROGRAMMES:
        return f"Σp {_name(column[1:])}"
    indicator_id, measure, breakdown = column
    return f"{indicator_id}.{measure}" + (f"[{breakdown}]" if breakdown else "")


# Random registries and their long forms -------------------------------------------------

def _text(value) -> str | None:
    return value if isinstance(value, str) and value else None


def random_long_forms(examples: int = EXAMPLES) -> list[pd.DataFrame]:
    """The reference long form of every level (whole-registry rows once) of random registries."""
    found: list[pd.DataFrame] = []

    @settings(max_examples=examples, deadline=None, database=None, derandomize=True,
              suppress_health_check=list(HealthCheck))
    @given(tables=registries(), data=st.data())
    def collect(tables, data):
        ids = list(tables["person"]["person_id"]) if len(tables["person"]) else []
        pairs = data.draw(suspected_pairs(ids))
        levels = sorted({a["level"] for a in AREAS})
        frame = pd.concat([reference_compute(tables, as_of=AS_OF, level=level,
                                             period_start=PERIOD_START,
                                             referral_sla_days=SLA_DAYS,
                                             suspected_pairs=pairs)
                           for level in levels], ignore_index=True)
        frame = frame.drop_duplicates(["indicator_id", "area_id", "programme_id", "breakdown"])
        found.append(frame.reset_index(drop=True))

    collect()
    return found


def observations(frames: Sequence[pd.DataFrame]) -> pd.DataFrame:
    """One row per published count: example, area, programme, column, value; plus the sum
    over programmes of every per-programme count (at the area, without programme)."""
    rows = []
    for example, frame in enumerate(frames):
        for r in frame.itertuples(index=False):
            for measure in ("numerator", "denominator"):
                value = getattr(r, measure)
                if value is None or pd.isna(value):
                    continue
                rows.append((example, _text(r.area_id), _text(r.programme_id),
                             (r.indicator_id, measure, _text(r.breakdown)), int(value)))
    cells = pd.DataFrame(rows, columns=["example", "area", "programme", "column", "value"])
    per_programme = cells[cells["programme"].notna()]
    sums = (per_programme.groupby(["example", "area", "column"], dropna=False)["value"].sum()
            .reset_index())
    sums["programme"] = None
    sums["column"] = [(SUM_OVER_PROGRAMMES, *c) for c in sums["column"]]
    out = pd.concat([cells, sums[cells.columns]], ignore_index=True)
    for column in ("area", "programme"):  # None, never NaN, for "no area" and "no programme"
        out[column] = pd.Series([_text(v) for v in out[column]], dtype=object)
    return out


def _where(area: str | None, programme: str | None) -> tuple:
    return ("whole" if area is None else LEVEL_OF[area],
            "no programme" if programme is None else "programme")


def _access_point(column: Column) -> str | None:
    breakdown = column[-1]
    return breakdown if breakdown and breakdown.startswith("access_point=") else None


def _comparable(columns: Iterable[Column]) -> bool:
    """Access points combine only with the same access point (they are places)."""
    points = {_access_point(c) for c in columns}
    return len(points) == 1


# Finding the relations ------------------------------------------------------------------

def _kept(total: np.ndarray, parts: Sequence[np.ndarray], min_distinct: int = 3) -> bool:
    """Whether Σ parts == total on every observation, with support, non-zero parts and a
    total that varies."""
    if len(total) < MIN_SUPPORT or len(set(total.tolist())) < min_distinct:
        return False
    return bool((total == sum(parts)).all()
                and all((p > 0).sum() >= MIN_NONZERO for p in parts))


def same_slot_relations(cells: pd.DataFrame) -> list[Relation]:
    """Equal counts, and counts that are the sum of two others, at the same area and
    programme."""
    found: list[Relation] = []
    cells = cells.assign(where=[_where(a, p) for a, p in zip(cells["area"], cells["programme"],
                                                             strict=True)],
                         slot=list(zip(cells["example"], cells["area"].fillna(""),
                                       cells["programme"].fillna(""), strict=True)))
    for where, part in cells.groupby("where", sort=True):
        # Columns are tuples of two lengths: pivot on their text, then map back.
        named = part.assign(column=[repr(c) for c in part["column"]])
        wide = named.pivot_table(index="slot", columns="column", values="value",
                                 aggfunc="first")
        back = {repr(c): c for c in part["column"]}
        columns = [back[c] for c in wide.columns]
        values = wide.to_numpy(dtype=float)
        present = ~np.isnan(values)
        equal_to_earlier: set[int] = set()
        for i, j in itertools.combinations(range(len(columns)), 2):
            if not _comparable((columns[i], columns[j])):
                continue
            both = present[:, i] & present[:, j]
            if _kept(values[both, i], [values[both, j]], MIN_DISTINCT["same"]):
                found.append(Relation("same", where, columns[i], (columns[j],)))
                equal_to_earlier.add(j)
        distinct = [i for i in range(len(columns)) if i not in equal_to_earlier]
        values, present = values[:, distinct], present[:, distinct]
        columns = [columns[i] for i in distinct]
        for a, b in itertools.combinations(range(len(columns)), 2):
            # Every total at once: where the three are published, does total == a + b?
            rows = present & (present[:, a] & present[:, b])[:, None]
            summed = (values[:, a] + values[:, b])[:, None]
            agree = ~((values != summed) & rows).any(axis=0)
            for t in np.flatnonzero(agree & (rows.sum(axis=0) >= MIN_SUPPORT)):
                if t in (a, b) or not _comparable((columns[t], columns[a], columns[b])):
                    continue
                kept = rows[:, t]
                if _kept(values[kept, t], [values[kept, a], values[kept, b]],
                         MIN_DISTINCT["sum"]):
                    found.append(Relation("sum", where, columns[t], (columns[a], columns[b])))
    return found


def breakdown_relations(cells: pd.DataFrame) -> list[Relation]:
    """A count = the sum of its cells of one breakdown dimension."""
    plain = cells[[c[0] != SUM_OVER_PROGRAMMES for c in cells["column"]]]
    found: list[Relation] = []
    by_slot: dict[tuple, dict] = defaultdict(dict)
    for example, area, programme, column, value in plain.itertuples(index=False):
        by_slot[(example, area, programme, column[:2])][column[2]] = value
    checks: dict[tuple, list] = defaultdict(list)
    labels: dict[tuple, set] = defaultdict(set)
    for (_, area, programme, measure), values in by_slot.items():
        if None not in values:
            continue
        dims: dict[str, list] = defaultdict(list)
        for breakdown, value in values.items():
            if breakdown is not None:
                dims[breakdown.split("=", 1)[0]].append((breakdown, value))
        for dim, members in dims.items():
            key = (_where(area, programme), measure, dim)
            checks[key].append((values[None], [v for _, v in members]))
            labels[key] |= {b for b, _ in members}
    for (where, (indicator_id, measure), dim), pairs in sorted(checks.items(), key=str):
        totals = np.array([t for t, _ in pairs], dtype=float)
        sums = np.array([sum(parts) for _, parts in pairs], dtype=float)
        if len(pairs) >= MIN_SUPPORT and (totals == sums).all() and (totals > 0).sum() >= MIN_NONZERO:
            found.append(Relation("breakdowns", where, (indicator_id, measure, None),
                                  tuple((indicator_id, measure, b)
                                        for b in sorted(labels[(where, (indicator_id, measure),
                                                                dim)]))))
    return found


def area_relations(cells: pd.DataFrame) -> list[Relation]:
    """An area's count = the sum of its child areas' (whole registry: the level-1 areas')."""
    plain = cells[[c[0] != SUM_OVER_PROGRAMMES for c in cells["column"]]]
    value_of = {(e, a, p, c): v for e, a, p, c, v in plain.itertuples(index=False)}
    children: dict[str | None, list[str]] = defaultdict(list)
    for area, parent in PARENT_OF.items():
        children[parent].append(area)
    checks: dict[tuple, list] = defaultdict(list)
    for (example, area, programme, column), value in value_of.items():
        kids = children.get(area, [])
        parts = [value_of.get((example, kid, programme, column)) for kid in kids]
        if kids and all(p is not None for p in parts):
            checks[(_where(area, programme), column)].append((value, sum(parts)))
    found = []
    for (where, column), pairs in sorted(checks.items(), key=str):
        totals = np.array([t for t, _ in pairs], dtype=float)
        sums = np.array([s for _, s in pairs], dtype=float)
        if len(pairs) >= MIN_SUPPORT and (totals == sums).all() and (totals > 0).sum() >= MIN_NONZERO:
            found.append(Relation("areas", where, column, ()))
    return found


def find_relations(frames: Sequence[pd.DataFrame]) -> list[Relation]:
    cells = observations(frames)
    return same_slot_relations(cells) + breakdown_relations(cells) + area_relations(cells)


# Does suppression know a relation? ------------------------------------------------------

RawCell = tuple  # (indicator_id, measure, area_id, programme_id, breakdown); None: none


def raw_cells(frame: pd.DataFrame) -> dict[RawCell, int]:
    """Every count of a long form, by indicator, measure, area, programme and breakdown."""
    cells = {}
    for r in frame.itertuples(index=False):
        for measure in ("numerator", "denominator"):
            value = getattr(r, measure)
            if value is not None and not pd.isna(value):
                cells[(r.indicator_id, measure, _text(r.area_id), _text(r.programme_id),
                       _text(r.breakdown))] = int(value)
    return cells


def _column_cells(column: Column, area, programme, programmes: Sequence[str]) -> list[RawCell]:
    """The cells a column stands for at (area, programme): one, or the per-programme cells
    of a sum over programmes."""
    if column[0] == SUM_OVER_PROGRAMMES:
        indicator_id, measure, breakdown = column[1:]
        return [(indicator_id, measure, area, p, breakdown) for p in programmes]
    indicator_id, measure, breakdown = column
    return [(indicator_id, measure, area, programme, breakdown)]


def relation_equations(relation: Relation, cells: dict[RawCell, int],
                       parent_of: dict[str, str | None] = PARENT_OF, *,
                       level_of: dict[str, int] | None = LEVEL_OF) -> list[dict]:
    """The relation's equations (total − Σ parts = 0, over raw cells) at every area and
    programme of its kind where all its cells are published and the total is not zero.
    ``level_of`` None: at every area and programme whatever the kind (an attacker trying
    the relation everywhere; the caller keeps the equations that hold)."""
    areas = sorted({c[2] for c in cells if c[2] is not None})
    programmes = sorted({c[3] for c in cells if c[3] is not None
                         and (c[0], c[1], c[4]) == tuple(relation.total[-3:])}
                        if relation.total[0] == SUM_OVER_PROGRAMMES
                        else {c[3] for c in cells if c[3] is not None})
    children: dict = defaultdict(list)
    for area, parent in parent_of.items():
        children[parent].append(area)
    out = []
    for area in [None, *areas]:
        for programme in [None, *sorted({c[3] for c in cells if c[3] is not None})]:
            if level_of is not None:
                where = ("whole" if area is None else level_of[area],
                         "no programme" if programme is None else "programme")
                if where != relation.where:
                    continue
            elif (programme is None) != (relation.where[1] == "no programme"):
                continue
            if relation.kind == "areas":
                kids = children.get(area, [])
                if not kids:
                    continue
                terms = [(relation.total, area, 1)] + [(relation.total, k, -1) for k in kids]
            else:
                terms = [(relation.total, area, 1)] + [(p, area, -1) for p in relation.parts]
            equation: dict = defaultdict(int)
            complete = True
            for column, at, sign in terms:
                members = _column_cells(column, at, programme, programmes)
                if not members or any(m not in cells for m in members):
                    complete = False
                    break
                for member in members:
                    equation[member] += sign
            total = _column_cells(relation.total, area, programme, programmes)
            if complete and sum(cells[m] for m in total) > 0:
                out.append({k: v for k, v in equation.items() if v})
    return out


def holds(equation: dict, cells: dict[RawCell, int]) -> bool:
    return sum(coefficient * cells[cell] for cell, coefficient in equation.items()) == 0


def as_suppression_keys(equation: dict) -> dict:
    """A raw-cell equation over suppression's cells (a count two indicators publish is one)."""
    out: dict = defaultdict(int)
    for (indicator_id, measure, area, programme, breakdown), coefficient in equation.items():
        out[(quantity(indicator_id, measure), area, programme, breakdown)] += coefficient
    return {k: v for k, v in out.items() if v}


def in_row_space(rows: list[dict], vector: dict) -> bool:
    """Whether ``vector`` is a linear combination of ``rows`` (float least squares on the
    columns involved; the coefficients are small integers)."""
    if not vector:
        return True  # both sides are one cell: suppression counts them as one
    cells = sorted({c for row in rows for c in row} | set(vector), key=repr)
    index = {c: i for i, c in enumerate(cells)}
    matrix = np.zeros((len(rows), len(cells)))
    for i, row in enumerate(rows):
        for cell, coefficient in row.items():
            matrix[i, index[cell]] = coefficient
    target = np.zeros(len(cells))
    for cell, coefficient in vector.items():
        target[index[cell]] = coefficient
    solution, *_ = np.linalg.lstsq(matrix.T, target, rcond=None)
    return bool(np.abs(matrix.T @ solution - target).max() < 1e-6)


def suppression_equations(frame: pd.DataFrame) -> list[dict]:
    """The equations of suppression's groups over a long form's cells."""
    values, _ = figure_cells(frame)
    return [{g.total: 1, **{p: -1 for p in g.parts}} for g in build_groups(values, AREA_FRAME)]


def unknown_relations(relations: Sequence[Relation], frames: Sequence[pd.DataFrame]
                      ) -> list[str]:
    """The relations suppression does not know, each with the example showing it."""
    missing = []
    prepared: dict[int, tuple[dict, list[dict]]] = {}
    for relation in relations:
        for example, frame in enumerate(frames):
            if example not in prepared:
                prepared[example] = (raw_cells(frame), suppression_equations(frame))
            cells, equations = prepared[example]
            vectors = [as_suppression_keys(e) for e in relation_equations(relation, cells)]
            if not vectors:
                continue
            # The groups touching the relation's cells are enough to decide, nearly always.
            touched = {c for v in vectors for c in v}
            local = [e for e in equations if touched & set(e)]
            for vector in vectors:
                if not in_row_space(local, vector) and not in_row_space(equations, vector):
                    missing.append(f"{relation}  (example {example}: {vector})")
                    break
            break  # one example where the relation applies is enough
    return missing


# The tests --------------------------------------------------------------------------------

_FOUND: dict[str, tuple] = {}


def found() -> tuple[list[pd.DataFrame], list[Relation]]:
    """The random long forms and the relations found on them (computed once per session)."""
    if "found" not in _FOUND:
        frames = random_long_forms()
        _FOUND["found"] = (frames, find_relations(frames))
    return _FOUND["found"]


def test_the_search_finds_the_relations_of_the_issue():
    """Not a vacuous search: it finds the relations the issue names and the structural
    ones (breakdowns, areas)."""
    _, relations = found()
    text = "\n".join(map(str, relations))
    # enrolled = eligible-and-enrolled + enrolled-not-eligible (the one-subtraction leak)
    assert ("cov.inclusion.denominator = cov.inclusion.numerator + cov.programme.numerator"
            in text)
    assert "cov.exclusion.denominator = cov.exclusion.numerator + cov.programme.numerator" in text
    assert "[breakdowns @ (3, 'no programme')] cov.population.denominator = " in text
    assert "[areas @ ('whole', 'no programme')] cov.population.numerator" in text
    assert len(relations) >= 30


def test_suppression_knows_every_relation_the_long_form_obeys():
    frames, relations = found()
    missing = unknown_relations(relations, frames)
    assert not missing, ("suppression does not know these relations:\n" + "\n".join(missing))


if __name__ == "__main__":  # print what the search finds
    for found_relation in found()[1]:
        print(found_relation)
