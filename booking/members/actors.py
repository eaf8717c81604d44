"""Who is acting: a signed-in member as a plain value, or the operator at the command line."""

from __future__ import annotations

from dataclasses import dataclass, field

from booking.models import Member, Role


@dataclass(frozen=True, slots=True)
class MemberInfo:
    """A signed-in member as a plain value: safe to keep between requests and share across threads."""

    id: str
    email: str
    name: str
    role: Role
    plan_id: str | None
    card_uid: str | None
    language: str
    kiosk_site_id: str | None
    token_version: int
    active: bool
    # Whether a manager approved them (members who signed up themselves start without).
    approved: bool = True

    @classmethod
    def of(cls, member: Member) -> MemberInfo:
        return cls(
            id=member.id,
            email=member.email,
            name=member.name,
            role=Role(member.role),
            plan_id=member.plan_id,
            card_uid=member.card_uid,
            language=member.language,
            kiosk_site_id=member.kiosk_site_id,
            token_version=member.token_version,
            active=member.active,
            approved=member.approved_at is not None,
        )


@dataclass(frozen=True, slots=True)
class Actor:
    """Who is acting: a member and the sites they manage."""

    member: MemberInfo
    managed_sites: frozenset[str] = field(default_factory=frozenset)

    @property
    def id(self) -> str:
        return self.member.id

    @property
    def is_admin(self) -> bool:
        return self.member.role is Role.admin

    @property
    def manages_any(self) -> bool:
        """Whether the actor manages at least one site (an admin manages them all)."""
        return self.is_admin or bool(self.managed_sites)

    def manages(self, site_id: str) -> bool:
        """Whether the actor may act on the site's bookings and machines as a manager."""
        return self.is_admin or site_id in self.managed_sites

    def is_kiosk_of(self, site_id: str) -> bool:
        return self.member.role is Role.kiosk and self.member.kiosk_site_id == site_id


@dataclass(frozen=True, slots=True)
class SystemActor:
    """The operator at the command line (or the demo's seeding): trusted like an admin, no member.

    Use cases that change the center take an `Actor` or this, so the one path that skips a member's
    permissions is named where it is taken.
    """

    @property
    def id(self) -> None:
        return None

    @property
    def is_admin(self) -> bool:
        return True

    @property
    def manages_any(self) -> bool:
        return True

    def manages(self, site_id: str) -> bool:
        return True


SYSTEM = SystemActor()
