"""Where goods come from: our own stock, or an upstream API."""
from __future__ import annotations

from sqlalchemy import JSON, CheckConstraint, String
from sqlalchemy.orm import Mapped, mapped_column

from kameng.core.extensions import db
from kameng.core.models import IdMixin, TimestampMixin

ADAPTERS = ("local", "http_topup", "kameng")


class Supplier(IdMixin, TimestampMixin, db.Model):
    __tablename__ = "suppliers"
    __table_args__ = (
        CheckConstraint("adapter IN ('local', 'http_topup', 'kameng')", name="adapter"),
    )

    name: Mapped[str] = mapped_column(String(120), unique=True)
    adapter: Mapped[str] = mapped_column(String(32), default="local")
    # adapter settings (base_url, key id …); secrets encrypted by kameng.core.crypto
    config: Mapped[dict] = mapped_column(JSON, default=dict)
    enabled: Mapped[bool] = mapped_column(default=True)
