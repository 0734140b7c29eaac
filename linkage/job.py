"""The record-linkage job: read the registry's persons, score candidate pairs, cluster them.

    result = run_linkage(registry_engine, options, progress=callback)
    store_linkage_run(store, result)   # data_access.linkage_store, one transaction

Persons are read once through SQLAlchemy (Socle's read-only engine), in chunks, into an
in-process DuckDB (threads = the cores given, memory limit model.DEFAULT_MEMORY_LIMIT),
prepared there in SQL (digits-only ids and phones, birth-date parts; name keys, the sex and
the birth dates computed in Python once per distinct value and joined), then scored there by
Splink (or on Spark, from the same prepared persons: linkage.backends): Python never holds the
persons, only the pairs found. Nothing is written to the
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
import math
import time
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
from linkage.backends import Backend, DuckDBBackend, linkage_backend
from linkage.blocking import BlockingPlan, plan_blocking
from linkage.clusters import clusters
from linkage.dates import placeholder_days
from linkage.learning import (
    Learned,
    comparison_levels,
    fit,
    labelled_pairs,
    prior_information,
    review_ranks,
    score_pairs,
)
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
    "same_programme", "review_rank",
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
    # rule, counted, planned (candidate pairs counted before scoring, as declared and
    # after tightening), largest_block, added_keys, dropped_blocks, dropped_persons,
    # comparisons (pairs the pass scored: those no pass before it found)
    blocking: pd.DataFrame
    parameters: dict[str, Any]     # the trained model (m, u per level, prior)
    clusters: int = 0              # persons registered more than once
    records_in_clusters: int = 0
    as_of: dt.date | None = None
    # With a truth (run_linkage(truth=...)): evaluate.blocking_recall on the prepared persons.
    blocking_recall: pd.DataFrame | None = None
    plan: BlockingPlan | None = None      # what the blocking did (plan.lines() in words)
    stages: dict[str, float] = field(default_factory=dict)  # seconds per stage
    stages_cpu: dict[str, float] = field(default_factory=dict)  # CPU seconds per stage
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


# Random pairs of persons of one area drawn to estimate the u of the household levels that
# ask for the same area.
SAME_AREA_PAIRS = 200_000


def same_area_u(con, table: str, seed: int, pairs: int = SAME_AREA_PAIRS
                ) -> dict[tuple[str, str], float]:
    """u of the household levels that need both persons in one area, estimated in that
    stratum: P(one area), counted exactly from the areas' sizes, times the level's share
    among ``pairs`` random pairs of one area (seeded). Random pairs of the whole registry
    seldom share an area when it has thousands: their estimate of these levels rests on a
    handful of pairs. Keyed by (comparison, level label)."""
    household = linkage_model.comparisons()[4]
    wanted = [lv["label_for_charts"] for lv in household["comparison_levels"]
              if lv["sql_condition"].startswith("area_id_l = area_id_r")]
    con.execute(f"CREATE OR REPLACE TEMP TABLE same_area_rows AS SELECT row_number() OVER "
                f"(ORDER BY area_id, unique_id) - 1 AS i, * FROM {table}")
    try:
        found = con.execute("SELECT count(*) AS n, min(i) AS first FROM same_area_rows "
                            "GROUP BY area_id ORDER BY first").fetchnumpy()
        sizes = np.asarray(found["n"], dtype=np.int64)
        firsts = np.asarray(found["first"], dtype=np.int64)
        persons = int(sizes.sum())
        within = sizes * (sizes - 1) / 2
        if persons < 2 or within.sum() == 0:
            return {("household", label): M_FLOOR * 1e-3 for label in wanted}
        share = float(within.sum() / (persons * (persons - 1) / 2))
        rng = np.random.default_rng(seed)
        area = rng.choice(len(sizes), size=pairs, p=within / within.sum())
        left = rng.integers(0, sizes[area])
        right = rng.integers(0, sizes[area] - 1)
        right = np.where(right >= left, right + 1, right)
        con.register("same_area_sample", pa.table({"a": firsts[area] + left,
                                                   "b": firsts[area] + right}))
        columns = ", ".join(f"l.{c} AS {c}_l, r.{c} AS {c}_r"
                            for c in linkage_model.MODEL_COLUMNS)
        counts = dict(con.execute(
            f"SELECT level, count(*) FROM (SELECT {linkage_model.level_sql(household)} AS "
            f"level FROM (SELECT {columns} FROM same_area_sample s "
            f"JOIN same_area_rows l ON l.i = s.a JOIN same_area_rows r ON r.i = s.b)) "
            f"GROUP BY level").fetchall())
        con.unregister("same_area_sample")
    finally:
        con.execute("DROP TABLE IF EXISTS same_area_rows")
    return {("household", label): share * max(counts.get(label, 0), 1) / pairs
            for label in wanted}


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
    # The command line draws its own progress bar; DuckDB's would break into it.
    con.execute("SET enable_progress_bar = false")
    if memory_limit:
        con.execute(f"SET memory_limit = '{memory_limit}'")
    return con


class Stages:
    """How long each stage of a run took (seconds, in order: wall clock, and the CPU time of
    every thread of the process, which a machine shared with other work inflates less):
    printed by the command and the benchmark, stored with the run."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self.cpu: dict[str, float] = {}
        self._since = time.perf_counter()
        self._cpu_since = time.process_time()

    def done(self, stage: str) -> None:
        now, cpu = time.perf_counter(), time.process_time()
        self.seconds[stage] = self.seconds.get(stage, 0.0) + now - self._since
        self.cpu[stage] = self.cpu.get(stage, 0.0) + cpu - self._cpu_since
        self._since, self._cpu_since = now, cpu


@dataclass
class Scored:
    """What score() found: the scored pairs at or above the threshold (Splink's columns,
    gamma_ and mw_ per comparison, corrected by what the decisions taught), the blocking
    (plan and pairs each pass scored), the trained parameters, the decided pairs scored
    as they are, and the corrections learned from them."""

    frame: pd.DataFrame
    blocking: pd.DataFrame
    plan: BlockingPlan
    parameters: dict[str, Any]
    decided: pd.DataFrame
    learned: Learned | None


def _threshold_weight(probability: float) -> float:
    return math.log2(probability / (1.0 - probability))


def score(con, options: linkage_model.ModelOptions, *, persons: str = "persons",
          decisions: pd.DataFrame | None = None, progress: Progress = _noop,
          stages: Stages | None = None, backend: Backend | None = None) -> Scored:
    """Plan the blocking on the prepared table ``persons`` of the DuckDB ``con`` (from
    prepare_in_duckdb: it gains the tightened passes' block columns), train the model,
    learn from the ``decisions`` (person_id_a, person_id_b, decision) and score the blocked
    pairs, with Splink on ``backend`` (linkage.backends; default: ``con`` itself)."""
    from splink import Linker

    stages = stages or Stages()
    backend = backend or DuckDBBackend(con)
    _quiet_splink()
    labels = labelled_pairs(decisions)
    progress(0.02, "counting blocking passes")
    plan = plan_blocking(
        con, persons, linkage_model.BLOCKING_PASSES,
        max_pairs_per_person=options.max_pairs_per_person,
        confirmed=zip(labels.loc[labels["outcome"] == 1, "person_id_a"],
                      labels.loc[labels["outcome"] == 1, "person_id_b"], strict=True))
    stages.done("blocking plan")
    table = backend.register(persons)
    linker = Linker(table, linkage_model.settings(options, plan.rules, backend.name),
                    log_level=logging.ERROR)

    progress(0.05, "estimating the share of duplicates")
    linker.training.estimate_probability_two_random_records_match(
        [linkage_model.PRIOR_RULE], recall=options.prior_recall)
    progress(0.15, "estimating u on random pairs")
    # One pass over the sampled pairs: Splink's default splits it in ten chunks and a
    # probe, a query each (Spark pays seconds a query), and may stop at the probe, with
    # the commonest levels counted on a hundredth of the pairs.
    linker.training.estimate_u_using_random_sampling(
        max_pairs=options.u_max_pairs, seed=options.seed, num_chunks=1)
    model = _patched(linker.misc.save_model_to_json(),
                     u={**same_area_u(con, persons, options.seed), **exact_u(con, persons)})
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
    parameters = _trained_parameters(linker)
    parameters["notes"] = notes
    stages.done("training")

    progress(0.5, "blocking")
    blocked = linker.inference.compute_blocked_pairs_for_predict()
    scored = {str(key): count for key, count in backend.rows(
        f"SELECT match_key, count(*) FROM {blocked.physical_name} GROUP BY match_key")}
    report = plan.report()
    report["comparisons"] = [int(scored.get(str(i), 0)) for i in range(len(report))]
    stages.done("blocking")

    learned = None
    decided = pd.DataFrame()
    if len(labels):
        progress(0.55, f"learning from {len(labels):,} decisions")
        decided = score_pairs(backend, persons, model, labels)
        if len(decided):
            decided = decided.assign(
                person_id_a=decided["unique_id_l"].astype(str),
                person_id_b=decided["unique_id_r"].astype(str)).merge(
                labels, on=["person_id_a", "person_id_b"], how="inner")
            learned = fit(decided, decided["outcome"].to_numpy(),
                          comparison_levels(linkage_model.comparisons()),
                          options.learning_prior_sd)
            learned.apply(decided)
            parameters["learned"] = learned.parameters()
        stages.done("learning")

    progress(0.6, "scoring blocked pairs")
    # Corrections may lift a pair over the threshold: Splink keeps every pair the most they
    # can add would lift; the threshold is applied once they are added.
    if learned is None:
        predictions = linker.inference.predict(threshold_match_probability=options.threshold)
    else:
        predictions = linker.inference.predict(threshold_match_weight=_threshold_weight(
            options.threshold) - learned.max_gain() - 1e-9)
    frame = predictions.as_pandas_dataframe()
    predictions.drop_table_from_database_and_remove_from_cache()
    if learned is not None:
        learned.apply(frame)
        frame = frame[frame["match_probability"] >= options.threshold].reset_index(drop=True)
    stages.done("scoring")
    return Scored(frame=frame, blocking=report, plan=plan, parameters=parameters,
                  decided=decided, learned=learned)


def run_linkage(engine: sa.Engine, options: linkage_model.ModelOptions | None = None, *,
                threads: int = linkage_model.DEFAULT_THREADS,
                memory_limit: str | None = linkage_model.DEFAULT_MEMORY_LIMIT,
                as_of: dt.date | None = None, truth: set[tuple[str, str]] | None = None,
                decisions: pd.DataFrame | None = None,
                progress: Progress = _noop, splink_engine: str = "duckdb") -> LinkageResult:
    """Run the job on the registry ``engine``; nothing is written anywhere.

    The persons are read in chunks into an in-process DuckDB, prepared there and scored there;
    Python holds only the pairs found. ``decisions`` (person_id_a, person_id_b, decision:
    the app store's, linkage_store.decisions): the model learns from the pairs decided same
    or different, a pair confirmed is kept whatever its score, a pair dismissed joins no
    cluster. ``truth`` (pairs known to be duplicates, as evaluate.read_truth gives them):
    the blocking recall is computed on the prepared table too, in
    ``result.blocking_recall``. ``splink_engine``: where Splink trains and scores, duckdb
    (the job's DuckDB) or spark (linkage.backends); the pairs are the same.
    """
    from linkage import evaluate

    options = options or linkage_model.ModelOptions()
    started = time.perf_counter()
    started_at = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    stages = Stages()
    progress(0.0, "reading persons")
    con = connect(threads, memory_limit)
    backend = None
    try:
        backend = linkage_backend(splink_engine, con)
        persons = read_raw_persons(engine, con, "raw_persons")
        stages.done("reading")
        progress(0.04, "preparing persons")
        prepare_in_duckdb(con, "raw_persons", "persons")
        con.execute("DROP TABLE raw_persons")
        if options.placeholder_days is None:
            options = dataclasses.replace(options, placeholder_days=placeholder_days(con, "persons"))
        stages.done("preparing")
        scored = score(con, options, persons="persons", decisions=decisions, stages=stages,
                       progress=lambda f, m: progress(0.05 + 0.8 * f, m), backend=backend)
        raw = _with_confirmed(scored.frame, scored.decided)
        areas = _areas(con, "persons", raw)
        recall = None
        if truth is not None:
            recall = evaluate.blocking_recall(con, truth, scored.plan.rules, table="persons")
            stages.done("blocking recall (truth)")
    finally:
        if backend is not None:
            backend.close()
        con.close()
    progress(0.9, "clustering and enrolments")
    levels = comparison_levels(linkage_model.comparisons())
    information = (scored.learned.precision if scored.learned is not None
                   else prior_information(levels, options.learning_prior_sd))
    pairs, evidence = _pairs_and_evidence(raw, areas, decisions, levels, information)
    if as_of is None:
        from data_access.registry import default_as_of
        as_of = default_as_of(engine)
    programmes = active_programmes(engine, list(pairs["person_id_a"]) + list(pairs["person_id_b"]),
                                   as_of)
    _flag_programmes(pairs, programmes)
    stages.done("clusters and enrolments")
    result = LinkageResult(
        started_at=started_at, seconds=time.perf_counter() - started, persons=persons,
        options=options, pairs=pairs, evidence=evidence, blocking=scored.blocking,
        parameters=scored.parameters, as_of=as_of, blocking_recall=recall,
        plan=scored.plan, stages=stages.seconds, stages_cpu=stages.cpu)
    result.extra["stages"] = {k: round(v, 3) for k, v in stages.seconds.items()}
    result.extra["stages_cpu"] = {k: round(v, 3) for k, v in stages.cpu.items()}
    result.extra["blocking_plan"] = scored.plan.lines()
    undismissed = pairs[~pairs["dismissed"]] if len(pairs) else pairs
    result.clusters = int(undismissed["cluster_id"].nunique()) if len(undismissed) else 0
    result.records_in_clusters = len(set(undismissed["person_id_a"])
                                     | set(undismissed["person_id_b"]))
    result.pairs = pairs.drop(columns="dismissed")
    progress(1.0, f"{len(pairs):,} suspected pairs")
    return result


# Pairs an officer confirmed that the run's scores would leave out (below the threshold, or
# not blocked) are kept all the same: a decision is never overturned by a re-run.
CONFIRMED = "confirmed by an officer"


def _with_confirmed(frame: pd.DataFrame, decided: pd.DataFrame) -> pd.DataFrame:
    """The scored pairs with the confirmed pairs they lack (scored as they are)."""
    if decided.empty:
        return frame
    confirmed = decided[decided["outcome"] == 1]
    if frame.empty:
        found: set[tuple[str, str]] = set()
    else:
        found = set(_ordered_keys(frame))
    missing = confirmed[[(a, b) not in found for a, b in zip(
        confirmed["person_id_a"], confirmed["person_id_b"], strict=True)]]
    if missing.empty:
        return frame
    missing = missing.assign(match_key=CONFIRMED)
    columns = list(frame.columns) if len(frame.columns) else list(missing.columns)
    return pd.concat([frame, missing.reindex(columns=columns)], ignore_index=True)


def _ordered_keys(frame: pd.DataFrame) -> list[tuple[str, str]]:
    """A prediction frame's pairs as (smaller id, larger id)."""
    a = frame["unique_id_l"].astype(str)
    b = frame["unique_id_r"].astype(str)
    return [(x, y) if x < y else (y, x) for x, y in zip(a, b, strict=True)]


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
    a rare name weighs more than on Muhammad) and what the decisions taught: the weights
    of a pair's comparisons then add up, with the prior, to the pair's match weight."""
    if f"mw_{name}" not in raw:
        return np.nan
    weight = raw[f"mw_{name}"].astype(float)
    for extra in (f"mw_tf_adj_{name}", f"mw_learned_{name}"):
        if extra in raw:
            weight = weight + raw[extra].astype(float).fillna(0.0)
    return weight.round(6)


def _decided(decisions: pd.DataFrame | None, decision: str) -> set[tuple[str, str]]:
    if decisions is None or decisions.empty:
        return set()
    kept = decisions[decisions["decision"] == decision]
    return {(a, b) if a < b else (b, a) for a, b in zip(
        kept["person_id_a"].astype(str), kept["person_id_b"].astype(str), strict=True)}


def _pairs_and_evidence(raw: pd.DataFrame, areas: pd.Series,
                        decisions: pd.DataFrame | None = None,
                        levels: list[tuple[str, int]] | None = None,
                        information: np.ndarray | None = None,
                        ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The pairs (PAIR_COLUMNS and ``dismissed``, sorted) and their evidence. Clusters
    join the pairs not dismissed by an officer (a dismissed pair keeps the cluster of its
    first person, or its own); the undecided pairs are ranked for review by what their
    decision would teach (learning.review_ranks)."""
    labels = _level_labels()
    if raw.empty:
        return (pd.DataFrame(columns=[*PAIR_COLUMNS, "dismissed"]),
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
    keys = list(zip(pairs["person_id_a"], pairs["person_id_b"], strict=True))
    dismissed = _decided(decisions, "different")
    pairs["dismissed"] = [key in dismissed for key in keys]
    kept = pairs[~pairs["dismissed"]]
    joined = pd.Series(clusters(kept), index=kept.index)
    of_person = dict(zip(kept["person_id_a"], joined, strict=True))
    of_person.update(zip(kept["person_id_b"], joined, strict=True))
    pairs["cluster_id"] = [joined[i] if i in joined.index else of_person.get(p, p)
                           for i, p in zip(pairs.index, pairs["person_id_a"], strict=True)]
    pairs["area_id_a"] = pairs["person_id_a"].map(areas)
    decided = dismissed | _decided(decisions, "same") | _decided(decisions, "unsure")
    open_pairs = np.array([key not in decided for key in keys], dtype=bool)
    pairs["review_rank"] = pd.array([None] * len(pairs), dtype="Int64")
    if levels is not None and information is not None and open_pairs.any():
        ranked = raw[open_pairs].assign(person_id_a=pairs.loc[open_pairs, "person_id_a"].values,
                                        person_id_b=pairs.loc[open_pairs, "person_id_b"].values)
        pairs.loc[open_pairs, "review_rank"] = review_ranks(ranked, levels, information)
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
