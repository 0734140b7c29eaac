"""Accounts, their areas, sign-in sessions and failures, and the append-only audit log.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02

- ``users``: a local account (username, role, argon2 hash of the password — NULL for an
  account that signs in only through the identity provider —, disabled flag).
- ``user_areas``: the areas an account may see (one or more; none: the whole registry).
  A scope covers the areas below it.
- ``sessions``: a sign-in session; only the SHA-256 of its token is stored, with its expiry.
- ``login_failures``: failed sign-ins, by the name typed (known or not), for the lock-out.
- ``audit_log``: who did what, when, with which filters. Append-only: triggers refuse
  UPDATE and DELETE on SQLite and PostgreSQL (and TRUNCATE on PostgreSQL), and
  data_access.audit has no function that changes a row. A database owner can still drop
  a trigger: where the log must hold against the operators too, run the app as a database
  role granted only INSERT and SELECT on ``audit_log`` (see data_access/audit.py).

Timestamps are naive UTC, as in 0002.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | None = None
depends_on: str | None = None

_BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_ROLES = "('admin', 'chair', 'officer', 'donor')"
_ACTIONS = ("('sign_in', 'sign_in_failed', 'sign_out', 'export', 'list_view', "
            "'pair_decision', 'user_change')")
_REFUSED = "audit_log is append-only"

# One statement per item: SQLite's driver runs one statement per execute.
_SQLITE_TRIGGERS = (
    f"""CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
        BEGIN SELECT RAISE(ABORT, '{_REFUSED}: UPDATE refused'); END""",
    f"""CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
        BEGIN SELECT RAISE(ABORT, '{_REFUSED}: DELETE refused'); END""",
)
_POSTGRES_TRIGGERS = (
    f"""CREATE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            RAISE EXCEPTION '{_REFUSED}: % refused', TG_OP USING ERRCODE = 'insufficient_privilege';
        END $$""",
    """CREATE TRIGGER audit_log_no_update_delete BEFORE UPDATE OR DELETE ON audit_log
        FOR EACH ROW EXECUTE FUNCTION audit_log_append_only()""",
    """CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
        FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only()""",
)


def upgrade() -> None:
    op.create_table(
        "users",
        sa.Column("username", sa.String(100), primary_key=True),
        sa.Column("role", sa.String(20), nullable=False),
        sa.Column("password_hash", sa.Text),  # NULL: no local password
        sa.Column("disabled", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.Column("created_by", sa.Text, nullable=False),
        sa.Column("updated_at", sa.DateTime, nullable=False),
        sa.Column("password_changed_at", sa.DateTime),
        sa.CheckConstraint(f"role IN {_ROLES}", name="ck_users_role"),
    )
    op.create_table(
        "user_areas",
        sa.Column("username", sa.String(100), sa.ForeignKey("users.username"),
                  primary_key=True),
        sa.Column("area_id", sa.String(100), primary_key=True),
    )
    op.create_table(
        "sessions",
        sa.Column("token_hash", sa.String(64), primary_key=True),  # SHA-256, hex
        sa.Column("username", sa.String(100), sa.ForeignKey("users.username"), nullable=False),
        sa.Column("started_at", sa.DateTime, nullable=False),
        sa.Column("expires_at", sa.DateTime, nullable=False),
        sa.Column("ended_at", sa.DateTime),  # signed out, or ended when the account was disabled
    )
    op.create_index("ix_sessions_username", "sessions", ["username"])
    op.create_table(
        "login_failures",
        sa.Column("failure_id", _BIG_ID, primary_key=True, autoincrement=True),
        sa.Column("username", sa.String(100), nullable=False),  # as typed: known or not
        sa.Column("at", sa.DateTime, nullable=False),
    )
    op.create_index("ix_login_failures_username_at", "login_failures", ["username", "at"])
    op.create_table(
        "audit_log",
        sa.Column("id", _BIG_ID, primary_key=True, autoincrement=True),
        sa.Column("at", sa.DateTime, nullable=False),
        sa.Column("username", sa.String(100), nullable=False),
        sa.Column("role", sa.String(20)),
        sa.Column("action", sa.String(20), nullable=False),
        sa.Column("what", sa.Text, nullable=False),
        sa.Column("filters", sa.Text, nullable=False),  # JSON object
        sa.CheckConstraint(f"action IN {_ACTIONS}", name="ck_audit_log_action"),
    )
    op.create_index("ix_audit_log_at", "audit_log", ["at"])
    op.create_index("ix_audit_log_action_at", "audit_log", ["action", "at"])
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        statements = _SQLITE_TRIGGERS
    elif dialect == "postgresql":
        statements = _POSTGRES_TRIGGERS
    else:  # pragma: no cover - the app store runs on SQLite or PostgreSQL
        raise NotImplementedError(f"no append-only trigger for the app store on {dialect}")
    for statement in statements:
        op.execute(statement)


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        op.execute("DROP TRIGGER IF EXISTS audit_log_no_update")
        op.execute("DROP TRIGGER IF EXISTS audit_log_no_delete")
    elif dialect == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS audit_log_no_truncate ON audit_log")
        op.execute("DROP TRIGGER IF EXISTS audit_log_no_update_delete ON audit_log")
    op.drop_index("ix_audit_log_action_at", table_name="audit_log")
    op.drop_index("ix_audit_log_at", table_name="audit_log")
    op.drop_table("audit_log")
    if dialect == "postgresql":
        op.execute("DROP FUNCTION IF EXISTS audit_log_append_only()")
    op.drop_index("ix_login_failures_username_at", table_name="login_failures")
    op.drop_table("login_failures")
    op.drop_index("ix_sessions_username", table_name="sessions")
    op.drop_table("sessions")
    op.drop_table("user_areas")
    op.drop_table("users")
