"""What a user may see: the areas of a UserContext resolved against the registry's area tree.

A context names one or more areas; its **scope** is those areas and every area below them
(by ``parent_id``); a context without areas sees the whole registry. Rows of the whole
registry (an empty ``area_id``: totals over every area) belong only to a context that sees
the whole registry. Everything data_access hands out goes through this module, so a page
cannot forget the scope:

- registry figures and areas (ui.queries, indicators.figures), lists
  (indicators.lists), referral counts (ui.list_queries);
- what the app store holds about areas — meetings and action points (data_access.meetings),
  snapshot series (data_access.snapshots), targets (data_access.targets) — through a
  :class:`Scope`, which carries the area tree because the app store does not have it.

A :class:`Scope` also carries the donor's small-cell threshold (``privacy.small_cell_threshold``):
what a donor reads is suppressed (indicators.suppression) inside data_access too.
No Streamlit here.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import cached_property

import pandas as pd

from core.i18n import N_, Message
from core.values import as_text
from data_access.areas import AreaTree
from data_access.context import UserContext

DEFAULT_THRESHOLD = 5


class ScopeError(PermissionError):
    """An area (or the whole registry) outside what the user may see; a plain message."""


class ListPermissionError(PermissionError):
    """The user may not see lists, or not those of that area (not an operating-system error)."""


def require_lists(context: UserContext) -> None:
    """PermissionError in plain words when the context may not see row-level lists."""
    if not context.sees_lists:
        raise ListPermissionError(N_(
            "The {role} role sees aggregate figures only: lists of households and persons are "
            "not available to it.", role=Message(context.role, {})))


def visible_area_ids(areas: AreaTree | pd.DataFrame, context: UserContext) -> set[str] | None:
    """The area_ids the context may see (an area of the context or one below it, by the area
    tree's rule); None = all."""
    if context.whole_registry:
        return None
    return set(AreaTree.of(areas).below_any(context.areas))


def scope_areas(areas: AreaTree | pd.DataFrame, context: UserContext) -> pd.DataFrame:
    """The rows of the area table (AreaTree.table, or the table given) the context may see."""
    table = areas.table if isinstance(areas, AreaTree) else areas
    visible = visible_area_ids(areas, context)
    if visible is None:
        return table
    return table[table["area_id"].isin(visible)].reset_index(drop=True)


def scope_figures(figures: pd.DataFrame, visible: set[str] | frozenset[str] | None,
                  context: UserContext) -> pd.DataFrame:
    """The rows of a long form (any frame with ``area_id``) the context may see."""
    if visible is None and context.whole_registry:
        return figures
    keep = figures["area_id"].isin(visible or set())
    if context.whole_registry:
        keep |= figures["area_id"].isna()
    return figures[keep].reset_index(drop=True)


@dataclass(frozen=True, eq=False)
class Scope:
    """A context resolved against the area tree: what it may see, and how donors' figures are
    suppressed. Build it with :func:`scope_of` (or :meth:`everything` for tools and tests)."""

    context: UserContext
    area_ids: frozenset[str] | None  # the visible areas; None: every area
    parents: Mapping[str, str | None] = field(default_factory=dict)  # the whole area tree
    threshold: int = DEFAULT_THRESHOLD  # donors: counts from 1 to threshold - 1 are hidden
    period_months: int = 3  # donors: figures of calendar periods of this length only

    @classmethod
    def everything(cls, role: str = "admin", threshold: int = DEFAULT_THRESHOLD) -> Scope:
        """The scope of a user who sees the whole registry (a command-line tool, a test)."""
        return cls(UserContext(role), None, {}, threshold)

    @property
    def whole_registry(self) -> bool:
        return self.context.whole_registry

    @property
    def suppressed(self) -> bool:
        """Whether figures are suppressed for this user (donors: aggregates only)."""
        return self.context.sees_suppressed_figures

    @cached_property
    def tree(self) -> pd.DataFrame:
        """area_id and parent_id of every area of the registry (for suppression groups)."""
        return pd.DataFrame({"area_id": list(self.parents),
                             "parent_id": list(self.parents.values())}, dtype=object)

    @cached_property
    def tree_key(self) -> int:
        """A hash of the area tree (a cache key)."""
        return hash(tuple(sorted((a, p or "") for a, p in self.parents.items())))

    def allows(self, area_id: str | None) -> bool:
        """Whether the area (None: the whole registry) is within the scope."""
        area = as_text(area_id)
        if area is None:
            return self.whole_registry
        return self.area_ids is None or area in self.area_ids

    def require(self, area_id: str | None) -> None:
        """ScopeError in plain words when the area is outside the scope."""
        if not self.allows(area_id):
            where = "the whole registry" if as_text(area_id) is None else f"area `{area_id}`"
            raise ScopeError(f"{where[0].upper()}{where[1:]} is outside the areas this user "
                             f"may see ({', '.join(self.context.areas) or 'none'}).")

    def keep_ids(self, area_ids: Iterable[str | None]) -> list[str | None]:
        """The ids (None: the whole registry) within the scope, in their order."""
        return [a for a in area_ids if self.allows(a)]

    def keep(self, frame: pd.DataFrame, column: str = "area_id") -> pd.DataFrame:
        """The rows of ``frame`` whose ``column`` is within the scope."""
        if self.area_ids is None and self.whole_registry:
            return frame
        keep = [self.allows(a) for a in frame[column]]
        return frame[keep].reset_index(drop=True)


def scope_of(context: UserContext, areas: AreaTree | pd.DataFrame,
             threshold: int = DEFAULT_THRESHOLD, period_months: int = 3) -> Scope:
    """The scope of ``context`` over the area tree (or an area table)."""
    tree = AreaTree.of(areas)
    visible = visible_area_ids(tree, context)
    return Scope(context, None if visible is None else frozenset(visible), tree.parents(),
                 int(threshold), int(period_months))
