"""Record linkage learns from decisions: each suspected pair's place in the review queue.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-07

- ``linkage_pair.review_rank``: the pair's rank in the review queue (1: ask first), by how
  much an officer's decision on it would teach the model (linkage.learning.review_ranks);
  NULL for a pair already decided when the run was stored, and for the runs stored before
  this revision (their queue is ordered by closeness to a probability of one half).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    with op.batch_alter_table("linkage_pair") as batch:
        batch.add_column(sa.Column("review_rank", sa.Integer, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("linkage_pair") as batch:
        batch.drop_column("review_rank")
