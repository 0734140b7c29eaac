"""The record-linkage job: read the registry's persons, score candidate pairs, cluster them.

    result = run_linkage(registry_engine, options, progress=callback)
    store_linkage_run(store, result)   # data_access.linkage_store, one transaction

Persons are read once through SQLAlchemy (Socle's read-only engine), prepared in pandas
(name keys per distinct name, digits-only ids and phones, birth-date parts), then scored by
Splink on an in-process DuckDB (threads = the cores given). Nothing is written to the
registry. The result holds the run's summary, the pairs at or above the threshold with the
evidence per comparison (the level's label and its match weight), and the clusters
(connected components of those pairs: persons registered more than once).

Deterministic for a seed: inputs are sorted by person id, u is sampled with the seed, EM
starts from fixed values, and the pairs are sorted before they are returned. Every route in
(``python -m indicators.linkage``, ``run_linkage()``, the benchmark) takes its defaults —
threshold, seed, threads, DuckDB memory limit — from model.py, so the same seed gives the
same pairs whichever ran it (tests/test_linkage_determinism.py runs the command under two
PYTHONHASHSEEDs).
"""

from __future__ import annotations

import datetime as dt
import logging
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import sqlalchemy as sa

from data_access.schema import enrolment, household, person, programme
from indicators.linkage import model as linkage_model
from indicators.linkage import names

Progress = Callable[[float, str], None]

PAIR_COLUMNS: tuple[str, ...] = (
    "person_id_a", "person_id_b", "match_probability", "match_weight", "blocked_by",
    "cluster_id", "area_id_a", "programmes_a", "programmes_b", "cross_programme",
    "same_programme",
)
EVIDENCE_COLUMNS: tuple[str, ...] = (
    "person_id_a", "person_id_b", "comparison", "level", "label", "match_weight",
)

PERSON_COLUMNS: tuple[str, ...] = (
    "person_id", "household_id", "national_id", "first_name", "last_name", "father_name",
    "phone", "sex", "birth_date", "registered_on", "area_id",
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
    prepared: pd.DataFrame | None = None   # the model's input (for blocking recall)
    extra: dict[str, Any] = field(default_factory=dict)


def _noop(fraction: float, message: str) -> None:
    pass


# --- reading and preparing ---------------------------------------------------------------

def read_persons(engine: sa.Engine) -> pd.DataFrame:
    """Every person of the registry with their household's area (None when the household is
    missing), sorted by person_id."""
    query = (
        sa.select(person.c.person_id, person.c.household_id, person.c.national_id,
                  person.c.first_name, person.c.last_name, person.c.father_name,
                  person.c.phone, person.c.sex, person.c.birth_date, person.c.registered_on,
                  household.c.area_id)
        .select_from(person.outerjoin(household,
                                      household.c.household_id == person.c.household_id))
        .order_by(person.c.person_id)
    )
    with engine.connect() as conn:
        result = conn.execute(query)
        frame = pd.DataFrame(result.fetchall(), columns=list(PERSON_COLUMNS), dtype=object)
    return frame


def _digits(values: pd.Series, keep_last: int | None = None, minimum: int = 1) -> pd.Series:
    text = values.astype("string").str.replace("O", "0", regex=False).str.replace(
        r"\D", "", regex=True)
    if keep_last:
        text = text.str[-keep_last:]
    text = text.where(text.str.len() >= minimum)
    return text.astype(object).where(text.notna(), None)


def _dates(values: pd.Series) -> pd.Series:
    return pd.to_datetime(values.astype("string"), errors="coerce", format="ISO8601")


def prepare(frame: pd.DataFrame) -> pd.DataFrame:
    """The model's input (model.MODEL_COLUMNS) from read_persons' frame."""
    out = pd.DataFrame({"unique_id": frame["person_id"].astype(str)})
    out["household_id"] = frame["household_id"].astype(object)
    # A person whose household is missing gets an area of its own: no area is shared.
    out["area_id"] = frame["area_id"].where(frame["area_id"].notna(),
                                            "?" + frame["household_id"].astype(str))
    out["sex"] = frame["sex"].astype("string").str.strip().str.upper().astype(object)
    out["national_id"] = _digits(frame["national_id"], minimum=10)
    out["phone"] = _digits(frame["phone"], keep_last=10, minimum=7)
    first = names.keys_frame(frame["first_name"], "first")
    last = names.keys_frame(frame["last_name"], "last")
    father = names.keys_frame(frame["father_name"], "father")
    for col in ("first_clean", "first_key", "first_core", "first_skel"):
        out[col] = first[col]
    out["first_initial"] = first["first_core"].str[:1]
    out["last_key"] = last["last_key"]
    out["last_skel"] = last["last_skel"]
    out["father_key"] = father["father_key"]
    out["father_core"] = father["father_core"]
    pair = pd.DataFrame({"a": first["first_key"], "b": last["last_key"]})
    low = pair.min(axis=1, skipna=True)
    high = pair.max(axis=1, skipna=True)
    both = pair["a"].notna() & pair["b"].notna()
    out["name_pair"] = (low + "|" + high).where(both, None)
    born = _dates(frame["birth_date"])
    out["birth_date"] = born.dt.date.astype(object).where(born.notna(), None)
    out["birth_year"] = born.dt.year.astype("Int64")
    out["birth_month"] = born.dt.month.astype("Int64")
    out["birth_day"] = born.dt.day.astype("Int64")
    return out[list(linkage_model.MODEL_COLUMNS)]


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
    with engine.connect() as conn:
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


# --- clusters ------------------------------------------------------------------------------

def clusters(pairs: pd.DataFrame) -> pd.Series:
    """Connected components of the pairs: a cluster id (the smallest person id in the
    component) for each pair, in the pairs' order."""
    parent: dict[str, str] = {}

    def find(x: str) -> str:
        root = x
        while parent.get(root, root) != root:
            root = parent[root]
        while parent.get(x, x) != root:
            parent[x], x = root, parent[x]
        return root

    for a, b in zip(pairs["person_id_a"], pairs["person_id_b"], strict=True):
        ra, rb = find(a), find(b)
        if ra != rb:
            if rb < ra:
                ra, rb = rb, ra
            parent[rb] = ra
    return pd.Series([find(a) for a in pairs["person_id_a"]], index=pairs.index, dtype=object)


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
    that random sampling seldom sees: same id, one id digit apart, same household, same
    phone in another household, swapped names. Keyed by (comparison, level label)."""
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
    same_household = same("household_id", "household_id IS NOT NULL")
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
        ("household", "same household"): share(same_household, everyone),
        ("household", "same phone, other household"): share(phone_other, everyone),
        ("first_name", linkage_model.SWAPPED): share(swapped, with_first),
    }


def _patched(model: dict[str, Any], *, u: dict[tuple[str, str], float] | None = None,
             m_floor: float | None = None) -> dict[str, Any]:
    for comp in model["comparisons"]:
        for level in comp["comparison_levels"]:
            if level.get("is_null_level"):
                continue
            key = (comp["output_column_name"], level.get("label_for_charts"))
            if u and key in u:
                level["u_probability"] = u[key]
            m = level.get("m_probability")
            if m_floor is not None and isinstance(m, float) and m < m_floor:
                level["m_probability"] = m_floor
    return model


def score(prepared: pd.DataFrame, options: linkage_model.ModelOptions, *,
          threads: int = linkage_model.DEFAULT_THREADS, memory_limit: str | None = linkage_model.DEFAULT_MEMORY_LIMIT,
          progress: Progress = _noop) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, Any]]:
    """Train the model on ``prepared`` and score the blocked pairs.

    Returns the scored pairs at or above the threshold (Splink's columns, with gamma_ and
    mw_ per comparison), the pairs each blocking pass adds and the trained parameters.
    """
    import duckdb
    from splink import DuckDBAPI, Linker

    _quiet_splink()
    con = duckdb.connect(":memory:")
    try:
        con.execute(f"SET threads = {int(threads)}")
        if memory_limit:
            con.execute(f"SET memory_limit = '{memory_limit}'")
        con.register("prepared_frame", prepared)
        con.execute("CREATE TABLE persons AS SELECT * FROM prepared_frame ORDER BY unique_id")
        con.unregister("prepared_frame")
        db_api = DuckDBAPI(connection=con)
        table = db_api.register("persons", table_name="persons_input")
        linker = Linker(table, linkage_model.settings(options), log_level=logging.ERROR)

        progress(0.05, "estimating the share of duplicates")
        linker.training.estimate_probability_two_random_records_match(
            [linkage_model.PRIOR_RULE], recall=options.prior_recall)
        progress(0.15, "estimating u on random pairs")
        linker.training.estimate_u_using_random_sampling(
            max_pairs=options.u_max_pairs, seed=options.seed)
        model = _patched(linker.misc.save_model_to_json(), u=exact_u(con, "persons"))
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
        model = _patched(linker.misc.save_model_to_json(), m_floor=M_FLOOR)
        linker = Linker(table, model, log_level=logging.ERROR)
        progress(0.6, "scoring blocked pairs")
        predictions = linker.inference.predict(threshold_match_probability=options.threshold)
        frame = predictions.as_pandas_dataframe()
        parameters = _trained_parameters(linker)
        parameters["notes"] = notes
        progress(0.9, "counting blocked pairs")
        counts = _blocking_counts(table, options.blocking_sample)
    finally:
        con.close()
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
                threads: int = linkage_model.DEFAULT_THREADS, memory_limit: str | None = linkage_model.DEFAULT_MEMORY_LIMIT,
                as_of: dt.date | None = None, progress: Progress = _noop) -> LinkageResult:
    """Run the job on the registry ``engine``; nothing is written anywhere."""
    options = options or linkage_model.ModelOptions()
    started = time.perf_counter()
    started_at = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    progress(0.0, "reading persons")
    persons = read_persons(engine)
    prepared = prepare(persons)
    raw, blocking, parameters = score(
        prepared, options, threads=threads, memory_limit=memory_limit,
        progress=lambda f, m: progress(0.05 + 0.8 * f, m))
    progress(0.9, "clustering and enrolments")
    pairs, evidence = _pairs_and_evidence(raw, prepared)
    if as_of is None:
        from indicators.engine import default_as_of
        as_of = default_as_of(engine)
    programmes = active_programmes(engine, list(pairs["person_id_a"]) + list(pairs["person_id_b"]),
                                   as_of)
    _flag_programmes(pairs, programmes)
    result = LinkageResult(
        started_at=started_at, seconds=time.perf_counter() - started, persons=len(persons),
        options=options, pairs=pairs, evidence=evidence, blocking=blocking,
        parameters=parameters, as_of=as_of, prepared=prepared)
    component_sizes = pairs.groupby("cluster_id").size() if len(pairs) else pd.Series(dtype=int)
    members = set(pairs["person_id_a"]) | set(pairs["person_id_b"])
    result.clusters = int(len(component_sizes))
    result.records_in_clusters = len(members)
    progress(1.0, f"{len(pairs):,} suspected pairs")
    return result


def _pairs_and_evidence(raw: pd.DataFrame, prepared: pd.DataFrame
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
    area = prepared.set_index("unique_id")["area_id"]
    pairs["area_id_a"] = pairs["person_id_a"].map(area)
    rows = []
    for name, level_labels in labels.items():
        gamma = raw[f"gamma_{name}"].astype(int)
        weight = raw[f"mw_{name}"].astype(float).round(6) if f"mw_{name}" in raw else np.nan
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
