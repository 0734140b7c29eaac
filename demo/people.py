"""Demo households and persons: Pakistani names, CNICs, phones, ages, PMT scores.

Everything is drawn for all rows at once with numpy; rows are referred to by integer index
(households by their position, persons by theirs) until the tables are written.
"""

from __future__ import annotations

import importlib.util
import sqlite3
from dataclasses import dataclass, fields
from pathlib import Path

import numpy as np

from demo.common import age_on, group_starts
from demo.geography import LEVEL_DISTRICT, Geography

HEAD, SPOUSE, CHILD, ELDER, RELATIVE = 0, 1, 2, 3, 4

# Clan and family names common in Khyber Pakhtunkhwa, with rough relative frequencies; the
# faker-pk last names (Pakistan-wide) fill the long tail.
KP_LAST_NAMES: dict[str, float] = {
    "Khan": 30.0, "Shah": 6.0, "Yousafzai": 4.0, "Afridi": 4.0, "Khattak": 3.5, "Mohmand": 2.5,
    "Shinwari": 2.0, "Gul": 2.0, "Bangash": 1.5, "Orakzai": 1.5, "Marwat": 1.5, "Wazir": 1.5,
    "Khalil": 1.5, "Mian": 1.5, "Jan": 1.5, "Durrani": 1.0, "Swati": 1.0, "Jadoon": 1.0,
    "Tanoli": 1.0, "Kakakhel": 1.0, "Daudzai": 1.0, "Mashwani": 0.8, "Mahsud": 0.8,
}
LONG_TAIL_WEIGHT = 25.0  # total weight of the faker-pk last names
MUHAMMAD_SHARE = 0.22    # men recorded as "Muhammad <name>"
POOR_CUTOFF = 32.0       # the BISP PMT cutoff
POOR_SHARE = 0.30        # households at or under it


NO_NAME = -1  # a last-name index meaning none recorded


@dataclass(frozen=True)
class NameTables:
    """Name tables; persons' names are drawn as indices into them and spelled out at the end."""

    first: np.ndarray        # object: men's base names, "Muhammad <base>" forms, women's names
    male_base: int           # how many men's base names
    male_weight: np.ndarray  # over the men's base names
    female_weight: np.ndarray
    last: np.ndarray         # object: clan names, "Bibi" last
    last_weight: np.ndarray  # over every last name but "Bibi"
    phone_prefixes: np.ndarray  # int, e.g. 300 for Jazz numbers 0300-...

    @property
    def bibi(self) -> int:
        return len(self.last) - 1

    def male_names(self, rng: np.random.Generator, count: int) -> np.ndarray:
        base = rng.choice(self.male_base, size=count, p=self.male_weight)
        return base + (rng.random(count) < MUHAMMAD_SHARE) * self.male_base

    def female_names(self, rng: np.random.Generator, count: int) -> np.ndarray:
        return 2 * self.male_base + rng.choice(len(self.female_weight), size=count,
                                               p=self.female_weight)

    def last_names(self, rng: np.random.Generator, count: int) -> np.ndarray:
        return rng.choice(len(self.last_weight), size=count, p=self.last_weight)

    def spell(self, first: np.ndarray, last: np.ndarray) -> np.ndarray:
        """'First Last' (or 'First' where last is NO_NAME) for index pairs, as text."""
        width = len(self.last) + 1
        key = first.astype(np.int64) * width + (last + 1)
        # Few distinct pairs among millions of rows: spell each pair once and share the text.
        used = np.zeros(len(self.first) * width, dtype=bool)
        used[key] = True
        keys = np.flatnonzero(used)
        spelled = np.empty(len(used), dtype=object)
        spelled[keys] = [
            self.first[k // width] if k % width == 0
            else f"{self.first[k // width]} {self.last[k % width - 1]}"
            for k in keys.tolist()
        ]
        return spelled[key]

    def first_text(self, first: np.ndarray) -> np.ndarray:
        return self.first[first]

    def last_text(self, last: np.ndarray) -> np.ndarray:
        with_none = np.concatenate([np.array([None], dtype=object), self.last])
        return with_none[last + 1]


def faker_pk_database() -> Path:
    spec = importlib.util.find_spec("faker_pk")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("the faker-pk package is not installed (see requirements.txt)")
    return Path(next(iter(spec.submodule_search_locations))) / "faker_pk.db"


def _zipf_weights(count: int) -> np.ndarray:
    """faker-pk lists common names first: give them more weight, gently."""
    weights = 1.0 / (np.arange(count) + 8.0) ** 0.8
    return weights / weights.sum()


def _unique_titled(names: list[str]) -> list[str]:
    seen: dict[str, None] = {}
    for name in names:
        name = name.strip()
        seen.setdefault(name[:1].upper() + name[1:], None)
    return list(seen)


def load_name_tables() -> NameTables:
    """The faker-pk name tables, read once (its own functions cannot be seeded)."""
    with sqlite3.connect(f"file:{faker_pk_database()}?mode=ro", uri=True) as conn:
        def names(kind: str) -> list[str]:
            rows = conn.execute("SELECT name FROM names WHERE type = ? ORDER BY id", (kind,))
            return _unique_titled([r[0] for r in rows])

        male, female, last = names("male"), names("female"), names("last")
        prefixes = [int(r[0]) for r in conn.execute("SELECT prefix FROM sim_prefixes ORDER BY id")]
    # "Muhammad Ali" style, except for names that already are or would not take the prefix.
    with_muhammad = [
        name if name.startswith(("Muhammad", "Abdul", "Mohammad")) or name == "Ahmad"
        else f"Muhammad {name}"
        for name in male
    ]
    tail = [name for name in last if name not in KP_LAST_NAMES]
    kp = [name for name, weight in KP_LAST_NAMES.items() if weight > 0]
    last_weight = np.array([KP_LAST_NAMES[n] for n in kp]
                           + [LONG_TAIL_WEIGHT / len(tail)] * len(tail))
    female_weight = _zipf_weights(len(female))
    return NameTables(
        first=np.array(male + with_muhammad + female, dtype=object),
        male_base=len(male),
        male_weight=_zipf_weights(len(male)),
        female_weight=female_weight,
        last=np.array(kp + tail + ["Bibi"], dtype=object),
        last_weight=last_weight / last_weight.sum(),
        phone_prefixes=np.array(prefixes, dtype=np.int64),
    )


# --- households -----------------------------------------------------------------------------

@dataclass
class Households:
    area: np.ndarray           # union council index into the geography
    registered_on: np.ndarray  # day numbers
    pmt_score: np.ndarray      # NaN = not assessed
    lon: np.ndarray
    lat: np.ndarray
    access_point: np.ndarray   # index, -1 = none

    def __len__(self) -> int:
        return len(self.area)


def registration_days(
    count: int, start_day: int, end_day: int, rng: np.random.Generator
) -> np.ndarray:
    """A registration drive in the first six months, then steady on-demand registration."""
    survey = rng.random(count) < 0.4
    drive_end = min(start_day + 182, end_day)
    days = np.where(
        survey,
        rng.integers(start_day, drive_end + 1, count),
        rng.integers(start_day, end_day + 1, count),
    )
    return days.astype(np.int64)


def generate_households(
    geography: Geography, count: int, start_day: int, end_day: int, rng: np.random.Generator,
) -> Households:
    """Households spread over union councils by weight, in order of registration."""
    ucs = geography.ucs
    per_uc = rng.multinomial(count, geography.weight[ucs] / geography.weight[ucs].sum())
    area = np.repeat(ucs, per_uc)
    registered = registration_days(count, start_day, end_day, rng)
    # Registry ids are handed out in order of registration.
    order = np.lexsort((rng.random(count), registered))
    return Households(
        area=area[order], registered_on=registered[order],
        pmt_score=np.full(count, np.nan), lon=np.full(count, np.nan),
        lat=np.full(count, np.nan), access_point=np.full(count, -1, dtype=np.int64),
    )


def household_sizes(count: int, rng: np.random.Generator) -> np.ndarray:
    """Mean about 6.5, few single-person households, a long tail of joint families."""
    return np.minimum(1 + rng.negative_binomial(10.0, 0.645, count), 22).astype(np.int64)


# --- persons --------------------------------------------------------------------------------

@dataclass
class Persons:
    household: np.ndarray      # index into the households
    national_id: np.ndarray    # object: 13-digit text or None
    first_name: np.ndarray     # object
    last_name: np.ndarray      # object or None
    father_name: np.ndarray    # object or None
    phone: np.ndarray          # object or None
    sex: np.ndarray            # object: 'F', 'M', 'X'
    birth_on: np.ndarray       # day numbers, NULL_DAY = unknown
    disability: np.ndarray     # bool
    is_head: np.ndarray        # bool
    registered_on: np.ndarray  # day numbers
    role: np.ndarray           # HEAD, SPOUSE, ... (not written; used to draw and to plant)

    def __len__(self) -> int:
        return len(self.household)

    def append(self, other: Persons) -> None:
        for field in fields(self):
            setattr(self, field.name, np.concatenate([getattr(self, field.name),
                                                      getattr(other, field.name)]))


def _member_roles(sizes: np.ndarray, has_spouse: np.ndarray, rng: np.random.Generator
                  ) -> tuple[np.ndarray, np.ndarray]:
    household = np.repeat(np.arange(len(sizes)), sizes)
    position = np.arange(len(household)) - np.repeat(group_starts(sizes), sizes)
    others = rng.choice([CHILD, ELDER, RELATIVE], p=[0.86, 0.06, 0.08], size=len(household))
    role = np.where(position == 0, HEAD,
                    np.where((position == 1) & has_spouse[household], SPOUSE, others))
    return household, role


def _member_ages(role: np.ndarray, household: np.ndarray, head_female: np.ndarray,
                 rng: np.random.Generator) -> np.ndarray:
    """Ages in whole years that make families.

    Children are 1.5-3.5 years apart, listed eldest first; their mother is 18-30 years older
    than the eldest, the father a few years older than her; elders are the head's parents.
    Large families therefore have older parents and some grown-up children.
    """
    count, n = len(head_female), len(role)
    is_child = role == CHILD
    children = np.bincount(household[is_child], minlength=count)
    rank = np.zeros(n, dtype=np.int64)
    order = np.flatnonzero(is_child)
    rank[order] = np.arange(len(order)) - group_starts(children)[household[order]]
    youngest = rng.exponential(5.0, count)
    spacing = rng.uniform(1.5, 3.5, count)
    eldest = youngest + spacing * np.maximum(children - 1, 0)
    child_age = youngest[household] + spacing[household] * (children[household] - 1 - rank)
    mother_age = np.where(children > 0, eldest + 18 + rng.gamma(2.0, 3.0, count),
                          rng.normal(38, 14, count))
    mother_age = np.clip(mother_age, 17, 90)
    head_age = np.where(head_female, mother_age, mother_age + 1 + rng.gamma(2.0, 3.0, count))
    head_age = np.clip(head_age, 18, 95)
    elder_age = np.clip(head_age[household] + 20 + rng.gamma(2.0, 4.0, n), 45, 100)
    age = np.select(
        [role == HEAD, role == SPOUSE, is_child, role == ELDER],
        [head_age[household], mother_age[household], child_age, elder_age],
        default=rng.uniform(8, 50, n),
    )
    return np.floor(age).astype(np.int64)


def _member_sexes(role: np.ndarray, household: np.ndarray, head_female: np.ndarray,
                  age: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    n = len(role)
    female_share = np.select(
        [role == HEAD, role == SPOUSE, role == CHILD, role == ELDER],
        [head_female[household].astype(float), 1.0, 0.49, 0.62], default=0.55)
    sex = np.where(rng.random(n) < female_share, "F", "M").astype(object)
    # A handful of persons recorded as 'X' (third gender on the CNIC).
    candidates = np.flatnonzero((age >= 16) & ((role == CHILD) | (role == RELATIVE)))
    count = min(len(candidates), max(2, round(n * 5e-5)))
    sex[rng.choice(candidates, size=count, replace=False)] = "X"
    return sex


def _member_names(names: NameTables, role: np.ndarray, household: np.ndarray, sex: np.ndarray,
                  head_female: np.ndarray, age: np.ndarray, rng: np.random.Generator
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """First, last and father's (or husband's) names; family members share a clan name."""
    n, count = len(role), len(head_female)
    first = np.empty(n, dtype=np.int64)
    male = (sex == "M") | ((sex == "X") & (rng.random(n) < 0.5))
    first[male] = names.male_names(rng, int(male.sum()))
    first[~male] = names.female_names(rng, int((~male).sum()))

    clan = names.last_names(rng, count)
    keep_clan = np.select(
        [role == HEAD, role == SPOUSE, role == CHILD, role == ELDER],
        [1.0, 0.55, 0.96, 0.75], default=0.6)
    last = np.where(rng.random(n) < keep_clan, clan[household], names.last_names(rng, n))
    # Many women in KP are recorded as "<name> Bibi"; some records carry one name only.
    last = np.where((sex == "F") & (age >= 18) & (rng.random(n) < 0.12), names.bibi, last)
    last = np.where(rng.random(n) < 0.02, NO_NAME, last)

    heads = group_starts(np.bincount(household, minlength=count))
    # Fathers (or husbands) as recorded: "Name Clan", or the first name only.
    husband = names.male_names(rng, count)       # of a female head, absent or late
    grandfather = names.male_names(rng, count)   # the head's father
    children_father = np.where(head_female, husband, first[heads])
    father_first = np.select(
        [role == HEAD, role == SPOUSE, role == CHILD],
        [np.where(head_female, husband, grandfather)[household], first[heads][household],
         children_father[household]],
        default=names.male_names(rng, n))
    short = (rng.random(n) < 0.3) & (role != SPOUSE)
    father_last = np.where(short, NO_NAME, clan[household])
    return (names.first_text(first), names.last_text(last),
            names.spell(father_first, father_last))


def _phones(prefixes: np.ndarray, count: int, rng: np.random.Generator) -> np.ndarray:
    """Mobile numbers as recorded: '03001234567', a few with the dash '0300-1234567'."""
    prefix = prefixes[rng.integers(0, len(prefixes), count)]
    line = rng.integers(0, 10_000_000, count)
    dashed = rng.random(count) < 0.04
    return np.array([f"0{p}-{s:07d}" if d else f"0{p}{s:07d}" for p, s, d in zip(
        prefix.tolist(), line.tolist(), dashed.tolist(), strict=True)], dtype=object)


def _member_phones(names: NameTables, role: np.ndarray, household: np.ndarray, age: np.ndarray,
                   rng: np.random.Generator) -> np.ndarray:
    n = len(role)
    has_phone = np.where(role == HEAD, rng.random(n) < 0.88,
                         np.where(age >= 18, rng.random(n) < 0.35,
                                  (age >= 16) & (rng.random(n) < 0.05)))
    phone = np.full(n, None, dtype=object)
    phone[has_phone] = _phones(names.phone_prefixes, int(has_phone.sum()), rng)
    # Wives often give the husband's number.
    heads = group_starts(np.bincount(household))
    shares = (role == SPOUSE) & (rng.random(n) < 0.35)
    phone[shares] = phone[heads[household[shares]]]
    return phone


def _disability(age: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    share = np.select([age < 18, age < 40, age < 60], [0.025, 0.05, 0.1], default=0.2)
    return rng.random(len(age)) < share


def _birth_days(age: np.ndarray, end_day: int, rng: np.random.Generator) -> np.ndarray:
    return (end_day - np.floor(age * 365.2425 + rng.uniform(0, 365, len(age)))).astype(np.int64)


def _person_registration(household: np.ndarray, role: np.ndarray, birth: np.ndarray,
                         households: Households, end_day: int, rng: np.random.Generator
                         ) -> np.ndarray:
    """Most members come with the household; some are added later, newborns after birth."""
    n = len(role)
    base = households.registered_on[household]
    later = (role != HEAD) & (rng.random(n) < 0.15)
    registered = base + np.where(later, rng.exponential(150, n), 0).astype(np.int64)
    newborn = birth > base
    registered = np.where(newborn, birth + rng.integers(0, 120, n), registered)
    return np.minimum(np.maximum(registered, base), end_day)


def generate_persons(
    households: Households, names: NameTables, end_day: int, rng: np.random.Generator,
) -> Persons:
    """The members of every household: a head, usually a spouse, children, some elders."""
    count = len(households)
    sizes = household_sizes(count, rng)
    head_female = rng.random(count) < 0.11
    has_spouse = ~head_female & (sizes >= 2) & (rng.random(count) < 0.93)
    household, role = _member_roles(sizes, has_spouse, rng)
    age = _member_ages(role, household, head_female, rng)
    sex = _member_sexes(role, household, head_female, age, rng)
    first, last, father = _member_names(names, role, household, sex, head_female, age, rng)
    birth = _birth_days(age, end_day, rng)
    return Persons(
        household=household,
        national_id=np.full(len(household), None, dtype=object),
        first_name=first, last_name=last, father_name=father,
        phone=_member_phones(names, role, household, age, rng),
        sex=sex, birth_on=birth, disability=_disability(age, rng),
        is_head=role == HEAD,
        registered_on=_person_registration(household, role, birth, households, end_day, rng),
        role=role,
    )


# --- identity numbers -----------------------------------------------------------------------

def cnic_numbers(prefix4: np.ndarray, sex: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Distinct 13-digit CNIC/B-form numbers: '1' (KP), a 4-digit area code, a 7-digit serial
    and a last digit that is odd for men and even for women."""
    count = len(prefix4)
    odd = ((sex == "M") | ((sex == "X") & (rng.random(count) < 0.5))).astype(np.int64)
    start = 1_000_000_000_000 + prefix4.astype(np.int64) * 100_000_000

    def draw(rows: np.ndarray) -> np.ndarray:
        last = 2 * rng.integers(0, 5, len(rows)) + odd[rows]
        return start[rows] + rng.integers(0, 10_000_000, len(rows)) * 10 + last

    def repeats(numbers: np.ndarray) -> np.ndarray:
        """True for every copy of a number after its first."""
        order = np.argsort(numbers, kind="stable")
        flags = np.zeros(len(numbers), dtype=bool)
        flags[order[1:][np.diff(numbers[order]) == 0]] = True
        return flags

    numbers = draw(np.arange(count))
    repeat = repeats(numbers)
    used = np.sort(numbers[~repeat])
    # Redraw the few that clash, checking them against the sorted numbers already given out.
    pending = np.flatnonzero(repeat)
    while len(pending):
        fresh = draw(pending)
        clash = repeats(fresh) | (used[np.minimum(np.searchsorted(used, fresh), len(used) - 1)]
                                  == fresh)
        numbers[pending[~clash]] = fresh[~clash]
        used = np.sort(np.concatenate([used, fresh[~clash]]))
        pending = pending[clash]
    return numbers


def as_text(numbers: np.ndarray) -> np.ndarray:
    return np.asarray(numbers, dtype=np.int64).astype("U13").astype(object)


def assign_national_ids(
    persons: Persons, households: Households, geography: Geography, end_day: int,
    rng: np.random.Generator,
) -> None:
    """Every adult has a CNIC; 40 % of children have a B-form number; the rest none.

    The area code is the district's, or another district's for people who got their card
    where they lived before.
    """
    age = age_on(persons.birth_on, end_day)
    holds = (age >= 18) | (rng.random(len(persons)) < 0.4)
    rows = np.flatnonzero(holds)
    district = geography.ancestor(households.area[persons.household[rows]], LEVEL_DISTRICT)
    prefix = geography.cnic_prefix[district]
    districts = np.flatnonzero(geography.level == LEVEL_DISTRICT)
    moved = rng.random(len(rows)) < 0.1
    prefix[moved] = geography.cnic_prefix[rng.choice(districts, int(moved.sum()))]
    numbers = cnic_numbers(prefix, persons.sex[rows], rng)
    persons.national_id[rows] = as_text(numbers)


# --- proxy means test -----------------------------------------------------------------------

def assign_pmt_scores(
    households: Households, persons: Persons, geography: Geography, end_day: int,
    rng: np.random.Generator,
) -> None:
    """PMT 0-100, lower is poorer: large, female-headed and disabled-member households score
    lower, and some districts and union councils are poorer. Recent registrations are often
    not assessed yet."""
    count = len(households)
    size = np.bincount(persons.household, minlength=count)
    female_head = np.zeros(count, dtype=bool)
    heads = persons.is_head
    female_head[persons.household[heads]] = persons.sex[heads] == "F"
    disabled = np.bincount(persons.household, weights=persons.disability, minlength=count) > 0
    area_effect = rng.normal(0, 0.35, len(geography.level))
    district = geography.ancestor(households.area, LEVEL_DISTRICT)
    latent = 0.9 * (area_effect[district] * 0.7 + area_effect[households.area]
                    - 0.22 * (size - 6.5) - 0.35 * female_head - 0.3 * disabled
                    + rng.normal(0, 1, count))
    # Calibrate so that close to POOR_SHARE of households score at or under the BISP cutoff,
    # whatever the draw of poorer and richer districts.
    offset = np.log(POOR_CUTOFF / (100 - POOR_CUTOFF)) - np.quantile(latent, POOR_SHARE)
    score = np.round(np.clip(100 / (1 + np.exp(-(latent + offset))), 0, 100), 2)
    recent = households.registered_on > end_day - 90
    unassessed = rng.random(count) < np.where(recent, 0.25, 0.02)
    households.pmt_score = np.where(unassessed, np.nan, score)
