"""Many threads computing on one registry engine while they are interrupted (a helper process).

    python tests/registry_stress.py URL [--threads 12] [--seconds 12]

Run by tests/test_server_survives.py in a process of its own: on the old engine (SQLAlchemy's
SingletonThreadPool) this crashed the interpreter with a segmentation fault, which a test
can only observe from outside. Prints one JSON line of what happened.

Each worker thread computes the Overview's indicators for dates of its own, again and again,
and is interrupted the two ways a running page is:
- the user moves on: Streamlit raises StopException (a BaseException) at the next ``st``
  call of the abandoned run; ui.queries makes compute's progress callback such a call,
  so here the callback raises StopException between two queries, the connection still open;
- the database cancels the statement mid-query: a controller thread calls SQLite's
  ``interrupt()`` on the worker's connection, or ``pg_cancel_backend`` on PostgreSQL.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import random
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import sqlalchemy as sa  # noqa: E402
from streamlit.runtime.scriptrunner_utils.exceptions import StopException  # noqa: E402

from data_access.registry import open_registry  # noqa: E402
from indicators import compute, default_as_of  # noqa: E402
from views.figure_cards import HEADLINE_IDS  # noqa: E402


def run(url: str, threads: int, seconds: float) -> dict:
    engine = open_registry(url)
    latest = default_as_of(engine)
    reference = compute(engine, as_of=latest, level=2, indicator_ids=HEADLINE_IDS)

    # Which DBAPI connection each thread holds now, for the controller's cancels.
    held: dict[int, object] = {}
    held_lock = threading.Lock()
    counts = {"computed": 0, "stopped": 0, "cancelled": 0, "cancel_calls": 0,
              "invalidated": 0, "errors": []}
    counts_lock = threading.Lock()

    def checkout(dbapi_connection, record, proxy) -> None:
        with held_lock:
            held[threading.get_ident()] = dbapi_connection

    def checkin(dbapi_connection, record) -> None:
        with held_lock:
            for ident, conn in list(held.items()):
                if conn is dbapi_connection:
                    del held[ident]

    def invalidated(dbapi_connection, record, exception) -> None:
        with counts_lock:
            counts["invalidated"] += 1

    sa.event.listen(engine.pool, "checkout", checkout)
    sa.event.listen(engine.pool, "checkin", checkin)
    sa.event.listen(engine.pool, "invalidate", invalidated)
    deadline = time.monotonic() + seconds

    def worker(index: int) -> None:
        rnd = random.Random(index)
        while time.monotonic() < deadline:
            as_of = latest - dt.timedelta(days=rnd.randint(1, 700))
            stop_at = rnd.choice([None, 0.2, 0.4, 0.6, 0.8])

            def progress(fraction: float, step: str, stop_at=stop_at) -> None:
                if stop_at is not None and fraction >= stop_at:
                    raise StopException()

            try:
                compute(engine, as_of=as_of, level=2, indicator_ids=HEADLINE_IDS,
                        progress=progress)
                key = "computed"
            except StopException:
                key = "stopped"
            except sa.exc.OperationalError as exc:  # the controller's cancel
                text = str(exc.orig).lower()
                if "interrupt" not in text and "cancel" not in text:
                    raise
                key = "cancelled"
            except Exception as exc:  # noqa: BLE001 - reported, and fails the test
                with counts_lock:
                    counts["errors"].append(f"{type(exc).__name__}: {exc}"[:300])
                continue
            with counts_lock:
                counts[key] += 1

    def controller() -> None:
        rnd = random.Random(99)
        admin = (sa.create_engine(url, poolclass=sa.pool.NullPool)
                 if engine.dialect.name == "postgresql" else None)
        try:
            while time.monotonic() < deadline:
                time.sleep(rnd.uniform(0.05, 0.3))
                with held_lock:
                    victims = list(held.values())
                if not victims:
                    continue
                victim = rnd.choice(victims)
                if admin is None:
                    victim.interrupt()  # sqlite3: thread-safe, cancels the running statement
                else:
                    with admin.connect() as conn:
                        conn.execute(sa.text("SELECT pg_cancel_backend(:pid)"),
                                     {"pid": victim.info.backend_pid})
                with counts_lock:
                    counts["cancel_calls"] += 1
        finally:
            if admin is not None:
                admin.dispose()

    pool = [threading.Thread(target=worker, args=(i,)) for i in range(threads)]
    pool.append(threading.Thread(target=controller))
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()

    # Afterwards: nothing left checked out, every pooled connection idle and working,
    # and the engine computes the same figures as before the storm.
    leaked = engine.pool.checkedout()
    size = engine.pool.size()
    idle = []
    raws = [engine.raw_connection() for _ in range(size)]
    try:
        for raw in raws:
            driver = raw.driver_connection
            if engine.dialect.name == "sqlite":
                idle.append(not driver.in_transaction)
            else:
                import psycopg

                idle.append(driver.info.transaction_status == psycopg.pq.TransactionStatus.IDLE)
            cursor = raw.cursor()
            cursor.execute("SELECT 1")
            cursor.fetchall()
            cursor.close()
    finally:
        for raw in raws:
            raw.close()
    again = compute(engine, as_of=latest, level=2, indicator_ids=HEADLINE_IDS)
    same = again.equals(reference)
    engine.dispose()
    return {**counts, "leaked": leaked, "pooled_idle": idle, "same_figures": bool(same),
            "threads": threads}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("url")
    parser.add_argument("--threads", type=int, default=12)
    parser.add_argument("--seconds", type=float, default=12)
    args = parser.parse_args(argv)
    print(json.dumps(run(args.url, args.threads, args.seconds)), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
