"""Socle's settings: declared as data, read from config.toml, overridden by SOCLE_* variables.

Every setting lives in a ``[section]`` of ``config.toml``. The environment variable
``SOCLE_<SECTION>_<KEY>`` (upper case) overrides it, e.g. ``SOCLE_DATABASE_URL`` for
``[database] url`` and ``SOCLE_APP_STORE_URL`` for ``[app_store] url``.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core.i18n import N_, known_language, languages

ROOT = Path(__file__).resolve().parents[1]  # the repository: config.toml lies there
DEFAULT_CONFIG = ROOT / "config.toml"
CONFIG_ENV = "SOCLE_CONFIG"
# What a local Spark session is started with (data_access.spark reads them when a process
# starts Spark): SOCLE_* variables, but not settings.
SPARK_MASTER_ENV = "SOCLE_SPARK_MASTER"
SPARK_DRIVER_MEMORY_ENV = "SOCLE_SPARK_DRIVER_MEMORY"
SPARK_SHUFFLE_PARTITIONS_ENV = "SOCLE_SPARK_SHUFFLE_PARTITIONS"
NOT_SETTINGS = frozenset({CONFIG_ENV, SPARK_MASTER_ENV, SPARK_DRIVER_MEMORY_ENV,
                          SPARK_SHUFFLE_PARTITIONS_ENV})
# Upper bound of database.max_computations: below the registry engine's pool
# (data_access.registry.DEFAULT_POOL_SIZE), so short reads always find a connection.
MAX_COMPUTATIONS = 12
# A memory size as DuckDB's memory_limit takes it ("1GB", "800MB", "2GiB").
MEMORY_SIZE = re.compile(r"[0-9]+(\.[0-9]+)? ?(KB|MB|GB|TB|KiB|MiB|GiB|TiB)", re.IGNORECASE)


class SettingsError(ValueError):
    """A setting is unknown, of the wrong type, or names a missing file."""


@dataclass(frozen=True)
class Setting:
    section: str
    key: str
    kind: type  # str, int, float, bool or list (of str)
    default: Any
    help: str
    is_path: bool = False  # a file that must exist when set
    optional: bool = False  # may be empty ("" in TOML, unset)
    per_level: bool = False  # a list with one entry per level: empty entries keep their place

    @property
    def env_name(self) -> str:
        return f"SOCLE_{self.section}_{self.key}".upper()

    @property
    def name(self) -> str:
        return f"{self.section}.{self.key}"


SETTINGS: tuple[Setting, ...] = (
    Setting("database", "url", str, "sqlite:///data/registry.db",
            "SQLAlchemy URL of the registry database (read-only for Socle)."),
    Setting("database", "max_computations", int, 3,
            "Most indicator computations reading the registry at once; more wait their turn "
            "and their page says so (1 to 12; the registry's connection pool keeps room for "
            "the short reads of every page)."),
    Setting("database", "duckdb_memory_limit", str, "768MB",
            "Most memory DuckDB may hold for the indicators and lists of this process (the "
            "analytical copy, or a DuckDB registry), all computations together; beyond it "
            "DuckDB spills to temporary files, slower but within bounds. A size such as "
            "`1GB` or `800MB`; empty for DuckDB's own default (80 % of the machine's memory).",
            optional=True),
    Setting("app_store", "url", str, "sqlite:///data/app_store.db",
            "SQLAlchemy URL of Socle's own database (users, meetings, snapshots, audit)."),
    Setting("analytics", "source", str, "auto",
            "Where indicators and lists are read: `copy` (an analytical copy of the registry's "
            "tables, a DuckDB file in copy_folder refreshed from the registry), `live` (the "
            "registry itself) or `auto` (the copy for SQLite and PostgreSQL registries, the "
            "registry itself when it is DuckDB)."),
    Setting("analytics", "copy_folder", str, "data/copy",
            "Folder of the analytical copy (Socle's own files, never the registry's)."),
    Setting("analytics", "refresh_minutes", int, 15,
            "Minutes after which the app brings the copy up to date (incrementally) when a "
            "page is opened; 0 to refresh only at start, with `python -m data_access.refresh` "
            "or the admins' button."),
    Setting("analytics", "whole_refresh_hours", int, 24,
            "Hours after which a refresh copies every row again (changes that move no date, "
            "such as a referral accepted, are picked up then)."),
    Setting("geography", "level_names", list,
            [N_("Province"), N_("District"), N_("Tehsil"), N_("Union council")],
            "Names of the admin levels, from level 1 (top) to the lowest level."),
    Setting("geography", "boundary_file", str, "data/registry.geojson",
            "Boundary file (GeoJSON, GeoPackage or Shapefile) keyed by area_id; empty for none.",
            is_path=True, optional=True),
    Setting("geography", "boundary_id_field", str, "area_id",
            "Field of the boundary file holding the registry's area_id."),
    Setting("geography", "boundary_name_field", str, "name",
            "Field of the boundary file holding the area's name."),
    Setting("geography", "boundary_level_field", str, "level",
            "Field of the boundary file holding the area's level; empty to take the level "
            "from the registry's area table."),
    Setting("geography", "boundary_files", list, [],
            "One boundary file per level, top level first (\"\" for a level without one); "
            "when set, it replaces boundary_file.", is_path=True, optional=True, per_level=True),
    Setting("geography", "boundary_id_fields", list, [],
            "Id field of each file of boundary_files; empty to use boundary_id_field for all.",
            per_level=True),
    Setting("geography", "boundary_name_fields", list, [],
            "Name field of each file of boundary_files; empty to use boundary_name_field for all.",
            per_level=True),
    Setting("geography", "boundary_attribution", str, "© OpenStreetMap contributors",
            "Credit line under every map, as the boundary data's licence asks (the demo's "
            "districts are OpenStreetMap's, ODbL); empty for none.", optional=True),
    Setting("map", "basemap_style", str, "",
            "Basemap style URL for online deployments; empty for none (works offline: the top "
            "level's outlines are the background)."),
    Setting("map", "classes", int, 5, "Number of colour classes of a choropleth (3 to 7)."),
    Setting("map", "simplify_tolerance", float, 0.002,
            "Tolerance in degrees of the shared-border simplification of boundaries "
            "(0.002° is about 200 m)."),
    Setting("map", "max_vertices", int, 60_000,
            "Most vertices sent for one level: a level with more is simplified further "
            "(0: no limit)."),
    Setting("map", "coordinate_decimals", int, 4,
            "Decimals kept in map coordinates sent to the browser (4 is about 11 m)."),
    Setting("indicators", "poverty_cutoff", float, 32.0,
            "Households with pmt_score at or below this are poor."),
    Setting("indicators", "referral_sla_days", int, 30,
            "Days after which an open referral is overdue."),
    Setting("indicators", "period_months", int, 3,
            "Length in calendar months of the default referral period ending on the as-of date."),
    Setting("privacy", "small_cell_threshold", int, 5,
            "Counts below this are suppressed for donors."),
    Setting("auth", "max_failures", int, 5,
            "Failed sign-ins within lockout_minutes that lock an account."),
    Setting("auth", "lockout_minutes", int, 15,
            "Minutes an account stays locked after max_failures failed sign-ins (and the "
            "window in which they are counted)."),
    Setting("auth", "session_minutes", int, 480,
            "Minutes a sign-in session lasts before the user must sign in again."),
    Setting("auth", "unknown_name_failures", int, 100,
            "Failed sign-ins for names that are no account recorded within lockout_minutes "
            "(audit rows and lock-out counts); beyond, they are refused alike but recorded "
            "once."),
    Setting("auth", "oidc", bool, False,
            "Offer sign-in through the organisation's identity provider (OpenID Connect, "
            "st.login; needs an [auth] section in .streamlit/secrets.toml). Its users are "
            "matched to local accounts by e-mail address."),
    Setting("linkage", "max_pairs_per_person", float, 8.0,
            "Most candidate pairs per person the record-linkage job scores (python -m "
            "linkage): counted before scoring, a blocking pass whose blocks would exceed it "
            "is tightened (its largest blocks split by another key)."),
    Setting("app", "language", str, "en",
            "Default language of the interface, the workbook and the brief (en, fr, ur, ps: a "
            "catalogue under locales/); each user may choose another in the sidebar."),
    Setting("app", "demo_mode", bool, True,
            "Demo mode: the app opens without sign-in, as the default user below (anyone may "
            "still sign in); outside demo mode nothing is shown before sign-in."),
    Setting("app", "default_role", str, "admin",
            "Role of the default user: the app's in demo mode before sign-in, and the "
            "command-line exports' (admin, chair, officer, donor)."),
    Setting("app", "default_areas", list, [],
            "area_ids the default user may see; empty for the whole registry."),
)

_BY_NAME = {s.name: s for s in SETTINGS}
_BY_ENV = {s.env_name: s for s in SETTINGS}


def default_of(name: str) -> Any:
    """A setting's default (``section.key``): code that runs without a configuration file
    (linkage.job.run_linkage) takes its defaults from here, as config.toml documents them."""
    return _BY_NAME[name].default


@dataclass(frozen=True)
class Settings:
    values: Mapping[str, Any]
    source: Path | None

    def __getitem__(self, name: str) -> Any:
        return self.values[name]

    @property
    def database_url(self) -> str:
        return self.values["database.url"]

    @property
    def app_store_url(self) -> str:
        return self.values["app_store.url"]

    @property
    def level_names(self) -> list[str]:
        return list(self.values["geography.level_names"])

    @property
    def poverty_cutoff(self) -> float:
        return self.values["indicators.poverty_cutoff"]

    @property
    def referral_sla_days(self) -> int:
        return self.values["indicators.referral_sla_days"]

    @property
    def period_months(self) -> int:
        return self.values["indicators.period_months"]

    def level_name(self, level: int | None) -> str:
        names = self.level_names
        if level is None:
            return N_("All")
        return names[level - 1] if 1 <= level <= len(names) else N_("Level {level}", level=level)


def _coerce(setting: Setting, raw: Any, origin: str) -> Any:
    """Check a value from TOML (typed) or the environment (text) against the setting's type."""
    kind = setting.kind
    if isinstance(raw, str) and origin.startswith("environment"):
        text = raw.strip()
        try:
            if kind is bool:
                if text.lower() not in {"true", "false", "1", "0", "yes", "no"}:
                    raise ValueError
                return text.lower() in {"true", "1", "yes"}
            if kind is int:
                return int(text)
            if kind is float:
                return float(text)
            if kind is list:
                parts = [part.strip() for part in text.split(",")] if text else []
                return parts if setting.per_level else [part for part in parts if part]
            return text
        except ValueError:
            raise SettingsError(
                f"setting `{setting.name}` from {origin} must be {kind.__name__}, got {raw!r}"
            ) from None
    ok = (
        (kind is float and isinstance(raw, (int, float)) and not isinstance(raw, bool))
        or (kind is int and isinstance(raw, int) and not isinstance(raw, bool))
        or (kind is bool and isinstance(raw, bool))
        or (kind is str and isinstance(raw, str))
        or (kind is list and isinstance(raw, list) and all(isinstance(x, str) for x in raw))
    )
    if not ok:
        expected = "list of text" if kind is list else kind.__name__
        raise SettingsError(
            f"setting `{setting.name}` in {origin} must be {expected}, got {raw!r}"
        )
    return float(raw) if kind is float else raw


def _resolve_path(value: str, base: Path) -> str:
    path = Path(value)
    return str(path if path.is_absolute() else base / path)


def _resolve_sqlite_url(url: str, base: Path) -> str:
    """Relative SQLite paths are relative to the config file, not to the working directory."""
    prefix = "sqlite:///"
    if url.startswith(prefix) and not url.startswith(prefix + "/") and ":memory:" not in url:
        return prefix + _resolve_path(url[len(prefix):], base)
    return url


def load_settings(
    path: str | Path | None = None,
    env: Mapping[str, str] | None = None,
    check_files: bool = True,
) -> Settings:
    """Read, override and validate the settings; raise SettingsError naming every problem."""
    env = os.environ if env is None else env
    path = Path(path or env.get(CONFIG_ENV) or DEFAULT_CONFIG)
    if not path.is_file():
        raise SettingsError(f"configuration file `{path}` does not exist")
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise SettingsError(f"configuration file `{path}` is not valid TOML: {exc}") from None

    problems: list[str] = []
    values: dict[str, Any] = {s.name: s.default for s in SETTINGS}
    for section, table in data.items():
        if not isinstance(table, dict):
            problems.append(f"unknown setting `{section}` in {path.name} (settings live in sections)")
            continue
        for key, raw in table.items():
            setting = _BY_NAME.get(f"{section}.{key}")
            if setting is None:
                problems.append(f"unknown setting `{section}.{key}` in {path.name}")
                continue
            try:
                values[setting.name] = _coerce(setting, raw, path.name)
            except SettingsError as exc:
                problems.append(str(exc))
    for name, raw in env.items():
        if not name.startswith("SOCLE_") or name in NOT_SETTINGS:
            continue
        setting = _BY_ENV.get(name)
        if setting is None:
            problems.append(f"unknown setting in environment variable `{name}`")
            continue
        try:
            values[setting.name] = _coerce(setting, raw, f"environment variable {name}")
        except SettingsError as exc:
            problems.append(str(exc))

    base = path.resolve().parent
    for setting in SETTINGS:
        value = values[setting.name]
        if setting.is_path and setting.kind is list:
            values[setting.name] = [_resolve_path(v, base) if v else "" for v in value]
            for given, resolved in zip(value, values[setting.name], strict=True):
                if given and check_files and not Path(resolved).exists():
                    problems.append(
                        f"setting `{setting.name}` names the file `{given}`, which does not exist"
                    )
        elif setting.is_path and value:
            values[setting.name] = _resolve_path(value, base)
            if check_files and not Path(values[setting.name]).exists():
                problems.append(
                    f"setting `{setting.name}` names the file `{value}`, which does not exist"
                )
        elif setting.is_path and not setting.optional:
            problems.append(f"setting `{setting.name}` must name a file")
    for url_name in ("database.url", "app_store.url"):
        values[url_name] = _resolve_sqlite_url(values[url_name], base)
    values["analytics.copy_folder"] = _resolve_path(values["analytics.copy_folder"], base)
    if values["analytics.source"] not in ("auto", "live", "copy"):
        problems.append("setting `analytics.source` must be auto, live or copy, got "
                        f"{values['analytics.source']!r}")
    for name in ("analytics.refresh_minutes", "analytics.whole_refresh_hours"):
        if values[name] < 0:
            problems.append(f"setting `{name}` must not be negative, got {values[name]}")
    if not values["geography.level_names"]:
        problems.append("setting `geography.level_names` must list at least one level")
    level_count = len(values["geography.level_names"])
    for name in ("geography.boundary_files", "geography.boundary_id_fields",
                 "geography.boundary_name_fields"):
        if len(values[name]) > level_count:
            problems.append(f"setting `{name}` lists {len(values[name])} entries but "
                            f"`geography.level_names` only {level_count} levels")
    for name in ("geography.boundary_id_fields", "geography.boundary_name_fields"):
        if values[name] and len(values[name]) != len(values["geography.boundary_files"]):
            problems.append(f"setting `{name}` must have one entry per file of "
                            "`geography.boundary_files`")
    if not 3 <= values["map.classes"] <= 7:
        problems.append(f"setting `map.classes` must be between 3 and 7, got {values['map.classes']}")
    if values["map.simplify_tolerance"] < 0:
        problems.append("setting `map.simplify_tolerance` must not be negative")
    if values["map.max_vertices"] < 0:
        problems.append("setting `map.max_vertices` must not be negative")
    if not 0 <= values["map.coordinate_decimals"] <= 8:
        problems.append("setting `map.coordinate_decimals` must be between 0 and 8")
    if not 1 <= values["database.max_computations"] <= MAX_COMPUTATIONS:
        problems.append(f"setting `database.max_computations` must be between 1 and "
                        f"{MAX_COMPUTATIONS}, got {values['database.max_computations']}")
    for name in ("auth.max_failures", "auth.lockout_minutes", "auth.session_minutes",
                 "auth.unknown_name_failures"):
        if values[name] < 1:
            problems.append(f"setting `{name}` must be at least 1, got {values[name]}")
    if known_language(values["app.language"]) is None:
        problems.append(f"setting `app.language` names `{values['app.language']}`, which has no "
                        f"catalogue under locales/ (languages: {', '.join(languages())})")
    if not values["linkage.max_pairs_per_person"] > 0:
        problems.append("setting `linkage.max_pairs_per_person` must be more than 0, got "
                        f"{values['linkage.max_pairs_per_person']:g}")
    limit = values["database.duckdb_memory_limit"]
    if limit and not MEMORY_SIZE.fullmatch(limit):
        problems.append(f"setting `database.duckdb_memory_limit` must be a size such as 1GB "
                        f"or 800MB, got `{limit}`")
    if problems:
        raise SettingsError("; ".join(problems))
    return Settings(values=values, source=path)
