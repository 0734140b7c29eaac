"""The area tree: the registry's areas read once, and the one rule of what lies below an area.

**Below** (docs/spec-choices.md 20, the roll-up rule): an area of level k lies below an area A
of level L ≤ k when following ``parent_id`` k − L times reaches A. So an area and everything
below it is exactly what rolls up into it: the engine's figures, a user's scope, the lists of
an area and the pages' drill-down all use this rule, through :class:`AreaTree`. An area whose
chain is broken (a missing parent, a parent of the wrong level, a skipped level) lies below
nothing but itself: its rows count in the whole registry only, and only a user who sees the
whole registry sees it.
"""

from __future__ import annotations

from collections.abc import Iterable

import pandas as pd
import sqlalchemy as sa

from data_access.schema import area

AREA_COLUMNS = ("area_id", "name", "level", "parent_id", "population")
TABLE_COLUMNS = ("area_id", "name", "level", "parent_id")


class UnknownAreaError(ValueError):
    """An area id that is not in the registry's area table (or has no level)."""


class AreaTree:
    """The area table (``frame``: area_id, name, level, parent_id, population; indexed by
    area_id, one row per id, empty cells None) and the maps derived from it, built on demand."""

    def __init__(self, frame: pd.DataFrame) -> None:
        self.frame = frame
        self._ancestors: dict[int, dict[str, str]] = {}
        self._below: dict[int, dict[str, frozenset[str]]] = {}

    # Building ---------------------------------------------------------------------------
    @classmethod
    def load(cls, conn: sa.Connection) -> AreaTree:
        """The tree of the registry behind ``conn``."""
        result = conn.execute(sa.select(*(area.c[name] for name in AREA_COLUMNS)))
        return cls.from_frame(pd.DataFrame(result.fetchall(), columns=list(result.keys())))

    @classmethod
    def from_frame(cls, areas: pd.DataFrame) -> AreaTree:
        """The tree of an area table (area_id, level, parent_id; name and population optional).

        Rows without an id are dropped, a repeated id keeps its first row, a level that is not
        a number is empty (such an area lies below nothing and has nothing below it)."""
        frame = areas.reindex(columns=list(AREA_COLUMNS))
        frame = frame.dropna(subset=["area_id"]).copy()
        frame["area_id"] = frame["area_id"].astype(str)
        frame = frame.drop_duplicates("area_id")
        frame["level"] = pd.to_numeric(frame["level"], errors="coerce").astype("Int64")
        frame["parent_id"] = [None if p is None or pd.isna(p) else str(p)
                              for p in frame["parent_id"]]
        frame = frame.astype(object).where(frame.notna(), None).set_index("area_id", drop=False)
        return cls(frame)

    @classmethod
    def of(cls, areas: AreaTree | pd.DataFrame) -> AreaTree:
        """``areas`` itself, or the tree of an area table."""
        return areas if isinstance(areas, AreaTree) else cls.from_frame(areas)

    # The pages' area table --------------------------------------------------------------
    @property
    def table(self) -> pd.DataFrame:
        """area_id, name, level, parent_id of the areas with a level, by level, name and id;
        a missing name reads as the id (what the sidebar, maps and tables show)."""
        frame = self.frame[self.frame["level"].notna()]
        table = pd.DataFrame({c: list(frame[c]) for c in TABLE_COLUMNS})
        table["area_id"] = table["area_id"].astype(str)
        table["level"] = table["level"].astype(int)
        table["name"] = table["name"].where(table["name"].notna(), table["area_id"]).astype(str)
        table["parent_id"] = table["parent_id"].astype(object).where(table["parent_id"].notna(),
                                                                      None)
        return table.sort_values(["level", "name", "area_id"]).reset_index(drop=True)

    # Reading ----------------------------------------------------------------------------
    @property
    def lowest_level(self) -> int:
        levels = [v for v in self.frame["level"] if v is not None]
        return int(max(levels)) if levels else 0

    @property
    def levels(self) -> list[int]:
        return sorted({int(v) for v in self.frame["level"] if v is not None})

    def has_level(self, level: int) -> bool:
        return bool((self.frame["level"] == level).any())

    def require_level(self, level: int) -> None:
        """ValueError naming the levels present, when the tree has no area of ``level``."""
        if not self.has_level(level):
            raise ValueError(f"the registry has no area of level {level} "
                             f"(levels present: {self.levels_text()})")

    def levels_text(self) -> str:
        return ", ".join(map(str, self.levels)) or "none"

    def level_of(self, area_id: str) -> int | None:
        value = self.frame.at[area_id, "level"] if area_id in self.frame.index else None
        return None if value is None else int(value)

    def areas_at(self, level: int) -> list[str]:
        return sorted(self.frame.index[self.frame["level"] == level])

    def name(self, area_id: str) -> str | None:
        return self.frame.at[area_id, "name"] if area_id in self.frame.index else None

    def parents(self) -> dict[str, str | None]:
        """area_id -> parent_id of every area with a level (the areas of the table)."""
        frame = self.frame[self.frame["level"].notna()]
        return dict(zip(frame["area_id"], frame["parent_id"], strict=True))

    def population(self, area_id: str | None) -> int | None:
        """The area's population; for the whole registry the sum over level-1 areas."""
        if area_id is None:
            top = self.frame.loc[self.frame["level"] == 1, "population"]
            if top.empty or any(v is None for v in top):
                return None
            return int(sum(int(v) for v in top))
        value = self.frame.at[area_id, "population"] if area_id in self.frame.index else None
        return None if value is None else int(value)

    # Below and above --------------------------------------------------------------------
    def ancestor_map(self, level: int) -> dict[str, str]:
        """area_id -> the area of ``level`` it lies below (itself at that level), for every
        area that lies below one."""
        if level not in self._ancestors:
            parents = self.frame["parent_id"].to_dict()
            levels = self.frame["level"].to_dict()
            mapping: dict[str, str] = {}
            for area_id, own_level in levels.items():
                if own_level is None or own_level < level:
                    continue
                current: str | None = area_id
                for _ in range(int(own_level) - level):
                    current = parents.get(current)
                    if current is None:
                        break
                if current is not None and levels.get(current) == level:
                    mapping[area_id] = current
            self._ancestors[level] = mapping
        return self._ancestors[level]

    def below(self, area_id: str) -> frozenset[str]:
        """The area and every area below it; UnknownAreaError for an area the registry does
        not have (or without a level)."""
        level = self.level_of(area_id)
        if level is None:
            raise UnknownAreaError(f"no area `{area_id}` in the registry")
        if level not in self._below:
            groups: dict[str, set[str]] = {}
            for child, ancestor in self.ancestor_map(level).items():
                groups.setdefault(ancestor, set()).add(child)
            self._below[level] = {a: frozenset(ids) for a, ids in groups.items()}
        return self._below[level].get(area_id, frozenset({area_id}))

    def below_any(self, area_ids: Iterable[str]) -> frozenset[str]:
        """The areas below any of ``area_ids`` (each included); unknown ids add nothing."""
        found: set[str] = set()
        for area_id in area_ids:
            if self.level_of(area_id) is not None:
                found |= self.below(area_id)
        return frozenset(found)

    def above(self, area_id: str) -> tuple[str, ...]:
        """The areas the area lies below, nearest first (empty for a top area or a broken
        chain's end)."""
        level = self.level_of(area_id)
        if level is None:
            return ()
        return tuple(self.ancestor_map(up)[area_id] for up in range(level - 1, 0, -1)
                     if area_id in self.ancestor_map(up))


def read_area_tree(engine: sa.Engine) -> AreaTree:
    """The registry's area tree (the one loader of the area table)."""
    with engine.connect() as conn:
        return AreaTree.load(conn)


def read_areas(engine: sa.Engine) -> pd.DataFrame:
    """The registry's area table as the pages show it (AreaTree.table)."""
    return read_area_tree(engine).table


def below_select(roots: dict[str, int], lowest_level: int) -> sa.Select:
    """The ids of the areas below ``roots`` (area_id -> its level), selected in the database by
    the same rule: an area of level L + j is kept when following parent_id j times from it
    reaches a root of level L. For area sets too large to send as an IN list."""
    by_level: dict[int, list[str]] = {}
    for root, level in roots.items():
        by_level.setdefault(level, []).append(root)
    depth = lowest_level - min(by_level, default=lowest_level)
    hops = [area.alias("scope_area0")]
    from_clause: sa.FromClause = hops[0]
    for j in range(1, depth + 1):
        hop = area.alias(f"scope_area{j}")
        from_clause = from_clause.outerjoin(hop, hop.c.area_id == hops[-1].c.parent_id)
        hops.append(hop)
    conditions = [
        sa.and_(hops[0].c.level == level + j, hops[j].c.area_id.in_(sorted(ids)))
        for level, ids in by_level.items()
        for j in range(lowest_level - level + 1)
    ]
    return sa.select(hops[0].c.area_id).select_from(from_clause).where(sa.or_(*conditions))
