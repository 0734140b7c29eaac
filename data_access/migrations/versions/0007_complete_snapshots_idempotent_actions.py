"""Snapshot runs complete or invisible; action points with an idempotency key.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-07

- ``snapshot.run_id`` and ``snapshot.complete``: a run of the snapshot command (every date
  and level it computes) writes its snapshots with ``complete`` false, then, in one last
  transaction, replaces the older command snapshots of those dates and levels and marks its
  own complete. Readers only see complete snapshots, so a run killed midway leaves nothing
  visible: no as-of date with levels from two runs. Rows written before this revision,
  meeting snapshots and single stores are complete (server default true).
  The one-command-snapshot-per-(as_of, level) index now counts complete snapshots only, so
  a run in progress may write beside the snapshots it will replace.
- ``action_point.idempotency_key``: the key the form draws with the point; adding again
  with the same key (a retried "Add") finds the point instead of writing a second one.
  Unique where set (both databases treat NULLs as distinct: older points have none).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    with op.batch_alter_table("snapshot") as batch:
        batch.add_column(sa.Column("run_id", sa.String(32)))
        batch.add_column(sa.Column("complete", sa.Boolean, nullable=False,
                                   server_default=sa.true()))
    op.drop_index("ux_snapshot_command", table_name="snapshot")
    op.create_index(
        "ux_snapshot_command", "snapshot", ["as_of", "level"], unique=True,
        sqlite_where=sa.text("source = 'command' AND complete"),
        postgresql_where=sa.text("source = 'command' AND complete"),
    )
    op.create_index("ix_snapshot_run", "snapshot", ["run_id"])

    with op.batch_alter_table("action_point") as batch:
        batch.add_column(sa.Column("idempotency_key", sa.String(64)))
    op.create_index("ux_action_point_idempotency", "action_point", ["idempotency_key"],
                    unique=True)


def downgrade() -> None:
    op.drop_index("ux_action_point_idempotency", table_name="action_point")
    with op.batch_alter_table("action_point") as batch:
        batch.drop_column("idempotency_key")
    op.drop_index("ix_snapshot_run", table_name="snapshot")
    op.drop_index("ux_snapshot_command", table_name="snapshot")
    # Incomplete snapshots have no place in the old schema.
    op.execute("DELETE FROM snapshot_figure WHERE snapshot_id IN "
               "(SELECT snapshot_id FROM snapshot WHERE NOT complete)")
    op.execute("DELETE FROM snapshot WHERE NOT complete")
    op.create_index(
        "ux_snapshot_command", "snapshot", ["as_of", "level"], unique=True,
        sqlite_where=sa.text("source = 'command'"),
        postgresql_where=sa.text("source = 'command'"),
    )
    with op.batch_alter_table("snapshot") as batch:
        batch.drop_column("complete")
        batch.drop_column("run_id")
