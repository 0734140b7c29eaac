"""The lists officers work: the rows behind an indicator's numerator, streamed from the database.

Each list is declared as data (:data:`LISTS`): an id, a title, its columns (which of them are
personal) and the indicator whose numerator it lists. The rows are selected with SQLAlchemy
Core from the indicator engine's building blocks (registered units, active enrolments, what a
household receives, valid referrals), so a list has exactly as many rows as the indicator's
numerator counts, for the whole registry and for any area. Everything runs in the database;
rows come back in chunks through a server-side cursor. No Streamlit here.

    for chunk in list_rows(engine, "overdue_referrals", context=ctx, area_id="PK601",
                           areas=areas, as_of=d, period_start=start,
                           referral_sla_days=30, poverty_cutoff=32):
        ...

Area filter: a list restricted to an area holds the rows whose household's area (as
recorded) is that area or one below it, by the engine's roll-up rule (an area of level k is
below A of level L when following ``parent_id`` k - L times reaches A). The descendant ids are
computed in Python from the area table; up to :data:`IN_LIST_LIMIT` of them are sent as an
``IN`` list, beyond that the database walks the parent chain itself (``IN`` a select over the
area table joined to its parents), which both SQLite and PostgreSQL plan as a semi-join.
"""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.sql.elements import ColumnElement

from core.i18n import N_
from core.values import as_date
from data_access import dialects
from data_access.areas import (  # noqa: F401  (UnknownAreaError: part of the lists API)
    AreaTree,
    UnknownAreaError,
    below_select,
    read_area_tree,
)
from data_access.context import UserContext
from data_access.registry import connection, default_as_of
from data_access.registry_tables import DATED_TABLES, UNREADABLE
from data_access.schema import (
    REGISTRY_TABLES,
    area,
)
from data_access.scope import ListPermissionError, require_lists  # noqa: F401  (part of the lists API)
from indicators.blocks import (
    CLOSED_STATUSES,
    REFERRAL_STATUSES,
    Blocks,
    Parameters,
    building_blocks,
    default_period_start,
    years_before,
)

DEFAULT_CHUNK_SIZE = 50_000
REGISTRY_TABLE = {t.name: t for t in REGISTRY_TABLES}
# Descendant area ids sent as bound parameters at most; more are selected in the database.
IN_LIST_LIMIT = 2_000
AREA_COLUMNS = ("area_id", "name", "level", "parent_id")


# --------------------------------------------------------------------------------------
# The catalogue of lists
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ListColumn:
    name: str
    label: str
    personal: bool = False  # personal data (names, national ids): shown only to who may see it
    kind: str = "text"  # text, int or date: how chunks and sheets hold the values


@dataclass(frozen=True)
class ListSpec:
    id: str
    title: str  # also the sheet name in the workbook: at most 31 characters
    description: str
    columns: tuple[ListColumn, ...]
    indicator_id: str  # the indicator whose numerator the list's rows are

    def column(self, name: str) -> ListColumn:
        return next(c for c in self.columns if c.name == name)


C = ListColumn
_AREA = (C("area_id", N_("Area")), C("area_name", N_("Area name")))

LISTS: tuple[ListSpec, ...] = (
    ListSpec(
        "overdue_referrals", N_("Overdue referrals"),
        N_("Referrals open at the end of the period that were made at least the referral SLA "
           "days before it, longest open first."),
        (C("referral_id", N_("Referral")), C("household_id", N_("Household")),
         C("person_id", N_("Person")),
         C("person_name", N_("Person name"), personal=True), C("programme_id", N_("Programme")),
         C("programme_name", N_("Programme name")), C("access_point_id", N_("Access point")),
         C("access_point_name", N_("Access point name")), *_AREA,
         C("referred_on", N_("Referred on"), kind="date"), C("status", N_("Status")),
         C("days_open", N_("Days open"), kind="int")),
        "ref.overdue",
    ),
    ListSpec(
        "shared_national_ids", N_("Shared national ids"),
        N_("Registered persons whose well-formed national id is also held by another registered "
           "person, grouped by id."),
        (C("national_id", N_("National id"), personal=True), C("person_id", N_("Person")),
         C("person_name", N_("Name"), personal=True), C("household_id", N_("Household")), *_AREA,
         C("registered_on", N_("Registered on"), kind="date"),
         C("holders", N_("Persons holding the id"), kind="int")),
        "dup.shared_id",
    ),
    ListSpec(
        "double_enrolments", N_("Double enrolments"),
        N_("Units (households or persons) with two or more active enrolments in the same "
           "programme."),
        (C("unit", N_("Unit kind")), C("unit_id", N_("Unit")), C("household_id", N_("Household")),
         C("programme_id", N_("Programme")), C("programme_name", N_("Programme name")),
         C("enrolments", N_("Active enrolments"), kind="int"),
         C("first_enrolled_on", N_("First enrolled on"), kind="date"),
         C("last_enrolled_on", N_("Last enrolled on"), kind="date"), *_AREA),
        "dup.double_enrolment",
    ),
    ListSpec(
        "double_dipping", N_("Double dipping"),
        N_("Registered households that receive two or more programmes of the same exclusive "
           "group."),
        (C("household_id", N_("Household")), C("head_name", N_("Head of household"), personal=True),
         *_AREA, C("exclusive_group", N_("Exclusive group")),
         C("programmes", N_("Programmes received")),
         C("programme_count", N_("Programmes in the group"), kind="int")),
        "dup.double_dipping",
    ),
    ListSpec(
        "data_quality_rows", N_("Data quality rows"),
        N_("Every row that breaks a data-quality rule, with the rule: adults without a national "
           "id, malformed ids, unassessed households, and the rows left out of the indicators."),
        (C("table", N_("Table")), C("row_id", N_("Row")), *_AREA,
         C("indicator_id", N_("Indicator")),
         C("rule_id", N_("Rule")), C("rule", N_("What is wrong")), C("field", N_("Field")),
         C("value", N_("Value"), personal=True)),
        "dq.*",
    ),
)
del C
LIST_BY_ID: dict[str, ListSpec] = {spec.id: spec for spec in LISTS}
LIST_IDS: tuple[str, ...] = tuple(LIST_BY_ID)


@dataclass(frozen=True)
class DqRule:
    indicator_id: str
    table: str
    rule_id: str
    text: str
    field: str


# In the order the data-quality list shows them. The left-out rules follow how the engine
# decides a row is left out (indicators.blocks.Blocks.valid_*); a left-out row is listed
# under the first of its table's rules it breaks, row-local rules before relational ones.
DQ_RULES: tuple[DqRule, ...] = (
    DqRule("dq.adults_without_id", "person", "adult_without_id",
           N_("aged 18 or more on the as-of date, with no national id"), "national_id"),
    DqRule("dq.malformed_id", "person", "malformed_national_id",
           N_("national id recorded but not exactly 13 digits"), "national_id"),
    DqRule("dq.unassessed_households", "household", "unassessed_household",
           N_("no PMT score (not assessed)"), "pmt_score"),
    DqRule("dq.invalid_rows", "household", "unknown_area",
           N_("left out: its area is not in the area table"), "area_id"),
    DqRule("dq.invalid_rows", "household", "area_not_lowest",
           N_("left out: its area is not of the lowest level"), "area_id"),
    DqRule("dq.invalid_rows", "person", "household_missing",
           N_("left out: its household does not exist"), "household_id"),
    DqRule("dq.invalid_rows", "person", "household_left_out",
           N_("left out: its household is left out"), "household_id"),
    DqRule("dq.invalid_rows", "enrolment", "unknown_programme",
           N_("left out: its programme does not exist"), "programme_id"),
    DqRule("dq.invalid_rows", "enrolment", "programme_unit_unknown",
           N_("left out: its programme's unit is neither household nor person"), "programme.unit"),
    DqRule("dq.invalid_rows", "enrolment", "both_unit_ids",
           N_("left out: both household_id and person_id are set"), "household_id, person_id"),
    DqRule("dq.invalid_rows", "enrolment", "no_unit_id",
           N_("left out: neither household_id nor person_id is set"), "household_id, person_id"),
    DqRule("dq.invalid_rows", "enrolment", "unit_mismatch",
           N_("left out: the unit id does not match the programme's unit"),
           "household_id / person_id"),
    DqRule("dq.invalid_rows", "enrolment", "unit_missing",
           N_("left out: the enrolled household or person does not exist"),
           "household_id / person_id"),
    DqRule("dq.invalid_rows", "enrolment", "unit_left_out",
           N_("left out: the enrolled household or person is left out"),
           "household_id / person_id"),
    DqRule("dq.invalid_rows", "referral", "bad_status",
           N_("left out: status is not pending, accepted, rejected or completed"), "status"),
    DqRule("dq.invalid_rows", "referral", "closed_on_missing",
           N_("left out: rejected or completed without closed_on"), "closed_on"),
    DqRule("dq.invalid_rows", "referral", "referred_on_missing",
           N_("left out: no referred_on, or one that is not a date"), "referred_on"),
    DqRule("dq.invalid_rows", "referral", "closed_on_before_referred_on",
           N_("left out: closed_on is earlier than referred_on"), "closed_on"),
    DqRule("dq.invalid_rows", "referral", "household_missing",
           N_("left out: its household does not exist"), "household_id"),
    DqRule("dq.invalid_rows", "referral", "household_left_out",
           N_("left out: its household is left out"), "household_id"),
    *(DqRule("dq.malformed_dates", table, "unreadable_date",
             N_("a date that is not a valid date (YYYY-MM-DD): read as no date"), "dates")
      for table in DATED_TABLES),
)
_RANK: dict[tuple[str, str, str], int] = {
    (r.indicator_id, r.table, r.rule_id): n for n, r in enumerate(DQ_RULES)
}


class UnknownListError(ValueError):
    """A list id that is not in the catalogue; the message names the valid ones."""


def get_list(list_id: str) -> ListSpec:
    try:
        return LIST_BY_ID[list_id]
    except KeyError:
        raise UnknownListError(N_("unknown list `{list_id}`; the lists are: {lists}",
                                  list_id=list_id, lists=", ".join(LIST_IDS))) from None


def parse_list_ids(text: str | Iterable[str]) -> list[str]:
    """List ids from ``a,b`` text (or an iterable), in order, without repeats; ``all`` = every
    list. Raises UnknownListError naming the valid ids."""
    items = text.split(",") if isinstance(text, str) else list(text)
    ids: list[str] = []
    for item in (i.strip() for i in items):
        if not item:
            continue
        for list_id in (LIST_IDS if item == "all" else (item,)):
            get_list(list_id)
            if list_id not in ids:
                ids.append(list_id)
    return ids


def _sees_personal_data(context: UserContext, export: bool) -> bool:
    # Lists on screen: every role that sees lists sees their personal columns. Exports
    # (workbook sheets, CSV downloads): only the roles that may take personal data out.
    return context.exports_personal_data if export else context.sees_lists


def visible_columns(spec: ListSpec, context: UserContext, *,
                    export: bool = False) -> tuple[ListColumn, ...]:
    """The columns of ``spec`` the context may see (personal ones only if it may see them);
    ``export``: for a file that leaves the app (a chair's has no personal column)."""
    if _sees_personal_data(context, export):
        return spec.columns
    return tuple(c for c in spec.columns if not c.personal)


def has_personal_columns(spec: ListSpec, context: UserContext, *, export: bool = False) -> bool:
    """Whether what the context sees of the list holds personal data (for the audit log)."""
    return any(c.personal for c in visible_columns(spec, context, export=export))


# --------------------------------------------------------------------------------------
# Areas: which ids a list keeps
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class AreaScope:
    """The areas a list keeps: ``roots`` and everything below them; whole registry if None."""

    roots: tuple[str, ...] | None
    area_ids: frozenset[str]
    levels: dict[str, int]
    lowest_level: int

    @property
    def whole_registry(self) -> bool:
        return self.roots is None


def area_scope(areas: AreaTree | pd.DataFrame, area_id: str | None,
               context: UserContext) -> AreaScope:
    """The scope of a list for ``area_id`` (None: all the context may see), checked against
    the context: PermissionError for an area outside it, UnknownAreaError for an unknown one."""
    tree = AreaTree.of(areas)
    levels = {a: int(level) for a, level in tree.frame["level"].items() if level is not None}
    lowest = tree.lowest_level
    allowed = None if context.whole_registry else tree.below_any(context.areas)
    if area_id is None:
        if allowed is None:
            return AreaScope(None, frozenset(), levels, lowest)
        roots = tuple(r for r in context.areas if r in levels)
        return AreaScope(roots, allowed, levels, lowest)
    ids = tree.below(area_id)
    if allowed is not None and area_id not in allowed:
        raise ListPermissionError(N_("Area `{area_id}` is outside the areas this user may see "
                                     "({areas}).", area_id=area_id,
                                     areas=", ".join(context.areas)))
    return AreaScope((area_id,), ids if allowed is None else ids & allowed, levels, lowest)


def area_condition(column: ColumnElement, scope: AreaScope,
                   in_list_limit: int = IN_LIST_LIMIT) -> ColumnElement[bool] | None:
    """The condition keeping rows whose area ``column`` is in the scope (None: no condition)."""
    if scope.whole_registry:
        return None
    if not scope.area_ids:
        return sa.false()
    if len(scope.area_ids) <= in_list_limit:
        return column.in_(sorted(scope.area_ids))
    assert scope.roots is not None
    return column.in_(below_select({r: scope.levels[r] for r in scope.roots},
                                   scope.lowest_level))


# --------------------------------------------------------------------------------------
# The queries: one builder per list, each a subquery with an area_id column
# --------------------------------------------------------------------------------------


def _true(condition: ColumnElement) -> ColumnElement[bool]:
    """The condition with NULL read as false (as a WHERE clause reads it)."""
    return sa.case((condition, 1), else_=0) == 1


def _full_name(first: ColumnElement, last: ColumnElement) -> ColumnElement:
    joined = sa.func.coalesce(first, "") + " " + sa.func.coalesce(last, "")
    return sa.func.nullif(sa.func.trim(joined), "")


def _text(value: ColumnElement) -> ColumnElement:
    return sa.cast(value, sa.Text)


def _group_concat(dialect: str, column: ColumnElement) -> ColumnElement:
    """The column's values in a group joined with _SEP, in no particular order (sorted later)."""
    if dialect == "sqlite":
        # SQLite has group_concat; ordering inside the aggregate needs 3.44, so sort in Python.
        return sa.func.group_concat(column, _SEP)
    if dialect in ("postgresql", "duckdb"):
        return sa.func.string_agg(column, _SEP)
    raise dialects.UnsupportedBackend(f"lists are not implemented for the `{dialect}` database")


_SEP = "\x1f"


@dataclass(frozen=True)
class _Built:
    base: sa.Subquery  # every SQL column of the list by name, and area_id
    order: tuple[tuple[str, bool], ...]  # (column, descending), area_name allowed
    finish: Callable[[pd.DataFrame], pd.DataFrame] | None = None


def _overdue_referrals(b: Blocks) -> _Built:
    vr = b.valid_referrals()
    end = b.date(b.params.period_end)
    overdue_since = b.date(b.params.period_end - dt.timedelta(days=b.params.referral_sla_days))
    # As the engine's count_referrals: open at end unless completed/rejected by then.
    open_at_end = sa.not_(sa.and_(vr.c.status.in_(CLOSED_STATUSES), vr.c.closed_on.is_not(None),
                                  vr.c.closed_on <= end))
    r = b.t.referral.alias("lr")
    who = b.t.person.alias("lr_person")
    prog = b.t.programme.alias("lr_programme")
    ap = b.t.access_point.alias("lr_access_point")
    days = sa.cast(dialects.days_between(b.dialect, end, vr.c.referred_on), sa.Integer)
    base = (
        sa.select(
            vr.c.referral_id, r.c.household_id, r.c.person_id,
            _full_name(who.c.first_name, who.c.last_name).label("person_name"),
            vr.c.to_programme_id.label("programme_id"), prog.c.name.label("programme_name"),
            vr.c.access_point_id, ap.c.name.label("access_point_name"), vr.c.area_id,
            vr.c.referred_on, vr.c.status, days.label("days_open"),
        )
        .select_from(
            vr.join(r, r.c.referral_id == vr.c.referral_id)
            .outerjoin(who, who.c.person_id == r.c.person_id)
            .outerjoin(prog, prog.c.programme_id == vr.c.to_programme_id)
            .outerjoin(ap, ap.c.access_point_id == vr.c.access_point_id)
        )
        .where(vr.c.referred_on <= overdue_since, open_at_end)
        .subquery("overdue_referral")
    )
    return _Built(base, (("referred_on", False), ("referral_id", False)))


def _shared_national_ids(b: Blocks) -> _Built:
    ps = b.registered_persons()
    # The holders of an id are counted over the whole registry, before any area filter.
    person = (ps.c.person_id, ps.c.household_id, ps.c.area_id, ps.c.registered_on,
              dialects.as_text(ps.c.national_id).label("national_id"))
    well_formed = dialects.is_thirteen_digits(b.dialect, ps.c.national_id)
    if dialects.joins_by_hash(b.dialect):
        # The ids held twice or more (one grouping; a few thousand of millions) joined back.
        held = (sa.select(ps.c.national_id, sa.func.count().label("holders")).where(well_formed)
                .group_by(ps.c.national_id).having(sa.func.count() >= 2).subquery("held"))
        ids = (sa.select(*person, held.c.holders)
               .join(held, held.c.national_id == ps.c.national_id)
               .where(well_formed).subquery("well_formed_id"))
    else:
        ids = (sa.select(*person, sa.func.count().over(partition_by=ps.c.national_id)
                         .label("holders"))
               .where(well_formed).subquery("well_formed_id"))
    who = b.t.person.alias("ls_person")
    base = (
        sa.select(ids.c.national_id, ids.c.person_id,
                  _full_name(who.c.first_name, who.c.last_name).label("person_name"),
                  ids.c.household_id, ids.c.area_id, ids.c.registered_on, ids.c.holders)
        .select_from(ids.join(who, who.c.person_id == ids.c.person_id))
        .where(ids.c.holders >= 2)
        .subquery("shared_id")
    )
    return _Built(base, (("national_id", False), ("person_id", False)))


def _double_enrolments(b: Blocks) -> _Built:
    active = b.active_enrolments()
    pairs = (
        sa.select(active.c.unit, active.c.unit_id, active.c.household_id, active.c.programme_id, active.c.area_id,
                  sa.func.count().label("enrolments"),
                  sa.func.min(active.c.enrolled_on).label("first_enrolled_on"),
                  sa.func.max(active.c.enrolled_on).label("last_enrolled_on"))
        .group_by(active.c.area_id, active.c.unit, active.c.unit_id, active.c.household_id, active.c.programme_id)
        .having(sa.func.count() >= 2)
        .subquery("double_pair")
    )
    prog = b.t.programme.alias("ld_programme")
    base = (
        sa.select(pairs, prog.c.name.label("programme_name"))
        .select_from(pairs.outerjoin(prog, prog.c.programme_id == pairs.c.programme_id))
        .subquery("double_enrolment")
    )
    return _Built(base, (("enrolments", True), ("programme_id", False), ("unit", False),
                         ("unit_id", False)))


def _double_dipping(b: Blocks) -> _Built:
    hp = b.received_programmes()
    received = (
        sa.select(hp.c.household_id, hp.c.programme_id, b.t.programme.c.exclusive_group)
        .join(b.t.programme, b.t.programme.c.programme_id == hp.c.programme_id)
        .where(b.t.programme.c.exclusive_group.is_not(None))
        .subquery("received_in_group")
    )
    groups = (
        sa.select(received.c.household_id, received.c.exclusive_group,
                  sa.func.count().label("n"),
                  _group_concat(b.dialect, received.c.programme_id).label("programmes"))
        .group_by(received.c.household_id, received.c.exclusive_group)
        .having(sa.func.count() >= 2)
        .subquery("dipping_group")
    )
    per_household = (
        sa.select(groups.c.household_id,
                  _group_concat(b.dialect, groups.c.exclusive_group).label("_groups"),
                  _group_concat(b.dialect, groups.c.programmes).label("_programmes"),
                  sa.func.sum(groups.c.n).label("programme_count"))
        .group_by(groups.c.household_id)
        .subquery("dipping_household")
    )
    head = b.t.person.alias("ldd_head")
    head_name = (
        sa.select(sa.func.min(_full_name(head.c.first_name, head.c.last_name)))
        .where(head.c.household_id == per_household.c.household_id, head.c.is_head == sa.true())
        .scalar_subquery()
    )
    base = (
        sa.select(per_household.c.household_id, head_name.label("head_name"),
                  b.t.household.c.area_id, per_household.c["_groups"],
                  per_household.c["_programmes"], per_household.c.programme_count)
        .select_from(per_household.join(
            b.t.household, b.t.household.c.household_id == per_household.c.household_id))
        # As the engine: a registered member makes a row for an unregistered household.
        .where(b.t.household.c.registered_on <= b.as_of)
        .subquery("double_dipping")
    )

    def finish(frame: pd.DataFrame) -> pd.DataFrame:
        def joined(value: object) -> str | None:
            if not isinstance(value, str):
                return None
            return ", ".join(sorted(set(value.split(_SEP))))

        frame["exclusive_group"] = frame.pop("_groups").map(joined)
        frame["programmes"] = frame.pop("_programmes").map(joined)
        return frame

    return _Built(base, (("area_name", False), ("household_id", False)), finish)


def _dq_branch(*, table: str, indicator_id: str, row_id: ColumnElement, area_id: ColumnElement,
               from_clause: sa.FromClause, where: ColumnElement,
               rules: Sequence[tuple[ColumnElement | None, str, ColumnElement | None]]
               ) -> sa.Select:
    """One table's rows that break ``indicator_id``: the first rule whose condition holds (the
    last rule's condition is None: otherwise) names the rule and the offending value."""
    ranks = [(cond, _RANK[(indicator_id, table, rule)], value) for cond, rule, value in rules]
    if len(ranks) == 1:
        rank: ColumnElement = sa.literal(ranks[0][1], sa.Integer)
        value = ranks[0][2] if ranks[0][2] is not None else sa.null()
    else:
        *whens, (_, last_rank, last_value) = ranks
        rank = sa.case(*((cond, r) for cond, r, _ in whens), else_=last_rank)
        value = sa.case(*((cond, v if v is not None else sa.null()) for cond, _, v in whens),
                        else_=last_value if last_value is not None else sa.null())
    return (
        sa.select(sa.literal(table, sa.Text).label("table"), _text(row_id).label("row_id"),
                  area_id.label("area_id"), rank.label("_rank"),
                  sa.cast(value, sa.Text).label("value"))
        .select_from(from_clause)
        .where(where)
    )


def _data_quality_rows(b: Blocks) -> _Built:
    lowest, d = b.lowest_level, b.as_of
    branches: list[sa.Select] = []

    # Persons: adults without id, malformed ids (registered persons, every row).
    p, ph = b.t.person.alias("q_p"), b.t.household.alias("q_ph")
    persons = p.outerjoin(ph, ph.c.household_id == p.c.household_id)
    adult = sa.and_(p.c.birth_date.is_not(None),
                    p.c.birth_date <= b.date(years_before(b.params.as_of, 18)))
    branches.append(_dq_branch(
        table="person", indicator_id="dq.adults_without_id", row_id=p.c.person_id,
        area_id=ph.c.area_id, from_clause=persons,
        where=sa.and_(p.c.registered_on <= d, adult, p.c.national_id.is_(None)),
        rules=[(None, "adult_without_id", None)]))
    well_formed = dialects.is_thirteen_digits(b.dialect, p.c.national_id)
    branches.append(_dq_branch(
        table="person", indicator_id="dq.malformed_id", row_id=p.c.person_id,
        area_id=ph.c.area_id, from_clause=persons,
        where=sa.and_(p.c.registered_on <= d, p.c.national_id.is_not(None),
                      sa.not_(well_formed)),
        rules=[(None, "malformed_national_id", dialects.as_text(p.c.national_id))]))
    # Households without a PMT score.
    h = b.t.household.alias("q_h")
    branches.append(_dq_branch(
        table="household", indicator_id="dq.unassessed_households", row_id=h.c.household_id,
        area_id=h.c.area_id, from_clause=h,
        where=sa.and_(h.c.registered_on <= d, h.c.pmt_score.is_(None)),
        rules=[(None, "unassessed_household", None)]))

    # Left-out rows, whatever their dates. Validity mirrors the engine's joins, with outer
    # joins so that the rows failing them stay (as valid_households, valid_persons,
    # valid_enrolments and valid_referrals).
    invalid = "dq.invalid_rows"
    a_any, a_low = b.t.area.alias("q_h_area"), b.t.area.alias("q_h_lowest")
    households = (h.outerjoin(a_any, a_any.c.area_id == h.c.area_id)
                  .outerjoin(a_low, sa.and_(a_low.c.area_id == h.c.area_id,
                                            a_low.c.level == lowest)))
    level_text = sa.func.coalesce(_text(a_any.c.level), "?")
    branches.append(_dq_branch(
        table="household", indicator_id=invalid, row_id=h.c.household_id, area_id=h.c.area_id,
        from_clause=households, where=a_low.c.area_id.is_(None),
        rules=[(a_any.c.area_id.is_(None), "unknown_area", h.c.area_id),
               (None, "area_not_lowest",
                _text(h.c.area_id) + " (level " + level_text + ")")]))

    pa_low = b.t.area.alias("q_p_lowest")
    people = persons.outerjoin(pa_low, sa.and_(pa_low.c.area_id == ph.c.area_id,
                                                pa_low.c.level == lowest))
    branches.append(_dq_branch(
        table="person", indicator_id=invalid, row_id=p.c.person_id, area_id=ph.c.area_id,
        from_clause=people, where=pa_low.c.area_id.is_(None),
        rules=[(ph.c.household_id.is_(None), "household_missing", p.c.household_id),
               (None, "household_left_out", p.c.household_id)]))

    e, prog = b.t.enrolment.alias("q_e"), b.t.programme.alias("q_e_programme")
    eh, eh_low = b.t.household.alias("q_e_household"), b.t.area.alias("q_e_household_lowest")
    ep, eph = b.t.person.alias("q_e_person"), b.t.household.alias("q_e_person_household")
    eph_low = b.t.area.alias("q_e_person_lowest")
    enrolments = (
        e.outerjoin(prog, prog.c.programme_id == e.c.programme_id)
        .outerjoin(eh, eh.c.household_id == e.c.household_id)
        .outerjoin(eh_low, sa.and_(eh_low.c.area_id == eh.c.area_id, eh_low.c.level == lowest))
        .outerjoin(ep, ep.c.person_id == e.c.person_id)
        .outerjoin(eph, eph.c.household_id == ep.c.household_id)
        .outerjoin(eph_low, sa.and_(eph_low.c.area_id == eph.c.area_id,
                                    eph_low.c.level == lowest))
    )
    unit = sa.func.coalesce(prog.c.unit, "")
    by_household, by_person = unit == "household", unit == "person"
    has_household, has_person = e.c.household_id.is_not(None), e.c.person_id.is_not(None)
    valid_enrolment = sa.or_(
        sa.and_(by_household, sa.not_(has_person), eh_low.c.area_id.is_not(None)),
        sa.and_(by_person, sa.not_(has_household), eph_low.c.area_id.is_not(None)),
    )
    unit_id = sa.func.coalesce(e.c.household_id, e.c.person_id)
    branches.append(_dq_branch(
        table="enrolment", indicator_id=invalid, row_id=e.c.enrolment_id,
        area_id=sa.func.coalesce(eh.c.area_id, eph.c.area_id), from_clause=enrolments,
        where=sa.not_(valid_enrolment),
        rules=[
            (prog.c.programme_id.is_(None), "unknown_programme", e.c.programme_id),
            (sa.not_(unit.in_(("household", "person"))), "programme_unit_unknown", prog.c.unit),
            (sa.and_(has_household, has_person), "both_unit_ids",
             _text(e.c.household_id) + ", " + _text(e.c.person_id)),
            (sa.and_(sa.not_(has_household), sa.not_(has_person)), "no_unit_id", None),
            (sa.or_(sa.and_(by_household, sa.not_(has_household)),
                    sa.and_(by_person, sa.not_(has_person))), "unit_mismatch", unit_id),
            (sa.or_(sa.and_(by_household, eh.c.household_id.is_(None)),
                    sa.and_(by_person, ep.c.person_id.is_(None))), "unit_missing", unit_id),
            (None, "unit_left_out", unit_id),
        ]))

    r, rh = b.t.referral.alias("q_r"), b.t.household.alias("q_r_household")
    rh_low = b.t.area.alias("q_r_household_lowest")
    referrals = (r.outerjoin(rh, rh.c.household_id == r.c.household_id)
                 .outerjoin(rh_low, sa.and_(rh_low.c.area_id == rh.c.area_id,
                                            rh_low.c.level == lowest)))
    status = sa.func.coalesce(r.c.status, "")
    status_ok = status.in_(REFERRAL_STATUSES)
    closed_missing = sa.and_(status.in_(CLOSED_STATUSES), r.c.closed_on.is_(None))
    referred_missing = r.c.referred_on.is_(None)
    dates_ok = sa.or_(r.c.closed_on.is_(None), _true(r.c.closed_on >= r.c.referred_on))
    branches.append(_dq_branch(
        table="referral", indicator_id=invalid, row_id=r.c.referral_id, area_id=rh.c.area_id,
        from_clause=referrals,
        where=sa.not_(sa.and_(rh_low.c.area_id.is_not(None), status_ok,
                              sa.not_(closed_missing), sa.not_(referred_missing), dates_ok)),
        rules=[
            (sa.not_(status_ok), "bad_status", r.c.status),
            (closed_missing, "closed_on_missing", r.c.status),
            (referred_missing, "referred_on_missing", None),
            (sa.not_(dates_ok), "closed_on_before_referred_on",
             "closed " + _text(r.c.closed_on) + ", referred " + _text(r.c.referred_on)),
            (rh.c.household_id.is_(None), "household_missing", r.c.household_id),
            (None, "household_left_out", r.c.household_id),
        ]))

    # Rows holding an unreadable date (registries that store dates as text).
    for table_name in DATED_TABLES:
        source = b.t.by_name[table_name]
        if UNREADABLE not in source.c:
            continue
        key = next(c.name for c in REGISTRY_TABLE[table_name].columns if c.primary_key)
        dated = source.alias(f"q_{table_name}_dates")
        if table_name == "household":
            area_of, from_clause = dated.c.area_id, dated
        else:
            owner = b.t.household.alias(f"q_{table_name}_dates_household")
            if table_name == "enrolment":
                member = b.t.person.alias("q_enrolment_dates_person")
                from_clause = dated.outerjoin(member, member.c.person_id == dated.c.person_id) \
                    .outerjoin(owner, owner.c.household_id == sa.func.coalesce(
                        dated.c.household_id, member.c.household_id))
            else:
                from_clause = dated.outerjoin(owner,
                                              owner.c.household_id == dated.c.household_id)
            area_of = owner.c.area_id
        branches.append(_dq_branch(
            table=table_name, indicator_id="dq.malformed_dates", row_id=dated.c[key],
            area_id=area_of, from_clause=from_clause, where=dated.c[UNREADABLE] > 0,
            rules=[(None, "unreadable_date", None)]))

    base = sa.union_all(*branches).subquery("dq_row")

    def finish(frame: pd.DataFrame) -> pd.DataFrame:
        rules = [DQ_RULES[int(n)] for n in frame.pop("_rank")]
        frame["indicator_id"] = [rule.indicator_id for rule in rules]
        frame["rule_id"] = [rule.rule_id for rule in rules]
        frame["rule"] = [rule.text for rule in rules]
        frame["field"] = [rule.field for rule in rules]
        return frame

    return _Built(base, (("_rank", False), ("row_id", False)), finish)


_BUILDERS: dict[str, Callable[[Blocks], _Built]] = {
    "overdue_referrals": _overdue_referrals,
    "shared_national_ids": _shared_national_ids,
    "double_enrolments": _double_enrolments,
    "double_dipping": _double_dipping,
    "data_quality_rows": _data_quality_rows,
}
assert set(_BUILDERS) == set(LIST_IDS)


# --------------------------------------------------------------------------------------
# Running a list
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Request:
    spec: ListSpec
    columns: tuple[ListColumn, ...]
    scope: AreaScope
    params: Parameters
    in_list_limit: int


def _request(engine: sa.Engine, list_id: str, *, context: UserContext, area_id: str | None,
             areas: AreaTree | pd.DataFrame | None, as_of: dt.date | None, period_start: dt.date | None,
             referral_sla_days: int, poverty_cutoff: float, in_list_limit: int,
             export: bool = False) -> _Request:
    spec = get_list(list_id)
    require_lists(context)
    scope = area_scope(read_area_tree(engine) if areas is None else areas, area_id, context)
    as_of = as_of or default_as_of(engine)
    params = Parameters(as_of=as_of, period_start=period_start or default_period_start(as_of),
                        poverty_cutoff=float(poverty_cutoff),
                        referral_sla_days=int(referral_sla_days))
    return _Request(spec, visible_columns(spec, context, export=export), scope, params,
                    in_list_limit)


def _query(conn: sa.Connection, request: _Request, *, ordered: bool = True) -> tuple[
        sa.Select, Callable[[pd.DataFrame], pd.DataFrame] | None]:
    blocks = building_blocks(conn, request.params)
    built = _BUILDERS[request.spec.id](blocks)
    base = built.base
    named = area.alias("list_area")
    exprs: dict[str, ColumnElement] = {c.name: c for c in base.c}
    exprs["area_name"] = named.c.name
    hidden = [name for name in exprs if name.startswith("_")]
    wanted = [c for c in request.columns if c.name in exprs]
    selected = []
    for column in wanted:
        expr = exprs[column.name]
        if column.kind == "date":
            # Read dates as stored (ISO text on SQLite) and parse them leniently in Python, so
            # a malformed date in a dirty registry cannot stop the list.
            expr = sa.type_coerce(expr, sa.Text)
        selected.append(expr.label(column.name))
    selected += [exprs[name].label(name) for name in hidden]
    query = sa.select(*selected).select_from(
        base.outerjoin(named, named.c.area_id == base.c.area_id))
    condition = area_condition(base.c.area_id, request.scope, request.in_list_limit)
    if condition is not None:
        query = query.where(condition)
    if ordered:
        query = query.order_by(*(exprs[name].desc() if desc else exprs[name].asc()
                                 for name, desc in built.order))
    return query, built.finish


def _frame(rows: Sequence, keys: list[str], request: _Request,
           finish: Callable[[pd.DataFrame], pd.DataFrame] | None) -> pd.DataFrame:
    frame = pd.DataFrame(list(rows), columns=keys, dtype=object)
    if finish is not None:
        frame = finish(frame)
    names = [c.name for c in request.columns]
    frame = frame[names]
    for column in request.columns:
        if column.kind == "date":
            frame[column.name] = frame[column.name].map(as_date).astype(object)
        elif column.kind == "int":
            frame[column.name] = pd.array(
                [None if v is None else int(v) for v in frame[column.name]], dtype="Int64")
        else:
            values = frame[column.name]
            frame[column.name] = values.astype(object).where(values.notna(), None)
    return frame


def _chunks(engine: sa.Engine, request: _Request, chunk_size: int, limit: int | None
            ) -> Iterator[pd.DataFrame]:
    with connection(engine) as conn:
        query, finish = _query(conn, request)
        if limit is not None:
            query = query.limit(limit)
        streaming = conn.execution_options(stream_results=True, yield_per=chunk_size)
        result = streaming.execute(query)
        keys = list(result.keys())
        with contextlib.closing(result):
            for part in result.partitions():
                yield _frame(part, keys, request, finish)


def list_rows(engine: sa.Engine, list_id: str, *, context: UserContext,
              area_id: str | None = None, areas: pd.DataFrame | None = None,
              as_of: dt.date | None = None, period_start: dt.date | None = None,
              referral_sla_days: int = 30, poverty_cutoff: float = 32.0,
              chunk_size: int = DEFAULT_CHUNK_SIZE, limit: int | None = None,
              in_list_limit: int = IN_LIST_LIMIT, export: bool = False
              ) -> Iterator[pd.DataFrame]:
    """The rows of a list, in chunks of at most ``chunk_size`` rows, streamed from the database.

    ``area_id`` keeps that area and every area below it (None: everything the context may
    see); ``areas`` is the area table (area_id, name, level, parent_id), read when None.
    ``as_of``/``period_start`` default as the indicators do. The columns are those
    :func:`visible_columns` gives the context (``export``: for a file leaving the app), in
    the list's order; dates are
    ``datetime.date``, counts nullable integers. Checks run before the first chunk:
    PermissionError (a context that may not see lists, an area outside its scope),
    UnknownListError, UnknownAreaError. An empty list yields no chunk.
    """
    if chunk_size < 1:
        raise ValueError("chunk_size must be at least 1")
    request = _request(engine, list_id, context=context, area_id=area_id, areas=areas,
                       as_of=as_of, period_start=period_start,
                       referral_sla_days=referral_sla_days, poverty_cutoff=poverty_cutoff,
                       in_list_limit=in_list_limit, export=export)
    return _chunks(engine, request, chunk_size, limit)


def list_frame(engine: sa.Engine, list_id: str, *, context: UserContext,
               limit: int | None = None, **options) -> pd.DataFrame:
    """The list (its first ``limit`` rows when given) as one frame; options as list_rows."""
    spec = get_list(list_id)
    chunks = list(list_rows(engine, list_id, context=context, limit=limit, **options))
    if chunks:
        return pd.concat(chunks, ignore_index=True)
    return pd.DataFrame({c.name: pd.Series(dtype="Int64" if c.kind == "int" else object)
                         for c in visible_columns(spec, context,
                                                  export=bool(options.get("export")))})


def count_rows(engine: sa.Engine, list_id: str, *, context: UserContext,
               area_id: str | None = None, areas: pd.DataFrame | None = None,
               as_of: dt.date | None = None, period_start: dt.date | None = None,
               referral_sla_days: int = 30, poverty_cutoff: float = 32.0,
               in_list_limit: int = IN_LIST_LIMIT) -> int:
    """How many rows the list has (same arguments and checks as :func:`list_rows`)."""
    request = _request(engine, list_id, context=context, area_id=area_id, areas=areas,
                       as_of=as_of, period_start=period_start,
                       referral_sla_days=referral_sla_days, poverty_cutoff=poverty_cutoff,
                       in_list_limit=in_list_limit)
    with connection(engine) as conn:
        query, _ = _query(conn, request, ordered=False)
        return int(conn.execute(sa.select(sa.func.count()).select_from(query.subquery()))
                   .scalar_one())
