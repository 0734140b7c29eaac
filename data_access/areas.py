"""The area hierarchy, read once (it is small): names, levels, populations and roll-up maps."""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd
import sqlalchemy as sa

from data_access.schema import area


def descendants(areas: pd.DataFrame, area_id: str) -> set[str]:
    """The area and every area below it (``areas``: area_id, parent_id); cycles cannot loop."""
    children: dict[str, list[str]] = {}
    for child, parent in zip(areas["area_id"], areas["parent_id"], strict=True):
        if parent is not None and not pd.isna(parent):
            children.setdefault(str(parent), []).append(str(child))
    found, todo = {area_id}, [area_id]
    while todo:
        for child in children.get(todo.pop(), []):
            if child not in found:
                found.add(child)
                todo.append(child)
    return found


@dataclass
class AreaTree:
    frame: pd.DataFrame  # area_id, name, level, parent_id, population
    _maps: dict[int, dict[str, str]] = field(default_factory=dict)

    @classmethod
    def load(cls, conn: sa.Connection) -> AreaTree:
        result = conn.execute(sa.select(area.c.area_id, area.c.name, area.c.level,
                                        area.c.parent_id, area.c.population))
        frame = pd.DataFrame(result.fetchall(), columns=list(result.keys()))
        frame = frame.dropna(subset=["area_id"]).drop_duplicates("area_id")
        frame["level"] = pd.to_numeric(frame["level"], errors="coerce").astype("Int64")
        frame = frame.astype(object).where(frame.notna(), None).set_index("area_id", drop=False)
        return cls(frame)

    @property
    def lowest_level(self) -> int:
        levels = [v for v in self.frame["level"] if v is not None]
        return int(max(levels)) if levels else 0

    def has_level(self, level: int) -> bool:
        return bool((self.frame["level"] == level).any())

    def levels_text(self) -> str:
        levels = sorted({int(v) for v in self.frame["level"] if v is not None})
        return ", ".join(map(str, levels)) or "none"

    def areas_at(self, level: int) -> list[str]:
        return sorted(self.frame.index[self.frame["level"] == level])

    def name(self, area_id: str) -> str | None:
        return self.frame.at[area_id, "name"] if area_id in self.frame.index else None

    def population(self, area_id: str | None) -> int | None:
        """The area's population; for the whole registry the sum over level-1 areas."""
        if area_id is None:
            top = self.frame.loc[self.frame["level"] == 1, "population"]
            if top.empty or any(v is None for v in top):
                return None
            return int(sum(int(v) for v in top))
        value = self.frame.at[area_id, "population"] if area_id in self.frame.index else None
        return None if value is None else int(value)

    def ancestor_map(self, level: int) -> dict[str, str]:
        """area_id -> its ancestor at ``level`` (itself at that level) for every area that has one.

        The ancestor of an area of level k >= level is reached by following parent_id k - level
        times; it must exist and be of ``level``. Broken chains map to nothing.
        """
        if level not in self._maps:
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
            self._maps[level] = mapping
        return self._maps[level]
