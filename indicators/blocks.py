"""The building blocks every indicator shares, as SQLAlchemy selectables: valid and registered
households and persons, valid and active enrolments, eligibility, what a household receives,
valid referrals. The families (indicators.families) count from them; the lists
(indicators.lists) select the rows behind a numerator from the same blocks, so a list has
exactly as many rows as its indicator counts. The readings of the spec where it leaves a choice
are in docs/spec-choices.md.
"""

from __future__ import annotations

import calendar
import datetime as dt
import functools
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.sql.elements import ColumnElement

from data_access import dialects
from data_access.areas import AreaTree
from data_access.registry_tables import RegistryTables, registry_tables
from data_access.schema import programme

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


def _block(method: Callable[..., sa.FromClause] | None = None, *,
           stored: bool | Callable[[str], bool] = True) -> Callable[..., sa.FromClause]:
    """A building block built once per Blocks: on a backend that materialises blocks
    (dialects.materialises_blocks), a ``stored`` block (``stored``: a flag, or a function of
    the dialect) is kept in a temporary table the first time it is used, so every family
    reads it instead of deriving it again (a block that only filters a stored one is not
    stored: the filter is cheaper than a second copy)."""
    if method is None:
        return functools.partial(_block, stored=stored)

    @functools.wraps(method)
    def built(self: Blocks, *args: Any, **kwargs: Any) -> sa.FromClause:
        key = (method.__name__, *args, *sorted(kwargs.items()))
        if key not in self._built:
            block = method(self, *args, **kwargs)
            if self._conn is not None and (stored(self.dialect) if callable(stored) else stored):
                name = f"socle_{self._token}_{len(self._built)}_{method.__name__}"
                statement = sa.select(block).into(name, temporary=True)
                self._conn.execute(statement)
                self._temporary.append(name)
                block = statement.table
            self._built[key] = block
        return self._built[key]

    return built


class Blocks:
    """Named building blocks over the registry for one set of parameters.

    With ``conn`` given on a backend that materialises blocks (DuckDB: each block is one
    parallel pass over its table, read many times; Spark: a cached view), blocks are
    temporary tables on that connection until :meth:`release`; otherwise they are subqueries the database plans into
    each family's query (PostgreSQL's read-only transactions refuse temporary tables; SQLite's
    planner uses the registry's indexes through them).
    """

    def __init__(self, dialect: str, params: Parameters, lowest_level: int,
                 programmes: pd.DataFrame, tables: RegistryTables,
                 conn: sa.Connection | None = None,
                 families: frozenset[str] | None = None) -> None:
        self.dialect = dialect
        self.t = tables  # the registry's tables, dates read as dates
        self.params = params
        self.as_of = sa.literal(params.as_of, sa.Date)  # d, as a bound date
        self.lowest_level = lowest_level
        self.programmes = programmes
        self.families = families  # those the computation runs (None: any)
        self._conn = conn if conn is not None and dialects.materialises_blocks(dialect) else None
        self._token = uuid.uuid4().hex[:8]
        self._built: dict[tuple, sa.FromClause] = {}
        self._temporary: list[str] = []

    def serves(self, family: str) -> bool:
        """Whether the computation runs ``family``: a block shared by several families counts
        only what the families run need."""
        return self.families is None or family in self.families

    def release(self) -> None:
        """Drop the temporary tables of the blocks (the connection goes back to a pool)."""
        if self._conn is None:
            return
        for name in reversed(self._temporary):
            self._conn.execute(sa.text(f"DROP TABLE IF EXISTS {name}"))
        self._temporary.clear()
        self._built.clear()

    def date(self, value: dt.date) -> ColumnElement:
        return sa.literal(value, sa.Date)

    # Households and persons -------------------------------------------------------------
    @_block
    def valid_households(self) -> sa.Subquery:
        """Households whose area is known and of the lowest level."""
        return (
            sa.select(self.t.household.c.household_id, self.t.household.c.area_id,
                      self.t.household.c.registered_on, self.t.household.c.pmt_score)
            .join(self.t.area, sa.and_(self.t.area.c.area_id == self.t.household.c.area_id,
                                self.t.area.c.level == self.lowest_level))
            .subquery("valid_household")
        )

    @_block(stored=False)
    def registered_households(self) -> sa.Subquery:
        households = self.valid_households()
        return sa.select(households).where(households.c.registered_on <= self.as_of).subquery("reg_household")

    @_block(stored=dialects.stores_joined_blocks)
    def valid_persons(self) -> sa.Subquery:
        """Persons of valid households, with the household's area and PMT score."""
        households = self.valid_households()
        return (
            sa.select(self.t.person.c.person_id, self.t.person.c.household_id, households.c.area_id,
                      households.c.pmt_score, households.c.registered_on.label("household_registered_on"),
                      self.t.person.c.registered_on, self.t.person.c.birth_date, self.t.person.c.sex,
                      self.t.person.c.disability, self.t.person.c.national_id)
            .join(households, households.c.household_id == self.t.person.c.household_id)
            .subquery("valid_person")
        )

    @_block(stored=False)
    def registered_persons(self) -> sa.Subquery:
        valid = self.valid_persons()
        return sa.select(valid).where(valid.c.registered_on <= self.as_of).subquery("reg_person")

    # Enrolments ---------------------------------------------------------------------------
    def valid_enrolments(self, registered_only: bool) -> sa.FromClause:
        """Enrolments whose programme is known, whose unit ids match the programme's unit and
        whose unit is valid (registered, if asked): one row each, with the unit and its area."""
        if registered_only and self.materialised:
            return self._registered_of_valid_enrolments()
        return self._valid_enrolments(registered_only)

    @_block(stored=False)
    def _registered_of_valid_enrolments(self) -> sa.Subquery:
        # Materialised, the valid enrolments are stored once; the registered units' are a filter.
        valid = self._valid_enrolments(False)
        return (sa.select(*[c for c in valid.c if c.name != "unit_registered_on"])
                .where(valid.c.unit_registered_on <= self.as_of).subquery("reg_enrolment"))

    @_block
    def _valid_enrolments(self, registered_only: bool) -> sa.Subquery:
        households = self.registered_households() if registered_only else self.valid_households()
        persons = self.registered_persons() if registered_only else self.valid_persons()
        # Stored, the valid set keeps each unit's registration date for the filter above.
        keeps_registration = self.materialised and not registered_only
        household_branch = (
            sa.select(self.t.enrolment.c.enrolment_id, self.t.enrolment.c.programme_id,
                      self.t.enrolment.c.household_id.label("unit_id"),
                      self.t.enrolment.c.household_id, households.c.area_id,
                      self.t.enrolment.c.enrolled_on, self.t.enrolment.c.ended_on,
                      sa.literal("household").label("unit"),
                      *([households.c.registered_on.label("unit_registered_on")]
                        if keeps_registration else []))
            .join(self.t.programme, self.t.programme.c.programme_id == self.t.enrolment.c.programme_id)
            .join(households, households.c.household_id == self.t.enrolment.c.household_id)
            .where(self.t.programme.c.unit == "household", self.t.enrolment.c.person_id.is_(None))
        )
        person_branch = (
            sa.select(self.t.enrolment.c.enrolment_id, self.t.enrolment.c.programme_id,
                      self.t.enrolment.c.person_id.label("unit_id"),
                      persons.c.household_id, persons.c.area_id,
                      self.t.enrolment.c.enrolled_on, self.t.enrolment.c.ended_on,
                      sa.literal("person").label("unit"),
                      *([persons.c.registered_on.label("unit_registered_on")]
                        if keeps_registration else []))
            .join(self.t.programme, self.t.programme.c.programme_id == self.t.enrolment.c.programme_id)
            .join(persons, persons.c.person_id == self.t.enrolment.c.person_id)
            .where(self.t.programme.c.unit == "person", self.t.enrolment.c.household_id.is_(None))
        )
        name = "reg_enrolment" if registered_only else "valid_enrolment"
        return sa.union_all(household_branch, person_branch).subquery(name)

    def has_active_enrolment(self, unit: str, unit_id: ColumnElement,
                             unit_registered_on: ColumnElement) -> ColumnElement[bool]:
        """The unit (registered on d) has an active, well-formed enrolment in a programme of
        that unit. The unit itself is known to be valid (not left out)."""
        e = self.t.enrolment.alias(f"{unit}_enrolment")
        p = self.t.programme.alias(f"{unit}_programme")
        own, other = ((e.c.household_id, e.c.person_id) if unit == "household"
                      else (e.c.person_id, e.c.household_id))
        return sa.exists().where(
            own == unit_id, other.is_(None), unit_registered_on <= self.as_of,
            p.c.programme_id == e.c.programme_id, p.c.unit == unit,
            e.c.enrolled_on <= self.as_of, sa.or_(e.c.ended_on.is_(None), e.c.ended_on > self.as_of),
        )

    @property
    def materialised(self) -> bool:
        """Whether blocks are temporary tables (DuckDB) or cached views (Spark): joins to them
        are hash joins."""
        return self._conn is not None

    def is_covered(self, persons: sa.FromClause) -> ColumnElement[bool]:
        """A registered person of ``persons`` (registered_persons' columns) is covered: their
        household has an active enrolment in a household programme, or they have one in a
        person programme."""
        if not self.materialised:
            # Correlated EXISTS, not IN or LEFT JOIN on a derived table: SQLite probes the
            # enrolment indexes and PostgreSQL plans a semi-join, where a large IN list it
            # cannot hash in work_mem would be scanned once per person.
            return sa.or_(
                self.has_active_enrolment("household", persons.c.household_id,
                                          persons.c.household_registered_on),
                self.has_active_enrolment("person", persons.c.person_id,
                                          persons.c.registered_on))
        # DuckDB: two hash semi-joins on the active enrolments (of registered units only).
        active = self.active_enrolments()
        return sa.or_(
            persons.c.household_id.in_(
                sa.select(active.c.unit_id).where(active.c.unit == "household")),
            persons.c.person_id.in_(
                sa.select(active.c.unit_id).where(active.c.unit == "person")))

    def id_sharers(self, persons: sa.FromClause) -> sa.Subquery:
        """area_id and shared (1 when another person of ``persons`` holds the same id, else 0)
        of each person of ``persons`` whose national id is well formed.

        For SQLite and PostgreSQL (DuckDB and Spark count the sharers in person_counts): a
        window count per id, not IN (subquery), is one sort."""
        well_formed = dialects.is_thirteen_digits(self.dialect, persons.c.national_id)
        return (sa.select(persons.c.area_id, flag(sa.func.count().over(
                    partition_by=persons.c.national_id) >= 2).label("shared"))
                .where(well_formed).subquery("wf"))

    @_block(stored=False)
    def active_enrolments(self) -> sa.Subquery:
        """Active enrolments on d of registered units."""
        enrolments = self.valid_enrolments(registered_only=True)
        return (
            sa.select(enrolments)
            .where(enrolments.c.enrolled_on <= self.as_of,
                   sa.or_(enrolments.c.ended_on.is_(None), enrolments.c.ended_on > self.as_of))
            .subquery("active_enrolment")
        )

    # Eligibility --------------------------------------------------------------------------
    def _pmt_rule(self, pmt_max: float | None, score: ColumnElement) -> list[ColumnElement]:
        return [] if pmt_max is None else [score <= sa.literal(float(pmt_max))]

    def _person_rules(self, row: pd.Series, persons: sa.FromClause, *,
                      with_pmt: bool = True) -> list[ColumnElement]:
        """The programme's rules on a person; without the household's PMT rule when
        ``with_pmt`` is false (``persons`` then need no pmt_score)."""
        rules = self._pmt_rule(row.pmt_max, persons.c.pmt_score) if with_pmt else []
        if row.age_min is not None:
            rules.append(persons.c.birth_date <= self.date(years_before(self.params.as_of, int(row.age_min))))
        if row.age_max is not None:
            rules.append(persons.c.birth_date > self.date(years_before(self.params.as_of, int(row.age_max) + 1)))
        if row.sex is not None:
            rules.append(persons.c.sex == sa.literal(str(row.sex)))
        if row.disability_only:
            rules.append(persons.c.disability == sa.true())
        return rules

    def eligible_units(self) -> list[sa.Select]:
        """One select per programme: its eligible units (programme_id, unit_id, household_id, area_id)."""
        households = self.registered_households()
        persons = self.registered_persons()
        selects: list[sa.Select] = []
        for row in self.programmes.itertuples(index=False):
            pid = sa.literal(str(row.programme_id)).label("programme_id")
            if row.unit == "household":
                selects.append(
                    sa.select(pid, households.c.household_id.label("unit_id"), households.c.household_id,
                              households.c.area_id).where(*self._pmt_rule(row.pmt_max, households.c.pmt_score))
                )
            elif row.unit == "person":
                selects.append(
                    sa.select(pid, persons.c.person_id.label("unit_id"), persons.c.household_id,
                              persons.c.area_id).where(*self._person_rules(row, persons))
                )
        return selects

    @_block
    def unit_status(self) -> sa.Subquery:
        """For each (programme, unit) that is eligible or enrolled on d: both flags."""
        active = self.active_enrolments()
        enrolled = sa.select(active.c.programme_id, active.c.unit_id, active.c.household_id,
                             active.c.area_id, sa.literal(0).label("eligible"),
                             sa.literal(1).label("enrolled"))
        if not self.materialised:
            enrolled = enrolled.distinct()  # fewer rows for the grouping below
        parts: list[sa.Select] = [enrolled]
        for select in self.eligible_units():
            sub = select.subquery()
            parts.append(sa.select(sub.c.programme_id, sub.c.unit_id, sub.c.household_id,
                                   sub.c.area_id, sa.literal(1).label("eligible"),
                                   sa.literal(0).label("enrolled")))
        both = sa.union_all(*parts).subquery("unit_flags")
        flags = (sa.func.max(both.c.eligible).label("eligible"),
                 sa.func.max(both.c.enrolled).label("enrolled"))
        if self.materialised:
            # DuckDB: hashing two keys, not four, halves the grouping (a unit has one household
            # and one area; a programme one kind of unit, so household and person ids never
            # meet under one programme).
            return (sa.select(both.c.programme_id, both.c.unit_id,
                              sa.func.any_value(both.c.household_id).label("household_id"),
                              sa.func.any_value(both.c.area_id).label("area_id"), *flags)
                    .group_by(both.c.programme_id, both.c.unit_id).subquery("unit_status"))
        return (
            sa.select(both.c.programme_id, both.c.unit_id, both.c.household_id, both.c.area_id,
                      *flags)
            .group_by(both.c.programme_id, both.c.unit_id, both.c.household_id, both.c.area_id)
            .subquery("unit_status")
        )

    def received_programmes(self) -> sa.Subquery:
        """Each (household, programme) the household receives on d: it, or one of its
        members, has an active enrolment in the programme (the ``receives`` of
        :meth:`household_programmes`, without the eligibility that block also reads)."""
        active = self.active_enrolments()
        return (sa.select(active.c.household_id, active.c.programme_id).distinct()
                .subquery("received_programme"))

    @_block
    def household_programmes(self) -> sa.Subquery:
        """For each registered unit's household and programme: is it eligible for p, does it receive p."""
        status = self.unit_status()
        return (
            sa.select(status.c.household_id, status.c.programme_id,
                      sa.func.max(status.c.eligible).label("eligible_for"),
                      sa.func.max(status.c.enrolled).label("receives"))
            .group_by(status.c.household_id, status.c.programme_id)
            .subquery("household_programme")
        )

    # What each household's units are eligible for and receive, a column per programme -----
    def _numbered_programmes(self, *units: str) -> list[tuple[int, Any]]:
        """(column number, programme row) of each programme whose unit is one of ``units``:
        a programme's number is its place among all programmes, so its columns keep their
        names whichever units a block reads."""
        return [(i, row) for i, row in enumerate(self.programmes.itertuples(index=False))
                if row.unit in units]

    def counted_programmes(self) -> list[tuple[int, str]]:
        """(column number, programme_id) of each programme whose unit is a household or a
        person: the columns of :meth:`programme_counts` (a programme of another unit has no
        eligible or enrolled units)."""
        return [(i, str(row.programme_id))
                for i, row in self._numbered_programmes("household", "person")]

    def _enrolled_units(self, unit: str) -> sa.Subquery:
        """Each registered unit of ``unit`` with an active enrolment: r<i> is 1 when one of them
        is in programme i."""
        active = self.active_enrolments()
        columns = [sa.func.max(flag(active.c.programme_id == sa.literal(str(row.programme_id))))
                   .label(f"r{i}")
                   for i, row in self._numbered_programmes(unit)]
        return (sa.select(active.c.unit_id, *columns).where(active.c.unit == unit)
                .group_by(active.c.unit_id).subquery(f"{unit}_enrolled"))

    def _member_counts(self) -> sa.Subquery:
        """Per household id, for each person programme i: how many of its members registered
        on d meet the programme's rules on a person, the household's PMT rule aside (e<i>),
        those of them enrolled (er<i>), and the members enrolled (r<i>) on d.

        The persons are grouped by their household id before they meet their households:
        :meth:`programme_counts` keeps the valid households and applies the PMT rule to
        each household's counts, where a join of every person to their household would
        come first."""
        persons = self.t.person
        enrolled = self._enrolled_units("person")
        columns: list[ColumnElement] = []
        counted: list[ColumnElement] = [enrolled.c.unit_id.is_not(None)]
        for i, row in self._numbered_programmes("person"):
            rule = sa.and_(sa.true(), *self._person_rules(row, persons, with_pmt=False))
            eligible = flag(rule)
            receives = sa.func.coalesce(enrolled.c[f"r{i}"], 0)
            counted.append(rule)
            columns += [sa.func.sum(eligible).label(f"e{i}"),
                        sa.func.sum(eligible * receives).label(f"er{i}"),
                        sa.func.sum(receives).label(f"r{i}")]
        # Only the members eligible for or enrolled in something are grouped: the others
        # would add zeros.
        return (sa.select(persons.c.household_id, *columns)
                .select_from(persons.outerjoin(enrolled, enrolled.c.unit_id == persons.c.person_id))
                .where(persons.c.registered_on <= self.as_of, sa.or_(*counted))
                .group_by(persons.c.household_id).subquery("member_counts"))

    @_block
    def programme_counts(self) -> sa.Subquery:
        """One row per valid household: its area, PMT score, whether it is registered on d
        (``registered``), and for each counted programme i (:meth:`counted_programmes`) how
        many of its units are eligible (e<i>), eligible and enrolled (er<i>), and enrolled
        (r<i>) on d. The units are the household itself (when registered) for a household
        programme, its registered members for a person programme.

        The counts of :meth:`unit_status`, a column per programme: one pass over the persons
        and one over the households, where unit_status reads the persons once per person
        programme and groups every (programme, unit) pair."""
        households = self.valid_households()
        registered = households.c.registered_on <= self.as_of
        units = {str(row.unit) for row in self.programmes.itertuples(index=False)}
        source: sa.FromClause = households
        members = own = None
        if "person" in units:
            members = self._member_counts()
            source = source.outerjoin(members, members.c.household_id == households.c.household_id)
        if "household" in units:
            own = self._enrolled_units("household")
            source = source.outerjoin(own, own.c.unit_id == households.c.household_id)
        columns: list[ColumnElement] = []
        for i, row in self._numbered_programmes("household", "person"):
            if row.unit == "household":
                eligible = flag(sa.and_(registered, *self._pmt_rule(row.pmt_max, households.c.pmt_score)))
                receives = sa.func.coalesce(own.c[f"r{i}"], 0)
                columns += [eligible.label(f"e{i}"), (eligible * receives).label(f"er{i}"),
                            receives.label(f"r{i}")]
            else:  # a person programme: the household's PMT rule, left out of the members' counts
                poor_enough = sa.and_(sa.true(), *self._pmt_rule(row.pmt_max, households.c.pmt_score))
                columns += [
                    *[sa.case((poor_enough, sa.func.coalesce(members.c[f"{name}{i}"], 0)),
                              else_=0).label(f"{name}{i}") for name in ("e", "er")],
                    sa.func.coalesce(members.c[f"r{i}"], 0).label(f"r{i}")]
        return (sa.select(households.c.household_id, households.c.area_id, households.c.pmt_score,
                          flag(registered).label("registered"), *columns)
                .select_from(source).subquery("programme_counts"))

    # The persons, counted once per flag every family groups them by ----------------------
    def age_bucket(self, birth_date: ColumnElement) -> ColumnElement:
        """The age bucket on d (AGE_BUCKETS) of a birth date: 0-17, 18-59, 60+ or unknown."""
        return sa.case(
            (birth_date.is_(None), "unknown"),
            (birth_date > self.date(years_before(self.params.as_of, 18)), "0-17"),
            (birth_date > self.date(years_before(self.params.as_of, 60)), "18-59"),
            else_="60+",
        )

    def disability_label(self, disability: ColumnElement) -> ColumnElement:
        """yes, no, or null when the disability is not recorded."""
        return sa.case((disability == sa.true(), "yes"), (disability == sa.false(), "no"),
                       else_=None)

    @_block
    def person_counts(self) -> sa.Subquery:
        """Every person of the registry counted by the household's recorded area (null when the
        household is missing) and by each flag the population, duplicates and data-quality
        families group by: ``valid`` (of a valid household), ``registered`` on d, sex, age
        bucket, disability, ``has_id``, ``well_formed`` id, ``covered`` and ``shared`` id (both
        0 unless valid and registered; and 0 when the computation does not run the population,
        respectively the duplicates, family: :meth:`serves`). A few rows per area and flag
        combination.

        Materialised backends only: one pass over the persons (and one over the ids held
        twice) where each family read them again, each joining them to their households."""
        p, h = self.t.person, self.t.household
        lowest = self.t.area.alias("lowest_area")
        persons = (
            sa.select(p.c.person_id, p.c.household_id, p.c.national_id, p.c.sex,
                      p.c.birth_date, p.c.disability, h.c.area_id, p.c.registered_on,
                      h.c.registered_on.label("household_registered_on"),
                      flag(lowest.c.area_id.is_not(None)).label("valid"),
                      flag(p.c.registered_on <= self.as_of).label("registered"))
            .select_from(p.outerjoin(h, h.c.household_id == p.c.household_id)
                         .outerjoin(lowest, sa.and_(lowest.c.area_id == h.c.area_id,
                                                    lowest.c.level == self.lowest_level)))
            .subquery("person_flags"))
        # An id held by two registered persons is the same text for both: well formed for
        # both or for neither, so the grouping need not test the form (the flag below does).
        registered = self.registered_persons()
        shared_ids = (sa.select(registered.c.national_id)
                      .where(registered.c.national_id.is_not(None))
                      .group_by(registered.c.national_id).having(sa.func.count() >= 2))
        counted = sa.and_(persons.c.valid == 1, persons.c.registered == 1)
        columns = [
            persons.c.area_id, persons.c.valid, persons.c.registered, persons.c.sex,
            self.age_bucket(persons.c.birth_date).label("age"),
            self.disability_label(persons.c.disability).label("disability"),
            flag(persons.c.national_id.is_not(None)).label("has_id"),
            flag(dialects.is_thirteen_digits(self.dialect, persons.c.national_id))
            .label("well_formed"),
            (flag(sa.and_(counted, self.is_covered(persons))) if self.serves("population")
             else sa.literal(0)).label("covered"),
            (flag(sa.and_(counted, persons.c.national_id.in_(shared_ids)))
             if self.serves("duplicates") else sa.literal(0)).label("shared"),
        ]
        flags = sa.select(*columns).subquery("person_flag")
        return (sa.select(*flags.c, sa.func.count().label("persons"))
                .group_by(*flags.c).subquery("person_counts"))

    # Referrals ----------------------------------------------------------------------------
    @_block
    def valid_referrals(self) -> sa.Subquery:
        households = self.valid_households()
        r = self.t.referral.c
        return (
            sa.select(r.referral_id, r.to_programme_id, r.access_point_id, r.referred_on,
                      r.status, r.closed_on, households.c.area_id)
            .join(households, households.c.household_id == r.household_id)
            .where(
                r.status.in_(REFERRAL_STATUSES),
                sa.not_(sa.and_(r.status.in_(CLOSED_STATUSES), r.closed_on.is_(None))),
                r.referred_on.is_not(None),  # missing or unreadable: left out (choice 31)
                sa.or_(r.closed_on.is_(None), r.closed_on >= r.referred_on),
            )
            .subquery("valid_referral")
        )


def building_blocks(conn: sa.Connection, params: Parameters) -> Blocks:
    """The building blocks over the registry behind ``conn``, as the engine builds them."""
    tree = AreaTree.load(conn)
    return Blocks(conn.dialect.name, params, tree.lowest_level, load_programmes(conn),
                  registry_tables(conn.engine))


# Small helpers of the families' grouped queries ------------------------------------------

def flag(condition: ColumnElement) -> ColumnElement:
    return sa.case((condition, 1), else_=0)


def count_if(condition: ColumnElement, label: str) -> ColumnElement:
    return sa.func.coalesce(sa.func.sum(flag(condition)), 0).label(label)


def read_frame(conn: sa.Connection, query: sa.Select) -> pd.DataFrame:
    result = conn.execute(query)
    return pd.DataFrame(result.fetchall(), columns=list(result.keys()))


def load_programmes(conn: sa.Connection) -> pd.DataFrame:
    frame = read_frame(conn, sa.select(
        programme.c.programme_id, programme.c.unit, programme.c.pmt_max, programme.c.age_min,
        programme.c.age_max, programme.c.sex, programme.c.disability_only,
        programme.c.exclusive_group,
    ).order_by(programme.c.programme_id))
    frame = frame.astype(object).where(frame.notna(), None)
    frame["disability_only"] = frame["disability_only"].map(lambda v: bool(v) if v is not None else False)
    return frame
