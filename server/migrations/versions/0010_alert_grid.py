"""alerts: the grid of the household that raised it, a grid manager's scope

Existing alarms take their household's grid now.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-01 15:10:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None
phase = "expand"
"""Expand: a nullable column, its foreign key and a backfill; alarms an old process raises have
no grid until then (server/migrate_check.py)."""


def upgrade() -> None:
    with op.batch_alter_table("alerts", schema=None) as batch_op:
        batch_op.add_column(sa.Column("grid_id", sa.Integer(), nullable=True))
        batch_op.create_foreign_key(
            "fk_alerts_grid_id_grids", "grids", ["grid_id"], ["id"], ondelete="SET NULL"
        )
    op.execute(
        "UPDATE alerts SET grid_id ="
        " (SELECT households.grid_id FROM households WHERE households.id = alerts.household_id)"
    )


def downgrade() -> None:
    with op.batch_alter_table("alerts", schema=None) as batch_op:
        batch_op.drop_constraint("fk_alerts_grid_id_grids", type_="foreignkey")
        batch_op.drop_column("grid_id")
