"""Settings: declared as data in settings.SETTINGS, read from config.toml, overridden by SOCLE_*."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest

from core.settings import DEFAULT_CONFIG, SETTINGS, SettingsError, load_settings
from data_access.context import UserContext, default_context

NO_BOUNDARY = '[geography]\nboundary_file = ""\n'


def write_config(folder: Path, text: str = NO_BOUNDARY) -> Path:
    path = folder / "config.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_defaults_when_the_file_sets_nothing_else(tmp_path: Path):
    settings = load_settings(write_config(tmp_path), env={})
    assert settings.referral_sla_days == 30
    assert settings.level_names == ["Province", "District", "Tehsil", "Union council"]
    assert settings["app.default_role"] == "admin"
    assert settings["geography.boundary_file"] == ""


def test_unknown_key_is_named(tmp_path: Path):
    path = write_config(tmp_path, NO_BOUNDARY + "colour = 'green'\n")
    with pytest.raises(SettingsError, match=r"unknown setting `geography\.colour`"):
        load_settings(path, env={})


def test_the_spark_variables_are_not_taken_for_settings(tmp_path: Path):
    env = {"SOCLE_SPARK_MASTER": "local[2]", "SOCLE_SPARK_DRIVER_MEMORY": "2g"}
    assert load_settings(write_config(tmp_path), env=env).referral_sla_days == 30
    with pytest.raises(SettingsError, match="`SOCLE_SPARK_EXECUTORS`"):
        load_settings(write_config(tmp_path), env={"SOCLE_SPARK_EXECUTORS": "4"})


def test_unknown_section_is_named(tmp_path: Path):
    path = write_config(tmp_path, NO_BOUNDARY + "[display]\ntheme = 'dark'\n")
    with pytest.raises(SettingsError, match=r"unknown setting `display\.theme`"):
        load_settings(path, env={})


def test_setting_outside_a_section_is_refused(tmp_path: Path):
    path = write_config(tmp_path, "language = 'fr'\n" + NO_BOUNDARY)
    with pytest.raises(SettingsError, match=r"`language`.*sections"):
        load_settings(path, env={})


@pytest.mark.parametrize(("line", "setting"), [
    ("[indicators]\nreferral_sla_days = 'thirty'\n", "indicators.referral_sla_days"),
    ("[indicators]\nreferral_sla_days = 30.5\n", "indicators.referral_sla_days"),
    ("[indicators]\npoverty_cutoff = true\n", "indicators.poverty_cutoff"),
    ("[app]\ndemo_mode = 'yes'\n", "app.demo_mode"),
    ("[app]\ndefault_areas = 'PK-KP'\n", "app.default_areas"),
    ("[app]\ndefault_areas = [1, 2]\n", "app.default_areas"),
    ("[database]\nurl = 5\n", "database.url"),
])
def test_wrong_type_in_file_is_named(tmp_path: Path, line: str, setting: str):
    path = write_config(tmp_path, NO_BOUNDARY + line)
    with pytest.raises(SettingsError, match=re.escape(f"`{setting}`")):
        load_settings(path, env={})


def test_integer_is_accepted_for_a_real(tmp_path: Path):
    path = write_config(tmp_path, NO_BOUNDARY + "[indicators]\npoverty_cutoff = 30\n")
    value = load_settings(path, env={}).poverty_cutoff
    assert value == 30.0 and isinstance(value, float)


def test_every_problem_is_reported_at_once(tmp_path: Path):
    path = write_config(
        tmp_path, NO_BOUNDARY + "colour = 1\n[indicators]\nreferral_sla_days = 'x'\n")
    with pytest.raises(SettingsError) as caught:
        load_settings(path, env={"SOCLE_PRIVACY_SMALL_CELL_THRESHOLD": "few"})
    message = str(caught.value)
    assert "geography.colour" in message
    assert "indicators.referral_sla_days" in message
    assert "SOCLE_PRIVACY_SMALL_CELL_THRESHOLD" in message


def test_environment_overrides_database_urls(tmp_path: Path):
    env = {
        "SOCLE_DATABASE_URL": "postgresql+psycopg://reader@db.example/registry",
        "SOCLE_APP_STORE_URL": "sqlite:////var/lib/socle/app_store.db",
    }
    settings = load_settings(write_config(tmp_path), env=env)
    assert settings.database_url == "postgresql+psycopg://reader@db.example/registry"
    assert settings.app_store_url == "sqlite:////var/lib/socle/app_store.db"


def test_relative_sqlite_urls_are_relative_to_the_config_file(tmp_path: Path):
    path = write_config(tmp_path)
    settings = load_settings(path, env={"SOCLE_APP_STORE_URL": "sqlite:///store/app.db"})
    assert settings.app_store_url == f"sqlite:///{tmp_path.resolve() / 'store' / 'app.db'}"
    assert settings.database_url == f"sqlite:///{tmp_path.resolve() / 'data' / 'registry.db'}"


def test_environment_overrides_the_file(tmp_path: Path):
    path = write_config(tmp_path, NO_BOUNDARY + "[indicators]\nreferral_sla_days = 45\n")
    env = {
        "SOCLE_INDICATORS_REFERRAL_SLA_DAYS": "60",
        "SOCLE_INDICATORS_POVERTY_CUTOFF": "28.5",
        "SOCLE_APP_DEMO_MODE": "false",
        "SOCLE_APP_DEFAULT_AREAS": "PK-KP-PSH, PK-KP-SWT",
        "SOCLE_GEOGRAPHY_LEVEL_NAMES": "Province,District",
    }
    settings = load_settings(path, env=env)
    assert settings.referral_sla_days == 60
    assert settings.poverty_cutoff == 28.5
    assert settings["app.demo_mode"] is False
    assert settings["app.default_areas"] == ["PK-KP-PSH", "PK-KP-SWT"]
    assert settings.level_names == ["Province", "District"]


@pytest.mark.parametrize(("name", "raw"), [
    ("SOCLE_INDICATORS_REFERRAL_SLA_DAYS", "thirty"),
    ("SOCLE_INDICATORS_POVERTY_CUTOFF", "low"),
    ("SOCLE_APP_DEMO_MODE", "maybe"),
])
def test_bad_environment_type_names_the_variable(tmp_path: Path, name: str, raw: str):
    with pytest.raises(SettingsError, match=name) as caught:
        load_settings(write_config(tmp_path), env={name: raw})
    assert repr(raw) in str(caught.value)


def test_unknown_environment_variable_is_named(tmp_path: Path):
    with pytest.raises(SettingsError, match="SOCLE_DATABASE_URI"):
        load_settings(write_config(tmp_path), env={"SOCLE_DATABASE_URI": "sqlite://"})


def test_other_environment_variables_are_ignored(tmp_path: Path):
    settings = load_settings(write_config(tmp_path), env={"PATH": "/bin", "SOCLEX": "1"})
    assert settings.referral_sla_days == 30


def test_missing_config_file_is_named(tmp_path: Path):
    missing = tmp_path / "nowhere" / "config.toml"
    with pytest.raises(SettingsError, match=re.escape(str(missing))):
        load_settings(missing, env={})


def test_socle_config_names_another_file(tmp_path: Path):
    path = write_config(tmp_path, NO_BOUNDARY + "[indicators]\nperiod_months = 6\n")
    assert load_settings(env={"SOCLE_CONFIG": str(path)}).period_months == 6


def test_invalid_toml_is_reported(tmp_path: Path):
    with pytest.raises(SettingsError, match="not valid TOML"):
        load_settings(write_config(tmp_path, "[geography\n"), env={})


def test_missing_boundary_file_is_named(tmp_path: Path):
    path = write_config(tmp_path, '[geography]\nboundary_file = "maps/kp.geojson"\n')
    with pytest.raises(SettingsError, match=r"geography\.boundary_file.*maps/kp\.geojson"):
        load_settings(path, env={})
    # Not checked when asked not to (tools that never read the boundaries).
    assert load_settings(path, env={}, check_files=False)["geography.boundary_file"] == str(
        tmp_path.resolve() / "maps" / "kp.geojson")


def test_boundary_file_found_relative_to_the_config(tmp_path: Path):
    (tmp_path / "kp.geojson").write_text("{}", encoding="utf-8")
    path = write_config(tmp_path, '[geography]\nboundary_file = "kp.geojson"\n')
    assert load_settings(path, env={})["geography.boundary_file"] == str(
        tmp_path.resolve() / "kp.geojson")


def test_boundary_file_may_be_emptied_from_the_environment(tmp_path: Path):
    path = write_config(tmp_path, '[geography]\nboundary_file = "missing.geojson"\n')
    settings = load_settings(path, env={"SOCLE_GEOGRAPHY_BOUNDARY_FILE": ""})
    assert settings["geography.boundary_file"] == ""


def test_level_names_may_not_be_empty(tmp_path: Path):
    path = write_config(tmp_path, NO_BOUNDARY + "level_names = []\n")
    with pytest.raises(SettingsError, match="level_names"):
        load_settings(path, env={})


def _documented_settings() -> dict[str, tuple[str, str]]:
    """``section.key`` -> (the comment lines just above it, the value text) in config.toml."""
    documented: dict[str, tuple[str, str]] = {}
    section, comments = "", []
    for line in DEFAULT_CONFIG.read_text(encoding="utf-8").splitlines():
        stripped = line.strip()
        if stripped.startswith("["):
            section, comments = stripped.strip("[]").strip(), []
        elif stripped.startswith("#"):
            comments.append(stripped.lstrip("#").strip())
        elif "=" in stripped and section:
            key, value = (part.strip() for part in stripped.split("=", 1))
            documented[f"{section}.{key}"] = (" ".join(comments), value)
            comments = []
        elif not stripped:
            comments = []
    return documented


@pytest.mark.parametrize("setting", SETTINGS, ids=lambda s: s.name)
def test_every_setting_is_documented_in_config_toml_with_its_default(setting):
    documented = _documented_settings()
    assert setting.name in documented, f"`{setting.name}` is missing from config.toml"
    comment, value = documented[setting.name]
    assert comment, f"`{setting.name}` has no comment above it in config.toml"
    assert tomllib.loads(f"v = {value}")["v"] == setting.default, (
        f"config.toml gives `{setting.name}` = {value}, its default is {setting.default!r}")


def test_config_toml_holds_only_declared_settings():
    declared = {s.name for s in SETTINGS}
    assert set(_documented_settings()) <= declared


def test_the_shipped_config_loads():
    settings = load_settings(DEFAULT_CONFIG, env={}, check_files=False)
    assert settings.source == DEFAULT_CONFIG


def test_default_context_comes_from_the_settings(tmp_path: Path):
    path = write_config(tmp_path)
    assert default_context(load_settings(path, env={})) == UserContext("admin", ())
    settings = load_settings(path, env={"SOCLE_APP_DEFAULT_ROLE": "Officer",
                                        "SOCLE_APP_DEFAULT_AREAS": "D1,T2"})
    context = default_context(settings)
    assert context == UserContext("officer", ("D1", "T2"))
    assert not context.whole_registry


def test_unknown_default_role_is_a_settings_error(tmp_path: Path):
    settings = load_settings(write_config(tmp_path), env={"SOCLE_APP_DEFAULT_ROLE": "mayor"})
    with pytest.raises(SettingsError, match=r"app\.default_role.*mayor"):
        default_context(settings)


def test_user_context_checks_its_role_and_keeps_areas_hashable():
    with pytest.raises(ValueError, match="unknown role"):
        UserContext("guest")
    context = UserContext("chair", ["D1", "D1", "D2"])  # type: ignore[arg-type]
    assert context.areas == ("D1", "D2")
    assert hash(context) == hash(UserContext("chair", ("D1", "D2")))
    assert UserContext("donor").whole_registry


def test_per_level_lists_keep_empty_entries_from_the_environment(tmp_path: Path):
    (tmp_path / "d.gpkg").write_text("")
    path = write_config(tmp_path)
    settings = load_settings(path, env={"SOCLE_GEOGRAPHY_BOUNDARY_FILES": ",d.gpkg",
                                        "SOCLE_GEOGRAPHY_BOUNDARY_ID_FIELDS": ",PCODE",
                                        "SOCLE_APP_DEFAULT_AREAS": "D1,,D2"})
    assert settings["geography.boundary_files"] == ["", str(tmp_path / "d.gpkg")]
    assert settings["geography.boundary_id_fields"] == ["", "PCODE"]
    assert settings["app.default_areas"] == ["D1", "D2"]


@pytest.mark.parametrize("value", ["lots", "1GB'; SELECT 1; --", "1 000MB"])
def test_a_duckdb_memory_limit_that_is_not_a_size_is_named(tmp_path: Path, value: str):
    path = write_config(tmp_path, NO_BOUNDARY + f'[database]\nduckdb_memory_limit = "{value}"\n')
    with pytest.raises(SettingsError, match=r"`database.duckdb_memory_limit` must be a size"):
        load_settings(path, env={})


@pytest.mark.parametrize("value", ["1GB", "800MB", "2GiB", "1.5 GB", ""])
def test_a_duckdb_memory_limit_may_be_a_size_or_empty(tmp_path: Path, value: str):
    path = write_config(tmp_path, NO_BOUNDARY + f'[database]\nduckdb_memory_limit = "{value}"\n')
    assert load_settings(path, env={})["database.duckdb_memory_limit"] == value
