"""An independent reference implementation of the indicator spec, in plain Python and pandas.

Written straight from ../shared/spec/indicators.md, ../shared/spec/registry-schema.md and
docs/spec-choices.md (cited below as "choice N"), without looking at indicators/engine.py.
It is meant to be obviously right rather than fast: every record becomes a plain dict and
every figure is counted with set arithmetic, area by area. Registries of a few hundred rows.

``reference_compute`` returns the spec's long form; ``normalise_long_form`` and
``long_form_differences`` compare two long-form frames cell by cell.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import pandas as pd

from indicators.catalogue import LONG_FORM_COLUMNS

STATUSES = ("pending", "accepted", "rejected", "completed")
CLOSED_STATUSES = ("rejected", "completed")
UNITS = ("household", "person")
WHOLE_REGISTRY_NAME = "All areas"
WELL_FORMED_ID = re.compile(r"[0-9]{13}")
DQ_TABLES = ("household", "person", "enrolment", "referral")


# ---------------------------------------------------------------------------------------------
# Cell readers: registries hold dates as date objects or ISO text, nulls as None / NaN / NaT.
# ---------------------------------------------------------------------------------------------

def is_null(value: Any) -> bool:
    if value is None or value is pd.NaT:
        return True
    if isinstance(value, float) and math.isnan(value):
        return True
    try:
        return bool(pd.isna(value)) if not isinstance(value, (str, bytes)) else False
    except (TypeError, ValueError):
        return False


ISO_DAY = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


def to_date(value: Any) -> dt.date | None:
    """A date from a date, datetime, Timestamp or ISO text ('2026-02-28' or with a time);
    None for a text that holds no valid day ('31/12/2025', '2026-02-30'): no date at all."""
    if is_null(value):
        return None
    if isinstance(value, pd.Timestamp):
        return value.date()
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    day = str(value)[:10]
    if not ISO_DAY.fullmatch(day):
        return None
    try:
        return dt.date.fromisoformat(day)
    except ValueError:
        return None


def unreadable_dates(row: Mapping[str, Any], columns: Iterable[str]) -> int:
    """How many of the row's date cells hold something that is not a date."""
    return sum(not is_null(row.get(c)) and to_date(row.get(c)) is None for c in columns)


def to_text(value: Any) -> str | None:
    if is_null(value):
        return None
    return str(value)


def to_number(value: Any) -> float | None:
    if is_null(value):
        return None
    return float(value)


def to_bool(value: Any) -> bool | None:
    if is_null(value):
        return None
    if isinstance(value, str):
        return value.strip().lower() in ("1", "true", "t", "yes", "y")
    return bool(value)


def age_on(birth: dt.date | None, day: dt.date) -> int | None:
    """Whole years between birth and day (choice 5: 29 February turns older on 1 March)."""
    if birth is None:
        return None
    return day.year - birth.year - ((day.month, day.day) < (birth.month, birth.day))


def well_formed(national_id: str | None) -> bool:
    return national_id is not None and WELL_FORMED_ID.fullmatch(national_id) is not None


def _records(tables: Mapping[str, Any], name: str) -> list[dict]:
    frame = tables.get(name)
    if frame is None:
        return []
    if not isinstance(frame, pd.DataFrame):
        frame = pd.DataFrame(list(frame))
    return frame.astype(object).to_dict("records")


def _le(a: dt.date | None, b: dt.date | None) -> bool:
    """a <= b with SQL's null semantics (a comparison with null is not true)."""
    return a is not None and b is not None and a <= b


def _ratio(numerator: int | None, denominator: int | None) -> float | None:
    if numerator is None or denominator is None or denominator == 0:
        return None
    return numerator / denominator


# ---------------------------------------------------------------------------------------------
# The registry, cleaned: which rows are left out, and the shared terms on date d.
# ---------------------------------------------------------------------------------------------

class _Registry:
    def __init__(self, tables: Mapping[str, Any]):
        self.areas: dict[str, dict] = {}
        for row in _records(tables, "area"):
            area_id = to_text(row.get("area_id"))
            level = to_number(row.get("level"))
            self.areas[area_id] = {
                "area_id": area_id,
                "name": to_text(row.get("name")),
                "level": None if level is None else int(level),
                "parent_id": to_text(row.get("parent_id")),
                "population": None if to_number(row.get("population")) is None
                else int(to_number(row.get("population"))),
            }
        levels = [a["level"] for a in self.areas.values() if a["level"] is not None]
        self.lowest = max(levels) if levels else None  # choice 2

        self.households = [{
            "household_id": to_text(r.get("household_id")),
            "area_id": to_text(r.get("area_id")),
            "registered_on": to_date(r.get("registered_on")),
            "pmt_score": to_number(r.get("pmt_score")),
            "unreadable": unreadable_dates(r, ("registered_on",)),
        } for r in _records(tables, "household")]
        self.persons = [{
            "person_id": to_text(r.get("person_id")),
            "household_id": to_text(r.get("household_id")),
            "national_id": to_text(r.get("national_id")),
            "sex": to_text(r.get("sex")),
            "birth_date": to_date(r.get("birth_date")),
            "disability": to_bool(r.get("disability")),
            "registered_on": to_date(r.get("registered_on")),
            "unreadable": unreadable_dates(r, ("birth_date", "registered_on")),
        } for r in _records(tables, "person")]
        self.programmes = {}
        for r in _records(tables, "programme"):
            age_min, age_max = to_number(r.get("age_min")), to_number(r.get("age_max"))
            self.programmes[to_text(r.get("programme_id"))] = {
                "programme_id": to_text(r.get("programme_id")),
                "unit": to_text(r.get("unit")),
                "pmt_max": to_number(r.get("pmt_max")),
                "age_min": age_min,
                "age_max": age_max,
                "sex": to_text(r.get("sex")),
                "disability_only": bool(to_bool(r.get("disability_only"))),
                "exclusive_group": to_text(r.get("exclusive_group")),
            }
        self.enrolments = [{
            "enrolment_id": to_text(r.get("enrolment_id")),
            "programme_id": to_text(r.get("programme_id")),
            "household_id": to_text(r.get("household_id")),
            "person_id": to_text(r.get("person_id")),
            "enrolled_on": to_date(r.get("enrolled_on")),
            "ended_on": to_date(r.get("ended_on")),
            "unreadable": unreadable_dates(r, ("enrolled_on", "ended_on")),
        } for r in _records(tables, "enrolment")]
        self.referrals = [{
            "referral_id": to_text(r.get("referral_id")),
            "household_id": to_text(r.get("household_id")),
            "to_programme_id": to_text(r.get("to_programme_id")),
            "access_point_id": to_text(r.get("access_point_id")),
            "referred_on": to_date(r.get("referred_on")),
            "status": to_text(r.get("status")),
            "closed_on": to_date(r.get("closed_on")),
            "unreadable": unreadable_dates(r, ("referred_on", "closed_on")),
        } for r in _records(tables, "referral")]

        self._ancestors: dict[tuple[str | None, int], str | None] = {}
        self._find_left_out()

    # -- areas ------------------------------------------------------------------------------
    def ancestor(self, area_id: str | None, level: int | None) -> str | None:
        """The area's ancestor at ``level`` (itself when of that level); None if there is none
        (unknown area, an area coarser than ``level``, a broken parent chain)."""
        key = (area_id, level)
        if key not in self._ancestors:
            area = self.areas.get(area_id)
            seen = 0
            while area is not None and area["level"] is not None and area["level"] > level:
                area = self.areas.get(area["parent_id"])
                seen += 1
                if seen > len(self.areas):  # a cycle
                    area = None
            found = area["area_id"] if area is not None and area["level"] == level else None
            self._ancestors[key] = found
        return self._ancestors[key]

    # -- left out (spec "Left out"; choices 3 and 18) -----------------------------------------
    def _find_left_out(self) -> None:
        self.household_ids = {h["household_id"] for h in self.households}
        self.person_ids = {p["person_id"] for p in self.persons}
        self.valid_households: dict[str, dict] = {}
        for h in self.households:
            area = self.areas.get(h["area_id"])
            if area is not None and area["level"] == self.lowest:
                self.valid_households[h["household_id"]] = h
        self.valid_persons: dict[str, dict] = {
            p["person_id"]: p for p in self.persons if p["household_id"] in self.valid_households
        }
        self.valid_enrolments = [e for e in self.enrolments if self._enrolment_ok(e)]
        self.valid_referrals = [r for r in self.referrals if self._referral_ok(r)]

    def _enrolment_ok(self, e: dict) -> bool:
        programme = self.programmes.get(e["programme_id"])
        if programme is None or programme["unit"] not in UNITS:
            return False
        if programme["unit"] == "household":
            return (e["person_id"] is None and e["household_id"] is not None
                    and e["household_id"] in self.valid_households)
        return (e["household_id"] is None and e["person_id"] is not None
                and e["person_id"] in self.valid_persons)

    def _referral_ok(self, r: dict) -> bool:
        if r["household_id"] not in self.valid_households:
            return False
        if r["status"] not in STATUSES:
            return False
        if r["status"] in CLOSED_STATUSES and r["closed_on"] is None:
            return False
        if r["referred_on"] is None:  # missing or unreadable (choice 31)
            return False
        # "a closed_on before referred_on" breaks the contract whatever the status.
        if r["closed_on"] is not None and r["referred_on"] is not None \
                and r["closed_on"] < r["referred_on"]:
            return False
        return True

    def left_out_counts(self) -> dict[str, tuple[int, int]]:
        """table -> (left-out rows, all rows)."""
        valid_enrolment_ids = {id(e) for e in self.valid_enrolments}
        valid_referral_ids = {id(r) for r in self.valid_referrals}
        return {
            "household": (sum(h["household_id"] not in self.valid_households
                              for h in self.households), len(self.households)),
            "person": (sum(p["person_id"] not in self.valid_persons for p in self.persons),
                       len(self.persons)),
            "enrolment": (sum(id(e) not in valid_enrolment_ids for e in self.enrolments),
                          len(self.enrolments)),
            "referral": (sum(id(r) not in valid_referral_ids for r in self.referrals),
                         len(self.referrals)),
        }


class _Day:
    """The shared terms of the spec on date d."""

    def __init__(self, reg: _Registry, d: dt.date, poverty_cutoff: float):
        self.reg = reg
        self.d = d
        # registered households and persons that are not left out
        self.households = {k: h for k, h in reg.valid_households.items()
                           if _le(h["registered_on"], d)}
        self.persons = {k: p for k, p in reg.valid_persons.items()
                        if _le(p["registered_on"], d)}
        self.members: dict[str, list[str]] = {h: [] for h in self.households}
        for pid, p in self.persons.items():
            if p["household_id"] in self.members:
                self.members[p["household_id"]].append(pid)
        self.age = {pid: age_on(p["birth_date"], d) for pid, p in self.persons.items()}
        self.poor = {hid for hid, h in self.households.items()
                     if h["pmt_score"] is not None and h["pmt_score"] <= poverty_cutoff}

        # active enrolments of registered units: (unit id, programme id) -> number of them
        self.active_pairs: Counter[tuple[str, str]] = Counter()
        for e in reg.valid_enrolments:
            if not (_le(e["enrolled_on"], d) and (e["ended_on"] is None or e["ended_on"] > d)):
                continue
            unit = reg.programmes[e["programme_id"]]["unit"]
            unit_id = e["household_id"] if unit == "household" else e["person_id"]
            registered = self.households if unit == "household" else self.persons
            if unit_id in registered:
                self.active_pairs[(unit_id, e["programme_id"])] += 1

        self.enrolled: dict[str, set[str]] = {p: set() for p in reg.programmes}
        for unit_id, programme_id in self.active_pairs:
            self.enrolled[programme_id].add(unit_id)
        self.eligible: dict[str, set[str]] = {
            p: self._eligible_units(prog) for p, prog in reg.programmes.items()
        }
        self.receives = {h: self._household_programmes(h, self.enrolled) for h in self.households}
        self.eligible_for = {h: self._household_programmes(h, self.eligible)
                             for h in self.households}
        household_programmes = [p for p, prog in reg.programmes.items()
                                if prog["unit"] == "household"]
        person_programmes = [p for p, prog in reg.programmes.items() if prog["unit"] == "person"]
        self.covered = {
            pid for pid, p in self.persons.items()
            if any(p["household_id"] in self.enrolled[q] for q in household_programmes)
            or any(pid in self.enrolled[q] for q in person_programmes)
        }

    def _eligible_units(self, prog: dict) -> set[str]:
        def pmt_ok(household: dict) -> bool:
            if prog["pmt_max"] is None:
                return True
            return household["pmt_score"] is not None and household["pmt_score"] <= prog["pmt_max"]

        if prog["unit"] == "household":
            # choice 4: only pmt_max applies to household programmes
            return {hid for hid, h in self.households.items() if pmt_ok(h)}
        if prog["unit"] != "person":
            return set()
        units = set()
        for pid, p in self.persons.items():
            if not pmt_ok(self.reg.valid_households[p["household_id"]]):
                continue
            age = self.age[pid]
            if prog["age_min"] is not None and (age is None or age < prog["age_min"]):
                continue
            if prog["age_max"] is not None and (age is None or age > prog["age_max"]):
                continue
            if prog["sex"] is not None and p["sex"] != prog["sex"]:
                continue
            if prog["disability_only"] and p["disability"] is not True:
                continue
            units.add(pid)
        return units

    def _household_programmes(self, hid: str, units_of: dict[str, set[str]]) -> set[str]:
        """Programmes p for which the household (household programme) or at least one of its
        registered members (person programme) is in units_of[p]."""
        found = set()
        for p, prog in self.reg.programmes.items():
            if prog["unit"] == "household" and hid in units_of[p]:
                found.add(p)
            elif prog["unit"] == "person" and any(m in units_of[p] for m in self.members[hid]):
                found.add(p)
        return found

    def unit_area(self, programme_id: str, unit_id: str) -> str:
        """The lowest-level area of a (valid) unit of the programme."""
        if self.reg.programmes[programme_id]["unit"] == "household":
            return self.reg.valid_households[unit_id]["area_id"]
        return self.person_area(unit_id)

    def person_area(self, pid: str) -> str:
        return self.reg.valid_households[self.reg.valid_persons[pid]["household_id"]]["area_id"]


# ---------------------------------------------------------------------------------------------
# The long form.
# ---------------------------------------------------------------------------------------------

def _median(values: list[int]) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    middle = len(ordered) // 2
    if len(ordered) % 2:
        return float(ordered[middle])
    return (ordered[middle - 1] + ordered[middle]) / 2


def reference_compute(
    tables: Mapping[str, pd.DataFrame],
    *,
    as_of: Any,
    level: int,
    period_start: Any,
    poverty_cutoff: float = 32.0,
    referral_sla_days: int = 30,
    suspected_pairs: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Every indicator of the spec for every area of ``level`` and the whole registry, in the
    spec's long form (columns LONG_FORM_COLUMNS). ``suspected_pairs`` (person_id_a,
    person_id_b): the record-linkage pairs not dismissed; None: dup.suspected_pairs unknown."""
    d = to_date(as_of)
    start = to_date(period_start)
    end = d
    reg = _Registry(tables)
    day = _Day(reg, d, poverty_cutoff)
    rows: list[dict] = []

    # Scopes: every area of the level asked for, then the whole registry (choice 1).
    scopes: list[tuple[str | None, str, int | None]] = [
        (a["area_id"], a["name"], level)
        for a in sorted(reg.areas.values(), key=lambda a: a["area_id"])
        if a["level"] == level
    ]
    scopes.append((None, WHOLE_REGISTRY_NAME, None))

    def in_scope(area_id: str | None, scope_id: str | None) -> bool:
        return scope_id is None or reg.ancestor(area_id, level) == scope_id

    def emit(indicator_id: str, scope: tuple, numerator: int | None, denominator: int | None,
             *, programme_id: str | None = None, breakdown: str | None = None,
             value: float | None | str = "ratio", flow: bool = False) -> None:
        scope_id, scope_name, scope_level = scope
        if value == "ratio":
            value = _ratio(numerator, denominator)
        rows.append({
            "indicator_id": indicator_id, "area_id": scope_id, "area_name": scope_name,
            "level": scope_level, "programme_id": programme_id, "breakdown": breakdown,
            "period_start": start if flow else None, "period_end": end,
            "numerator": numerator, "denominator": denominator, "value": value,
        })

    def count(items: Iterable[str], area_of: Callable[[str], str | None], scope_id) -> list[str]:
        return [i for i in items if in_scope(area_of(i), scope_id)]

    household_area = lambda hid: reg.valid_households[hid]["area_id"]  # noqa: E731
    programmes = sorted(reg.programmes)

    # Suspected pairs (choice 28): unordered, a person with itself is no pair, the first
    # person is the smaller id; both must be registered and not left out.
    linkage_pairs: set[tuple[str, str]] | None = None
    if suspected_pairs is not None:
        linkage_pairs = set()
        for a, b in zip(suspected_pairs["person_id_a"], suspected_pairs["person_id_b"],
                        strict=True):
            if is_null(a) or is_null(b) or str(a) == str(b):
                continue
            linkage_pairs.add(tuple(sorted((str(a), str(b)))))
        linkage_pairs = {(a, b) for a, b in linkage_pairs
                         if a in day.persons and b in day.persons}

    # -- Referral terms (flow over [start, end]; choices 6, 8, 9, 10) ---------------------------
    cut = end - dt.timedelta(days=referral_sla_days)

    def made(r: dict) -> bool:
        return _le(start, r["referred_on"]) and _le(r["referred_on"], end)

    def closed_by_end(r: dict, status: str) -> bool:
        return r["status"] == status and _le(r["closed_on"], end)

    def open_at_end(r: dict) -> bool:
        return _le(r["referred_on"], end) and not (
            closed_by_end(r, "completed") or closed_by_end(r, "rejected"))

    def days_done(r: dict) -> bool:
        return (r["status"] == "completed" and _le(start, r["closed_on"])
                and _le(r["closed_on"], end))

    def referral_rows(scope: tuple, subset: list[dict], programme_id: str | None,
                      breakdown: str | None, with_median: bool) -> None:
        kw = {"programme_id": programme_id, "breakdown": breakdown, "flow": True}
        made_ = [r for r in subset if made(r)]
        open_ = [r for r in subset if open_at_end(r)]
        # access-point rows only where the indicator's denominator has referrals (choice 8)
        if breakdown is None or made_:
            emit("ref.made", scope, len(made_), None, value=float(len(made_)), **kw)
            emit("ref.completed", scope, sum(closed_by_end(r, "completed") for r in made_),
                 len(made_), **kw)
            emit("ref.rejected", scope, sum(closed_by_end(r, "rejected") for r in made_),
                 len(made_), **kw)
        if breakdown is None or open_:
            emit("ref.overdue", scope, sum(_le(r["referred_on"], cut) for r in open_),
                 len(open_), **kw)
        if with_median:
            days = [(r["closed_on"] - r["referred_on"]).days for r in subset if days_done(r)]
            emit("ref.days_to_complete", scope, None, None, value=_median(days), **kw)

    for scope in scopes:
        sid = scope[0]

        # -- Coverage, per programme (choice 7: every programme, zeros included) ----------------
        for p in programmes:
            area_of = lambda unit, p=p: day.unit_area(p, unit)  # noqa: E731
            eligible = set(count(day.eligible[p], area_of, sid))
            enrolled = set(count(day.enrolled[p], area_of, sid))
            emit("cov.programme", scope, len(eligible & enrolled), len(eligible), programme_id=p)
            emit("cov.exclusion", scope, len(eligible - enrolled), len(eligible), programme_id=p)
            emit("cov.inclusion", scope, len(enrolled - eligible), len(enrolled), programme_id=p)

        poor = count(day.poor, household_area, sid)
        emit("cov.poor_households", scope, sum(1 for h in poor if day.receives[h]), len(poor))

        persons = count(day.persons, day.person_area, sid)
        covered = [pid for pid in persons if pid in day.covered]
        emit("cov.population", scope, len(covered), len(persons))
        groups: list[tuple[str, Callable[[str], bool]]] = [
            (f"sex={s}", lambda pid, s=s: day.persons[pid]["sex"] == s) for s in ("F", "M", "X")
        ] + [
            ("age=0-17", lambda pid: day.age[pid] is not None and day.age[pid] < 18),
            ("age=18-59", lambda pid: day.age[pid] is not None and 18 <= day.age[pid] <= 59),
            ("age=60+", lambda pid: day.age[pid] is not None and day.age[pid] >= 60),
            ("age=unknown", lambda pid: day.age[pid] is None),
            ("disability=yes", lambda pid: day.persons[pid]["disability"] is True),
            ("disability=no", lambda pid: day.persons[pid]["disability"] is False),
        ]
        for breakdown, member in groups:
            emit("cov.population", scope, sum(1 for pid in covered if member(pid)),
                 sum(1 for pid in persons if member(pid)), breakdown=breakdown)

        # choice 13
        if sid is None:
            populations = [a["population"] for a in reg.areas.values() if a["level"] == 1]
            census = None if any(x is None for x in populations) else sum(populations)
        else:
            census = reg.areas[sid]["population"]
        emit("cov.population_census", scope, len(covered), census)

        # -- Combined benefit packages --------------------------------------------------------
        households = count(day.households, household_area, sid)
        multi = [h for h in households if len(day.eligible_for[h]) >= 2]
        emit("pkg.complete", scope, sum(1 for h in multi if day.eligible_for[h] <= day.receives[h]),
             len(multi))
        emit("pkg.mean_programmes_poor", scope, sum(len(day.receives[h]) for h in poor), len(poor))

        # -- Duplicates -------------------------------------------------------------------------
        with_id = [pid for pid in day.persons if well_formed(day.persons[pid]["national_id"])]
        holders = Counter(day.persons[pid]["national_id"] for pid in with_id)
        in_area = count(with_id, day.person_area, sid)
        emit("dup.shared_id", scope,
             sum(1 for pid in in_area if holders[day.persons[pid]["national_id"]] >= 2),
             len(in_area))

        pairs = [pair for pair in day.active_pairs if in_scope(day.unit_area(pair[1], pair[0]), sid)]
        emit("dup.double_enrolment", scope, sum(1 for pair in pairs if day.active_pairs[pair] >= 2),
             len(pairs))

        dipping, grouped = 0, 0
        for h in households:
            groups_received = [reg.programmes[p]["exclusive_group"] for p in day.receives[h]
                               if reg.programmes[p]["exclusive_group"] is not None]
            if groups_received:
                grouped += 1
                if max(Counter(groups_received).values()) >= 2:
                    dipping += 1
        emit("dup.double_dipping", scope, dipping, grouped)

        emit("dup.suspected_pairs", scope,
             None if linkage_pairs is None
             else sum(1 for a, _ in linkage_pairs if in_scope(day.person_area(a), sid)),
             len(persons))

        # -- Referrals ------------------------------------------------------------------------
        referrals = [r for r in reg.valid_referrals if in_scope(household_area(r["household_id"]), sid)]
        referral_rows(scope, referrals, None, None, True)
        for p in programmes:
            referral_rows(scope, [r for r in referrals if r["to_programme_id"] == p], p, None,
                          True)
        access_points = sorted({r["access_point_id"] for r in referrals
                                if r["access_point_id"] is not None})
        for ap in access_points:
            referral_rows(scope, [r for r in referrals if r["access_point_id"] == ap], None,
                          f"access_point={ap}", False)

        # -- Data quality: left-out rows included (choice 11) ------------------------------------
        raw_area = {h["household_id"]: h["area_id"] for h in reg.households}
        dq_persons = [p for p in reg.persons if _le(p["registered_on"], d)
                      and in_scope(raw_area.get(p["household_id"]), sid)]
        adults = [p for p in dq_persons
                  if age_on(p["birth_date"], d) is not None and age_on(p["birth_date"], d) >= 18]
        emit("dq.adults_without_id", scope, sum(p["national_id"] is None for p in adults),
             len(adults))
        with_any_id = [p for p in dq_persons if p["national_id"] is not None]
        emit("dq.malformed_id", scope, sum(not well_formed(p["national_id"]) for p in with_any_id),
             len(with_any_id))
        dq_households = [h for h in reg.households if _le(h["registered_on"], d)
                         and in_scope(h["area_id"], sid)]
        emit("dq.unassessed_households", scope, sum(h["pmt_score"] is None for h in dq_households),
             len(dq_households))

        # choice 12: whole registry only
        if sid is None:
            counts = reg.left_out_counts()
            emit("dq.invalid_rows", scope, sum(c[0] for c in counts.values()),
                 sum(c[1] for c in counts.values()))
            for table in DQ_TABLES:
                emit("dq.invalid_rows", scope, counts[table][0], counts[table][1],
                     breakdown=f"table={table}")
            unreadable = {table: (sum(r["unreadable"] > 0 for r in records), len(records))
                          for table, records in (("household", reg.households),
                                                 ("person", reg.persons),
                                                 ("enrolment", reg.enrolments),
                                                 ("referral", reg.referrals))}
            emit("dq.malformed_dates", scope, sum(c[0] for c in unreadable.values()),
                 sum(c[1] for c in unreadable.values()))
            for table in DQ_TABLES:
                emit("dq.malformed_dates", scope, unreadable[table][0], unreadable[table][1],
                     breakdown=f"table={table}")

    frame = pd.DataFrame(rows, columns=list(LONG_FORM_COLUMNS), dtype=object)
    return frame.astype(object).where(frame.notna(), None)


# ---------------------------------------------------------------------------------------------
# Comparing two long-form frames.
# ---------------------------------------------------------------------------------------------

KEY = ("indicator_id", "area_id", "programme_id", "breakdown")
TEXT_COLUMNS = ("indicator_id", "area_id", "area_name", "programme_id", "breakdown")


def _norm_cell(column: str, value: Any) -> Any:
    if is_null(value):
        return None
    if column in TEXT_COLUMNS:
        text = str(value)
        return text if text != "" else None
    if column == "level":
        return int(value)
    if column in ("period_start", "period_end"):
        return to_date(value).isoformat()
    if column in ("numerator", "denominator"):
        number = float(value)
        if number != int(number):
            return ("not a whole number", number)
        return int(number)
    if column == "value":
        return float(value)
    return value


def normalise_long_form(frame: pd.DataFrame) -> list[dict]:
    """The rows as dicts of plain Python values (None for empty), sorted by the row key."""
    missing = set(LONG_FORM_COLUMNS) - set(frame.columns)
    if missing:
        raise AssertionError(f"long form lacks columns {sorted(missing)}")
    rows = [{c: _norm_cell(c, row[c]) for c in LONG_FORM_COLUMNS}
            for row in frame.astype(object).to_dict("records")]
    return sorted(rows, key=lambda r: tuple(r[k] or "" for k in KEY))


def long_form_differences(actual: pd.DataFrame, expected: pd.DataFrame,
                          *, tolerance: float = 1e-9, limit: int = 40) -> list[str]:
    """Human-readable differences between two long-form frames (empty when they agree): rows
    keyed by (indicator_id, area_id, programme_id, breakdown), exact text and whole numbers,
    values within ``tolerance``."""
    problems: list[str] = []

    def keyed(rows: list[dict], name: str) -> dict[tuple, dict]:
        out: dict[tuple, dict] = {}
        for r in rows:
            key = tuple(r[k] for k in KEY)
            if key in out:
                problems.append(f"{name} has the row {key} twice")
            out[key] = r
        return out

    got = keyed(normalise_long_form(actual), "actual")
    want = keyed(normalise_long_form(expected), "expected")
    for key in sorted(set(want) - set(got), key=lambda k: tuple(x or "" for x in k)):
        problems.append(f"missing row {key}: expected {want[key]}")
    for key in sorted(set(got) - set(want), key=lambda k: tuple(x or "" for x in k)):
        problems.append(f"unexpected row {key}: {got[key]}")
    for key in sorted(set(got) & set(want), key=lambda k: tuple(x or "" for x in k)):
        a, b = got[key], want[key]
        for column in LONG_FORM_COLUMNS:
            x, y = a[column], b[column]
            if column == "value" and x is not None and y is not None:
                same = abs(x - y) <= tolerance
            else:
                same = x == y and type(x) is type(y)
            if not same:
                problems.append(f"{key} {column}: actual {x!r}, expected {y!r}")
    if len(problems) > limit:
        problems = problems[:limit] + [f"... and {len(problems) - limit} more"]
    return problems
