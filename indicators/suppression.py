"""Donor suppression: small cells are hidden, and so are enough others that no hidden count
can be worked out from the published ones by addition or subtraction. No Streamlit.

The method (docs/suppression.md tells it for readers; this is the reference):

1. **Cells.** Every count a donor could read is a cell: the numerator and the denominator of
   each figure of the long form, keyed by (quantity, area, programme, breakdown). The
   quantity names what is counted (the catalogue's ``numerator_counts`` and
   ``denominator_counts``, :func:`quantity`), so a count published under two indicators —
   the registered persons behind ``cov.population`` and ``dup.suspected_pairs``, the
   eligible units behind both ``cov.programme`` and ``cov.exclusion``, the referrals made
   behind ``ref.made`` and ``ref.completed``, the enrolled units of every programme behind
   ``dup.double_enrolment`` — is one cell and is hidden everywhere or nowhere. A figure's value is
   its numerator over its denominator, so it is hidden when either of them is.
2. **Additive groups**: a total and the cells that add up to it, treated as equations
   ``total = part_1 + … + part_n``:

   - the area tree: an area and the areas just below it (for each quantity, programme and
     breakdown); the whole registry and the top-level areas. With levels missing from the
     frame, an area's parent is its nearest ancestor present;
   - breakdowns: the cells of one breakdown (``sex=F``, ``sex=M``, ``sex=X``) and the
     figure without breakdown; each breakdown (sex, age, disability, access point…) is
     its own group;
   - programmes: the per-programme cells and the cell without programme, where both exist;
   - relations between quantities, derived from the catalogue's declared quantities
     (indicators.catalogue.QUANTITIES: each a set of units meeting some conditions):
     a split by a condition and its negation (:data:`RELATIONS`: eligible units = enrolled
     + not enrolled; enrolled units = eligible + not eligible; persons with a national id
     = well formed + malformed) and a union of breakdown cells (:data:`UNIONS`: adults =
     ``age=18-59`` + ``age=60+`` of the registered persons). ``tests/test_relations.py``
     finds the sums the long form obeys on random registries and fails if one is missing.

   Where a relation is really an inequality (a person counted once in a parent but in two
   children, referrals without an access point) taking it as an equation only hides more:
   an attacker has fewer equations than the method protects against.
3. **Primary suppression**: a count from 1 to ``threshold − 1`` (the rule of
   views.progress.is_small: zero identifies no one and is shown). A figure without
   counts (the median days to complete a referral) is hidden when the count behind it
   (:data:`COUNT_PROXY`) is hidden, small or unknown.
4. **Complementary suppression**, the standard rule iterated until stable: a group with
   exactly one hidden cell gets a second one — the smallest non-zero other part, else the
   total, else a zero part (a hidden zero protects little once counts are known to be
   ≥ 0). A new hidden cell belongs to other groups (its parent's, its breakdown's), which
   are checked again; ties go to the first cell by area, programme and breakdown (not by
   indicator), so the same counts always give the same pattern.
5. **Audit and repair.** The rule alone is not enough where groups cross (areas × sex):
   two blocks of hidden cells joined by a single hidden cell satisfy "never alone" while
   that cell is the difference of two known sums. So every hidden cell is checked with
   linear algebra — unknowns: the hidden cells; equations: every group, published values
   moved to the right-hand side; a hidden cell is recoverable iff its unit vector lies in
   the row space, i.e. every vector of the null space is zero there (:func:`recoverable`:
   equations with one or two unknowns are eliminated exactly, the rest is solved with an
   SVD per connected block). Each recoverable cell gets one more hidden cell in one of its
   groups, the rule runs again, and so on until no hidden cell is recoverable.

Limits, written down: equations only. Counts are ≥ 0, so a hidden cell can be narrowed to
an interval (a hidden 3 beside a hidden 0 under a total of 3 lies in [0, 3]); the method
prefers non-zero complements to keep intervals wide but sets no minimum width (τ-ARGUS's
"protection level"). Suppress once over everything a donor can see — every level, indicator
and programme of one date together (a snapshot) — then filter to the donor's areas: two
patterns computed separately (a district page and a union-council page) can leak through
each other. Flows of overlapping periods (monthly snapshots of a 3-month window) are not
related by equations here.
"""

from __future__ import annotations

import heapq
import logging
from collections.abc import Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits

from core.values import as_int, plain
from indicators.catalogue import BY_ID, QUANTITIES, Quantity

log = logging.getLogger(__name__)

DEFAULT_THRESHOLD = 5

Relation = tuple[str, tuple[str, ...]]  # total quantity = the sum of the part quantities
Union = tuple[str, str, tuple[str, ...]]  # quantity = the sum of another's breakdown cells


def quantity(indicator_id: str, measure: str) -> str:
    """What a figure's numerator or denominator counts: the catalogue's name for it
    (Indicator.numerator_counts / denominator_counts), so a count published under two
    indicators is one cell; ``<indicator_id>.<measure>`` where the catalogue names none."""
    ind = BY_ID.get(indicator_id)
    name = "" if ind is None else getattr(ind, f"{measure}_counts", "")
    return name or f"{indicator_id}.{measure}"


def split_relations(quantities: Sequence[Quantity] = QUANTITIES) -> tuple[Relation, ...]:
    """Every split the catalogue's quantities declare: a quantity and two of its refinements by
    one condition and its negation (``{eligible}`` = ``{eligible, enrolled}`` +
    ``{eligible, not enrolled}``), as ``(total, (part, part))``."""
    by_set = {(q.universe, q.where, q.within): q.name for q in quantities}
    found: list[Relation] = []
    for whole in quantities:
        for refined in quantities:
            extra = refined.where - whole.where
            if (refined.universe != whole.universe or refined.within != whole.within
                    or not whole.where < refined.where or len(extra) != 1):
                continue
            (condition,) = extra
            if condition.startswith("not "):
                continue  # each split once, from its positive condition
            other = by_set.get((whole.universe, whole.where | {f"not {condition}"},
                                whole.within))
            if other is not None:
                found.append((whole.name, (refined.name, other)))
    return tuple(sorted(found))


def breakdown_unions(quantities: Sequence[Quantity] = QUANTITIES) -> tuple[Union, ...]:
    """Every quantity declared as the union of breakdown cells of another (adults = the
    ``age=18-59`` and ``age=60+`` cells of the registered persons), as
    ``(quantity, base quantity, breakdown labels)``."""
    by_set = {(q.universe, q.where, q.within): q.name for q in quantities}
    found: list[Union] = []
    for q in quantities:
        base = by_set.get((q.universe, q.where, ())) if q.within else None
        if base is not None:
            found.append((q.name, base, tuple(q.within)))
    return tuple(sorted(found))


# total quantity = sum of part quantities, for the same area, programme and breakdown
# (derived from the catalogue's QUANTITIES).
RELATIONS: tuple[Relation, ...] = split_relations()
UNIONS: tuple[Union, ...] = breakdown_unions()
# Figures without counts, and the indicator whose numerator counts the units behind them
# (the same as views.progress.COUNT_PROXY; a test keeps them in step).
COUNT_PROXY: dict[str, str] = {"ref.days_to_complete": "ref.completed"}

Key = tuple[str, Any, Any, Any]  # (quantity, area_id, programme_id, breakdown); None: none


def is_small(count: Any, threshold: int) -> bool:
    """A count that could identify someone: 1 to threshold − 1 (0 and unknown are not)."""
    number = as_int(count)
    return number is not None and 1 <= number < threshold


@dataclass(frozen=True)
class Group:
    """An additive relation: ``total`` = the sum of ``parts``."""

    total: Hashable
    parts: tuple[Hashable, ...]

    @property
    def members(self) -> tuple[Hashable, ...]:
        return (self.total, *self.parts)


def _order(key: Hashable) -> tuple:
    """Tie-break: by area, programme, breakdown (not by quantity), then the whole key."""
    if isinstance(key, tuple):
        return (tuple("" if p is None else str(p) for p in key[1:]),
                tuple("" if p is None else str(p) for p in key))
    return ((str(key),), (str(key),))


def _cost(group: Group, member: Hashable, values: Mapping[Hashable, int],
          new_lone: int = 0) -> tuple:
    """How much hiding ``member`` as ``group``'s complement costs, least first: a zero protects
    little (counts are >= 0); then the groups it would leave with a lone hidden cell (each
    needs a complement of its own: a cascade); then a total rather than a part; then its
    value (the smallest cell, not the thousands)."""
    value = int(values.get(member) or 0)
    return (value == 0, new_lone, member == group.total, value, _order(member))


def _new_lone(member: Hashable, group_index: int | None, member_groups: Sequence[int],
              hidden_in: Sequence[int]) -> int:
    """The groups of ``member`` (but ``group_index``) with no hidden cell yet: hiding it would
    leave each with a lone hidden cell."""
    return sum(1 for g in member_groups if g != group_index and hidden_in[g] == 0)


def primary_cells(values: Mapping[Hashable, Any], threshold: int) -> set[Hashable]:
    return {key for key, value in values.items() if is_small(value, threshold)}


def apply_rule(values: Mapping[Hashable, int], groups: Sequence[Group],
               hidden: Iterable[Hashable]) -> set[Hashable]:
    """The "never alone" rule until stable: a group with exactly one hidden cell gets a second
    (smallest non-zero other part, else the total, else a zero part). The hidden set."""
    hidden = set(hidden)
    by_member: dict[Hashable, list[int]] = {}
    for index, group in enumerate(groups):
        for member in group.members:
            by_member.setdefault(member, []).append(index)
    hidden_in = [sum(m in hidden for m in group.members) for group in groups]
    # Groups are taken in their order (build_groups sorts them), so a pattern never depends
    # on hashing: a heap of group indexes, a group queued again when one of its cells hides.
    todo = list(range(len(groups)))
    queued = set(todo)
    while todo:
        index = heapq.heappop(todo)
        queued.discard(index)
        group = groups[index]
        if hidden_in[index] != 1:
            continue
        candidates = [m for m in group.members if m not in hidden]
        if not candidates:
            continue
        pick = min(candidates, key=lambda m: _cost(
            group, m, values, _new_lone(m, index, by_member[m], hidden_in)))
        hidden.add(pick)
        for other in by_member.get(pick, ()):
            hidden_in[other] += 1
            if other not in queued:
                queued.add(other)
                heapq.heappush(todo, other)
    return hidden


def _rows(groups: Sequence[Group], hidden: set[Hashable]) -> list[dict[Hashable, int]]:
    """Each group's equation restricted to the hidden cells (the rest is the right-hand side)."""
    rows = []
    for group in groups:
        row: dict[Hashable, int] = {}
        for member, sign in ((group.total, 1), *((p, -1) for p in group.parts)):
            if member in hidden:
                row[member] = row.get(member, 0) + sign
        row = {k: v for k, v in row.items() if v != 0}
        if row:
            rows.append(row)
    return rows


class _Reduction:
    """Exact elimination of the equations with one or two unknowns.

    An equation ``±x ± y = known`` makes x equal to ±y plus a known amount: x is merged into
    y (x is recoverable iff y is). An equation with one unknown left fixes it. Chains of
    equal cells (an access point's count at every level above it) collapse this way, so the
    blocks left for the SVD are small.
    """

    def __init__(self) -> None:
        self.parent: dict[Hashable, tuple[Hashable, int]] = {}
        self.known: set[Hashable] = set()

    def root(self, cell: Hashable) -> tuple[Hashable, int]:
        sign = 1
        path = []
        while cell in self.parent:
            path.append(cell)
            cell, step = self.parent[cell]
            sign *= step
        # path compression: each cell on the path points at the root with its sign
        running = sign
        for node in path:
            _, step = self.parent[node]
            self.parent[node] = (cell, running)
            running *= step
        return cell, sign

    def reduce(self, row: Mapping[Hashable, int]) -> dict[Hashable, int]:
        out: dict[Hashable, int] = {}
        for cell, coefficient in row.items():
            root, sign = self.root(cell)
            if root not in self.known:
                out[root] = out.get(root, 0) + coefficient * sign
        return {k: v for k, v in out.items() if v != 0}

    def run(self, rows: list[dict[Hashable, int]]) -> list[dict[Hashable, int]]:
        """Eliminate what it can; the equations left (each with three or more unknowns, or
        two with other coefficients than ±1), over the roots."""
        changed = True
        while changed:
            changed = False
            left = []
            for row in rows:
                row = self.reduce(row)
                if not row:
                    continue
                if len(row) == 1:
                    self.known.add(next(iter(row)))
                    changed = True
                elif len(row) == 2 and all(abs(v) == 1 for v in row.values()):
                    (x, a), (y, b) = sorted(row.items(), key=lambda kv: _order(kv[0]))
                    self.parent[x] = (y, -a * b)  # a·x + b·y = c  =>  x = -(b/a)·y + c/a
                    changed = True
                else:
                    left.append(row)
            rows = left
        return [self.reduce(row) for row in rows]


def _blocks(rows: list[dict[Hashable, int]]) -> list[list[int]]:
    """Connected blocks of equations (two equations are linked when they share an unknown)."""
    parent = list(range(len(rows)))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    first_row: dict[Hashable, int] = {}
    for index, row in enumerate(rows):
        for cell in row:
            if cell in first_row:
                a, b = find(index), find(first_row[cell])
                if a != b:
                    parent[a] = b
            else:
                first_row[cell] = index
    blocks: dict[int, list[int]] = {}
    for index in range(len(rows)):
        blocks.setdefault(find(index), []).append(index)
    return list(blocks.values())


def _fixed_in_block(rows: list[dict[Hashable, int]]) -> set[Hashable]:
    """The unknowns of a block of equations whose value they fix: those at which every
    null-space vector is zero (SVD; the matrices hold small integers, and the tolerance is
    far above rounding and far below the smallest null-space entry they give)."""
    cells = sorted({cell for row in rows for cell in row}, key=_order)
    column = {cell: j for j, cell in enumerate(cells)}
    matrix = np.zeros((len(rows), len(cells)))
    for i, row in enumerate(rows):
        for cell, coefficient in row.items():
            matrix[i, column[cell]] = coefficient
    # One BLAS thread: these matrices are a few hundred wide, and OpenBLAS's threads spin
    # against each other on a busy server (measured 62 s against 6 s for the 20,000-household
    # demo's protection on 2 shared cores).
    with threadpool_limits(limits=1, user_api="blas"):
        _, singular, vt = np.linalg.svd(matrix, full_matrices=True)
    tolerance = singular.max(initial=0.0) * max(matrix.shape) * np.finfo(float).eps * 10
    rank = int((singular > tolerance).sum())
    null_space = vt[rank:]
    if null_space.shape[0] == 0:
        return set(cells)
    weight = np.abs(null_space).max(axis=0)
    return {cell for cell, j in column.items() if weight[j] < 1e-7}


def recoverable(groups: Sequence[Group], hidden: Iterable[Hashable], *,
                cache: dict | None = None) -> set[Hashable]:
    """Hidden cells whose value the groups' equations fix, given every published cell.

    A hidden cell x_i is recoverable iff e_i is in the row space of the equations over the
    hidden cells, i.e. iff every null-space vector is zero at i. Equations with one or two
    unknowns are eliminated exactly (:class:`_Reduction`); the rest is solved per connected
    block with an SVD. ``cache`` (a dict kept between calls) skips blocks already solved.
    """
    hidden = set(hidden)
    reduction = _Reduction()
    rows = reduction.run(_rows(groups, hidden))
    fixed_roots = set(reduction.known)
    for block in _blocks(rows):
        block_rows = [rows[i] for i in block]
        key = frozenset(frozenset(row.items()) for row in block_rows)
        if cache is not None and key in cache:
            fixed_roots |= cache[key]
            continue
        fixed = _fixed_in_block(block_rows)
        if cache is not None:
            cache[key] = fixed
        fixed_roots |= fixed
    return {cell for cell in hidden if reduction.root(cell)[0] in fixed_roots}


def protect(values: Mapping[Hashable, int], groups: Sequence[Group],
            primary: Iterable[Hashable]) -> set[Hashable]:
    """Every cell to hide: the primary ones, their complements by the rule, and repairs until
    no hidden cell is recoverable (see the module's notes)."""
    hidden = apply_rule(values, groups, primary)
    by_member: dict[Hashable, list[int]] = {}
    for index, group in enumerate(groups):
        for member in group.members:
            by_member.setdefault(member, []).append(index)
    cache: dict = {}
    while True:
        leaks = recoverable(groups, hidden, cache=cache)
        added = False
        hidden_in = [sum(m in hidden for m in group.members) for group in groups]

        def cost(member: Hashable, index: int, hidden_in: list[int] = hidden_in) -> tuple:
            return _cost(groups[index], member, values,
                         _new_lone(member, index, by_member[member], hidden_in))

        for cell in sorted(leaks, key=_order):
            if cell not in hidden:
                continue
            options = [(min((m for m in groups[i].members if m not in hidden),
                            key=lambda m, i=i: cost(m, i)), i)
                       for i in by_member.get(cell, ())
                       if any(m not in hidden for m in groups[i].members)]
            if not options:
                continue  # every cell of its groups is hidden: a structural identity
            pick, _ = min(options, key=lambda option: cost(*option))
            if pick not in hidden:
                hidden.add(pick)
                for index in by_member[pick]:
                    hidden_in[index] += 1
                added = True
        if not added:
            if leaks:
                log.warning("%d hidden cells stay recoverable from structural identities",
                            len(leaks))
            return hidden
        hidden = apply_rule(values, groups, hidden)


# The long form ------------------------------------------------------------------------------

def _parents(areas: pd.DataFrame | None) -> dict[str, str | None]:
    if areas is None or areas.empty:
        return {}
    return {str(a): (None if plain(p) is None else str(p))
            for a, p in zip(areas["area_id"], areas["parent_id"], strict=True)}


def figure_cells(figures: pd.DataFrame) -> tuple[dict[Key, int], list[tuple[Key | None, ...]]]:
    """The cells of a long form (values by key) and, for each figure row, its two cells' keys
    (None where the count is missing)."""
    values: dict[Key, int] = {}
    row_keys: list[tuple[Key | None, ...]] = []
    columns = ["indicator_id", "area_id", "programme_id", "breakdown", "numerator",
               "denominator"]
    for indicator_id, area_id, programme_id, breakdown, num, den in (
            figures[columns].itertuples(index=False, name=None)):
        keys: list[Key | None] = []
        for measure, count in (("numerator", num), ("denominator", den)):
            number = as_int(count)
            if number is None:
                keys.append(None)
                continue
            key = (quantity(indicator_id, measure), plain(area_id), plain(programme_id),
                   plain(breakdown))
            if key in values and values[key] != number:
                log.warning("%s counts %s and %s for one key: kept apart", key, values[key],
                            number)
                key = (f"{indicator_id}.{measure}", *key[1:])
            values[key] = number
            keys.append(key)
        row_keys.append(tuple(keys))
    return values, row_keys


def build_groups(keys: Iterable[Key], areas: pd.DataFrame | None,
                 relations: Sequence[Relation] = RELATIONS,
                 unions: Sequence[Union] = UNIONS) -> list[Group]:
    """The additive groups among the cells (see the module's notes, step 2).

    ``areas``: area_id and parent_id of the registry's areas (the tree); areas missing from
    it hang under the whole registry.
    """
    keys = sorted(set(keys), key=_order)
    present_keys = set(keys)
    parent_of = _parents(areas)
    groups: list[Group] = []

    # The area tree, per (quantity, programme, breakdown): parent = nearest present ancestor.
    by_slice: dict[tuple, set] = {}
    for q, area_id, programme_id, breakdown in keys:
        by_slice.setdefault((q, programme_id, breakdown), set()).add(area_id)
    for (q, programme_id, breakdown), present in by_slice.items():
        children: dict[Any, list] = {}
        for area_id in present:
            if area_id is None:
                continue
            node, seen = parent_of.get(area_id), {area_id}
            while node is not None and node not in present and node not in seen:
                seen.add(node)
                node = parent_of.get(node)
            if node in seen:  # a cycle in the tree: no parent
                node = None
            if node is None and None not in present:
                continue
            children.setdefault(node, []).append(area_id)
        for total, parts in children.items():
            groups.append(Group((q, total, programme_id, breakdown),
                                tuple((q, a, programme_id, breakdown)
                                      for a in sorted(parts, key=str))))

    # Breakdowns, per (quantity, area, programme): one group per dimension.
    dims: dict[tuple, dict[str, list]] = {}
    for q, area_id, programme_id, breakdown in keys:
        if breakdown is not None:
            dim = str(breakdown).split("=", 1)[0]
            dims.setdefault((q, area_id, programme_id), {}).setdefault(dim, []).append(breakdown)
    for (q, area_id, programme_id), by_dim in dims.items():
        total = (q, area_id, programme_id, None)
        if total not in present_keys:
            continue
        for labels in by_dim.values():
            groups.append(Group(total, tuple((q, area_id, programme_id, b)
                                             for b in sorted(labels, key=str))))

    # Programmes, per (quantity, area, breakdown), where the cell without programme exists.
    programmes: dict[tuple, list] = {}
    for q, area_id, programme_id, breakdown in keys:
        if programme_id is not None:
            programmes.setdefault((q, area_id, breakdown), []).append(programme_id)
    for (q, area_id, breakdown), ids in programmes.items():
        total = (q, area_id, None, breakdown)
        if total in present_keys:
            groups.append(Group(total, tuple((q, area_id, p, breakdown)
                                             for p in sorted(ids, key=str))))

    # Relations between quantities.
    for total_q, part_qs in relations:
        for q, area_id, programme_id, breakdown in keys:
            if q != total_q:
                continue
            parts = tuple((p, area_id, programme_id, breakdown) for p in part_qs)
            if all(p in present_keys for p in parts):
                groups.append(Group((q, area_id, programme_id, breakdown), parts))

    # Quantities that are the sum of another's breakdown cells (adults = two age groups).
    for total_q, base_q, labels in unions:
        for q, area_id, programme_id, breakdown in keys:
            if q != total_q or breakdown is not None:
                continue
            parts = tuple((base_q, area_id, programme_id, label) for label in labels)
            if all(p in present_keys for p in parts):
                groups.append(Group((q, area_id, programme_id, None), parts))
    return sorted(groups, key=lambda g: (_order(g.total), tuple(_order(p) for p in g.parts)))


def suppress_figures(figures: pd.DataFrame, areas: pd.DataFrame | None, *,
                     threshold: int = DEFAULT_THRESHOLD) -> pd.DataFrame:
    """The long form with what a donor may not see marked (nothing removed).

    Adds ``numerator_hidden``, ``denominator_hidden``, ``suppressed`` (the value is hidden)
    and ``suppression`` ("primary", "complementary" or ""). ``figures``: the long form of
    everything the donor can see, every level together (whole-registry rows repeated across
    levels are one cell); ``areas``: area_id and parent_id of the registry's areas.
    """
    values, row_keys = figure_cells(figures)
    groups = build_groups(values, areas)
    primary = primary_cells(values, threshold)
    hidden = protect(values, groups, primary)

    columns = ["indicator_id", "area_id", "programme_id", "breakdown", "value"]
    rows = list(figures[columns].itertuples(index=False, name=None))
    # The numerator cell of the figures that stand as count proxies for others.
    proxy_targets = set(COUNT_PROXY.values())
    proxy_cell = {(indicator_id, plain(a), plain(p), plain(b)): keys[0]
                  for (indicator_id, a, p, b, _), keys in zip(rows, row_keys, strict=True)
                  if indicator_id in proxy_targets and keys[0] is not None}
    numerator_hidden, denominator_hidden, suppressed, reason = [], [], [], []
    for (indicator_id, area_id, programme_id, breakdown, value), (num_key, den_key) in zip(
            rows, row_keys, strict=True):
        n_hidden = num_key is not None and num_key in hidden
        d_hidden = den_key is not None and den_key in hidden
        is_primary = any(k is not None and k in primary for k in (num_key, den_key))
        if num_key is None and den_key is None:
            # A figure without counts: judged by the count behind it, hidden when in doubt.
            proxy = COUNT_PROXY.get(indicator_id)
            cell = proxy_cell.get((proxy, plain(area_id), plain(programme_id),
                                   plain(breakdown))) if proxy else None
            if plain(value) is None:
                hide = is_primary = False
            elif cell is None or values[cell] < threshold:
                hide = is_primary = True
            else:
                hide = cell in hidden
        else:
            hide = n_hidden or d_hidden
        numerator_hidden.append(n_hidden)
        denominator_hidden.append(d_hidden)
        suppressed.append(hide)
        reason.append("primary" if hide and is_primary else "complementary" if hide else "")
    out = figures.copy()
    out["numerator_hidden"] = numerator_hidden
    out["denominator_hidden"] = denominator_hidden
    out["suppressed"] = suppressed
    out["suppression"] = reason
    return out


def published_figures(figures: pd.DataFrame, areas: pd.DataFrame | None, *,
                      threshold: int = DEFAULT_THRESHOLD) -> pd.DataFrame:
    """What a donor sees: the long form with hidden counts and values blanked (None), and the
    ``suppressed`` and ``suppression`` columns saying which and why."""
    marked = suppress_figures(figures, areas, threshold=threshold)
    out = marked.drop(columns=["numerator_hidden", "denominator_hidden"])
    for column in ("numerator", "denominator", "value"):
        out[column] = out[column].astype(object)
    out.loc[marked["numerator_hidden"].to_numpy(), "numerator"] = None
    out.loc[marked["denominator_hidden"].to_numpy(), "denominator"] = None
    out.loc[marked["suppressed"].to_numpy(), "value"] = None
    return out
