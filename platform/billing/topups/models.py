"""A customer's wallet top-up paid at a payment provider (card)."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from kameng.core.extensions import db
from kameng.core.models import BigId, IdMixin, TenantScoped, TimestampMixin


class WalletTopup(IdMixin, TimestampMixin, TenantScoped, db.Model):
    __tablename__ = "wallet_topups"
    __table_args__ = (
        CheckConstraint("status IN ('pending', 'paid')", name="status"),
        CheckConstraint("amount > 0", name="amount"),
    )

    topup_no: Mapped[str] = mapped_column(String(32), unique=True)
    user_id: Mapped[int] = mapped_column(BigId, ForeignKey("users.id"), index=True)
    amount: Mapped[int]
    currency: Mapped[str] = mapped_column(String(3))
    provider: Mapped[str] = mapped_column(String(16))
    provider_ref: Mapped[str | None] = mapped_column(String(128))
    status: Mapped[str] = mapped_column(String(16), default="pending")
    paid_at: Mapped[datetime | None]
