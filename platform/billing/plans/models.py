"""Plans a shop offers its sub-shops, each sub-shop's subscription, and what was paid.

A plan belongs to the shop that sells it (``tenant_id``): the master defines
the real ones; a reseller (any shop with sub-shops) offers ``base_plan_id`` —
a plan it can buy itself — at its own price and earns the difference. What a
plan allows always comes from the master's plan at the root of that chain.
"""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, CheckConstraint, ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from kameng.core.extensions import db
from kameng.core.models import BigId, IdMixin, TenantScoped, TimestampMixin, one_of

INTERVALS = ("month", "year")
SUB_STATUSES = ("active", "grace", "expired")


class Plan(IdMixin, TimestampMixin, TenantScoped, db.Model):
    __tablename__ = "plans"
    __table_args__ = (
        UniqueConstraint("tenant_id", "code"),
        CheckConstraint(one_of("interval", INTERVALS), name="interval"),
        CheckConstraint("price >= 0", name="price"),
        CheckConstraint("max_staff IS NULL OR max_staff >= 0", name="staff"),
        CheckConstraint("max_markup_bp IS NULL OR max_markup_bp >= 0", name="markup"),
    )

    code: Mapped[str] = mapped_column(String(40))
    name: Mapped[str] = mapped_column(String(80))
    interval: Mapped[str] = mapped_column(String(8), default="month")
    price: Mapped[int] = mapped_column(BigId)
    base_plan_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("plans.id"))
    custom_domain: Mapped[bool] = mapped_column(default=False)
    sub_shops: Mapped[bool] = mapped_column(default=False)
    # may its shops take payments on their own gateway (易支付 with their own merchant key)
    own_gateway: Mapped[bool] = mapped_column(default=False)
    max_markup_bp: Mapped[int | None]        # NULL: no limit
    max_staff: Mapped[int | None]            # NULL: no limit
    themes: Mapped[list | None] = mapped_column(JSON)  # NULL: every theme
    active: Mapped[bool] = mapped_column(default=True)


class Subscription(IdMixin, TimestampMixin, TenantScoped, db.Model):
    """A sub-shop's plan (``tenant_id`` is the subscriber)."""

    __tablename__ = "plan_subscriptions"
    __table_args__ = (
        UniqueConstraint("tenant_id"),
        CheckConstraint(one_of("status", SUB_STATUSES), name="status"),
    )

    plan_id: Mapped[int] = mapped_column(BigId, ForeignKey("plans.id"))
    status: Mapped[str] = mapped_column(String(16), default="active")
    current_period_end: Mapped[datetime]
    grace_until: Mapped[datetime | None]
    auto_renew: Mapped[bool] = mapped_column(default=True)
    # the shop was closed by the plan's expiry (renewal reopens only those)
    suspended_by_plan: Mapped[bool] = mapped_column(default=False)
    # the card a renewal is charged to when the balance cannot pay (Stripe ids)
    stripe_customer: Mapped[str | None] = mapped_column(String(64))
    card_payment_method: Mapped[str | None] = mapped_column(String(64))


class PlanPayment(IdMixin, TimestampMixin, TenantScoped, db.Model):
    __tablename__ = "plan_payments"
    __table_args__ = (CheckConstraint("method IN ('balance', 'card', 'grant')", name="method"),)

    subscription_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("plan_subscriptions.id", ondelete="CASCADE"), index=True)
    plan_id: Mapped[int] = mapped_column(BigId, ForeignKey("plans.id"))
    key: Mapped[str] = mapped_column(String(160), unique=True)
    method: Mapped[str] = mapped_column(String(16))
    amount: Mapped[int] = mapped_column(BigId)
    currency: Mapped[str] = mapped_column(String(3))
    period_start: Mapped[datetime]
    period_end: Mapped[datetime]
    provider_ref: Mapped[str | None] = mapped_column(String(128))
    transaction_id: Mapped[int | None] = mapped_column(BigId,
                                                       ForeignKey("ledger_transactions.id"))

