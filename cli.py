"""What Socle's command-line tools share: one-line usage errors (exit 2), date and whole-number
arguments."""

from __future__ import annotations

import argparse
import datetime as dt
from collections.abc import Callable


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


def database_problem(exc: Exception) -> str:
    """A one-line message for a database error: the driver's own words when it has some."""
    detail = getattr(exc, "orig", None) or exc
    return f"database error: {detail}"
