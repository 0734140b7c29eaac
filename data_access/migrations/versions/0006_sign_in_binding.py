"""Sessions bound to the browser they were opened in.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-07

- ``sessions.browser_hash``: the SHA-256 of the key of the browser a session was opened in
  (an HTTP-only cookie, ui/http_guard.py). A session presented with another key, or none,
  is ended (data_access.users.resume_session): a Streamlit session id replayed from another
  browser no longer carries the sign-in with it. NULL for sessions opened without a browser
  (command-line tools, tests) and for those opened before this revision, which can then be
  resumed only without a browser key: they end at their expiry.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    with op.batch_alter_table("sessions") as batch:
        batch.add_column(sa.Column("browser_hash", sa.String(64)))


def downgrade() -> None:
    with op.batch_alter_table("sessions") as batch:
        batch.drop_column("browser_hash")
