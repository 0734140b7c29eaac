"""Snapshots of the indicators, committee meetings and their action points, donor targets.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-30

- ``snapshot`` / ``snapshot_figure``: the spec's long form frozen at a date, by the snapshot
  command (source "command", one per as-of date and level) or when a meeting starts
  (source "meeting", one per meeting). A figure's period is its snapshot's.
- ``meeting``, ``action_point``: a committee meeting of a district and what it decided.
- ``target``: baseline and target of an indicator, values on the engine's scale
  (fractions for percent indicators).

Timestamps are naive UTC (SQLite keeps no time zone). Idempotency (a command snapshot stored
again, a target imported again) is done in code by delete-then-insert in one transaction;
see the comment on ``target`` for why the unique keys alone cannot do it.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | None = None
depends_on: str | None = None

# An autoincrement 64-bit key; SQLite only autoincrements an INTEGER PRIMARY KEY (the rowid).
_BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "snapshot",
        sa.Column("snapshot_id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("taken_at", sa.DateTime, nullable=False),
        sa.Column("as_of", sa.Date, nullable=False),
        sa.Column("level", sa.Integer, nullable=False),
        sa.Column("period_start", sa.Date, nullable=False),
        sa.Column("period_end", sa.Date, nullable=False),
        sa.Column("source", sa.String(20), nullable=False),
        sa.Column("parameters", sa.Text, nullable=False),
        sa.CheckConstraint("source IN ('command', 'meeting')", name="ck_snapshot_source"),
    )
    # One command snapshot per (as_of, level); meetings may share a date (two meetings the
    # same day are two snapshots), so the key is a partial unique index, which SQLite (3.8+)
    # and PostgreSQL both support. It backs up the delete-then-insert of store_snapshot.
    op.create_index(
        "ux_snapshot_command", "snapshot", ["as_of", "level"], unique=True,
        sqlite_where=sa.text("source = 'command'"),
        postgresql_where=sa.text("source = 'command'"),
    )
    op.create_table(
        "snapshot_figure",
        sa.Column("figure_id", _BIG_ID, primary_key=True, autoincrement=True),
        sa.Column("snapshot_id", sa.Integer, sa.ForeignKey("snapshot.snapshot_id"),
                  nullable=False),
        sa.Column("indicator_id", sa.String(100), nullable=False),
        sa.Column("area_id", sa.String(100)),  # NULL: the whole registry
        sa.Column("area_name", sa.Text),
        sa.Column("level", sa.Integer),  # NULL on whole-registry rows
        sa.Column("programme_id", sa.String(100)),
        sa.Column("breakdown", sa.String(200)),
        sa.Column("numerator", sa.BigInteger),
        sa.Column("denominator", sa.BigInteger),
        sa.Column("value", sa.Double),
    )
    op.create_index("ix_snapshot_figure_snapshot", "snapshot_figure", ["snapshot_id"])
    op.create_index("ix_snapshot_figure_indicator_area", "snapshot_figure",
                    ["indicator_id", "area_id"])

    op.create_table(
        "meeting",
        sa.Column("meeting_id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("area_id", sa.String(100), nullable=False),
        sa.Column("area_name", sa.Text, nullable=False),
        sa.Column("as_of", sa.Date, nullable=False),
        sa.Column("started_at", sa.DateTime, nullable=False),
        sa.Column("started_by", sa.Text, nullable=False),
        sa.Column("snapshot_id", sa.Integer, sa.ForeignKey("snapshot.snapshot_id"),
                  nullable=False),
        sa.Column("notes", sa.Text),
    )
    op.create_index("ix_meeting_area_started", "meeting", ["area_id", "started_at"])

    op.create_table(
        "action_point",
        sa.Column("action_id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("meeting_id", sa.Integer, sa.ForeignKey("meeting.meeting_id")),
        sa.Column("area_id", sa.String(100), nullable=False),
        sa.Column("text", sa.Text, nullable=False),
        sa.Column("owner", sa.Text, nullable=False),
        sa.Column("due_on", sa.Date, nullable=False),
        sa.Column("status", sa.String(10), nullable=False, server_default="open"),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.Column("created_by", sa.Text, nullable=False),
        sa.Column("closed_at", sa.DateTime),
        sa.Column("closed_by", sa.Text),
        sa.Column("closed_on_meeting_id", sa.Integer, sa.ForeignKey("meeting.meeting_id")),
        sa.CheckConstraint("status IN ('open', 'closed')", name="ck_action_point_status"),
    )
    op.create_index("ix_action_point_area_status", "action_point", ["area_id", "status"])

    # Neither SQLite nor PostgreSQL (without 15's NULLS NOT DISTINCT, which SQLite lacks)
    # treats two NULLs as equal in a unique key, so this constraint does not stop two
    # whole-registry rows (area_id NULL) or two rows without programme for the same key.
    # data_access.targets.store_targets therefore replaces a key by delete-then-insert
    # (IS NULL aware) in one transaction; the constraint guards the fully non-null keys.
    op.create_table(
        "target",
        sa.Column("target_id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("indicator_id", sa.String(100), nullable=False),
        sa.Column("area_id", sa.String(100)),  # NULL: the whole registry
        sa.Column("programme_id", sa.String(100)),
        sa.Column("baseline_on", sa.Date),
        sa.Column("baseline_value", sa.Double),
        sa.Column("target_on", sa.Date, nullable=False),
        sa.Column("target_value", sa.Double, nullable=False),
        sa.Column("imported_at", sa.DateTime, nullable=False),
        sa.UniqueConstraint("indicator_id", "area_id", "programme_id", "target_on",
                            name="uq_target_key"),
    )


def downgrade() -> None:
    op.drop_table("target")
    op.drop_index("ix_action_point_area_status", table_name="action_point")
    op.drop_table("action_point")
    op.drop_index("ix_meeting_area_started", table_name="meeting")
    op.drop_table("meeting")
    op.drop_index("ix_snapshot_figure_indicator_area", table_name="snapshot_figure")
    op.drop_index("ix_snapshot_figure_snapshot", table_name="snapshot_figure")
    op.drop_table("snapshot_figure")
    op.drop_index("ux_snapshot_command", table_name="snapshot")
    op.drop_table("snapshot")
