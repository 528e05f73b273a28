"""alerts: the moment a duress cancel was shown, and a household's recent cancels

`shown_cancelled_at` is when a raiser under duress was shown the alarm cancelled: the raiser's
and the group's view of it stays frozen there, as a real cancel's does, however the patrol goes
on. `ix_alerts_household_closed` finds a household's alarm cancelled moments ago, so that a
press right after it re-alerts without texting everyone again.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02 12:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None
phase = "expand"
"""Expand: a nullable column and an index (server/migrate_check.py)."""


def upgrade() -> None:
    with op.batch_alter_table("alerts", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("shown_cancelled_at", sa.DateTime(timezone=True), nullable=True)
        )
        batch_op.create_index(
            "ix_alerts_household_closed", ["household_id", "closed_at"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("alerts", schema=None) as batch_op:
        batch_op.drop_index("ix_alerts_household_closed")
        batch_op.drop_column("shown_cancelled_at")
