"""Baseline: the store_info table (key, value) describing the app store itself.

Revision ID: 0001
Revises:
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0001"
down_revision: str | None = None
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    store_info = op.create_table(
        "store_info",
        sa.Column("key", sa.String(100), primary_key=True),
        sa.Column("value", sa.Text, nullable=False),
    )
    op.bulk_insert(store_info, [{"key": "application", "value": "socle"}])


def downgrade() -> None:
    op.drop_table("store_info")
