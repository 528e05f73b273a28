"""phone: alarm numbers, the inbound call/text log, unidentified callers, outbox lookups

Revision ID: 0002_phone
Revises: 0002
Create Date: 2026-11-28 18:38:47.861533
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002_phone"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None
phase = "expand"
"""Expand: new tables; a nullable column and one with a server default
(server/migrate_check.py)."""


def upgrade() -> None:
    op.create_table(
        "alarm_numbers",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("number", sa.String(length=20), nullable=False),
        sa.Column("community_id", sa.Integer(), nullable=False),
        sa.Column("group_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["community_id"],
            ["communities.id"],
            name=op.f("fk_alarm_numbers_community_id_communities"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["group_id"],
            ["groups.id"],
            name=op.f("fk_alarm_numbers_group_id_groups"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alarm_numbers")),
        sa.UniqueConstraint("number", name=op.f("uq_alarm_numbers_number")),
    )
    with op.batch_alter_table("alarm_numbers", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_alarm_numbers_community_id"), ["community_id"], unique=False
        )

    op.create_table(
        "phone_inbound",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("provider_sid", sa.String(length=64), nullable=False),
        sa.Column("channel", sa.String(length=10), nullable=False),
        sa.Column("from_number", sa.String(length=20), nullable=False),
        sa.Column("to_number", sa.String(length=20), nullable=False),
        sa.Column("body", sa.Text(), nullable=True),
        sa.Column("alert_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["alert_id"],
            ["alerts.id"],
            name=op.f("fk_phone_inbound_alert_id_alerts"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_phone_inbound")),
        sa.UniqueConstraint("provider_sid", name=op.f("uq_phone_inbound_provider_sid")),
    )
    with op.batch_alter_table("alerts", schema=None) as batch_op:
        batch_op.add_column(sa.Column("caller", sa.String(length=20), nullable=True))

    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("maybe_sent", sa.Boolean(), server_default=sa.false(), nullable=False)
        )


def downgrade() -> None:
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.drop_column("maybe_sent")

    with op.batch_alter_table("alerts", schema=None) as batch_op:
        batch_op.drop_column("caller")

    op.drop_table("phone_inbound")
    with op.batch_alter_table("alarm_numbers", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_alarm_numbers_community_id"))

    op.drop_table("alarm_numbers")
