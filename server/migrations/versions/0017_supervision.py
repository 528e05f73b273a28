"""supervision: the silent test alarm of each round, and its outbox job of no community

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-01 21:15:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0017"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None
phase = "expand"
"""Expand: a new table, and the outbox's community may be null (old code still gives one)."""

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "supervision_probes",
        sa.Column("id", _ID, nullable=False),
        sa.Column("process", sa.String(length=64), nullable=False),
        sa.Column("outbox_id", _ID, nullable=True),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        "ix_supervision_probes_started_at", "supervision_probes", ["started_at"], unique=False
    )
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.alter_column("community_id", existing_type=sa.Integer(), nullable=True)


def downgrade() -> None:
    op.execute("DELETE FROM outbox WHERE community_id IS NULL")
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.alter_column("community_id", existing_type=sa.Integer(), nullable=False)
    op.drop_index("ix_supervision_probes_started_at", table_name="supervision_probes")
    op.drop_table("supervision_probes")
