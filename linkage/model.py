"""The linkage model: Splink (Fellegi-Sunter) comparisons, blocking passes and training.

Five comparisons, each a Splink CustomComparison over the prepared columns (job.prepare):

- ``first_name``: spelling-aware (names.key / core / skeleton) and swap-aware (first and last
  names exchanged: evidence only with the father's name agreeing, or unknown, and birth
  years at most two apart);
- ``birth_date``: day/month swaps, year off by one, year-only placeholders (dates.py);
- ``national_id``: same, one digit keyed wrong, different;
- ``sex``;
- ``household``: the household context as **one** comparison. Household members share
  surname, father's name, village and phone; scored as independent comparisons these would
  add up and make brothers look like one person. One comparison with ordered levels
  (same household; same family name and father in the same area; ... ) counts the context
  once.

Blocking passes (a pair is scored once, by the first rule that finds it): national id;
phone; first-name key with area; name and birth date; swapped names; surname, father and
first letter. Training is unsupervised: u from random pairs (seeded), m by expectation
maximisation on two blocking rules, the prior from a deterministic rule with an assumed
recall.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from core.settings import default_of
from data_access.dialects import linkage_sql
from linkage.blocking import BlockingPass
from linkage.dates import BIRTH_DATE_NULL, PLACEHOLDER_DAYS, birth_date_levels
from linkage.prepare import MODEL_COLUMNS  # noqa: F401  (the model's input, named here too)

# The columns shown to an officer for each comparison (evidence values), in the registry's words.
EVIDENCE_FIELDS: dict[str, tuple[str, ...]] = {
    "first_name": ("first_name", "last_name"),
    "birth_date": ("birth_date",),
    "national_id": ("national_id",),
    "sex": ("sex",),
    "household": ("household_id", "area_id", "last_name", "father_name", "phone"),
}


# The level that reads "agrees" to a reviewer when it is not a comparison's first: two
# records of one household with unlike first names (first) only partly agree.
AGREEING_LEVEL: dict[str, str] = {"household": "same household"}


def _level(sql: str, label: str, m: float | None = None, *, null: bool = False,
           tf: str | None = None) -> dict[str, Any]:
    """A comparison level; ``m``: its starting m probability (before training; kept when a
    training pass cannot run, as on a very small registry)."""
    level: dict[str, Any] = {"sql_condition": sql, "label_for_charts": label}
    if null:
        level["is_null_level"] = True
    if m is not None:
        level["m_probability"] = m
    if tf is not None:
        # Term frequency: agreeing on a common name (Muhammad, Ayesha) is weaker evidence
        # than agreeing on a rare one.
        level["tf_adjustment_column"] = tf
        level["tf_adjustment_weight"] = 1.0
    return level


# Starting m probabilities of the birth-date levels (dates.birth_date_levels, in order).
BIRTH_DATE_M: tuple[float, ...] = (0.45, 0.08, 0.15, 0.15, 0.05, 0.05, 0.07)

def one_edit(column: str) -> str:
    """``damerau_levenshtein(<column>_l, <column>_r) <= 1``, behind conditions it implies
    that cost far less: lengths at most one apart, and, from 3 letters, the same first or
    last letter (a slip anywhere else keeps the first letter; at the start, the last).
    DuckDB evaluates a condition's AND from the left, only on the rows still true, and the
    edit distance is the dearest function of the comparisons: most pairs never reach it."""
    a, b = f"{column}_l", f"{column}_r"
    return (f"(abs(length({a}) - length({b})) <= 1 "
            f"AND (left({a}, 1) = left({b}, 1) OR right({a}, 1) = right({b}, 1) "
            f"OR least(length({a}), length({b})) < 3) "
            f"AND damerau_levenshtein({a}, {b}) <= 1)")


_SWAPPED = "(first_key_l = last_key_r AND last_key_l = first_key_r)"
_NEAR_YEAR_LR = ("(birth_year_l IS NULL OR birth_year_r IS NULL "
                 "OR abs(birth_year_l - birth_year_r) <= 2)")
SWAPPED = "first and last names swapped"
SAME_BUT_FOR_TITLE = "same name but for Muhammad or a title (Bibi, Syed...)"
# Father's name: the same (spelling-aware: key, core or consonants), one slip apart in a name
# of 8 letters or more (Hilal and Bilal, Zahid and Zahir are different fathers), or one
# written as the other's given name only ("Ali Khan" and "Ali"): the shorter core (Muhammad
# left out) begins the longer one, at 3 letters or more.
_FATHER = ("(father_key_l = father_key_r OR father_core_l = father_core_r "
           "OR father_skel_l = father_skel_r "
           "OR (least(length(father_core_l), length(father_core_r)) >= 8 "
           f"AND {one_edit('father_core')}) "
           "OR (least(length(father_core_l), length(father_core_r)) >= 3 "
           "AND (starts_with(father_core_l, father_core_r) "
           "OR starts_with(father_core_r, father_core_l))))")
_FATHER_UNKNOWN = "(father_key_l IS NULL OR father_key_r IS NULL)"
# Father's and family names written the same (keys equal): rarer among strangers than alike
# (a slip, a given name only, a family name missing).
_WRITTEN_THE_SAME = "(father_key_l = father_key_r AND last_key_l = last_key_r)"
# Family name: the same (spelling-aware, one slip allowed in names of 4 letters or more),
# swapped with the first name, or missing on either side (no contradiction).
_SURNAME = ("(last_key_l IS NULL OR last_key_r IS NULL OR last_key_l = last_key_r "
            "OR last_skel_l = last_skel_r "
            "OR (least(length(last_key_l), length(last_key_r)) >= 4 "
            f"AND {one_edit('last_key')}) "
            f"OR {_SWAPPED})")


# First names alike: any first-name level above "different names" (spelling, title, one
# letter, consonants, similar, swapped with the family name).
NAMES_ALIKE = ("first_key_l = first_key_r OR first_core_l = first_core_r "
                "OR first_skel_l = first_skel_r "
                f"OR {one_edit('first_core')} "
                "OR jaro_winkler_similarity(first_key_l, first_key_r) >= 0.8 "
                f"OR {_SWAPPED}")


# The levels of two records of one household: (label, SQL), in the order of the household
# comparison; job.exact_u counts their u within households.
SAME_HOUSEHOLD_LEVELS: tuple[tuple[str, str], ...] = (
    ("same household, unlike first names",
     f"household_id_l = household_id_r AND NOT ({NAMES_ALIKE})"),
    ("same household, fathers' names differ",
     f"household_id_l = household_id_r AND NOT {_FATHER_UNKNOWN} AND NOT {_FATHER}"),
    ("same household", "household_id_l = household_id_r"),
)


def comparisons(placeholder_days: tuple[tuple[int, int], ...] = PLACEHOLDER_DAYS
                ) -> list[dict[str, Any]]:
    """The comparisons as Splink settings dicts (CustomComparison arguments); the birth-date
    levels know these month-days as year-only placeholders (labels do not depend on them)."""
    first_name = {
        "output_column_name": "first_name",
        "comparison_description": "first name (spelling-aware, swap-aware)",
        "comparison_levels": [
            _level("first_key_l IS NULL OR first_key_r IS NULL", "missing", null=True),
            _level("first_clean_l = first_clean_r", "same name", 0.55, tf="first_clean"),
            _level("first_key_l = first_key_r", "same name, other spelling", 0.15),
            # A swap counts with birth years at most two apart (or unknown); any other swap
            # is scored as the names compare (different names, mostly). The father's name is
            # left to the household comparison: a swap level requiring it too would count
            # the father twice (its u, counted over swaps with the same father, already
            # makes a family resemblance rare).
            _level(f"{_SWAPPED} AND {_NEAR_YEAR_LR}", SWAPPED, 0.07),
            _level("first_core_l = first_core_r", SAME_BUT_FOR_TITLE, 0.05),
            _level(f"{one_edit('first_key')} OR {one_edit('first_core')} "
                   "OR jaro_winkler_similarity(first_clean_l, first_clean_r) >= 0.92",
                   "one letter apart", 0.08),
            _level("first_skel_l = first_skel_r", "same consonants", 0.04),
            _level("jaro_winkler_similarity(first_key_l, first_key_r) >= 0.8",
                   "similar name", 0.03),
            _level("ELSE", "different names", 0.03),
        ],
    }
    birth_date = {
        "output_column_name": "birth_date",
        "comparison_description": "birth date (swaps, year off by one, year-only dates)",
        "comparison_levels": [
            _level(BIRTH_DATE_NULL, "missing", null=True),
            *[_level(sql, label, m, tf="birth_date" if i == 0 else None)
              for i, ((label, sql), m) in enumerate(zip(birth_date_levels(placeholder_days),
                                                       BIRTH_DATE_M, strict=True))],
            _level("ELSE", "different dates", 0.05),
        ],
    }
    national_id = {
        "output_column_name": "national_id",
        "comparison_description": "national id (digits only)",
        "comparison_levels": [
            _level("national_id_l IS NULL OR national_id_r IS NULL", "missing", null=True),
            _level("national_id_l = national_id_r", "same id", 0.55),
            _level(one_edit("national_id"),
                   "one digit apart", 0.35),
            _level("ELSE", "different ids", 0.1),
        ],
    }
    sex = {
        "output_column_name": "sex",
        "comparison_description": "sex",
        "comparison_levels": [
            _level("sex_l IS NULL OR sex_r IS NULL", "missing", null=True),
            _level("sex_l = sex_r", "same sex", 0.98),
            _level("ELSE", "different sex", 0.02),
        ],
    }
    household = {
        "output_column_name": "household",
        "comparison_description": "household context: household, family names, area, phone "
                                  "(one comparison, not several)",
        "comparison_levels": [
            # Two records of one household with unlike first names are mostly two
            # persons (twins share a birth date, siblings a father), and so are two
            # namesakes with different fathers (a son named after his father, a grandson
            # after his grandfather): levels of their own, weaker than "same household".
            _level(SAME_HOUSEHOLD_LEVELS[0][1], SAME_HOUSEHOLD_LEVELS[0][0], 0.01),
            _level(SAME_HOUSEHOLD_LEVELS[1][1], SAME_HOUSEHOLD_LEVELS[1][0], 0.01),
            _level(SAME_HOUSEHOLD_LEVELS[2][1], SAME_HOUSEHOLD_LEVELS[2][0], 0.25),
            _level(f"area_id_l = area_id_r AND {_WRITTEN_THE_SAME}",
                   "same family and father written the same, same area", 0.1),
            # The cheap equality first: DuckDB evaluates the rest only where it holds.
            _level(f"area_id_l = area_id_r AND {_FATHER} AND {_SURNAME}",
                   "same family and father, same area", 0.05),
            _level("phone_l = phone_r", "same phone, other household", 0.15),
            _level(_WRITTEN_THE_SAME, "same family and father written the same, other area", 0.2),
            _level(f"{_FATHER} AND {_SURNAME}", "same family and father, other area", 0.1),
            _level(f"area_id_l = area_id_r AND {_FATHER_UNKNOWN} AND {_SURNAME}",
                   "same family name, father unknown, same area", 0.04),
            _level(f"{_FATHER}", "same father's name", 0.08),
            _level(f"area_id_l = area_id_r AND {_SURNAME}", "same family name, same area", 0.04),
            _level(f"{_FATHER_UNKNOWN} AND {_SURNAME}",
                   "same family name, father unknown, other area", 0.03),
            _level("area_id_l = area_id_r", "same area", 0.03),
            _level("ELSE", "nothing in common", 0.05),
        ],
    }
    return [first_name, birth_date, national_id, sex, household]


# The blocking passes, declared as data (linkage.blocking): a pair is scored once, by the
# first pass that finds it. Null keys never block. Before scoring, the job counts each
# pass's candidate pairs on the registry at hand and, over the budget
# (ModelOptions.max_pairs_per_person), splits the blocks too large by the pass's
# refinement keys (``refine``), those duplicates keep best first.
_DAY_OR_YEAR_ONLY = ("((l.birth_month = r.birth_month AND l.birth_day = r.birth_day) "
                     "OR l.birth_day = 1 OR r.birth_day = 1)")

BLOCKING_PASSES: tuple[BlockingPass, ...] = (
    BlockingPass("national id", keys=("national_id",),
                 refine=("first_initial", "birth_year", "area_parent")),
    BlockingPass("phone", keys=("phone",), refine=("first_initial", "sex", "birth_year")),
    # The widest passes ask for birth years at most two apart, or either unknown: otherwise
    # they pair most of a village's namesakes.
    BlockingPass("first name and area", keys=("first_skel", "area_id"), year_window=2,
                 refine=("sex", "father_initial", "birth_year", "last_skel")),
    BlockingPass("first name and birth date", keys=("first_skel", "birth_date"),
                 refine=("sex", "area_parent", "father_initial")),
    # A slip in the first name, the same full birth date (not a 1st of a month, where
    # year-only dates gather).
    BlockingPass("birth date and initial", keys=("birth_date", "first_initial", "sex"),
                 where="{t}.birth_day <> 1",
                 refine=("area_parent", "father_initial", "last_skel")),
    # The same first name and family name, birth years one apart with the same day and
    # month, or one date on a 1st of a month (year-only: an age given): two passes, one per
    # direction, each an equality (a hash join) rather than one wide join filtered.
    BlockingPass("first and family name, a year older", keys=("first_core", "last_key"),
                 crossed=(("birth_year", "birth_year", 1),), pair_filter=_DAY_OR_YEAR_ONLY,
                 filter_columns=("birth_month", "birth_day")),
    BlockingPass("first and family name, a year younger", keys=("first_core", "last_key"),
                 crossed=(("birth_year", "birth_year", -1),), pair_filter=_DAY_OR_YEAR_ONLY,
                 filter_columns=("birth_month", "birth_day")),
    BlockingPass("names and birth year", keys=("name_pair", "birth_year"),
                 refine=("sex", "area_parent", "father_initial")),
    BlockingPass("father and initial", keys=("father_core", "first_initial", "sex"),
                 year_window=2, refine=("area_parent", "birth_year", "last_skel")),
    BlockingPass("surname, father and birth year",
                 keys=("last_skel", "father_core", "birth_year"),
                 refine=("first_initial", "sex", "area_parent")),
    BlockingPass("swapped names", crossed=(("first_key", "last_key", 0),
                                           ("last_key", "first_key", 0))),
)
# The passes as declared, (name, Splink SQL): what the job runs within the budget.
BLOCKING_RULES: tuple[tuple[str, str], ...] = tuple(
    (p.name, p.condition()) for p in BLOCKING_PASSES)

# Training: EM on two passes, each leaving out the comparisons its rule fixes.
# Each pass trains the comparisons whose columns its rule leaves out: the first (name, date
# and father alike: mostly duplicates, even among a million persons) trains national id and
# sex; the second trains names, dates and the household context. A pass blocked on the
# household is left out: its duplicates are outnumbered by twins and siblings, whom EM
# takes for duplicates with "different names".
EM_RULES: tuple[str, ...] = (
    "l.first_core = r.first_core AND l.birth_date = r.birth_date AND l.father_core = r.father_core",
    "l.national_id = r.national_id",
)
# The prior: pairs with the same name, same birth date and same father (a deterministic
# rule), assumed to be this share of all duplicates.
PRIOR_RULE = ("l.first_key = r.first_key AND l.birth_date = r.birth_date "
              "AND l.father_core = r.father_core AND l.sex = r.sex")
PRIOR_RECALL = 0.3


# The defaults of every route into the job (python -m linkage, run_linkage(),
# bench/bench_linkage.py): one place, so that the same seed gives the same pairs whichever
# route ran it.
DEFAULT_THRESHOLD = 0.5   # match probability from which a pair is suspected
DEFAULT_SEED = 1
DEFAULT_THREADS = 2       # DuckDB threads
# DuckDB's memory limit (it spills to disk beyond it). DuckDB's own default is 80 % of the
# machine's RAM, which it then takes when scoring a large registry; 1 GB costs no time.
DEFAULT_MEMORY_LIMIT = "1GB"
# Most candidate pairs per person (the [linkage] setting's default, core/settings.py).
DEFAULT_MAX_PAIRS_PER_PERSON: float = default_of("linkage.max_pairs_per_person")
# Learning from decisions: the standard deviation (natural log-odds) of the prior on each
# learned correction to the unsupervised model. Small: a few decisions nudge the model, many
# decisions on a level move it.
DEFAULT_LEARNING_PRIOR_SD = 1.0


@dataclass(frozen=True)
class ModelOptions:
    seed: int = DEFAULT_SEED
    threshold: float = DEFAULT_THRESHOLD  # match probability at which a pair is suspected
    u_max_pairs: float = 2e6        # random pairs for the u probabilities
    max_iterations: int = 25
    prior_recall: float = PRIOR_RECALL
    # Month-days written for a year-only birth date; None: found in the data by the job.
    placeholder_days: tuple[tuple[int, int], ...] | None = None
    # Most candidate pairs per person scored (adaptive blocking, linkage.blocking).
    max_pairs_per_person: float = DEFAULT_MAX_PAIRS_PER_PERSON
    # Prior of the corrections learned from officers' decisions (linkage.learning).
    learning_prior_sd: float = DEFAULT_LEARNING_PRIOR_SD


def in_dialect(comparison: dict[str, Any], dialect: str) -> dict[str, Any]:
    """A comparison (written in DuckDB's SQL) with its levels' conditions in ``dialect``'s."""
    def level(lv: dict[str, Any]) -> dict[str, Any]:
        if lv["sql_condition"].strip().upper() == "ELSE":
            return lv
        return {**lv, "sql_condition": linkage_sql(dialect, lv["sql_condition"])}

    return {**comparison, "comparison_levels": [level(lv) for lv in
                                                comparison["comparison_levels"]]}


def settings(options: ModelOptions,
             rules: Sequence[tuple[str, str]] = BLOCKING_RULES,
             dialect: str = "duckdb") -> dict[str, Any]:
    """The Splink settings dict (dedupe_only) for these options and blocking ``rules``
    (name, SQL; default: the passes as declared), for Splink on ``dialect`` (duckdb or
    spark: linkage.backends)."""
    return {
        "link_type": "dedupe_only",
        "unique_id_column_name": "unique_id",
        "comparisons": [in_dialect(c, dialect) for c in
                        comparisons(options.placeholder_days or PLACEHOLDER_DAYS)],
        "blocking_rules_to_generate_predictions": [
            {"blocking_rule": linkage_sql(dialect, sql), "sql_dialect": dialect}
            for _, sql in rules],
        "retain_matching_columns": True,
        "retain_intermediate_calculation_columns": True,
        "max_iterations": options.max_iterations,
        "em_convergence": 0.0001,
        "probability_two_random_records_match": 1e-6,
    }


def level_sql(comparison: dict[str, Any]) -> str:
    """A comparison as one SQL CASE giving its level's label (over ``<col>_l``/``<col>_r``)."""
    whens = []
    for level in comparison["comparison_levels"]:
        label = level["label_for_charts"].replace("'", "''")
        if level["sql_condition"].strip().upper() == "ELSE":
            whens.append(f"ELSE '{label}'")
        else:
            whens.append(f"WHEN {level['sql_condition']} THEN '{label}'")
    if not any(w.startswith("ELSE") for w in whens):
        whens.append("ELSE NULL")
    return "CASE " + " ".join(whens) + " END"


def compare_records(left: dict[str, Any], right: dict[str, Any]) -> dict[str, str]:
    """The level each comparison gives two person records (registry columns: person_id,
    household_id, area_id, national_id, first_name, last_name, father_name, phone, sex,
    birth_date), evaluated with the model's own SQL in DuckDB. For tests and single pairs."""
    import duckdb
    import pandas as pd

    from linkage.prepare import PERSON_COLUMNS, prepare_frame_in_duckdb

    rows = []
    for i, record in enumerate((left, right)):
        row = {c: record.get(c) for c in PERSON_COLUMNS}
        row["person_id"] = row["person_id"] or f"record-{i}"
        row["household_id"] = row["household_id"] or f"household-{i}"
        row["area_id"] = row["area_id"] or f"area-{i}"
        rows.append(row)
    columns = ", ".join(f"l.{c} AS {c}_l, r.{c} AS {c}_r" for c in MODEL_COLUMNS)
    cases = ", ".join(f"{level_sql(c)} AS {c['output_column_name']}" for c in comparisons())
    con = duckdb.connect(":memory:")
    try:
        # Prepared in place, typed as the job's table is (two missing birth dates stay DATEs).
        prepare_frame_in_duckdb(
            con, pd.DataFrame(rows, columns=list(PERSON_COLUMNS), dtype=object), "p")
        row = con.execute(
            f"WITH pair AS (SELECT {columns} FROM p l, p r "
            f"WHERE l.unique_id = '{rows[0]['person_id']}' "
            f"AND r.unique_id = '{rows[1]['person_id']}') SELECT {cases} FROM pair").df()
    finally:
        con.close()
    return {name: row.loc[0, name] for name in row.columns}
