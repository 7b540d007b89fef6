"""API keys: one user account's credentials for the docking API.

Only a SHA-256 hash of a key is stored. Keys are 256 random bits, so a fast
hash is enough (nothing to brute-force) and lets a request find its key by an
indexed lookup; the plaintext is shown once, when the key is made.
"""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from kameng.core.extensions import db
from kameng.core.models import BigId, IdMixin, TenantScoped, TimestampMixin


class ApiKey(IdMixin, TimestampMixin, TenantScoped, db.Model):
    __tablename__ = "api_keys"

    user_id: Mapped[int] = mapped_column(BigId, ForeignKey("users.id", ondelete="CASCADE"),
                                         index=True)
    name: Mapped[str] = mapped_column(String(80))
    # the first characters of the key, to tell keys apart in lists ("km_Ab3dE9xQ…")
    prefix: Mapped[str] = mapped_column(String(16))
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)  # hex SHA-256
    last_used_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]

    @property
    def active(self) -> bool:
        return self.revoked_at is None
