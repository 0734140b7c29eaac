"""Adds action points as fast as it can until it is killed (a helper process for
tests/test_faults.py).

    python tests/fault_writer.py STORE_URL FIRST

Adds action points numbered FIRST, FIRST+1, ... to area D1, each with the idempotency key
``key-<n>``, and prints ``committed <n>`` (flushed) once add_action_point has returned, i.e.
once its transaction is committed: what a user would see confirmed. Killed with SIGKILL at
any moment, most likely inside a transaction.
"""

from __future__ import annotations

import datetime as dt
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from data_access.app_store import open_app_store  # noqa: E402
from data_access.meetings import add_action_point  # noqa: E402
from data_access.scope import Scope  # noqa: E402


def point(number: int) -> dict:
    """The contents of action point ``number`` (the test retries with the same)."""
    return {"area_id": "D1", "text": f"Action point {number}", "owner": "Tehsil office",
            "due_on": dt.date(2027, 1, 1) + dt.timedelta(days=number % 300),
            "created_by": "writer", "idempotency_key": f"key-{number}"}


def main() -> int:
    store = open_app_store(sys.argv[1])
    number = int(sys.argv[2])
    print("ready", flush=True)
    while True:
        add_action_point(store, scope=Scope.everything(), **point(number))
        print(f"committed {number}", flush=True)
        number += 1


if __name__ == "__main__":
    raise SystemExit(main())
