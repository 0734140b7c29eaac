"""Problems planted in the demo registry, each with its ground truth.

Duplicates (re-registrations of one person under a variant name, national ids shared by
different persons, double enrolments, double dipping) are planted in the model, before the
enrolments that depend on them are drawn. Rows that break the contract's rules are planted
last, on the finished tables, among rows that no other planted problem uses.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
import pandas as pd

from demo.common import (
    NULL_DAY,
    Columns,
    age_on,
    calendar_parts,
    days_from_parts,
    pick,
    planted_count,
)
from demo.geography import LEVEL_DISTRICT, Geography
from demo.people import HEAD, RELATIVE, Households, Persons
from demo.programmes import PROGRAMMES, Enrolments

FUZZY_SHARE = 0.004          # of persons: re-registered under a variant record
SHARED_ID_SHARE = 0.001      # of persons with an id: groups sharing one national id
DOUBLE_ENROLMENT_SHARE = 0.003  # of active enrolments
DOUBLE_DIPPING_SHARE = 0.02     # of households receiving a programme of an exclusive group


# --- name variants --------------------------------------------------------------------------

# Spelling variants seen when Urdu/Pashto names are written in Latin letters.
TRANSLITERATIONS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("Muhammad", ("Mohammad", "Mohd", "Muhammed", "Mohammed", "Md")),
    ("Mohammad", ("Muhammad", "Mohd")),
    ("Khan", ("Kan", "Khaan")),
    ("Kh", ("K",)), ("kh", ("k",)),
    ("Q", ("K",)), ("q", ("k",)),
    ("ee", ("i",)), ("oo", ("u",)), ("ou", ("u",)),
    ("i", ("ee",)), ("u", ("oo",)),
    ("Yousaf", ("Yusuf", "Yousuf")), ("Abdul ", ("Abdul", "Abd ul ")),
)
KEYBOARD_NEIGHBOURS = {
    "a": "sq", "b": "vn", "c": "xv", "d": "sf", "e": "wr", "f": "dg", "g": "fh", "h": "gj",
    "i": "uo", "j": "hk", "k": "jl", "l": "k", "m": "n", "n": "bm", "o": "ip", "p": "o",
    "q": "w", "r": "et", "s": "ad", "t": "ry", "u": "yi", "v": "cb", "w": "qe", "x": "zc",
    "y": "tu", "z": "x",
}


def transliterate(name: str, rng: np.random.Generator) -> str | None:
    """A transliteration variant of ``name`` (one rule, first occurrence), or None."""
    rules = [(pattern, options) for pattern, options in TRANSLITERATIONS if pattern in name]
    if not rules:
        return double_letter(name, rng)
    pattern, options = rules[int(rng.integers(len(rules)))]
    variant = name.replace(pattern, options[int(rng.integers(len(options)))], 1)
    return variant if variant != name else None


def double_letter(name: str, rng: np.random.Generator) -> str | None:
    """Write a doubled letter once ('Hammad' -> 'Hamad') or a single one twice."""
    for i in range(len(name) - 1):
        if name[i] == name[i + 1] and name[i].isalpha():
            return name[:i] + name[i + 1:]
    letters = [i for i in range(1, len(name)) if name[i].isalpha() and name[i] not in "aeiou"]
    if not letters:
        return None
    i = letters[int(rng.integers(len(letters)))]
    return name[:i] + name[i] + name[i:]


def typo(name: str, rng: np.random.Generator) -> str:
    """One keying slip: a neighbouring key, a dropped, swapped or repeated letter."""
    if len(name) < 3:
        return name + name[-1]
    i = int(rng.integers(1, len(name) - 1))
    kind = int(rng.integers(4))
    if kind == 0 and name[i].lower() in KEYBOARD_NEIGHBOURS:
        options = KEYBOARD_NEIGHBOURS[name[i].lower()]
        return name[:i] + options[int(rng.integers(len(options)))] + name[i + 1:]
    if kind == 1:
        return name[:i] + name[i + 1:]
    if kind == 2 and name[i] != name[i + 1]:
        return name[:i] + name[i + 1] + name[i] + name[i + 2:]
    return name[:i] + name[i] + name[i:]


# --- re-registrations -----------------------------------------------------------------------

NAME_CHANGES = ("transliteration", "typo", "swapped_names", "same_name")
BIRTH_CHANGES = ("same", "day_month_swapped", "year_shifted", "year_only", "missing")
ID_CHANGES = ("missing", "typo", "same")
PLACEMENTS = ("same_household", "other_household", "new_household")


def _vary_name(first: str, last: str | None, father: str | None, kind: str,
               rng: np.random.Generator) -> tuple[str, str | None, str | None, str]:
    """The re-registration's names; the kind actually applied (a rule may not fit the name)."""
    if kind == "swapped_names" and last:
        return last, first, father, kind
    if kind in ("transliteration", "swapped_names"):
        fields = [("first", first), ("last", last), ("father", father)]
        for field, value in sorted(fields, key=lambda _: rng.random()):
            if value and (variant := transliterate(value, rng)) and variant != value:
                if field == "first":
                    return variant, last, father, "transliteration"
                if field == "last":
                    return first, variant, father, "transliteration"
                return first, last, variant, "transliteration"
        kind = "typo"
    if kind == "typo":
        if last and rng.random() < 0.3:
            return first, typo(last, rng), father, kind
        return typo(first, rng), last, father, kind
    return first, last, father, "same_name"


def _vary_birth(birth: int, kind: str, rng: np.random.Generator) -> tuple[int, str]:
    if birth == NULL_DAY or kind == "same":
        return birth, "same"
    if kind == "missing":
        return NULL_DAY, kind
    year, month, day = (int(v[0]) for v in calendar_parts(np.array([birth])))
    if kind == "day_month_swapped" and day <= 12 and day != month:
        return int(days_from_parts(np.array([year]), np.array([day]), np.array([month]))[0]), kind
    if kind == "year_only":
        return int(days_from_parts(np.array([year]), np.array([1]), np.array([1]))[0]), kind
    shift = 1 if rng.random() < 0.5 else -1
    return int(days_from_parts(np.array([year + shift]), np.array([month]),
                               np.array([day]))[0]), "year_shifted"


def _vary_national_id(national_id: str | None, rng: np.random.Generator, used: np.ndarray,
                      given: set[str]) -> tuple[str | None, str]:
    """The re-registration's national id: none, the same, or one serial digit keyed wrong
    (still 13 digits with the same area code and check digit, and nobody else's)."""
    if national_id is None:
        return None, "none"
    kind = ID_CHANGES[int(rng.choice(3, p=[0.5, 0.3, 0.2]))]
    if kind == "missing":
        return None, kind
    if kind == "same":
        return national_id, kind
    for _ in range(50):
        i = int(rng.integers(5, 12))
        digit = str((int(national_id[i]) + int(rng.integers(1, 10))) % 10)
        variant = national_id[:i] + digit + national_id[i + 1:]
        spot = min(int(np.searchsorted(used, int(variant))), len(used) - 1)
        if used[spot] != int(variant) and variant not in given:
            given.add(variant)
            return variant, kind
    return None, "missing"


def _choose_originals(age: np.ndarray, share: float, rng: np.random.Generator) -> np.ndarray:
    """Mostly adults; some school-age children (re-registered for a stipend)."""
    count = planted_count(len(age), share)
    adults = pick(rng, age >= 18, int(round(count * 0.8)))
    children = pick(rng, (age >= 5) & (age < 18), count - len(adults))
    originals = np.concatenate([adults, children])
    return originals[rng.permutation(len(originals))]


def _choose_placement(is_child: bool, rng: np.random.Generator) -> str:
    """Children are re-registered with their family or with relatives, never on their own."""
    return PLACEMENTS[int(rng.choice(3, p=[0.6, 0.4, 0.0] if is_child else [0.2, 0.3, 0.5]))]


def _other_household(households: Households, home: int, rng: np.random.Generator) -> int:
    """An existing household in another union council."""
    while True:
        household = int(rng.integers(len(households)))
        if households.area[household] != households.area[home]:
            return household


def _new_home_area(geography: Geography, home_area: int, rng: np.random.Generator) -> int:
    """Where someone moved: half the time within the district, else anywhere."""
    district = geography.ancestor(np.array([home_area]), LEVEL_DISTRICT)[0]
    ucs = geography.ucs
    if rng.random() < 0.5:
        ucs = ucs[geography.ancestor(ucs, LEVEL_DISTRICT) == district]
    return int(ucs[rng.integers(len(ucs))])


def _append_households(households: Households, area: list[int], registered_on: list[int]) -> None:
    count = len(area)
    households.area = np.concatenate([households.area, np.array(area, dtype=np.int64)])
    households.registered_on = np.concatenate(
        [households.registered_on, np.array(registered_on, dtype=np.int64)])
    for name in ("pmt_score", "lon", "lat"):
        setattr(households, name,
                np.concatenate([getattr(households, name), np.full(count, np.nan)]))
    households.access_point = np.concatenate([households.access_point, np.full(count, -1)])


def _append_persons(persons: Persons, rows: list[dict]) -> None:
    def column(name: str, dtype) -> np.ndarray:
        values = np.empty(len(rows), dtype=dtype)
        values[:] = [row[name] for row in rows]
        return values

    text = ("national_id", "first_name", "last_name", "father_name", "phone", "sex")
    persons.append(Persons(**{
        field.name: column(field.name, object if field.name in text else
                           bool if field.name in ("disability", "is_head") else np.int64)
        for field in dataclasses.fields(Persons)}))


def plant_fuzzy_duplicates(
    persons: Persons, households: Households, geography: Geography, end_day: int,
    rng: np.random.Generator, share: float = FUZZY_SHARE,
) -> pd.DataFrame:
    """Register some persons a second time under a variant record (appended to ``persons``;
    those who moved get a new single-person household, appended to ``households``).

    Returns the truth: person_a, person_b (row indices), kind, birth_date_change,
    national_id_change, placement.
    """
    age = age_on(persons.birth_on, end_day)
    used = np.sort(np.array([int(v) for v in persons.national_id if v is not None], dtype=np.int64))
    given: set[str] = set()
    rows: list[dict] = []
    moved_area: list[int] = []
    moved_on: list[int] = []
    truth = []
    for original in _choose_originals(age, share, rng).tolist():
        home = int(persons.household[original])
        name_kind = NAME_CHANGES[int(rng.choice(4, p=[0.4, 0.3, 0.15, 0.15]))]
        first, last, father, name_kind = _vary_name(
            persons.first_name[original], persons.last_name[original],
            persons.father_name[original], name_kind, rng)
        birth_kind = BIRTH_CHANGES[int(rng.choice(5, p=[0.35, 0.15, 0.2, 0.2, 0.1]))]
        birth, birth_kind = _vary_birth(int(persons.birth_on[original]), birth_kind, rng)
        national_id, id_kind = _vary_national_id(persons.national_id[original], rng, used, given)
        placement = _choose_placement(age[original] < 18, rng)
        registered = min(int(persons.registered_on[original]) + int(rng.integers(30, 540)),
                         end_day)
        if placement == "new_household":
            household = len(households) + len(moved_area)
            moved_area.append(_new_home_area(geography, int(households.area[home]), rng))
            moved_on.append(registered)
        else:
            household = home if placement == "same_household" else _other_household(
                households, home, rng)
            registered = max(registered, int(households.registered_on[household]))
        rows.append(dict(
            household=household, national_id=national_id, first_name=first, last_name=last,
            father_name=father, phone=persons.phone[original] if rng.random() < 0.5 else None,
            sex=persons.sex[original], birth_on=birth,
            disability=bool(persons.disability[original]),
            is_head=placement == "new_household", registered_on=registered,
            role=HEAD if placement == "new_household" else RELATIVE))
        truth.append((original, len(persons) + len(truth), name_kind, birth_kind, id_kind,
                      placement))
    _append_households(households, moved_area, moved_on)
    _append_persons(persons, rows)
    return pd.DataFrame(truth, columns=["person_a", "person_b", "kind", "birth_date_change",
                                        "national_id_change", "placement"])


# --- shared national ids ----------------------------------------------------------------------

def plant_shared_ids(
    persons: Persons, households: Households, geography: Geography, end_day: int,
    reserved: np.ndarray, rng: np.random.Generator, share: float = SHARED_ID_SHARE,
) -> pd.DataFrame:
    """Give some adults' national id to one or two other adults as well (a card lent or
    keyed in twice), mostly of the same sex, some in another district.

    Returns the truth: group, national_id, person (row index), planted_as ('holder'/'copy').
    """
    age = age_on(persons.birth_on, end_day)
    has_id = np.array([v is not None for v in persons.national_id])
    free = has_id & (age >= 18) & ~reserved
    district = geography.ancestor(households.area[persons.household], LEVEL_DISTRICT)
    holders = pick(rng, free, planted_count(int(has_id.sum()), share))
    free[holders] = False
    candidates = np.flatnonzero(free)
    rows = []
    for group, holder in enumerate(holders.tolist()):
        rows.append((group, persons.national_id[holder], holder, "holder"))
        for _ in range(1 if rng.random() < 0.85 else 2):
            across = rng.random() < 0.3
            same_sex = rng.random() < 0.8
            for _attempt in range(200):
                other = int(candidates[rng.integers(len(candidates))])
                if not free[other] or (district[other] != district[holder]) != across:
                    continue
                if same_sex and persons.sex[other] != persons.sex[holder]:
                    continue
                break
            else:
                continue
            free[other] = False
            persons.national_id[other] = persons.national_id[holder]
            rows.append((group, persons.national_id[holder], other, "copy"))
    truth = pd.DataFrame(rows, columns=["group", "national_id", "person", "planted_as"])
    # Groups whose copy found nobody are not shared at all: drop them.
    return truth[truth.groupby("group")["person"].transform("size") > 1].reset_index(drop=True)


# --- double enrolment and double dipping -------------------------------------------------------

def plant_double_enrolments(enrolments: Enrolments, end_day: int, rng: np.random.Generator,
                            share: float = DOUBLE_ENROLMENT_SHARE) -> pd.DataFrame:
    """Enrol some units a second time in the same programme while the first is still active.

    Returns the truth: enrolment_a, enrolment_b (row indices).
    """
    active = enrolments.active_on(end_day)
    originals = pick(rng, active, planted_count(int(active.sum()), share))
    start = enrolments.enrolled_on[originals]
    again = start + np.floor(rng.random(len(originals)) * (end_day - start + 1)).astype(np.int64)
    first_new = len(enrolments)
    enrolments.append(Enrolments(
        programme=enrolments.programme[originals], household=enrolments.household[originals],
        person=enrolments.person[originals], enrolled_on=again,
        ended_on=np.full(len(originals), NULL_DAY, dtype=np.int64)))
    return pd.DataFrame({"enrolment_a": originals,
                         "enrolment_b": np.arange(first_new, first_new + len(originals))})


def plant_double_dipping(enrolments: Enrolments, households: Households, end_day: int,
                         rng: np.random.Generator, share: float = DOUBLE_DIPPING_SHARE
                         ) -> pd.DataFrame:
    """Enrol some households receiving one programme of an exclusive group in another
    programme of that group too.

    Returns the truth: household, exclusive_group, enrolment_a, enrolment_b (row indices).
    """
    groups: dict[str, list[int]] = {}
    for index, programme in enumerate(PROGRAMMES):
        if programme.exclusive_group and programme.unit == "household":
            groups.setdefault(programme.exclusive_group, []).append(index)
    active = enrolments.active_on(end_day)
    rows = []
    for group, members in groups.items():
        if len(members) < 2:
            continue
        receiving = active & np.isin(enrolments.programme, members)
        # One row per household, so that each household is planted once.
        rows_of = np.flatnonzero(receiving)
        _, first = np.unique(enrolments.household[rows_of], return_index=True)
        candidates = np.zeros(len(enrolments), dtype=bool)
        candidates[rows_of[first]] = True
        for original in pick(rng, candidates, planted_count(len(first), share)).tolist():
            household = int(enrolments.household[original])
            others = [m for m in members if m != enrolments.programme[original]]
            programme = others[int(rng.integers(len(others)))]
            opens = int(np.datetime64(PROGRAMMES[programme].started_on, "D").astype(np.int64))
            low = min(max(opens, int(households.registered_on[household]) + 1), end_day)
            day = int(rng.integers(low, end_day + 1))
            rows.append((household, group, original, len(enrolments) + len(rows), programme, day))
    if rows:
        frame = pd.DataFrame(rows, columns=["household", "exclusive_group", "enrolment_a",
                                            "enrolment_b", "programme", "day"])
        enrolments.append(Enrolments(
            programme=frame["programme"].to_numpy(np.int64),
            household=frame["household"].to_numpy(np.int64),
            person=np.full(len(frame), -1, dtype=np.int64),
            enrolled_on=frame["day"].to_numpy(np.int64),
            ended_on=np.full(len(frame), NULL_DAY, dtype=np.int64)))
        return frame[["household", "exclusive_group", "enrolment_a", "enrolment_b"]]
    return pd.DataFrame(columns=["household", "exclusive_group", "enrolment_a", "enrolment_b"])


# --- rows that break the contract's rules ------------------------------------------------------

# Rule names in the truth; the left-out rules of the indicator spec plus the two id rules.
DIRTY_RULES: dict[str, tuple[str, ...]] = {
    "household": ("unknown_area", "area_not_lowest"),
    "person": ("household_missing", "malformed_national_id", "adult_without_id"),
    "enrolment": ("unknown_programme", "both_unit_ids", "no_unit_id", "unit_missing",
                  "unit_mismatch"),
    "referral": ("household_missing", "bad_status", "closed_on_missing",
                 "closed_on_before_referred_on"),
}


@dataclass
class DirtContext:
    """What planting dirty rows needs to know about the finished tables (rows in id order)."""

    household_reserved: np.ndarray  # used by another planted problem
    person_reserved: np.ndarray
    person_adult: np.ndarray        # 18 or over on the end date
    enrolment_reserved: np.ndarray
    enrolment_unit: np.ndarray      # 'household' or 'person' (of its programme)
    enrolment_household_id: np.ndarray  # the household of the enrolled unit
    enrolment_head_id: np.ndarray       # that household's head
    area_ids: set[str]
    tehsil_of_area: dict[str, str]
    district_of_area: dict[str, str]


def _missing_ids(existing: np.ndarray, count: int) -> np.ndarray:
    """Ids shaped like real ones that belong to no row (as after a deletion).

    ``existing`` is in id order, so its last id is the highest.
    """
    last = existing[-1]
    prefix = last.rstrip("0123456789")
    width = len(last) - len(prefix)
    top = int(last[len(prefix):])
    return np.array([f"{prefix}{top + 1000 + k:0{width}d}" for k in range(count)], dtype=object)


def _malformed(national_id: str, rng: np.random.Generator) -> str:
    """National ids as they get mis-keyed: with dashes, a digit short or extra, a letter O,
    spaces."""
    kind = int(rng.integers(5))
    if kind == 0:
        return f"{national_id[:5]}-{national_id[5:12]}-{national_id[12]}"
    if kind == 1:
        return national_id[:-1]
    if kind == 2:
        return national_id + str(int(rng.integers(10)))
    if kind == 3:
        i = national_id.find("0", 1)
        i = i if i > 0 else 6
        return national_id[:i] + "O" + national_id[i + 1:]
    return f"{national_id[:5]} {national_id[5:12]} {national_id[12]}"


class DirtyTable:
    """One table's rows being broken: draws rows no other rule or planted problem uses and
    records each broken row under its rule."""

    def __init__(self, name: str, columns: Columns, reserved: np.ndarray, share: float,
                 rng: np.random.Generator) -> None:
        self.name, self.columns, self.rng = name, columns, rng
        self.free = ~reserved
        rows = len(reserved)
        self.per_rule = (0 if share <= 0 or rows == 0
                         else max(1, round(rows * share / len(DIRTY_RULES[name]))))
        self.truth: list[tuple[str, str, str]] = []

    def take(self, rule: str, eligible: np.ndarray | None = None) -> np.ndarray:
        """Rows to break under ``rule`` (recorded as such), drawn among ``eligible`` ones."""
        mask = self.free if eligible is None else self.free & eligible
        rows = pick(self.rng, mask, self.per_rule)
        self.free[rows] = False
        ids = self.columns[f"{self.name}_id"][rows]
        self.truth.extend((self.name, row_id, rule) for row_id in ids.tolist())
        return rows


def _dirty_households(table: DirtyTable, context: DirtContext) -> None:
    area = table.columns["area_id"]
    rng = table.rng
    for row in table.take("unknown_area").tolist():
        code = area[row]
        # Mistyped or retired codes: lower case, a digit too many, a union council number
        # that does not exist, another province's prefix.
        options = [code.lower(), f"{code}0", f"{context.tehsil_of_area[code]}99", f"PK9{code[3:]}"]
        start = int(rng.integers(len(options)))
        area[row] = next(o for o in options[start:] + options if o not in context.area_ids)
    for row in table.take("area_not_lowest").tolist():
        coarser = context.tehsil_of_area if rng.random() < 0.7 else context.district_of_area
        area[row] = coarser[area[row]]


def _dirty_persons(table: DirtyTable, context: DirtContext, missing_households: np.ndarray
                   ) -> None:
    columns, rng = table.columns, table.rng
    # Never a head: every household keeps its one head.
    rows = table.take("household_missing", ~columns["is_head"].astype(bool))
    columns["household_id"][rows] = missing_households[rng.integers(0, len(missing_households),
                                                                    len(rows))]
    has_id = np.array([v is not None for v in columns["national_id"]], dtype=bool)
    rows = table.take("malformed_national_id", has_id)
    columns["national_id"][rows] = [_malformed(v, rng) for v in columns["national_id"][rows]]
    rows = table.take("adult_without_id", has_id & context.person_adult)
    columns["national_id"][rows] = None


RETIRED_PROGRAMMES = np.array(["bisp_kafaalat_2019", "ehsaas_emergency_cash", "wfp_cash"],
                              dtype=object)


def _dirty_enrolments(table: DirtyTable, context: DirtContext, missing_households: np.ndarray,
                      missing_persons: np.ndarray) -> None:
    columns, rng = table.columns, table.rng
    household, person = columns["household_id"], columns["person_id"]
    by_household = context.enrolment_unit == "household"

    rows = table.take("unknown_programme")
    columns["programme_id"][rows] = RETIRED_PROGRAMMES[rng.integers(0, 3, len(rows))]
    # Both: the household and its head, or the person and their household.
    rows = table.take("both_unit_ids")
    household[rows] = context.enrolment_household_id[rows]
    person[rows] = np.where(by_household[rows], context.enrolment_head_id[rows], person[rows])
    rows = table.take("no_unit_id")
    household[rows] = None
    person[rows] = None
    rows = table.take("unit_missing")
    for row in rows.tolist():
        column, pool = (household, missing_households) if by_household[row] else (
            person, missing_persons)
        column[row] = pool[int(rng.integers(len(pool)))]
    # The wrong kind of unit: the head for a household programme, the household for a person's.
    rows = table.take("unit_mismatch")
    household[rows] = np.where(by_household[rows], None, context.enrolment_household_id[rows])
    person[rows] = np.where(by_household[rows], context.enrolment_head_id[rows], None)


BAD_STATUSES = np.array(["closed", "Completed", "in_progress", "done", ""], dtype=object)


def _dirty_referrals(table: DirtyTable, missing_households: np.ndarray) -> None:
    columns, rng = table.columns, table.rng
    rows = table.take("household_missing")
    columns["household_id"][rows] = missing_households[rng.integers(0, len(missing_households),
                                                                    len(rows))]
    rows = table.take("bad_status")
    columns["status"][rows] = BAD_STATUSES[rng.integers(0, len(BAD_STATUSES), len(rows))]
    closed = np.isin(columns["status"], ["rejected", "completed"])
    rows = table.take("closed_on_missing", closed)
    columns["closed_on"][rows] = NULL_DAY
    rows = table.take("closed_on_before_referred_on", closed)
    columns["closed_on"][rows] = columns["referred_on"][rows] - rng.integers(1, 30, len(rows))


def plant_dirty_rows(tables: dict[str, Columns], context: DirtContext, share: float,
                     rng: np.random.Generator) -> pd.DataFrame:
    """Break a share of each table's rows, split evenly over that table's rules, among rows
    no other planted problem uses.

    Returns the truth: table, row_id, rule.
    """
    missing_households = _missing_ids(tables["household"]["household_id"], 50)
    missing_persons = _missing_ids(tables["person"]["person_id"], 50)
    households = DirtyTable("household", tables["household"], context.household_reserved,
                            share, rng)
    _dirty_households(households, context)
    persons = DirtyTable("person", tables["person"], context.person_reserved, share, rng)
    _dirty_persons(persons, context, missing_households)
    enrolments = DirtyTable("enrolment", tables["enrolment"], context.enrolment_reserved,
                            share, rng)
    _dirty_enrolments(enrolments, context, missing_households, missing_persons)
    referral_count = len(tables["referral"]["referral_id"])
    referrals = DirtyTable("referral", tables["referral"], np.zeros(referral_count, dtype=bool),
                           share, rng)
    _dirty_referrals(referrals, missing_households)
    truth = households.truth + persons.truth + enrolments.truth + referrals.truth
    return pd.DataFrame(truth, columns=["table", "row_id", "rule"])
