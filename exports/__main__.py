"""``python -m exports``: write the indicator workbook of a registry.

    python -m exports --level 2 --as-of 2026-11-29 --out district.xlsx \
        [--period-start 2026-09-01] [--database-url URL] [--config config.toml] \
        [--lists overdue_referrals,double_dipping,data_quality_rows] [--area PK601] \
        [--language fr]

The workbook is what the settings' default user (``app.default_role``, ``app.default_areas``)
may see: the indicator sheets of their areas (suppressed for a donor) and ``--lists`` list
sheets (``all`` for every list; none for a donor, no personal column for a chair);
``--area`` keeps the lists' rows of that area and the areas below it. ``--language`` writes
the sheets' titles, headers and definitions in that language (default: ``app.language``).
Each export is recorded in the app store's audit log as ``cli:<login name>`` with that role.

Bad arguments (an unknown list or area, an area or lists the user may not see) print one
message and exit 2; a registry or configuration that cannot be used prints one message and
exits 1.
"""

from __future__ import annotations

import argparse
import dataclasses
import getpass
import sys
import time
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import make_url

from core.cli import Parser, UsageError, level_number, parse_date

PROG = "python -m exports"


def _login() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no user name in the environment or the password database
        return "unknown"


def parser() -> argparse.ArgumentParser:
    p = Parser(prog=PROG, description="Write the indicator workbook (xlsx) of the registry.")
    p.add_argument("--database-url", help="SQLAlchemy URL of the registry "
                   "(default: the setting database.url)")
    p.add_argument("--level", type=level_number, required=True,
                   help="admin level of the area rows (1 = top)")
    p.add_argument("--as-of", type=parse_date, help="reference date d, YYYY-MM-DD (default: today, "
                   "or the latest registration if earlier)")
    p.add_argument("--period-start", type=parse_date, help="first day of the referral period, "
                   "YYYY-MM-DD (default: the indicators.period_months months ending on d)")
    p.add_argument("--out", type=Path, required=True, help="the .xlsx file to write")
    p.add_argument("--config", type=Path, help="configuration file (default: config.toml, "
                   "or SOCLE_CONFIG)")
    p.add_argument("--lists", default="", help="comma-separated lists to add as sheets, or "
                   "`all` (lists: overdue_referrals, shared_national_ids, double_enrolments, "
                   "double_dipping, data_quality_rows)")
    p.add_argument("--area", help="area_id: the lists hold the rows of this area and the "
                   "areas below it (default: every area the user may see)")
    p.add_argument("--language", help="language of the workbook's titles, headers and "
                   "definitions: en, fr, ur, ps (default: the setting app.language)")
    p.add_argument("--quiet", action="store_true", help="print nothing on success")
    return p


def _check_arguments(args: argparse.Namespace) -> None:
    out: Path = args.out
    if out.suffix.lower() != ".xlsx":
        raise UsageError(f"argument --out: `{out}` must end in .xlsx")
    if out.exists() and out.is_dir():
        raise UsageError(f"argument --out: `{out}` is a directory, not a file")
    directory = out.parent if str(out.parent) else Path(".")
    if not directory.is_dir():
        raise UsageError(f"argument --out: the directory `{directory}` does not exist")
    if args.period_start and args.as_of and args.period_start > args.as_of:
        raise UsageError(f"argument --period-start: {args.period_start} is after "
                         f"--as-of {args.as_of}")
    if args.config is not None and not args.config.is_file():
        raise UsageError(f"argument --config: the file `{args.config}` does not exist")
    from indicators.lists import UnknownListError, parse_list_ids

    try:
        args.lists = parse_list_ids(args.lists)
    except UnknownListError as exc:
        raise UsageError(f"argument --lists: {exc}") from None
    if args.area is not None and not args.lists:
        raise UsageError("argument --area: it says which rows the lists hold; "
                         "give --lists too")
    if args.language is not None:
        from core.i18n import known_language, languages

        language = known_language(args.language)
        if language is None:
            raise UsageError(f"argument --language: no catalogue for `{args.language}` "
                             f"(languages: {', '.join(languages())})")
        args.language = language


def main(argv: list[str] | None = None) -> int:
    try:
        args = parser().parse_args(argv)
        _check_arguments(args)
    except UsageError as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return 2

    # Imported here so that --help and argument errors stay fast.
    from core.settings import SettingsError, load_settings
    from data_access.app_store import AppStoreError, open_app_store
    from data_access.context import default_context
    from data_access.linkage_store import undismissed_pairs
    from data_access.registry import RegistryError, open_registry
    from data_access.schema import SchemaError
    from exports.workbook import UnknownLevelError, export_registry, public_source
    from indicators.lists import ListPermissionError, UnknownAreaError

    try:
        settings = load_settings(args.config, check_files=False)
    except SettingsError as exc:
        print(f"{PROG}: configuration error: {exc}", file=sys.stderr)
        return 1
    url = args.database_url or settings.database_url
    try:
        make_url(url)
    except sa.exc.ArgumentError:
        origin = "argument --database-url" if args.database_url else "setting database.url"
        print(f"{PROG}: error: {origin}: `{url}` is not a database URL", file=sys.stderr)
        return 2

    started = time.perf_counter()
    engine = store = None
    try:
        default = default_context(settings)
        context = dataclasses.replace(default, username=f"cli:{_login()}")
        engine = open_registry(url)
        store = open_app_store(settings.app_store_url)
        path = export_registry(engine, level=args.level, as_of=args.as_of,
                               period_start=args.period_start, settings=settings,
                               out=args.out, source=public_source(url), lists=args.lists,
                               area_id=args.area, context=context, audit_store=store,
                               audit_via="cli", suspected_pairs=undismissed_pairs(store),
                               language=args.language or settings["app.language"])
    except UnknownLevelError as exc:
        print(f"{PROG}: error: argument --level: {exc}", file=sys.stderr)
        return 2
    except UnknownAreaError as exc:
        print(f"{PROG}: error: argument --area: {exc}", file=sys.stderr)
        return 2
    except ListPermissionError as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return 2
    except (RegistryError, SchemaError, SettingsError) as exc:
        print(f"{PROG}: {exc}", file=sys.stderr)
        return 1
    except AppStoreError as exc:
        print(f"{PROG}: the app store (for the audit log) cannot be opened: {exc}",
              file=sys.stderr)
        return 1
    except sa.exc.SQLAlchemyError as exc:
        detail = getattr(exc, "orig", None) or exc
        print(f"{PROG}: cannot read the registry at `{public_source(url)}`: {detail}",
              file=sys.stderr)
        return 1
    except OSError as exc:
        print(f"{PROG}: cannot write `{args.out}`: {exc.strerror or exc}", file=sys.stderr)
        return 1
    finally:
        for opened in (engine, store):
            if opened is not None:
                opened.dispose()
    if not args.quiet:
        print(f"wrote {path} in {time.perf_counter() - started:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
