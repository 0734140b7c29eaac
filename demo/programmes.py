"""Demo programmes (modelled on KP practice), enrolments with realistic targeting errors, and
referrals between programmes through their whole lifecycle."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np

from demo.common import NULL_DAY, age_on, calendar_parts, day_number, days_from_parts
from demo.geography import AccessPoints
from demo.people import Households, Persons

REFERRAL_WINDOW_DAYS = 730  # referrals are made over the two years to the end date
REFERRAL_STATUSES = ("pending", "accepted", "rejected", "completed")


@dataclass(frozen=True)
class Programme:
    programme_id: str
    name: str
    agency: str
    benefit_type: str
    unit: str                         # 'household' or 'person'
    started_on: dt.date
    pmt_max: float | None = None
    age_min: int | None = None
    age_max: int | None = None
    sex: str | None = None
    disability_only: bool = False
    exclusive_group: str | None = None
    # How the demo fills it (not written to the registry):
    take_up: float = 0.7              # share of eligible units ever enrolled
    leakage: float = 0.05             # share of nearly eligible units enrolled anyway
    mean_months: float | None = None  # mean time on the programme before exit; None = stays
    referral_weight: float = 1.0      # how often it is the programme referred to


PROGRAMMES: tuple[Programme, ...] = (
    Programme("bisp_kafaalat", "BISP Kafaalat unconditional cash transfer",
              "Benazir Income Support Programme", "cash", "household", dt.date(2019, 1, 1),
              pmt_max=32, exclusive_group="cash_uct", take_up=0.78, leakage=0.05,
              mean_months=120, referral_weight=2.0),
    Programme("kp_cash_grant", "KP provincial cash grant",
              "Social Welfare Department, Khyber Pakhtunkhwa", "cash", "household",
              dt.date(2023, 7, 1), pmt_max=40, exclusive_group="cash_uct", take_up=0.45,
              leakage=0.04, mean_months=48, referral_weight=1.0),
    Programme("sehat_card", "Sehat Card Plus health insurance",
              "Health Department, Khyber Pakhtunkhwa", "health_insurance", "household",
              dt.date(2015, 12, 1), take_up=0.86, leakage=0.0, mean_months=None,
              referral_weight=1.5),
    Programme("taleemi_wazaif", "Taleemi Wazaif education stipend",
              "Benazir Income Support Programme", "education", "person", dt.date(2020, 1, 1),
              pmt_max=32, age_min=5, age_max=16, take_up=0.5, leakage=0.03,
              mean_months=None, referral_weight=2.0),
    Programme("nashonuma", "Nashonuma mother-and-child grant",
              "Benazir Income Support Programme", "cash", "person", dt.date(2020, 8, 1),
              pmt_max=32, sex="F", age_min=15, age_max=49, take_up=0.22, leakage=0.02,
              mean_months=20, referral_weight=1.5),
    Programme("disability_allowance", "Disability allowance",
              "Social Welfare Department, Khyber Pakhtunkhwa", "cash", "person",
              dt.date(2018, 7, 1), disability_only=True, take_up=0.5, leakage=0.002,
              mean_months=None, referral_weight=1.0),
    Programme("skills_training", "Hunar vocational skills training",
              "KP Technical Education and Vocational Training Authority", "training", "person",
              dt.date(2021, 3, 1), age_min=16, age_max=35, take_up=0.05, leakage=0.06,
              mean_months=5, referral_weight=1.0),
    Programme("food_support", "Rashan food support",
              "Poverty Alleviation and Social Safety Division", "food", "household",
              dt.date(2022, 1, 1), pmt_max=25, take_up=0.6, leakage=0.04, mean_months=30,
              referral_weight=1.0),
)


# --- eligibility ----------------------------------------------------------------------------

@dataclass(frozen=True)
class Rules:
    """The rules a unit must meet; ``relaxed`` widens them to find near misses."""

    pmt_max: float | None
    age_min: int | None
    age_max: int | None
    sex: str | None
    disability_only: bool

    @classmethod
    def of(cls, programme: Programme) -> Rules:
        return cls(programme.pmt_max, programme.age_min, programme.age_max, programme.sex,
                   programme.disability_only)

    def relaxed(self) -> Rules:
        return Rules(
            None if self.pmt_max is None else self.pmt_max + 10,
            None if self.age_min is None else self.age_min - 2,
            None if self.age_max is None else self.age_max + 2,
            self.sex, False)


def household_rules_met(rules: Rules, households: Households, day: int) -> np.ndarray:
    met = households.registered_on <= day
    if rules.pmt_max is not None:
        met &= households.pmt_score <= rules.pmt_max  # NaN (not assessed) is never <=
    return met


def person_rules_met(rules: Rules, persons: Persons, households: Households, age: np.ndarray,
                     day: int) -> np.ndarray:
    met = persons.registered_on <= day
    if rules.pmt_max is not None:
        met &= households.pmt_score[persons.household] <= rules.pmt_max
    known_age = persons.birth_on != NULL_DAY
    if rules.age_min is not None:
        met &= known_age & (age >= rules.age_min)
    if rules.age_max is not None:
        met &= known_age & (age <= rules.age_max)
    if rules.sex is not None:
        met &= persons.sex == rules.sex
    if rules.disability_only:
        met &= persons.disability
    return met


def eligible_units(programme: Programme, households: Households, persons: Persons,
                   age: np.ndarray, day: int, *, relaxed: bool = False) -> np.ndarray:
    rules = Rules.of(programme)
    if relaxed:
        rules = rules.relaxed()
    if programme.unit == "household":
        return household_rules_met(rules, households, day)
    return person_rules_met(rules, persons, households, age, day)


# --- enrolments -----------------------------------------------------------------------------

@dataclass
class Enrolments:
    programme: np.ndarray    # index into PROGRAMMES
    household: np.ndarray    # household index, -1 for person programmes
    person: np.ndarray       # person index, -1 for household programmes
    enrolled_on: np.ndarray  # day numbers
    ended_on: np.ndarray     # day numbers, NULL_DAY = still enrolled

    def __len__(self) -> int:
        return len(self.programme)

    def append(self, other: Enrolments) -> None:
        for name in ("programme", "household", "person", "enrolled_on", "ended_on"):
            setattr(self, name, np.concatenate([getattr(self, name), getattr(other, name)]))

    def active_on(self, day: int) -> np.ndarray:
        return (self.enrolled_on <= day) & ((self.ended_on == NULL_DAY) | (self.ended_on > day))

    def household_of(self, persons: Persons) -> np.ndarray:
        return np.where(self.household >= 0, self.household,
                        persons.household[np.maximum(self.person, 0)])


def _age_out_day(birth_on: np.ndarray, age_max: int) -> np.ndarray:
    """The day a person turns age_max + 1 and leaves an age-bound programme."""
    year, month, day = calendar_parts(birth_on)
    return days_from_parts(year + age_max + 1, month, day)


def _exit_days(programme: Programme, enrolled_on: np.ndarray, birth_on: np.ndarray | None,
               end_day: int, rng: np.random.Generator) -> np.ndarray:
    """When each enrolment ended (NULL_DAY if it runs past the end date)."""
    count = len(enrolled_on)
    exit_day = np.full(count, np.iinfo(np.int64).max)
    if programme.mean_months is not None:
        stay = rng.exponential(programme.mean_months * 30.44, count).astype(np.int64)
        exit_day = enrolled_on + 1 + stay
    if programme.age_max is not None and birth_on is not None:
        # Most leave when they age out; the rest stay on (an inclusion error by the end date).
        aged_out = _age_out_day(birth_on, programme.age_max) + rng.integers(0, 60, count)
        applies = (rng.random(count) < 0.85) & (aged_out > enrolled_on)
        exit_day = np.where(applies, np.minimum(exit_day, aged_out), exit_day)
    return np.where(exit_day <= end_day, exit_day, NULL_DAY)


def enrol_programme(
    index: int, households: Households, persons: Persons, age: np.ndarray, end_day: int,
    rng: np.random.Generator, *, excluded_households: np.ndarray | None = None,
) -> Enrolments:
    """Enrol most eligible units and a few near misses (targeting errors both ways)."""
    programme = PROGRAMMES[index]
    eligible = eligible_units(programme, households, persons, age, end_day)
    near = eligible_units(programme, households, persons, age, end_day, relaxed=True) & ~eligible
    draw = rng.random(len(eligible))
    chosen = (eligible & (draw < programme.take_up)) | (near & (draw < programme.leakage))
    if programme.unit == "household":
        if excluded_households is not None:
            chosen &= ~excluded_households
        units = np.flatnonzero(chosen)
        registered = households.registered_on[units]
        birth = None
    else:
        units = np.flatnonzero(chosen)
        registered = persons.registered_on[units]
        birth = persons.birth_on[units]
    opens = day_number(programme.started_on)
    wait = 7 + rng.exponential(75, len(units)).astype(np.int64)
    enrolled_on = np.maximum(registered, opens) + wait
    keep = enrolled_on <= end_day  # later ones are still in the pipeline on the end date
    units, enrolled_on = units[keep], enrolled_on[keep]
    birth = None if birth is None else birth[keep]
    ended_on = _exit_days(programme, enrolled_on, birth, end_day, rng)
    is_household = programme.unit == "household"
    return Enrolments(
        programme=np.full(len(units), index, dtype=np.int64),
        household=units if is_household else np.full(len(units), -1, dtype=np.int64),
        person=np.full(len(units), -1, dtype=np.int64) if is_household else units,
        enrolled_on=enrolled_on, ended_on=ended_on)


def generate_enrolments(households: Households, persons: Persons, end_day: int,
                        rng: np.random.Generator) -> Enrolments:
    """Every programme's enrolments. A household ever enrolled in one programme of an
    exclusive group is never enrolled in another of it (double dipping is only planted)."""
    age = age_on(persons.birth_on, end_day)
    result = Enrolments(*(np.empty(0, dtype=np.int64) for _ in range(5)))
    in_group: dict[str, np.ndarray] = {}
    for index, programme in enumerate(PROGRAMMES):
        group = programme.exclusive_group
        excluded = in_group.get(group) if group else None
        enrolments = enrol_programme(index, households, persons, age, end_day, rng,
                                     excluded_households=excluded)
        if group:
            members = np.zeros(len(households), dtype=bool) if excluded is None else excluded.copy()
            members[enrolments.household_of(persons)] = True
            in_group[group] = members
        result.append(enrolments)
    return result


# --- referrals ------------------------------------------------------------------------------

@dataclass
class Referrals:
    household: np.ndarray
    person: np.ndarray          # -1 = none
    from_programme: np.ndarray  # -1 = made at registration
    to_programme: np.ndarray
    access_point: np.ndarray    # -1 = none
    referred_on: np.ndarray
    status: np.ndarray          # object
    closed_on: np.ndarray       # NULL_DAY = open

    def __len__(self) -> int:
        return len(self.household)


def _first_enrolment_days(enrolments: Enrolments, persons: Persons, household_count: int
                          ) -> np.ndarray:
    """Household x programme: the first day the household (or a member) was enrolled."""
    first = np.full((household_count, len(PROGRAMMES)), np.iinfo(np.int64).max)
    np.minimum.at(first, (enrolments.household_of(persons), enrolments.programme),
                  enrolments.enrolled_on)
    return first


def _referral_units(households: Households, persons: Persons, age: np.ndarray, count: int,
                    end_day: int, rng: np.random.Generator
                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Who is referred to what: mostly units eligible for the programme referred to."""
    weights = np.array([p.referral_weight for p in PROGRAMMES])
    per_programme = rng.multinomial(count, weights / weights.sum())
    programme_of, household_of, person_of, registered_of = [], [], [], []
    for index, (programme, wanted) in enumerate(zip(PROGRAMMES, per_programme, strict=True)):
        eligible = eligible_units(programme, households, persons, age, end_day - 1)
        # A fifth are referred although not eligible: the receiving programme rejects most.
        anyone = (households.registered_on if programme.unit == "household"
                  else persons.registered_on) <= end_day - 1
        pool = np.where(rng.random(len(eligible)) < 0.2, anyone, eligible)
        candidates = np.flatnonzero(pool)
        if len(candidates) == 0 or wanted == 0:
            continue
        units = rng.choice(candidates, size=int(wanted), replace=len(candidates) < wanted)
        programme_of.append(np.full(len(units), index))
        if programme.unit == "household":
            household_of.append(units)
            person_of.append(np.full(len(units), -1))
            registered_of.append(households.registered_on[units])
        else:
            household_of.append(persons.household[units])
            person_of.append(units)
            registered_of.append(persons.registered_on[units])
    if not programme_of:
        empty = np.empty(0, dtype=np.int64)
        return empty, empty, empty, empty
    return (np.concatenate(programme_of), np.concatenate(household_of),
            np.concatenate(person_of), np.concatenate(registered_of))


def _referral_origins(first_enrolled: np.ndarray, household: np.ndarray, to_programme: np.ndarray,
                      unit_registered: np.ndarray, window_start: int, end_day: int,
                      rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """From which programme (or registration, -1) and on which day each referral was made."""
    count = len(household)
    days = first_enrolled[household]
    possible = days <= end_day
    possible[np.arange(count), to_programme] = False
    scores = np.where(possible, rng.random(days.shape), -1.0)
    source = np.argmax(scores, axis=1)
    from_programme = np.where(possible.any(axis=1) & (rng.random(count) < 0.6), source, -1)
    source_start = days[np.arange(count), np.maximum(from_programme, 0)]
    low = np.maximum(np.maximum(window_start, unit_registered),
                     np.where(from_programme >= 0, source_start, 0))
    low = np.minimum(low, end_day)
    anywhen = low + np.floor(rng.random(count) * (end_day - low + 1)).astype(np.int64)
    # Registration referrals are made on the day of registration, when that is in the window.
    at_registration = (from_programme < 0) & (unit_registered >= window_start)
    referred_on = np.where(at_registration, unit_registered, anywhen)
    return from_programme.astype(np.int64), referred_on.astype(np.int64)


def _referral_outcomes(referred_on: np.ndarray, end_day: int, rng: np.random.Generator
                       ) -> tuple[np.ndarray, np.ndarray]:
    """Status on the end date and closing day: decided within days to weeks, completed within
    weeks; one in twelve gets stuck and stays open (overdue once past 30 days)."""
    count = len(referred_on)
    decided = referred_on + 1 + rng.lognormal(np.log(7), 0.8, count).astype(np.int64)
    completed = decided + rng.lognormal(np.log(18), 0.7, count).astype(np.int64)
    stuck = rng.random(count) < 0.08
    rejected = rng.random(count) < 0.22
    status = np.full(count, "pending", dtype=object)
    closed_on = np.full(count, NULL_DAY, dtype=np.int64)
    accepted = ~stuck & (decided <= end_day)
    status[accepted] = "accepted"
    is_rejected = accepted & rejected
    status[is_rejected] = "rejected"
    closed_on[is_rejected] = decided[is_rejected]
    is_completed = accepted & ~rejected & (completed <= end_day)
    status[is_completed] = "completed"
    closed_on[is_completed] = completed[is_completed]
    status[stuck & (rng.random(count) < 0.4)] = "accepted"
    return status, closed_on


def _referral_access_points(household_point: np.ndarray, household_area: np.ndarray,
                            referred_on: np.ndarray, access_points: AccessPoints,
                            rng: np.random.Generator) -> np.ndarray:
    """Mostly where the household registered, sometimes another point of its union council
    that was open by then, a few unrecorded."""
    count = len(household_point)
    order = np.argsort(access_points.area, kind="stable")
    first = np.searchsorted(access_points.area[order], household_area, side="left")
    last = np.searchsorted(access_points.area[order], household_area, side="right")
    other = order[np.minimum(first + np.floor(rng.random(count) * (last - first)).astype(np.int64),
                             len(order) - 1)]
    other = np.where(access_points.opened_on[other] <= referred_on, other, household_point)
    draw = rng.random(count)
    return np.where(draw < 0.85, household_point, np.where(draw < 0.95, other, -1))


def generate_referrals(households: Households, persons: Persons, enrolments: Enrolments,
                       access_points: AccessPoints, end_day: int, rng: np.random.Generator
                       ) -> Referrals:
    """About one referral for every eight households over the two years to the end date."""
    window_start = end_day - REFERRAL_WINDOW_DAYS
    age = age_on(persons.birth_on, end_day)
    count = max(1, round(len(households) * 0.125))
    to_programme, household, person, registered = _referral_units(
        households, persons, age, count, end_day, rng)
    first_enrolled = _first_enrolment_days(enrolments, persons, len(households))
    from_programme, referred_on = _referral_origins(
        first_enrolled, household, to_programme, registered, window_start, end_day, rng)
    status, closed_on = _referral_outcomes(referred_on, end_day, rng)
    point = _referral_access_points(households.access_point[household],
                                    households.area[household], referred_on, access_points, rng)
    return Referrals(household=household, person=person, from_programme=from_programme,
                     to_programme=to_programme, access_point=point, referred_on=referred_on,
                     status=status, closed_on=closed_on)
