"""The cube: the long form of every level, computed ahead so that pages read it.

In the app: on the analytical copy, stored beside it (data_access.figure_store), so the pages'
first view of a new copy is read, not computed.

    stored = precompute(state, settings, pairs=undismissed)   # after each refresh

The app runs it in the background after every refresh of the copy (ui.widgets), for the
default as-of date (the copy's latest registration, or today if earlier) and the configured
period, on every level of the registry. A page asking for that view (any indicators of it)
reads the stored long form; any other view is computed when asked for.

From the command line, for a registry too big for the app's machine (a nation, on Spark):

    python -m indicators.cube [--engine duckdb|spark] --registry <Parquet folder | JDBC URL>
        [--as-of D] [--period-start D] [--levels 1,2,3,4] --out <app store URL | file.parquet>

computes the long form of every level asked for on the engine and writes it where the
dashboard reads snapshots (an app store URL: "command" snapshots, one per level, as
``python -m indicators.snapshot`` stores them, with the app store's record-linkage pairs), or
as one Parquet file with the long form's columns (whole-registry rows once). The settings
(poverty cutoff, referral SLA, period months) are the configuration's (``--config``). A
progress line per level and stage goes to stderr; any problem prints one message and exits 2.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import pandas as pd

from core.cli import Parser, ProgressBar, UsageError, fail, level_list, parse_date
from core.settings import Settings
from data_access.analytic_copy import CopyState
from data_access.areas import read_area_tree
from data_access.figure_store import FigureStore, figure_key, pairs_fingerprint
from data_access.registry import default_as_of, limit_duckdb_memory, open_registry
from indicators.blocks import default_period_start
from indicators.engine import compute_levels, rows_of


def parameters_of(settings: Settings) -> dict[str, float | int]:
    """The settings a long form depends on."""
    return {"poverty_cutoff": float(settings.poverty_cutoff),
            "referral_sla_days": int(settings.referral_sla_days),
            "period_months": int(settings.period_months)}


def key_of(copy_file: str, settings: Settings, *, as_of: dt.date, period_start: dt.date,
           level: int, pairs: pd.DataFrame | None) -> str:
    """The figure store's key of a view of the copy ``copy_file``."""
    return figure_key(copy_file, as_of=as_of, period_start=period_start, level=level,
                      parameters=parameters_of(settings), pairs=pairs_fingerprint(pairs))


def precompute(state: CopyState, settings: Settings, *, pairs: pd.DataFrame | None,
               as_of: dt.date | None = None, levels: list[int] | None = None,
               progress: Callable[[float, str], None] | None = None) -> list[str]:
    """Compute and store the long form of each level (default: every level of the registry)
    on ``as_of`` (default: the copy's default as-of date); the keys stored."""
    report = progress or (lambda fraction, message: None)
    engine = open_registry(state.url)
    try:
        day = as_of or default_as_of(engine)
        start = default_period_start(day, int(settings.period_months))
        wanted = levels or read_area_tree(engine).levels
        store = FigureStore(state.path.parent)
        keys = {level: key_of(state.path.name, settings, as_of=day, period_start=start,
                              level=level, pairs=pairs) for level in wanted}
        missing = [level for level in wanted if store.load(keys[level]) is None]
        if missing:
            computed = compute_levels(engine, as_of=day, levels=missing, period_start=start,
                                      poverty_cutoff=settings.poverty_cutoff,
                                      referral_sla_days=settings.referral_sla_days,
                                      period_months=settings.period_months,
                                      suspected_pairs=pairs, progress=report)
            for level, frame in computed.items():
                store.save(keys[level], frame)
        store.forget_other_copies({state.path.stem} | {
            p.stem for p in state.path.parent.glob("registry-*.duckdb")})
        report(1.0, "done")
        return [keys[level] for level in wanted]
    finally:
        engine.dispose()


def stored_figures(copy_file: str, copy_folder: str, settings: Settings, *, as_of: dt.date,
                   period_start: dt.date, level: int, pairs: pd.DataFrame | None,
                   indicator_ids: tuple[str, ...] | None) -> pd.DataFrame | None:
    """The stored long form of this view (only ``indicator_ids`` of it), or None."""

    frame = FigureStore(Path(copy_folder)).load(
        key_of(copy_file, settings, as_of=as_of, period_start=period_start, level=level,
               pairs=pairs))
    if frame is None or indicator_ids is None:
        return frame
    return rows_of(frame, indicator_ids)


# The command line ---------------------------------------------------------------------------

PROG = "python -m indicators.cube"


def parser() -> argparse.ArgumentParser:
    p = Parser(prog=PROG, description="Compute the long form of every level on DuckDB or "
               "Spark and store it as snapshots in an app store, or as one Parquet file.")
    p.add_argument("--engine", choices=("duckdb", "spark"), default="duckdb",
                   help="where the indicators are computed (default: duckdb)")
    p.add_argument("--registry", required=True, help="a Parquet folder (one <table>.parquet "
                   "per contract table), a JDBC URL (spark) or a DuckDB file (duckdb)")
    p.add_argument("--as-of", type=parse_date, help="as-of date, YYYY-MM-DD (default: today, "
                   "or the latest registration if earlier)")
    p.add_argument("--period-start", type=parse_date, help="first day of the period, "
                   "YYYY-MM-DD (default: the settings' period_months months ending on as-of)")
    p.add_argument("--levels", type=level_list, help="comma-separated admin levels (default: "
                   "every level of the registry)")
    p.add_argument("--out", required=True, help="an app store URL (snapshots) or a file "
                   "ending in .parquet")
    p.add_argument("--config", help="configuration file (default: config.toml, or SOCLE_CONFIG)")
    p.add_argument("--quiet", action="store_true", help="no progress, no summary")
    return p


def whole_registry_once(frames: list[pd.DataFrame]) -> pd.DataFrame:
    """The long forms of several levels as one: every level's area rows, and the
    whole-registry rows (the same at every level) once."""
    if not frames:
        return pd.DataFrame()
    parts = [frames[0]] + [frame[frame["level"].notna()] for frame in frames[1:]]
    return pd.concat(parts, ignore_index=True)


def _fail(message: str) -> int:
    return fail(PROG, message)


def main(argv: list[str] | None = None) -> int:
    try:
        args = parser().parse_args(argv)
        if args.period_start and args.as_of and args.period_start > args.as_of:
            raise UsageError("argument --period-start: after --as-of")
    except UsageError as exc:
        return _fail(str(exc))

    from core.settings import SettingsError, load_settings
    from data_access.app_store import open_app_store
    from data_access.commands import dispose, reported
    from data_access.linkage_store import undismissed_pairs
    from data_access.registry_sources import registry_url
    from data_access.snapshots import snapshot_run

    try:
        settings = load_settings(args.config, check_files=False)
    except SettingsError as exc:
        return _fail(f"configuration: {exc}")
    limit_duckdb_memory(settings["database.duckdb_memory_limit"])
    to_parquet = args.out.lower().endswith(".parquet")
    if to_parquet and not Path(args.out).resolve().parent.is_dir():
        return _fail(f"argument --out: the folder of `{args.out}` does not exist")

    started = time.perf_counter()
    registry = store = None
    with tempfile.TemporaryDirectory(prefix="socle-cube-") as scratch:
        try:
            registry = open_registry(registry_url(args.engine, args.registry, Path(scratch)))
            tree = read_area_tree(registry)
            levels = args.levels or tree.levels
            unknown = [level for level in levels if not tree.has_level(level)]
            if unknown:
                return _fail(f"argument --levels: the registry has no area of level "
                             f"{', '.join(map(str, unknown))} (levels present: "
                             f"{tree.levels_text()})")
            day = args.as_of or default_as_of(registry)
            start = args.period_start or default_period_start(day, int(settings.period_months))
            if start > day:
                return _fail(f"argument --period-start: {start} is after the as-of date {day}")
            pairs = None
            if not to_parquet:
                store = open_app_store(args.out)
                pairs = undismissed_pairs(store)  # None before the linkage job has run
            bar = ProgressBar(1, enabled=not args.quiet)
            try:
                computed = compute_levels(
                    registry, as_of=day, levels=levels, period_start=start,
                    poverty_cutoff=settings.poverty_cutoff,
                    referral_sla_days=settings.referral_sla_days,
                    period_months=settings.period_months, suspected_pairs=pairs,
                    progress=lambda fraction, stage: bar.stage(
                        0, fraction, stage if len(levels) > 1 else f"level {levels[0]}: {stage}"))
            finally:
                bar.close()
            frames = [computed[level] for level in levels]
            written = whole_registry_once(frames) if to_parquet else pd.concat(frames)
            if to_parquet:
                written.to_parquet(args.out, index=False)
            else:
                with snapshot_run(store) as run:
                    for level, frame in zip(levels, frames, strict=True):
                        run.add(frame, as_of=day, level=level, period_start=start,
                                period_end=day, parameters=parameters_of(settings))
        except Exception as exc:
            return reported(PROG, exc)
        finally:
            dispose(registry, store)
    if not args.quiet:
        where = args.out if to_parquet else "the app store's snapshots"
        print(f"{args.engine}: {len(written):,} figures of levels "
              f"{', '.join(map(str, levels))} on {day} written to {where} in "
              f"{time.perf_counter() - started:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
