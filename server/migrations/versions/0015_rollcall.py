"""rollcall: roll calls (平安报) and the households each asks; events of no alarm

A roll call's events (asked, answered, called, closed) are stored and replayed like an alarm's,
on the same channels, with no alarm: alert_events.alert_id may be null.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-01 17:45:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None
phase = "expand"
"""Expand: new tables; alert_events.alert_id becomes nullable (a relaxation): only new code
writes events of no alarm (server/migrate_check.py)."""

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "rollcalls",
        sa.Column("id", _ID, nullable=False),
        sa.Column("community_id", sa.Integer(), nullable=False),
        sa.Column("scope", sa.String(length=10), nullable=False),
        sa.Column("building", sa.String(length=20), nullable=True),
        sa.Column("grid_id", sa.Integer(), nullable=True),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("started_by", sa.String(length=100), nullable=False),
        sa.Column("started_by_staff_id", sa.Integer(), nullable=True),
        sa.Column("call_due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("called_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("closed_by", sa.String(length=100), nullable=True),
        sa.ForeignKeyConstraint(["community_id"], ["communities.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["grid_id"], ["grids.id"], ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["started_by_staff_id"], ["staff.id"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_rollcalls_open", "rollcalls", ["closed_at", "call_due_at"], unique=False)
    op.create_table(
        "rollcall_households",
        sa.Column("rollcall_id", _ID, nullable=False),
        sa.Column("household_id", sa.Integer(), nullable=False),
        sa.Column("group_id", sa.Integer(), nullable=True),
        sa.Column("address", sa.String(length=40), nullable=False),
        sa.Column("building", sa.String(length=20), nullable=False),
        sa.Column("unit", sa.Integer(), nullable=False),
        sa.Column("floor", sa.Integer(), nullable=False),
        sa.Column("room", sa.Integer(), nullable=False),
        sa.Column("answer", sa.String(length=4), nullable=True),
        sa.Column("answered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("channel", sa.String(length=10), nullable=True),
        sa.Column("alert_id", _ID, nullable=True),
        sa.Column("called", sa.Boolean(), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=True),
        sa.ForeignKeyConstraint(["rollcall_id"], ["rollcalls.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["household_id"], ["households.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["group_id"], ["groups.id"], ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["alert_id"], ["alerts.id"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("rollcall_id", "household_id"),
    )
    op.create_index(
        "ix_rollcall_households_household",
        "rollcall_households",
        ["household_id", "rollcall_id"],
        unique=False,
    )
    with op.batch_alter_table("alert_events", schema=None) as batch_op:
        batch_op.alter_column("alert_id", existing_type=_ID, nullable=True)


def downgrade() -> None:
    op.execute("DELETE FROM alert_events WHERE alert_id IS NULL")
    with op.batch_alter_table("alert_events", schema=None) as batch_op:
        batch_op.alter_column("alert_id", existing_type=_ID, nullable=False)
    op.drop_index("ix_rollcall_households_household", table_name="rollcall_households")
    op.drop_table("rollcall_households")
    op.drop_index("ix_rollcalls_open", table_name="rollcalls")
    op.drop_table("rollcalls")
