"""Machines: registry, live state, events, sessions, commands, maintenance, alerts, resource blocks.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27 06:59:58.562856
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:

    op.create_table(
        "jobrun",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("job_id", sa.String(length=64), nullable=False),
        sa.Column("worker", sa.String(length=128), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("ok", sa.Boolean(), nullable=False),
        sa.Column("detail", sa.String(length=500), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("jobrun", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_jobrun_job_id"), ["job_id"], unique=False)

    op.create_table(
        "seqcursor",
        sa.Column("gateway_id", sa.String(length=64), nullable=False),
        sa.Column("machine_id", sa.String(length=64), nullable=False),
        sa.Column("boot_id", sa.String(length=64), nullable=False),
        sa.Column("last_seq", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("gateway_id", "machine_id", "boot_id"),
    )
    op.create_table(
        "gateway",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("site_id", sa.String(length=64), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("boot_id", sa.String(length=64), nullable=True),
        sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["site_id"],
            ["site.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "machine",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("site_id", sa.String(length=64), nullable=False),
        sa.Column("gateway_id", sa.String(length=64), nullable=False),
        sa.Column("adapter", sa.String(length=16), nullable=False),
        sa.Column("offline_after_s", sa.Integer(), nullable=False),
        sa.Column("grace_s", sa.Integer(), nullable=False),
        sa.Column("busy_on_w", sa.Float(), nullable=True),
        sa.Column("busy_off_w", sa.Float(), nullable=True),
        sa.Column("runtime_s", sa.Integer(), nullable=False),
        sa.Column("jobs", sa.Integer(), nullable=False),
        sa.Column("energy_wh", sa.Float(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("activity", sa.String(length=16), nullable=False),
        sa.Column("online", sa.Boolean(), nullable=False),
        sa.Column("session_id", sa.String(length=64), nullable=True),
        sa.Column("member_id", sa.String(length=64), nullable=True),
        sa.Column("booking_id", sa.String(length=32), nullable=True),
        sa.Column("since", sa.DateTime(timezone=True), nullable=False),
        sa.Column("deadline", sa.DateTime(timezone=True), nullable=True),
        sa.Column("rev", sa.Integer(), nullable=False),
        sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("power_w", sa.Float(), nullable=True),
        sa.Column("fault_code", sa.String(length=64), nullable=True),
        sa.Column("fault_message", sa.String(length=500), nullable=True),
        sa.Column("shown", sa.String(length=400), nullable=False),
        sa.ForeignKeyConstraint(
            ["id"],
            ["resource.id"],
        ),
        sa.ForeignKeyConstraint(
            ["site_id"],
            ["site.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("machine", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_machine_gateway_id"), ["gateway_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_machine_site_id"), ["site_id"], unique=False)

    op.create_table(
        "resourceblock",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("resource_id", sa.String(length=64), nullable=False),
        sa.Column("reason", sa.String(length=16), nullable=False),
        sa.Column("message", sa.String(length=500), nullable=False),
        sa.Column("start_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("end_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("cleared_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["resource_id"],
            ["resource.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("resourceblock", schema=None) as batch_op:
        batch_op.create_index("ix_resourceblock_resource", ["resource_id", "cleared_at"], unique=False)

    op.create_table(
        "deviceevent",
        sa.Column("event_id", sa.String(length=64), nullable=False),
        sa.Column("machine_id", sa.String(length=64), nullable=False),
        sa.Column("gateway_id", sa.String(length=64), nullable=False),
        sa.Column("boot_id", sa.String(length=64), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("type", sa.String(length=32), nullable=False),
        sa.Column("ts", sa.DateTime(timezone=True), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["machine_id"],
            ["machine.id"],
        ),
        sa.PrimaryKeyConstraint("event_id"),
    )
    with op.batch_alter_table("deviceevent", schema=None) as batch_op:
        batch_op.create_index("ix_deviceevent_machine_ts", ["machine_id", "ts"], unique=False)

    op.create_table(
        "machinecommand",
        sa.Column("cmd_id", sa.String(length=64), nullable=False),
        sa.Column("machine_id", sa.String(length=64), nullable=False),
        sa.Column("cmd", sa.String(length=16), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("result", sa.String(length=16), nullable=True),
        sa.Column("acked_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["machine_id"],
            ["machine.id"],
        ),
        sa.PrimaryKeyConstraint("cmd_id"),
    )
    with op.batch_alter_table("machinecommand", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_machinecommand_machine_id"), ["machine_id"], unique=False)

    op.create_table(
        "maintenanceplan",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("machine_id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("every_runtime_h", sa.Float(), nullable=True),
        sa.Column("every_jobs", sa.Integer(), nullable=True),
        sa.Column("every_days", sa.Integer(), nullable=True),
        sa.Column("last_done_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("runtime_s_at_done", sa.Integer(), nullable=False),
        sa.Column("jobs_at_done", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["machine_id"],
            ["machine.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("maintenanceplan", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_maintenanceplan_machine_id"), ["machine_id"], unique=False)

    op.create_table(
        "alert",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("site_id", sa.String(length=64), nullable=False),
        sa.Column("machine_id", sa.String(length=64), nullable=True),
        sa.Column("plan_id", sa.Integer(), nullable=True),
        sa.Column("member_id", sa.String(length=64), nullable=True),
        sa.Column("message", sa.String(length=1000), nullable=False),
        sa.Column("open_key", sa.String(length=200), nullable=True),
        sa.Column("opened_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("acknowledged_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("acknowledged_by", sa.String(length=64), nullable=True),
        sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("resolved_by", sa.String(length=64), nullable=True),
        sa.Column("note", sa.String(length=1000), nullable=False),
        sa.ForeignKeyConstraint(
            ["machine_id"],
            ["machine.id"],
        ),
        sa.ForeignKeyConstraint(
            ["plan_id"],
            ["maintenanceplan.id"],
        ),
        sa.ForeignKeyConstraint(
            ["site_id"],
            ["site.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("open_key"),
    )
    with op.batch_alter_table("alert", schema=None) as batch_op:
        batch_op.create_index("ix_alert_site_opened", ["site_id", "opened_at"], unique=False)

    op.create_table(
        "maintenancelog",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("plan_id", sa.Integer(), nullable=False),
        sa.Column("machine_id", sa.String(length=64), nullable=False),
        sa.Column("done_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("done_by", sa.String(length=64), nullable=False),
        sa.Column("note", sa.String(length=1000), nullable=False),
        sa.ForeignKeyConstraint(
            ["machine_id"],
            ["machine.id"],
        ),
        sa.ForeignKeyConstraint(
            ["plan_id"],
            ["maintenanceplan.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("maintenancelog", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_maintenancelog_plan_id"), ["plan_id"], unique=False)

    op.create_table(
        "usagesession",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("machine_id", sa.String(length=64), nullable=False),
        sa.Column("external_id", sa.String(length=64), nullable=False),
        sa.Column("member_id", sa.String(length=64), nullable=True),
        sa.Column("booking_id", sa.String(length=32), nullable=True),
        sa.Column("card_uid", sa.String(length=64), nullable=True),
        sa.Column("quota_group", sa.String(length=64), nullable=True),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("duration_s", sa.Float(), nullable=True),
        sa.Column("busy_s", sa.Float(), nullable=True),
        sa.Column("energy_wh", sa.Float(), nullable=True),
        sa.Column("stop_type", sa.String(length=16), nullable=True),
        sa.Column("busy_so_far_s", sa.Float(), nullable=False),
        sa.Column("busy_since", sa.DateTime(timezone=True), nullable=True),
        sa.Column("warned_quota", sa.Boolean(), nullable=False),
        sa.Column("warned_end", sa.Boolean(), nullable=False),
        sa.Column("lock_sent", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["booking_id"],
            ["booking.id"],
        ),
        sa.ForeignKeyConstraint(
            ["machine_id"],
            ["machine.id"],
        ),
        sa.ForeignKeyConstraint(
            ["member_id"],
            ["member.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("machine_id", "external_id", name="uq_usagesession_machine_external"),
    )
    with op.batch_alter_table("usagesession", schema=None) as batch_op:
        batch_op.create_index("ix_usagesession_machine_started", ["machine_id", "started_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_usagesession_member_id"), ["member_id"], unique=False)


def downgrade() -> None:

    with op.batch_alter_table("usagesession", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_usagesession_member_id"))
        batch_op.drop_index("ix_usagesession_machine_started")

    op.drop_table("usagesession")
    with op.batch_alter_table("maintenancelog", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_maintenancelog_plan_id"))

    op.drop_table("maintenancelog")
    with op.batch_alter_table("alert", schema=None) as batch_op:
        batch_op.drop_index("ix_alert_site_opened")

    op.drop_table("alert")
    with op.batch_alter_table("maintenanceplan", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_maintenanceplan_machine_id"))

    op.drop_table("maintenanceplan")
    with op.batch_alter_table("machinecommand", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_machinecommand_machine_id"))

    op.drop_table("machinecommand")
    with op.batch_alter_table("deviceevent", schema=None) as batch_op:
        batch_op.drop_index("ix_deviceevent_machine_ts")

    op.drop_table("deviceevent")
    with op.batch_alter_table("resourceblock", schema=None) as batch_op:
        batch_op.drop_index("ix_resourceblock_resource")

    op.drop_table("resourceblock")
    with op.batch_alter_table("machine", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_machine_site_id"))
        batch_op.drop_index(batch_op.f("ix_machine_gateway_id"))

    op.drop_table("machine")
    op.drop_table("gateway")
    op.drop_table("seqcursor")
    with op.batch_alter_table("jobrun", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_jobrun_job_id"))

    op.drop_table("jobrun")
