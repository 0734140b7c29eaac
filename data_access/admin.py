"""What the admin pages ask for: the accounts (pages/users.py) and the audit log
(pages/audit_log.py). Admins only: every function takes the user context and raises
:class:`AdminOnlyError` for any other role, so a page cannot forget the check.

Account changes go through data_access.users with the admin's context as the actor, so each
is written to the audit log (``user_change``) in the same transaction. An admin may not
disable their own account or take away their own admin role (a Socle without an admin
cannot be repaired from the app). No Streamlit here.
"""

from __future__ import annotations

import datetime as dt
import io
import json
from collections.abc import Collection, Iterable

import pandas as pd
import sqlalchemy as sa

from core.i18n import N_
from core.text import inert_csv
from data_access import audit, users
from data_access.context import UserContext

AUDIT_CSV_COLUMNS = ("at", "username", "role", "action", "what", "filters")


class AdminOnlyError(PermissionError):
    """Someone who is not an admin asked for accounts or the audit log."""


def require_admin(context: UserContext) -> None:
    if not context.is_admin:
        raise AdminOnlyError(f"Only administrators manage accounts and read the audit log "
                             f"(role `{context.role}`).")


def _not_self(context: UserContext, username: str, what: str) -> None:
    """``what``: the refusal (N_), e.g. "you cannot disable your own account"."""
    if context.username and users.normalise_username(username) == context.username:
        raise users.UserError(what)


# Accounts -----------------------------------------------------------------------------------

def users_table(store: sa.Engine, context: UserContext) -> pd.DataFrame:
    """Every account (no hashes): username, role, areas, status, password, created…"""
    require_admin(context)
    return users.users_frame(store)


def usernames(store: sa.Engine, context: UserContext) -> list[str]:
    require_admin(context)
    return [u.username for u in users.list_users(store)]


def get_user(store: sa.Engine, context: UserContext, username: str) -> users.User | None:
    require_admin(context)
    return users.get_user(store, username)


def create_user(store: sa.Engine, context: UserContext, username: str, role: str,
                areas: Iterable[str], *, password: str | None,
                known_areas: Collection[str]) -> tuple[users.User, str | None]:
    """Create an account; (the user, the generated password or None). ``password`` None
    generates one; an empty text makes an account without local password (identity
    provider only). UserError for a bad name, role, area or password."""
    require_admin(context)
    generated = None
    if password is None:
        password = generated = users.generate_password()
    user = users.create_user(store, username, role, areas, password=password or None,
                             known_areas=known_areas, actor=context)
    return user, generated


def update_user(store: sa.Engine, context: UserContext, username: str, *, role: str,
                areas: Iterable[str], known_areas: Collection[str]) -> users.User:
    require_admin(context)
    if role != "admin":
        _not_self(context, username, N_("you cannot take the admin role from your own account"))
    return users.update_user(store, username, role=role, areas=list(areas),
                             known_areas=known_areas, actor=context)


def set_disabled(store: sa.Engine, context: UserContext, username: str,
                 disabled: bool) -> users.User:
    require_admin(context)
    if disabled:
        _not_self(context, username, N_("you cannot disable your own account"))
    return users.set_disabled(store, username, disabled, actor=context)


def new_password(store: sa.Engine, context: UserContext, username: str) -> str:
    """Give the account a new generated password (which also lifts a lock-out); returned once."""
    require_admin(context)
    password = users.generate_password()
    users.set_password(store, username, password, actor=context)
    return password


# The audit log ------------------------------------------------------------------------------

def audit_log(store: sa.Engine, context: UserContext, *, since: dt.date | None = None,
              until: dt.date | None = None, action: str | None = None,
              username: str | None = None, limit: int | None = audit.DEFAULT_LIMIT
              ) -> pd.DataFrame:
    """The audit log, newest first, between two days (both included; UTC), for an admin;
    ``filters`` as JSON text."""
    require_admin(context)
    frame = audit.audit_rows(
        store, context=context,
        since=dt.datetime.combine(since, dt.time()) if since else None,
        until=dt.datetime.combine(until + dt.timedelta(days=1), dt.time()) if until else None,
        action=action or None, username=(username or "").strip() or None, limit=limit)
    frame["filters"] = [json.dumps(f, sort_keys=True, ensure_ascii=False)
                        for f in frame["filters"]]
    frame["at"] = pd.to_datetime(frame["at"])
    return frame


def audit_csv(store: sa.Engine, context: UserContext, **filters) -> bytes:
    """The audit log rows of :func:`audit_log` (every row: no limit) as CSV, every text cell
    inert in a spreadsheet."""
    frame = audit_log(store, context, limit=None, **filters)
    # Names typed at a failed sign-in, and the filters, go into a spreadsheet: nothing in
    # them may start a formula (core.text.inert_csv).
    shown = frame[list(AUDIT_CSV_COLUMNS)].astype(object)
    shown = shown.apply(lambda column: column.map(inert_csv))
    buffer = io.StringIO()
    shown.to_csv(buffer, index=False, lineterminator="\r\n")  # RFC 4180: CR and LF quoted
    return buffer.getvalue().encode("utf-8")
