"""Which payment providers a shop takes, and its settings for each."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from kameng.core.extensions import db
from kameng.core.models import IdMixin, TenantScoped, TimestampMixin, utcnow

PROVIDER_NAMES = ("balance", "stripe", "epay")


class PaymentMethodConfig(IdMixin, TimestampMixin, TenantScoped, db.Model):
    """One row per (shop, provider).

    ``settings`` holds plain values (epay ``apiurl``, ``pid``, ``types``);
    ``secrets`` maps a field name to its sealed value
    (``kameng.billing.payments.secrets``) and is never shown back.
    """

    __tablename__ = "payment_method_configs"
    # no CHECK on the name: providers can be registered later (services validate it)
    __table_args__ = (UniqueConstraint("tenant_id", "provider"),)

    provider: Mapped[str] = mapped_column(String(32))
    enabled: Mapped[bool] = mapped_column(default=False)
    settings: Mapped[dict] = mapped_column(JSON, default=dict)
    secrets: Mapped[dict] = mapped_column(JSON, default=dict)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
