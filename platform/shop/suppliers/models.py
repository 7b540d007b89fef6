"""Where goods come from: our own stock, or an upstream API."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, CheckConstraint, ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from kameng.core.extensions import db
from kameng.core.models import BigId, IdMixin, TimestampMixin, utcnow

ADAPTERS = ("local", "http_topup", "kameng")


class Supplier(IdMixin, TimestampMixin, db.Model):
    __tablename__ = "suppliers"
    __table_args__ = (
        CheckConstraint("adapter IN ('local', 'http_topup', 'kameng')", name="adapter"),
    )

    name: Mapped[str] = mapped_column(String(120), unique=True)
    adapter: Mapped[str] = mapped_column(String(32), default="local")
    # adapter settings that are not secret: base_url, key_id, connect/read timeouts
    config: Mapped[dict] = mapped_column(JSON, default=dict)
    # the API secret, sealed with AES-GCM (kameng.shop.suppliers.secretbox); never shown back
    secret_ciphertext: Mapped[str | None] = mapped_column(Text)
    enabled: Mapped[bool] = mapped_column(default=True)
    # last answers from the upstream, shown in the back office
    last_balance: Mapped[int | None]
    balance_checked_at: Mapped[datetime | None]
    synced_at: Mapped[datetime | None]

    upstream_products: Mapped[list[UpstreamProduct]] = relationship(
        back_populates="supplier", order_by="UpstreamProduct.sku",
        cascade="all, delete-orphan")

    @property
    def has_secret(self) -> bool:
        return bool(self.secret_ciphertext)

    def __repr__(self) -> str:  # never the secret
        return f"<Supplier {self.name} ({self.adapter})>"


class UpstreamProduct(IdMixin, db.Model):
    """One product of a supplier's catalog, as last synced (``kameng.shop.suppliers.services``).

    Kept so orders can be validated (amount range, account format) without a round
    trip, and so the back office can show and map the upstream catalog.
    """

    __tablename__ = "supplier_products"
    __table_args__ = (UniqueConstraint("supplier_id", "sku"),)

    supplier_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("suppliers.id", ondelete="CASCADE"), index=True)
    sku: Mapped[str] = mapped_column(String(128))
    name: Mapped[str] = mapped_column(String(200), default="")
    currency: Mapped[str] = mapped_column(String(3), default="CNY")
    # minor units; face_value is None for an open amount between min_amount and max_amount
    face_value: Mapped[int | None]
    min_amount: Mapped[int | None]
    max_amount: Mapped[int | None]
    price: Mapped[int | None]                 # what one unit costs us upstream
    account_regex: Mapped[str | None] = mapped_column(String(255))
    available: Mapped[bool] = mapped_column(default=True)
    synced_at: Mapped[datetime] = mapped_column(default=utcnow)

    supplier: Mapped[Supplier] = relationship(back_populates="upstream_products")
