"""One row per key rotation: what it moves rows to, and how far it got (resumable); the
key-id indexes the key ring's checks need on the big encrypted tables."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, CheckConstraint, Index, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from kameng.core.extensions import db
from kameng.core.models import IdMixin, one_of, utcnow
from kameng.sales.models import OrderLine
from kameng.shop.stock.models import CardCode

ROTATION_STATUSES = ("running", "done", "failed")


class KeyRotation(IdMixin, db.Model):
    __tablename__ = "key_rotations"
    __table_args__ = (CheckConstraint(one_of("status", ROTATION_STATUSES), name="status"),)

    key_id: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16), default="running")
    # store name -> {"last_id", "moved", "max_id"}, written in the transaction of each batch
    progress: Mapped[dict] = mapped_column(JSON, default=dict)
    passes: Mapped[int] = mapped_column(default=0)
    remaining: Mapped[int | None]
    error: Mapped[str | None] = mapped_column(Text)
    # the job starts no sooner: every process has re-read the ring file by then
    not_before: Mapped[datetime] = mapped_column(default=utcnow)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None]


# Which key ids the stored codes use (``kameng doctor``), and whether a key is still
# used (``kameng keys retire``), are a few probes of these indexes instead of a scan of
# millions of codes (``rotation.keys_in_use``). Declared here, beside the code that
# needs them, on the tables of shop.stock and sales. Delivered codes sit on a minority
# of order lines: only those are indexed.
Index("ix_card_codes_key_id", CardCode.__table__.c.key_id)
Index("ix_order_lines_delivery_key_id", OrderLine.__table__.c.delivery_key_id,
      postgresql_where=text("delivery_key_id IS NOT NULL"),
      sqlite_where=text("delivery_key_id IS NOT NULL"))
