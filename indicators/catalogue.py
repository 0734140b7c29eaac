"""The indicator catalogue: every figure Socle shows, declared once as data.

Pages, exports, docs and tests read this list. Definitions follow ../shared/spec/indicators.md.
"""

from __future__ import annotations

from dataclasses import dataclass

PROGRAMME = "programme"
SEX = ("sex=F", "sex=M", "sex=X")
AGE = ("age=0-17", "age=18-59", "age=60+", "age=unknown")
DISABILITY = ("disability=yes", "disability=no")
ACCESS_POINT = "access_point"
TABLE = ("table=household", "table=person", "table=enrolment", "table=referral")


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

    @property
    def definition(self) -> str:
        if not self.denominator:
            return self.numerator
        return f"{self.numerator} ÷ {self.denominator}"

    @property
    def number_format(self) -> str:
        """Excel number format of the value."""
        return {"percent": "0.0%", "count": "#,##0", "mean": "0.00",
                "days": "0.0", "per_1000": "0.00"}[self.unit]

    def format_value(self, value: float | None, extra_decimals: int = 0) -> str:
        """The value for people; ``extra_decimals`` more than usual where two values must be
        told apart (a map legend's narrow classes)."""
        if value is None or value != value:  # None or NaN
            return "–"
        more = max(int(extra_decimals), 0)
        if self.unit == "percent":
            return f"{value:.{1 + more}%}"
        if self.unit == "count":
            return f"{value:,.{more}f}"
        if self.unit == "per_1000":
            return f"{value * 1000:.{2 + more}f} per 1,000"
        if self.unit == "days":
            return f"{value:.{1 + more}f} days"
        return f"{value:.{2 + more}f}"


CATALOGUE: tuple[Indicator, ...] = (
    # Coverage
    Indicator("cov.programme", "coverage", "Programme coverage",
              "eligible units of the programme that are enrolled",
              "eligible units of the programme", "percent", True, per_programme=True,
              computed_by="programme_coverage"),
    Indicator("cov.exclusion", "coverage", "Exclusion error",
              "eligible units of the programme that are not enrolled",
              "eligible units of the programme", "percent", False, per_programme=True,
              computed_by="programme_coverage"),
    Indicator("cov.inclusion", "coverage", "Inclusion error",
              "enrolled units of the programme that are not eligible",
              "enrolled units of the programme", "percent", False, per_programme=True,
              computed_by="programme_coverage"),
    Indicator("cov.poor_households", "coverage", "Coverage of the poor",
              "poor registered households that receive at least one programme",
              "poor registered households", "percent", True, headline=True,
              computed_by="households"),
    Indicator("cov.population", "coverage", "Population coverage",
              "registered persons who are covered", "registered persons", "percent", True,
              breakdowns=SEX + AGE + DISABILITY, headline=True,
              computed_by="population"),
    Indicator("cov.population_census", "coverage", "Coverage of the census population",
              "registered persons who are covered",
              "the area's recorded census population (whole registry: sum over level-1 areas)",
              "percent", True,
              computed_by="population"),
    # Combined benefit packages
    Indicator("pkg.complete", "packages", "Complete benefit packages",
              "households eligible for two or more programmes that receive every programme "
              "they are eligible for",
              "households eligible for two or more programmes", "percent", True,
              computed_by="households"),
    Indicator("pkg.mean_programmes_poor", "packages", "Programmes per poor household",
              "programmes received, summed over poor registered households",
              "poor registered households", "mean", True,
              computed_by="households"),
    # Referrals
    Indicator("ref.made", "referrals", "Referrals made",
              "referrals made in the period", "", "count", None, kind="flow",
              breakdowns=(PROGRAMME, ACCESS_POINT), headline=False,
              computed_by="referrals"),
    Indicator("ref.completed", "referrals", "Referrals completed",
              "referrals made in the period that were completed by its end",
              "referrals made in the period", "percent", True, kind="flow",
              breakdowns=(PROGRAMME, ACCESS_POINT),
              computed_by="referrals"),
    Indicator("ref.rejected", "referrals", "Referrals rejected",
              "referrals made in the period that were rejected by its end",
              "referrals made in the period", "percent", False, kind="flow",
              breakdowns=(PROGRAMME, ACCESS_POINT),
              computed_by="referrals"),
    Indicator("ref.overdue", "referrals", "Referrals overdue",
              "referrals open at the end of the period, made more than the SLA days before it",
              "referrals open at the end of the period", "percent", False, kind="flow",
              breakdowns=(PROGRAMME, ACCESS_POINT), headline=True,
              computed_by="referrals"),
    Indicator("ref.days_to_complete", "referrals", "Median days to complete a referral",
              "median of days from referral to completion, over referrals completed in the period",
              "", "days", False, kind="flow", breakdowns=(PROGRAMME,),
              computed_by="referrals"),
    # Duplicates
    Indicator("dup.shared_id", "duplicates", "Shared national ids",
              "registered persons whose well-formed national id is also held by another "
              "registered person",
              "registered persons with a well-formed national id", "percent", False,
              computed_by="duplicates"),
    Indicator("dup.double_enrolment", "duplicates", "Double enrolment",
              "(unit, programme) pairs with two or more active enrolments",
              "(unit, programme) pairs with at least one active enrolment", "percent", False,
              computed_by="duplicates"),
    Indicator("dup.double_dipping", "duplicates", "Double dipping",
              "households that receive two or more programmes of the same exclusive group",
              "households that receive at least one programme with an exclusive group",
              "percent", False, headline=True,
              computed_by="households"),
    Indicator("dup.suspected_pairs", "duplicates", "Suspected duplicate pairs",
              "suspected duplicate person pairs found by record linkage and not yet dismissed, "
              "counted in the area of the pair's first person",
              "registered persons", "per_1000", False,
              note="Pairs of the latest linkage run that no officer has dismissed, both "
                   "persons registered; the first person is the smaller person id. Empty "
                   "before the job has run.",
              computed_by="suspected_pairs"),
    # Data quality
    Indicator("dq.adults_without_id", "data_quality", "Adults without national id",
              "registered persons aged 18 or more with no national id",
              "registered persons aged 18 or more", "percent", False,
              computed_by="data_quality"),
    Indicator("dq.malformed_id", "data_quality", "Malformed national ids",
              "registered persons whose national id is not 13 digits",
              "registered persons with a national id", "percent", False,
              computed_by="data_quality"),
    Indicator("dq.unassessed_households", "data_quality", "Households without PMT score",
              "registered households with no pmt_score", "registered households",
              "percent", False,
              computed_by="data_quality"),
    Indicator("dq.invalid_rows", "data_quality", "Rows left out of the indicators",
              "rows that break the registry contract's rules, whatever their dates",
              "rows of the table", "percent", False, breakdowns=TABLE, headline=True,
              note="Whole registry only: a left-out row often has no known area.",
              computed_by="data_quality", whole_registry_only=True),
    Indicator("dq.malformed_dates", "data_quality", "Unreadable dates",
              "rows holding a date that is not a valid date (YYYY-MM-DD), whatever their dates",
              "rows of the table", "percent", False, breakdowns=TABLE,
              note="Whole registry only. An unreadable date is read as no date: an unreadable "
                   "registration date leaves the row unregistered, an unreadable end date "
                   "leaves an enrolment open. Registries that store dates as dates have none.",
              computed_by="data_quality", whole_registry_only=True),
)

BY_ID: dict[str, Indicator] = {i.id: i for i in CATALOGUE}

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
