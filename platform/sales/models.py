"""Orders, their lines (with a price snapshot of the whole chain) and the outbox."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    JSON,
    BigInteger,
    CheckConstraint,
    ForeignKey,
    Index,
    String,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from kameng.core.extensions import db
from kameng.core.models import (
    BigId,
    IdMixin,
    TenantScoped,
    TimestampMixin,
    one_of,
    partial_index,
)

# pending → paid → fulfilling → delivered; → failed → refunded; pending → expired;
# pending → awaiting_funds → paid: the selling shop collected the money on its own
# gateway and its funded account (预存款) could not yet pay the parent's price
ORDER_STATUSES = ("pending", "paid", "fulfilling", "delivered", "failed", "refunded", "expired",
                  "awaiting_funds")
# a line: pending (not yet handed to a supplier) → processing (claimed by a worker)
# → delivered | failed; "unknown" when the supplier's answer was lost (reconcile by key)
LINE_STATUSES = ("pending", "processing", "unknown", "delivered", "failed", "refunded")
# how a refunded order was refunded (docs/refunds.md): every posting reversed (the
# platform's money, the master's decision or an undelivered order); from the selling
# shop's funded account into the buyer's wallet; or by the shop outside the platform
# (a guest has no wallet), with nothing moved in the ledger
REFUND_KINDS = ("reversal", "goodwill", "outside")
# a refund request: open (waiting at holder_tenant_id) → approved (the master; the full
# reversal is done) | rejected (by the holder)
REFUND_REQUEST_STATUSES = ("open", "approved", "rejected")
REFUND_STEP_ACTIONS = ("filed", "forwarded", "rejected", "approved")


class Order(IdMixin, TimestampMixin, TenantScoped, db.Model):
    __tablename__ = "orders"
    __table_args__ = (
        CheckConstraint(one_of("status", ORDER_STATUSES), name="status"),
        CheckConstraint(one_of("refund_kind", REFUND_KINDS), name="refund_kind"),
        CheckConstraint("amount >= 0", name="amount"),
        UniqueConstraint("tenant_id", "customer_id", "idempotency_key"),
        Index("ix_orders_status_paid_at", "status", "paid_at"),
        # a subtree's order list: each shop's order ids newest first, read without the
        # orders' rows (kameng.core.pagination.keyset_page). No INCLUDE (status): with it
        # the nav badge's waiting-orders count walked the subtree's entries instead of
        # the few paid orders of ix_orders_status_paid_at
        Index("ix_orders_tenant_id_id", "tenant_id", "id"),
        # a parent's funding page sums what each shop below collected on its own gateway
        partial_index("ix_orders_collected_by", "collected_by_tenant_id",
                      where="collected_by_tenant_id IS NOT NULL"),
    )

    # TenantScoped's column without its own index: ix_orders_tenant_id_id leads with it
    # (a shop's orders, the cascade from tenants), and a second index on it was one
    # more to write on every order (migration f3)
    tenant_id: Mapped[int] = mapped_column(BigId, ForeignKey("tenants.id", ondelete="CASCADE"),
                                           nullable=False)
    order_no: Mapped[str] = mapped_column(String(32), unique=True)
    status: Mapped[str] = mapped_column(String(16), default="pending")
    customer_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("users.id"), index=True)
    contact: Mapped[str] = mapped_column(String(254), default="")
    # argon2 hash of the buyer's lookup password (guest orders)
    lookup_hash: Mapped[str | None] = mapped_column(String(255))
    currency: Mapped[str] = mapped_column(String(3))
    amount: Mapped[int]
    payment_method: Mapped[str | None] = mapped_column(String(16))
    payment_ref: Mapped[str | None] = mapped_column(String(128), index=True)
    idempotency_key: Mapped[str | None] = mapped_column(String(128))
    source: Mapped[str] = mapped_column(String(8), default="web")
    locale: Mapped[str | None] = mapped_column(String(16))
    client_ip: Mapped[str | None] = mapped_column(String(64))
    expires_at: Mapped[datetime | None]
    paid_at: Mapped[datetime | None]
    delivered_at: Mapped[datetime | None]
    refunded_at: Mapped[datetime | None]
    failure_reason: Mapped[str | None] = mapped_column(String(255))
    refund_kind: Mapped[str | None] = mapped_column(String(16))
    # set when the selling shop took the buyer's money on its own gateway: the
    # platform never saw it, and the shop's funded account paid ``funded_amount``
    # (what the chain above it is owed) into sales_clearing
    collected_by_tenant_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("tenants.id"))
    funded_amount: Mapped[int | None] = mapped_column(BigInteger)
    # a coupon of the selling shop (kameng.sales.coupons): ``amount`` is already net of
    # ``discount``, which came out of the shop's own margin only
    discount: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    coupon_code: Mapped[str | None] = mapped_column(String(32))

    lines: Mapped[list[OrderLine]] = relationship(back_populates="order", order_by="OrderLine.id")


class OrderLine(IdMixin, TenantScoped, db.Model):
    __tablename__ = "order_lines"
    __table_args__ = (
        CheckConstraint(one_of("status", LINE_STATUSES), name="status"),
        CheckConstraint("quantity >= 1 AND unit_price >= 0 AND amount >= 0", name="amounts"),
        # the key ids of delivered codes (the key ring's checks); only those lines
        partial_index("ix_order_lines_delivery_key_id", "delivery_key_id",
                      where="delivery_key_id IS NOT NULL"),
    )

    order_id: Mapped[int] = mapped_column(BigId, ForeignKey("orders.id", ondelete="CASCADE"),
                                          index=True)
    product_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("products.id", deferrable=True, initially="DEFERRED"), index=True)
    sku: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(16))
    quantity: Mapped[int]
    unit_price: Mapped[int]
    amount: Mapped[int]
    # the buyer's input (account number, …) as validated at checkout
    fields: Mapped[dict] = mapped_column(JSON, default=dict)
    # per unit, from the master down to the selling shop: [{tenant_id, cost, price}]
    chain: Mapped[list] = mapped_column(JSON, default=list)
    status: Mapped[str] = mapped_column(String(16), default="pending")
    # sent to the supplier: the same key on every retry, never a new one
    supplier_key: Mapped[str | None] = mapped_column(String(80), unique=True)
    supplier_ref: Mapped[str | None] = mapped_column(String(128))
    claimed_at: Mapped[datetime | None]
    attempts: Mapped[int] = mapped_column(default=0)
    # codes handed over by a supplier or by staff (manual), encrypted like stock codes
    delivery_ciphertext: Mapped[bytes | None]
    delivery_key_id: Mapped[str | None] = mapped_column(String(32))
    note: Mapped[str | None] = mapped_column(String(500))
    # a coupon's discount on the whole line (``amount = unit_price * quantity - discount``),
    # taken from the selling shop's margin: the chain's prices stay as they were
    discount: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")

    order: Mapped[Order] = relationship(back_populates="lines")


class RefundRequest(IdMixin, TimestampMixin, db.Model):
    """A sub-shop asks for the full reversal of a delivered order (a code reported
    invalid …). It travels up the tree: the holder (first the shop's parent) rejects it,
    forwards it to its own parent, or — the master — approves it.

    Not ``TenantScoped``: the requesting shop (``tenant_id``) and every shop above it that
    held it read it; ``kameng.sales.refunds`` checks who may see and act on it."""

    __tablename__ = "refund_requests"
    __table_args__ = (
        CheckConstraint(one_of("status", REFUND_REQUEST_STATUSES), name="status"),
        # one open request per order at a time
        Index("uq_refund_requests_open_order", "order_id", unique=True,
              postgresql_where=text("status = 'open'"), sqlite_where=text("status = 'open'")),
    )

    tenant_id: Mapped[int] = mapped_column(BigId, ForeignKey("tenants.id", ondelete="CASCADE"),
                                           index=True)
    order_id: Mapped[int] = mapped_column(BigId, ForeignKey("orders.id"), index=True)
    order_no: Mapped[str] = mapped_column(String(32))
    currency: Mapped[str] = mapped_column(String(3))
    amount: Mapped[int]
    reason: Mapped[str] = mapped_column(String(500))
    status: Mapped[str] = mapped_column(String(16), default="open")
    # the shop that must decide now (the requester's parent, then further up)
    holder_tenant_id: Mapped[int] = mapped_column(BigId, ForeignKey("tenants.id"), index=True)
    requested_by_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("users.id"))
    decided_at: Mapped[datetime | None]

    steps: Mapped[list[RefundStep]] = relationship(order_by="RefundStep.id",
                                                   back_populates="request")


class RefundStep(IdMixin, TimestampMixin, db.Model):
    """Who did what to a refund request, when and why (append-only)."""

    __tablename__ = "refund_steps"
    __table_args__ = (CheckConstraint(one_of("action", REFUND_STEP_ACTIONS), name="action"),)

    request_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("refund_requests.id", ondelete="CASCADE"), index=True)
    action: Mapped[str] = mapped_column(String(16))
    tenant_id: Mapped[int] = mapped_column(BigId, ForeignKey("tenants.id"))  # the acting shop
    user_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("users.id"))
    actor: Mapped[str] = mapped_column(String(255), default="")   # e-mail at the time
    # where the request went (filed, forwarded): the new holder
    to_tenant_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("tenants.id"))
    note: Mapped[str | None] = mapped_column(String(500))

    request: Mapped[RefundRequest] = relationship(back_populates="steps")


class OutboxMessage(IdMixin, TimestampMixin, db.Model):
    """Work to hand to the queue, written in the same transaction as the change
    that calls for it; a dispatcher moves it to RQ (at least once)."""

    __tablename__ = "outbox"
    __table_args__ = (Index("ix_outbox_pending", "dispatched_at", "id"),)

    topic: Mapped[str] = mapped_column(String(64))
    tenant_id: Mapped[int] = mapped_column(BigId)
    ref_id: Mapped[int] = mapped_column(BigId)
    payload: Mapped[dict] = mapped_column(JSON, default=dict)
    dispatched_at: Mapped[datetime | None]
    attempts: Mapped[int] = mapped_column(default=0)


COUPON_KINDS = ("percent", "fixed")
COUPON_SCOPES = ("shop", "category", "product")
# held: counts against the coupon's uses; released: an unpaid order expired and gave it back
REDEMPTION_STATUSES = ("held", "released")


class Coupon(IdMixin, TimestampMixin, TenantScoped, db.Model):
    """A code of one shop taking money off its own margin (优惠券)."""

    __tablename__ = "coupons"
    __table_args__ = (
        CheckConstraint(one_of("kind", COUPON_KINDS), name="kind"),
        CheckConstraint(one_of("scope", COUPON_SCOPES), name="scope"),
        CheckConstraint("value > 0 AND (kind <> 'percent' OR value <= 10000)", name="value"),
        CheckConstraint("uses >= 0 AND (max_uses IS NULL OR uses <= max_uses)", name="uses"),
        CheckConstraint("min_amount >= 0", name="min_amount"),
        UniqueConstraint("tenant_id", "code"),
    )

    code: Mapped[str] = mapped_column(String(32))          # stored upper-case
    kind: Mapped[str] = mapped_column(String(8))
    # percent: basis points (1000 = 10 %); fixed: minor units off the line
    value: Mapped[int] = mapped_column(BigInteger)
    scope: Mapped[str] = mapped_column(String(8), default="shop")
    category_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("categories.id"))
    product_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("products.id"))
    starts_at: Mapped[datetime | None]
    ends_at: Mapped[datetime | None]
    max_uses: Mapped[int | None]
    per_buyer: Mapped[int | None]
    min_amount: Mapped[int] = mapped_column(BigInteger, default=0)
    uses: Mapped[int] = mapped_column(default=0)
    active: Mapped[bool] = mapped_column(default=True)


class CouponRedemption(IdMixin, TimestampMixin, TenantScoped, db.Model):
    """One order's use of a coupon, written in the order's transaction."""

    __tablename__ = "coupon_redemptions"
    __table_args__ = (
        CheckConstraint(one_of("status", REDEMPTION_STATUSES), name="status"),
        Index("ix_coupon_redemptions_coupon_buyer", "coupon_id", "buyer"),
    )

    coupon_id: Mapped[int] = mapped_column(BigId, ForeignKey("coupons.id", ondelete="CASCADE"))
    order_id: Mapped[int] = mapped_column(BigId, ForeignKey("orders.id", ondelete="CASCADE"),
                                          unique=True)
    # customer:<id> or, for a guest, contact:<lower-case contact>
    buyer: Mapped[str] = mapped_column(String(270))
    discount: Mapped[int] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(String(8), default="held")
