"""Benchmark of the record-linkage job against planted duplicates.

    .venv/bin/python bench/bench_linkage.py --persons 100000,1000000 [--seed 1]
        [--workdir DIR] [--reuse] [--threads 2] [--baseline]
        [--generator demo|foreign] [--profile kp|mixed|harsh]

For each size it generates a registry — the demo registry (about 6.5 persons per household)
or, with ``--generator foreign``, one of bench/foreign_registry.py (a generator written from
the registry contract alone, apart from the demo and the model: registries the model was
not built on) — then runs, each in a child process of its own, on the same data:

- ``socle``: the job as shipped (python -m linkage, Splink 5 on DuckDB, household
  context as one comparison);
- ``baseline`` (with --baseline): a generic Splink setup on the same blocking passes, with
  every field scored as an independent comparison (names by Jaro-Winkler, birth date, id,
  sex, surname, father's name, phone, area, household), as a first Splink model would be.

Measured per run: wall time, peak memory (the child's maximum resident set), precision,
recall and F1 of the pairs at probability ≥ 0.5 against the truth (the demo's
``registry.truth/fuzzy_duplicates.csv``: each planted re-registration is one person twice;
persons planted as sharing a national id are different persons; the foreign generator's
``<registry>_truth.csv``: every pair of records of one person). Prints one line per run, the ratios socle / baseline, and a
Markdown table for the README. Run it under ``nice`` on a shared machine.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

PERSONS_PER_HOUSEHOLD = 6.48


def baseline_comparisons() -> list:
    """A generic Fellegi-Sunter model: each field its own, independent comparison."""
    import splink.comparison_library as cl

    return [
        cl.JaroWinklerAtThresholds("first_clean", [0.92, 0.8]),
        cl.JaroWinklerAtThresholds("last_key", [0.92, 0.8]),
        cl.JaroWinklerAtThresholds("father_key", [0.92, 0.8]),
        cl.DateOfBirthComparison("birth_date", input_is_string=False),
        cl.LevenshteinAtThresholds("national_id", [1]),
        cl.ExactMatch("sex"),
        cl.ExactMatch("phone"),
        cl.ExactMatch("area_id"),
        cl.ExactMatch("household_id"),
    ]


def run_child(args: argparse.Namespace) -> None:
    """Run one job in this process and print its figures as JSON (called by the parent)."""
    from data_access.registry import open_registry
    from linkage import evaluate, job
    from linkage.model import ModelOptions

    truth = evaluate.read_truth(args.truth)
    started = time.perf_counter()
    engine = open_registry(args.database_url)
    if args.variant == "socle":
        result = job.run_linkage(engine, ModelOptions(seed=args.seed), threads=args.threads,
                                 truth=truth)
        pairs = result.pairs
        blocking = float(result.blocking_recall["cumulative_recall"].iloc[-1])
    else:
        pairs, blocking = run_baseline(engine, args, truth)
    seconds = time.perf_counter() - started
    scores = evaluate.evaluate(pairs, truth, threshold=0.5)
    print(json.dumps({"seconds": seconds, "precision": scores.precision,
                      "recall": scores.recall, "f1": scores.f1, "pairs": scores.predicted,
                      "truth": scores.truth, "blocking_recall": blocking}))


def run_baseline(engine, args, truth):
    import logging

    from splink import DuckDBAPI, Linker

    from linkage import evaluate, job, model, prepare

    con = job.connect(args.threads, memory_limit=None)  # DuckDB's own default, as before
    prepare.read_raw_persons(engine, con, "raw_persons")
    prepare.prepare_in_duckdb(con, "raw_persons", "persons")
    con.execute("DROP TABLE raw_persons")
    table = DuckDBAPI(connection=con).register("persons", table_name="persons_input")
    settings = {
        "link_type": "dedupe_only", "unique_id_column_name": "unique_id",
        "comparisons": baseline_comparisons(),
        "blocking_rules_to_generate_predictions": [sql for _, sql in model.BLOCKING_RULES],
    }
    linker = Linker(table, settings, log_level=logging.ERROR)
    linker.training.estimate_probability_two_random_records_match(
        [model.PRIOR_RULE], recall=model.PRIOR_RECALL)
    linker.training.estimate_u_using_random_sampling(max_pairs=2e6, seed=args.seed)
    for rule in ("l.first_clean = r.first_clean AND l.birth_date = r.birth_date",
                 "l.household_id = r.household_id"):
        try:
            linker.training.estimate_parameters_using_expectation_maximisation(rule)
        except ValueError:
            pass
    frame = linker.inference.predict(threshold_match_probability=0.5).as_pandas_dataframe()
    pairs = frame.rename(columns={"unique_id_l": "person_id_a", "unique_id_r": "person_id_b"})
    recall = evaluate.blocking_recall(con, truth, table="persons")
    con.close()
    return pairs, float(recall["cumulative_recall"].iloc[-1])


def measure(variant: str, url: str, truth: Path, args: argparse.Namespace) -> dict:
    """Run one variant in a child process; its figures with wall time and peak memory."""
    command = [sys.executable, __file__, "--child", variant, "--database-url", url,
               "--truth", str(truth), "--seed", str(args.seed), "--threads", str(args.threads)]
    started = time.perf_counter()
    child = subprocess.Popen(command, stdout=subprocess.PIPE, cwd=ROOT, text=True)
    out = child.stdout.read()
    _, status, usage = os.wait4(child.pid, 0)
    wall = time.perf_counter() - started
    if status != 0:
        raise SystemExit(f"{variant} failed (status {status})")
    figures = json.loads(out.strip().splitlines()[-1])
    figures.update(variant=variant, wall=wall, peak_mb=usage.ru_maxrss / 1024)
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--persons", default="100000",
                        help="comma-separated registry sizes in persons (default 100000)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--workdir", type=Path)
    parser.add_argument("--reuse", action="store_true", help="reuse registries in --workdir")
    parser.add_argument("--baseline", action="store_true",
                        help="also run the generic Splink baseline")
    parser.add_argument("--generator", choices=("demo", "foreign"), default="demo",
                        help="demo: the demo registry's planted duplicates; foreign: "
                             "bench/foreign_registry.py, a generator written apart from the "
                             "demo and the model (--profile)")
    parser.add_argument("--profile", choices=("kp", "mixed", "harsh"), default="kp",
                        help="the foreign generator's noise profile (default kp)")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--database-url", help=argparse.SUPPRESS)
    parser.add_argument("--truth", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        args.variant = args.child
        run_child(args)
        return

    from demo.generator import Options, generate

    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="socle-linkage-bench-"))
    workdir.mkdir(parents=True, exist_ok=True)
    rows = []
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores visible, "
          f"DuckDB threads {args.threads}", flush=True)
    for size in [int(s) for s in args.persons.split(",")]:
        if args.generator == "demo":
            database = workdir / f"registry_{size}.db"
            truth = database.with_name(f"{database.stem}.truth") / "fuzzy_duplicates.csv"
            if not (args.reuse and database.exists()):
                generate(Options(out=database, households=round(size / PERSONS_PER_HOUSEHOLD),
                                 seed=args.seed))
        else:
            database = workdir / f"foreign_{args.profile}_{size}.db"
            truth = database.with_name(f"{database.stem}_truth.csv")
            if not (args.reuse and database.exists()):
                subprocess.run([sys.executable, str(ROOT / "bench" / "foreign_registry.py"),
                                "--persons", str(size), "--out", str(database),
                                "--truth", str(truth), "--seed", str(args.seed),
                                "--profile", args.profile], check=True, stdout=subprocess.DEVNULL)
        url = f"sqlite:///{database}"
        variants = ["socle"] + (["baseline"] if args.baseline else [])
        found = {}
        for variant in variants:
            figures = measure(variant, url, truth, args)
            found[variant] = figures
            rows.append((size, figures))
            figures["registry"] = (f"foreign ({args.profile})" if args.generator == "foreign"
                                   else "demo")
            print(f"{size:,} persons, {variant}: {figures['wall']:.1f} s, "
                  f"{figures['peak_mb']:,.0f} MB peak, precision {figures['precision']:.3f}, "
                  f"recall {figures['recall']:.3f}, F1 {figures['f1']:.3f} "
                  f"({figures['pairs']:,} pairs, {figures['truth']:,} planted, "
                  f"blocking recall {figures['blocking_recall']:.3f})", flush=True)
        if "baseline" in found:
            s, b = found["socle"], found["baseline"]
            print(f"{size:,} persons, socle / baseline: F1 {s['f1'] / max(b['f1'], 1e-9):.2f}×, "
                  f"time {s['wall'] / b['wall']:.2f}×, memory {s['peak_mb'] / b['peak_mb']:.2f}×")
    print("\n| registry | persons | job | wall time | peak memory | precision | recall | F1 |")
    print("|---|---|---|---|---|---|---|---|")
    for size, f in rows:
        print(f"| {f['registry']} | {size:,} | {f['variant']} | {f['wall']:.0f} s "
              f"| {f['peak_mb'] / 1024:.2f} GB "
              f"| {f['precision']:.3f} | {f['recall']:.3f} | {f['f1']:.3f} |")


if __name__ == "__main__":
    main()
