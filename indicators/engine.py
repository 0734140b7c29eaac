"""The indicator engine: compute(engine, as_of=..., level=...) -> the spec's long form.

Every count is made in the database, once per family, grouped by the household's own
area_id (the "raw" area). Counts are additive, so they are then rolled up in pandas to the
level asked for through the small area table; only the median of days to complete a
referral needs its own query per level. The readings of the spec where it leaves a choice
are in docs/spec-choices.md.
"""

from __future__ import annotations

import calendar
import datetime as dt
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.sql.elements import ColumnElement

from data_access.schema import area, enrolment, household, person, programme, referral
from indicators import dialects
from indicators.areas import AreaTree
from indicators.catalogue import BY_ID, CATALOGUE, LONG_FORM_COLUMNS, SEX

WHOLE_REGISTRY_NAME = "All areas"
REFERRAL_STATUSES = ("pending", "accepted", "rejected", "completed")
CLOSED_STATUSES = ("rejected", "completed")
AGE_BUCKETS = ("0-17", "18-59", "60+", "unknown")


@dataclass(frozen=True)
class Parameters:
    as_of: dt.date
    period_start: dt.date
    poverty_cutoff: float = 32.0
    referral_sla_days: int = 30

    @property
    def period_end(self) -> dt.date:
        return self.as_of


def shift_months(day: dt.date, months: int) -> dt.date:
    """The same day ``months`` calendar months later (earlier if negative), clamped to month end."""
    index = day.year * 12 + day.month - 1 + months
    year, month = divmod(index, 12)
    last = calendar.monthrange(year, month + 1)[1]
    return dt.date(year, month + 1, min(day.day, last))


def years_before(day: dt.date, years: int) -> dt.date:
    """The date ``years`` years before ``day``; 29 February becomes 28 February."""
    return shift_months(day, -12 * years)


def default_period_start(as_of: dt.date, months: int = 3) -> dt.date:
    """Start of the ``months`` calendar months ending on as_of (docs/spec-choices.md, 15)."""
    return shift_months(as_of, -months) + dt.timedelta(days=1)


def as_date(value: object) -> dt.date | None:
    """A date from what a database driver returns (date, datetime, ISO text); None otherwise."""
    if value is None or (isinstance(value, float) and value != value):  # NULL or NaN
        return None
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(str(value)[:10])
    except ValueError:
        return None


def latest_registration(engine: sa.Engine) -> dt.date | None:
    """The latest registered_on of the household and person tables."""
    # Max over raw text on SQLite is the latest ISO date; read it without date parsing,
    # so a malformed date in the registry cannot crash here.
    latest: list[dt.date] = []
    with engine.connect() as conn:
        for table in (household, person):
            value = conn.execute(
                sa.select(sa.func.max(sa.cast(table.c.registered_on, sa.Text)))
            ).scalar()
            parsed = as_date(value)
            if parsed is not None:
                latest.append(parsed)
    return max(latest) if latest else None


def default_as_of(engine: sa.Engine, today: dt.date | None = None) -> dt.date:
    """Today, or the latest registration in the registry if that is earlier."""
    today = today or dt.date.today()
    latest = latest_registration(engine)
    return min(today, latest) if latest else today


# --------------------------------------------------------------------------------------
# Building blocks: the rows every indicator shares, as SQLAlchemy selectables.
# --------------------------------------------------------------------------------------


class _Blocks:
    """Named building blocks over the registry for one set of parameters."""

    def __init__(self, dialect: str, params: Parameters, lowest_level: int,
                 programmes: pd.DataFrame) -> None:
        self.dialect = dialect
        self.p = params
        self.d = sa.literal(params.as_of, sa.Date)
        self.lowest_level = lowest_level
        self.programmes = programmes

    def date(self, value: dt.date) -> ColumnElement:
        return sa.literal(value, sa.Date)

    # Households and persons -------------------------------------------------------------
    def valid_households(self) -> sa.Subquery:
        """Households whose area is known and of the lowest level."""
        return (
            sa.select(household.c.household_id, household.c.area_id,
                      household.c.registered_on, household.c.pmt_score)
            .join(area, sa.and_(area.c.area_id == household.c.area_id,
                                area.c.level == self.lowest_level))
            .subquery("valid_household")
        )

    def registered_households(self) -> sa.Subquery:
        hh = self.valid_households()
        return sa.select(hh).where(hh.c.registered_on <= self.d).subquery("reg_household")

    def valid_persons(self) -> sa.Subquery:
        """Persons of valid households, with the household's area and PMT score."""
        hh = self.valid_households()
        return (
            sa.select(person.c.person_id, person.c.household_id, hh.c.area_id,
                      hh.c.pmt_score, hh.c.registered_on.label("household_registered_on"),
                      person.c.registered_on, person.c.birth_date, person.c.sex,
                      person.c.disability, person.c.national_id)
            .join(hh, hh.c.household_id == person.c.household_id)
            .subquery("valid_person")
        )

    def registered_persons(self) -> sa.Subquery:
        vp = self.valid_persons()
        return sa.select(vp).where(vp.c.registered_on <= self.d).subquery("reg_person")

    # Enrolments ---------------------------------------------------------------------------
    def valid_enrolments(self, registered_only: bool) -> sa.Subquery:
        """Enrolments whose programme is known, whose unit ids match the programme's unit and
        whose unit is valid (registered, if asked): one row each, with the unit and its area."""
        hh = self.registered_households() if registered_only else self.valid_households()
        ps = self.registered_persons() if registered_only else self.valid_persons()
        household_branch = (
            sa.select(enrolment.c.enrolment_id, enrolment.c.programme_id,
                      enrolment.c.household_id.label("unit_id"),
                      enrolment.c.household_id, hh.c.area_id,
                      enrolment.c.enrolled_on, enrolment.c.ended_on,
                      sa.literal("household").label("unit"))
            .join(programme, programme.c.programme_id == enrolment.c.programme_id)
            .join(hh, hh.c.household_id == enrolment.c.household_id)
            .where(programme.c.unit == "household", enrolment.c.person_id.is_(None))
        )
        person_branch = (
            sa.select(enrolment.c.enrolment_id, enrolment.c.programme_id,
                      enrolment.c.person_id.label("unit_id"),
                      ps.c.household_id, ps.c.area_id,
                      enrolment.c.enrolled_on, enrolment.c.ended_on,
                      sa.literal("person").label("unit"))
            .join(programme, programme.c.programme_id == enrolment.c.programme_id)
            .join(ps, ps.c.person_id == enrolment.c.person_id)
            .where(programme.c.unit == "person", enrolment.c.household_id.is_(None))
        )
        name = "reg_enrolment" if registered_only else "valid_enrolment"
        return sa.union_all(household_branch, person_branch).subquery(name)

    def has_active_enrolment(self, unit: str, unit_id: ColumnElement,
                             unit_registered_on: ColumnElement) -> ColumnElement[bool]:
        """The unit (registered on d) has an active, well-formed enrolment in a programme of
        that unit. The unit itself is known to be valid (not left out)."""
        e = enrolment.alias(f"{unit}_enrolment")
        p = programme.alias(f"{unit}_programme")
        own, other = ((e.c.household_id, e.c.person_id) if unit == "household"
                      else (e.c.person_id, e.c.household_id))
        return sa.exists().where(
            own == unit_id, other.is_(None), unit_registered_on <= self.d,
            p.c.programme_id == e.c.programme_id, p.c.unit == unit,
            e.c.enrolled_on <= self.d, sa.or_(e.c.ended_on.is_(None), e.c.ended_on > self.d),
        )

    def active_enrolments(self) -> sa.Subquery:
        """Active enrolments on d of registered units."""
        ve = self.valid_enrolments(registered_only=True)
        return (
            sa.select(ve)
            .where(ve.c.enrolled_on <= self.d,
                   sa.or_(ve.c.ended_on.is_(None), ve.c.ended_on > self.d))
            .subquery("active_enrolment")
        )

    # Eligibility --------------------------------------------------------------------------
    def _pmt_rule(self, pmt_max: float | None, score: ColumnElement) -> list[ColumnElement]:
        return [] if pmt_max is None else [score <= sa.literal(float(pmt_max))]

    def _person_rules(self, row: pd.Series, ps: sa.Subquery) -> list[ColumnElement]:
        rules = self._pmt_rule(row.pmt_max, ps.c.pmt_score)
        if row.age_min is not None:
            rules.append(ps.c.birth_date <= self.date(years_before(self.p.as_of, int(row.age_min))))
        if row.age_max is not None:
            rules.append(ps.c.birth_date > self.date(years_before(self.p.as_of, int(row.age_max) + 1)))
        if row.sex is not None:
            rules.append(ps.c.sex == sa.literal(str(row.sex)))
        if row.disability_only:
            rules.append(ps.c.disability == sa.true())
        return rules

    def eligible_units(self) -> list[sa.Select]:
        """One select per programme: its eligible units (programme_id, unit_id, household_id, area_id)."""
        hh = self.registered_households()
        ps = self.registered_persons()
        selects: list[sa.Select] = []
        for row in self.programmes.itertuples(index=False):
            pid = sa.literal(str(row.programme_id)).label("programme_id")
            if row.unit == "household":
                selects.append(
                    sa.select(pid, hh.c.household_id.label("unit_id"), hh.c.household_id,
                              hh.c.area_id).where(*self._pmt_rule(row.pmt_max, hh.c.pmt_score))
                )
            elif row.unit == "person":
                selects.append(
                    sa.select(pid, ps.c.person_id.label("unit_id"), ps.c.household_id,
                              ps.c.area_id).where(*self._person_rules(row, ps))
                )
        return selects

    def unit_status(self) -> sa.Subquery:
        """For each (programme, unit) that is eligible or enrolled on d: both flags."""
        ae = self.active_enrolments()
        enrolled = (
            sa.select(ae.c.programme_id, ae.c.unit_id, ae.c.household_id, ae.c.area_id,
                      sa.literal(0).label("eligible"), sa.literal(1).label("enrolled"))
            .distinct()
        )
        parts: list[sa.Select] = [enrolled]
        for select in self.eligible_units():
            sub = select.subquery()
            parts.append(sa.select(sub.c.programme_id, sub.c.unit_id, sub.c.household_id,
                                   sub.c.area_id, sa.literal(1).label("eligible"),
                                   sa.literal(0).label("enrolled")))
        both = sa.union_all(*parts).subquery("unit_flags")
        return (
            sa.select(both.c.programme_id, both.c.unit_id, both.c.household_id, both.c.area_id,
                      sa.func.max(both.c.eligible).label("eligible"),
                      sa.func.max(both.c.enrolled).label("enrolled"))
            .group_by(both.c.programme_id, both.c.unit_id, both.c.household_id, both.c.area_id)
            .subquery("unit_status")
        )

    def household_programmes(self) -> sa.Subquery:
        """For each registered unit's household and programme: is it eligible for p, does it receive p."""
        us = self.unit_status()
        return (
            sa.select(us.c.household_id, us.c.programme_id,
                      sa.func.max(us.c.eligible).label("eligible_for"),
                      sa.func.max(us.c.enrolled).label("receives"))
            .group_by(us.c.household_id, us.c.programme_id)
            .subquery("household_programme")
        )

    # Referrals ----------------------------------------------------------------------------
    def valid_referrals(self) -> sa.Subquery:
        hh = self.valid_households()
        r = referral.c
        return (
            sa.select(r.referral_id, r.to_programme_id, r.access_point_id, r.referred_on,
                      r.status, r.closed_on, hh.c.area_id)
            .join(hh, hh.c.household_id == r.household_id)
            .where(
                r.status.in_(REFERRAL_STATUSES),
                sa.not_(sa.and_(r.status.in_(CLOSED_STATUSES), r.closed_on.is_(None))),
                sa.or_(r.closed_on.is_(None), r.closed_on >= r.referred_on),
            )
            .subquery("valid_referral")
        )


# The public names of the building blocks, for modules that list the rows behind a figure
# (data_access.lists) rather than count them.
Blocks = _Blocks


def building_blocks(conn: sa.Connection, params: Parameters) -> Blocks:
    """The building blocks over the registry behind ``conn``, as :func:`compute` builds them."""
    tree = AreaTree.load(conn)
    return _Blocks(conn.dialect.name, params, tree.lowest_level, _load_programmes(conn))


# --------------------------------------------------------------------------------------
# One grouped query per family; each returns counts per raw area (and key columns).
# --------------------------------------------------------------------------------------


def _flag(condition: ColumnElement) -> ColumnElement:
    return sa.case((condition, 1), else_=0)


def _sum(condition: ColumnElement, label: str) -> ColumnElement:
    return sa.func.coalesce(sa.func.sum(_flag(condition)), 0).label(label)


def _read(conn: sa.Connection, query: sa.Select) -> pd.DataFrame:
    result = conn.execute(query)
    return pd.DataFrame(result.fetchall(), columns=list(result.keys()))


def count_programme_coverage(conn: sa.Connection, b: _Blocks) -> pd.DataFrame:
    us = b.unit_status()
    eligible, enrolled = us.c.eligible == 1, us.c.enrolled == 1
    return _read(conn, sa.select(
        us.c.area_id, us.c.programme_id,
        _sum(eligible, "eligible"),
        _sum(sa.and_(eligible, enrolled), "eligible_enrolled"),
        _sum(enrolled, "enrolled"),
        _sum(sa.and_(enrolled, us.c.eligible == 0), "enrolled_not_eligible"),
    ).group_by(us.c.area_id, us.c.programme_id))


def count_households(conn: sa.Connection, b: _Blocks) -> pd.DataFrame:
    """Poor households, packages and double dipping, per raw area.

    Shaped for SQLite's planner as much as for clarity: the per-household aggregates are
    built without joins to other derived tables, then each probes the household table by
    its primary key (a LEFT JOIN between two derived tables has no index to use).
    """
    hp = b.household_programmes()
    # Level 1: per household and exclusive group (null group: programmes outside any group).
    per_group = (
        sa.select(
            hp.c.household_id,
            programme.c.exclusive_group,
            sa.func.sum(hp.c.eligible_for).label("n_eligible"),
            sa.func.sum(hp.c.eligible_for * hp.c.receives).label("n_eligible_received"),
            sa.func.sum(hp.c.receives).label("n_received"),
        )
        .join(programme, programme.c.programme_id == hp.c.programme_id)
        .group_by(hp.c.household_id, programme.c.exclusive_group)
        .subquery("per_group")
    )
    in_group = per_group.c.exclusive_group.is_not(None)
    per_household = (
        sa.select(
            per_group.c.household_id,
            sa.func.sum(per_group.c.n_eligible).label("n_eligible"),
            sa.func.sum(per_group.c.n_eligible_received).label("n_eligible_received"),
            sa.func.sum(per_group.c.n_received).label("n_received"),
            sa.func.max(_flag(sa.and_(in_group, per_group.c.n_received >= 1))).label("grouped"),
            sa.func.max(_flag(sa.and_(in_group, per_group.c.n_received >= 2))).label("dipping"),
        )
        .group_by(per_group.c.household_id)
        .subquery("per_household")
    )
    ph = per_household.c
    poor = sa.and_(household.c.pmt_score.is_not(None),
                   household.c.pmt_score <= sa.literal(float(b.p.poverty_cutoff)))
    receiving = _read(conn, sa.select(
        household.c.area_id,
        _sum(sa.and_(poor, ph.n_received >= 1), "poor_receiving"),
        sa.func.coalesce(sa.func.sum(sa.case((poor, ph.n_received), else_=0)), 0)
        .label("poor_programmes"),
        _sum(ph.n_eligible >= 2, "multi_eligible"),
        _sum(sa.and_(ph.n_eligible >= 2, ph.n_eligible_received == ph.n_eligible),
             "multi_complete"),
        _sum(ph.grouped == 1, "grouped_receiving"),
        _sum(ph.dipping == 1, "double_dipping"),
    ).select_from(per_household)
     .join(household, household.c.household_id == ph.household_id)
     # A registered member makes a row for an unregistered household: not counted here.
     .where(household.c.registered_on <= b.d)
     .group_by(household.c.area_id))
    hh = b.registered_households()
    poor_hh = sa.and_(hh.c.pmt_score.is_not(None),
                      hh.c.pmt_score <= sa.literal(float(b.p.poverty_cutoff)))
    poor_counts = _read(conn, sa.select(hh.c.area_id, _sum(poor_hh, "poor"))
                        .group_by(hh.c.area_id))
    return poor_counts.merge(receiving, on="area_id", how="outer")


def _age_bucket(b: _Blocks, birth_date: ColumnElement) -> ColumnElement:
    return sa.case(
        (birth_date.is_(None), "unknown"),
        (birth_date > b.date(years_before(b.p.as_of, 18)), "0-17"),
        (birth_date > b.date(years_before(b.p.as_of, 60)), "18-59"),
        else_="60+",
    )


def count_population(conn: sa.Connection, b: _Blocks) -> pd.DataFrame:
    """Registered persons and covered persons per raw area, sex, age bucket and disability."""
    ps = b.registered_persons()
    # Correlated EXISTS, not IN or LEFT JOIN on a derived table: SQLite probes the enrolment
    # indexes and PostgreSQL plans a semi-join, where a large IN list it cannot hash in
    # work_mem would be scanned once per person.
    covered = sa.or_(b.has_active_enrolment("household", ps.c.household_id,
                                            ps.c.household_registered_on),
                     b.has_active_enrolment("person", ps.c.person_id, ps.c.registered_on))
    age = _age_bucket(b, ps.c.birth_date).label("age")
    disability = sa.case((ps.c.disability == sa.true(), "yes"),
                         (ps.c.disability == sa.false(), "no"), else_=None).label("disability")
    return _read(conn, sa.select(
        ps.c.area_id, ps.c.sex, age, disability,
        sa.func.count().label("persons"), _sum(covered, "covered"),
    ).group_by(ps.c.area_id, ps.c.sex, age, disability))


def count_duplicates(conn: sa.Connection, b: _Blocks) -> tuple[pd.DataFrame, pd.DataFrame]:
    ps = b.registered_persons()
    well_formed = dialects.is_thirteen_digits(b.dialect, ps.c.national_id)
    # A window count per id, not IN (subquery): PostgreSQL runs a large IN list it cannot
    # hash in work_mem as a linear scan per row; a window is one sort on every backend.
    ids = (
        sa.select(ps.c.area_id, sa.func.count().over(partition_by=ps.c.national_id)
                  .label("holders"))
        .where(well_formed)
        .subquery("wf")
    )
    shared_id = _read(conn, sa.select(
        ids.c.area_id, sa.func.count().label("with_id"), _sum(ids.c.holders >= 2, "shared"),
    ).group_by(ids.c.area_id))

    ae = b.active_enrolments()
    pairs = (
        sa.select(ae.c.area_id, ae.c.unit_id, ae.c.programme_id, sa.func.count().label("n"))
        .group_by(ae.c.area_id, ae.c.unit, ae.c.unit_id, ae.c.programme_id)
        .subquery("pairs")
    )
    double = _read(conn, sa.select(
        pairs.c.area_id, sa.func.count().label("pairs"), _sum(pairs.c.n >= 2, "double"),
    ).group_by(pairs.c.area_id))
    return shared_id, double


def count_registered_persons(conn: sa.Connection, b: _Blocks) -> pd.DataFrame:
    """Registered persons per raw area (the denominator of cov.population, alone)."""
    ps = b.registered_persons()
    return _read(conn, sa.select(ps.c.area_id, sa.func.count().label("persons"))
                 .group_by(ps.c.area_id))


PAIR_CHUNK = 500  # person ids per IN list (well under SQLite's bound on parameters)


def ordered_pairs(pairs: pd.DataFrame) -> list[tuple[str, str]]:
    """The distinct pairs of a (person_id_a, person_id_b) frame, each with the smaller id
    first ("the pair's first person"); a person paired with itself is dropped."""
    out: set[tuple[str, str]] = set()
    for a, b in zip(pairs["person_id_a"], pairs["person_id_b"], strict=True):
        if a is None or b is None or pd.isna(a) or pd.isna(b):
            continue
        x, y = str(a), str(b)
        if x != y:
            out.add((x, y) if x < y else (y, x))
    return sorted(out)


def count_suspected_pairs(conn: sa.Connection, b: _Blocks, pairs: pd.DataFrame) -> pd.DataFrame:
    """dup.suspected_pairs' numerator per raw area: the pairs whose two persons are
    registered and not left out on d, in the area of the first person (the smaller id).

    The pairs come from the app store (few: a registry's suspected duplicates), so only
    their persons are read, by id, in chunks."""
    wanted = ordered_pairs(pairs)
    ids = sorted({pid for pair in wanted for pid in pair})
    ps = b.registered_persons()
    area_of: dict[str, str] = {}
    for start in range(0, len(ids), PAIR_CHUNK):
        chunk = ids[start:start + PAIR_CHUNK]
        for pid, area_id in conn.execute(sa.select(ps.c.person_id, ps.c.area_id)
                                         .where(ps.c.person_id.in_(chunk))):
            area_of[str(pid)] = area_id
    counted: dict[str, int] = {}
    for first, second in wanted:
        if first in area_of and second in area_of:
            counted[area_of[first]] = counted.get(area_of[first], 0) + 1
    return pd.DataFrame({"area_id": list(counted), "pairs": list(counted.values())},
                        columns=["area_id", "pairs"])


def count_referrals(conn: sa.Connection, b: _Blocks) -> pd.DataFrame:
    vr = b.valid_referrals()
    start, end = b.date(b.p.period_start), b.date(b.p.period_end)
    overdue_since = b.date(b.p.period_end - dt.timedelta(days=b.p.referral_sla_days))
    made = sa.and_(vr.c.referred_on >= start, vr.c.referred_on <= end)
    closed_by_end = vr.c.closed_on <= end
    open_at_end = sa.not_(sa.and_(vr.c.status.in_(CLOSED_STATUSES), vr.c.closed_on.is_not(None),
                                  closed_by_end))
    return _read(conn, sa.select(
        vr.c.area_id, vr.c.to_programme_id.label("programme_id"), vr.c.access_point_id,
        _sum(made, "made"),
        _sum(sa.and_(made, vr.c.status == "completed", closed_by_end), "completed"),
        _sum(sa.and_(made, vr.c.status == "rejected", closed_by_end), "rejected"),
        _sum(open_at_end, "open"),
        _sum(sa.and_(open_at_end, vr.c.referred_on <= overdue_since), "overdue"),
    ).where(vr.c.referred_on <= end)
     .group_by(vr.c.area_id, vr.c.to_programme_id, vr.c.access_point_id))


def median_days_to_complete(conn: sa.Connection, b: _Blocks, tree: AreaTree, level: int
                            ) -> pd.DataFrame:
    """Median days to complete per (area of level | whole registry) x (programme | all)."""
    vr = b.valid_referrals()
    start, end = b.date(b.p.period_start), b.date(b.p.period_end)
    days = dialects.days_between(b.dialect, vr.c.closed_on, vr.c.referred_on).label("days")
    completed = (vr.c.status == "completed", vr.c.closed_on >= start, vr.c.closed_on <= end)
    # Walk from the referral's lowest-level area up to its ancestor at `level`, hop by hop,
    # as AreaTree.ancestor_map does for the additive counts.
    from_clause: sa.FromClause = vr
    current = vr.c.area_id
    for step in range(tree.lowest_level - level):
        node = area.alias(f"hop{step}")
        from_clause = from_clause.join(node, node.c.area_id == current)
        current = node.c.parent_id
    target = area.alias("target")
    from_clause = from_clause.join(target, sa.and_(target.c.area_id == current,
                                                   target.c.level == level))
    level_base = sa.select(vr.c.to_programme_id.label("programme_id"),
                           target.c.area_id.label("area_id"), days) \
        .select_from(from_clause).where(*completed)
    whole_base = sa.select(vr.c.to_programme_id.label("programme_id"),
                           sa.literal(None, sa.Text).label("area_id"), days).where(*completed)
    frames = [
        _median(conn, source.subquery(), by_programme)
        for source in (level_base, whole_base) for by_programme in (True, False)
    ]
    return pd.concat(frames, ignore_index=True)


def _median(conn: sa.Connection, source: sa.Subquery, by_programme: bool) -> pd.DataFrame:
    keys = [source.c.area_id] + ([source.c.programme_id] if by_programme else [])
    ranked = sa.select(
        *keys, source.c.days,
        sa.func.row_number().over(partition_by=keys, order_by=source.c.days).label("rn"),
        sa.func.count().over(partition_by=keys).label("n"),
    ).subquery("ranked")
    rk = [ranked.c.area_id] + ([ranked.c.programme_id] if by_programme else [])
    # The middle one (odd n) or the two middle ones (even n): 2*rn in [n, n+2].
    frame = _read(conn, sa.select(*rk, sa.func.avg(ranked.c.days).label("median"))
                  .where(ranked.c.rn * 2 >= ranked.c.n, ranked.c.rn * 2 <= ranked.c.n + 2)
                  .group_by(*rk))
    if not by_programme:
        frame["programme_id"] = None
    return frame


def count_data_quality(conn: sa.Connection, b: _Blocks) -> tuple[pd.DataFrame, pd.DataFrame, dict]:
    """dq.* counts per raw area (the household's area_id as recorded, null when unknown)."""
    d = b.d
    adult_cutoff = b.date(years_before(b.p.as_of, 18))
    p_area = household.c.area_id
    well_formed = dialects.is_thirteen_digits(b.dialect, person.c.national_id)
    adult = sa.and_(person.c.birth_date.is_not(None), person.c.birth_date <= adult_cutoff)
    persons = _read(conn, sa.select(
        p_area.label("area_id"),
        _sum(adult, "adults"),
        _sum(sa.and_(adult, person.c.national_id.is_(None)), "adults_without_id"),
        _sum(person.c.national_id.is_not(None), "with_id"),
        _sum(sa.and_(person.c.national_id.is_not(None), sa.not_(well_formed)), "malformed"),
    ).select_from(person.outerjoin(household, household.c.household_id == person.c.household_id))
     .where(person.c.registered_on <= d).group_by(p_area))
    households = _read(conn, sa.select(
        household.c.area_id, sa.func.count().label("households"),
        _sum(household.c.pmt_score.is_(None), "unassessed"),
    ).where(household.c.registered_on <= d).group_by(household.c.area_id))

    def count(query: sa.Select) -> int:
        return int(conn.execute(sa.select(sa.func.count()).select_from(query.subquery())).scalar())

    totals = {}
    for name, table, valid in (
        ("household", household, b.valid_households()),
        ("person", person, b.valid_persons()),
        ("enrolment", enrolment, b.valid_enrolments(registered_only=False)),
        ("referral", referral, b.valid_referrals()),
    ):
        rows = count(sa.select(table))
        totals[name] = (rows - count(sa.select(valid)), rows)
    return persons, households, totals


# --------------------------------------------------------------------------------------
# Assembly: roll the raw-area counts up to the level and write the long form.
# --------------------------------------------------------------------------------------


class _Rows:
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


def _get(table: dict, key: tuple, name: str) -> int:
    return table.get(key, {}).get(name, 0)


def _emit_programme_coverage(rows: _Rows, counts: pd.DataFrame, programme_ids: list[str]) -> None:
    table = rows.rollup(counts, ["programme_id"],
                        ["eligible", "eligible_enrolled", "enrolled", "enrolled_not_eligible"])
    for area_id in rows.targets():
        for pid in programme_ids:
            key = (area_id, pid)
            eligible = _get(table, key, "eligible")
            rows.add("cov.programme", area_id, _get(table, key, "eligible_enrolled"), eligible,
                     programme_id=pid)
            rows.add("cov.exclusion", area_id,
                     eligible - _get(table, key, "eligible_enrolled"), eligible, programme_id=pid)
            rows.add("cov.inclusion", area_id, _get(table, key, "enrolled_not_eligible"),
                     _get(table, key, "enrolled"), programme_id=pid)


def _emit_households(rows: _Rows, counts: pd.DataFrame, wanted: set[str]) -> None:
    table = rows.rollup(counts, [], ["poor", "poor_receiving", "poor_programmes",
                                     "multi_eligible", "multi_complete",
                                     "grouped_receiving", "double_dipping"])
    for area_id in rows.targets():
        key = (area_id,)
        pairs = {
            "cov.poor_households": ("poor_receiving", "poor"),
            "pkg.complete": ("multi_complete", "multi_eligible"),
            "pkg.mean_programmes_poor": ("poor_programmes", "poor"),
            "dup.double_dipping": ("double_dipping", "grouped_receiving"),
        }
        for indicator_id, (num, den) in pairs.items():
            if indicator_id in wanted:
                rows.add(indicator_id, area_id, _get(table, key, num), _get(table, key, den))


def _emit_population(rows: _Rows, counts: pd.DataFrame, wanted: set[str]) -> None:
    frame = counts.copy()
    frame["sex"] = frame["sex"].astype(object)
    table_total = rows.rollup(frame, [], ["persons", "covered"])
    tables = {
        "sex": rows.rollup(frame, ["sex"], ["persons", "covered"]),
        "age": rows.rollup(frame, ["age"], ["persons", "covered"]),
        "disability": rows.rollup(frame, ["disability"], ["persons", "covered"]),
    }
    for area_id in rows.targets():
        covered = _get(table_total, (area_id,), "covered")
        if "cov.population" in wanted:
            rows.add("cov.population", area_id, covered, _get(table_total, (area_id,), "persons"))
            for label in SEX + tuple(f"age={a}" for a in AGE_BUCKETS) + ("disability=yes",
                                                                         "disability=no"):
                key_name, value = label.split("=", 1)
                key = (area_id, value)
                rows.add("cov.population", area_id, _get(tables[key_name], key, "covered"),
                         _get(tables[key_name], key, "persons"), breakdown=label)
        if "cov.population_census" in wanted:
            population = rows.tree.population(area_id)
            rows.add("cov.population_census", area_id, covered, population)


def _emit_duplicates(rows: _Rows, shared: pd.DataFrame, double: pd.DataFrame,
                     wanted: set[str]) -> None:
    shared_t = rows.rollup(shared, [], ["with_id", "shared"])
    double_t = rows.rollup(double, [], ["pairs", "double"])
    for area_id in rows.targets():
        key = (area_id,)
        if "dup.shared_id" in wanted:
            rows.add("dup.shared_id", area_id, _get(shared_t, key, "shared"),
                     _get(shared_t, key, "with_id"))
        if "dup.double_enrolment" in wanted:
            rows.add("dup.double_enrolment", area_id, _get(double_t, key, "double"),
                     _get(double_t, key, "pairs"))


def _emit_suspected_pairs(rows: _Rows, persons: pd.DataFrame,
                          pairs: pd.DataFrame | None) -> None:
    """dup.suspected_pairs: pairs ÷ registered persons; no pairs given: numerator and value
    empty (unknown, not zero), the denominator still counted."""
    persons_t = rows.rollup(persons, [], ["persons"])
    pairs_t = None if pairs is None else rows.rollup(pairs, [], ["pairs"])
    for area_id in rows.targets():
        key = (area_id,)
        rows.add("dup.suspected_pairs", area_id,
                 None if pairs_t is None else _get(pairs_t, key, "pairs"),
                 _get(persons_t, key, "persons"))


REFERRAL_PAIRS: dict[str, tuple[str, str | None]] = {
    "ref.made": ("made", None),
    "ref.completed": ("completed", "made"),
    "ref.rejected": ("rejected", "made"),
    "ref.overdue": ("overdue", "open"),
}


def _emit_referrals(rows: _Rows, counts: pd.DataFrame, medians: pd.DataFrame,
                    programme_ids: list[str], wanted: set[str]) -> None:
    values = ["made", "completed", "rejected", "open", "overdue"]
    total = rows.rollup(counts, [], values)
    by_programme = rows.rollup(counts, ["programme_id"], values)
    with_ap = counts.dropna(subset=["access_point_id"])
    by_ap = rows.rollup(with_ap, ["access_point_id"], values)
    aps_by_area: dict = {}
    for (area_id, ap), _ in sorted(by_ap.items(), key=lambda kv: str(kv[0][1])):
        aps_by_area.setdefault(area_id, []).append(ap)
    median_of = {
        (r.area_id if isinstance(r.area_id, str) else None,
         r.programme_id if isinstance(r.programme_id, str) else None): r.median
        for r in medians.itertuples(index=False)
    }
    for area_id in rows.targets():
        for indicator_id, (num, den) in REFERRAL_PAIRS.items():
            if indicator_id not in wanted:
                continue
            cells = [(None, None, total.get((area_id,), {}))]
            cells += [(pid, None, by_programme.get((area_id, pid), {})) for pid in programme_ids]
            for ap in aps_by_area.get(area_id, []):
                cell = by_ap[(area_id, ap)]
                if cell.get(den or num, 0) > 0:
                    cells.append((None, f"access_point={ap}", cell))
            for pid, breakdown, cell in cells:
                numerator = cell.get(num, 0)
                if den is None:
                    rows.add(indicator_id, area_id, numerator, None, programme_id=pid,
                             breakdown=breakdown, value_is_numerator=True)
                else:
                    rows.add(indicator_id, area_id, numerator, cell.get(den, 0),
                             programme_id=pid, breakdown=breakdown)
        if "ref.days_to_complete" in wanted:
            for pid in [None, *programme_ids]:
                median = median_of.get((area_id, pid))
                rows.add("ref.days_to_complete", area_id, None, None, programme_id=pid,
                         value=None if median is None or pd.isna(median) else float(median))


def _emit_data_quality(rows: _Rows, persons: pd.DataFrame, households: pd.DataFrame,
                       totals: dict, wanted: set[str]) -> None:
    persons = persons.assign(area_id=persons["area_id"].astype(object))
    households = households.assign(area_id=households["area_id"].astype(object))
    person_t = rows.rollup(persons, [], ["adults", "adults_without_id", "with_id", "malformed"])
    household_t = rows.rollup(households, [], ["households", "unassessed"])
    for area_id in rows.targets():
        key = (area_id,)
        if "dq.adults_without_id" in wanted:
            rows.add("dq.adults_without_id", area_id, _get(person_t, key, "adults_without_id"),
                     _get(person_t, key, "adults"))
        if "dq.malformed_id" in wanted:
            rows.add("dq.malformed_id", area_id, _get(person_t, key, "malformed"),
                     _get(person_t, key, "with_id"))
        if "dq.unassessed_households" in wanted:
            rows.add("dq.unassessed_households", area_id, _get(household_t, key, "unassessed"),
                     _get(household_t, key, "households"))
    if "dq.invalid_rows" in wanted:
        rows.add("dq.invalid_rows", None, sum(v[0] for v in totals.values()),
                 sum(v[1] for v in totals.values()))
        for table_name, (left_out, total) in totals.items():
            rows.add("dq.invalid_rows", None, left_out, total, breakdown=f"table={table_name}")


def _load_programmes(conn: sa.Connection) -> pd.DataFrame:
    frame = _read(conn, sa.select(
        programme.c.programme_id, programme.c.unit, programme.c.pmt_max, programme.c.age_min,
        programme.c.age_max, programme.c.sex, programme.c.disability_only,
    ).order_by(programme.c.programme_id))
    frame = frame.astype(object).where(frame.notna(), None)
    frame["disability_only"] = frame["disability_only"].map(lambda v: bool(v) if v is not None else False)
    return frame


FAMILY_OF_ID: dict[str, str] = {
    "cov.programme": "programme", "cov.exclusion": "programme", "cov.inclusion": "programme",
    "cov.poor_households": "households", "pkg.complete": "households",
    "pkg.mean_programmes_poor": "households", "dup.double_dipping": "households",
    "cov.population": "population", "cov.population_census": "population",
    "dup.shared_id": "duplicates", "dup.double_enrolment": "duplicates",
    "dup.suspected_pairs": "suspected_pairs",
    "ref.made": "referrals", "ref.completed": "referrals", "ref.rejected": "referrals",
    "ref.overdue": "referrals", "ref.days_to_complete": "referrals",
    "dq.adults_without_id": "data_quality", "dq.malformed_id": "data_quality",
    "dq.unassessed_households": "data_quality", "dq.invalid_rows": "data_quality",
}


def compute(
    engine: sa.Engine,
    *,
    as_of: dt.date | None = None,
    level: int,
    period_start: dt.date | None = None,
    poverty_cutoff: float = 32.0,
    referral_sla_days: int = 30,
    period_months: int = 3,
    indicator_ids: Iterable[str] | None = None,
    progress: Callable[[float, str], None] | None = None,
    suspected_pairs: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Every indicator (or those asked for) for every area of ``level`` and the whole registry.

    Returns the spec's long form (catalogue.LONG_FORM_COLUMNS): empty text cells are None,
    ``level`` is None on whole-registry rows, numerator/denominator are integers or None,
    value is a float or None.

    ``suspected_pairs``: the record-linkage pairs not dismissed (columns person_id_a,
    person_id_b; data_access.linkage_store.undismissed_pairs), which live in the app store,
    not the registry. Without them ``dup.suspected_pairs`` has an empty numerator and value.
    """
    as_of = as_of or default_as_of(engine)
    params = Parameters(
        as_of=as_of,
        period_start=period_start or default_period_start(as_of, period_months),
        poverty_cutoff=float(poverty_cutoff),
        referral_sla_days=int(referral_sla_days),
    )
    wanted = set(indicator_ids) if indicator_ids is not None else set(FAMILY_OF_ID)
    unknown = wanted - set(FAMILY_OF_ID)
    if unknown:
        raise KeyError(f"unknown indicator(s): {', '.join(sorted(unknown))}")
    families = {FAMILY_OF_ID[i] for i in wanted}
    report = progress or (lambda fraction, message: None)

    with engine.connect() as conn:
        tree = AreaTree.load(conn)
        if not tree.has_level(level):
            raise ValueError(f"the registry has no area of level {level} "
                             f"(levels present: {tree.levels_text()})")
        programmes = _load_programmes(conn)
        programme_ids = list(programmes["programme_id"].astype(str))
        blocks = _Blocks(engine.dialect.name, params, tree.lowest_level, programmes)
        rows = _Rows(tree, level, params)
        steps = [f for f in FAMILY_ORDER if f in families]
        population: pd.DataFrame | None = None
        for index, family in enumerate(steps):
            report(index / len(steps), family)
            if family == "programme":
                _emit_programme_coverage(rows, count_programme_coverage(conn, blocks),
                                         programme_ids)
            elif family == "households":
                _emit_households(rows, count_households(conn, blocks), wanted)
            elif family == "population":
                population = count_population(conn, blocks)
                _emit_population(rows, population, wanted)
            elif family == "duplicates":
                _emit_duplicates(rows, *count_duplicates(conn, blocks), wanted)
            elif family == "suspected_pairs":
                persons = (population if population is not None
                           else count_registered_persons(conn, blocks))
                pairs = (None if suspected_pairs is None
                         else count_suspected_pairs(conn, blocks, suspected_pairs))
                _emit_suspected_pairs(rows, persons, pairs)
            elif family == "referrals":
                medians = (median_days_to_complete(conn, blocks, tree, level)
                           if "ref.days_to_complete" in wanted else pd.DataFrame(
                               columns=["area_id", "programme_id", "median"]))
                _emit_referrals(rows, count_referrals(conn, blocks), medians, programme_ids,
                                wanted)
            elif family == "data_quality":
                _emit_data_quality(rows, *count_data_quality(conn, blocks), wanted)
        report(1.0, "done")
    return _long_form(rows.rows)


# The order compute() runs the families in (and emits their rows in).
FAMILY_ORDER: tuple[str, ...] = ("programme", "households", "population", "duplicates",
                                 "suspected_pairs", "referrals", "data_quality")


def family_indicator_ids(family: str) -> tuple[str, ...]:
    """Every indicator one family's query counts (what compute gives for the family)."""
    return tuple(i for i, f in FAMILY_OF_ID.items() if f == family)


def families_of(indicator_ids: Iterable[str] | None) -> list[str]:
    """The families behind these indicators (None: all), in compute's order."""
    wanted = set(FAMILY_OF_ID) if indicator_ids is None else set(indicator_ids)
    unknown = wanted - set(FAMILY_OF_ID)
    if unknown:
        raise KeyError(f"unknown indicator(s): {', '.join(sorted(unknown))}")
    present = {FAMILY_OF_ID[i] for i in wanted}
    return [f for f in FAMILY_ORDER if f in present]


def merge_long_forms(frames: Iterable[pd.DataFrame]) -> pd.DataFrame:
    """The long forms of separate families (each from compute, given in FAMILY_ORDER) as
    one compute would have returned them together: the same rows in the same order.

    Families are independent queries, so a caller may cache them one by one and share a
    family between pages that ask for different indicators.
    """
    frames = [frame for frame in frames if not frame.empty]
    if not frames:
        return _long_form([])
    order = {ind.id: i for i, ind in enumerate(CATALOGUE)}
    frame = pd.concat(frames, ignore_index=True)
    frame["_order"] = frame["indicator_id"].map(order)
    # A stable sort on the same keys as _long_form: rows of one indicator keep the order
    # their family emitted them in.
    frame = frame.sort_values(["_order", "level", "area_id"], na_position="last", kind="stable")
    return frame.drop(columns="_order").reset_index(drop=True)


def _long_form(rows: list[dict]) -> pd.DataFrame:
    order = {ind.id: i for i, ind in enumerate(CATALOGUE)}
    frame = pd.DataFrame(rows, columns=list(LONG_FORM_COLUMNS))
    if frame.empty:
        return frame
    frame["_order"] = frame["indicator_id"].map(order)
    frame = frame.sort_values(["_order", "level", "area_id"], na_position="last", kind="stable")
    frame = frame.drop(columns="_order").reset_index(drop=True)
    for col in ("level", "numerator", "denominator"):
        frame[col] = frame[col].astype("Int64")
    frame["value"] = frame["value"].astype("Float64")
    for col in ("indicator_id", "area_id", "area_name", "programme_id", "breakdown",
                "period_start", "period_end"):
        frame[col] = frame[col].astype(object).where(frame[col].notna(), None)
    return frame
