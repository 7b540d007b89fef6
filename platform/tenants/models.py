"""The tenant tree, the hostnames that route to it, the people who log in and their API keys."""
from __future__ import annotations

from datetime import datetime

from flask_login import UserMixin
from sqlalchemy import (
    JSON,
    BigInteger,
    CheckConstraint,
    ForeignKey,
    Index,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from kameng.core.extensions import db
from kameng.core.models import BigId, IdMixin, TenantScoped, TimestampMixin

TENANT_ACTIVE = "active"
# pending: opened from a shop's site, waiting for its parent's approval or its plan's
# payment; like suspended it serves buyers nothing, but its owner can sign in
TENANT_STATUSES = ("active", "pending", "suspended", "closed")
ROLES = ("owner", "staff", "customer")
# what a ``staff`` account may do in the back office (admin/permissions.py says where)
STAFF_ROLES = ("manager", "support", "finance")


class Tenant(IdMixin, TimestampMixin, db.Model):
    __tablename__ = "tenants"
    __table_args__ = (
        CheckConstraint("status IN ('active', 'pending', 'suspended', 'closed')", name="status"),
        # "the subtree" is ``path LIKE '/1/7/%'``: a prefix match uses a B-tree only in
        # the C collation, or with the pattern operator class on PostgreSQL
        Index("ix_tenants_path_pattern", "path",
              postgresql_ops={"path": "varchar_pattern_ops"}),
        # the order list's shop search finds a shop by its exact name
        Index("ix_tenants_name", "name"),
    )

    parent_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("tenants.id"), index=True)
    # materialized path "/1/7/42/": ancestors and descendants in one indexed query
    path: Mapped[str] = mapped_column(String(512), index=True, default="")
    depth: Mapped[int] = mapped_column(default=0)
    slug: Mapped[str] = mapped_column(String(63), unique=True)
    name: Mapped[str] = mapped_column(String(120))
    status: Mapped[str] = mapped_column(String(16), default=TENANT_ACTIVE)
    theme: Mapped[str] = mapped_column(String(63), default="default")
    settings: Mapped[dict] = mapped_column(JSON, default=dict)
    currency: Mapped[str] = mapped_column(String(3), default="CNY")
    locale: Mapped[str] = mapped_column(String(16), default="zh_CN")
    # the shop above that suspended this one: only it or a shop above it may reopen it
    # (no foreign key: a second one to tenants would make ``parent`` ambiguous)
    suspended_by_id: Mapped[int | None] = mapped_column(BigId, nullable=True)

    parent: Mapped[Tenant | None] = relationship(remote_side="Tenant.id", lazy="joined",
                                                 join_depth=1)
    domains: Mapped[list[Domain]] = relationship(back_populates="tenant",
                                                 order_by="Domain.id")

    @property
    def is_master(self) -> bool:
        return self.parent_id is None

    @property
    def serves_buyers(self) -> bool:
        """Whether the storefront, checkout and docking API serve (pending and suspended
        shops show the closed page; their owners still sign in)."""
        return self.status == TENANT_ACTIVE

    @property
    def ancestor_ids(self) -> list[int]:
        """From the root down to (not including) this tenant."""
        return [int(p) for p in self.path.strip("/").split("/")[:-1] if p]

    @property
    def theme_settings(self) -> dict:
        return dict((self.settings or {}).get("theme", {}))

    def __repr__(self) -> str:
        return f"<Tenant {self.slug}>"


class Domain(IdMixin, TimestampMixin, db.Model):
    __tablename__ = "domains"
    __table_args__ = (CheckConstraint("kind IN ('subdomain', 'custom')", name="kind"),)

    hostname: Mapped[str] = mapped_column(String(253), unique=True)
    tenant_id: Mapped[int] = mapped_column(BigId, ForeignKey("tenants.id", ondelete="CASCADE"),
                                           index=True)
    kind: Mapped[str] = mapped_column(String(16), default="subdomain")
    verified_at: Mapped[datetime | None]
    token: Mapped[str] = mapped_column(String(64))
    is_primary: Mapped[bool] = mapped_column(default=False)
    # binding an apex (example.com) also binds www.example.com, proven by the apex's
    # TXT record: the www row points at its apex and goes with it
    alias_of_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("domains.id", ondelete="CASCADE"), index=True)
    # the last DNS check of a custom domain (tenants.domains): when it got an answer,
    # how many definite misses in a row, what the miss found, when the owner was told
    checked_at: Mapped[datetime | None]
    check_failures: Mapped[int] = mapped_column(default=0)
    check_found: Mapped[str | None] = mapped_column(String(255))
    notified_at: Mapped[datetime | None]

    tenant: Mapped[Tenant] = relationship(back_populates="domains")


class User(IdMixin, TimestampMixin, TenantScoped, UserMixin, db.Model):
    """An account on one shop: its owner or staff, or one of its customers."""

    __tablename__ = "users"
    __table_args__ = (
        UniqueConstraint("tenant_id", "email"),
        CheckConstraint("role IN ('owner', 'staff', 'customer')", name="role"),
        CheckConstraint("(role = 'staff') = (staff_role IS NOT NULL)", name="staff_role_set"),
        CheckConstraint("staff_role IS NULL OR staff_role IN ('manager', 'support', 'finance')",
                        name="staff_role"),
    )

    email: Mapped[str] = mapped_column(String(254))
    password_hash: Mapped[str | None] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(16), default="customer")
    display_name: Mapped[str | None] = mapped_column(String(120))
    locale: Mapped[str | None] = mapped_column(String(16))
    is_active_flag: Mapped[bool] = mapped_column("is_active", default=True)
    session_version: Mapped[int] = mapped_column(default=1)
    # a staff account's back-office role (STAFF_ROLES); None for owners and customers
    staff_role: Mapped[str | None] = mapped_column(String(16))
    # set while the shop has blocked (a customer) or disabled (staff) the account: it
    # cannot sign in, its sessions and API keys stop working
    blocked_at: Mapped[datetime | None]
    # two-factor sign-in (tenants.twofactor): the TOTP secret, sealed on the code key
    # ring (set while enrolling, in use once totp_enabled_at is set), and the last
    # time step a code was accepted for (a code is good once)
    totp_secret: Mapped[str | None] = mapped_column(String(255))
    totp_enabled_at: Mapped[datetime | None]
    totp_last_step: Mapped[int | None] = mapped_column(BigInteger)

    @property
    def is_active(self) -> bool:
        return self.is_active_flag and self.blocked_at is None

    @property
    def is_staff(self) -> bool:
        return self.role in ("owner", "staff")

    @property
    def back_office_role(self) -> str | None:
        """owner, manager, support or finance; None for a customer."""
        return "owner" if self.role == "owner" else self.staff_role

    def get_id(self) -> str:
        # the session binds the login to this tenant and this password generation
        return f"{self.tenant_id}:{self.id}:{self.session_version}"


class RecoveryCode(IdMixin, db.Model):
    """A one-time recovery code of a user's two-factor sign-in: only its SHA-256 is kept
    (80 random bits: nothing to brute-force); ``used_at`` is set when it is spent."""

    __tablename__ = "recovery_codes"

    user_id: Mapped[int] = mapped_column(BigId, ForeignKey("users.id", ondelete="CASCADE"),
                                         index=True)
    code_hash: Mapped[str] = mapped_column(String(64))
    used_at: Mapped[datetime | None]


class ApiKey(IdMixin, TimestampMixin, TenantScoped, db.Model):
    """One user account's credentials for the docking API.

    Only a SHA-256 hash of a key is stored. Keys are 256 random bits, so a fast
    hash is enough (nothing to brute-force) and lets a request find its key by an
    indexed lookup; the plaintext is shown once, when the key is made.
    """

    __tablename__ = "api_keys"

    user_id: Mapped[int] = mapped_column(BigId, ForeignKey("users.id", ondelete="CASCADE"),
                                         index=True)
    name: Mapped[str] = mapped_column(String(80))
    # the first characters of the key, to tell keys apart in lists ("km_Ab3dE9xQ…")
    prefix: Mapped[str] = mapped_column(String(16))
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)  # hex SHA-256
    last_used_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]

    @property
    def active(self) -> bool:
        return self.revoked_at is None


class ThemeVersion(IdMixin, TimestampMixin, TenantScoped, db.Model):
    """One saved appearance of a shop (装修): theme, settings and custom CSS.

    A shop has at most one draft (``published`` false, no ``number``); publishing it
    gives it the next number, and the highest-numbered published version is the one
    live (copied to ``Tenant.theme`` / ``settings["theme"]``). A roll-back publishes a
    copy of an earlier version under a new number (``restored_from``): the history
    only grows, and published versions are never edited."""

    __tablename__ = "theme_versions"
    __table_args__ = (UniqueConstraint("tenant_id", "number"),)

    number: Mapped[int | None]
    theme: Mapped[str] = mapped_column(String(63))
    settings: Mapped[dict] = mapped_column(JSON, default=dict)
    custom_css: Mapped[str] = mapped_column(Text, default="")
    author_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("users.id", ondelete="SET NULL"))
    published: Mapped[bool] = mapped_column(default=False)
    published_at: Mapped[datetime | None]
    restored_from: Mapped[int | None]
