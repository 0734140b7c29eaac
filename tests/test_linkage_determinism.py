"""The same seed gives the same pairs whichever route runs the job: the command line (in a
child process, under two different PYTHONHASHSEEDs) and ``run_linkage()`` from Python.

The two routes once disagreed because the command line's threshold (0.5) and
``ModelOptions``' default (0.9) were two constants; both now come from
linkage.model.DEFAULT_THRESHOLD.

The same holds with the blocking tightened (a budget small enough to split blocks) and
decisions to learn from (read by the command line from the app store): the blocking plan,
the corrections learned, the pairs and their review ranks are the same.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from data_access.app_store import open_app_store
from data_access.linkage_store import decisions, latest_run, record_decision, suspected_pairs
from data_access.registry import open_registry
from linkage.job import run_linkage
from linkage.model import DEFAULT_THRESHOLD, ModelOptions

ROOT = Path(__file__).resolve().parents[1]
KEYS = ["person_id_a", "person_id_b"]


@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> Path:
    """The demo of the issue: 800 households (~5,200 persons), seed 3."""
    out = tmp_path_factory.mktemp("determinism") / "registry.db"
    subprocess.run([sys.executable, "-m", "demo", "--out", str(out),
                    "--households", "800", "--seed", "3"], cwd=ROOT, check=True,
                   capture_output=True)
    return out


def cli_pairs(database: Path, out: Path, hash_seed: str) -> pd.DataFrame:
    env = {**os.environ, "PYTHONHASHSEED": hash_seed}
    subprocess.run([sys.executable, "-m", "linkage",
                    "--database-url", f"sqlite:///{database}", "--no-store", "--quiet",
                    "--out", str(out)], cwd=ROOT, env=env, check=True, capture_output=True)
    return pd.read_csv(out, dtype={"person_id_a": str, "person_id_b": str})


def test_command_line_and_python_give_the_same_pairs(demo: Path, tmp_path: Path):
    engine = open_registry(f"sqlite:///{demo}")
    try:
        result = run_linkage(engine, ModelOptions())
    finally:
        engine.dispose()
    assert result.options.threshold == DEFAULT_THRESHOLD == 0.5
    in_process = result.pairs[KEYS + ["match_probability"]].reset_index(drop=True)
    assert len(in_process) > 10
    for hash_seed in ("0", "4242"):
        cli = cli_pairs(demo, tmp_path / f"pairs_{hash_seed}.csv", hash_seed)
        pd.testing.assert_frame_equal(cli[KEYS + ["match_probability"]], in_process,
                                      check_exact=False, rtol=0, atol=1e-9)


def test_tightened_and_learning_the_routes_agree(demo: Path, tmp_path: Path):
    """A budget of 0.1 pairs per person (the demo's passes give 0.2: blocks are split) and
    decisions in the app store: the command line (two hash seeds) and Python agree."""
    engine = open_registry(f"sqlite:///{demo}")
    try:
        first = run_linkage(engine, ModelOptions(max_pairs_per_person=0.1))
        assert first.plan is not None and first.plan.tightened
        pairs = first.pairs.sort_values("review_rank")
        store_url = f"sqlite:///{tmp_path / 'store.db'}"
        store = open_app_store(store_url)
        for i, row in enumerate(pairs.head(6).itertuples(index=False)):
            record_decision(store, row.person_id_a, row.person_id_b,
                            "same" if i % 3 else "different", decided_by="officer")
        taken = decisions(store)
        in_process = run_linkage(engine, ModelOptions(max_pairs_per_person=0.1),
                                 decisions=taken)
    finally:
        engine.dispose()
    assert in_process.parameters["learned"]["decisions"] == 6
    for hash_seed in ("0", "4242"):
        env = {**os.environ, "PYTHONHASHSEED": hash_seed}
        done = subprocess.run(
            [sys.executable, "-m", "linkage", "--database-url", f"sqlite:///{demo}",
             "--app-store-url", store_url, "--max-pairs-per-person", "0.1"],
            cwd=ROOT, env=env, check=True, capture_output=True, text=True)
        assert "over the budget" in done.stdout and "learned from 6 decisions" in done.stdout
        run = latest_run(store)
        assert run.model["parameters"]["learned"] == in_process.parameters["learned"]
        assert run.model["blocking_plan"] == in_process.plan.lines()
        stored = suspected_pairs(store, run.run_id, include_dismissed=True)
        columns = KEYS + ["match_probability", "review_rank"]
        expected = in_process.pairs[columns].sort_values(KEYS).reset_index(drop=True)
        got = stored[columns].sort_values(KEYS).reset_index(drop=True)
        got["review_rank"] = got["review_rank"].astype("Int64")
        pd.testing.assert_frame_equal(got, expected, check_exact=False, rtol=0, atol=1e-9,
                                      check_dtype=False)
    store.dispose()
