"""The record-linkage job: read the registry's persons, score candidate pairs, cluster them.

    result = run_linkage(registry_engine, options, progress=callback)
    store_linkage_run(store, result)   # data_access.linkage_store, one transaction

Persons are read once through SQLAlchemy (Socle's read-only engine), in chunks, into an
in-process DuckDB (threads = the cores given, memory limit model.DEFAULT_MEMORY_LIMIT),
prepared there in SQL (digits-only ids and phones, birth-date parts; name keys, the sex and
the birth dates computed in Python once per distinct value and joined), then scored there by
Splink: Python never holds the persons, only the pairs found. Nothing is written to the
registry. The result holds the run's summary, the pairs at or above the threshold with the
evidence per comparison (the level's label and its match weight), and the clusters
(connected components of those pairs: persons registered more than once).

Deterministic for a seed: inputs are sorted by person id, u is sampled with the seed, EM
starts from fixed values, and the pairs are sorted before they are returned. Every route in
(``python -m linkage``, ``run_linkage()``, the benchmark) takes its defaults —
threshold, seed, threads, DuckDB memory limit — from model.py, so the same seed gives the
same pairs whichever ran it (tests/test_linkage_determinism.py runs the command under two
PYTHONHASHSEEDs).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import sqlalchemy as sa

from data_access.registry import connection
from data_access.schema import enrolment, person, programme
from linkage import model as linkage_model
from linkage.clusters import clusters
from linkage.dates import placeholder_days
from linkage.prepare import (  # noqa: F401  (prepare, read_persons: the job's API)
    PERSON_COLUMNS,
    _text_array,
    prepare,
    prepare_in_duckdb,
    read_persons,
    read_raw_persons,
)

Progress = Callable[[float, str], None]

PAIR_COLUMNS: tuple[str, ...] = (
    "person_id_a", "person_id_b", "match_probability", "match_weight", "blocked_by",
    "cluster_id", "area_id_a", "programmes_a", "programmes_b", "cross_programme",
    "same_programme",
)
EVIDENCE_COLUMNS: tuple[str, ...] = (
    "person_id_a", "person_id_b", "comparison", "level", "label", "match_weight",
)

@dataclass
class LinkageResult:
    """What a run found; stored by data_access.linkage_store.store_linkage_run."""

    started_at: dt.datetime
    seconds: float
    persons: int
    options: linkage_model.ModelOptions
    pairs: pd.DataFrame            # PAIR_COLUMNS, sorted by (person_id_a, person_id_b)
    evidence: pd.DataFrame         # EVIDENCE_COLUMNS
    blocking: pd.DataFrame         # rule, comparisons (pairs each pass adds)
    parameters: dict[str, Any]     # the trained model (m, u per level, prior)
    clusters: int = 0              # persons registered more than once
    records_in_clusters: int = 0
    as_of: dt.date | None = None
    # With a truth (run_linkage(truth=...)): evaluate.blocking_recall on the prepared persons.
    blocking_recall: pd.DataFrame | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def _noop(fraction: float, message: str) -> None:
    pass


# --- enrolments: what each person of a pair receives --------------------------------------

def active_programmes(engine: sa.Engine, person_ids: list[str], as_of: dt.date
                      ) -> dict[str, tuple[str | None, set[str], set[str]]]:
    """For each person: their household id, the programmes of their own active enrolments
    on ``as_of``, and those of their household's."""
    if not person_ids:
        return {}
    wanted = sorted(set(person_ids))
    out: dict[str, tuple[str | None, set[str], set[str]]] = {}
    active = sa.and_(enrolment.c.enrolled_on <= as_of,
                     sa.or_(enrolment.c.ended_on.is_(None), enrolment.c.ended_on > as_of),
                     enrolment.c.programme_id.in_(sa.select(programme.c.programme_id)))
    with connection(engine) as conn:
        for start in range(0, len(wanted), 5000):
            chunk = wanted[start:start + 5000]
            for pid, hid in conn.execute(sa.select(person.c.person_id, person.c.household_id)
                                         .where(person.c.person_id.in_(chunk))):
                out[pid] = (hid, set(), set())
            own = sa.select(enrolment.c.person_id, enrolment.c.programme_id).where(
                active, enrolment.c.person_id.in_(chunk))
            for pid, prog in conn.execute(own):
                out[pid][1].add(prog)
            by_household = (
                sa.select(person.c.person_id, enrolment.c.programme_id)
                .select_from(person.join(enrolment,
                                         enrolment.c.household_id == person.c.household_id))
                .where(active, person.c.person_id.in_(chunk))
            )
            for pid, prog in conn.execute(by_household):
                out[pid][2].add(prog)
    return out


# --- the Splink run ------------------------------------------------------------------------

def _quiet_splink() -> None:
    for name in ("splink", "splink.internals"):
        logging.getLogger(name).setLevel(logging.ERROR)


def _level_labels() -> dict[str, dict[int, str]]:
    """For each comparison, its gamma value -> label (Splink numbers levels from the last:
    else = 0, null = -1)."""
    out: dict[str, dict[int, str]] = {}
    for comp in linkage_model.comparisons():
        levels = comp["comparison_levels"]
        non_null = [lv for lv in levels if not lv.get("is_null_level")]
        labels = {len(non_null) - 1 - i: lv["label_for_charts"] for i, lv in enumerate(non_null)}
        if any(lv.get("is_null_level") for lv in levels):
            labels[-1] = next(lv["label_for_charts"] for lv in levels if lv.get("is_null_level"))
        out[comp["output_column_name"]] = labels
    return out


def _trained_parameters(linker) -> dict[str, Any]:
    settings = linker.misc.save_model_to_json()
    out: dict[str, Any] = {
        "probability_two_random_records_match":
            settings.get("probability_two_random_records_match"),
        "comparisons": {},
    }
    for comp in settings["comparisons"]:
        out["comparisons"][comp["output_column_name"]] = [
            {"label": lv.get("label_for_charts"), "m": lv.get("m_probability"),
             "u": lv.get("u_probability")}
            for lv in comp["comparison_levels"] if not lv.get("is_null_level")
        ]
    return out


# m probabilities are kept at or above this after training: a level never seen among the
# duplicates of one registry (a sex recorded wrongly, two different ids) must not veto a
# pair outright in another.
M_FLOOR = 1e-3


def exact_u(con, table: str) -> dict[tuple[str, str], float]:
    """u probabilities counted exactly (value frequencies) for the rare exact-match levels
    that random sampling seldom sees: same id, one id digit apart, same household (first
    names alike or not), same phone in another household, swapped names. Keyed by (comparison, level label)."""
    def scalar(sql: str) -> float:
        value = con.execute(sql).fetchall()[0][0]
        return float(value or 0)

    def pairs_of(column: str) -> float:
        return scalar(f"SELECT count(*) FROM {table} WHERE {column} IS NOT NULL")

    def same(columns: str, where: str) -> float:
        return scalar(f"SELECT sum(n * (n - 1) / 2) FROM (SELECT count(*) AS n FROM {table} "
                      f"WHERE {where} GROUP BY {columns})")

    def share(count: float, persons: float) -> float:
        total = persons * (persons - 1) / 2
        return max(count, 1.0) / total if total > 0 else 1.0

    everyone = scalar(f"SELECT count(*) FROM {table}")
    with_id = pairs_of("national_id")
    same_id = same("national_id", "national_id IS NOT NULL")
    # Ids one digit apart: pairs equal once position i is masked, less the equal pairs.
    masked = sum(same(f"substr(national_id, 1, {i}) || substr(national_id, {i + 2})",
                      "national_id IS NOT NULL AND length(national_id) = 13")
                 for i in range(13))
    one_digit = max(masked - 13 * same("national_id",
                                         "national_id IS NOT NULL AND length(national_id) = 13"),
                    0)
    # The pairs of each same-household level (a household has few members: its pairs are
    # counted one by one, each at the first level it meets, as the comparison does).
    pair_columns = ", ".join(f"l.{c} AS {c}_l, r.{c} AS {c}_r"
                             for c in linkage_model.MODEL_COLUMNS)
    household_levels = linkage_model.SAME_HOUSEHOLD_LEVELS
    case = ("CASE " + " ".join(f"WHEN {sql} THEN {i}" for i, (_, sql) in enumerate(household_levels))
            + " END")
    per_level = dict(con.execute(
        f"SELECT {case} AS level, count(*) FROM (SELECT {pair_columns} FROM {table} l "
        f"JOIN {table} r ON l.household_id = r.household_id AND l.unique_id < r.unique_id) "
        f"GROUP BY 1").fetchall())
    phone_other = (same("phone", "phone IS NOT NULL")
                   - same("phone, household_id", "phone IS NOT NULL"))
    with_first = pairs_of("first_key")

    def swapped_pairs() -> float:
        # Pairs whose first and last names are each other's.
        where = "first_key IS NOT NULL AND last_key IS NOT NULL"
        return scalar(
            f"WITH k AS (SELECT first_key a, last_key b, count(*) n FROM {table} "
            f"WHERE {where} AND first_key < last_key GROUP BY 1, 2), "
            f"j AS (SELECT last_key a, first_key b, count(*) n FROM {table} "
            f"WHERE {where} AND first_key > last_key GROUP BY 1, 2) "
            f"SELECT sum(k.n * j.n) FROM k JOIN j USING (a, b)")

    # Swapped pairs whatever their birth years (the level also asks for years two apart at
    # most): an upper bound, a weaker level.
    swapped = swapped_pairs()
    return {
        ("national_id", "same id"): share(same_id, with_id),
        ("national_id", "one digit apart"): share(one_digit, with_id),
        **{("household", label): share(float(per_level.get(i, 0)), everyone)
           for i, (label, _) in enumerate(household_levels)},
        ("household", "same phone, other household"): share(phone_other, everyone),
        ("first_name", linkage_model.SWAPPED): share(swapped, with_first),
    }


def _m_values(model: dict[str, Any]) -> dict[tuple[str, str], float | None]:
    """Each non-null level's m probability, keyed by (comparison, level label)."""
    return {(comp["output_column_name"], level.get("label_for_charts")): level.get("m_probability")
            for comp in model["comparisons"] for level in comp["comparison_levels"]
            if not level.get("is_null_level")}


def _patched(model: dict[str, Any], *, u: dict[tuple[str, str], float] | None = None,
             m_floor: float | None = None,
             floor_levels: set[tuple[str, str]] = frozenset()) -> dict[str, Any]:
    """``u``: these levels' u probabilities; ``m_floor``: the least m of any level, and the m
    of the ``floor_levels``."""
    for comp in model["comparisons"]:
        for level in comp["comparison_levels"]:
            if level.get("is_null_level"):
                continue
            key = (comp["output_column_name"], level.get("label_for_charts"))
            if u and key in u:
                level["u_probability"] = u[key]
            m = level.get("m_probability")
            if m_floor is not None and isinstance(m, float) and (m < m_floor
                                                                 or key in floor_levels):
                level["m_probability"] = m_floor
    return model


def connect(threads: int = linkage_model.DEFAULT_THREADS,
            memory_limit: str | None = linkage_model.DEFAULT_MEMORY_LIMIT):
    """An in-process DuckDB with the job's threads and memory limit."""
    import duckdb

    con = duckdb.connect(":memory:")
    con.execute(f"SET threads = {int(threads)}")
    if memory_limit:
        con.execute(f"SET memory_limit = '{memory_limit}'")
    return con


def score(con, options: linkage_model.ModelOptions, *, persons: str = "persons",
          progress: Progress = _noop) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, Any]]:
    """Train the model on the prepared table ``persons`` of the DuckDB ``con`` (from
    prepare_in_duckdb) and score the blocked pairs.

    Returns the scored pairs at or above the threshold (Splink's columns, with gamma_ and
    mw_ per comparison), the pairs each blocking pass adds and the trained parameters.
    """
    from splink import DuckDBAPI, Linker

    _quiet_splink()
    db_api = DuckDBAPI(connection=con)
    table = db_api.register(persons, table_name="persons_input")
    linker = Linker(table, linkage_model.settings(options), log_level=logging.ERROR)

    progress(0.05, "estimating the share of duplicates")
    linker.training.estimate_probability_two_random_records_match(
        [linkage_model.PRIOR_RULE], recall=options.prior_recall)
    progress(0.15, "estimating u on random pairs")
    linker.training.estimate_u_using_random_sampling(
        max_pairs=options.u_max_pairs, seed=options.seed)
    model = _patched(linker.misc.save_model_to_json(), u=exact_u(con, persons))
    starting = _m_values(model)
    linker = Linker(table, model, log_level=logging.ERROR)
    notes: list[str] = []
    for i, rule in enumerate(linkage_model.EM_RULES):
        progress(0.3 + 0.1 * i, f"training (pass {i + 1} of {len(linkage_model.EM_RULES)})")
        try:
            linker.training.estimate_parameters_using_expectation_maximisation(rule)
            model = linker.misc.save_model_to_json()
        except ValueError as exc:
            # Too few pairs (a small registry) can drive an m probability to underflow;
            # the starting values of the model are kept for what this pass would train.
            notes.append(f"training pass {i + 1} ({rule}) skipped: {exc}")
            linker = Linker(table, model, log_level=logging.ERROR)
    model = linker.misc.save_model_to_json()
    # A level no pair of the training passes reached keeps its starting m (Splink leaves
    # it): with every pass run, it was not seen among the duplicates, and gets the floor.
    unseen = set() if notes else {key for key, m in _m_values(model).items()
                                  if m == starting.get(key)}
    model = _patched(model, m_floor=M_FLOOR, floor_levels=unseen)
    linker = Linker(table, model, log_level=logging.ERROR)
    progress(0.6, "scoring blocked pairs")
    predictions = linker.inference.predict(threshold_match_probability=options.threshold)
    frame = predictions.as_pandas_dataframe()
    parameters = _trained_parameters(linker)
    parameters["notes"] = notes
    progress(0.9, "counting blocked pairs")
    counts = _blocking_counts(table, options.blocking_sample)
    return frame, counts, parameters


def _blocking_counts(table, sample: float) -> pd.DataFrame:
    """Pairs each blocking pass adds (after the passes before it), estimated by Splink from a
    deterministic sample of records (``sample`` = 1: exact)."""
    from splink.blocking_analysis import count_comparisons_from_blocking_rules

    with warnings.catch_warnings():  # "based on few sampled pairs": an estimate is enough
        warnings.simplefilter("ignore", UserWarning)
        records = count_comparisons_from_blocking_rules(
            table, blocking_rules=[sql for _, sql in linkage_model.BLOCKING_RULES],
            link_type="dedupe_only", record_sample_proportion=sample)
    return pd.DataFrame({
        "rule": [name for name, _ in linkage_model.BLOCKING_RULES],
        "comparisons": [int(r["marginal_comparison_count"]) if isinstance(r, dict)
                        else int(r.marginal_comparison_count) for r in records],
    })


def run_linkage(engine: sa.Engine, options: linkage_model.ModelOptions | None = None, *,
                threads: int = linkage_model.DEFAULT_THREADS,
                memory_limit: str | None = linkage_model.DEFAULT_MEMORY_LIMIT,
                as_of: dt.date | None = None, truth: set[tuple[str, str]] | None = None,
                progress: Progress = _noop) -> LinkageResult:
    """Run the job on the registry ``engine``; nothing is written anywhere.

    The persons are read in chunks into an in-process DuckDB, prepared there and scored there;
    Python holds only the pairs found. ``truth`` (pairs known to be duplicates, as
    evaluate.read_truth gives them): the blocking recall is computed on the prepared table
    too, in ``result.blocking_recall``.
    """
    from linkage import evaluate

    options = options or linkage_model.ModelOptions()
    started = time.perf_counter()
    started_at = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    progress(0.0, "reading persons")
    con = connect(threads, memory_limit)
    try:
        persons = read_raw_persons(engine, con, "raw_persons")
        progress(0.04, "preparing persons")
        prepare_in_duckdb(con, "raw_persons", "persons")
        con.execute("DROP TABLE raw_persons")
        if options.placeholder_days is None:
            options = dataclasses.replace(options, placeholder_days=placeholder_days(con, "persons"))
        raw, blocking, parameters = score(
            con, options, persons="persons", progress=lambda f, m: progress(0.05 + 0.8 * f, m))
        areas = _areas(con, "persons", raw)
        recall = evaluate.blocking_recall(con, truth, table="persons") if truth is not None \
            else None
    finally:
        con.close()
    progress(0.9, "clustering and enrolments")
    pairs, evidence = _pairs_and_evidence(raw, areas)
    if as_of is None:
        from data_access.registry import default_as_of
        as_of = default_as_of(engine)
    programmes = active_programmes(engine, list(pairs["person_id_a"]) + list(pairs["person_id_b"]),
                                   as_of)
    _flag_programmes(pairs, programmes)
    result = LinkageResult(
        started_at=started_at, seconds=time.perf_counter() - started, persons=persons,
        options=options, pairs=pairs, evidence=evidence, blocking=blocking,
        parameters=parameters, as_of=as_of, blocking_recall=recall)
    component_sizes = pairs.groupby("cluster_id").size() if len(pairs) else pd.Series(dtype=int)
    members = set(pairs["person_id_a"]) | set(pairs["person_id_b"])
    result.clusters = int(len(component_sizes))
    result.records_in_clusters = len(members)
    progress(1.0, f"{len(pairs):,} suspected pairs")
    return result


def _areas(con, persons: str, raw: pd.DataFrame) -> pd.Series:
    """The area (as prepared) of each person of the scored pairs, indexed by person id."""
    if raw.empty:
        return pd.Series(dtype=object)
    ids = pa.table({"unique_id": _text_array(
        sorted(set(raw["unique_id_l"].astype(str)) | set(raw["unique_id_r"].astype(str))))})
    con.register("linkage_pair_ids", ids)
    try:
        found = con.execute(f"SELECT p.unique_id, p.area_id FROM {persons} p "
                            "JOIN linkage_pair_ids USING (unique_id)").fetchall()
    finally:
        con.unregister("linkage_pair_ids")
    return pd.Series({pid: area for pid, area in found}, dtype=object)


def _comparison_weight(raw: pd.DataFrame, name: str) -> pd.Series | float:
    """A comparison's match weight in a pair, with its term-frequency adjustment (agreeing on
    a rare name weighs more than on Muhammad): the weights of a pair's comparisons then add
    up, with the prior, to the pair's match weight."""
    if f"mw_{name}" not in raw:
        return np.nan
    weight = raw[f"mw_{name}"].astype(float)
    if f"mw_tf_adj_{name}" in raw:
        weight = weight + raw[f"mw_tf_adj_{name}"].astype(float)
    return weight.round(6)


def _pairs_and_evidence(raw: pd.DataFrame, areas: pd.Series
                        ) -> tuple[pd.DataFrame, pd.DataFrame]:
    labels = _level_labels()
    if raw.empty:
        return (pd.DataFrame(columns=list(PAIR_COLUMNS)),
                pd.DataFrame(columns=list(EVIDENCE_COLUMNS)))
    a = raw["unique_id_l"].astype(str)
    b = raw["unique_id_r"].astype(str)
    swap = a > b
    pairs = pd.DataFrame({
        "person_id_a": np.where(swap, b, a),
        "person_id_b": np.where(swap, a, b),
        "match_probability": raw["match_probability"].astype(float).round(9),
        "match_weight": raw["match_weight"].astype(float).round(6),
        "blocked_by": raw["match_key"].astype(str) if "match_key" in raw else "",
    })
    rules = [name for name, _ in linkage_model.BLOCKING_RULES]
    pairs["blocked_by"] = [rules[int(k)] if str(k).isdigit() and int(k) < len(rules) else k
                           for k in pairs["blocked_by"]]
    order = np.lexsort((pairs["person_id_b"].to_numpy(), pairs["person_id_a"].to_numpy()))
    pairs = pairs.iloc[order].reset_index(drop=True)
    raw = raw.iloc[order].reset_index(drop=True)
    pairs["cluster_id"] = clusters(pairs)
    pairs["area_id_a"] = pairs["person_id_a"].map(areas)
    rows = []
    for name, level_labels in labels.items():
        gamma = raw[f"gamma_{name}"].astype(int)
        weight = _comparison_weight(raw, name)
        rows.append(pd.DataFrame({
            "person_id_a": pairs["person_id_a"], "person_id_b": pairs["person_id_b"],
            "comparison": name, "level": gamma,
            "label": gamma.map(level_labels), "match_weight": weight,
        }))
    evidence = pd.concat(rows, ignore_index=True)
    return pairs, evidence


def _flag_programmes(pairs: pd.DataFrame,
                     programmes: dict[str, tuple[str | None, set[str], set[str]]]) -> None:
    """What each record of a pair receives, and the double-enrolment flags.

    A record receives its own enrolments' programmes and its household's; for two records of
    one household the household's are the same enrolment, so only their own count.
    ``cross_programme``: the two records receive different programmes (one person drawing
    from two programmes under two records); ``same_programme``: they receive one programme
    twice.
    """
    nothing: tuple[str | None, set[str], set[str]] = (None, set(), set())
    a_sets, b_sets = [], []
    for a, b in zip(pairs["person_id_a"], pairs["person_id_b"], strict=True):
        hid_a, own_a, house_a = programmes.get(a, nothing)
        hid_b, own_b, house_b = programmes.get(b, nothing)
        shared = hid_a is not None and hid_a == hid_b
        a_sets.append(own_a if shared else own_a | house_a)
        b_sets.append(own_b if shared else own_b | house_b)
    pairs["programmes_a"] = [",".join(sorted(s)) or None for s in a_sets]
    pairs["programmes_b"] = [",".join(sorted(s)) or None for s in b_sets]
    pairs["same_programme"] = [bool(x & y) for x, y in zip(a_sets, b_sets, strict=True)]
    pairs["cross_programme"] = [any(p != q for p in x for q in y)
                                for x, y in zip(a_sets, b_sets, strict=True)]
