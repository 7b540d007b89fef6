"""Billing settings, the commission booked per delivered order, and promoter links.

A ``Commission`` is the record of the one ledger transaction that split an
order's money up the chain (``order:<order_no>:commission``); its ``status``
follows the hold: pending → available (matured), or → reversed (refunded).
Each ``CommissionShare`` says what one shop (or one promoter) got out of it,
for statements and reports; the ledger stays the source of truth for money.
"""
from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import JSON, CheckConstraint, Date, ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from kameng.core.extensions import db
from kameng.core.models import BigId, IdMixin, TenantScoped, TimestampMixin

Amount = BigId

COMMISSION_STATUSES = ("pending", "available", "reversed")
FEE_PAYERS = ("seller", "master")
APPROVERS = ("master", "parent")


class BillingSettings(IdMixin, TenantScoped, db.Model):
    """One shop's billing settings. The master's row also sets the platform's rules:
    hold period, payment fees, withdrawal minimum and fee, who approves withdrawals,
    the plans' grace period. ``promoter_bp`` is every shop's own."""

    __tablename__ = "billing_settings"
    __table_args__ = (
        UniqueConstraint("tenant_id"),
        CheckConstraint("promoter_bp >= 0 AND promoter_bp <= 10000", name="promoter"),
        CheckConstraint("withdraw_fee_bp >= 0 AND withdraw_fee_bp <= 10000", name="fee_bp"),
        CheckConstraint("withdraw_min >= 0 AND withdraw_fee_fixed >= 0", name="withdraw"),
        CheckConstraint("hold_days IS NULL OR hold_days >= 0", name="hold"),
        CheckConstraint("withdraw_approver IN ('master', 'parent')", name="approver"),
    )

    # master only ---------------------------------------------------------------
    hold_days: Mapped[int | None]                       # NULL: config HOLD_DAYS
    # {"stripe": {"bp": 290, "fixed": 30, "payer": "seller"}, "epay": {...}}
    provider_fees: Mapped[dict] = mapped_column(JSON, default=dict)
    withdraw_min: Mapped[int] = mapped_column(Amount, default=0)
    withdraw_fee_fixed: Mapped[int] = mapped_column(Amount, default=0)
    withdraw_fee_bp: Mapped[int] = mapped_column(default=0)
    withdraw_approver: Mapped[str] = mapped_column(String(8), default="master")
    plan_grace_days: Mapped[int] = mapped_column(default=3)
    # every shop ------------------------------------------------------------------
    promoter_bp: Mapped[int] = mapped_column(default=0)  # of the shop's own margin


class Commission(IdMixin, TimestampMixin, TenantScoped, db.Model):
    """The commission of one delivered order (``tenant_id`` is the selling shop)."""

    __tablename__ = "commissions"
    __table_args__ = (
        CheckConstraint("status IN ('pending', 'available', 'reversed')", name="status"),
        Index("ix_commissions_status_matures_at", "status", "matures_at"),
        # a shop's sales total read from the index alone (reports: a page of shops)
        Index("ix_commissions_tenant_status", "tenant_id", "status",
              postgresql_include=["amount"]),
        # the live part of the reports (commissions.rollup): what came after the mark
        Index("ix_commissions_created_at", "created_at"),
        Index("ix_commissions_reversed_at", "reversed_at"),
    )

    order_id: Mapped[int] = mapped_column(BigId, ForeignKey("orders.id", ondelete="CASCADE"),
                                          unique=True)
    order_no: Mapped[str] = mapped_column(String(32), index=True)
    currency: Mapped[str] = mapped_column(String(3))
    amount: Mapped[int] = mapped_column(Amount)            # what the customer paid
    supplier_cost: Mapped[int] = mapped_column(Amount, default=0)
    fee: Mapped[int] = mapped_column(Amount, default=0)
    fee_tenant_id: Mapped[int | None] = mapped_column(BigId)
    rounding: Mapped[int] = mapped_column(Amount, default=0)
    promoter_user_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("users.id"))
    status: Mapped[str] = mapped_column(String(16), default="pending")
    transaction_id: Mapped[int | None] = mapped_column(BigId,
                                                       ForeignKey("ledger_transactions.id"))
    day: Mapped[date] = mapped_column(Date, index=True)
    matures_at: Mapped[datetime]
    matured_at: Mapped[datetime | None]
    reversed_at: Mapped[datetime | None]
    # a refund after the hold took the money back from available earnings
    reversed_after_hold: Mapped[bool] = mapped_column(default=False)

    shares: Mapped[list[CommissionShare]] = relationship(
        back_populates="commission", order_by="CommissionShare.id")


class CommissionShare(IdMixin, TenantScoped, db.Model):
    """What one shop (``user_id`` NULL) or one promoter of that shop earned on an order.

    For a shop: ``sales`` is what it sold the units for (to the customer or to
    the shop below), ``cost`` what it paid, ``margin = sales - cost``, then the
    promoter's cut and the payment fee it bears come off: ``net``.
    """

    __tablename__ = "commission_shares"
    __table_args__ = (UniqueConstraint("commission_id", "tenant_id", "user_id"),)

    commission_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("commissions.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("users.id"), index=True)
    depth: Mapped[int] = mapped_column(default=0)
    sales: Mapped[int] = mapped_column(Amount, default=0)
    cost: Mapped[int] = mapped_column(Amount, default=0)
    margin: Mapped[int] = mapped_column(Amount, default=0)
    promoter: Mapped[int] = mapped_column(Amount, default=0)
    fee: Mapped[int] = mapped_column(Amount, default=0)
    net: Mapped[int] = mapped_column(Amount, default=0)

    commission: Mapped[Commission] = relationship(back_populates="shares")


class CommissionRollup(IdMixin, db.Model):
    """Sums of a shop's commission shares (not its promoters') over the commissions
    written in one quarter hour (``slot``, UTC) for orders delivered on ``day``.

    Append-only, written by ``commissions.rollup.roll_up``: a later row for the same
    key is a correction (an order of that slot reversed after it was rolled up: all
    negative), so a reader sums every row of a key."""

    __tablename__ = "commission_rollups"
    __table_args__ = (
        Index("ix_commission_rollups_tenant_slot", "tenant_id", "slot"),
        Index("ix_commission_rollups_tenant_day", "tenant_id", "day"),
    )

    tenant_id: Mapped[int] = mapped_column(BigId, ForeignKey("tenants.id", ondelete="CASCADE"))
    slot: Mapped[datetime]
    day: Mapped[date] = mapped_column(Date)
    orders: Mapped[int] = mapped_column(Amount, default=0)
    sales: Mapped[int] = mapped_column(Amount, default=0)
    cost: Mapped[int] = mapped_column(Amount, default=0)
    margin: Mapped[int] = mapped_column(Amount, default=0)
    net: Mapped[int] = mapped_column(Amount, default=0)


class EarnedTotal(db.Model):
    """What a shop earned in all (``reports._earned``) from its ledger entries up to
    ``RollupMark.entry_id``."""

    __tablename__ = "earned_totals"

    tenant_id: Mapped[int] = mapped_column(BigId, ForeignKey("tenants.id", ondelete="CASCADE"),
                                           primary_key=True)
    amount: Mapped[int] = mapped_column(Amount, default=0)


class SellerEarnedTotal(db.Model):
    """What a shop (``earner_id``) earned in all on one shop's sales (``seller_id``, the
    shop itself or one below it): its commission shares of the commissions written before
    ``RollupMark.sellers_rolled_to``, net of those reversed before it. A parent's
    sub-shops page reads it (its earnings from each shop's subtree)."""

    __tablename__ = "seller_earned_totals"

    earner_id: Mapped[int] = mapped_column(BigId, ForeignKey("tenants.id", ondelete="CASCADE"),
                                           primary_key=True)
    seller_id: Mapped[int] = mapped_column(BigId, ForeignKey("tenants.id", ondelete="CASCADE"),
                                           primary_key=True)
    net: Mapped[int] = mapped_column(Amount, default=0)


class RollupMark(db.Model):
    """How far the rollups go (one row, id 1): every commission written before
    ``rolled_to`` is in ``CommissionRollup`` (less those reversed before it), every
    earnings entry with ``id <= entry_id`` in ``EarnedTotal``, every commission written
    before ``sellers_rolled_to`` in ``SellerEarnedTotal`` (a mark of its own: the table
    came later, and is filled from the first run after it came)."""

    __tablename__ = "commission_rollup_marks"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    rolled_to: Mapped[datetime | None]
    entry_id: Mapped[int] = mapped_column(BigId, default=0)
    rolled_at: Mapped[datetime | None]
    sellers_rolled_to: Mapped[datetime | None]


class PromoterCode(IdMixin, TimestampMixin, TenantScoped, db.Model):
    """A customer's referral code on one shop (``?ref=<code>``)."""

    __tablename__ = "promoter_codes"

    user_id: Mapped[int] = mapped_column(BigId, ForeignKey("users.id", ondelete="CASCADE"),
                                         unique=True)
    code: Mapped[str] = mapped_column(String(16), unique=True)


class Referral(IdMixin, TimestampMixin, TenantScoped, db.Model):
    """Who brought this customer to the shop (set once, at sign-up)."""

    __tablename__ = "referrals"

    user_id: Mapped[int] = mapped_column(BigId, ForeignKey("users.id", ondelete="CASCADE"),
                                         unique=True)
    promoter_id: Mapped[int] = mapped_column(BigId, ForeignKey("users.id", ondelete="CASCADE"),
                                             index=True)
