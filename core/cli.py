"""What Socle's command-line tools share: one-line usage errors (exit 2), date and whole-number
arguments, a progress bar."""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from collections.abc import Callable
from typing import TextIO


class UsageError(Exception):
    """A bad command-line argument, reported in one line: exit 2."""


class Parser(argparse.ArgumentParser):
    """argparse that raises UsageError instead of printing the usage and exiting."""

    def error(self, message: str):  # one line, no usage dump
        raise UsageError(message)


def parse_date(text: str) -> dt.date:
    """An argparse type for YYYY-MM-DD dates, with a message that says how to write one."""
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"`{text}` is not a date: write it as YYYY-MM-DD") from None


def whole_number(minimum: int, what: str = "a whole number",
                 too_small: str = "{value} is not {minimum} or more") -> Callable[[str], int]:
    """An argparse type for a whole number of at least ``minimum``: "`x` is not <what>" when it
    is no number, ``too_small`` (with ``{value}`` and ``{minimum}``) when it is below."""
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"`{text}` is not {what}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(too_small.format(value=value, minimum=minimum))
        return value
    return parse


LEVEL_TOO_SMALL = "unknown level {value}: levels start at 1 (top)"
# An admin level (1 = top), as --level takes it.
level_number = whole_number(1, "a level number (1 = top)", LEVEL_TOO_SMALL)
_listed_level = whole_number(1, "a level number (1 = top; e.g. --levels 1,2)", LEVEL_TOO_SMALL)


def level_list(text: str) -> list[int]:
    """An argparse type for comma-separated admin levels (``1,2,3``), each once, in order."""
    levels: list[int] = []
    for part in text.split(","):
        level = _listed_level(part.strip())
        if level not in levels:
            levels.append(level)
    return levels


def fail(prog: str, message: str, code: int = 2) -> int:
    """Say what went wrong in one line on stderr, as ``<prog>: error: <message>``; the exit
    code (2 by default: a usage or set-up problem; 1 for a failure of the work itself)."""
    print(f"{prog}: error: {message}", file=sys.stderr)
    return code


def database_problem(exc: Exception) -> str:
    """A one-line message for a database error: the driver's own words when it has some."""
    detail = getattr(exc, "orig", None) or exc
    return f"database error: {detail}"


class ProgressBar:
    """A text progress bar on a stream: redrawn with \\r on a terminal, a line per step otherwise."""

    def __init__(self, total: int, stream: TextIO | None = None, width: int = 30,
                 enabled: bool = True) -> None:
        self.total = max(total, 1)
        self.stream = stream if stream is not None else sys.stderr
        self.width = width
        self.enabled = enabled
        self.tty = enabled and bool(getattr(self.stream, "isatty", lambda: False)())
        self._drawn = 0

    def _bar(self, done: float) -> str:
        fraction = min(max(done / self.total, 0.0), 1.0)
        filled = int(fraction * self.width)
        return f"[{'#' * filled}{'.' * (self.width - filled)}] {fraction:4.0%}"

    def update(self, step: int, fraction: float, label: str) -> None:
        """Within step ``step`` (0-based), ``fraction`` of it is done. Redraws on a terminal."""
        if not self.tty:
            return
        line = f"{self._bar(step + fraction)} {label}"
        pad = max(self._drawn - len(line), 0)
        self.stream.write("\r" + line + " " * pad)
        self.stream.flush()
        self._drawn = len(line)

    def stage(self, step: int, fraction: float, label: str) -> None:
        """A stage within step ``step`` begins: redrawn on a terminal, a line otherwise (a
        long job's log then shows where it is)."""
        if not self.enabled:
            return
        if self.tty:
            self.update(step, fraction, label)
        else:
            self.stream.write(f"{self._bar(step + fraction)} {label}\n")
            self.stream.flush()

    def step_done(self, step: int, label: str) -> None:
        if not self.enabled:
            return
        if self.tty:
            self.update(step, 1.0, label)
        else:
            self.stream.write(f"{self._bar(step + 1)} {step + 1}/{self.total} {label}\n")
            self.stream.flush()

    def close(self) -> None:
        if self.tty and self._drawn:
            self.stream.write("\n")
            self.stream.flush()
            self._drawn = 0
