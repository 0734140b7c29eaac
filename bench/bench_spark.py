"""Benchmark: the indicator cube on Spark (local[2]) at growing registry sizes.

    .venv/bin/python bench/bench_spark.py --base /path/registry_1000000.duckdb \\
        [--copies 1,2,4] [--levels 1,2,3] [--master local[2]] [--driver-memory 6g] [--workdir DIR]
        [--duckdb-baseline] [--reuse]

The registries are the base registry (a DuckDB registry, e.g. the one bench/bench.py leaves
in its workdir) written as Parquet folders 1, 2 and 4 times over: each copy's households,
persons, enrolments and referrals get ids of their own (``c<k>-`` before every id, the
national id's first digit shifted by k so that copies do not share ids), in the same areas
and programmes. So a registry of 4 copies is 4 times the rows of the same shape: the time
per million households should be flat.

Each size runs in a child process of its own (a fresh JVM): after a warm-up on the smallest
indicator, the cube (the long form of every level, or of the levels asked for, computed
together: indicators.compute_levels), with its wall seconds, the bytes Spark
shuffled (written) and the JVM's peak heap and peak resident memory of the executor (local
mode: the driver is the executor), from Spark's monitoring API; with ``--duckdb-baseline``,
the same levels on DuckDB reading the same Parquet files. Prints Markdown tables for the
README and docs/scale.md; nothing is asserted.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

# Tables whose rows are copied, and the id columns each copy prefixes.
COPIED_IDS = {
    "household": ("household_id",),
    "person": ("person_id", "household_id"),
    "enrolment": ("enrolment_id", "household_id", "person_id"),
    "referral": ("referral_id", "household_id", "person_id"),
}


def _sql_text(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def write_copies(base: Path, copies: int, folder: Path) -> dict[str, int]:
    """The base DuckDB registry ``copies`` times over, as a Parquet folder; rows per table."""
    import duckdb

    from data_access.schema import REGISTRY_TABLES

    folder.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect()
    con.execute(f"ATTACH {_sql_text(str(base))} AS base (READ_ONLY)")
    rows: dict[str, int] = {}
    for table in REGISTRY_TABLES:
        target = _sql_text(str(folder / f"{table.name}.parquet"))
        ids = COPIED_IDS.get(table.name)
        if ids is None:
            query = f"SELECT * FROM base.{table.name}"
        else:
            columns = []
            for column in table.columns:
                name = column.name
                if name in ids:
                    columns.append(f"CASE WHEN {name} IS NULL THEN NULL "
                                   f"ELSE 'c' || k || '-' || {name} END AS {name}")
                elif name == "national_id":
                    # The first digit shifted by the copy's number: still 13 digits when it
                    # was, and no id shared between copies that was not shared before.
                    columns.append(
                        "CASE WHEN k = 0 OR national_id IS NULL OR "
                        "NOT regexp_full_match(national_id, '[0-9].*') THEN national_id "
                        "ELSE CAST((CAST(substr(national_id, 1, 1) AS INTEGER) + k) % 10 "
                        "AS VARCHAR) || substr(national_id, 2) END AS national_id")
                else:
                    columns.append(name)
            query = (f"SELECT {', '.join(columns)} FROM base.{table.name}, "
                     f"range({copies}) AS copies(k)")
        con.execute(f"COPY ({query}) TO {target} (FORMAT PARQUET)")
        rows[table.name] = con.execute(f"SELECT count(*) FROM read_parquet({target})").fetchone()[0]
    con.close()
    return rows


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _api(port: int, path: str) -> object:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v1/{path}", timeout=30) as reply:
        return json.load(reply)


def measure(folder: str, levels: list[int], master: str, driver_memory: str) -> dict:
    """In the child: the cube of each level on Spark, and what Spark says it used."""
    import datetime as dt

    from data_access.areas import read_area_tree
    from data_access.registry import default_as_of, open_registry
    from data_access.registry_sources import spark_registry_url
    from data_access.spark import spark_session
    from indicators import compute, compute_levels

    port = _free_port()
    started = time.perf_counter()
    session = spark_session(master, {"spark.ui.enabled": "true", "spark.ui.port": str(port),
                                     "spark.executor.processTreeMetrics.enabled": "true",
                                     "spark.driver.memory": driver_memory})
    app = session.sparkContext.applicationId
    engine = open_registry(spark_registry_url(folder))
    as_of = default_as_of(engine)
    levels = levels or read_area_tree(engine).levels
    compute(engine, as_of=as_of, level=levels[0], indicator_ids=["dq.unassessed_households"])
    warm = time.perf_counter() - started
    began = time.perf_counter()
    figures = sum(map(len, compute_levels(engine, as_of=as_of, levels=levels).values()))
    seconds = time.perf_counter() - began
    stages = _api(port, f"applications/{app}/stages?status=complete")
    executors = _api(port, f"applications/{app}/allexecutors")
    peaks = [e.get("peakMemoryMetrics") or {} for e in executors]
    engine.dispose()
    return {"as_of": dt.date.isoformat(as_of), "start_and_warm_up_seconds": warm,
            "levels": levels, "seconds": seconds, "figures": figures,
            "shuffle_write_bytes": sum(s.get("shuffleWriteBytes", 0) for s in stages),
            "shuffle_read_bytes": sum(s.get("shuffleReadBytes", 0) for s in stages),
            "input_bytes": sum(s.get("inputBytes", 0) for s in stages),
            "peak_jvm_heap_bytes": max((p.get("JVMHeapMemory", 0) for p in peaks), default=0),
            "peak_process_rss_bytes": max((p.get("ProcessTreeJVMRSSMemory", 0) for p in peaks),
                                          default=0)}


def measure_duckdb(folder: str, levels: list[int]) -> dict:
    """In the child: the same levels on DuckDB, reading the same Parquet files (the
    baseline: one machine's engine on the same input), with CPU seconds and peak memory."""
    import resource

    from data_access.areas import read_area_tree
    from data_access.registry import default_as_of, open_registry
    from data_access.registry_sources import registry_url
    from indicators import compute, compute_levels

    def cpu() -> float:
        usage = resource.getrusage(resource.RUSAGE_SELF)
        return usage.ru_utime + usage.ru_stime

    with tempfile.TemporaryDirectory() as scratch:
        engine = open_registry(registry_url("duckdb", folder, Path(scratch)))
        as_of = default_as_of(engine)
        levels = levels or read_area_tree(engine).levels
        compute(engine, as_of=as_of, level=levels[0], indicator_ids=["dq.unassessed_households"])
        began, cpu_began = time.perf_counter(), cpu()
        compute_levels(engine, as_of=as_of, levels=levels)
        seconds, cpu_seconds = time.perf_counter() - began, cpu() - cpu_began
        engine.dispose()
    return {"seconds": seconds, "cpu_seconds": cpu_seconds,
            "peak_rss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024}


def _child(folder: Path, levels: list[int], master: str, driver_memory: str,
           engine: str = "spark") -> dict:
    call = (f"measure({str(folder)!r}, {levels!r}, {master!r}, {driver_memory!r})"
            if engine == "spark" else f"measure_duckdb({str(folder)!r}, {levels!r})")
    code = (f"import json, sys; sys.path.insert(0, {str(ROOT)!r}); "
            f"from bench.bench_spark import measure, measure_duckdb; "
            f"print('RESULT ' + json.dumps({call}))")
    env = {**os.environ, "SOCLE_SPARK_SHUFFLE_PARTITIONS": os.environ.get(
        "SOCLE_SPARK_SHUFFLE_PARTITIONS", "8")}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          cwd=ROOT, env=env)
    if done.returncode != 0:
        raise SystemExit(f"the Spark child failed:\n{done.stderr[-4000:]}")
    # The result's own line (a progress bar may have been drawn on the same output).
    line = next(line for line in reversed(done.stdout.splitlines()) if "RESULT " in line)
    return json.loads(line.split("RESULT ", 1)[1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", type=Path, required=True, help="a DuckDB registry")
    parser.add_argument("--copies", default="1,2,4")
    parser.add_argument("--levels", default="", help="comma-separated levels (default: every "
                        "level of the registry, computed together: the cube)")
    parser.add_argument("--master", default="local[2]")
    parser.add_argument("--driver-memory", default="6g")
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument("--duckdb-baseline", action="store_true", help="also the same levels "
                        "on DuckDB over the same Parquet files, at each size")
    parser.add_argument("--reuse", action="store_true", help="reuse Parquet folders written "
                        "in --workdir by an earlier run")
    args = parser.parse_args()
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="socle-bench-spark-"))
    levels = [int(x) for x in args.levels.split(",") if x.strip()]
    print(f"Machine: {platform.machine()}, {os.cpu_count()} cores, Python "
          f"{platform.python_version()}; load average {os.getloadavg()[0]:.1f}; "
          f"Spark {args.master}, driver memory {args.driver_memory}", flush=True)
    results = []
    for copies in [int(x) for x in args.copies.split(",")]:
        folder = workdir / f"parquet_x{copies}"
        if not (args.reuse and (folder / "household.parquet").exists()):
            began = time.perf_counter()
            rows = write_copies(args.base, copies, folder)
            (folder / "rows.json").write_text(json.dumps(rows))
            print(f"x{copies}: written in {time.perf_counter() - began:.1f} s: {rows}", flush=True)
        rows = json.loads((folder / "rows.json").read_text())
        figures = _child(folder, levels, args.master, args.driver_memory)
        figures.update(copies=copies, households=rows["household"], persons=rows["person"])
        if args.duckdb_baseline:
            figures["duckdb"] = _child(folder, levels, args.master, args.driver_memory,
                                       engine="duckdb")
        print(json.dumps(figures), flush=True)
        results.append(figures)

    _print_table(
        ["households", "persons", "level(s)", "seconds", "s per 1M households",
         "shuffled (written)", "input read", "peak JVM heap", "peak executor RSS"],
        [[f"{r['households']:,}", f"{r['persons']:,}", ", ".join(map(str, r["levels"])),
          f"{r['seconds']:.1f}", f"{r['seconds'] / (r['households'] / 1e6):.1f}",
          f"{r['shuffle_write_bytes'] / 1e6:,.0f} MB", f"{r['input_bytes'] / 1e6:,.0f} MB",
          f"{r['peak_jvm_heap_bytes'] / 1e9:.2f} GB",
          f"{r['peak_process_rss_bytes'] / 1e9:.2f} GB"] for r in results],
        text_columns={2})
    if args.duckdb_baseline:
        _print_table(
            ["households", "DuckDB seconds", "DuckDB CPU seconds", "DuckDB peak RSS",
             "Spark ÷ DuckDB (wall)"],
            [[f"{r['households']:,}", f"{r['duckdb']['seconds']:.1f}",
              f"{r['duckdb']['cpu_seconds']:.1f}",
              f"{r['duckdb']['peak_rss_bytes'] / 1e9:.2f} GB",
              f"{r['seconds'] / r['duckdb']['seconds']:.1f}"] for r in results])


def _print_table(header: list[str], rows: list[list[str]], text_columns: set[int] = frozenset()
                 ) -> None:
    """A Markdown table for the README: figures right-aligned, ``text_columns`` left."""
    print("\n| " + " | ".join(header) + " |")
    print("|" + "|".join("---" if i in text_columns else "---:" for i in range(len(header)))
          + "|")
    for row in rows:
        print("| " + " | ".join(row) + " |")


if __name__ == "__main__":
    main()
