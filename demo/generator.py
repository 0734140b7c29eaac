"""Generate a demo registry: Khyber Pakhtunkhwa's real districts (or a synthetic province, or
any district boundary file) with households, persons, programmes, enrolments and
referrals, planted problems and their ground truth.

    python -m demo --out data/registry.db --households 20000 --seed 1

writes data/registry.db (SQLite, the registry contract), data/registry.geojson (every area
of every level) and data/registry.truth/ (what was planted, as CSV, and summary.json).
The same seed and arguments give byte-identical files; nothing depends on today's date.

Geography (``--geography``): ``kp`` (the default) is KP's 35 districts as OpenStreetMap
draws them, with their 2023 census populations (demo/geo/, see its README for sources and
licences), cut into generated tehsils and union councils; ``synthetic`` is five
Peshawar-valley districts in a synthetic province; ``--boundaries FILE`` takes any district
boundary file. In Python, ``Options`` without ``boundaries`` is the synthetic province and
``kp_options`` the KP one.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import shutil
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from demo.common import age_on, day_number, rng_for
from demo.geography import (
    LEVEL_DISTRICT,
    LEVEL_TEHSIL,
    Geography,
    fill_population_from_registry,
    geography_from_boundaries,
    geojson_text,
    nearest_open_access_point,
    place_access_points,
    place_households,
    place_villages,
    registration_window_start,
    synthetic_geography,
)
from demo.people import (
    assign_national_ids,
    assign_pmt_scores,
    generate_households,
    generate_persons,
    load_name_tables,
)
from demo.planted import (
    DIRTY_RULES,
    DirtContext,
    plant_dirty_rows,
    plant_double_dipping,
    plant_double_enrolments,
    plant_fuzzy_duplicates,
    plant_shared_ids,
)
from demo.programmes import PROGRAMMES, generate_enrolments, generate_referrals
from demo.tables import (
    Materialised,
    Model,
    materialise,
    row_counts,
    temporary_beside,
    write_sqlite,
)

DEFAULT_END_DATE = dt.date(2026, 10, 31)
GEO = Path(__file__).resolve().parent / "geo"
# The demo's default geography: KP's districts (OpenStreetMap, ODbL) and their 2023 census
# populations (PBS); demo/geo/README.md says where they come from.
KP_BOUNDARIES = GEO / "kp_adm2_districts_osm.geojson"
KP_POPULATION = GEO / "kp_district_population_census2023.csv"
GEOGRAPHIES = ("kp", "synthetic")
# Union councils in all when --union-councils is not given: KP's 35 districts need more than
# the five synthetic ones for a few per tehsil (Peshawar, a ninth of KP, gets about 40).
DEFAULT_UNION_COUNCILS = {"kp": 350, "synthetic": 150}


@dataclass(frozen=True)
class Options:
    out: Path
    households: int
    seed: int
    dirty_share: float = 0.01
    end_date: dt.date = DEFAULT_END_DATE
    union_councils: int = 150
    boundaries: Path | None = None
    id_field: str | None = None
    name_field: str | None = None
    population_csv: Path | None = None
    population_name_field: str | None = None
    population_field: str = "Pop2023"


def kp_options(out: Path, households: int, seed: int, **more) -> Options:
    """Options of a demo on KP's real districts with their census populations."""
    more.setdefault("union_councils", DEFAULT_UNION_COUNCILS["kp"])
    return Options(out=out, households=households, seed=seed, boundaries=KP_BOUNDARIES,
                   id_field="census2023_name", name_field="name", population_csv=KP_POPULATION,
                   population_name_field="District", **more)


@dataclass
class Planted:
    """Ground truth in model indices, turned into ids once the tables exist."""

    fuzzy: pd.DataFrame
    shared: pd.DataFrame
    double_enrolment: pd.DataFrame
    double_dipping: pd.DataFrame


@dataclass
class Result:
    database: Path
    geojson: Path
    truth: Path
    rows: dict[str, int]
    truth_counts: dict[str, int]
    seconds: float
    steps: dict[str, float] = field(default_factory=dict)


def output_paths(database: Path) -> tuple[Path, Path]:
    """The GeoJSON and truth folder beside the database: same stem."""
    return database.with_suffix(".geojson"), database.with_name(f"{database.stem}.truth")


# --- building the model -----------------------------------------------------------------------

def build_geography(options: Options) -> Geography:
    rng = rng_for(options.seed, "geography")
    if options.boundaries is None:
        return synthetic_geography(options.union_councils, rng)
    if not options.id_field or not options.name_field:
        raise ValueError("--boundaries needs --id-field and --name-field")
    return geography_from_boundaries(
        options.boundaries, options.id_field, options.name_field, options.union_councils, rng,
        population_csv=options.population_csv,
        population_name_field=options.population_name_field,
        population_field=options.population_field)


def build_model(options: Options, steps: dict[str, float]) -> tuple[Model, Planted]:
    seed, end_day = options.seed, day_number(options.end_date)
    clock = time.perf_counter()

    def lap(name: str) -> None:
        nonlocal clock
        now = time.perf_counter()
        steps[name] = now - clock
        clock = now

    geography = build_geography(options)
    lap("geography")
    start_day = registration_window_start(end_day)
    households = generate_households(geography, options.households, start_day, end_day,
                                     rng_for(seed, "households"))
    persons = generate_persons(households, load_name_tables(), end_day, rng_for(seed, "persons"))
    assign_national_ids(persons, households, geography, end_day, rng_for(seed, "national_ids"))
    lap("persons")
    fuzzy = plant_fuzzy_duplicates(persons, households, geography, end_day, rng_for(seed, "fuzzy"))
    reserved = np.zeros(len(persons), dtype=bool)
    reserved[fuzzy["person_a"]] = reserved[fuzzy["person_b"]] = True
    shared = plant_shared_ids(persons, households, geography, end_day, reserved,
                              rng_for(seed, "shared_ids"))
    assign_pmt_scores(households, persons, geography, end_day, rng_for(seed, "pmt"))
    lap("duplicates")
    places = rng_for(seed, "places")
    villages = place_villages(geography, places)
    access_points = place_access_points(geography, villages, start_day, end_day, places)
    households.lon, households.lat = place_households(geography, villages, households.area, places)
    households.access_point = nearest_open_access_point(
        access_points, households.area, households.lon, households.lat,
        households.registered_on, places)
    persons_per_area = np.bincount(households.area[persons.household],
                                   minlength=len(geography.level))
    fill_population_from_registry(geography, persons_per_area[geography.ucs],
                                  rng_for(seed, "population"))
    lap("places")
    enrolments = generate_enrolments(households, persons, end_day, rng_for(seed, "enrolments"))
    double_enrolment = plant_double_enrolments(enrolments, end_day,
                                               rng_for(seed, "double_enrolment"))
    double_dipping = plant_double_dipping(enrolments, households, end_day,
                                          rng_for(seed, "double_dipping"))
    referrals = generate_referrals(households, persons, enrolments, access_points, end_day,
                                   rng_for(seed, "referrals"))
    lap("enrolments")
    model = Model(end_day, geography, access_points, households, persons, enrolments, referrals)
    return model, Planted(fuzzy, shared, double_enrolment, double_dipping)


# --- dirty rows and truth ---------------------------------------------------------------------

def ancestor_codes(geography: Geography, level: int) -> dict[str, str]:
    """Each union council's code -> its ancestor's code at ``level``."""
    ucs = geography.ucs
    ancestors = geography.area_id[geography.ancestor(ucs, level)]
    return dict(zip(geography.area_id[ucs], ancestors, strict=True))


def dirt_context(model: Model, planted: Planted, done: Materialised) -> DirtContext:
    """Which rows other planted problems use (left clean), and lookups the rules need."""
    households, persons, enrolments = model.households, model.persons, model.enrolments
    geography = model.geography
    person_reserved = np.zeros(len(persons), dtype=bool)
    for column in ("person_a", "person_b"):
        person_reserved[planted.fuzzy[column].to_numpy(np.int64)] = True
    person_reserved[planted.shared["person"].to_numpy(np.int64)] = True
    enrolment_reserved = np.zeros(len(enrolments), dtype=bool)
    for frame in (planted.double_enrolment, planted.double_dipping):
        for column in ("enrolment_a", "enrolment_b"):
            enrolment_reserved[frame[column].to_numpy(np.int64)] = True
    # A planted enrolment's person and household stay clean, or the indicators would leave
    # the enrolment out and miss what the truth lists.
    enrolled_persons = enrolments.person[enrolment_reserved]
    person_reserved[enrolled_persons[enrolled_persons >= 0]] = True
    unit_household = enrolments.household_of(persons)
    household_reserved = np.zeros(len(households), dtype=bool)
    household_reserved[persons.household[person_reserved]] = True
    household_reserved[unit_household[enrolment_reserved]] = True

    head = np.full(len(households), -1, dtype=np.int64)
    head[persons.household[persons.is_head]] = np.flatnonzero(persons.is_head)
    programme_unit = np.array([p.unit for p in PROGRAMMES], dtype=object)
    e = done.enrolment.order
    return DirtContext(
        household_reserved=household_reserved[done.household.order],
        person_reserved=person_reserved[done.person.order],
        person_adult=(age_on(persons.birth_on, model.end_day) >= 18)[done.person.order],
        enrolment_reserved=enrolment_reserved[e],
        enrolment_unit=programme_unit[enrolments.programme[e]],
        enrolment_household_id=done.household.ids[unit_household[e]],
        enrolment_head_id=done.person.of(head[unit_household[e]]),
        area_ids=set(geography.area_id.tolist()),
        tehsil_of_area=ancestor_codes(geography, LEVEL_TEHSIL),
        district_of_area=ancestor_codes(geography, LEVEL_DISTRICT),
    )


PROGRAMME_IDS = np.array([p.programme_id for p in PROGRAMMES], dtype=object)


def fuzzy_truth(planted: Planted, done: Materialised) -> pd.DataFrame:
    fuzzy = planted.fuzzy
    return pd.DataFrame({
        "person_id_a": done.person.ids[fuzzy["person_a"].to_numpy(np.int64)],
        "person_id_b": done.person.ids[fuzzy["person_b"].to_numpy(np.int64)],
        "kind": fuzzy["kind"], "birth_date_change": fuzzy["birth_date_change"],
        "national_id_change": fuzzy["national_id_change"], "placement": fuzzy["placement"],
    })


def shared_id_truth(model: Model, planted: Planted, done: Materialised) -> pd.DataFrame:
    """Every group of persons sharing a national id: the planted shares, and the
    re-registrations that kept their original's id."""
    persons, geography = model.persons, model.geography
    same_id = planted.fuzzy[planted.fuzzy["national_id_change"] == "same"]
    first_group = int(planted.shared["group"].max()) + 1 if len(planted.shared) else 0
    kept = pd.DataFrame({
        "group": np.repeat(np.arange(first_group, first_group + len(same_id)), 2),
        "person": np.column_stack([same_id["person_a"], same_id["person_b"]]).ravel(),
        "planted_as": np.tile(["fuzzy_original", "fuzzy_duplicate"], len(same_id)),
    })
    groups = pd.concat([planted.shared[["group", "person", "planted_as"]], kept],
                       ignore_index=True)
    members = groups["person"].to_numpy(np.int64)
    household = persons.household[members]
    district = geography.ancestor(model.households.area[household], LEVEL_DISTRICT)
    return pd.DataFrame({
        "group": groups["group"].to_numpy(np.int64),
        "national_id": persons.national_id[members],
        "person_id": done.person.ids[members],
        "household_id": done.household.ids[household],
        "district_id": geography.area_id[district],
        "planted_as": groups["planted_as"],
    })


def double_enrolment_truth(model: Model, planted: Planted, done: Materialised) -> pd.DataFrame:
    enrolments = model.enrolments
    a = planted.double_enrolment["enrolment_a"].to_numpy(np.int64)
    b = planted.double_enrolment["enrolment_b"].to_numpy(np.int64)
    return pd.DataFrame({
        "enrolment_id_a": done.enrolment.ids[a],
        "enrolment_id_b": done.enrolment.ids[b],
        "programme_id": PROGRAMME_IDS[enrolments.programme[a]],
        "household_id": done.household.of(enrolments.household[a]),
        "person_id": done.person.of(enrolments.person[a]),
    })


def double_dipping_truth(model: Model, planted: Planted, done: Materialised) -> pd.DataFrame:
    dipping, programme = planted.double_dipping, model.enrolments.programme
    a = dipping["enrolment_a"].to_numpy(np.int64)
    b = dipping["enrolment_b"].to_numpy(np.int64)
    return pd.DataFrame({
        "household_id": done.household.ids[dipping["household"].to_numpy(np.int64)],
        "exclusive_group": dipping["exclusive_group"].to_numpy(object),
        "enrolment_id_a": done.enrolment.ids[a],
        "programme_id_a": PROGRAMME_IDS[programme[a]],
        "enrolment_id_b": done.enrolment.ids[b],
        "programme_id_b": PROGRAMME_IDS[programme[b]],
    })


def dirty_truth(model: Model, planted: Planted, done: Materialised, dirty: pd.DataFrame
                ) -> pd.DataFrame:
    """The planted dirty rows, plus the re-registrations of adults recorded without an id
    (they break the adults-without-id rule too), in rule order."""
    persons = model.persons
    b = planted.fuzzy["person_b"].to_numpy(np.int64)
    adult = age_on(persons.birth_on[b], model.end_day) >= 18
    idless = np.array([v is None for v in persons.national_id[b]], dtype=bool)
    extra = pd.DataFrame({"table": "person", "row_id": done.person.ids[b[adult & idless]],
                          "rule": "adult_without_id"})
    rows = pd.concat([dirty, extra], ignore_index=True)
    rank = {(table, rule): i for i, (table, rule) in enumerate(
        (table, rule) for table, rules in DIRTY_RULES.items() for rule in rules)}
    rows["rank"] = [rank[key] for key in zip(rows["table"], rows["rule"], strict=True)]
    rows = rows.sort_values(["rank", "row_id"], kind="stable").drop(columns="rank")
    return rows.reset_index(drop=True)


def truth_tables(model: Model, planted: Planted, done: Materialised, dirty: pd.DataFrame
                 ) -> dict[str, pd.DataFrame]:
    """The ground-truth CSV files, keyed by file name, with registry ids."""
    return {
        "fuzzy_duplicates.csv": fuzzy_truth(planted, done),
        "shared_national_ids.csv": shared_id_truth(model, planted, done),
        "double_enrolments.csv": double_enrolment_truth(model, planted, done),
        "double_dipping.csv": double_dipping_truth(model, planted, done),
        "dirty_rows.csv": dirty_truth(model, planted, done, dirty),
    }


def truth_summary(options: Options, rows: dict[str, int], truth: dict[str, pd.DataFrame]
                  ) -> dict:
    dirty = truth["dirty_rows.csv"]
    shared = truth["shared_national_ids.csv"]
    return {
        "seed": options.seed,
        "end_date": options.end_date.isoformat(),
        "households_requested": options.households,
        "dirty_share": options.dirty_share,
        "rows": rows,
        "planted": {
            "fuzzy_duplicate_pairs": len(truth["fuzzy_duplicates.csv"]),
            "shared_national_id_groups": int(shared["group"].nunique()),
            "shared_national_id_persons": len(shared),
            "double_enrolment_pairs": len(truth["double_enrolments.csv"]),
            "double_dipping_households": len(truth["double_dipping.csv"]),
        },
        "dirty_rows": {
            f"{table}.{rule}": int(((dirty["table"] == table) & (dirty["rule"] == rule)).sum())
            for table, rules in DIRTY_RULES.items() for rule in rules
        },
    }


# --- writing ----------------------------------------------------------------------------------

def write_truth(folder: Path, truth: dict[str, pd.DataFrame], summary: dict) -> None:
    folder.mkdir(parents=True)
    for name, frame in truth.items():
        frame.to_csv(folder / name, index=False, lineterminator="\n")
    (folder / "summary.json").write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")


def replace_path(temporary: Path, final: Path) -> None:
    if final.is_dir():
        shutil.rmtree(final)
    temporary.replace(final)


def generate(options: Options) -> Result:
    """Build the registry and write the database, the GeoJSON and the truth folder."""
    started = time.perf_counter()
    if options.households < 1:
        raise ValueError("--households must be at least 1")
    if not 0 <= options.dirty_share < 0.2:
        raise ValueError("--dirty-share must be between 0 and 0.2")
    steps: dict[str, float] = {}
    model, planted = build_model(options, steps)
    clock = time.perf_counter()
    done = materialise(model)
    dirty = plant_dirty_rows(done.tables, dirt_context(model, planted, done),
                             options.dirty_share, rng_for(options.seed, "dirty"))
    truth = truth_tables(model, planted, done, dirty)
    rows = row_counts(done.tables)
    summary = truth_summary(options, rows, truth)
    steps["tables"] = time.perf_counter() - clock

    clock = time.perf_counter()
    database = options.out
    geojson, truth_folder = output_paths(database)
    database.parent.mkdir(parents=True, exist_ok=True)
    temporary = {path: temporary_beside(path) for path in (database, geojson, truth_folder)}
    try:
        for path in temporary.values():
            if path.is_dir():
                shutil.rmtree(path)
        temporary[geojson].write_text(geojson_text(model.geography), encoding="utf-8")
        write_truth(temporary[truth_folder], truth, summary)
        write_sqlite(temporary[database], done.tables)
        # The database goes into place last: a registry on disk always has its companions.
        replace_path(temporary[geojson], geojson)
        replace_path(temporary[truth_folder], truth_folder)
        replace_path(temporary[database], database)
    finally:
        for path in temporary.values():
            if path.is_dir():
                shutil.rmtree(path)
            elif path.exists():
                path.unlink()
    steps["write"] = time.perf_counter() - clock
    truth_counts = {**summary["planted"], "dirty_rows": len(truth["dirty_rows.csv"])}
    return Result(database, geojson, truth_folder, rows, truth_counts,
                  time.perf_counter() - started, steps)


# --- command line -----------------------------------------------------------------------------

def parse_args(argv: list[str] | None = None) -> Options:
    parser = argparse.ArgumentParser(
        prog="python -m demo",
        description="Generate a deterministic demo registry with planted problems and their truth.")
    parser.add_argument("--out", type=Path, required=True, help="the SQLite file to write")
    parser.add_argument("--households", type=int, required=True)
    parser.add_argument("--seed", type=int, required=True)
    parser.add_argument("--dirty-share", type=float, default=0.01,
                        help="share of each table's rows that break a contract rule (0.01)")
    parser.add_argument("--end-date", type=dt.date.fromisoformat, default=DEFAULT_END_DATE,
                        help="the registry's last day, YYYY-MM-DD (2026-10-31)")
    parser.add_argument("--union-councils", type=int,
                        help="how many union councils in all (350 on KP's districts, 150 "
                             "otherwise)")
    parser.add_argument("--geography", choices=GEOGRAPHIES,
                        help="kp: Khyber Pakhtunkhwa's 35 real districts with their 2023 "
                             "census populations (the default); synthetic: five "
                             "Peshawar-valley districts in a synthetic province")
    parser.add_argument("--boundaries", type=Path,
                        help="district boundary file: each feature becomes a district "
                             "(instead of --geography)")
    parser.add_argument("--id-field", help="boundary field identifying a district")
    parser.add_argument("--name-field", help="boundary field naming a district")
    parser.add_argument("--population-csv", type=Path,
                        help="district populations; households follow them")
    parser.add_argument("--population-name-field",
                        help="population CSV column matching --id-field (default: --id-field)")
    parser.add_argument("--population-field", default="Pop2023",
                        help="population CSV column with the population (Pop2023)")
    args = parser.parse_args(argv)
    if args.boundaries is None and (args.id_field or args.name_field or args.population_csv):
        parser.error("--id-field, --name-field and --population-csv go with --boundaries")
    if args.boundaries is not None and not (args.id_field and args.name_field):
        parser.error("--boundaries needs --id-field and --name-field")
    if args.boundaries is not None and args.geography is not None:
        parser.error("--geography and --boundaries exclude each other: --boundaries brings "
                     "its own districts")
    kp = args.boundaries is None and args.geography in (None, "kp")
    union_councils = args.union_councils
    if union_councils is None:
        union_councils = DEFAULT_UNION_COUNCILS["kp" if kp else "synthetic"]
    common = dict(out=args.out, households=args.households, seed=args.seed,
                  dirty_share=args.dirty_share, end_date=args.end_date,
                  union_councils=union_councils)
    if kp:
        return kp_options(**common)
    return Options(
        **common,
        boundaries=args.boundaries, id_field=args.id_field, name_field=args.name_field,
        population_csv=args.population_csv, population_name_field=args.population_name_field,
        population_field=args.population_field)


def print_summary(result: Result) -> None:
    width = max(len(name) for name in result.rows)
    print("Rows written:")
    for name, count in result.rows.items():
        print(f"  {name:<{width}}  {count:>12,}")
    print("Planted:")
    for name, count in result.truth_counts.items():
        print(f"  {name:<28}  {count:>9,}")
    steps = ", ".join(f"{name} {seconds:.1f}s" for name, seconds in result.steps.items())
    print(f"Done in {result.seconds:.1f} s ({steps})")
    print(f"  registry  {result.database}")
    print(f"  areas     {result.geojson}")
    print(f"  truth     {result.truth}/")


def main(argv: list[str] | None = None) -> int:
    options = parse_args(argv)
    try:
        result = generate(options)
    except (ValueError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print_summary(result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
