"""The indicator catalogue: every figure Socle shows, declared once as data.

Pages, exports, docs and tests read this list. Definitions follow ../shared/spec/indicators.md.
Labels, numerators, denominators and notes are English, marked ``N_`` for the catalogues
(locales/): the pages, the workbook and the brief show them through ``t()``.
"""

from __future__ import annotations

from dataclasses import dataclass

from core.i18n import N_, Message, format_number, format_percent, t

PROGRAMME = "programme"
SEX = ("sex=F", "sex=M", "sex=X")
AGE = ("age=0-17", "age=18-59", "age=60+", "age=unknown")
DISABILITY = ("disability=yes", "disability=no")
ACCESS_POINT = "access_point"
TABLE = ("table=household", "table=person", "table=enrolment", "table=referral")
# Codes of the catalogue (families, kinds, units) as the workbook's Definitions sheet and the
# targets template show them, through t(): marked here for the catalogues.
CODE_TEXTS: tuple[str, ...] = (
    N_("coverage"), N_("packages"), N_("referrals"), N_("duplicates"), N_("data_quality"),
    N_("stock"), N_("flow"), N_("percent"), N_("count"), N_("mean"), N_("days"),
    N_("per_1000"),
)


@dataclass(frozen=True)
class Indicator:
    id: str
    family: str  # coverage, packages, referrals, duplicates, data_quality
    label: str
    numerator: str
    denominator: str
    unit: str  # percent, count, mean, days, per_1000
    higher_is_better: bool | None  # None: neither (a volume)
    kind: str = "stock"  # stock (on the as-of date) or flow (over the period)
    per_programme: bool = False  # rows for each programme only
    breakdowns: tuple[str, ...] = ()  # fixed key=value breakdowns, PROGRAMME, ACCESS_POINT
    headline: bool = False  # shown on the Overview page and the Summary sheet
    note: str = ""  # Socle's reading where the spec leaves a choice
    computed_by: str = ""  # the family that counts it (indicators.families)
    whole_registry_only: bool = False  # no area rows: a row left out often has no known area
    # What the numerator and the denominator count: names of QUANTITIES below (a count that
    # two indicators publish has one name). Donor suppression derives from them which
    # published counts add up to which (indicators.suppression.derived_groups).
    numerator_counts: str = ""
    denominator_counts: str = ""

    @property
    def definition(self) -> str:
        """"numerator ÷ denominator" (English as a str; ``t()`` translates it whole)."""
        if not self.denominator:
            return self.numerator
        return N_("{numerator} ÷ {denominator}", numerator=Message(self.numerator, {}),
                  denominator=Message(self.denominator, {}))

    @property
    def number_format(self) -> str:
        """Excel number format of the value."""
        return {"percent": "0.0%", "count": "#,##0", "mean": "0.00",
                "days": "0.0", "per_1000": "0.00"}[self.unit]

    def format_value(self, value: float | None, extra_decimals: int = 0) -> str:
        """The value as people read it, in the session's language and its number format;
        ``extra_decimals`` more than usual where two values must be told apart (a map
        legend's narrow classes)."""
        if value is None or value != value:  # None or NaN
            return "–"
        more = max(int(extra_decimals), 0)
        if self.unit == "percent":
            return format_percent(value, 1 + more)
        if self.unit == "count":
            return format_number(value, more)
        if self.unit == "per_1000":
            return t("{value} per 1,000", value=format_number(value * 1000, 2 + more))
        if self.unit == "days":
            return t("{value} days", value=format_number(value, 1 + more))
        return format_number(value, 2 + more)


CATALOGUE: tuple[Indicator, ...] = (
    # Coverage
    Indicator("cov.programme", "coverage", N_("Programme coverage"),
              N_("eligible units of the programme that are enrolled"),
              N_("eligible units of the programme"), "percent", True, per_programme=True,
              computed_by="programme_coverage",
              numerator_counts="programme.eligible_enrolled", denominator_counts="programme.eligible"),
    Indicator("cov.exclusion", "coverage", N_("Exclusion error"),
              N_("eligible units of the programme that are not enrolled"),
              N_("eligible units of the programme"), "percent", False, per_programme=True,
              computed_by="programme_coverage",
              numerator_counts="programme.eligible_not_enrolled", denominator_counts="programme.eligible"),
    Indicator("cov.inclusion", "coverage", N_("Inclusion error"),
              N_("enrolled units of the programme that are not eligible"),
              N_("enrolled units of the programme"), "percent", False, per_programme=True,
              computed_by="programme_coverage",
              numerator_counts="programme.enrolled_not_eligible", denominator_counts="programme.enrolled"),
    Indicator("cov.poor_households", "coverage", N_("Coverage of the poor"),
              N_("poor registered households that receive at least one programme"),
              N_("poor registered households"), "percent", True, headline=True,
              computed_by="households",
              numerator_counts="households.poor_receiving", denominator_counts="households.poor"),
    Indicator("cov.population", "coverage", N_("Population coverage"),
              N_("registered persons who are covered"), N_("registered persons"), "percent", True,
              breakdowns=SEX + AGE + DISABILITY, headline=True,
              computed_by="population",
              numerator_counts="persons.covered", denominator_counts="persons.registered"),
    Indicator("cov.population_census", "coverage", N_("Coverage of the census population"),
              N_("registered persons who are covered"),
              N_("the area's recorded census population (whole registry: sum over level-1 areas)"),
              "percent", True,
              computed_by="population",
              numerator_counts="persons.covered", denominator_counts="census.population"),
    # Combined benefit packages
    Indicator("pkg.complete", "packages", N_("Complete benefit packages"),
              N_("households eligible for two or more programmes that receive every programme "
                 "they are eligible for"),
              N_("households eligible for two or more programmes"), "percent", True,
              computed_by="households",
              numerator_counts="households.complete_package", denominator_counts="households.eligible_two_or_more"),
    Indicator("pkg.mean_programmes_poor", "packages", N_("Programmes per poor household"),
              N_("programmes received, summed over poor registered households"),
              N_("poor registered households"), "mean", True,
              computed_by="households",
              numerator_counts="programmes_received.poor", denominator_counts="households.poor"),
    # Referrals
    Indicator("ref.made", "referrals", N_("Referrals made"),
              N_("referrals made in the period"), "", "count", None, kind="flow",
              breakdowns=(PROGRAMME, ACCESS_POINT), headline=False,
              computed_by="referrals",
              numerator_counts="referrals.made"),
    Indicator("ref.completed", "referrals", N_("Referrals completed"),
              N_("referrals made in the period that were completed by its end"),
              N_("referrals made in the period"), "percent", True, kind="flow",
              breakdowns=(PROGRAMME, ACCESS_POINT),
              computed_by="referrals",
              numerator_counts="referrals.completed", denominator_counts="referrals.made"),
    Indicator("ref.rejected", "referrals", N_("Referrals rejected"),
              N_("referrals made in the period that were rejected by its end"),
              N_("referrals made in the period"), "percent", False, kind="flow",
              breakdowns=(PROGRAMME, ACCESS_POINT),
              computed_by="referrals",
              numerator_counts="referrals.rejected", denominator_counts="referrals.made"),
    Indicator("ref.overdue", "referrals", N_("Referrals overdue"),
              N_("referrals open at the end of the period, made more than the SLA days before it"),
              N_("referrals open at the end of the period"), "percent", False, kind="flow",
              breakdowns=(PROGRAMME, ACCESS_POINT), headline=True,
              computed_by="referrals",
              numerator_counts="referrals.overdue", denominator_counts="referrals.open_at_end"),
    Indicator("ref.days_to_complete", "referrals", N_("Median days to complete a referral"),
              N_("median of days from referral to completion, over referrals completed in the "
                 "period"),
              "", "days", False, kind="flow", breakdowns=(PROGRAMME,),
              computed_by="referrals"),
    # Duplicates
    Indicator("dup.shared_id", "duplicates", N_("Shared national ids"),
              N_("registered persons whose well-formed national id is also held by another "
                 "registered person"),
              N_("registered persons with a well-formed national id"), "percent", False,
              computed_by="duplicates",
              numerator_counts="persons.shared_id", denominator_counts="persons.well_formed_id"),
    Indicator("dup.double_enrolment", "duplicates", N_("Double enrolment"),
              N_("(unit, programme) pairs with two or more active enrolments"),
              N_("(unit, programme) pairs with at least one active enrolment"), "percent", False,
              computed_by="duplicates",
              numerator_counts="programme.enrolled_more_than_once", denominator_counts="programme.enrolled"),
    Indicator("dup.double_dipping", "duplicates", N_("Double dipping"),
              N_("households that receive two or more programmes of the same exclusive group"),
              N_("households that receive at least one programme with an exclusive group"),
              "percent", False, headline=True,
              computed_by="households",
              numerator_counts="households.double_dipping", denominator_counts="households.receiving_exclusive"),
    Indicator("dup.suspected_pairs", "duplicates", N_("Suspected duplicate pairs"),
              N_("suspected duplicate person pairs found by record linkage and not yet dismissed, "
                 "counted in the area of the pair's first person"),
              N_("registered persons"), "per_1000", False,
              note=N_("Pairs of the latest linkage run that no officer has dismissed, both "
                      "persons registered; the first person is the smaller person id. Empty "
                      "before the job has run."),
              computed_by="suspected_pairs",
              numerator_counts="pairs.suspected", denominator_counts="persons.registered"),
    # Data quality
    Indicator("dq.adults_without_id", "data_quality", N_("Adults without national id"),
              N_("registered persons aged 18 or more with no national id"),
              N_("registered persons aged 18 or more"), "percent", False,
              computed_by="data_quality",
              numerator_counts="persons.adults_without_id", denominator_counts="persons.adults"),
    Indicator("dq.malformed_id", "data_quality", N_("Malformed national ids"),
              N_("registered persons whose national id is not 13 digits"),
              N_("registered persons with a national id"), "percent", False,
              computed_by="data_quality",
              numerator_counts="persons.malformed_id", denominator_counts="persons.with_id"),
    Indicator("dq.unassessed_households", "data_quality", N_("Households without PMT score"),
              N_("registered households with no pmt_score"), N_("registered households"),
              "percent", False,
              computed_by="data_quality",
              numerator_counts="households.unassessed", denominator_counts="households.registered"),
    Indicator("dq.invalid_rows", "data_quality", N_("Rows left out of the indicators"),
              N_("rows that break the registry contract's rules, whatever their dates"),
              N_("rows of the table"), "percent", False, breakdowns=TABLE, headline=True,
              note=N_("Whole registry only: a left-out row often has no known area."),
              computed_by="data_quality", whole_registry_only=True,
              numerator_counts="rows.left_out", denominator_counts="rows.all"),
    Indicator("dq.malformed_dates", "data_quality", N_("Unreadable dates"),
              N_("rows holding a date that is not a valid date (YYYY-MM-DD), whatever their "
                 "dates"),
              N_("rows of the table"), "percent", False, breakdowns=TABLE,
              note=N_("Whole registry only. An unreadable date is read as no date: an "
                      "unreadable registration date leaves the row unregistered, an unreadable "
                      "end date leaves an enrolment open. Registries that store dates as dates "
                      "have none."),
              computed_by="data_quality", whole_registry_only=True,
              numerator_counts="rows.unreadable_date", denominator_counts="rows.all"),
)

BY_ID: dict[str, Indicator] = {i.id: i for i in CATALOGUE}


@dataclass(frozen=True)
class Quantity:
    """What a numerator or denominator counts, as a set: the units of ``universe`` that meet
    every condition of ``where`` ("not x" is the complement of x) and, when ``within`` names
    breakdown cells, fall in one of them (the union of those cells of the same universe).

    Two quantities of one universe whose conditions differ by one condition and its negation
    split a third: ``{eligible}`` = ``{eligible, enrolled}`` + ``{eligible, not enrolled}``.
    A quantity ``within`` breakdowns is their sum: adults = ``age=18-59`` + ``age=60+``.
    Donor suppression takes every such sum as an equation (indicators.suppression).
    """

    name: str
    universe: str
    where: frozenset[str] = frozenset()
    within: tuple[str, ...] = ()


def _q(name: str, universe: str, *where: str, within: tuple[str, ...] = ()) -> Quantity:
    return Quantity(name, universe, frozenset(where), within)


ADULT_AGES = ("age=18-59", "age=60+")

# Every count the catalogue's numerators and denominators name (Indicator.numerator_counts,
# Indicator.denominator_counts). Rows left out of the indicators count in the data-quality
# figures of coarse areas and of the whole registry: there a sum below is an inequality,
# which suppression may take as an equation (it then hides more, never less).
QUANTITIES: tuple[Quantity, ...] = (
    # Units of one programme (person or household), stock on the as-of date.
    _q("programme.eligible", "programme units", "eligible"),
    _q("programme.enrolled", "programme units", "enrolled"),
    _q("programme.eligible_enrolled", "programme units", "eligible", "enrolled"),
    _q("programme.eligible_not_enrolled", "programme units", "eligible", "not enrolled"),
    _q("programme.enrolled_not_eligible", "programme units", "enrolled", "not eligible"),
    _q("programme.enrolled_more_than_once", "programme units", "enrolled",
       "enrolled more than once"),
    # Households.
    _q("households.registered", "households"),
    _q("households.poor", "households", "poor"),
    _q("households.poor_receiving", "households", "poor", "receiving a programme"),
    _q("households.unassessed", "households", "no PMT score"),
    _q("households.eligible_two_or_more", "households", "eligible for two or more"),
    _q("households.complete_package", "households", "eligible for two or more",
       "receiving every programme it is eligible for"),
    _q("households.receiving_exclusive", "households", "receiving an exclusive programme"),
    _q("households.double_dipping", "households", "receiving an exclusive programme",
       "receiving two of one exclusive group"),
    _q("programmes_received.poor", "programmes received by households", "poor"),
    # Persons.
    _q("persons.registered", "persons"),
    _q("persons.covered", "persons", "covered"),
    _q("persons.with_id", "persons", "national id"),
    _q("persons.well_formed_id", "persons", "national id", "well formed"),
    _q("persons.malformed_id", "persons", "national id", "not well formed"),
    _q("persons.shared_id", "persons", "national id", "well formed", "shared"),
    _q("persons.adults", "persons", within=ADULT_AGES),
    _q("persons.adults_without_id", "persons", "no national id", within=ADULT_AGES),
    _q("census.population", "census population"),
    _q("pairs.suspected", "suspected duplicate pairs"),
    # Referrals, over the period.
    _q("referrals.made", "referrals", "made"),
    _q("referrals.completed", "referrals", "made", "completed"),
    _q("referrals.rejected", "referrals", "made", "rejected"),
    _q("referrals.open_at_end", "referrals", "open at the end"),
    _q("referrals.overdue", "referrals", "open at the end", "overdue"),
    # Rows of the registry's tables (data quality, whole registry).
    _q("rows.all", "rows"),
    _q("rows.left_out", "rows", "left out"),
    _q("rows.unreadable_date", "rows", "an unreadable date"),
)
QUANTITY_BY_NAME: dict[str, Quantity] = {q.name: q for q in QUANTITIES}

# Indicators of the spec the engine does not compute yet (none since dup.suspected_pairs).
SPEC_IDS_NOT_YET_COMPUTED: frozenset[str] = frozenset()
# Indicators Socle computes beyond the spec (docs/spec-choices.md says why).
BEYOND_SPEC_IDS: frozenset[str] = frozenset({"dq.malformed_dates"})

LONG_FORM_COLUMNS: tuple[str, ...] = (
    "indicator_id", "area_id", "area_name", "level", "programme_id", "breakdown",
    "period_start", "period_end", "numerator", "denominator", "value",
)


def indicator(indicator_id: str) -> Indicator:
    try:
        return BY_ID[indicator_id]
    except KeyError:
        raise KeyError(f"unknown indicator `{indicator_id}`") from None
