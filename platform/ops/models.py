"""One row per key rotation: what it moves rows to, and how far it got (resumable)."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, CheckConstraint, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from kameng.core.extensions import db
from kameng.core.models import IdMixin, one_of, utcnow

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

