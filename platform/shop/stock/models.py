"""Card-code stock: import batches, the encrypted codes, loop-code deliveries.

A code is never stored in plaintext: ``secret_ciphertext`` is AES-GCM under the
key named by ``key_id`` (see ``kameng.core.crypto``) and ``fingerprint`` is a
keyed hash, unique per product, so imports deduplicate without decrypting.
"""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    ForeignKey,
    Index,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    literal_column,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from kameng.core.extensions import db
from kameng.core.models import BigId, IdMixin, TimestampMixin, one_of, partial_index

# available → reserved → sold; void: withdrawn by staff (an available code), or a sold
# code whose order was refunded in full (``void_reason``/``void_ref``): never on sale again
CODE_STATUSES = ("available", "reserved", "sold", "void")
BATCH_STATUSES = ("queued", "running", "done", "failed")
# "available" as an SQL literal, not a parameter, in statements that look for available
# codes: a prepared statement's generic plan can then use the partial index of available
# codes (with a parameter, which could be any status, PostgreSQL's generic plan for an
# order's pick read every code the product ever had and sorted them, once per order)
AVAILABLE = literal_column("'available'", String)


class StockBatch(IdMixin, TimestampMixin, db.Model):
    """One import: who, when, what it cost, and what came of it."""

    __tablename__ = "stock_batches"
    __table_args__ = (
        CheckConstraint(one_of("status", BATCH_STATUSES), name="status"),
    )

    product_id: Mapped[int] = mapped_column(BigId, ForeignKey("products.id"), index=True)
    actor: Mapped[str] = mapped_column(String(255))           # "user:3 a@b.c", "cli"
    user_id: Mapped[int | None] = mapped_column(BigInteger)   # the staff account, if any
    cost_note: Mapped[str] = mapped_column(String(255), default="")
    source_name: Mapped[str] = mapped_column(String(255), default="")
    separator: Mapped[str | None] = mapped_column(String(8))
    status: Mapped[str] = mapped_column(String(16), default="queued")
    total_lines: Mapped[int] = mapped_column(default=0)       # non-blank lines
    imported: Mapped[int] = mapped_column(default=0)
    duplicates: Mapped[int] = mapped_column(default=0)
    voided: Mapped[int] = mapped_column(default=0)
    error: Mapped[str | None] = mapped_column(Text)           # never contains a code
    finished_at: Mapped[datetime | None]

    product = relationship("Product")


class CardCode(IdMixin, db.Model):
    __tablename__ = "card_codes"
    __table_args__ = (
        UniqueConstraint("product_id", "fingerprint"),
        CheckConstraint(one_of("status", CODE_STATUSES), name="status"),
        # allocation reads only available rows of one product, oldest first
        partial_index("ix_card_codes_available", "product_id", "id",
                      where="status = 'available'"),
        partial_index("ix_card_codes_order_line_id", "order_line_id",
                      where="order_line_id IS NOT NULL"),
        partial_index("ix_card_codes_sold", "product_id", "sold_at", where="sold_at IS NOT NULL"),
        # which key ids codes use (``kameng doctor``, ``keys retire``): index probes,
        # not a scan of millions of codes (``ops.rotation.keys_in_use``)
        Index("ix_card_codes_key_id", "key_id"),
    )

    # no FK constraints here: a per-row RI check would double the cost of a
    # million-row import; the stock service is the only writer and checks both
    product_id: Mapped[int] = mapped_column(BigId)
    batch_id: Mapped[int] = mapped_column(BigId, index=True)
    secret_ciphertext: Mapped[bytes] = mapped_column(LargeBinary)
    key_id: Mapped[str] = mapped_column(String(16))
    fingerprint: Mapped[bytes] = mapped_column(LargeBinary(32))
    status: Mapped[str] = mapped_column(String(16), default="available")
    order_line_id: Mapped[int | None] = mapped_column(BigInteger)
    reserved_until: Mapped[datetime | None]
    sold_at: Mapped[datetime | None]
    # a sold code voided by a full refund: why, and the order it was sold on (order_no)
    voided_at: Mapped[datetime | None]
    void_reason: Mapped[str | None] = mapped_column(String(255))
    void_ref: Mapped[str | None] = mapped_column(String(80))


class LoopDelivery(IdMixin, TimestampMixin, db.Model):
    """A loop ("reusable") code handed to one order line: the code row stays available."""

    __tablename__ = "loop_deliveries"
    __table_args__ = (
        CheckConstraint("status IN ('reserved', 'sold')", name="status"),
    )

    code_id: Mapped[int] = mapped_column(BigId, ForeignKey("card_codes.id"), index=True)
    product_id: Mapped[int] = mapped_column(BigId, index=True)
    order_line_id: Mapped[int] = mapped_column(BigInteger, unique=True)
    quantity: Mapped[int] = mapped_column(default=1)
    status: Mapped[str] = mapped_column(String(16), default="reserved")
    reserved_until: Mapped[datetime | None]
    sold_at: Mapped[datetime | None]
