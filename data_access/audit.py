"""The audit log: who did what, when, with which filters. Append-only.

Every sign-in (and failed one), sign-out, export, list view with personal data, decision on
a duplicate pair and change of a user account is written to the app store's ``audit_log``
table (migration 0004) by :func:`record`: the user name and role, the time (naive UTC), the
action (one of :data:`ACTIONS`), what was done in words, and the filters as a JSON object
(area, level, as-of date, list names…). Passwords and tokens are never written.

Append-only, twice over: this module has no function that updates or deletes a row, and
the migration installs triggers that refuse ``UPDATE`` and ``DELETE`` on both SQLite and
PostgreSQL (and ``TRUNCATE`` on PostgreSQL). A database owner can drop a trigger; where
the log must hold against the operators too, run the app as a PostgreSQL role granted only
``INSERT, SELECT`` on ``audit_log`` (and ``USAGE`` on its id sequence).

Only admins read it: :func:`audit_rows` takes the reader's user context and refuses others.
SQLAlchemy Core only; functions take the app-store engine (data_access.app_store).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping
from typing import Any

import pandas as pd
import sqlalchemy as sa

from data_access.context import UserContext
from data_access.snapshots import as_naive_utc, utcnow

ACTIONS: tuple[str, ...] = (
    "sign_in", "sign_in_failed", "sign_out", "export", "list_view", "pair_decision",
    "user_change",
)
AUDIT_COLUMNS: tuple[str, ...] = ("id", "at", "username", "role", "action", "what", "filters")
DEFAULT_LIMIT = 1000
USERNAME_LENGTH = 100

metadata = sa.MetaData()

# The table of migration 0004 (data_access/migrations/versions/0004_users_audit.py).
audit_log = sa.Table(
    "audit_log", metadata,
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True,
              autoincrement=True),
    sa.Column("at", sa.DateTime, nullable=False),
    sa.Column("username", sa.String(USERNAME_LENGTH), nullable=False),
    sa.Column("role", sa.String(20)),
    sa.Column("action", sa.String(20), nullable=False),
    sa.Column("what", sa.Text, nullable=False),
    sa.Column("filters", sa.Text, nullable=False),
)

Actor = UserContext | str


class AuditAccessError(PermissionError):
    """A user who is not an admin asked for the audit log."""


DEFAULT_USER = "(default user)"  # the settings' default user (demo mode, before sign-in)


def _who(actor: Actor) -> tuple[str, str | None]:
    """(username, role) of a user context, or of a bare name (no role: e.g. a failed sign-in)."""
    if isinstance(actor, UserContext):
        return actor.username or DEFAULT_USER, actor.role
    return str(actor), None


def _filters_text(filters: Mapping[str, Any] | None) -> str:
    if filters is None:
        return "{}"
    if not isinstance(filters, Mapping):
        raise TypeError(f"audit filters must be a mapping, got {type(filters).__name__}")
    return json.dumps(dict(filters), sort_keys=True, default=str, ensure_ascii=False)


def record(store: sa.Engine | sa.Connection, who: Actor, action: str, what: str,
           filters: Mapping[str, Any] | None = None, *, now: dt.datetime | None = None) -> int:
    """Append one row to the audit log; its id.

    ``store`` is the app-store engine (the row is committed at once) or an open connection
    (the row is part of the caller's transaction: a change of user and its audit row are
    written together or not at all). ``who`` is the acting user's context, or a bare name
    where there is no context (a failed sign-in, the command line).
    """
    if action not in ACTIONS:
        raise ValueError(f"unknown audit action `{action}` (actions: {', '.join(ACTIONS)})")
    username, role = _who(who)
    values = {
        "at": as_naive_utc(now) if now is not None else utcnow(),
        "username": username[:USERNAME_LENGTH],
        "role": role,
        "action": action,
        "what": str(what),
        "filters": _filters_text(filters),
    }
    statement = audit_log.insert().values(**values).returning(audit_log.c.id)
    if isinstance(store, sa.Connection):
        return int(store.execute(statement).scalar_one())
    with store.begin() as conn:
        return int(conn.execute(statement).scalar_one())


def audit_rows(store: sa.Engine, *, context: UserContext, since: dt.datetime | None = None,
               until: dt.datetime | None = None, action: str | None = None,
               username: str | None = None, limit: int | None = DEFAULT_LIMIT) -> pd.DataFrame:
    """The audit log, newest first, for an admin: columns :data:`AUDIT_COLUMNS`.

    ``since`` (inclusive) and ``until`` (exclusive) bound the time; ``action`` and
    ``username`` filter; ``limit`` caps the rows (None: all). ``filters`` comes back as a
    dict. Raise AuditAccessError for a context that is not an admin's.
    """
    if not context.is_admin:
        raise AuditAccessError(f"only admins may read the audit log (role `{context.role}`)")
    if action is not None and action not in ACTIONS:
        raise ValueError(f"unknown audit action `{action}` (actions: {', '.join(ACTIONS)})")
    query = sa.select(*(audit_log.c[name] for name in AUDIT_COLUMNS))
    if since is not None:
        query = query.where(audit_log.c.at >= as_naive_utc(since))
    if until is not None:
        query = query.where(audit_log.c.at < as_naive_utc(until))
    if action is not None:
        query = query.where(audit_log.c.action == action)
    if username is not None:
        query = query.where(audit_log.c.username == username)
    query = query.order_by(audit_log.c.id.desc())
    if limit is not None:
        query = query.limit(int(limit))
    with store.connect() as conn:
        rows = conn.execute(query).all()
    frame = pd.DataFrame([tuple(r) for r in rows], columns=list(AUDIT_COLUMNS), dtype=object)
    frame["filters"] = [json.loads(text) for text in frame["filters"]]
    return frame
