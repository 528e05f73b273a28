"""outbox: when a job's send started, and whose claim holds it

`send_started_at` is written before a text or call goes to the provider, so after a crash only
the jobs whose send really started are looked up at the provider; `claimed_by` names the claim
that holds a job, so a worker that lost its lease neither renews nor records over the next one.
Jobs left "sending" by a worker of the old schema may have gone out: they are marked started at
their creation, so the next worker looks them up before sending.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01 12:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None
phase = "expand"
"""Expand: nullable columns; a job an old worker leaves sending is not looked up after a crash,
so roll the workers soon after (server/migrate_check.py)."""


def upgrade() -> None:
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.add_column(sa.Column("send_started_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("claimed_by", sa.String(length=64), nullable=True))
    op.execute("UPDATE outbox SET send_started_at = created_at WHERE status = 'sending'")


def downgrade() -> None:
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.drop_column("claimed_by")
        batch_op.drop_column("send_started_at")
