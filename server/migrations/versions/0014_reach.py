"""reach: sockets open per process (presence), processes' signs of life, and the routine
button tests of households' channels

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-01 18:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None
phase = "expand"
"""Expand: new tables (server/migrate_check.py)."""


def upgrade() -> None:
    op.create_table(
        "reach_processes",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name"),
    )
    op.create_table(
        "reach_presence",
        sa.Column("process", sa.String(length=64), nullable=False),
        sa.Column("credential_id", sa.Integer(), nullable=False),
        sa.Column("sockets", sa.Integer(), nullable=False),
        sa.Column("since", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("process", "credential_id"),
    )
    op.create_index(
        "ix_reach_presence_credential_id", "reach_presence", ["credential_id"], unique=False
    )
    op.create_table(
        "household_tests",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("community_id", sa.Integer(), nullable=False),
        sa.Column("household_id", sa.Integer(), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("started_by", sa.String(length=100), nullable=False),
        sa.ForeignKeyConstraint(["community_id"], ["communities.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["household_id"], ["households.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        "ix_household_tests_household", "household_tests", ["household_id", "id"], unique=False
    )
    op.create_table(
        "household_test_checks",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("test_id", sa.Integer(), nullable=False),
        sa.Column("channel", sa.String(length=10), nullable=False),
        sa.Column("target", sa.String(length=100), nullable=True),
        sa.Column("outbox_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("result", sa.String(length=10), nullable=False),
        sa.Column("reason", sa.String(length=200), nullable=True),
        sa.Column("checked_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["test_id"], ["household_tests.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["outbox_id"], ["outbox.id"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        "ix_household_test_checks_test_id", "household_test_checks", ["test_id"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_household_test_checks_test_id", table_name="household_test_checks")
    op.drop_table("household_test_checks")
    op.drop_index("ix_household_tests_household", table_name="household_tests")
    op.drop_table("household_tests")
    op.drop_index("ix_reach_presence_credential_id", table_name="reach_presence")
    op.drop_table("reach_presence")
    op.drop_table("reach_processes")
