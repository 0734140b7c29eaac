"""Benchmark: many users at once on one server, and memory over many distinct views.

    .venv/bin/python bench/bench_load.py [--households 20000] [--workdir DIR]
        [--sessions 5,10,20] [--memory-loads 200] [--database-url URL]

Starts ``streamlit run app.py`` on the demo registry (generated in the work folder unless
there; ``--database-url`` points the server at another copy, e.g. on PostgreSQL) and drives
it with raw websocket clients speaking Streamlit's own protocol (the BackMsg / ForwardMsg
protobufs the browser sends and receives), which cost almost nothing next to a browser:
on a 2-core machine, twenty Chromium tabs would take the cores from the server they
measure. A page load is one script run: from the rerun request until Streamlit says the
run finished. Browser drawing is not included (bench/bench_pages.py measures that).

- **Concurrent sessions**: for each count, a fresh server; every session connects at once,
  loads the Overview of a district, then that district's Committee meeting page, each
  session with an as-of date of its own (every figure a cache miss). Prints p50 / p95 per
  page, errors (an error message on the page, an exception, a busy-server warning, no
  finish within the timeout) and the server's peak resident memory (sampled every 0.2 s).
- **Memory**: ``--memory-loads`` Overview loads with distinct dates (4 sessions at a time)
  on one server; prints the resident memory every tenth of the way. Bounded caches
  (max_entries, ttl) make it level off.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import os
import platform
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

import websockets  # noqa: E402
from app_server import (  # noqa: E402
    AppServer,
    PageLoad,
    WebsocketSession,
    demo_settings,
    make_demo,
)

from data_access.areas import read_areas  # noqa: E402
from data_access.registry import open_registry  # noqa: E402
from indicators import default_as_of  # noqa: E402

RUN_TIMEOUT = 600.0
BUSY = "busy"  # the guarded() warning of a pool timeout


@dataclass
class Load:
    page: str
    seconds: float
    error: str | None = None


def problem(load: PageLoad) -> str | None:
    """What went wrong in a page load, as a user would see it (None: nothing)."""
    if load.not_found:
        return "page not found"
    if load.exceptions:
        return f"exception: {load.exceptions[0][:120]}"
    errors = load.texts("error") + [w for w in load.texts("warning") if BUSY in w]
    if errors:
        return errors[0][:160]
    if not load.finished:
        return "no finish in time"
    return None


@dataclass
class Session:
    """One websocket session: its page loads are reruns of its script."""

    url: str
    loads: list[Load] = field(default_factory=list)

    async def run_pages(self, pages: list[tuple[str, str]]) -> None:
        try:
            done = await WebsocketSession(self.url, RUN_TIMEOUT).loads(pages)
        except (OSError, websockets.WebSocketException) as exc:
            self.loads.append(Load("connect", 0.0, f"{type(exc).__name__}: {exc}"))
            return
        self.loads.extend(Load(d.page, d.seconds, problem(d)) for d in done)


class MemoryWatch:
    """The server's resident memory, sampled every 0.2 s on a thread."""

    def __init__(self, server: AppServer) -> None:
        self.server = server
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)

    def _watch(self) -> None:
        while not self._stop.is_set():
            try:
                self.peak = max(self.peak, self.server.rss_bytes())
            except OSError:
                return
            self._stop.wait(0.2)

    def __enter__(self) -> MemoryWatch:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    index = min(len(ordered) - 1, max(0, round(share * (len(ordered) - 1))))
    return ordered[index]


# analytics.source of the servers measured (--source): what users get by default.
SOURCE = {"value": "auto"}


def start_server(workdir: Path, tag: str, database_url: str | None) -> AppServer:
    store = workdir / f"bench_load_{tag}.db"
    store.unlink(missing_ok=True)
    settings = (demo_settings(workdir, database_url, source=SOURCE["value"])
                | {"SOCLE_APP_STORE_URL": f"sqlite:///{store}"})
    return AppServer(settings, workdir / f"bench_load_{tag}.log").start()


def warm_up(server: AppServer, district: str, day: dt.date) -> None:
    """One session first: the process imports, reads areas and boundaries (not measured)."""
    session = Session(server.url)
    asyncio.run(session.run_pages([("", f"level=2&area={district}&as_of={day}")]))


def concurrent(workdir: Path, count: int, district: str, latest: dt.date, offset: int,
               database_url: str | None) -> dict:
    server = start_server(workdir, f"{count}", database_url)
    try:
        warm_up(server, district, latest)
        sessions = [Session(server.url) for _ in range(count)]

        async def everyone() -> None:
            await asyncio.gather(*(
                s.run_pages([(page, f"level=2&area={district}&as_of="
                                    f"{latest - dt.timedelta(days=offset + i + 1)}")
                             for page in ("", "meeting")])
                for i, s in enumerate(sessions)))

        with MemoryWatch(server) as memory:
            started = time.perf_counter()
            asyncio.run(everyone())
            wall = time.perf_counter() - started
        loads = [load for s in sessions for load in s.loads]
        alive = server.alive()
    finally:
        server.stop()
    result = {"sessions": count, "wall": wall, "peak": memory.peak, "alive": alive,
              "errors": [f"{load.page or 'overview'}: {load.error}" for load in loads
                         if load.error]}
    for page, name in (("", "overview"), ("meeting", "meeting")):
        times = [load.seconds for load in loads if load.page == page and not load.error]
        result[name] = (percentile(times, 0.5), percentile(times, 0.95), len(times))
    return result


def memory_curve(workdir: Path, loads: int, district: str, latest: dt.date,
                 database_url: str | None, parallel: int = 4) -> list[tuple[int, int]]:
    server = start_server(workdir, "memory", database_url)
    curve = [(0, 0)]
    try:
        warm_up(server, district, latest)
        curve = [(0, server.rss_bytes())]
        step = max(loads // 10, parallel)
        done = 0
        while done < loads:
            batch = min(step, loads - done)
            sessions = [Session(server.url) for _ in range(parallel)]
            days = [latest - dt.timedelta(days=1000 + done + i) for i in range(batch)]

            async def run_batch(sessions=sessions, days=days) -> None:
                await asyncio.gather(*(
                    s.run_pages([("", f"level=2&as_of={day}") for day in days[k::parallel]])
                    for k, s in enumerate(sessions)))

            asyncio.run(run_batch())
            errors = [load.error for s in sessions for load in s.loads if load.error]
            done += batch
            curve.append((done, server.rss_bytes()))
            print(f"  {done} loads: {curve[-1][1] / 2**20:.0f} MiB"
                  + (f" ({len(errors)} errors: {errors[0]})" if errors else ""), flush=True)
    finally:
        server.stop()
    return curve


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--households", type=int, default=20_000)
    parser.add_argument("--workdir", type=Path)
    parser.add_argument("--sessions", default="5,10,20")
    parser.add_argument("--memory-loads", type=int, default=200)
    parser.add_argument("--database-url", help="the registry the server reads (default: the "
                        "demo's SQLite file)")
    parser.add_argument("--source", default="auto", choices=("auto", "copy", "live"),
                        help="analytics.source of the server (auto: the analytical copy for "
                        "SQLite and PostgreSQL registries)")
    args = parser.parse_args(argv)
    SOURCE["value"] = args.source
    counts = [int(part) for part in args.sessions.split(",") if part.strip()]
    before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="socle_bench_load_") as scratch:
        workdir = args.workdir or Path(scratch)
        if not (workdir / "registry.db").exists():
            print(f"generating the demo ({args.households:,} households) in {workdir}",
                  flush=True)
            make_demo(workdir, households=args.households, seed=1)
        engine = open_registry(args.database_url or f"sqlite:///{workdir / 'registry.db'}")
        latest = default_as_of(engine)
        areas = read_areas(engine)
        engine.dispose()
        district = str(areas.loc[areas["level"] == 2, "area_id"].iloc[0])

        results = []
        offset = 0
        for count in counts:
            print(f"{count} sessions at once…", flush=True)
            result = concurrent(workdir, count, district, latest, offset, args.database_url)
            offset += count
            results.append(result)
            print(f"  overview p50 {result['overview'][0]:.1f} s, p95 {result['overview'][1]:.1f}"
                  f" s; meeting p50 {result['meeting'][0]:.1f} s, p95 {result['meeting'][1]:.1f}"
                  f" s; {len(result['errors'])} errors; peak {result['peak'] / 2**20:.0f} MiB; "
                  f"all done in {result['wall']:.1f} s", flush=True)
            for error in result["errors"][:5]:
                print(f"    {error}", flush=True)
        curve = []
        if args.memory_loads:
            print(f"memory over {args.memory_loads} Overview loads with distinct dates…",
                  flush=True)
            curve = memory_curve(workdir, args.memory_loads, district, latest,
                                 args.database_url)

    backend = "PostgreSQL" if args.database_url else "SQLite"
    print(f"\n{platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"{platform.python_version()}; load average {before:.1f} before, "
          f"{os.getloadavg()[0]:.1f} after; demo of {args.households:,} households on "
          f"{backend}; websocket sessions; seconds from the request to the end of the "
          f"script run\n")
    print("| sessions | Overview p50 / p95 | Meeting p50 / p95 | errors | all done | "
          "peak memory |")
    print("|---:|---:|---:|---:|---:|---:|")
    for r in results:
        print(f"| {r['sessions']} | {r['overview'][0]:.1f} / {r['overview'][1]:.1f} | "
              f"{r['meeting'][0]:.1f} / {r['meeting'][1]:.1f} | {len(r['errors'])} | "
              f"{r['wall']:.0f} s | {r['peak'] / 2**20:.0f} MiB |")
    if curve:
        print("\n| loads | " + " | ".join(str(n) for n, _ in curve) + " |")
        print("|---|" + "---:|" * len(curve))
        print("| resident memory (MiB) | "
              + " | ".join(f"{rss / 2**20:.0f}" for _, rss in curve) + " |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
