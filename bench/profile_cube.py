"""Profile: where the cube's time goes, statement by statement.

    .venv/bin/python bench/profile_cube.py duckdb:////tmp/bench/registry_1000000.duckdb \
        [--level 2] [--as-of 2026-10-31] [--top 12]

Runs ``indicators.compute`` once (after a warm-up that loads the tables) and times every SQL
statement it sends, through SQLAlchemy's cursor events: the process's CPU seconds (DuckDB's
threads included) and wall seconds of each. Prints a Markdown table, the costliest first,
with the statement's kind and the block or family it builds. No timing is asserted anywhere.
"""

from __future__ import annotations

import argparse
import datetime as dt
import re
import resource
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _what(statement: str) -> str:
    """A short name of a statement: the block a CREATE stores, or the start of a SELECT."""
    text = " ".join(statement.split())
    stored = re.match(r"CREATE TEMPORARY TABLE socle_\w+?_\d+_(\w+)", text)
    if stored:
        return f"block `{stored.group(1)}` (stored)"
    return text[:90] + ("…" if len(text) > 90 else "")


def main() -> None:
    from sqlalchemy import event

    from data_access.registry import default_as_of, open_registry
    from indicators import compute

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("url", help="registry URL (a DuckDB file: duckdb:///PATH)")
    parser.add_argument("--level", type=int, default=2)
    parser.add_argument("--as-of", type=dt.date.fromisoformat)
    parser.add_argument("--top", type=int, default=12)
    args = parser.parse_args()

    engine = open_registry(args.url)
    as_of = args.as_of or default_as_of(engine)
    compute(engine, as_of=as_of, level=args.level, indicator_ids=["dq.unassessed_households"])
    timings: list[tuple[float, float, str]] = []

    @event.listens_for(engine, "before_cursor_execute")
    def _started(conn, cursor, statement, parameters, context, executemany) -> None:
        conn.info["socle_profile"] = (time.perf_counter(), _cpu())

    @event.listens_for(engine, "after_cursor_execute")
    def _ended(conn, cursor, statement, parameters, context, executemany) -> None:
        wall, cpu = conn.info.pop("socle_profile")
        timings.append((_cpu() - cpu, time.perf_counter() - wall, statement))

    wall, cpu = time.perf_counter(), _cpu()
    compute(engine, as_of=as_of, level=args.level)
    wall, cpu = time.perf_counter() - wall, _cpu() - cpu
    print(f"compute(level={args.level}) as of {as_of}: {wall:.2f} s wall, {cpu:.2f} s CPU; "
          f"{len(timings)} statements, {sum(t[0] for t in timings):.2f} s CPU in SQL")
    print()
    print("| statement | CPU s | wall s |")
    print("|---|---:|---:|")
    for cpu_s, wall_s, statement in sorted(timings, reverse=True)[:args.top]:
        print(f"| {_what(statement)} | {cpu_s:.2f} | {wall_s:.2f} |")


if __name__ == "__main__":
    main()
