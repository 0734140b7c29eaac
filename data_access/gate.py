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
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager

POLL_SECONDS = 0.2


class ComputeGate:
    """A gate of ``limit`` places, first come first served, which says how many are ahead.

    First come, first served: twenty users arriving at once are served in turn (the first
    ones get their page early) rather than all of them interleaved to the end.
    """

    def __init__(self, limit: int) -> None:
        if limit < 1:
            raise ValueError(f"a gate needs at least one place, got {limit}")
        self.limit = limit
        self._changed = threading.Condition()
        self._running = 0
        self._queue: deque[object] = deque()

    @property
    def running(self) -> int:
        with self._changed:
            return self._running

    @property
    def waiting(self) -> int:
        with self._changed:
            return len(self._queue)

    def ahead(self) -> int:
        """Computations a newcomer waits for: those running and those queued."""
        with self._changed:
            return self._running + len(self._queue)

    def _take(self, ticket: object) -> bool:
        """Take a place if it is this ticket's turn (called with the lock held)."""
        if self._running < self.limit and self._queue[0] is ticket:
            self._queue.popleft()
            self._running += 1
            self._changed.notify_all()  # the next ticket may now be first
            return True
        return False

    @contextmanager
    def place(self, on_wait: Callable[[int], None] | None = None,
              poll: float = POLL_SECONDS) -> Iterator[None]:
        """Hold one place for the ``with`` block, waiting for it (in turn) if the gate is full.

        While waiting, ``on_wait(ahead)`` is called at once and then every ``poll`` seconds
        with the number of computations running or queued before this one. It may raise
        (a stopped script run): the waiter then leaves the queue without taking a place.
        """
        ticket = object()
        with self._changed:
            self._queue.append(ticket)
            taken = self._take(ticket)
        try:
            while not taken:
                with self._changed:
                    ahead = self._running + self._queue.index(ticket)
                if on_wait is not None:
                    on_wait(ahead)
                with self._changed:
                    taken = self._take(ticket)
                    if not taken:
                        self._changed.wait(poll)  # a place freed, or time to say so again
                        taken = self._take(ticket)
        except BaseException:
            with self._changed:
                if ticket in self._queue:
                    self._queue.remove(ticket)
                    self._changed.notify_all()
            raise
        try:
            yield
        finally:
            with self._changed:
                self._running -= 1
                self._changed.notify_all()
