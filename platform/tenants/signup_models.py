"""Opening a shop from a shop's site: the record of each sign-up, the invite links a
parent hands out, and the one-time login links that carry the founder to the new host.

Not tenant-scoped: a parent reads its children's rows, and the hand-over is looked up
on the new shop's host by its token alone; every query names its shop explicitly.
"""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from kameng.core.extensions import db
from kameng.core.models import BigId, IdMixin, TimestampMixin


class ShopInvite(IdMixin, TimestampMixin, db.Model):
    """An invite link of a parent shop (``tenant_id``): opens a shop even while its
    sign-ups are closed, with a preset plan and markup, until it expires or is used up.
    Only the SHA-256 of the token is kept (128 random bits: nothing to brute-force)."""

    __tablename__ = "shop_invites"
    __table_args__ = (
        CheckConstraint("uses >= 0 AND (max_uses IS NULL OR uses <= max_uses)", name="uses"),
        CheckConstraint("markup_bp IS NULL OR markup_bp >= 0", name="markup"),
    )

    tenant_id: Mapped[int] = mapped_column(BigId, ForeignKey("tenants.id", ondelete="CASCADE"),
                                           index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    note: Mapped[str] = mapped_column(String(120), default="")
    # NULL: the visitor picks one of the plans the parent offers for sign-up
    plan_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("plans.id"))
    # the new shop's retail markup; NULL: the parent's default for new sub-shops
    markup_bp: Mapped[int | None]
    expires_at: Mapped[datetime]
    max_uses: Mapped[int | None]
    uses: Mapped[int] = mapped_column(default=0)
    revoked_at: Mapped[datetime | None]


class ShopSignup(IdMixin, TimestampMixin, db.Model):
    """How a shop was opened from its parent's site, and what it still waits for."""

    __tablename__ = "shop_signups"
    __table_args__ = (UniqueConstraint("parent_id", "email"),)

    tenant_id: Mapped[int] = mapped_column(BigId, ForeignKey("tenants.id", ondelete="CASCADE"),
                                           unique=True)
    parent_id: Mapped[int] = mapped_column(BigId, ForeignKey("tenants.id", ondelete="CASCADE"),
                                           index=True)
    email: Mapped[str] = mapped_column(String(254))
    # the sign-up form's one-time id: the same form posted twice opens one shop
    form_id: Mapped[str | None] = mapped_column(String(64), unique=True)
    plan_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("plans.id"))
    invite_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("shop_invites.id", ondelete="SET NULL"), index=True)
    awaiting_approval: Mapped[bool] = mapped_column(default=False)
    awaiting_payment: Mapped[bool] = mapped_column(default=False)
    approved_at: Mapped[datetime | None]


class LoginHandover(IdMixin, TimestampMixin, db.Model):
    """A one-time login link on a shop's own host (sessions are per host). Only the
    SHA-256 of the token is kept; it is spent by one conditional UPDATE."""

    __tablename__ = "login_handovers"

    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    tenant_id: Mapped[int] = mapped_column(BigId, ForeignKey("tenants.id", ondelete="CASCADE"),
                                           index=True)
    user_id: Mapped[int] = mapped_column(BigId, ForeignKey("users.id", ondelete="CASCADE"),
                                         index=True)
    next_path: Mapped[str] = mapped_column(String(255), default="/admin/")
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]
