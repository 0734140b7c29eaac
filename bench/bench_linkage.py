"""Benchmark of the record-linkage job against planted duplicates.

    .venv/bin/python bench/bench_linkage.py --persons 100000,1000000 [--seed 1]
        [--workdir DIR] [--reuse] [--threads 2] [--baseline]
        [--generator demo|foreign] [--profile kp|mixed|harsh|sparse]
        [--simulate-reviews 100,300,1000] [--max-pairs-per-person N]
        [--engine duckdb,spark]

For each size it generates a registry — the demo registry (about 6.5 persons per household)
or, with ``--generator foreign``, one of bench/foreign_registry.py (a generator written from
the registry contract alone, apart from the demo and the model: registries the model was
not built on) — then runs, each in a child process of its own, on the same data:

- ``socle``: the job as shipped (python -m linkage, Splink 5 on DuckDB, household
  context as one comparison);
- ``socle`` on Spark (with ``--engine spark`` or ``duckdb,spark``): the same job with
  Splink on Spark (local, ``SOCLE_SPARK_MASTER``); with both engines it says whether the
  pairs and their scores are the same (a digest of the sorted pairs, probabilities to 9
  decimals), and the peak memory adds the Spark JVM's (its peak resident set);
- ``baseline`` (with --baseline): a generic Splink setup on the same blocking passes, with
  every field scored as an independent comparison (names by Jaro-Winkler, birth date, id,
  sex, surname, father's name, phone, area, household), as a first Splink model would be.

Measured per run: wall time, peak memory (the child's maximum resident set), precision,
recall and F1 of the pairs at probability ≥ 0.5 against the truth (the demo's
``registry.truth/fuzzy_duplicates.csv``: each planted re-registration is one person twice;
persons planted as sharing a national id are different persons; the foreign generator's
``<registry>_truth.csv``: every pair of records of one person); the blocking (what was
counted and tightened, the pairs each pass scored) and the time of each stage.

``--simulate-reviews 100,300,1000``: a simulated reviewer answers the review queue from
the planted truth (in the queue's order: what a decision would teach), the decisions go to
an app store in a temporary folder, and the job runs again learning from them; F1 after
each round (100, then 200 more, then 700 more decisions). Prints one line per run, the
ratios socle / baseline, and a Markdown table for the README. Run it under ``nice`` on a
shared machine.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

STARTED = time.perf_counter()  # the child's start, for the wall time of its first run
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


def _socle_run(engine, args, truth, decisions=None) -> dict:
    """One run of the job; its figures (F1 at 0.5 against the truth, blocking, stages)."""
    from linkage import evaluate, job
    from linkage.model import ModelOptions

    options = ModelOptions(seed=args.seed, **({"max_pairs_per_person": args.max_pairs_per_person}
                                             if args.max_pairs_per_person else {}))
    started = time.perf_counter()
    result = job.run_linkage(engine, options, threads=args.threads, truth=truth,
                             decisions=decisions, splink_engine=args.engine)
    seconds = time.perf_counter() - started
    scored = result.pairs.sort_values(["person_id_a", "person_id_b"])
    digest = hashlib.md5("\n".join(
        f"{a},{b},{p:.9f}" for a, b, p in zip(scored["person_id_a"], scored["person_id_b"],
                                              scored["match_probability"], strict=True)
    ).encode()).hexdigest()
    scores = evaluate.evaluate(result.pairs, truth, threshold=0.5)
    return {"result": result, "seconds": seconds, "precision": scores.precision,
            "recall": scores.recall, "f1": scores.f1, "pairs": scores.predicted,
            "truth": scores.truth, "digest": digest, "jvm_peak_mb": _jvm_peak_mb(),
            "blocking_recall": float(result.blocking_recall["cumulative_recall"].iloc[-1]),
            "candidates": int(result.blocking["comparisons"].sum()),
            "counted": int(result.blocking["counted"].sum()),
            "stages": {k: round(v, 1) for k, v in result.stages.items()},
            "stages_cpu": {k: round(v, 1) for k, v in result.stages_cpu.items()},
            "cpu": sum(result.stages_cpu.values()),
            "passes": result.blocking[["rule", "counted", "planned", "comparisons",
                                       "added_keys"]].to_dict(orient="records"),
            "plan": result.plan.lines()}


def _jvm_peak_mb() -> float:
    """The peak resident set of a JVM this process started (Spark's, local), in MB; 0 if
    none. The child's own figure (wait4) leaves its children out."""
    peak = 0.0
    for status in Path("/proc").glob("[0-9]*/status"):
        try:
            fields = dict(line.split(":", 1) for line in status.read_text().splitlines()
                          if ":" in line)
        except OSError:
            continue
        if fields.get("PPid", "").strip() == str(os.getpid()) and "VmHWM" in fields:
            peak = max(peak, int(fields["VmHWM"].split()[0]) / 1024)
    return peak


def simulate_reviews(engine, args, truth, first: dict) -> list[dict]:
    """Officers answering the review queue from the planted truth: after each round (the
    cumulative numbers of ``--simulate-reviews``), the decisions go to an app store and the
    job runs again, learning from them. Each round's figures."""
    from data_access.app_store import open_app_store
    from data_access.linkage_store import (
        decisions,
        record_decision,
        review_queue,
        store_linkage_run,
    )
    from linkage import evaluate

    same = evaluate.truth_closure(truth)
    folder = Path(tempfile.mkdtemp(prefix="socle-bench-store-"))
    store = open_app_store(f"sqlite:///{folder / 'app_store.db'}")
    rounds = []
    run = first
    run_id = store_linkage_run(store, run["result"])
    taken = 0
    for target in [int(n) for n in args.simulate_reviews.split(",")]:
        queue = review_queue(store, run_id, limit=max(target - taken, 0))
        for row in queue.itertuples(index=False):
            key = (row.person_id_a, row.person_id_b)
            record_decision(store, *key, "same" if key in same else "different",
                            decided_by="simulated reviewer", run_id=run_id,
                            match_probability=row.match_probability)
        taken += len(queue)
        run = _socle_run(engine, args, truth, decisions(store))
        run_id = store_linkage_run(store, run["result"])
        rounds.append({k: v for k, v in run.items() if k != "result"} | {"decisions": taken})
    store.dispose()
    return rounds


def run_child(args: argparse.Namespace) -> None:
    """Run one job in this process and print its figures as JSON (called by the parent)."""
    from data_access.registry import open_registry
    from linkage import evaluate

    truth = evaluate.read_truth(args.truth)
    engine = open_registry(args.database_url)
    if args.variant == "socle":
        first = _socle_run(engine, args, truth)
        figures = {k: v for k, v in first.items() if k != "result"}
        # Up to the end of the first run: the wall time of an unsupervised run (the
        # rounds of simulated reviews come after, in the same process).
        figures["first_wall"] = time.perf_counter() - STARTED
        if args.simulate_reviews:
            figures["rounds"] = simulate_reviews(engine, args, truth, first)
        print(json.dumps(figures))
        return
    started = time.perf_counter()
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
               "--truth", str(truth), "--seed", str(args.seed), "--threads", str(args.threads),
               "--engine", args.engine]
    if args.max_pairs_per_person:
        command += ["--max-pairs-per-person", str(args.max_pairs_per_person)]
    if args.simulate_reviews and variant == "socle":
        command += ["--simulate-reviews", args.simulate_reviews]
    started = time.perf_counter()
    load = os.getloadavg()[0]
    child = subprocess.Popen(command, stdout=subprocess.PIPE, cwd=ROOT, text=True)
    out = child.stdout.read()
    _, status, usage = os.wait4(child.pid, 0)
    wall = time.perf_counter() - started
    if status != 0:
        raise SystemExit(f"{variant} failed (status {status})")
    figures = json.loads(out.strip().splitlines()[-1])
    # With simulated reviews the child runs the job again after its first run: its first
    # run's wall time is the process's up to then.
    first = figures.get("first_wall", wall) if figures.get("rounds") else wall
    figures.update(variant=variant, wall=first, child_wall=wall,
                   child_cpu=usage.ru_utime + usage.ru_stime,
                   peak_mb=usage.ru_maxrss / 1024,
                   load=(load + os.getloadavg()[0]) / 2)
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
    parser.add_argument("--profile", choices=("kp", "mixed", "harsh", "sparse"), default="kp",
                        help="the foreign generator's noise profile (default kp)")
    parser.add_argument("--simulate-reviews", metavar="N,N,...",
                        help="answer the review queue from the planted truth, these "
                             "cumulative numbers of decisions (e.g. 100,300,1000), re-running "
                             "the job after each round; prints F1 after each")
    parser.add_argument("--max-pairs-per-person", type=float,
                        help="the job's blocking budget (default: the setting's default)")
    parser.add_argument("--engine", default="duckdb",
                        help="where Splink runs the job: duckdb, spark or duckdb,spark "
                             "(both, on the same registry)")
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
    rows: list[tuple[int, int, dict]] = []
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
        engines = args.engine.split(",")
        variants = [("socle", e) for e in engines] + (
            [("baseline", "duckdb")] if args.baseline else [])
        found = {}
        registry = f"foreign ({args.profile})" if args.generator == "foreign" else "demo"
        for variant, engine in variants:
            figures = measure(variant, url, truth, argparse.Namespace(**{**vars(args),
                                                                       "engine": engine}))
            figures["registry"] = registry
            figures["peak_mb"] += figures.get("jvm_peak_mb", 0.0)
            figures["engine"] = engine
            found[variant if engine == "duckdb" else f"{variant} on {engine}"] = figures
            rows.append((size, 0, figures))
            cpu = f", {figures['cpu']:.0f} s CPU" if "cpu" in figures else ""
            print(f"{size:,} persons, {variant} ({engine}): {figures['wall']:.1f} s{cpu}, "
                  f"load average {figures['load']:.1f}, "
                  f"{figures['peak_mb']:,.0f} MB peak, precision {figures['precision']:.3f}, "
                  f"recall {figures['recall']:.3f}, F1 {figures['f1']:.3f} "
                  f"({figures['pairs']:,} pairs, {figures['truth']:,} planted, "
                  f"blocking recall {figures['blocking_recall']:.3f})", flush=True)
            if variant == "socle":
                _print_run(figures)
                for r in figures.get("rounds", []):
                    r.update(registry=registry, variant="socle", wall=r["seconds"],
                             peak_mb=figures["peak_mb"], load=figures["load"])
                    rows.append((size, r["decisions"], r))
                    print(f"{size:,} persons, after {r['decisions']:,} decisions: "
                          f"{r['seconds']:.1f} s, precision {r['precision']:.3f}, recall "
                          f"{r['recall']:.3f}, F1 {r['f1']:.3f} ({r['pairs']:,} pairs)",
                          flush=True)
        if "socle" in found and "socle on spark" in found:
            same = found["socle"]["digest"] == found["socle on spark"]["digest"]
            print(f"{size:,} persons, Spark and DuckDB: "
                  f"{'the same pairs and scores' if same else 'DIFFERENT pairs or scores'}; "
                  f"time {found['socle on spark']['wall'] / found['socle']['wall']:.2f}×",
                  flush=True)
        if "baseline" in found:
            s, b = found["socle"], found["baseline"]
            print(f"{size:,} persons, socle / baseline: F1 {s['f1'] / max(b['f1'], 1e-9):.2f}×, "
                  f"time {s['wall'] / b['wall']:.2f}×, memory {s['peak_mb'] / b['peak_mb']:.2f}×")
    print("\n| registry | persons | job | decisions | wall time | CPU time | load | peak "
          "memory | candidate pairs | precision | recall | F1 | blocking recall |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for size, taken, f in rows:
        candidates = f"{f['candidates']:,}" if "candidates" in f else "–"
        cpu = f"{f['cpu']:.0f} s" if "cpu" in f else "–"
        job_name = "Socle" if f["variant"] == "socle" else "generic Splink"
        if f.get("engine", "duckdb") != "duckdb":
            job_name += f" on {f['engine'].capitalize()}"
        print(f"| {f['registry']} | {size:,} | {job_name} | {taken:,} | {f['wall']:.0f} s "
              f"| {cpu} | {f['load']:.1f} | {f['peak_mb'] / 1024:.2f} GB | {candidates} "
              f"| {f['precision']:.3f} | {f['recall']:.3f} | {f['f1']:.3f} "
              f"| {f['blocking_recall']:.3f} |")


def _print_run(figures: dict) -> None:
    """The blocking plan, the pairs of each pass and the stage times of a run."""
    for line in figures.get("plan", []):
        print(f"    {line}")
    for p in figures.get("passes", []):
        added = f", split by {p['added_keys']}" if p["added_keys"] else ""
        print(f"    pass {p['rule']}: counted {p['counted']:,}, planned {p['planned']:,}, "
              f"scored {p['comparisons']:,}{added}")
    cpu = figures.get("stages_cpu", {})
    print("    stages (wall / CPU): " + ", ".join(
        f"{k} {v:.1f} / {cpu.get(k, 0):.1f} s" for k, v in figures["stages"].items()),
        flush=True)


if __name__ == "__main__":
    main()
