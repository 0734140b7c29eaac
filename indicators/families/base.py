"""What a family is, and what one computation hands to it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import pandas as pd
import sqlalchemy as sa

from data_access.areas import AreaTree
from indicators.blocks import Blocks
from indicators.rollup import Rows


@dataclass
class Run:
    """One computation of the long form: the registry connection, the building blocks for its
    parameters, the rows being written, which indicators were asked for, and the counts a
    family leaves for another (the population's persons serve dup.suspected_pairs)."""

    conn: sa.Connection
    blocks: Blocks
    rows: Rows
    tree: AreaTree
    level: int
    wanted: set[str]
    programme_ids: list[str]
    suspected_pairs: pd.DataFrame | None = None
    _shared: dict[str, pd.DataFrame] = field(default_factory=dict)

    def has_shared(self, name: str) -> bool:
        return name in self._shared

    def shared(self, name: str,
               count: Callable[[sa.Connection, Blocks], pd.DataFrame] | None) -> pd.DataFrame:
        """The counts ``name``, counted once per computation with ``count``."""
        if name not in self._shared:
            assert count is not None, f"no counts `{name}` yet"
            self._shared[name] = count(self.conn, self.blocks)
        return self._shared[name]


@dataclass(frozen=True)
class Family:
    """A group of indicators counted together: ``run`` writes the rows of ``emits`` (those of
    them the run asks for) into ``run.rows``. The catalogue's ``computed_by`` names it."""

    name: str
    emits: tuple[str, ...]
    run: Callable[[Run], None]
