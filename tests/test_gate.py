"""Bounded concurrency (issue 18): computations queue at a gate of
``database.max_computations`` places, a waiting user is told so, and a connection pool that
gives none in time reads as a busy server, never as a database that cannot be reached."""

from __future__ import annotations

import asyncio
import datetime as dt
import threading
import time
from pathlib import Path

import pytest
from app_server import AppServer, WebsocketSession, demo_settings, make_demo
from app_under_test import assert_clean, run_app
from streamlit.runtime.scriptrunner_utils.exceptions import StopException

from data_access import registry as registry_module
from data_access.gate import ComputeGate
from ui import queries as ui


def test_the_gate_lets_its_places_through_and_says_how_many_are_ahead():
    gate = ComputeGate(3)
    release = threading.Event()
    running: list[int] = []
    most = [0]
    heard: list[int] = []
    lock = threading.Lock()

    def work() -> None:
        with gate.place(on_wait=heard.append, poll=0.02):
            with lock:
                running.append(1)
                most[0] = max(most[0], len(running))
            release.wait()
            with lock:
                running.pop()

    threads = [threading.Thread(target=work) for _ in range(7)]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + 30
    while (gate.running, gate.waiting) != (3, 4) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert (gate.running, gate.waiting) == (3, 4)
    assert heard and max(heard) >= 3  # "waiting for N other computations", N >= places
    release.set()
    for thread in threads:
        thread.join()
    assert most[0] == 3
    assert (gate.running, gate.waiting) == (0, 0)


def test_a_waiter_whose_run_is_stopped_leaves_without_taking_a_place():
    gate = ComputeGate(1)
    holding = threading.Event()
    release = threading.Event()

    def hold() -> None:
        with gate.place():
            holding.set()
            release.wait()

    holder = threading.Thread(target=hold)
    holder.start()
    holding.wait()

    def stopped(ahead: int) -> None:
        raise StopException()  # what Streamlit's yield check raises for an abandoned run

    with pytest.raises(StopException):
        with gate.place(on_wait=stopped):
            pytest.fail("a stopped run must not compute")
    assert (gate.running, gate.waiting) == (1, 0)
    release.set()
    holder.join()
    with gate.place():  # the place is free again: nothing leaked
        assert gate.running == 1


@pytest.mark.usefixtures("clean_environment", "navigation_as_in_a_running_server")
def test_a_pool_timeout_says_busy_not_unreachable(registry_url: str, monkeypatch):
    """Every registry connection is taken (by this test, for real) and the pool's wait is
    short: the page that needs one says the server is busy and that nothing is wrong with
    the data; it does not say a database could not be reached."""
    monkeypatch.setenv("SOCLE_ANALYTICS_SOURCE", "live")  # the registry's own pool
    monkeypatch.setattr(registry_module, "POOL_TIMEOUT_SECONDS", 1)
    at = run_app({"level": "2"})
    assert_clean(at)
    engine = ui.registry_engine(registry_url)
    held = [engine.connect() for _ in range(engine.pool.size() + registry_module.POOL_OVERFLOW)]
    try:
        day = at.sidebar.date_input(key="as_of").value
        at.sidebar.date_input(key="as_of").set_value(day - dt.timedelta(days=3)).run()
    finally:
        for conn in held:
            conn.close()
    assert not at.exception
    assert [w.value for w in at.warning if "busy" in w.value]
    assert not [e.value for e in at.error if "could not be reached" in e.value]


def test_waiting_users_are_told_and_nobody_gets_an_error(tmp_path: Path):
    """One place at the gate and six users asking at once for dates nobody computed:
    they queue, the page says "Waiting for … other computations" (or how far it is), and
    every page ends with its figures, no error. (The last waits for five computations of
    the Overview: well over the half second after which the message is drawn.)"""
    make_demo(tmp_path, households=5000, seed=8, union_councils=40)
    server = AppServer(demo_settings(tmp_path) | {"SOCLE_DATABASE_MAX_COMPUTATIONS": "1"},
                       tmp_path / "server.log").start()
    try:
        from app_server import load_page

        assert load_page(server.url, "", "level=2").finished  # imports, areas (not measured)

        async def six() -> list:
            sessions = [WebsocketSession(server.url) for _ in range(6)]
            return await asyncio.gather(*(
                s.loads([("", f"level=2&as_of=2024-0{month}-15")])
                for s, month in zip(sessions, range(3, 9), strict=True)))

        loads = [done[0] for done in asyncio.run(six())]
    finally:
        server.stop()
    assert all(load.finished and "metric" in load.elements for load in loads)
    assert not [load.texts("error") for load in loads if load.texts("error")]
    told = [text for load in loads for text in load.texts("info")
            if text.startswith(("Waiting for", "Computing the figures"))]
    assert any(text.startswith("Waiting for") for text in told), told


def test_the_registry_pool_keeps_room_beside_the_gate():
    """The settings' bound on max_computations stays below the registry's pool."""
    from core.settings import MAX_COMPUTATIONS

    assert MAX_COMPUTATIONS < registry_module.DEFAULT_POOL_SIZE


def test_the_gate_serves_first_come_first():
    """Twenty users at once are served in turn: the first to ask is the first to compute."""
    gate = ComputeGate(1)
    release = threading.Event()
    served: list[int] = []

    def work(number: int) -> None:
        with gate.place(poll=0.01):
            served.append(number)
            if number == 0:
                release.wait()

    threads = []
    for number in range(6):
        thread = threading.Thread(target=work, args=(number,))
        thread.start()
        threads.append(thread)
        deadline = time.monotonic() + 30
        while gate.ahead() < number + 1 and time.monotonic() < deadline:
            time.sleep(0.005)  # this one is in the queue before the next one asks
    release.set()
    for thread in threads:
        thread.join()
    assert served == list(range(6))


def test_a_request_keeps_its_rank_from_one_computation_to_the_next():
    """A page computes its families one by one and gives its place back in between (it must
    not hold one while it waits for another request's computation); with its ticket it is
    served again before requests that came after it."""
    gate = ComputeGate(1)
    release = threading.Event()
    served: list[str] = []
    early = gate.ticket()  # the page's first computation was served long ago

    def holder() -> None:
        with gate.place():
            release.wait()

    def later() -> None:
        with gate.place(poll=0.01):
            served.append("later request")

    def early_request() -> None:
        with gate.place(poll=0.01, ticket=early):
            served.append("the early request's next computation")

    threads = [threading.Thread(target=holder)]
    threads[0].start()
    while gate.running < 1:
        time.sleep(0.005)
    for target, queued in ((later, 1), (early_request, 2)):
        thread = threading.Thread(target=target)
        thread.start()
        threads.append(thread)
        while gate.waiting < queued:
            time.sleep(0.005)
    release.set()
    for thread in threads:
        thread.join()
    assert served == ["the early request's next computation", "later request"]
