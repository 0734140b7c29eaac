"""Record linkage: runs of the duplicate-finding job, their pairs and evidence, and the
officers' decisions on pairs.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01

- ``linkage_run``: one run of ``python -m linkage`` (when, on how many persons,
  seed, threshold, the trained model and blocking counts as JSON).
- ``linkage_pair``: the pairs a run suspects (match probability at or above its threshold),
  ``person_id_a < person_id_b``, with their cluster and what each person receives.
- ``linkage_evidence``: per pair and comparison, the level reached and its match weight.
- ``linkage_decision``: an officer's decision on a pair (same person / different persons /
  unsure), keyed by the pair, not by a run, so that it holds for every later run.

Timestamps are naive UTC.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | None = None
depends_on: str | None = None

_BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "linkage_run",
        sa.Column("run_id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("started_at", sa.DateTime, nullable=False),
        sa.Column("finished_at", sa.DateTime, nullable=False),
        sa.Column("seconds", sa.Double, nullable=False),
        sa.Column("as_of", sa.Date),
        sa.Column("seed", sa.Integer, nullable=False),
        sa.Column("threshold", sa.Double, nullable=False),
        sa.Column("persons", sa.Integer, nullable=False),
        sa.Column("pairs", sa.Integer, nullable=False),
        sa.Column("clusters", sa.Integer, nullable=False),
        sa.Column("records_in_clusters", sa.Integer, nullable=False),
        sa.Column("model", sa.Text, nullable=False),
    )
    op.create_table(
        "linkage_pair",
        sa.Column("pair_id", _BIG_ID, primary_key=True, autoincrement=True),
        sa.Column("run_id", sa.Integer, sa.ForeignKey("linkage_run.run_id"), nullable=False),
        sa.Column("person_id_a", sa.String(100), nullable=False),
        sa.Column("person_id_b", sa.String(100), nullable=False),
        sa.Column("match_probability", sa.Double, nullable=False),
        sa.Column("match_weight", sa.Double, nullable=False),
        sa.Column("blocked_by", sa.String(100)),
        sa.Column("cluster_id", sa.String(100), nullable=False),
        sa.Column("area_id_a", sa.String(100)),
        sa.Column("programmes_a", sa.Text),
        sa.Column("programmes_b", sa.Text),
        sa.Column("cross_programme", sa.Boolean, nullable=False),
        sa.Column("same_programme", sa.Boolean, nullable=False),
        sa.UniqueConstraint("run_id", "person_id_a", "person_id_b", name="uq_linkage_pair"),
        sa.CheckConstraint("person_id_a < person_id_b", name="ck_linkage_pair_order"),
    )
    op.create_index("ix_linkage_pair_persons", "linkage_pair", ["person_id_a", "person_id_b"])
    op.create_table(
        "linkage_evidence",
        sa.Column("run_id", sa.Integer, sa.ForeignKey("linkage_run.run_id"), primary_key=True),
        sa.Column("person_id_a", sa.String(100), primary_key=True),
        sa.Column("person_id_b", sa.String(100), primary_key=True),
        sa.Column("comparison", sa.String(50), primary_key=True),
        sa.Column("level", sa.Integer, nullable=False),
        sa.Column("label", sa.Text, nullable=False),
        sa.Column("match_weight", sa.Double),
    )
    op.create_table(
        "linkage_decision",
        sa.Column("person_id_a", sa.String(100), primary_key=True),
        sa.Column("person_id_b", sa.String(100), primary_key=True),
        sa.Column("decision", sa.String(10), nullable=False),
        sa.Column("note", sa.Text),
        sa.Column("decided_by", sa.Text, nullable=False),
        sa.Column("decided_at", sa.DateTime, nullable=False),
        sa.Column("run_id", sa.Integer, sa.ForeignKey("linkage_run.run_id")),
        sa.Column("match_probability", sa.Double),
        sa.Column("blind", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.CheckConstraint("decision IN ('same', 'different', 'unsure')",
                           name="ck_linkage_decision"),
        sa.CheckConstraint("person_id_a < person_id_b", name="ck_linkage_decision_order"),
    )


def downgrade() -> None:
    op.drop_table("linkage_decision")
    op.drop_table("linkage_evidence")
    op.drop_index("ix_linkage_pair_persons", table_name="linkage_pair")
    op.drop_table("linkage_pair")
    op.drop_table("linkage_run")
