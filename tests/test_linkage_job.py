"""The record-linkage job on a small planted demo registry: blocking recall, accuracy,
determinism for a seed, decisions surviving a re-run, the command line."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace
from pathlib import Path

import pandas as pd
import pytest

from data_access.linkage_store import (
    record_decision,
    review_queue,
    store_linkage_run,
    suspected_pairs,
)
from data_access.registry import open_registry
from demo.generator import Options, generate
from linkage import evaluate, names
from linkage.__main__ import main
from linkage.job import (
    PERSON_COLUMNS,
    LinkageResult,
    connect,
    prepare,
    prepare_in_duckdb,
    read_persons,
    read_raw_persons,
    run_linkage,
)
from linkage.model import BLOCKING_RULES, MODEL_COLUMNS, ModelOptions

# Small enough for a test: fewer random pairs for u than a real run.
OPTIONS = ModelOptions(seed=7, u_max_pairs=2e5)


@pytest.fixture(scope="module")
def planted(tmp_path_factory) -> tuple[str, Path]:
    """A demo registry of ~6,400 persons with ~26 planted re-registrations; (url, truth)."""
    out = tmp_path_factory.mktemp("linkage") / "registry.db"
    generate(Options(out=out, households=1000, seed=2))
    return f"sqlite:///{out}", out.with_name("registry.truth") / "fuzzy_duplicates.csv"


@pytest.fixture(scope="module")
def runs(planted) -> tuple[LinkageResult, LinkageResult]:
    """The job run twice with the same seed."""
    url, _ = planted
    engine = open_registry(url)
    try:
        return (run_linkage(engine, OPTIONS), run_linkage(engine, OPTIONS))
    finally:
        engine.dispose()


def test_blocking_recall_on_a_small_planted_registry(planted):
    url, truth_file = planted
    engine = open_registry(url)
    prepared = prepare(read_persons(engine))
    engine.dispose()
    truth = evaluate.read_truth(truth_file)
    assert len(truth) >= 20
    recall = evaluate.blocking_recall(prepared, truth)
    assert list(recall["rule"]) == [name for name, _ in BLOCKING_RULES]
    assert recall["cumulative_recall"].is_monotonic_increasing
    assert recall["cumulative_recall"].iloc[-1] >= 0.95
    # No single pass is enough: that is why there are several.
    assert recall["recall"].max() < recall["cumulative_recall"].iloc[-1]


def _rows(frame: pd.DataFrame) -> list[tuple]:
    """A prepared frame's rows as DuckDB gives them (missing values None, plain ints)."""
    return [tuple(None if pd.isna(v) else int(v) if c.startswith("birth_") and c != "birth_date"
                  else v for c, v in zip(frame.columns, row, strict=True))
            for row in frame.itertuples(index=False)]


def test_the_chunked_read_gives_the_persons_table_of_one_read(planted):
    """The job reads the registry in chunks into DuckDB and prepares it there in SQL: the
    same table whatever the chunk size, and the same as prepare() on read_persons' frame."""
    url, truth_file = planted
    engine = open_registry(url)
    try:
        frame = read_persons(engine)
        tables = []
        for chunk_rows in (97, 1_000_000):
            con = connect(threads=1)
            try:
                count = read_raw_persons(engine, con, "raw_persons", chunk_rows=chunk_rows)
                prepare_in_duckdb(con, "raw_persons", "persons")
                cursor = con.execute("SELECT * FROM persons")
                columns = [d[0] for d in cursor.description]
                tables.append(cursor.fetchall())
                if chunk_rows == 97:
                    # Blocking recall on the DuckDB table, as run_linkage(truth=...) gives it.
                    truth = evaluate.read_truth(truth_file)
                    in_duckdb = evaluate.blocking_recall(con, truth, table="persons")
            finally:
                con.close()
            assert count == len(frame)
    finally:
        engine.dispose()
    assert tables[0] == tables[1]
    assert columns == list(MODEL_COLUMNS)
    prepared = prepare(frame)
    assert tables[0] == _rows(prepared.sort_values("unique_id"))
    pd.testing.assert_frame_equal(in_duckdb, evaluate.blocking_recall(prepared, truth))


def test_the_chunked_read_on_both_backends(make_registry):
    """Chunks of 2 rows (a server-side cursor on PostgreSQL): the same prepared persons as
    prepare() on read_persons' frame; a person whose household is missing has no area."""
    D = dt.date
    households = pd.DataFrame({"household_id": ["H1", "H2"], "area_id": ["A1", "A2"],
                               "registered_on": [D(2023, 1, 1)] * 2})
    people = [
        ("P3", "H1", "1730112345671", "Muhammad Ali", "Khan", "Akbar", "0300-1234567", "M",
         D(1990, 3, 7)),
        ("P1", "H1", "17301-1234567-1", "Mohd Ali", "Kan", "Akbar Khan", None, "m", None),
        ("P2", "H2", "O123", "Ayesha", None, None, "123", "F", D(1985, 1, 1)),
        ("P5", "H9", None, "Bibi Fatima", "Bibi", "Ali", "+92 300 7654321", " f ",
         D(2001, 12, 31)),
        ("P4", "H2", "1610112345671", "Yusuf", "Yousaf", "", None, "M", D(1970, 7, 1)),
    ]
    columns = ("person_id", "household_id", "national_id", "first_name", "last_name",
               "father_name", "phone", "sex", "birth_date")
    persons = pd.DataFrame([dict(zip(columns, p, strict=True)) for p in people])
    persons["disability"] = False
    persons["is_head"] = False
    persons["registered_on"] = D(2023, 1, 1)
    engine = make_registry({"household": households, "person": persons})
    con = connect(threads=1)
    try:
        assert read_raw_persons(engine, con, "raw_persons", chunk_rows=2) == len(people)
        prepare_in_duckdb(con, "raw_persons", "persons")
        table = con.execute("SELECT * FROM persons").fetchall()
    finally:
        con.close()
    prepared = prepare(read_persons(engine))
    assert table == _rows(prepared.sort_values("unique_id"))
    assert [row[:3] for row in table] == [("P1", "H1", "A1"), ("P2", "H2", "A2"),
                                          ("P3", "H1", "A1"), ("P4", "H2", "A2"),
                                          ("P5", "H9", "?H9")]


def test_prepare_on_tricky_inputs():
    D = dt.date
    records = [  # person, household, area, id, phone, sex, birth date, first, last, father
        ("P1", "H1", None, "17301-O234567-1", "0300-12345", " m ", "1990-02-30",
         "Mohd. Ali", "Khan", None),
        ("P2", "H2", "A9", "123456789", "12-34-56", "F", D(1985, 7, 3),
         "Yousaf", None, "Muhammad Akbar Khan"),
        ("P3", "H3", "A9", "ID: 1730112345671", "+92 300 1234567", None, "not a date",
         None, "Khan", ""),
        ("P0", "H1", "A1", None, None, "f", "1990-03-07", "Abd ul Rahman", "Ali", "123"),
        ("P4", "H4", "A2", "O", "0300 123 4567 ext", "M", "07/03/1990", "Kh@n", "Yusuf", "Ali"),
    ]
    keys = ("person_id", "household_id", "area_id", "national_id", "phone", "sex",
            "birth_date", "first_name", "last_name", "father_name")
    frame = pd.DataFrame([dict(zip(keys, r, strict=True)) for r in records],
                         columns=list(PERSON_COLUMNS), dtype=object, index=[5, 4, 3, 2, 1])
    out = prepare(frame)
    # In the frame's order and index; the model's columns, with their dtypes.
    assert list(out.index) == [5, 4, 3, 2, 1]
    assert list(out.columns) == list(MODEL_COLUMNS)
    assert list(out["unique_id"]) == ["P1", "P2", "P3", "P0", "P4"]
    assert str(out["birth_year"].dtype) == "Int64"

    def column(name):
        return [None if pd.isna(v) else v for v in out[name]]

    # No household's area: an area of its own.
    assert column("area_id") == ["?H1", "A9", "A9", "A1", "A2"]
    # Digits only, the letter O read as 0; fewer than 10 digits: unknown.
    assert column("national_id") == ["1730102345671", None, "1730112345671", None, None]
    # The last 10 digits; fewer than 7: unknown.
    assert column("phone") == ["030012345", None, "3001234567", None, "3001234567"]
    assert column("sex") == ["M", "F", None, "F", "M"]
    # ISO dates, as text or dates; anything else (30 February, 07/03/1990) unknown.
    assert column("birth_date") == [None, D(1985, 7, 3), None, D(1990, 3, 7), None]
    assert column("birth_year") == [None, 1985, None, 1990, None]
    assert column("birth_month") == [None, 7, None, 3, None]
    assert column("birth_day") == [None, 3, None, 7, None]
    # Name keys (names.py) per name; nothing left of a name ("", "123"): unknown.
    for i, (*_, first, last, father) in enumerate(records):
        row = out.iloc[i]
        assert row["first_clean"] == names.clean(first)
        assert row["first_key"] == names.key(first)
        assert row["first_core"] == names.core(first)
        assert row["first_skel"] == names.skeleton(first)
        assert row["last_key"] == names.key(last) and row["last_skel"] == names.skeleton(last)
        assert row["father_key"] == names.key(father)
        assert row["father_core"] == names.core(father)
        core = names.core(first)
        assert (row["first_initial"] if not pd.isna(row["first_initial"]) else None) == (
            core[0] if core else None)
        pair = (None if names.key(first) is None or names.key(last) is None
                else "|".join(sorted((names.key(first), names.key(last)))))
        assert (None if pd.isna(row["name_pair"]) else row["name_pair"]) == pair
    assert column("first_key")[0] == "mhdali" and column("last_key")[0] == "kan"
    assert column("father_key")[2:4] == [None, None]
    assert column("name_pair")[:3] == ["kan|mhdali", None, None]


def test_the_job_finds_the_planted_duplicates(runs, planted):
    result, _ = runs
    truth = evaluate.read_truth(planted[1])
    scores = evaluate.evaluate(result.pairs, truth)
    assert scores.precision >= 0.85, scores.line()
    assert scores.recall >= 0.8, scores.line()
    assert result.persons > 6000


def test_pairs_are_ordered_clustered_and_explained(runs):
    result, _ = runs
    pairs, evidence = result.pairs, result.evidence
    assert len(pairs) > 0
    assert (pairs["person_id_a"] < pairs["person_id_b"]).all()
    assert (pairs["match_probability"] >= OPTIONS.threshold).all()
    assert not pairs.duplicated(["person_id_a", "person_id_b"]).any()
    # Every pair has one evidence row per comparison, with a label and a weight.
    per_pair = evidence.groupby(["person_id_a", "person_id_b"])["comparison"].nunique()
    assert (per_pair == 5).all() and len(per_pair) == len(pairs)
    assert evidence["label"].notna().all()
    assert evidence["match_weight"].notna().all()
    # The pair's weight is the prior plus the comparisons' weights.
    total = evidence.groupby(["person_id_a", "person_id_b"])["match_weight"].sum()
    joined = pairs.set_index(["person_id_a", "person_id_b"])["match_weight"]
    prior = (joined - total.reindex(joined.index)).round(3)
    assert prior.nunique() == 1
    # Clusters: connected components named by their smallest id.
    members = pd.concat([pairs[["cluster_id", "person_id_a"]].set_axis(["c", "p"], axis=1),
                         pairs[["cluster_id", "person_id_b"]].set_axis(["c", "p"], axis=1)])
    assert (members.groupby("c")["p"].min() == members.groupby("c")["p"].min().index).all()
    assert result.clusters == pairs["cluster_id"].nunique()
    assert result.records_in_clusters == members["p"].nunique()
    assert pairs["cross_programme"].dtype == bool


def _same_numbers(a, b) -> bool:
    """Equal structures whose floats agree to 12 significant digits."""
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same_numbers(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(_same_numbers(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, float) and isinstance(b, float):
        return a == pytest.approx(b, rel=1e-12, abs=1e-300)
    return a == b


def test_the_job_is_deterministic_for_a_seed(runs):
    first, second = runs
    pd.testing.assert_frame_equal(first.pairs, second.pairs)
    pd.testing.assert_frame_equal(first.evidence, second.evidence)
    # DuckDB adds in parallel, so trained m/u may differ in the last bit between runs
    # (seen: 0.12391686346422268 vs ...265); the pairs and their evidence above are equal.
    assert _same_numbers(first.parameters, second.parameters)


def test_decisions_survive_a_rerun(runs, store):
    first, second = runs
    run_1 = store_linkage_run(store, first)
    pair = first.pairs.iloc[0]
    # Decided by an officer who saw the pair the other way round.
    record_decision(store, pair["person_id_b"], pair["person_id_a"], "different",
                    decided_by="officer", note="brothers", run_id=run_1,
                    match_probability=float(pair["match_probability"]))
    queue_1 = review_queue(store, run_1)
    run_2 = store_linkage_run(store, replace(second))
    assert run_2 != run_1
    kept = suspected_pairs(store, run_2)
    assert len(kept) == len(second.pairs) - 1
    assert not ((kept["person_id_a"] == pair["person_id_a"])
                & (kept["person_id_b"] == pair["person_id_b"])).any()
    everything = suspected_pairs(store, run_2, include_dismissed=True)
    marked = everything[everything["decision"].notna()]
    assert list(marked["person_id_a"]) == [pair["person_id_a"]]
    assert marked["note"].iloc[0] == "brothers"
    # The new run's queue leaves the decided pair out too.
    assert len(review_queue(store, run_2)) == len(queue_1)


def test_command_line_writes_the_csv_and_the_store(planted, runs, tmp_path, capsys):
    url, truth = planted
    out = tmp_path / "pairs.csv"
    store_url = f"sqlite:///{tmp_path / 'store.db'}"
    code = main(["--database-url", url, "--app-store-url", store_url, "--out", str(out),
                 "--seed", "7", "--truth", str(truth), "--quiet"])
    assert code == 0
    printed = capsys.readouterr().out
    assert "precision" in printed and "blocking recall" in printed
    frame = pd.read_csv(out, dtype={"person_id_a": str, "person_id_b": str})
    assert list(frame.columns[:3]) == ["person_id_a", "person_id_b", "match_probability"]
    assert {"first_name", "first_name_weight", "household", "household_weight"} <= set(
        frame.columns)
    # Default u sample differs from the test's, but the pairs found are nearly the same.
    api = evaluate.pair_set(runs[0].pairs["person_id_a"], runs[0].pairs["person_id_b"])
    cli = evaluate.pair_set(frame["person_id_a"], frame["person_id_b"])
    assert len(api & cli) >= 0.9 * max(len(api), len(cli))
    from data_access.app_store import open_app_store
    from data_access.linkage_store import latest_run
    store = open_app_store(store_url)
    run = latest_run(store)
    store.dispose()
    assert run is not None and run.pairs == len(frame) and run.seed == 7


@pytest.mark.parametrize("args, message", [
    (["--threshold", "1.5"], "between 0 and 1"),
    (["--threshold", "x"], "not a number"),
    (["--seed", "-1"], "negative"),
    (["--threads", "0"], "1 or more"),
    (["--memory-limit", "lots"], "not a memory size"),
    (["--memory-limit", "0GB"], "not a memory size"),
    (["--out", "/no/such/folder/pairs.csv"], "does not exist"),
    (["--truth", "/no/such/truth.csv"], "no file"),
    (["--database-url", "sqlite:////no/such/registry.db"], "does not exist"),
    (["--max-pairs-per-person", "0"], "not more than 0 pairs per person"),
    (["--max-pairs-per-person", "many"], "not a number"),
])
def test_command_line_errors_exit_2(args, message, capsys, tmp_path):
    base = ["--app-store-url", f"sqlite:///{tmp_path / 's.db'}", "--quiet"]
    if "--database-url" not in args:
        base += ["--database-url", "sqlite:////no/such/registry.db"]
    assert main(base + args) == 2
    err = capsys.readouterr().err
    assert err.startswith("python -m linkage: error:")
    assert message in err
    assert err.count("\n") == 1


def test_the_job_finds_duplicates_of_a_registry_it_was_not_built_on(tmp_path):
    """bench/foreign_registry.py (written apart from the demo and the model) plants KP-like
    re-registrations and hard negatives (twins, namesake sons, cousins); the job, untuned
    for it, finds most of them with few wrong pairs."""
    import subprocess
    import sys

    out, truth_file = tmp_path / "foreign.db", tmp_path / "truth.csv"
    root = Path(__file__).resolve().parents[1]
    subprocess.run([sys.executable, str(root / "bench" / "foreign_registry.py"),
                    "--persons", "8000", "--out", str(out), "--truth", str(truth_file),
                    "--seed", "3", "--profile", "kp"],
                   check=True, stdout=subprocess.DEVNULL, cwd=root)
    truth = evaluate.read_truth(truth_file)
    engine = open_registry(f"sqlite:///{out}")
    try:
        result = run_linkage(engine, OPTIONS, truth=truth)
    finally:
        engine.dispose()
    scores = evaluate.evaluate(result.pairs, truth, threshold=OPTIONS.threshold)
    assert len(truth) > 300
    assert scores.precision >= 0.85, scores.line()
    assert scores.recall >= 0.8, scores.line()
    assert result.blocking_recall["cumulative_recall"].iloc[-1] >= 0.9
