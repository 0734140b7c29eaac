"""What Socle's command-line tools share: one-line usage errors (exit 2) and date arguments."""

from __future__ import annotations

import argparse
import datetime as dt


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


def database_problem(exc: Exception) -> str:
    """A one-line message for a database error: the driver's own words when it has some."""
    detail = getattr(exc, "orig", None) or exc
    return f"database error: {detail}"
