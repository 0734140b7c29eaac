"""Benchmark: the indicator cube on every backend against a bare DuckDB pass, in one run.

    .venv/bin/python bench/bench.py --households 1000000 [--backends sqlite,postgresql,duckdb,copy]
        [--level 2] [--workdir DIR] [--reuse] [--postgres-url URL]
    .venv/bin/python bench/bench.py --scaling 250000,500000,1000000,2000000 --backends copy

Each measurement gives wall seconds and CPU seconds (the child process's, DuckDB's threads
included): on a shared machine the CPU seconds, and their ratio to the bare pass's, are the
figures to compare.

On one demo registry (generated, or reused from --workdir): the analytical copy's refresh from
SQLite (whole, then incremental after 1 % new rows), the **bare pass** (one grouped aggregate
per table over every column the indicators read, on DuckDB: the floor), and the full cube of
one level on each backend — SQLite and PostgreSQL live, a DuckDB registry, the copy — with its
ratio to the bare pass and the peak memory of the process that computed it (each in a child
process). ``--scaling`` repeats the copy's cube at each size and prints seconds per
1,000 households. Prints Markdown tables for the README; no timing is asserted in the tests.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import resource
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

# One grouped aggregate per table touching every column the indicators read: the floor.
BARE_PASS = {
    "households by area": """
        SELECT area_id, count(*), count(pmt_score), sum(CASE WHEN pmt_score <= 32 THEN 1 END),
               min(registered_on), max(registered_on)
        FROM household WHERE registered_on <= DATE '{d}' GROUP BY area_id""",
    "persons by area and sex, adults": """
        SELECT h.area_id, p.sex, count(*),
               sum(CASE WHEN p.birth_date <= DATE '{d}' - INTERVAL 18 YEAR THEN 1 END),
               count(p.national_id), sum(CASE WHEN p.disability THEN 1 END)
        FROM person p JOIN household h USING (household_id)
        WHERE p.registered_on <= DATE '{d}' GROUP BY ALL""",
    "active enrolments per programme": """
        SELECT programme_id, count(*), count(DISTINCT coalesce(household_id, person_id))
        FROM enrolment WHERE enrolled_on <= DATE '{d}'
          AND (ended_on IS NULL OR ended_on > DATE '{d}') GROUP BY programme_id""",
    "referrals by area and status, median": """
        SELECT h.area_id, r.status, count(*),
               median(date_diff('day', r.referred_on, r.closed_on))
        FROM referral r JOIN household h USING (household_id) GROUP BY ALL""",
    "shared national ids": """
        SELECT count(*) FROM (SELECT national_id FROM person WHERE national_id IS NOT NULL
                              GROUP BY national_id HAVING count(*) > 1)""",
}


def _child(kind: str, url: str, as_of: str, level: int) -> dict:
    """Run one measurement in a child process: its seconds and peak memory."""
    code = f"""
import datetime as dt, json, resource, sys, time
sys.path.insert(0, {str(ROOT)!r})
from bench.bench import _measure
print("RESULT " + json.dumps(_measure({kind!r}, {url!r}, {as_of!r}, {level})))
"""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          cwd=ROOT, check=True)
    # The result's own line: DuckDB may draw its progress bar on the same output.
    result = next(line for line in reversed(done.stdout.splitlines())
                  if line.startswith("RESULT "))
    return json.loads(result.removeprefix("RESULT "))


def _measure(kind: str, url: str, as_of: str, level: int) -> dict:
    """In the child: the bare pass (kind "bare") or the cube (kind "cube") on ``url``."""
    day = dt.date.fromisoformat(as_of)

    def cpu() -> float:  # this process's CPU seconds, DuckDB's threads included
        usage = resource.getrusage(resource.RUSAGE_SELF)
        return usage.ru_utime + usage.ru_stime

    if kind == "bare":
        import duckdb

        con = duckdb.connect(url.removeprefix("duckdb:///"), read_only=True)
        queries = [q.format(d=as_of) for q in BARE_PASS.values()]
        for query in queries:  # warm the file cache as the cube's warm-up does
            con.execute(query).fetchall()
        started, cpu_started = time.perf_counter(), cpu()
        for query in queries:
            con.execute(query).fetchall()
        seconds, cpu_seconds = time.perf_counter() - started, cpu() - cpu_started
    else:
        from data_access.registry import open_registry
        from indicators import compute

        engine = open_registry(url)
        compute(engine, as_of=day, level=level, indicator_ids=["dq.unassessed_households"])
        started, cpu_started = time.perf_counter(), cpu()
        rows = len(compute(engine, as_of=day, level=level))
        seconds, cpu_seconds = time.perf_counter() - started, cpu() - cpu_started
        engine.dispose()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 ** 2  # GB (KB on Linux)
    return {"seconds": seconds, "cpu_seconds": cpu_seconds, "peak_gb": peak,
            **({"rows": rows} if kind == "cube" else {})}


def _generate(db: Path, households: int, seed: int) -> float:
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "demo", "--out", str(db), "--households",
                    str(households), "--seed", str(seed), "--geography", "synthetic"],
                   check=True, cwd=ROOT,
                   stdout=subprocess.DEVNULL)
    return time.perf_counter() - started


def _plain_duckdb(copy_path: Path, out: Path) -> Path:
    """A DuckDB registry holding the contract's tables only (no copy marker), from the copy."""
    import duckdb

    from data_access.schema import REGISTRY_TABLES

    out.unlink(missing_ok=True)
    con = duckdb.connect(str(out))
    con.execute(f"ATTACH '{copy_path}' AS copy (READ_ONLY)")
    for table in REGISTRY_TABLES:
        columns = ", ".join(c.name for c in table.columns)
        con.execute(f"CREATE TABLE {table.name} AS SELECT {columns} FROM copy.{table.name}")
    con.close()
    return out


def _grow_by_one_percent(db: Path) -> int:
    """Append 1 % new households (with their persons and enrolments) registered today."""
    today = dt.date.today().isoformat()
    with sqlite3.connect(db) as conn:
        count = conn.execute("SELECT count(*) FROM household").fetchone()[0] // 100
        conn.execute(f"""INSERT INTO household SELECT 'NEW-' || household_id, area_id, '{today}',
                         pmt_score, access_point_id, latitude, longitude
                         FROM household ORDER BY rowid LIMIT {count}""")
        conn.execute(f"""INSERT INTO person SELECT 'NEW-' || p.person_id, 'NEW-' || p.household_id,
                         NULL, first_name, last_name, father_name, phone, sex, birth_date,
                         disability, is_head, '{today}'
                         FROM person p WHERE p.household_id IN (
                           SELECT household_id FROM household ORDER BY rowid LIMIT {count})""")
        conn.execute(f"""INSERT INTO enrolment SELECT 'NEW-' || enrolment_id, programme_id,
                         'NEW-' || household_id, NULL, '{today}', NULL FROM enrolment
                         WHERE household_id IN (
                           SELECT household_id FROM household ORDER BY rowid LIMIT {count})""")
    return count


def _postgres(db: Path, given: str | None) -> tuple[str, callable]:
    import sqlalchemy as sa
    from sqlalchemy.engine import make_url

    from data_access.loader import copy_sqlite_to_postgres

    admin_url = given or os.environ.get("TEST_POSTGRES_URL") or subprocess.run(
        ["bash", str(ROOT / "scripts/postgres.sh"), "start"], check=True, capture_output=True,
        text=True).stdout.strip()
    name = f"socle_bench_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    url = make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    copy_sqlite_to_postgres(str(db), url)

    def drop() -> None:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    return url, drop


def run_one(households: int, args: argparse.Namespace, workdir: Path) -> list[dict]:
    from data_access.analytic_copy import refresh
    from data_access.registry import default_as_of, open_registry

    db = workdir / f"registry_{households}.db"
    rows: list[dict] = []
    if not (args.reuse and db.is_file()):
        seconds = _generate(db, households, args.seed)
        rows.append({"what": f"demo generation, {households:,} households", "seconds": seconds})
    live = open_registry(f"sqlite:///{db}")
    as_of = default_as_of(live).isoformat()
    folder = workdir / f"copy_{households}"
    shutil.rmtree(folder, ignore_errors=True)
    state = refresh(live, folder, incremental=False)
    rows.append({"what": "refresh of the copy from SQLite, whole", "seconds": state.seconds,
                 "persons": state.rows["person"]})
    live.dispose()
    print(f"registry: {households:,} households, {state.rows['person']:,} persons, "
          f"as of {as_of}", flush=True)
    backends = args.backends.split(",")
    if "incremental" in backends:
        grown = workdir / f"grown_{households}.db"
        shutil.copyfile(db, grown)
        added = _grow_by_one_percent(grown)
        grown_engine = open_registry(f"sqlite:///{grown}")
        shutil.copytree(folder, workdir / f"copy_grown_{households}", dirs_exist_ok=True)
        # The grown registry is another file: point the copied state at it.
        pointer = workdir / f"copy_grown_{households}" / "current.json"
        data = json.loads(pointer.read_text())
        data["source"] = f"sqlite:///{grown.resolve()}"
        pointer.write_text(json.dumps(data))
        step = refresh(grown_engine, workdir / f"copy_grown_{households}")
        rows.append({"what": f"refresh of the copy, incremental after 1 % new households "
                             f"({added:,}) and their persons and enrolments",
                     "seconds": step.seconds, "note": step.kind})
        grown_engine.dispose()
    plain = _plain_duckdb(state.path, workdir / f"registry_{households}.duckdb")
    bare = _child("bare", f"duckdb:///{plain}", as_of, args.level)
    rows.append({"what": "bare DuckDB pass (floor)", **bare, "ratio": 1.0, "cpu_ratio": 1.0})
    urls = {"copy": state.url, "duckdb": f"duckdb:///{plain}", "sqlite": f"sqlite:///{db}"}
    drop = None
    if "postgresql" in backends:
        urls["postgresql"], drop = _postgres(db, args.postgres_url)
    names = {"copy": "the copy (DuckDB)", "duckdb": "DuckDB registry", "sqlite": "SQLite live",
             "postgresql": "PostgreSQL live"}
    try:
        for backend in ("copy", "duckdb", "postgresql", "sqlite"):
            if backend not in backends:
                continue
            cube = _child("cube", urls[backend], as_of, args.level)
            rows.append({"what": f"cube, level {args.level}, {names[backend]}", **cube,
                         "ratio": cube["seconds"] / bare["seconds"],
                         "cpu_ratio": cube["cpu_seconds"] / bare["cpu_seconds"]})
            print(rows[-1], flush=True)
    finally:
        if drop is not None:
            drop()
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--households", type=int, default=1_000_000)
    parser.add_argument("--scaling", default="", help="comma-separated sizes: the copy's cube "
                        "at each (seconds per 1,000 households)")
    parser.add_argument("--level", type=int, default=2)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--backends", default="copy,duckdb,postgresql,sqlite,incremental")
    parser.add_argument("--postgres-url", help="admin URL of a PostgreSQL server")
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument("--reuse", action="store_true",
                        help="reuse the registries already generated in --workdir")
    args = parser.parse_args()
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="socle-bench-"))
    workdir.mkdir(parents=True, exist_ok=True)
    print(f"Machine: {platform.machine()}, {os.cpu_count()} cores, Python "
          f"{platform.python_version()}; load average {os.getloadavg()[0]:.1f}")
    if args.scaling:
        print("| households | persons | cube of the copy (s) | s per 1,000 households | "
              "CPU s | CPU s per 1,000 households | bare pass (s) | × bare pass | "
              "× bare pass (CPU) | peak memory (GB) |")
        print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
        args.backends = "copy"
        for size in (int(s) for s in args.scaling.split(",")):
            rows = run_one(size, args, workdir)
            cube = next(r for r in rows if r["what"].startswith("cube"))
            bare = next(r for r in rows if r["what"].startswith("bare"))
            persons = next(r["persons"] for r in rows if "persons" in r)
            print(f"| {size:,} | {persons:,} | {cube['seconds']:.2f} "
                  f"| {cube['seconds'] / size * 1000:.4f} | {cube['cpu_seconds']:.1f} "
                  f"| {cube['cpu_seconds'] / size * 1000:.4f} | {bare['seconds']:.2f} "
                  f"| {cube['ratio']:.1f} | {cube['cpu_ratio']:.1f} | {cube['peak_gb']:.2f} |",
                  flush=True)
        return
    rows = run_one(args.households, args, workdir)
    print()
    print("| measurement | seconds | × bare pass | CPU seconds | × bare pass (CPU) | "
          "peak memory (GB) |")
    print("|---|---:|---:|---:|---:|---:|")
    for row in rows:
        ratio = f"{row['ratio']:.1f}" if "ratio" in row else ""
        cpu = f"{row['cpu_seconds']:.1f}" if "cpu_seconds" in row else ""
        cpu_ratio = f"{row['cpu_ratio']:.1f}" if "cpu_ratio" in row else ""
        peak = f"{row['peak_gb']:.2f}" if "peak_gb" in row else ""
        print(f"| {row['what']} | {row['seconds']:.1f} | {ratio} | {cpu} | {cpu_ratio} | {peak} |")


if __name__ == "__main__":
    main()
