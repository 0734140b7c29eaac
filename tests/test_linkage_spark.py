"""The record-linkage job on Splink's Spark backend gives the pairs it gives on DuckDB.

``python -m linkage --engine spark`` trains the same model (the comparisons' conditions
transpiled, the same random pairs for u: linkage.backends) and scores the same blocked pairs,
on a Spark session in ``local`` mode, with decisions to learn from in the app store. On the
demo's 8,000-person registry its stored pairs, scores, review ranks, clusters and evidence
equal those of the DuckDB run to 1e-9 (Spark's sums may differ from DuckDB's in the last
bits; none did when this was written).
"""

from __future__ import annotations

import hashlib
import math
import os
import subprocess
import sys
from pathlib import Path

import duckdb
import pandas as pd
import pytest
from spark_support import assert_spark_failure_named

from data_access.app_store import open_app_store
from data_access.dialects import linkage_sql, portable_hash
from data_access.linkage_store import (
    decisions,
    latest_run,
    pair_evidence,
    record_decision,
    suspected_pairs,
)
from data_access.loader import copy_sqlite_to_duckdb, export_duckdb_to_parquet
from data_access.registry import open_registry
from linkage.__main__ import main as linkage_main
from linkage.job import run_linkage
from linkage.model import ModelOptions

ROOT = Path(__file__).resolve().parents[1]
KEYS = ["person_id_a", "person_id_b"]


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo registry with about 8,000 persons (1,230 households, seed 3), in DuckDB."""
    folder = tmp_path_factory.mktemp("linkage_spark")
    subprocess.run([sys.executable, "-m", "demo", "--out", str(folder / "registry.db"),
                    "--households", "1230", "--seed", "3"], cwd=ROOT, check=True,
                   capture_output=True)
    out = copy_sqlite_to_duckdb(folder / "registry.db", folder / "registry.duckdb")
    with duckdb.connect(str(out), read_only=True) as con:
        persons = con.execute("SELECT count(*) FROM person").fetchall()[0][0]
    assert 7_500 <= persons <= 8_500
    return out


def _parameters_close(a: dict, b: dict) -> None:
    assert math.isclose(a["probability_two_random_records_match"],
                        b["probability_two_random_records_match"], rel_tol=1e-9)
    assert a["comparisons"].keys() == b["comparisons"].keys()
    for name, levels in a["comparisons"].items():
        for x, y in zip(levels, b["comparisons"][name], strict=True):
            assert x["label"] == y["label"]
            for p in ("m", "u"):
                # A level no training reached has no value on either.
                assert (x[p] is None) == (y[p] is None), (name, x, y)
                if x[p] is not None:
                    assert math.isclose(x[p], y[p], rel_tol=1e-9, abs_tol=1e-15), (name, x, y)


def test_spark_gives_the_pairs_scores_and_evidence_of_duckdb(registry: Path, tmp_path: Path):
    url = f"duckdb:///{registry}"
    engine = open_registry(url)
    store_url = f"sqlite:///{tmp_path / 'store.db'}"
    store = open_app_store(store_url)
    try:
        first = run_linkage(engine, ModelOptions())
        # Decisions to learn from: a pair confirmed, one dismissed, one left unsure.
        ranked = first.pairs.sort_values("review_rank").head(3)
        for row, decision in zip(ranked.itertuples(index=False), ("same", "different", "unsure"),
                                 strict=True):
            record_decision(store, row.person_id_a, row.person_id_b, decision,
                            decided_by="officer")
        on_duckdb = run_linkage(engine, ModelOptions(), decisions=decisions(store))
    finally:
        engine.dispose()
    assert len(on_duckdb.pairs) >= 20
    assert on_duckdb.parameters["learned"]["decisions"] == 2

    done = subprocess.run(
        [sys.executable, "-m", "linkage", "--engine", "spark", "--database-url", url,
         "--app-store-url", store_url],
        cwd=ROOT, capture_output=True, text=True, env={**os.environ, "SOCLE_SPARK_MASTER":
                                                      "local[2]"})
    assert done.returncode == 0, done.stderr[-2000:]
    assert "learned from 2 decisions" in done.stdout

    run = latest_run(store)
    assert run is not None and run.persons == on_duckdb.persons
    _parameters_close(run.model["parameters"], on_duckdb.parameters)
    assert run.model["parameters"]["learned"].keys() == on_duckdb.parameters["learned"].keys()
    stored = suspected_pairs(store, run.run_id, include_dismissed=True)
    columns = [*KEYS, "match_probability", "match_weight", "review_rank", "cluster_id",
               "cross_programme", "same_programme"]
    expected = on_duckdb.pairs[columns].sort_values(KEYS).reset_index(drop=True)
    got = stored[columns].sort_values(KEYS).reset_index(drop=True)
    got["review_rank"] = got["review_rank"].astype("Int64")
    pd.testing.assert_frame_equal(got, expected, check_exact=False, rtol=0, atol=1e-9,
                                  check_dtype=False)
    evidence = on_duckdb.evidence
    for a, b in zip(expected["person_id_a"], expected["person_id_b"], strict=True):
        want = evidence[(evidence["person_id_a"] == a) & (evidence["person_id_b"] == b)]
        have = pair_evidence(store, run.run_id, a, b)
        assert list(have["label"]) == list(want["label"])
        assert have["match_weight"].to_numpy() == pytest.approx(
            want["match_weight"].to_numpy(), abs=1e-9)
    store.dispose()


def test_a_spark_that_cannot_start_is_named(registry: Path, tmp_path: Path):
    assert_spark_failure_named("linkage", ["--engine", "spark", "--database-url",
                                           f"duckdb:///{registry}", "--no-store", "--quiet"],
                               tmp_path)


def test_a_parquet_registry_folder_is_read_where_it_lies(registry: Path, tmp_path: Path):
    folder = export_duckdb_to_parquet(registry, tmp_path / "parquet")
    outs = []
    for source in (f"duckdb:///{registry}", str(folder)):
        out = tmp_path / f"pairs_{len(outs)}.csv"
        assert linkage_main(["--database-url", source, "--no-store", "--quiet",
                             "--out", str(out)]) == 0
        outs.append(pd.read_csv(out, dtype={"person_id_a": str, "person_id_b": str}))
    assert len(outs[0]) >= 20
    pd.testing.assert_frame_equal(outs[1], outs[0])


def test_the_sampling_hash_is_one_function_on_duckdb_and_spark():
    from data_access.spark import spark_session

    ids = ["P000001_1", "p-42_7", "Ωmega_1", "_1"]
    expected = [int(hashlib.md5(i.encode()).hexdigest()[:15], 16) for i in ids]
    values = ", ".join(f"('{i}')" for i in ids)
    with duckdb.connect() as con:
        on_duckdb = [r[0] for r in con.execute(
            f"SELECT {portable_hash('duckdb', 'i')} FROM (VALUES {values}) t(i)").fetchall()]
    on_spark = [r[0] for r in spark_session().sql(
        f"SELECT {portable_hash('spark', 'i')} FROM VALUES {values} AS t(i)").collect()]
    assert on_duckdb == expected == on_spark


def test_the_model_conditions_are_transpiled_for_spark():
    sql = ("jaro_winkler_similarity(first_key_l, first_key_r) >= 0.8 AND "
           "starts_with(father_core_l, father_core_r) AND "
           "abs(date_diff('day', birth_date_l, birth_date_r)) <= 731")
    spark = linkage_sql("spark", sql)
    assert "JARO_WINKLER_SIMILARITY(first_key_l, first_key_r) >= 0.8" in spark
    assert "STARTSWITH(father_core_l, father_core_r)" in spark
    assert "DATEDIFF(DAY, birth_date_l, birth_date_r)" in spark
    assert linkage_sql("duckdb", sql) == sql
    with pytest.raises(ValueError, match="not on `sqlite`"):
        linkage_sql("sqlite", sql)
