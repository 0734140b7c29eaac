"""``python -m linkage``: find persons registered more than once.

    python -m linkage [--database-url URL] [--app-store-url URL] [--config PATH]
                                 [--engine duckdb|spark]
                                 [--out pairs.csv] [--threshold 0.5] [--seed 1]
                                 [--threads 2] [--memory-limit 1GB] [--truth truth.csv]
                                 [--max-pairs-per-person N] [--no-store] [--quiet]

Reads the registry's persons (read-only), counts each blocking pass's candidate pairs and
tightens the passes whose blocks are too large to keep within the budget (the
configuration's ``linkage.max_pairs_per_person``; linkage.blocking), scores candidate
pairs with the linkage model (linkage.model, Splink on an in-process DuckDB, or on Spark
with ``--engine spark``: linkage.backends, the same pairs), learning from
the decisions officers took on pairs (linkage.learning), and stores the run, its suspected
pairs (match probability ≥ threshold) ranked for review and the evidence per field in the
app store (data_access.linkage_store), in one transaction. Decisions are never overturned:
a pair dismissed before stays dismissed, a pair confirmed stays whatever its score.
It prints what the blocking did, the blocking recall it estimates and the time of each
stage. ``--no-store`` neither reads nor writes the app store (no decisions to learn
from). ``--out`` also writes the pairs as CSV:
person_id_a, person_id_b, match_probability, match_weight, cluster_id, cross_programme,
then one ``<comparison>`` (level label) and ``<comparison>_weight`` column per comparison.
``--truth`` (a CSV of person_id_a, person_id_b known to be duplicates, such as the demo's
``registry.truth/fuzzy_duplicates.csv``) prints precision, recall, F1 and blocking recall.

A progress bar goes to stderr. Any problem — a bad argument, a configuration, registry or
app store that cannot be used — prints one message and exits 2. Never imports Streamlit.
"""

from __future__ import annotations

import argparse
import re
import sys
import tempfile
import time
from pathlib import Path

from core.cli import Parser, UsageError, fail, whole_number
from data_access.dialects import LINKAGE_DIALECTS
from linkage.model import (
    DEFAULT_MEMORY_LIMIT,
    DEFAULT_SEED,
    DEFAULT_THREADS,
    DEFAULT_THRESHOLD,
)

PROG = "python -m linkage"


def _probability(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"`{text}` is not a number between 0 and 1") from None
    if not 0.0 < value < 1.0:
        raise argparse.ArgumentTypeError(f"{value} is not between 0 and 1 (e.g. 0.5)")
    return value


def _pairs_budget(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"`{text}` is not a number (e.g. 8)") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"{text} is not more than 0 pairs per person")
    return value


def _memory(text: str) -> str:
    """A DuckDB memory limit: a number and a unit (500MB, 1GB, 1.5GiB)."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([KMGT]i?B)\s*", text, re.IGNORECASE)
    if not match or float(match.group(1)) <= 0:
        raise argparse.ArgumentTypeError(f"`{text}` is not a memory size (e.g. 1GB, 500MB)")
    return f"{match.group(1)}{match.group(2).upper().replace('I', 'i')}"


def parser() -> argparse.ArgumentParser:
    p = Parser(prog=PROG, description="Find persons registered more than once (record "
               "linkage) and store the suspected pairs in the app store.")
    p.add_argument("--database-url", help="registry URL, or a Parquet registry folder "
                   "(default: the configuration's database.url)")
    p.add_argument("--app-store-url", help="app store URL (default: the configuration's "
                   "app_store.url)")
    p.add_argument("--config", help="configuration file (default: config.toml, or SOCLE_CONFIG)")
    p.add_argument("--engine", choices=LINKAGE_DIALECTS, default="duckdb",
                   help="where Splink trains the model and scores the pairs: an in-process "
                        "DuckDB (default) or Spark (local, or the cluster's under "
                        "spark-submit); the same pairs either way")
    p.add_argument("--out", type=Path, help="also write the pairs to this CSV file")
    p.add_argument("--threshold", type=_probability, default=DEFAULT_THRESHOLD,
                   help="match probability from which a pair is suspected "
                        f"(default {DEFAULT_THRESHOLD})")
    p.add_argument("--seed", type=whole_number(0, too_small="{value} is negative"), default=DEFAULT_SEED,
                   help=f"seed of the random pairs (default {DEFAULT_SEED})")
    p.add_argument("--threads", type=whole_number(1), default=DEFAULT_THREADS,
                   help=f"DuckDB threads (default {DEFAULT_THREADS})")
    p.add_argument("--memory-limit", type=_memory, default=DEFAULT_MEMORY_LIMIT,
                   help="DuckDB memory limit, beyond which it spills to disk "
                        f"(default {DEFAULT_MEMORY_LIMIT})")
    p.add_argument("--truth", type=Path, help="CSV of known duplicate pairs (person_id_a, "
                   "person_id_b): print precision, recall, F1")
    p.add_argument("--max-pairs-per-person", type=_pairs_budget, default=None,
                   help="most candidate pairs per person to score (default: the "
                        "configuration's linkage.max_pairs_per_person)")
    p.add_argument("--no-store", action="store_true",
                   help="do not use the app store (nothing stored, no decisions read)")
    p.add_argument("--quiet", action="store_true", help="no progress bar, no summary")
    return p


def _readable(database: str, scratch: Path) -> str:
    """The registry's SQLAlchemy URL; a Parquet registry folder (one file or dataset per
    contract table, as the cube reads) is read by DuckDB where it lies, through views made
    in ``scratch``."""
    if "://" in database or not Path(database).is_dir():
        return database
    from data_access.registry_sources import registry_url

    return registry_url("duckdb", database, scratch)


def _fail(message: str) -> int:
    return fail(PROG, message)


def pairs_csv(pairs, evidence):
    """The pairs with one label and one weight column per comparison (the --out file)."""
    import pandas as pd

    from linkage.model import comparisons

    out = pairs[["person_id_a", "person_id_b", "match_probability", "match_weight",
                 "cluster_id", "cross_programme", "same_programme"]].copy()
    if evidence.empty:
        return out
    keys = ["person_id_a", "person_id_b"]
    for comp in [c["output_column_name"] for c in comparisons()]:
        part = evidence[evidence["comparison"] == comp][keys + ["label", "match_weight"]]
        part = part.rename(columns={"label": comp, "match_weight": f"{comp}_weight"})
        out = out.merge(part, on=keys, how="left")
    return pd.DataFrame(out)


def summary_lines(result) -> list[str]:
    """What the run did, after its one-line summary: the blocking (what was counted, what
    was tightened, the blocking recall estimated), the pairs each pass scored, what the
    decisions taught, the time of each stage."""
    lines = list(result.plan.lines()) if result.plan is not None else []
    for row in result.blocking.itertuples(index=False):
        counted = f" (counted {row.counted:,})" if hasattr(row, "counted") else ""
        lines.append(f"  blocking pass {row.rule}: {row.comparisons:,} pairs scored{counted}")
    learned = result.parameters.get("learned")
    if learned:
        lines.append(f"learned from {learned['decisions']:,} decisions ({learned['same']:,} "
                     f"same person, {learned['different']:,} different persons)")
    if result.stages:
        lines.append("stages: " + ", ".join(f"{name} {seconds:.1f} s"
                                            for name, seconds in result.stages.items()))
    return lines


def main(argv: list[str] | None = None) -> int:
    try:
        args = parser().parse_args(argv)
        if args.out is not None and not args.out.parent.exists():
            raise UsageError(f"argument --out: the folder `{args.out.parent}` does not exist")
        if args.truth is not None and not args.truth.is_file():
            raise UsageError(f"argument --truth: no file `{args.truth}`")
    except UsageError as exc:
        return _fail(str(exc))

    # Imported here so that --help and argument errors stay fast.
    from core.cli import ProgressBar
    from core.settings import SettingsError, load_settings
    from data_access.app_store import open_app_store
    from data_access.commands import dispose, reported
    from data_access.linkage_store import decisions, store_linkage_run
    from data_access.registry import open_registry
    from linkage import evaluate
    from linkage.job import run_linkage
    from linkage.model import ModelOptions

    database_url, store_url = args.database_url, args.app_store_url
    try:
        settings = load_settings(args.config, check_files=False)
    except SettingsError as exc:
        return _fail(f"configuration: {exc}")
    database_url = database_url or settings.database_url
    store_url = store_url or settings.app_store_url
    budget = args.max_pairs_per_person or settings["linkage.max_pairs_per_person"]

    steps = 20
    bar = ProgressBar(steps, enabled=not args.quiet)
    done = [0]

    def progress(fraction: float, message: str) -> None:
        target = min(int(fraction * steps), steps)
        while done[0] < target:
            bar.step_done(done[0], message)
            done[0] += 1
        bar.update(done[0], fraction * steps - done[0], message)

    registry = store = None
    started = time.perf_counter()
    scratch = tempfile.TemporaryDirectory(prefix="socle-linkage-")
    try:
        truth = evaluate.read_truth(args.truth) if args.truth else None
        registry = open_registry(_readable(database_url, Path(scratch.name)))
        decided = None
        if not args.no_store:
            store = open_app_store(store_url)
            decided = decisions(store)
        options = ModelOptions(seed=args.seed, threshold=args.threshold,
                               max_pairs_per_person=budget)
        try:
            result = run_linkage(registry, options, threads=args.threads,
                                 memory_limit=args.memory_limit, truth=truth,
                                 decisions=decided, splink_engine=args.engine,
                                 progress=lambda f, m: progress(0.95 * f, m))
            run_id = None
            if store is not None:
                progress(0.95, "storing")
                run_id = store_linkage_run(store, result)
            if args.out is not None:
                pairs_csv(result.pairs, result.evidence).to_csv(args.out, index=False,
                                                                 lineterminator="\n")
            progress(1.0, "done")
        finally:
            bar.close()
    except Exception as exc:
        return reported(PROG, exc)
    finally:
        dispose(registry, store)
        scratch.cleanup()
    if not args.quiet:
        where = f"run {run_id} in the app store" if run_id is not None else "not stored"
        cross = int(result.pairs["cross_programme"].sum()) if len(result.pairs) else 0
        print(f"{result.persons:,} persons: {len(result.pairs):,} suspected pairs "
              f"(match probability ≥ {options.threshold}), {result.clusters:,} persons "
              f"registered more than once ({result.records_in_clusters:,} records), "
              f"{cross:,} pairs enrolled in different programmes; {where}; "
              f"{time.perf_counter() - started:.1f} s")
        for line in summary_lines(result):
            print(line)
        if args.out is not None:
            print(f"  pairs written to {args.out}")
    if truth is not None:
        scores = evaluate.evaluate(result.pairs, truth)
        print(f"against {args.truth}: {scores.line()}")
        if result.blocking_recall is not None:
            for row in result.blocking_recall.itertuples(index=False):
                print(f"  blocking recall {row.rule}: {row.recall:.3f} "
                      f"(cumulative {row.cumulative_recall:.3f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
