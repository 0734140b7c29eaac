"""The demo registry generator: contract, determinism, planted truth, geography, people."""

from __future__ import annotations

import datetime as dt
import itertools
import json
import sqlite3
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import shapely
import sqlalchemy as sa

from data_access.registry import open_registry
from data_access.schema import check_schema
from demo.generator import Options, generate, main, output_paths

ROOT = Path(__file__).resolve().parents[1]
SHARED_GEO = ROOT.parent / "shared" / "geo"
END = dt.date(2026, 10, 31)
STATUSES = {"pending", "accepted", "rejected", "completed"}


@dataclass
class Demo:
    database: Path
    tables: dict[str, pd.DataFrame]
    truth: dict[str, pd.DataFrame]
    summary: dict
    geojson: dict

    def dirty(self, table: str, rule: str) -> set[str]:
        rows = self.truth["dirty_rows"]
        return set(rows.loc[(rows["table"] == table) & (rows["rule"] == rule), "row_id"])

    def dirty_rows(self, table: str) -> set[str]:
        rows = self.truth["dirty_rows"]
        return set(rows.loc[rows["table"] == table, "row_id"])


def read_demo(database: Path) -> Demo:
    with sqlite3.connect(database) as conn:
        tables = {
            name: pd.read_sql_query(f"SELECT * FROM {name}", conn, dtype=object)
            for name in ("area", "access_point", "household", "person", "programme",
                         "enrolment", "referral")
        }
    geojson_path, truth_folder = output_paths(database)
    truth = {path.stem: pd.read_csv(path, dtype=str, keep_default_na=False, na_values=[""])
             for path in truth_folder.glob("*.csv")}
    summary = json.loads((truth_folder / "summary.json").read_text())
    return Demo(database, tables, truth, summary, json.loads(geojson_path.read_text()))


@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> Demo:
    out = tmp_path_factory.mktemp("demo") / "registry.db"
    generate(Options(out=out, households=1500, seed=7))
    return read_demo(out)


@pytest.fixture(scope="module")
def large_demo(tmp_path_factory) -> Demo:
    out = tmp_path_factory.mktemp("large") / "registry.db"
    generate(Options(out=out, households=5000, seed=3))
    return read_demo(out)


def days(values: pd.Series) -> pd.Series:
    return pd.to_datetime(values, format="%Y-%m-%d", errors="coerce")


def ages(birth: pd.Series, on: dt.date = END) -> pd.Series:
    born = days(birth)
    before = (on.month < born.dt.month) | ((on.month == born.dt.month) & (on.day < born.dt.day))
    return on.year - born.dt.year - before.astype(int)


def active(enrolments: pd.DataFrame, on: dt.date = END) -> pd.Series:
    when = pd.Timestamp(on)
    ended = days(enrolments["ended_on"])
    return (days(enrolments["enrolled_on"]) <= when) & (ended.isna() | (ended > when))


def well_formed(ids: pd.Series) -> pd.Series:
    return ids.notna() & ids.astype(str).str.fullmatch(r"\d{13}")


# --- files and contract --------------------------------------------------------------------------

def test_files_are_written_beside_the_database(demo: Demo):
    folder = demo.database.parent
    assert sorted(p.name for p in folder.iterdir()) == [
        "registry.db", "registry.geojson", "registry.truth"]
    assert sorted(p.name for p in (folder / "registry.truth").iterdir()) == [
        "dirty_rows.csv", "double_dipping.csv", "double_enrolments.csv",
        "fuzzy_duplicates.csv", "shared_national_ids.csv", "summary.json"]
    assert demo.summary["rows"] == {name: len(frame) for name, frame in demo.tables.items()}


def test_registry_meets_the_contract_and_opens_read_only(demo: Demo):
    engine = sa.create_engine(f"sqlite:///{demo.database}")
    assert check_schema(engine) == []
    engine.dispose()
    registry = open_registry(f"sqlite:///{demo.database}")
    with registry.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM household")).scalar() > 1500
    registry.dispose()


def test_values_are_stored_as_the_contract_says(demo: Demo):
    with sqlite3.connect(demo.database) as conn:
        types = {
            "registered_on": {r[0] for r in conn.execute(
                "SELECT DISTINCT typeof(registered_on) FROM household")},
            "disability": {r[0] for r in conn.execute(
                "SELECT DISTINCT typeof(disability) FROM person")},
        }
        indexes = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='index'")}
    assert types == {"registered_on": {"text"}, "disability": {"integer"}}
    assert days(demo.tables["household"]["registered_on"]).notna().all()
    assert set(demo.tables["person"]["is_head"]) <= {0, 1}
    assert {"ix_household_area_id", "ix_person_household_id", "ix_enrolment_programme_id",
            "ix_enrolment_household_id", "ix_enrolment_person_id",
            "ix_referral_household_id"} <= indexes


# --- determinism ---------------------------------------------------------------------------------

def test_same_seed_gives_the_same_bytes_and_another_seed_does_not(tmp_path: Path):
    paths = {}
    for name, seed in (("a", 11), ("b", 11), ("c", 12)):
        paths[name] = tmp_path / name / "registry.db"
        generate(Options(out=paths[name], households=300, seed=seed))

    def files(database: Path) -> dict[str, bytes]:
        geojson, truth = output_paths(database)
        found = {"db": database.read_bytes(), "geojson": geojson.read_bytes()}
        found.update({p.name: p.read_bytes() for p in sorted(truth.iterdir())})
        return found

    a, b, c = files(paths["a"]), files(paths["b"]), files(paths["c"])
    assert a == b
    assert a["db"] != c["db"]
    assert a["geojson"] != c["geojson"]


def test_nothing_depends_on_today(tmp_path: Path):
    result = generate(Options(out=tmp_path / "r.db", households=300, seed=5,
                              end_date=dt.date(2025, 6, 30)))
    demo = read_demo(result.database)
    latest = max(days(demo.tables[t][c]).max() for t, c in (
        ("household", "registered_on"), ("person", "registered_on"),
        ("enrolment", "enrolled_on"), ("referral", "referred_on")))
    assert latest <= pd.Timestamp("2025-06-30")


def test_a_rerun_replaces_the_files_and_leaves_no_temporaries(tmp_path: Path):
    out = tmp_path / "registry.db"
    generate(Options(out=out, households=300, seed=1))
    generate(Options(out=out, households=400, seed=2))
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "registry.db", "registry.geojson", "registry.truth"]
    assert read_demo(out).summary["households_requested"] == 400


# --- referential integrity and the planted dirty rows --------------------------------------------

def test_households_break_area_rules_exactly_where_planted(demo: Demo):
    area, household = demo.tables["area"], demo.tables["household"]
    lowest = set(area.loc[area["level"] == area["level"].max(), "area_id"])
    unknown = ~household["area_id"].isin(area["area_id"])
    coarse = household["area_id"].isin(area["area_id"]) & ~household["area_id"].isin(lowest)
    assert set(household.loc[unknown, "household_id"]) == demo.dirty("household", "unknown_area")
    assert set(household.loc[coarse, "household_id"]) == demo.dirty("household", "area_not_lowest")
    assert unknown.sum() > 0 and coarse.sum() > 0


def test_persons_break_rules_exactly_where_planted(demo: Demo):
    person, household = demo.tables["person"], demo.tables["household"]
    orphan = ~person["household_id"].isin(household["household_id"])
    malformed = person["national_id"].notna() & ~well_formed(person["national_id"])
    idless_adult = person["national_id"].isna() & (ages(person["birth_date"]) >= 18)
    assert set(person.loc[orphan, "person_id"]) == demo.dirty("person", "household_missing")
    assert set(person.loc[malformed, "person_id"]) == demo.dirty("person", "malformed_national_id")
    assert set(person.loc[idless_adult, "person_id"]) == demo.dirty("person", "adult_without_id")
    assert orphan.sum() and malformed.sum() and idless_adult.sum()


def test_every_clean_household_has_exactly_one_head(demo: Demo):
    person, household = demo.tables["person"], demo.tables["household"]
    heads = person[person["is_head"] == 1].groupby("household_id").size()
    assert heads.reindex(household["household_id"]).eq(1).all()


def enrolment_problems(demo: Demo) -> dict[str, set[str]]:
    """Each enrolment rule of the spec, judged on the database alone."""
    enrolment = demo.tables["enrolment"]
    units = demo.tables["programme"].set_index("programme_id")["unit"]
    unit = enrolment["programme_id"].map(units)
    has_h, has_p = enrolment["household_id"].notna(), enrolment["person_id"].notna()
    h_ok = enrolment["household_id"].isin(demo.tables["household"]["household_id"])
    p_ok = enrolment["person_id"].isin(demo.tables["person"]["person_id"])
    rules = {
        "unknown_programme": unit.isna(),
        "both_unit_ids": unit.notna() & has_h & has_p,
        "no_unit_id": unit.notna() & ~has_h & ~has_p,
        "unit_mismatch": unit.notna() & (has_h != has_p)
        & (((unit == "household") & has_p) | ((unit == "person") & has_h)),
        "unit_missing": unit.notna() & (has_h != has_p)
        & (((unit == "household") & has_h & ~h_ok) | ((unit == "person") & has_p & ~p_ok)),
    }
    return {rule: set(enrolment.loc[mask, "enrolment_id"]) for rule, mask in rules.items()}


def test_enrolments_break_rules_exactly_where_planted(demo: Demo):
    for rule, rows in enrolment_problems(demo).items():
        assert rows == demo.dirty("enrolment", rule), rule
        assert rows, rule


def test_referrals_break_rules_exactly_where_planted(demo: Demo):
    referral = demo.tables["referral"]
    referred, closed = days(referral["referred_on"]), days(referral["closed_on"])
    is_closed = referral["status"].isin(["rejected", "completed"])
    rules = {
        "household_missing":
            ~referral["household_id"].isin(demo.tables["household"]["household_id"]),
        "bad_status": ~referral["status"].isin(STATUSES),
        "closed_on_missing": is_closed & closed.isna(),
        "closed_on_before_referred_on": closed.notna() & (closed < referred),
    }
    for rule, mask in rules.items():
        assert set(referral.loc[mask, "referral_id"]) == demo.dirty("referral", rule), rule
        assert mask.sum() > 0, rule


def test_every_other_reference_resolves(demo: Demo):
    t = demo.tables
    area_ids, programme_ids = set(t["area"]["area_id"]), set(t["programme"]["programme_id"])
    point_ids, person_ids = set(t["access_point"]["access_point_id"]), set(t["person"]["person_id"])
    assert t["area"]["parent_id"].dropna().isin(area_ids).all()
    assert t["access_point"]["area_id"].isin(area_ids).all()
    assert t["household"]["access_point_id"].isin(point_ids).all()
    clean_referrals = t["referral"][~t["referral"]["referral_id"].isin(demo.dirty_rows("referral"))]
    assert clean_referrals["to_programme_id"].isin(programme_ids).all()
    assert clean_referrals["from_programme_id"].dropna().isin(programme_ids).all()
    assert clean_referrals["access_point_id"].dropna().isin(point_ids).all()
    referred = clean_referrals.dropna(subset=["person_id"])
    assert referred["person_id"].isin(person_ids).all()
    members = t["person"].set_index("person_id")["household_id"]
    referred = referred[~referred["person_id"].isin(demo.dirty_rows("person"))]
    assert (referred["person_id"].map(members) == referred["household_id"]).all()
    # Access points are those of the household's own union council.
    point_area = t["access_point"].set_index("access_point_id")["area_id"]
    clean = t["household"][~t["household"]["household_id"].isin(demo.dirty_rows("household"))]
    assert (clean["access_point_id"].map(point_area) == clean["area_id"]).all()


def test_dirty_share_is_about_one_percent_and_can_be_zero(demo: Demo, tmp_path: Path):
    for table in ("household", "person", "enrolment"):
        share = len(demo.dirty_rows(table)) / len(demo.tables[table])
        assert 0.005 < share < 0.02, table
    result = generate(Options(out=tmp_path / "clean.db", households=300, seed=2, dirty_share=0))
    clean = read_demo(result.database)
    rules = set(clean.truth["dirty_rows"]["rule"])
    assert rules <= {"adult_without_id"}  # only re-registrations recorded without their id
    assert set(enrolment_problems(clean)["unknown_programme"]) == set()


# --- dates and lifecycles ------------------------------------------------------------------------

def test_dates_follow_registration_and_lifecycles(demo: Demo):
    t = demo.tables
    end = pd.Timestamp(END)
    household = t["household"].set_index("household_id")
    person = t["person"][~t["person"]["person_id"].isin(demo.dirty_rows("person"))]
    assert (days(household["registered_on"]) <= end).all()
    assert days(household["registered_on"]).min() >= pd.Timestamp("2023-01-01")
    assert (days(person["registered_on"])
            >= days(person["household_id"].map(household["registered_on"]))).all()

    enrolment = t["enrolment"][~t["enrolment"]["enrolment_id"].isin(demo.dirty_rows("enrolment"))]
    registered = pd.concat([
        days(enrolment["household_id"].map(household["registered_on"])),
        days(enrolment["person_id"].map(t["person"].set_index("person_id")["registered_on"])),
    ], axis=1).max(axis=1)
    assert (days(enrolment["enrolled_on"]) > registered).all()
    assert (days(enrolment["enrolled_on"]) <= end).all()
    ended = days(enrolment["ended_on"]).dropna()
    assert (ended > days(enrolment.loc[ended.index, "enrolled_on"])).all() and (ended <= end).all()
    assert 0.05 < len(ended) / len(enrolment) < 0.5

    referral = t["referral"][~t["referral"]["referral_id"].isin(demo.dirty_rows("referral"))]
    referred, closed = days(referral["referred_on"]), days(referral["closed_on"])
    assert referred.between(end - pd.Timedelta(days=730), end).all()
    is_closed = referral["status"].isin(["rejected", "completed"])
    assert closed[is_closed].notna().all() and closed[~is_closed].isna().all()
    assert (closed[is_closed] > referred[is_closed]).all() and (closed[is_closed] <= end).all()
    assert set(referral["status"]) == STATUSES
    overdue = ~is_closed & (referred <= end - pd.Timedelta(days=30))
    assert overdue.sum() > 0
    from_programme = referral["from_programme_id"]
    assert from_programme.isna().any() and from_programme.notna().any()


# --- planted duplicates --------------------------------------------------------------------------

def test_shared_national_ids_are_exactly_the_planted_ones(demo: Demo):
    person = demo.tables["person"]
    ids = person.loc[well_formed(person["national_id"]), ["person_id", "national_id"]]
    shared = ids[ids.duplicated("national_id", keep=False)]
    truth = demo.truth["shared_national_ids"]
    assert set(shared["person_id"]) == set(truth["person_id"])
    by_person = person.set_index("person_id")["national_id"]
    for _, group in truth.groupby("group"):
        assert len(group) >= 2
        assert by_person[group["person_id"]].nunique() == 1
        assert (group["national_id"] == by_person[group["person_id"]].to_numpy()).all()
    planted = truth[truth["planted_as"].isin(["holder", "copy"])]
    across = planted.groupby("group")["district_id"].nunique()
    assert (across > 1).any() and (across == 1).any()


def test_fuzzy_duplicates_are_variants_of_their_original(demo: Demo):
    person = demo.tables["person"].set_index("person_id")
    household = demo.tables["household"].set_index("household_id")
    truth = demo.truth["fuzzy_duplicates"]
    assert len(truth) >= 10
    a, b = person.loc[truth["person_id_a"]], person.loc[truth["person_id_b"]]
    assert (truth["person_id_a"] != truth["person_id_b"]).all()
    assert (a["sex"].to_numpy() == b["sex"].to_numpy()).all()
    assert (days(b["registered_on"]).to_numpy() >= days(a["registered_on"]).to_numpy()).all()
    names_a = a["first_name"] + "|" + a["last_name"].fillna("") + "|" + a["father_name"].fillna("")
    names_b = b["first_name"] + "|" + b["last_name"].fillna("") + "|" + b["father_name"].fillna("")
    changed = names_a.to_numpy() != names_b.to_numpy()
    assert (changed == (truth["kind"] != "same_name").to_numpy()).all()
    swapped = truth["kind"].to_numpy() == "swapped_names"
    assert (a["first_name"].to_numpy()[swapped] == b["last_name"].to_numpy()[swapped]).all()
    same_home = truth["placement"].to_numpy() == "same_household"
    homes_a, homes_b = a["household_id"].to_numpy(), b["household_id"].to_numpy()
    assert (homes_a[same_home] == homes_b[same_home]).all()
    moved = truth["placement"].to_numpy() == "new_household"
    sizes = person.groupby("household_id").size()
    assert (sizes[b["household_id"].to_numpy()[moved]] == 1).all()
    assert (b["is_head"].to_numpy()[moved] == 1).all()
    other = truth["placement"].to_numpy() == "other_household"
    areas = household["area_id"]
    assert (areas[a["household_id"].to_numpy()[other]].to_numpy()
            != areas[b["household_id"].to_numpy()[other]].to_numpy()).all()
    for change in ("missing", "same"):
        rows = truth["national_id_change"].to_numpy() == change
        if change == "missing":
            assert b["national_id"][rows].isna().all()
        else:
            assert (a["national_id"].to_numpy()[rows] == b["national_id"].to_numpy()[rows]).all()
    kinds = set(truth["kind"]) | set(truth["birth_date_change"]) | set(truth["placement"])
    assert {"transliteration", "typo", "day_month_swapped", "year_shifted", "year_only",
            "new_household", "same_household", "other_household"} <= kinds


def active_clean_enrolments(demo: Demo) -> pd.DataFrame:
    enrolment = demo.tables["enrolment"]
    dirty = enrolment["enrolment_id"].isin(demo.dirty_rows("enrolment"))
    return enrolment[~dirty & active(enrolment)]


def test_double_enrolments_are_exactly_the_planted_ones(demo: Demo):
    enrolment = demo.tables["enrolment"]
    clean = active_clean_enrolments(demo)
    unit = clean["household_id"].fillna(clean["person_id"])
    counts = clean.groupby([unit, clean["programme_id"]]).size()
    doubled = {key for key, n in counts.items() if n >= 2}
    truth = demo.truth["double_enrolments"]
    units = truth["household_id"].fillna(truth["person_id"])
    planted = set(zip(units, truth["programme_id"], strict=True))
    assert doubled == planted and planted
    rows = enrolment.set_index("enrolment_id")
    for column in ("enrolment_id_a", "enrolment_id_b"):
        chosen = rows.loc[truth[column]]
        assert active(chosen).all()
        assert (chosen["programme_id"].to_numpy() == truth["programme_id"].to_numpy()).all()


def test_double_dipping_is_exactly_the_planted_households(demo: Demo):
    enrolment, programme = demo.tables["enrolment"], demo.tables["programme"]
    clean = active_clean_enrolments(demo)
    group = clean["programme_id"].map(programme.set_index("programme_id")["exclusive_group"])
    grouped = clean[group.notna()].assign(group=group[group.notna()])
    per_household = grouped.groupby(["household_id", "group"])["programme_id"].nunique()
    dipping = {h for (h, _), n in per_household.items() if n >= 2}
    truth = demo.truth["double_dipping"]
    assert dipping == set(truth["household_id"]) and dipping
    assert (truth["programme_id_a"] != truth["programme_id_b"]).all()
    rows = enrolment.set_index("enrolment_id")
    for side in ("a", "b"):
        chosen = rows.loc[truth[f"enrolment_id_{side}"]]
        assert active(chosen).all()
        assert (chosen["household_id"].to_numpy() == truth["household_id"].to_numpy()).all()


# --- programmes ----------------------------------------------------------------------------------

def eligible(demo: Demo, programme: pd.Series) -> pd.Series:
    """Eligible units of a programme on the end date, per the indicator spec."""
    household = demo.tables["household"].set_index("household_id")
    score = household["pmt_score"].astype(float)
    end = pd.Timestamp(END)
    if programme["unit"] == "household":
        ok = days(household["registered_on"]) <= end
        if pd.notna(programme["pmt_max"]):
            ok &= score <= programme["pmt_max"]
        return ok
    person = demo.tables["person"].set_index("person_id")
    ok = days(person["registered_on"]) <= end
    if pd.notna(programme["pmt_max"]):
        ok &= person["household_id"].map(score) <= programme["pmt_max"]
    age = ages(person["birth_date"])
    if pd.notna(programme["age_min"]):
        ok &= age >= programme["age_min"]
    if pd.notna(programme["age_max"]):
        ok &= age <= programme["age_max"]
    if pd.notna(programme["sex"]):
        ok &= person["sex"] == programme["sex"]
    if programme["disability_only"] == 1:
        ok &= person["disability"] == 1
    return ok.fillna(False)


def test_programmes_have_targeting_errors_both_ways(demo: Demo):
    programme = demo.tables["programme"]
    assert 6 <= len(programme) <= 8
    assert set(programme["unit"]) == {"household", "person"}
    cash = programme[programme["exclusive_group"] == "cash_uct"]
    assert len(cash) == 2 and (cash["unit"] == "household").all()
    clean = active_clean_enrolments(demo)
    for _, row in programme.iterrows():
        ok = eligible(demo, row)
        rows = clean[clean["programme_id"] == row["programme_id"]]
        enrolled = set(rows["household_id" if row["unit"] == "household" else "person_id"])
        assert enrolled, row["programme_id"]
        eligible_units = set(ok[ok].index)
        assert eligible_units - enrolled, f"{row['programme_id']}: no exclusion error"
        if row["programme_id"] != "sehat_card":  # everyone is eligible for Sehat Card
            assert enrolled - eligible_units, f"{row['programme_id']}: no inclusion error"


# --- people --------------------------------------------------------------------------------------

def planted_persons(demo: Demo) -> set[str]:
    return (set(demo.truth["shared_national_ids"]["person_id"])
            | set(demo.truth["fuzzy_duplicates"]["person_id_b"]) | demo.dirty_rows("person"))


def test_national_ids_follow_cnic_rules(demo: Demo):
    person = demo.tables["person"]
    plain = person[~person["person_id"].isin(planted_persons(demo)) & person["national_id"].notna()]
    ids = plain["national_id"]
    assert ids.str.fullmatch(r"1\d{12}").all()
    last = ids.str[-1].astype(int)
    assert (last[plain["sex"] == "M"] % 2 == 1).all()
    assert (last[plain["sex"] == "F"] % 2 == 0).all()
    assert ids.is_unique
    age = ages(plain["birth_date"])
    everyone_age = ages(person["birth_date"])
    children = person[(everyone_age < 18) & ~person["person_id"].isin(planted_persons(demo))]
    assert 0.4 < children["national_id"].isna().mean() < 0.8  # most children have no B-form
    assert (age[plain.index] >= 0).all()


def test_people_look_like_kp_households(large_demo: Demo):
    person, household = large_demo.tables["person"], large_demo.tables["household"]
    sizes = person.groupby("household_id").size().reindex(household["household_id"], fill_value=0)
    assert 6.0 <= sizes.mean() <= 7.0
    assert (sizes >= 1).all() and sizes.max() <= 25
    age = ages(person["birth_date"])
    assert 0.4 < (age < 18).mean() < 0.6 and 0.03 < (age >= 60).mean() < 0.09
    assert 0.03 < (person["disability"] == 1).mean() < 0.07
    sexes = person["sex"].value_counts()
    assert 0.45 < sexes["F"] / len(person) < 0.55 and 1 <= sexes.get("X", 0) <= 20
    score = household["pmt_score"].astype(float)
    assert 0.25 <= (score <= 32).sum() / len(score) <= 0.35
    assert 0.005 < score.isna().mean() < 0.08 and score.dropna().between(0, 100).all()
    phones = person["phone"].dropna()
    assert phones.str.fullmatch(r"03\d{2}-?\d{7}").all()
    surnames = person["last_name"].value_counts()
    assert surnames.index[0] == "Khan"
    assert person["first_name"].str.startswith("Muhammad ").any()
    heads = person[person["is_head"] == 1].set_index("household_id")["last_name"]
    same = person["last_name"] == person["household_id"].map(heads)
    assert same.mean() > 0.6


# --- geography -----------------------------------------------------------------------------------

def shapes(demo: Demo) -> pd.DataFrame:
    features = demo.geojson["features"]
    return pd.DataFrame({
        "area_id": [f["properties"]["area_id"] for f in features],
        "name": [f["properties"]["name"] for f in features],
        "level": [f["properties"]["level"] for f in features],
        "parent_id": [f["properties"]["parent_id"] for f in features],
        "geometry": [shapely.geometry.shape(f["geometry"]) for f in features],
    })


def assert_tiles(areas: pd.DataFrame, tolerance: float = 1e-12) -> None:
    """Children cover their parent and do not overlap (areas in square degrees)."""
    for parent_id, children in areas.dropna(subset=["parent_id"]).groupby("parent_id"):
        parent = areas.loc[areas["area_id"] == parent_id, "geometry"].iloc[0]
        union = shapely.union_all(children["geometry"].to_numpy())
        assert shapely.symmetric_difference(union, parent).area < tolerance, parent_id
        assert abs(sum(g.area for g in children["geometry"]) - parent.area) < tolerance, parent_id
    lowest = areas[areas["level"] == areas["level"].max()]["geometry"].to_numpy()
    tree = shapely.STRtree(lowest)
    left, right = tree.query(lowest, predicate="intersects")
    pairs = left < right
    overlaps = shapely.area(shapely.intersection(lowest[left[pairs]], lowest[right[pairs]]))
    assert (overlaps < tolerance).all()
    assert pairs.sum() > len(lowest)  # neighbours share borders


def test_geography_is_four_nested_levels_that_tile(demo: Demo):
    areas = shapes(demo)
    assert demo.geojson["type"] == "FeatureCollection"
    table = demo.tables["area"].set_index("area_id")
    assert set(areas["area_id"]) == set(table.index)
    assert areas["level"].value_counts().sort_index().tolist()[:3] == [1, 5, 15]
    assert 140 <= (areas["level"] == 4).sum() <= 160
    assert set(areas.loc[areas["level"] == 2, "name"]) == {
        "Peshawar", "Nowshera", "Charsadda", "Mardan", "Swabi"}
    assert pd.isna(table.loc["PK6", "parent_id"])
    assert all(table.loc[a, "level"] == table.loc[table.loc[a, "parent_id"], "level"] + 1
               for a in table.index if a != "PK6")
    assert areas["area_id"].str.fullmatch(r"PK6(\d\d){0,3}").all()
    assert_tiles(areas)
    bounds = shapely.union_all(areas["geometry"].to_numpy()).bounds
    assert 71.2 < bounds[0] and bounds[2] < 72.7 and 33.6 < bounds[1] and bounds[3] < 34.5
    coordinates = shapely.get_coordinates(areas["geometry"].to_numpy())
    assert np.allclose(coordinates, np.round(coordinates, 5), atol=0, rtol=0)


def test_populations_add_up_and_cover_the_registry(demo: Demo):
    area = demo.tables["area"].copy()
    area["population"] = area["population"].astype(int)
    children = area.dropna(subset=["parent_id"]).groupby("parent_id")["population"].sum()
    parents = area.set_index("area_id")["population"]
    assert (children == parents[children.index]).all()
    person = demo.tables["person"].merge(demo.tables["household"], on="household_id")
    per_area = person.groupby("area_id").size()
    ucs = per_area.index.intersection(parents.index)
    assert (per_area[ucs] <= parents[ucs]).all()


def test_places_lie_inside_their_union_council(demo: Demo):
    areas = shapes(demo).set_index("area_id")
    ucs = areas[areas["level"] == 4]
    points = demo.tables["access_point"]
    assert set(ucs.index) <= set(points["area_id"])
    assert points.groupby("area_id").size().between(1, 3).all()
    assert set(points["kind"]) == {"facilitation_centre", "one_window", "mobile_camp",
                                   "union_council_office"}
    household = demo.tables["household"]
    household = household[~household["household_id"].isin(demo.dirty_rows("household"))]
    for frame in (points, household):
        polygons = ucs.loc[frame["area_id"], "geometry"].to_numpy()
        inside = shapely.contains_xy(polygons, frame["longitude"].astype(float),
                                     frame["latitude"].astype(float))
        assert inside.all()


@pytest.mark.skipif(not SHARED_GEO.is_dir(),
                    reason=f"real boundary files not found in {SHARED_GEO}")
def test_real_district_boundaries(tmp_path: Path):
    boundary = SHARED_GEO / "kp_adm2_districts_osm.geojson"
    census = SHARED_GEO / "pak_district_population_census2023.csv"
    out = tmp_path / "kp.db"
    generate(Options(out=out, households=2000, seed=4, boundaries=boundary,
                     id_field="census2023_name", name_field="name", population_csv=census,
                     population_name_field="District", union_councils=200))
    demo = read_demo(out)
    areas = shapes(demo)
    assert (areas["level"] == 2).sum() == 35
    assert_tiles(areas, tolerance=1e-10)
    # Districts keep their real outlines (snapped to the 1e-5 degree grid).
    import geopandas as gpd

    real = gpd.read_file(boundary)
    outline = real.set_index("name")["geometry"]
    districts = areas[areas["level"] == 2].set_index("name")
    for name in ("Peshawar", "Swat", "Abbotabad"):
        difference = shapely.symmetric_difference(districts.loc[name, "geometry"],
                                                  outline[name]).area
        assert difference < 1e-4 * outline[name].area
    # Census populations are kept and households follow them.
    population = pd.read_csv(census).set_index("District")["Pop2023"]
    census_name = real.set_index("name")["census2023_name"]
    area = demo.tables["area"].set_index("area_id")
    names = area[area["level"] == 2]["name"]
    expected = names.map(census_name).map(population)
    assert (area.loc[names.index, "population"].astype(int) == expected.astype(int)).all()
    assert int(area.loc["PK6", "population"]) == int(population[census_name].sum())
    household = demo.tables["household"]
    district = household["area_id"].str[:5]
    share = district.value_counts().reindex(names.index, fill_value=0) / len(household)
    assert np.corrcoef(share, expected / expected.sum())[0, 1] > 0.95


def test_the_default_geography_is_kp_real_districts_shipped_with_the_project(tmp_path: Path):
    """`python -m demo` draws on KP's 35 districts (demo/geo/, OpenStreetMap) with their 2023
    census populations; tehsils and union councils tile them exactly."""
    import geopandas as gpd

    from demo.generator import KP_BOUNDARIES, KP_POPULATION

    out = tmp_path / "kp" / "registry.db"
    assert main(["--out", str(out), "--households", "1200", "--seed", "6"]) == 0
    demo = read_demo(out)
    areas = shapes(demo)
    counts = areas["level"].value_counts().sort_index()
    assert counts[1] == 1 and counts[2] == 35 and counts[4] == 350
    assert 35 * 3 >= counts[3] >= 35  # up to three tehsils a district
    assert_tiles(areas, tolerance=1e-10)
    real = gpd.read_file(KP_BOUNDARIES).set_index("name")
    districts = areas[areas["level"] == 2].set_index("name")
    assert set(districts.index) == set(real.index)
    for name in ("Peshawar", "Nowshera", "Upper Chitral"):
        outline = real.loc[name, "geometry"]
        moved = shapely.symmetric_difference(districts.loc[name, "geometry"], outline).area
        assert moved < 1e-4 * outline.area, name
    census = pd.read_csv(KP_POPULATION).set_index("District")["Pop2023"]
    area = demo.tables["area"].set_index("area_id")
    assert int(area.loc["PK6", "population"]) == int(census.sum()) == 40_856_097
    # Peshawar, the most populous district, has the most households and union councils.
    household = demo.tables["household"].merge(
        demo.tables["area"][["area_id", "parent_id"]], on="area_id")
    district_of = dict(zip(areas["area_id"], areas["parent_id"], strict=True))
    per_district = household["parent_id"].map(district_of).map(
        dict(zip(areas["area_id"], areas["name"], strict=True))).value_counts()
    assert per_district.index[0] == "Peshawar"
    ucs = areas[areas["level"] == 4]["parent_id"].map(district_of).map(
        dict(zip(areas["area_id"], areas["name"], strict=True))).value_counts()
    assert ucs.index[0] == "Peshawar"


def test_the_synthetic_province_stays_an_option(tmp_path: Path):
    out = tmp_path / "synthetic" / "registry.db"
    assert main(["--out", str(out), "--households", "300", "--seed", "6",
                 "--geography", "synthetic"]) == 0
    areas = shapes(read_demo(out))
    assert set(areas.loc[areas["level"] == 2, "name"]) == {
        "Peshawar", "Nowshera", "Charsadda", "Mardan", "Swabi"}
    assert (areas["level"] == 4).sum() == 150
    with pytest.raises(SystemExit):
        main(["--out", str(out), "--households", "10", "--seed", "1", "--geography", "kp",
              "--boundaries", "x.geojson", "--id-field", "a", "--name-field", "b"])


# --- command line --------------------------------------------------------------------------------

def test_command_line_writes_and_reports(tmp_path: Path, capsys):
    out = tmp_path / "cli" / "registry.db"
    assert main(["--out", str(out), "--households", "300", "--seed", "9",
                 "--dirty-share", "0.02", "--union-councils", "40",
                 "--end-date", "2026-06-30"]) == 0
    printed = capsys.readouterr().out
    assert "household" in printed and str(out) in printed and "registry.geojson" in printed
    demo = read_demo(out)
    assert (demo.tables["area"]["level"] == 4).sum() == 40
    assert demo.summary["end_date"] == "2026-06-30"
    with pytest.raises(SystemExit):
        main(["--out", str(out), "--households", "10", "--seed", "1", "--id-field", "x"])


def test_truth_summary_counts_match_the_files(demo: Demo):
    planted = demo.summary["planted"]
    assert planted["fuzzy_duplicate_pairs"] == len(demo.truth["fuzzy_duplicates"])
    assert planted["double_enrolment_pairs"] == len(demo.truth["double_enrolments"])
    assert planted["double_dipping_households"] == len(demo.truth["double_dipping"])
    dirty = demo.truth["dirty_rows"]
    assert sum(demo.summary["dirty_rows"].values()) == len(dirty)
    assert not dirty.duplicated(["table", "row_id"]).any()
    assert list(itertools.chain(demo.truth["fuzzy_duplicates"].columns)) == [
        "person_id_a", "person_id_b", "kind", "birth_date_change", "national_id_change",
        "placement"]
