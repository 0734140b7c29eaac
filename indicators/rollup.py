"""Rolling counts up the area tree and writing the long form's rows.

Every family counts per recorded ("raw") area; counts are additive, so they are summed here to
the areas of the level asked for (through the area tree's one rule, data_access.areas) and to
the whole registry.
"""

from __future__ import annotations

import pandas as pd

from data_access.areas import AreaTree
from indicators.blocks import Parameters
from indicators.catalogue import BY_ID

WHOLE_REGISTRY_NAME = "All areas"


class Rows:
    """Collects long-form rows for the areas of one level and the whole registry."""

    def __init__(self, tree: AreaTree, level: int, params: Parameters) -> None:
        self.tree = tree
        self.level = level
        self.params = params
        self.rows: list[dict] = []
        self.level_areas = tree.areas_at(level)

    def rollup(self, counts: pd.DataFrame, keys: list[str], values: list[str]) -> dict:
        """{(area_id | None, *keys): {value: sum}} for the level's areas and the whole registry."""
        out: dict = {}
        if counts.empty:
            return out
        frame = counts.copy()
        frame["_area"] = frame["area_id"].map(self.tree.ancestor_map(self.level))
        for col in values:
            frame[col] = pd.to_numeric(frame[col]).fillna(0).astype("int64")
        for group_col, frame_part in (("_area", frame.dropna(subset=["_area"])),
                                      (None, frame.assign(_whole=None))):
            by = ([group_col] if group_col else []) + keys
            summed = (frame_part.groupby(by, dropna=False)[values].sum() if by
                      else frame_part[values].sum().to_frame().T)
            for key, row in summed.iterrows():
                key = key if isinstance(key, tuple) else (key,)
                area_key = key[0] if group_col else None
                rest = key[1:] if group_col else (key if by else ())
                out[(area_key, *rest)] = {v: int(row[v]) for v in values}
        return out

    def add(self, indicator_id: str, area_id: str | None, numerator: int | None,
            denominator: int | None, *, programme_id: str | None = None,
            breakdown: str | None = None, value: float | None = None,
            value_is_numerator: bool = False) -> None:
        ind = BY_ID[indicator_id]
        if value is None:
            if value_is_numerator:
                value = None if numerator is None else float(numerator)
            elif numerator is not None and denominator:
                value = numerator / denominator
        self.rows.append({
            "indicator_id": indicator_id,
            "area_id": area_id,
            "area_name": self.tree.name(area_id) if area_id else WHOLE_REGISTRY_NAME,
            "level": self.level if area_id else None,
            "programme_id": programme_id,
            "breakdown": breakdown,
            "period_start": self.params.period_start if ind.kind == "flow" else None,
            "period_end": self.params.period_end,
            "numerator": numerator,
            "denominator": denominator,
            "value": value,
        })

    def targets(self) -> list[str | None]:
        """The level's areas, then the whole registry (None)."""
        return [*self.level_areas, None]


def cell(table: dict, key: tuple, name: str) -> int:
    """The rolled-up count ``name`` of ``key`` (0 when nothing was counted there)."""
    return table.get(key, {}).get(name, 0)
