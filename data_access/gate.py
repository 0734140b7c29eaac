"""A queue in front of the registry: at most N computations read it at once.

Every indicator computation holds a registry connection for seconds. Without a bound, twenty
users asking at once would take every connection of the pool and the next page would wait
for one until the pool's timeout, then fail as if the database were down. With the gate, a
computation waits for its turn here instead (the caller shows "waiting for N other
computations"), the pool keeps connections for the short reads of every page, and a
computation whose user has gone away can leave the queue without ever having run.

No Streamlit here: ``on_wait`` is the caller's (data_access.ui shows the message and lets a
stopped script run leave the queue).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

POLL_SECONDS = 0.2


class ComputeGate:
    """A counting gate of ``limit`` places, which says how many are ahead of a waiter."""

    def __init__(self, limit: int) -> None:
        if limit < 1:
            raise ValueError(f"a gate needs at least one place, got {limit}")
        self.limit = limit
        self._places = threading.Semaphore(limit)
        self._lock = threading.Lock()
        self._running = 0
        self._waiting = 0

    @property
    def running(self) -> int:
        with self._lock:
            return self._running

    @property
    def waiting(self) -> int:
        with self._lock:
            return self._waiting

    def ahead(self) -> int:
        """Computations a newcomer waits for: those running and those queued."""
        with self._lock:
            return self._running + self._waiting

    @contextmanager
    def place(self, on_wait: Callable[[int], None] | None = None,
              poll: float = POLL_SECONDS) -> Iterator[None]:
        """Hold one place for the ``with`` block, waiting for it if the gate is full.

        While waiting, ``on_wait(ahead)`` is called at once and then every ``poll`` seconds
        with the number of computations running or queued besides this one. It may raise
        (a stopped script run): the waiter then leaves the queue without taking a place.
        """
        if not self._places.acquire(blocking=False):
            with self._lock:
                self._waiting += 1
            try:
                while True:
                    if on_wait is not None:
                        on_wait(max(self.ahead() - 1, 1))
                    if self._places.acquire(timeout=poll):
                        break
            finally:
                with self._lock:
                    self._waiting -= 1
        with self._lock:
            self._running += 1
        try:
            yield
        finally:
            with self._lock:
                self._running -= 1
            self._places.release()
