"""An append-only audit trail of sensitive operator actions (exports, voids …).

``record`` adds the event to the caller's session: it is written in the same
transaction as the action it describes, or not at all.
"""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, BigInteger, String
from sqlalchemy.orm import Mapped, mapped_column

from kameng.core.extensions import db
from kameng.core.models import IdMixin, utcnow


class AuditEvent(IdMixin, db.Model):
    __tablename__ = "audit_events"

    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    tenant_id: Mapped[int | None] = mapped_column(BigInteger, index=True)
    actor: Mapped[str] = mapped_column(String(255))
    action: Mapped[str] = mapped_column(String(64), index=True)
    detail: Mapped[dict] = mapped_column(JSON, default=dict)


def actor_label(actor) -> str:
    """'user:12 owner@shop.test', 'cli', … whatever did it, as text."""
    if actor is None:
        return "system"
    if isinstance(actor, str):
        return actor[:255]
    email = getattr(actor, "email", None)
    return f"user:{getattr(actor, 'id', '?')} {email or ''}".strip()[:255]


def record(actor, action: str, *, tenant_id: int | None = None, **detail) -> AuditEvent:
    """Add an audit event to the current transaction (the caller commits)."""
    if tenant_id is None:
        tenant_id = getattr(actor, "tenant_id", None)
    event = AuditEvent(actor=actor_label(actor), action=action, tenant_id=tenant_id,
                       detail=detail)
    db.session.add(event)
    return event
