"""Benchmark: map payload sizes and build times, for the demo's union councils and a
synthetic level of 5,000 polygons.

    .venv/bin/python bench/bench_maps.py [--workdir DIR] [--polygons 5000] [--households 20000]

"Payload" is what Streamlit sends to the browser for the map: the deck's JSON plus its tooltip
(``maps.layers.deck_payload_bytes``). "Layer build" is ``maps.coverage.build_coverage_map``
(classes, colours, features, deck) from boundaries and figures already loaded; "boundaries"
is reading, repairing and simplifying the file (cold: no cache), then reading the cache.
Prints one line per measurement and a Markdown table for the README.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import geopandas as gpd  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import shapely  # noqa: E402

from core.settings import load_settings  # noqa: E402
from data_access.areas import read_areas  # noqa: E402
from data_access.reference import read_access_points  # noqa: E402
from data_access.registry import open_registry  # noqa: E402
from indicators import BY_ID, compute, default_as_of, default_period_start  # noqa: E402
from maps import coverage, layers  # noqa: E402
from maps.boundaries import load_boundaries  # noqa: E402

REPEATS = 5


def timed(func, *args, repeats: int = 1, **kwargs):
    """(result, median seconds) over ``repeats`` runs."""
    times, result = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        result = func(*args, **kwargs)
        times.append(time.perf_counter() - start)
    return result, statistics.median(times)


def settings_for(workdir: Path, boundary_file: Path, registry: Path):
    env = {
        "SOCLE_DATABASE_URL": f"sqlite:///{registry}",
        "SOCLE_APP_STORE_URL": f"sqlite:///{workdir / 'app_store.db'}",
        "SOCLE_GEOGRAPHY_BOUNDARY_FILE": str(boundary_file),
    }
    return load_settings(ROOT / "config.toml", env=env)


def synthetic_level(count: int, seed: int = 1) -> gpd.GeoDataFrame:
    """``count`` polygons tiling a KP-sized box: Voronoi cells with wiggly, shared borders.

    Borders get a vertex every ~0.5 km and a smooth deterministic wiggle (a function of the
    position, so neighbours keep sharing their border), like digitised boundaries.
    """
    rng = np.random.default_rng(seed)
    box = shapely.box(69.5, 31.0, 74.5, 36.5)
    points = shapely.multipoints(np.column_stack([rng.uniform(69.5, 74.5, count),
                                                  rng.uniform(31.0, 36.5, count)]))
    cells = shapely.get_parts(shapely.voronoi_polygons(points, extend_to=box))
    cells = shapely.intersection(cells, box)
    cells = shapely.segmentize(cells, 0.005)

    def wiggle(xy: np.ndarray) -> np.ndarray:
        x, y = xy[:, 0], xy[:, 1]
        return np.column_stack([x + 0.002 * np.sin(y * 700), y + 0.002 * np.cos(x * 700)])

    cells = shapely.make_valid(shapely.transform(cells, wiggle))
    ids = [f"S{i:05d}" for i in range(len(cells))]
    return gpd.GeoDataFrame({"area_id": ids, "name": [f"Area {i}" for i in range(len(cells))],
                             "level": 4, "geometry": cells}, crs="EPSG:4326")


def measure_demo(workdir: Path, households: int, rows: list[tuple[str, str]]) -> None:
    registry = workdir / "registry.db"
    if not registry.exists():
        subprocess.run([sys.executable, "-m", "demo", "--out", str(registry),
                        "--households", str(households), "--seed", "1",
                        "--geography", "synthetic"],  # the README's figures: 150 UCs
                       cwd=ROOT, check=True)
    boundary_file = workdir / "registry.geojson"
    settings = settings_for(workdir, boundary_file, registry)
    cache = workdir / "cache-demo"
    for old in cache.glob("*"):
        old.unlink()
    _, cold = timed(load_boundaries, settings, cache_dir=cache)
    boundary_set, warm = timed(load_boundaries, settings, cache_dir=cache, repeats=REPEATS)
    engine = open_registry(settings.database_url)
    areas = read_areas(engine)
    points = read_access_points(engine)
    as_of = default_as_of(engine, today=dt.date.today())
    indicator = BY_ID["cov.poor_households"]
    ids = [indicator.id, "ref.made", "ref.overdue"]
    figures, seconds = timed(compute, engine, as_of=as_of, level=4,
                             period_start=default_period_start(as_of, 3), indicator_ids=ids)
    whole = compute(engine, as_of=as_of, level=1, period_start=default_period_start(as_of, 3),
                    indicator_ids=ids)
    engine.dispose()
    ucs = int((areas["level"] == 4).sum())
    print(f"demo: {ucs} union councils; boundaries cold {cold:.2f} s, cached {warm:.3f} s; "
          f"figures at level 4 {seconds:.2f} s", flush=True)
    in_focus = coverage.access_points_in_focus(
        points, coverage.access_point_referrals(whole, None), areas, None)
    for with_points in (False, True):
        built, build = timed(
            coverage.build_coverage_map, boundary_set.frame, areas, figures,
            indicator=indicator, programme_id=None, area_id=None, level=4, method="quantiles",
            classes=5, access_points=in_focus if with_points else None, repeats=REPEATS)
        size = layers.deck_payload_bytes(built.deck)
        label = f"demo union councils ({built.feature_count} polygons"
        label += f" + {len(in_focus)} access points)" if with_points else ")"
        print(f"{label}: payload {size:,} bytes, layer build {build:.3f} s", flush=True)
        rows.append((label, f"{size:,} | {build:.2f} | {cold:.2f} / {warm:.3f}"))


def measure_synthetic(workdir: Path, count: int, rows: list[tuple[str, str]]) -> None:
    frame = synthetic_level(count)
    path = workdir / f"synthetic_{count}.geojson"
    frame.to_file(path, driver="GeoJSON")
    raw_vertices = int(shapely.get_num_coordinates(frame.geometry.values).sum())
    settings = settings_for(workdir, path, workdir / "registry.db")
    cache = workdir / "cache-synthetic"
    for old in cache.glob("*"):
        old.unlink()
    _, cold = timed(load_boundaries, settings, cache_dir=cache)
    boundary_set, warm = timed(load_boundaries, settings, cache_dir=cache, repeats=REPEATS)
    simplified = boundary_set.frame
    vertices = int(shapely.get_num_coordinates(simplified.geometry.values).sum())
    rng = np.random.default_rng(2)
    areas = pd.DataFrame({"area_id": simplified["area_id"], "name": simplified["name"],
                          "level": 4, "parent_id": None})
    denominators = rng.integers(20, 400, len(areas))
    numerators = (denominators * rng.uniform(0.2, 1.0, len(areas))).astype(int)
    figures = pd.DataFrame({
        "indicator_id": "cov.poor_households", "area_id": areas["area_id"], "programme_id": None,
        "breakdown": None, "numerator": numerators, "denominator": denominators,
        "value": numerators / denominators,
    })
    figures.loc[figures.index[::50], ["numerator", "denominator", "value"]] = None  # no data
    built, build = timed(
        coverage.build_coverage_map, simplified, areas, figures,
        indicator=BY_ID["cov.poor_households"], programme_id=None, area_id=None, level=4,
        method="quantiles", classes=5, repeats=REPEATS)
    size = layers.deck_payload_bytes(built.deck)
    label = f"synthetic level ({built.feature_count:,} polygons)"
    print(f"{label}: {raw_vertices:,} vertices in the file, {vertices:,} after simplification; "
          f"payload {size:,} bytes, layer build {build:.3f} s; boundaries cold {cold:.2f} s, "
          f"cached {warm:.3f} s", flush=True)
    rows.append((label, f"{size:,} | {build:.2f} | {cold:.2f} / {warm:.3f}"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument("--polygons", type=int, default=5000)
    parser.add_argument("--households", type=int, default=20_000)
    args = parser.parse_args()
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="socle-bench-maps-"))
    workdir.mkdir(parents=True, exist_ok=True)
    os.environ.pop("SOCLE_CONFIG", None)
    rows: list[tuple[str, str]] = []
    measure_demo(workdir, args.households, rows)
    measure_synthetic(workdir, args.polygons, rows)
    print(f"\nMachine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores; "
          f"median of {REPEATS} runs for the layer build and the cached read\n")
    print("| level | payload (bytes) | layer build (s) | boundaries: cold / cached (s) |")
    print("|---|---:|---:|---:|")
    for label, figures in rows:
        print(f"| {label} | {figures} |")


if __name__ == "__main__":
    main()
