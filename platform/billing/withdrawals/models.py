"""Saved payout methods and withdrawal requests of a shop's available earnings."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from kameng.core.extensions import db
from kameng.core.models import BigId, IdMixin, TenantScoped, TimestampMixin

METHOD_KINDS = ("alipay", "bank", "usdt", "stripe_connect")
# requested → approved → paid; requested|approved → rejected (the hold goes back)
WITHDRAWAL_STATUSES = ("requested", "approved", "rejected", "paid")


class PayoutMethod(IdMixin, TimestampMixin, TenantScoped, db.Model):
    __tablename__ = "payout_methods"
    __table_args__ = (
        CheckConstraint("kind IN ('alipay', 'bank', 'usdt', 'stripe_connect')", name="kind"),
    )

    kind: Mapped[str] = mapped_column(String(16))
    account: Mapped[str] = mapped_column(String(120))     # Alipay id, card no, address, acct_…
    holder: Mapped[str] = mapped_column(String(120), default="")
    bank_name: Mapped[str] = mapped_column(String(120), default="")
    network: Mapped[str] = mapped_column(String(16), default="")  # USDT: TRC20 / ERC20
    active: Mapped[bool] = mapped_column(default=True)

    @property
    def masked(self) -> str:
        if self.kind == "bank" and len(self.account) > 8:
            return f"{self.account[:4]} **** {self.account[-4:]}"
        return self.account

    @property
    def label(self) -> str:
        from kameng.core.labels import label

        return f"{label(self.kind, 'payout_method')}: {self.masked}"


class Withdrawal(IdMixin, TimestampMixin, TenantScoped, db.Model):
    __tablename__ = "withdrawals"
    __table_args__ = (
        CheckConstraint("status IN ('requested', 'approved', 'rejected', 'paid')",
                        name="status"),
        CheckConstraint("amount > 0 AND fee >= 0 AND net > 0 AND net + fee = amount",
                        name="amounts"),
        UniqueConstraint("tenant_id", "request_key"),
    )

    payout_method_id: Mapped[int] = mapped_column(BigId, ForeignKey("payout_methods.id"))
    currency: Mapped[str] = mapped_column(String(3))
    amount: Mapped[int] = mapped_column(BigId)   # taken from available earnings
    fee: Mapped[int] = mapped_column(BigId, default=0)
    net: Mapped[int] = mapped_column(BigId)      # paid out
    status: Mapped[str] = mapped_column(String(16), default="requested")
    request_key: Mapped[str | None] = mapped_column(String(80))
    requested_by_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("users.id"))
    decided_by_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("users.id"))
    decided_by_tenant_id: Mapped[int | None] = mapped_column(BigId)
    decided_at: Mapped[datetime | None]
    paid_at: Mapped[datetime | None]
    reference: Mapped[str | None] = mapped_column(String(128))
    note: Mapped[str | None] = mapped_column(String(500))

    payout_method: Mapped[PayoutMethod] = relationship(lazy="joined")
