"""Events: workshops, classes, trainings and events with sessions, registrations and attendance.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-04 05:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_LIVE_MEMBER = "member_id IS NOT NULL AND status != 'cancelled'"
_LIVE_GUEST = "member_id IS NULL AND status != 'cancelled'"


def upgrade() -> None:
    with op.batch_alter_table("booking", schema=None) as batch_op:
        batch_op.add_column(sa.Column("event_id", sa.String(length=32), nullable=True))
    op.create_table(
        "event",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("site_id", sa.String(length=64), nullable=False),
        sa.Column(
            "kind",
            sa.Enum(
                "workshop",
                "class",
                "training",
                "event",
                name="eventkind",
                native_enum=False,
                create_constraint=False,
                length=16,
            ),
            nullable=False,
        ),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("title_en", sa.String(length=200), nullable=False),
        sa.Column("description", sa.String(length=4000), nullable=False),
        sa.Column("description_en", sa.String(length=4000), nullable=False),
        sa.Column("capacity", sa.Integer(), nullable=False),
        sa.Column("registered", sa.Integer(), nullable=False),
        sa.Column("public", sa.Boolean(), nullable=False),
        sa.Column("training_id", sa.String(length=64), nullable=True),
        sa.Column("required_plan_id", sa.String(length=64), nullable=True),
        sa.Column("required_training_id", sa.String(length=64), nullable=True),
        sa.Column("opens_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("closes_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("starts_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ends_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "scheduled",
                "cancelled",
                name="eventstatus",
                native_enum=False,
                create_constraint=False,
                length=16,
            ),
            nullable=False,
        ),
        sa.Column("created_by", sa.String(length=64), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("capacity >= 1", name="ck_event_capacity"),
        sa.CheckConstraint("registered >= 0 AND registered <= capacity", name="ck_event_seats"),
        sa.CheckConstraint("ends_at > starts_at", name="ck_event_span"),
        sa.ForeignKeyConstraint(["site_id"], ["site.id"]),
        sa.ForeignKeyConstraint(["training_id"], ["training.id"]),
        sa.ForeignKeyConstraint(["required_plan_id"], ["plan.id"]),
        sa.ForeignKeyConstraint(["required_training_id"], ["training.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_event_site_starts", "event", ["site_id", "starts_at"], unique=False)
    op.create_table(
        "eventsession",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("event_id", sa.String(length=32), nullable=False),
        sa.Column("resource_id", sa.String(length=64), nullable=False),
        sa.Column("start_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("end_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("booking_id", sa.String(length=32), nullable=True),
        sa.CheckConstraint("end_at > start_at", name="ck_eventsession_positive"),
        sa.ForeignKeyConstraint(["event_id"], ["event.id"]),
        sa.ForeignKeyConstraint(["resource_id"], ["resource.id"]),
        sa.ForeignKeyConstraint(["booking_id"], ["booking.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_eventsession_event_id", "eventsession", ["event_id"], unique=False)
    op.create_table(
        "registration",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("event_id", sa.String(length=32), nullable=False),
        sa.Column("member_id", sa.String(length=64), nullable=True),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "registered",
                "waitlisted",
                "cancelled",
                name="registrationstatus",
                native_enum=False,
                create_constraint=False,
                length=16,
            ),
            nullable=False,
        ),
        sa.Column("position", sa.Integer(), nullable=True),
        sa.Column("code", sa.String(length=16), nullable=False),
        sa.Column("passed", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["event_id"], ["event.id"]),
        sa.ForeignKeyConstraint(["member_id"], ["member.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("code"),
    )
    op.create_index(
        "ux_registration_member",
        "registration",
        ["event_id", "member_id"],
        unique=True,
        sqlite_where=sa.text(_LIVE_MEMBER),
        postgresql_where=sa.text(_LIVE_MEMBER),
    )
    op.create_index(
        "ux_registration_guest",
        "registration",
        ["event_id", "email"],
        unique=True,
        sqlite_where=sa.text(_LIVE_GUEST),
        postgresql_where=sa.text(_LIVE_GUEST),
    )
    op.create_index(
        "ix_registration_event_status", "registration", ["event_id", "status", "position"], unique=False
    )
    op.create_index("ix_registration_member", "registration", ["member_id"], unique=False)
    op.create_table(
        "attendance",
        sa.Column("registration_id", sa.String(length=32), nullable=False),
        sa.Column("session_id", sa.String(length=32), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("recorded_by", sa.String(length=64), nullable=True),
        sa.ForeignKeyConstraint(["registration_id"], ["registration.id"]),
        sa.ForeignKeyConstraint(["session_id"], ["eventsession.id"]),
        sa.PrimaryKeyConstraint("registration_id", "session_id"),
    )


def downgrade() -> None:
    op.drop_table("attendance")
    op.drop_index("ix_registration_member", table_name="registration")
    op.drop_index("ix_registration_event_status", table_name="registration")
    op.drop_index("ux_registration_guest", table_name="registration")
    op.drop_index("ux_registration_member", table_name="registration")
    op.drop_table("registration")
    op.drop_index("ix_eventsession_event_id", table_name="eventsession")
    op.drop_table("eventsession")
    op.drop_index("ix_event_site_starts", table_name="event")
    op.drop_table("event")
    with op.batch_alter_table("booking", schema=None) as batch_op:
        batch_op.drop_column("event_id")
