"""outbox.provider_sid loses its index

No query looks a job up by the provider's id (a receipt names its job), and every press paid for
the index: ten more entries and one more page in its commit.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-29 05:25:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None
phase = "expand"
"""Expand: drops an index no query uses: old code reads and writes as before
(server/migrate_check.py)."""


def upgrade() -> None:
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_outbox_provider_sid"))


def downgrade() -> None:
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_outbox_provider_sid"), ["provider_sid"], unique=False)
