"""The language an account chose for the interface.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-07

- ``users.language``: the language code the user last chose in the sidebar (``fr``, ``ur``,
  ...); NULL until they choose one, when ``[app] language`` applies. Restored at sign-in.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    # Batch mode: SQLite adds a nullable column in place, PostgreSQL with ALTER TABLE.
    with op.batch_alter_table("users") as batch:
        batch.add_column(sa.Column("language", sa.String(16)))


def downgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.drop_column("language")
