"""What donor suppression costs: the share of the donors' counts hidden, per level and breakdown.

Computes the donors' long form (every level of one date, protected together:
indicators.figures.donor_long_form) and counts, for each level (and the whole registry) and
each kind of breakdown (none, programme, sex, age, disability, access point, table), the
counts a donor could read (numerators and denominators of the rows) and how many of them are
hidden; also how many figures (values) are hidden, and the time taken.

    python bench/bench_suppression.py --database-url sqlite:///data/registry.db \\
        [--as-of 2026-10-31] [--period-start 2026-08-01] [--threshold 5] \\
        [--json after.json] [--compare before.json]

``--json`` keeps the table; ``--compare`` prints it beside an earlier one (before/after a
change of method). Only public functions that existed before issue 17 are used, so the same
script measures an older checkout.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
import time
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from data_access.registry import open_registry  # noqa: E402
from indicators import default_period_start  # noqa: E402
from indicators.figures import COMPUTED_LEVEL, Parameters, donor_long_form  # noqa: E402
from ui.queries import read_areas  # noqa: E402

KEYS = ["indicator_id", "area_id", "programme_id", "breakdown"]
KINDS = ("none", "programme", "sex", "age", "disability", "access_point", "table")


def breakdown_kind(programme_id, breakdown) -> str:
    if isinstance(breakdown, str) and breakdown:
        return breakdown.split("=", 1)[0]
    if isinstance(programme_id, str) and programme_id:
        return "programme"
    return "none"


def hidden_shares(published: pd.DataFrame) -> dict[str, dict[str, list[int]]]:
    """{level: {kind: [counts, hidden counts, figures, hidden figures]}} of a donor frame."""
    frame = published.drop(columns=[COMPUTED_LEVEL], errors="ignore").drop_duplicates(KEYS)
    table: dict[str, dict[str, list[int]]] = {}
    for row in frame.itertuples(index=False):
        level = "whole" if pd.isna(row.area_id) else str(int(row.level))
        cell = table.setdefault(level, {}).setdefault(
            breakdown_kind(row.programme_id, row.breakdown), [0, 0, 0, 0])
        for value in (row.numerator, row.denominator):
            # A count the row has (shown, or blanked by suppression: then the row says so).
            if not pd.isna(value):
                cell[0] += 1
            elif bool(row.suppressed):
                cell[0] += 1
                cell[1] += 1
        cell[2] += 1
        cell[3] += bool(row.suppressed)
    return table


def _share(counts: list[int] | None, which: int = 0) -> str:
    if not counts or counts[2 * which] == 0:
        return "–"
    total, hidden = counts[2 * which], counts[2 * which + 1]
    return f"{hidden / total:.0%} of {total:,}"


def markdown(table: dict, before: dict | None = None) -> str:
    levels = sorted(table, key=lambda x: (x == "whole", x))
    kinds = [k for k in KINDS if any(k in table[level] for level in levels)]
    header = "| level | " + " | ".join(kinds) + " | all |"
    lines = [header, "|---" * (len(kinds) + 2) + "|"]
    for level in levels:
        cells = []
        for kind in [*kinds, "all"]:
            if kind == "all":
                now = [sum(c[i] for c in table[level].values()) for i in range(4)]
                old = ([sum(c[i] for c in before.get(level, {}).values()) for i in range(4)]
                       if before else None)
            else:
                now = table[level].get(kind)
                old = before.get(level, {}).get(kind) if before else None
            text = _share(now)
            if before is not None:
                text = f"{_share(old)} → {text}"
            cells.append(text)
        name = "whole registry" if level == "whole" else f"level {level}"
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--database-url", required=True)
    p.add_argument("--as-of", type=dt.date.fromisoformat, default=dt.date(2026, 10, 31))
    p.add_argument("--period-start", type=dt.date.fromisoformat, default=None)
    p.add_argument("--threshold", type=int, default=5)
    p.add_argument("--json", help="write the table to this file")
    p.add_argument("--compare", help="an earlier --json file: print before → after")
    args = p.parse_args(argv)

    engine = open_registry(args.database_url)
    try:
        areas = read_areas(engine)
        start = args.period_start or default_period_start(args.as_of, 3)
        began = time.perf_counter()
        published = donor_long_form(engine, areas, as_of=args.as_of, period_start=start,
                                    parameters=Parameters(threshold=args.threshold))
        seconds = time.perf_counter() - began
    finally:
        engine.dispose()
    table = hidden_shares(published)
    figures = sum(c[2] for level in table.values() for c in level.values())
    hidden = sum(c[3] for level in table.values() for c in level.values())
    print(f"{args.database_url}, as of {args.as_of}, threshold {args.threshold}: "
          f"{figures:,} figures, {hidden:,} values hidden ({hidden / figures:.0%}); "
          f"computed and protected in {seconds:.1f} s")
    print("\nShare of the counts hidden (numerators and denominators):\n")
    before = json.loads(Path(args.compare).read_text())["table"] if args.compare else None
    print(markdown(table, before))
    if args.json:
        Path(args.json).write_text(json.dumps({"table": table, "seconds": seconds,
                                               "figures": figures, "hidden": hidden}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
