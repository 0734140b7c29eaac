"""Benchmark: demo generation and the full indicator computation on SQLite and PostgreSQL.

    .venv/bin/python bench/bench.py --households 1000000 [--postgres-url URL] [--workdir DIR]

Prints one line per measurement and a Markdown table for the README. Without --postgres-url
it starts the throwaway server of scripts/postgres.sh (or uses TEST_POSTGRES_URL).
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import sqlalchemy as sa  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

from data_access.loader import copy_sqlite_to_postgres  # noqa: E402
from data_access.registry import open_registry  # noqa: E402
from indicators import compute, default_as_of  # noqa: E402


def timed(label: str, results: list[tuple[str, float]], func, *args, **kwargs):
    start = time.perf_counter()
    value = func(*args, **kwargs)
    seconds = time.perf_counter() - start
    results.append((label, seconds))
    print(f"{label}: {seconds:.1f} s", flush=True)
    return value


def postgres_admin_url(given: str | None) -> str:
    if given:
        return given
    if os.environ.get("TEST_POSTGRES_URL"):
        return os.environ["TEST_POSTGRES_URL"]
    out = subprocess.run(["bash", str(ROOT / "scripts/postgres.sh"), "start"],
                         check=True, capture_output=True, text=True)
    return out.stdout.strip()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--households", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--postgres-url", help="admin URL of a PostgreSQL server")
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument("--reuse", action="store_true",
                        help="reuse the registry already generated in --workdir")
    parser.add_argument("--backends", default="sqlite,postgresql",
                        help="comma-separated: sqlite, postgresql")
    args = parser.parse_args()

    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="socle-bench-"))
    workdir.mkdir(parents=True, exist_ok=True)
    db = workdir / f"registry_{args.households}.db"
    results: list[tuple[str, float]] = []
    if not (args.reuse and db.is_file()):
        timed(f"demo generation, {args.households:,} households", results, subprocess.run,
              [sys.executable, "-m", "demo", "--out", str(db),
               "--households", str(args.households), "--seed", str(args.seed),
               "--geography", "synthetic"],  # the province the figures were measured on
              check=True, cwd=ROOT, stdout=subprocess.DEVNULL)
    backends = set(args.backends.split(","))

    sqlite_engine = open_registry(f"sqlite:///{db}")
    as_of = default_as_of(sqlite_engine)
    with sqlite_engine.connect() as conn:
        lowest = conn.execute(sa.text("SELECT max(level) FROM area")).scalar()
        persons = conn.execute(sa.text("SELECT count(*) FROM person")).scalar()
    print(f"registry: {args.households:,} households, {persons:,} persons, as of {as_of}")

    admin_url = postgres_admin_url(args.postgres_url)
    name = f"socle_bench_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    pg_url = make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    try:
        timed("copy to PostgreSQL (COPY, indexes, ANALYZE)", results,
              copy_sqlite_to_postgres, str(db), pg_url)
        pg_engine = open_registry(pg_url)
        engines = [(name, engine) for key, name, engine in (
            ("sqlite", "SQLite", sqlite_engine), ("postgresql", "PostgreSQL", pg_engine))
            if key in backends]
        for backend, engine in engines:
            for level in (2, lowest):
                frame = timed(f"all indicators, level {level}, {backend}", results,
                              compute, engine, as_of=as_of, level=level)
                print(f"  {len(frame):,} rows")
        pg_engine.dispose()
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    print()
    print(f"Machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}")
    print("| measurement | seconds |")
    print("|---|---:|")
    for label, seconds in results:
        print(f"| {label} | {seconds:.1f} |")


if __name__ == "__main__":
    main()
