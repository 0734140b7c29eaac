"""What the batch commands (python -m indicators.cube, python -m indicators.snapshot,
python -m linkage) say when the data cannot be used: one line naming the problem, exit 2.

    try:
        ...
    except Exception as exc:
        return reported(PROG, exc)   # a bug is raised again: its traceback is wanted
    finally:
        dispose(registry, store)
"""

from __future__ import annotations

import sqlalchemy as sa

from core.cli import database_problem, fail
from data_access.app_store import AppStoreError
from data_access.registry import RegistryError
from data_access.schema import SchemaError
from data_access.spark import is_spark_error, spark_message


def problem(exc: BaseException) -> str | None:
    """The one-line message of a problem with a registry, an app store, a file, a value or
    Spark; None for anything else (a bug, which should be seen whole)."""
    if isinstance(exc, RegistryError | SchemaError | AppStoreError | ValueError | OSError):
        return str(exc)
    if isinstance(exc, sa.exc.SQLAlchemyError):
        return database_problem(exc)
    if is_spark_error(exc):
        return f"Spark: {spark_message(exc)}"
    return None


def reported(prog: str, exc: BaseException) -> int:
    """``exc`` said in one line (fail: exit code 2) when it is a problem with the data;
    anything else raised again."""
    message = problem(exc)
    if message is None:
        raise exc
    return fail(prog, message)


def dispose(*engines: sa.Engine | None) -> None:
    """Each engine opened (None: never opened) disposed of."""
    for engine in engines:
        if engine is not None:
            engine.dispose()
