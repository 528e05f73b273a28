"""register: the audit log, households' responder context, staff language, consent

The register kept in a browser (docs/register.md): every admin action is recorded in
`audit_log`; a household carries what responders need to know (spare-key holder, a mobility or
medical note, away until); staff have a language like households; residents and staff record
when they consented to what is kept about them.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-10 12:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None
phase = "contract"
"""Contract: staff.language is NOT NULL and its server default is dropped at the end: a process
of the release before that adds a staff member leaves it out and is refused
(server/migrate_check.py)."""


def upgrade() -> None:
    op.create_table(
        "audit_log",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("community_id", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(length=100), nullable=False),
        sa.Column("actor_kind", sa.String(length=20), nullable=False),
        sa.Column("actor_id", sa.Integer(), nullable=True),
        sa.Column("action", sa.String(length=40), nullable=False),
        sa.Column("subject", sa.String(length=200), nullable=False),
        sa.Column("before", sa.JSON(), nullable=True),
        sa.Column("after", sa.JSON(), nullable=True),
        sa.Column("note", sa.String(length=500), nullable=True),
        sa.ForeignKeyConstraint(
            ["community_id"],
            ["communities.id"],
            name=op.f("fk_audit_log_community_id_communities"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_log")),
    )
    with op.batch_alter_table("audit_log", schema=None) as batch_op:
        batch_op.create_index("ix_audit_log_community_at", ["community_id", "at"], unique=False)
    with op.batch_alter_table("groups", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("leader_chosen_at", sa.DateTime(timezone=True), nullable=True)
        )
    with op.batch_alter_table("households", schema=None) as batch_op:
        batch_op.add_column(sa.Column("spare_key_holder", sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column("care_note", sa.String(length=500), nullable=True))
        batch_op.add_column(sa.Column("away_until", sa.Date(), nullable=True))
    with op.batch_alter_table("residents", schema=None) as batch_op:
        batch_op.add_column(sa.Column("consented_at", sa.DateTime(timezone=True), nullable=True))
    with op.batch_alter_table("staff", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("language", sa.String(length=8), nullable=False, server_default="zh")
        )
        batch_op.add_column(sa.Column("consented_at", sa.DateTime(timezone=True), nullable=True))
    with op.batch_alter_table("staff", schema=None) as batch_op:
        batch_op.alter_column("language", server_default=None)


def downgrade() -> None:
    with op.batch_alter_table("staff", schema=None) as batch_op:
        batch_op.drop_column("consented_at")
        batch_op.drop_column("language")
    with op.batch_alter_table("residents", schema=None) as batch_op:
        batch_op.drop_column("consented_at")
    with op.batch_alter_table("households", schema=None) as batch_op:
        batch_op.drop_column("away_until")
        batch_op.drop_column("care_note")
        batch_op.drop_column("spare_key_holder")
    with op.batch_alter_table("groups", schema=None) as batch_op:
        batch_op.drop_column("leader_chosen_at")
    with op.batch_alter_table("audit_log", schema=None) as batch_op:
        batch_op.drop_index("ix_audit_log_community_at")
    op.drop_table("audit_log")
