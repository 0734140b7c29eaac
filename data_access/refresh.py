"""``python -m data_access.refresh``: bring the analytical copy of the registry up to date.

    python -m data_access.refresh [--whole] [--config config.toml] [--quiet]

Incremental by default (rows registered, enrolled, ended, referred or closed since the last
copy), whole with ``--whole`` or when the last whole copy is older than
``analytics.whole_refresh_hours`` (data_access.analytic_copy). The registry is only read.
A registry or configuration that cannot be used prints one message and exits 1.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from core.cli import Parser, ProgressBar, UsageError, database_problem, fail

PROG = "python -m data_access.refresh"


def parser() -> argparse.ArgumentParser:
    p = Parser(prog=PROG, description="Bring the analytical copy of the registry up to date.")
    p.add_argument("--whole", action="store_true",
                   help="copy every row again (default: only what changed, when possible)")
    p.add_argument("--config", type=Path, help="configuration file (default: config.toml, "
                   "or SOCLE_CONFIG)")
    p.add_argument("--quiet", action="store_true", help="print nothing on success")
    return p


def main(argv: list[str] | None = None) -> int:
    try:
        args = parser().parse_args(argv)
    except UsageError as exc:
        return fail(PROG, str(exc))

    import sqlalchemy as sa

    from core.settings import SettingsError, load_settings
    from data_access.analytic_copy import CopyError, current_copy, due, refresh
    from data_access.registry import RegistryError, open_registry
    from data_access.schema import SchemaError

    try:
        settings = load_settings(args.config, check_files=False)
    except SettingsError as exc:
        return fail(PROG, f"configuration: {exc}", 1)
    folder = Path(settings["analytics.copy_folder"])
    registry = None
    try:
        registry = open_registry(settings.database_url)
        previous = current_copy(folder)
        whole = args.whole or due(previous, settings) == "whole"
        bar = ProgressBar(1, enabled=not args.quiet)
        state = refresh(registry, folder, incremental=not whole,
                        progress=lambda fraction, label: bar.update(0, fraction, label))
        bar.close()
    except (RegistryError, SchemaError, CopyError) as exc:
        return fail(PROG, str(exc), 1)
    except sa.exc.SQLAlchemyError as exc:
        return fail(PROG, database_problem(exc), 1)
    finally:
        if registry is not None:
            registry.dispose()
    if not args.quiet:
        rows = ", ".join(f"{name} {count:,}" for name, count in state.rows.items())
        print(f"{state.kind} copy of {state.source} in {state.seconds:.1f} s: {state.path} "
              f"({rows})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
