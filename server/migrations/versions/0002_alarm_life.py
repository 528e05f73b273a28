"""alarm life

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-28 18:35:55.455835
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None
phase = "expand"
"""Expand: new tables; new columns nullable or with a server default, which old inserts take
(server/migrate_check.py)."""


def upgrade() -> None:
    op.create_table(
        "escalation_policies",
        sa.Column("community_id", sa.Integer(), nullable=False),
        sa.Column("quorum", sa.Integer(), nullable=False),
        sa.Column("quorum_seconds", sa.Integer(), nullable=False),
        sa.Column("patrol_seconds", sa.Integer(), nullable=False),
        sa.Column("repeat_seconds", sa.Integer(), nullable=False),
        sa.Column("max_cycles", sa.Integer(), nullable=False),
        sa.Column("cancel_seconds", sa.Integer(), nullable=False),
        sa.Column("confirm_seconds", sa.Integer(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["community_id"],
            ["communities.id"],
            name=op.f("fk_escalation_policies_community_id_communities"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("community_id", name=op.f("pk_escalation_policies")),
    )
    op.create_table(
        "duty_overrides",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("community_id", sa.Integer(), nullable=False),
        sa.Column("staff_id", sa.Integer(), nullable=False),
        sa.Column("starts_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ends_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("on_duty", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["community_id"],
            ["communities.id"],
            name=op.f("fk_duty_overrides_community_id_communities"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["staff_id"],
            ["staff.id"],
            name=op.f("fk_duty_overrides_staff_id_staff"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_duty_overrides")),
    )
    with op.batch_alter_table("duty_overrides", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_duty_overrides_community_id"), ["community_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_duty_overrides_staff_id"), ["staff_id"], unique=False)

    op.create_table(
        "duty_shifts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("community_id", sa.Integer(), nullable=False),
        sa.Column("staff_id", sa.Integer(), nullable=False),
        sa.Column("weekday", sa.Integer(), nullable=False),
        sa.Column("starts_minute", sa.Integer(), nullable=False),
        sa.Column("ends_minute", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["community_id"],
            ["communities.id"],
            name=op.f("fk_duty_shifts_community_id_communities"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["staff_id"],
            ["staff.id"],
            name=op.f("fk_duty_shifts_staff_id_staff"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_duty_shifts")),
    )
    with op.batch_alter_table("duty_shifts", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_duty_shifts_community_id"), ["community_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_duty_shifts_staff_id"), ["staff_id"], unique=False)

    op.create_table(
        "alert_deadlines",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("community_id", sa.Integer(), nullable=False),
        sa.Column("alert_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("cycle", sa.Integer(), nullable=False),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("done_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("outcome", sa.String(length=12), nullable=True),
        sa.ForeignKeyConstraint(
            ["alert_id"],
            ["alerts.id"],
            name=op.f("fk_alert_deadlines_alert_id_alerts"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["community_id"],
            ["communities.id"],
            name=op.f("fk_alert_deadlines_community_id_communities"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alert_deadlines")),
    )
    with op.batch_alter_table("alert_deadlines", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_alert_deadlines_alert_id"), ["alert_id"], unique=False)
        batch_op.create_index("ix_alert_deadlines_due", ["done_at", "due_at"], unique=False)

    op.create_table(
        "alert_groups",
        sa.Column("alert_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("group_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["alert_id"],
            ["alerts.id"],
            name=op.f("fk_alert_groups_alert_id_alerts"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["group_id"],
            ["groups.id"],
            name=op.f("fk_alert_groups_group_id_groups"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("alert_id", "group_id", name=op.f("pk_alert_groups")),
    )
    with op.batch_alter_table("alert_groups", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_alert_groups_group_id"), ["group_id"], unique=False)

    op.create_table(
        "alert_responses",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("alert_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("household_id", sa.Integer(), nullable=False),
        sa.Column("resident_id", sa.Integer(), nullable=True),
        sa.Column("answer", sa.String(length=12), nullable=False),
        sa.Column("channel", sa.String(length=10), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["alert_id"],
            ["alerts.id"],
            name=op.f("fk_alert_responses_alert_id_alerts"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["household_id"],
            ["households.id"],
            name=op.f("fk_alert_responses_household_id_households"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["resident_id"],
            ["residents.id"],
            name=op.f("fk_alert_responses_resident_id_residents"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alert_responses")),
        sa.UniqueConstraint("alert_id", "household_id", name=op.f("uq_alert_responses_alert_id")),
    )
    op.create_table(
        "idempotency_keys",
        sa.Column("resident_id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=100), nullable=False),
        sa.Column("alert_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["alert_id"],
            ["alerts.id"],
            name=op.f("fk_idempotency_keys_alert_id_alerts"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["resident_id"],
            ["residents.id"],
            name=op.f("fk_idempotency_keys_resident_id_residents"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("resident_id", "key", name=op.f("pk_idempotency_keys")),
    )
    with op.batch_alter_table("alert_events", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("audience", sa.String(length=5), nullable=False, server_default="all")
        )

    with op.batch_alter_table("alerts", schema=None) as batch_op:
        batch_op.add_column(sa.Column("address", sa.String(length=40), nullable=True))
        batch_op.add_column(sa.Column("drill_label", sa.String(length=100), nullable=True))
        batch_op.add_column(sa.Column("presses", sa.Integer(), nullable=False, server_default="1"))
        batch_op.add_column(
            sa.Column("neighbours", sa.Integer(), nullable=False, server_default="0")
        )
        batch_op.add_column(sa.Column("coming", sa.Integer(), nullable=False, server_default="0"))
        batch_op.add_column(
            sa.Column("duress", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch_op.add_column(
            sa.Column("masked", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch_op.add_column(
            sa.Column("pin_failures", sa.Integer(), nullable=False, server_default="0")
        )
        batch_op.add_column(
            sa.Column("confirmed", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch_op.add_column(
            sa.Column(
                "linked_alert_id",
                sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
                nullable=True,
            )
        )
        batch_op.add_column(
            sa.Column("widened", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch_op.add_column(
            sa.Column("patrol_cycles", sa.Integer(), nullable=False, server_default="0")
        )
        batch_op.add_column(sa.Column("taken_by_staff_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("taken_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("on_scene_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("outcome", sa.String(length=20), nullable=True))
        batch_op.add_column(sa.Column("note", sa.Text(), nullable=True))
        batch_op.create_index("ix_alerts_group_open", ["group_id", "status"], unique=False)
        batch_op.create_foreign_key(
            batch_op.f("fk_alerts_linked_alert_id_alerts"),
            "alerts",
            ["linked_alert_id"],
            ["id"],
            ondelete="SET NULL",
        )
        batch_op.create_foreign_key(
            batch_op.f("fk_alerts_taken_by_staff_id_staff"),
            "staff",
            ["taken_by_staff_id"],
            ["id"],
            ondelete="SET NULL",
        )

    with op.batch_alter_table("communities", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "timezone", sa.String(length=40), nullable=False, server_default="Asia/Shanghai"
            )
        )

    with op.batch_alter_table("households", schema=None) as batch_op:
        batch_op.add_column(sa.Column("pin_hash", sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column("duress_pin_hash", sa.String(length=200), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("households", schema=None) as batch_op:
        batch_op.drop_column("duress_pin_hash")
        batch_op.drop_column("pin_hash")

    with op.batch_alter_table("communities", schema=None) as batch_op:
        batch_op.drop_column("timezone")

    with op.batch_alter_table("alerts", schema=None) as batch_op:
        batch_op.drop_constraint(
            batch_op.f("fk_alerts_taken_by_staff_id_staff"), type_="foreignkey"
        )
        batch_op.drop_constraint(batch_op.f("fk_alerts_linked_alert_id_alerts"), type_="foreignkey")
        batch_op.drop_index("ix_alerts_group_open")
        batch_op.drop_column("note")
        batch_op.drop_column("outcome")
        batch_op.drop_column("on_scene_at")
        batch_op.drop_column("taken_at")
        batch_op.drop_column("taken_by_staff_id")
        batch_op.drop_column("patrol_cycles")
        batch_op.drop_column("widened")
        batch_op.drop_column("linked_alert_id")
        batch_op.drop_column("confirmed")
        batch_op.drop_column("masked")
        batch_op.drop_column("pin_failures")
        batch_op.drop_column("duress")
        batch_op.drop_column("coming")
        batch_op.drop_column("neighbours")
        batch_op.drop_column("presses")
        batch_op.drop_column("drill_label")
        batch_op.drop_column("address")

    with op.batch_alter_table("alert_events", schema=None) as batch_op:
        batch_op.drop_column("audience")

    op.drop_table("idempotency_keys")
    op.drop_table("alert_responses")
    with op.batch_alter_table("alert_groups", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_alert_groups_group_id"))

    op.drop_table("alert_groups")
    with op.batch_alter_table("alert_deadlines", schema=None) as batch_op:
        batch_op.drop_index("ix_alert_deadlines_due")
        batch_op.drop_index(batch_op.f("ix_alert_deadlines_alert_id"))

    op.drop_table("alert_deadlines")
    with op.batch_alter_table("duty_shifts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_duty_shifts_staff_id"))
        batch_op.drop_index(batch_op.f("ix_duty_shifts_community_id"))

    op.drop_table("duty_shifts")
    with op.batch_alter_table("duty_overrides", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_duty_overrides_staff_id"))
        batch_op.drop_index(batch_op.f("ix_duty_overrides_community_id"))

    op.drop_table("duty_overrides")
    op.drop_table("escalation_policies")
