"""A queue in front of the registry: at most N computations read it at once.

Every indicator computation holds a registry connection for seconds. Without a bound, twenty
users asking at once would take every connection of the pool and the next page would wait
for one until the pool's timeout, then fail as if the database were down. With the gate, a
computation waits for its turn here instead (the caller shows "waiting for N other
computations"), the pool keeps connections for the short reads of every page, and a
computation whose user has gone away can leave the queue without ever having run.

No Streamlit here: ``on_wait`` is the caller's (ui.queries shows the message and lets a
stopped script run leave the queue).
"""

from __future__ import annotations

import heapq
import itertools
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

POLL_SECONDS = 0.2


class ComputeGate:
    """A gate of ``limit`` places, served in order of arrival, which says how many are ahead.

    A request (a page's call for figures) may compute several things one after the other
    and takes a place for each, giving it back in between: it must not hold a place while
    it waits for a computation another request is doing (that one may be waiting for the
    place: a deadlock). Its ``ticket``, drawn at its first computation, keeps its rank, so
    twenty users arriving together are served in turn (the first get their page early)
    rather than all of them interleaved until the end.
    """

    def __init__(self, limit: int) -> None:
        if limit < 1:
            raise ValueError(f"a gate needs at least one place, got {limit}")
        self.limit = limit
        self._changed = threading.Condition()
        self._running = 0
        self._queue: list[tuple[int, int]] = []  # (ticket, arrival), a heap
        self._tickets = itertools.count()
        self._arrivals = itertools.count()

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

    def ticket(self) -> int:
        """A request's rank, drawn once and given to each of its ``place`` calls."""
        return next(self._tickets)

    def _take(self, entry: tuple[int, int]) -> bool:
        """Take a place if it is this entry's turn (called with the lock held)."""
        if self._running < self.limit and self._queue[0] == entry:
            heapq.heappop(self._queue)
            self._running += 1
            self._changed.notify_all()  # the next one may now be first
            return True
        return False

    @contextmanager
    def place(self, on_wait: Callable[[int], None] | None = None,
              poll: float = POLL_SECONDS, ticket: int | None = None) -> Iterator[None]:
        """Hold one place for the ``with`` block, waiting for it (in turn) if the gate is full.

        ``ticket``: the rank of the request (``ticket()``); a new one when not given. While
        waiting, ``on_wait(ahead)`` is called at once and then every ``poll`` seconds with
        the number of computations running or queued before this one. It may raise (a
        stopped script run): the waiter then leaves the queue without taking a place.
        """
        entry = (self.ticket() if ticket is None else ticket, next(self._arrivals))
        with self._changed:
            heapq.heappush(self._queue, entry)
            taken = self._take(entry)
        try:
            while not taken:
                with self._changed:
                    ahead = self._running + sum(1 for other in self._queue if other < entry)
                if on_wait is not None:
                    on_wait(ahead)
                with self._changed:
                    taken = self._take(entry)
                    if not taken:
                        self._changed.wait(poll)  # a place freed, or time to say so again
                        taken = self._take(entry)
        except BaseException:
            with self._changed:
                if entry in self._queue:
                    self._queue.remove(entry)
                    heapq.heapify(self._queue)
                    self._changed.notify_all()
            raise
        try:
            yield
        finally:
            with self._changed:
                self._running -= 1
                self._changed.notify_all()
