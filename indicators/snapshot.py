"""``python -m indicators.snapshot``: compute the indicators and keep them in the app store.

    python -m indicators.snapshot [--as-of D | --monthly-from D [--monthly-to D]]
                                  [--levels 1,2,3,4] [--config PATH] [--quiet]

Each (as-of date, level) is computed with the settings' parameters (poverty cutoff, referral
SLA, period months; the period is the ``period_months`` months ending on the date) and stored
as a "command" snapshot (data_access.snapshots). Storing a date and level again replaces its
snapshot, so running twice leaves one. A run is complete or invisible as a whole: its
snapshots appear together when the last one is stored (data_access.snapshots.SnapshotRun),
so a run stopped or killed midway leaves the earlier snapshots as they were. ``--monthly-from`` takes every month-end from that
date's month to ``--monthly-to`` (default: the as-of default). Default as-of date: today, or
the latest registration if earlier; default levels: every level of the registry.

A progress bar goes to stderr (redrawn in place on a terminal, one line per step otherwise).
Any problem — a bad date or level, a configuration, registry or app store that cannot be
used — prints one message and exits 2. Never imports Streamlit.
"""

from __future__ import annotations

import argparse
import calendar
import datetime as dt
import sys
import time

from core.cli import (
    Parser,
    ProgressBar,
    UsageError,
    fail,
    level_list,
    parse_date,
)
from data_access.registry import connection, limit_duckdb_memory

PROG = "python -m indicators.snapshot"


def parser() -> argparse.ArgumentParser:
    p = Parser(prog=PROG, description="Compute the indicators and store them as snapshots "
                "in the app store (one per as-of date and level; again replaces).")
    when = p.add_mutually_exclusive_group()
    when.add_argument("--as-of", type=parse_date, help="as-of date, YYYY-MM-DD (default: today, or "
                      "the latest registration if earlier)")
    when.add_argument("--monthly-from", type=parse_date, help="snapshot every month-end from this "
                      "date's month, YYYY-MM-DD")
    p.add_argument("--monthly-to", type=parse_date, help="last date of --monthly-from, YYYY-MM-DD "
                   "(default: the default as-of date)")
    p.add_argument("--levels", type=level_list, help="comma-separated admin levels "
                   "(default: every level of the registry)")
    p.add_argument("--config", help="configuration file (default: config.toml, or SOCLE_CONFIG)")
    p.add_argument("--quiet", action="store_true", help="no progress bar, no summary")
    return p


def month_end(day: dt.date) -> dt.date:
    return day.replace(day=calendar.monthrange(day.year, day.month)[1])


def month_ends(start: dt.date, end: dt.date) -> list[dt.date]:
    """Every last day of a month from ``start``'s month up to ``end`` (inclusive)."""
    out: list[dt.date] = []
    day = month_end(start)
    while day <= end:
        out.append(day)
        day = month_end(day + dt.timedelta(days=1))
    return out


def _fail(message: str) -> int:
    return fail(PROG, message)


def main(argv: list[str] | None = None) -> int:
    try:
        args = parser().parse_args(argv)
        if args.monthly_to is not None and args.monthly_from is None:
            raise UsageError("argument --monthly-to: needs --monthly-from")
    except UsageError as exc:
        return _fail(str(exc))

    # Imported here so that --help and argument errors stay fast.
    from core.settings import SettingsError, load_settings
    from data_access.app_store import open_app_store
    from data_access.areas import AreaTree
    from data_access.commands import dispose, reported
    from data_access.registry import default_as_of, open_registry
    from data_access.snapshots import snapshot_run
    from indicators.blocks import default_period_start
    from indicators.engine import compute

    try:
        settings = load_settings(args.config, check_files=False)
    except SettingsError as exc:
        return _fail(f"configuration: {exc}")
    limit_duckdb_memory(settings["database.duckdb_memory_limit"])

    registry = store = None
    started = time.perf_counter()
    try:
        registry = open_registry(settings.database_url)
        with connection(registry) as conn:
            tree = AreaTree.load(conn)
        present = sorted({int(v) for v in tree.frame["level"] if v is not None})
        levels = args.levels or present
        unknown = [lv for lv in levels if lv not in present]
        if unknown:
            return _fail(f"argument --levels: the registry has no area of level "
                         f"{', '.join(map(str, unknown))} (levels present: {tree.levels_text()})")
        if not levels:
            return _fail("the registry has no areas")
        if args.monthly_from is not None:
            last = args.monthly_to or default_as_of(registry)
            dates = month_ends(args.monthly_from, last)
            if not dates:
                return _fail(f"argument --monthly-to: no month-end between "
                             f"{args.monthly_from} and {last}")
        else:
            dates = [args.as_of or default_as_of(registry)]
        store = open_app_store(settings.app_store_url)
        from data_access.linkage_store import undismissed_pairs
        pairs = undismissed_pairs(store)  # None before the linkage job has run

        months = settings.period_months
        parameters = {"poverty_cutoff": settings.poverty_cutoff,
                      "referral_sla_days": settings.referral_sla_days,
                      "period_months": months}
        steps = [(day, level) for day in dates for level in levels]
        bar = ProgressBar(len(steps), enabled=not args.quiet)
        rows = 0
        try:
            with snapshot_run(store) as run:
                for index, (day, level) in enumerate(steps):
                    label = f"{day} level {level}"
                    period_start = default_period_start(day, months)
                    figures = compute(
                        registry, as_of=day, level=level, period_start=period_start,
                        poverty_cutoff=settings.poverty_cutoff,
                        referral_sla_days=settings.referral_sla_days, period_months=months,
                        suspected_pairs=pairs,
                        progress=lambda fraction, message, i=index, lab=label:
                            bar.update(i, fraction, f"{lab}: {message}"),
                    )
                    run.add(figures, as_of=day, level=level, period_start=period_start,
                            period_end=day, parameters=parameters)
                    rows += len(figures)
                    bar.step_done(index, f"{label}: {len(figures):,} figures stored")
        finally:
            bar.close()
    except Exception as exc:  # a ValueError: e.g. a level without areas, raised by compute
        return reported(PROG, exc)
    finally:
        dispose(registry, store)
    if not args.quiet:
        print(f"stored {len(steps)} snapshot(s) ({len(dates)} date(s) × levels "
              f"{', '.join(map(str, levels))}), {rows:,} figures, in "
              f"{time.perf_counter() - started:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
