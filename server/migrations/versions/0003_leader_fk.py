"""groups.leader_household_id gets its foreign key on PostgreSQL

0001 declared it with use_alter=True inside create_table, which leaves out a constraint that
needs an ALTER (PostgreSQL) and writes it inline where there is none (SQLite). Leaders that name
no household are cleared first, as the constraint's ON DELETE SET NULL would have done.

Revision ID: 0003
Revises: 0002_phone
Create Date: 2026-11-29 05:20:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0003"
down_revision: str | None = "0002_phone"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None
phase = "expand"
"""Expand: a foreign key on a column old code already kept to real households (0001 declared it)
(server/migrate_check.py)."""

NAME = "fk_groups_leader_household_id_households"


def upgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        return
    op.execute(
        "UPDATE groups SET leader_household_id = NULL WHERE leader_household_id IS NOT NULL"
        " AND NOT EXISTS"
        " (SELECT 1 FROM households WHERE households.id = groups.leader_household_id)"
    )
    op.create_foreign_key(
        NAME, "groups", "households", ["leader_household_id"], ["id"], ondelete="SET NULL"
    )


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        return
    op.drop_constraint(NAME, "groups", type_="foreignkey")
