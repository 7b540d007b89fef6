"""An append-only audit trail: sensitive operator actions (exports, voids …) and every
back-office write (who, which shop, what, when, from where, whether it worked).

``record`` adds the event to the caller's session: it is written in the same
transaction as the action it describes, or not at all.

``record_write`` is the back office's: its blueprint calls it after each POST, PUT,
PATCH or DELETE, once the answer is known, and it writes in a transaction of its own
(whatever the request left uncommitted is rolled back first, as the request's end would
anyway), so a refused or failed action is recorded too. ``ok`` is true when the answer
is not an error and the request's last transaction committed (``track_commits``
counts them per request). Only ids and the names of the posted fields are kept, never
their values: no password, key or card code reaches the log.
"""
from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy import JSON, BigInteger, String, select, true
from sqlalchemy.orm import Mapped, Session, mapped_column

from kameng.core.database import listen_once
from kameng.core.extensions import db
from kameng.core.models import IdMixin, utcnow
from kameng.core.pagination import Page, keyset_page

log = logging.getLogger(__name__)


class AuditEvent(IdMixin, db.Model):
    __tablename__ = "audit_events"

    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    tenant_id: Mapped[int | None] = mapped_column(BigInteger, index=True)
    actor: Mapped[str] = mapped_column(String(255))
    action: Mapped[str] = mapped_column(String(64), index=True)
    detail: Mapped[dict] = mapped_column(JSON, default=dict)
    # who and from where (None for the CLI and jobs), and how a back-office write ended
    user_id: Mapped[int | None] = mapped_column(BigInteger, index=True)
    object_id: Mapped[str | None] = mapped_column(String(64))
    ip: Mapped[str | None] = mapped_column(String(45))
    user_agent: Mapped[str | None] = mapped_column(String(255))
    method: Mapped[str | None] = mapped_column(String(8))
    status: Mapped[int | None]
    ok: Mapped[bool] = mapped_column(default=True, server_default=true())


def actor_label(actor) -> str:
    """'user:12 owner@shop.test', 'cli', … whatever did it, as text."""
    if actor is None:
        return "system"
    if isinstance(actor, str):
        return actor[:255]
    email = getattr(actor, "email", None)
    return f"user:{getattr(actor, 'id', '?')} {email or ''}".strip()[:255]


def _actor_id(actor) -> int | None:
    value = getattr(actor, "id", None) if not isinstance(actor, str) else None
    return value if isinstance(value, int) else None


def _origin() -> dict:
    """The client's address (as ProxyFix sees it) and user agent, in a request."""
    from flask import has_request_context, request

    if not has_request_context():
        return {}
    return {"ip": (request.remote_addr or "")[:45] or None,
            "user_agent": (request.user_agent.string or "")[:255] or None}


def record(actor, action: str, *, tenant_id: int | None = None, **detail) -> AuditEvent:
    """Add an audit event to the current transaction (the caller commits)."""
    if tenant_id is None:
        tenant_id = getattr(actor, "tenant_id", None)
    event = AuditEvent(actor=actor_label(actor), action=action, tenant_id=tenant_id,
                       detail=detail, user_id=_actor_id(actor), **_origin())
    db.session.add(event)
    return event


# ----- back-office writes ---------------------------------------------------------

_COMMITS = "kameng.audit.commits"


def _after_commit(session: Session) -> None:
    from flask import g, has_app_context

    if has_app_context() and _COMMITS in g:
        setattr(g, _COMMITS, (getattr(g, _COMMITS)[0] + 1, True))


def _after_rollback(session: Session) -> None:
    from flask import g, has_app_context

    if has_app_context() and _COMMITS in g:
        setattr(g, _COMMITS, (getattr(g, _COMMITS)[0], False))


def install() -> None:
    """The session listeners behind ``track_commits`` (admin's init_app)."""
    listen_once(Session, "after_commit", _after_commit)
    listen_once(Session, "after_rollback", _after_rollback)


def track_commits() -> None:
    """From now on this request counts its commits (a ``before_request`` hook)."""
    from flask import g

    setattr(g, _COMMITS, (0, False))


def _summary(view_args: dict, form_keys) -> dict:
    args = {str(k)[:40]: str(v)[:64] for k, v in (view_args or {}).items()}
    fields = sorted({str(k)[:40] for k in form_keys if k != "csrf_token"})[:40]
    return {"args": args, "fields": fields}


def record_write(response, *, user, tenant_id: int | None):
    """Record the request's back-office write in its own transaction (an
    ``after_request`` hook); returns ``response``. Never fails the request."""
    from flask import g, request

    commits, last_committed = getattr(g, _COMMITS, (0, False))
    view_args = request.view_args or {}
    try:
        event = dict(
            actor=actor_label(user), user_id=_actor_id(user), tenant_id=tenant_id,
            action=(request.endpoint or request.path)[:64], method=request.method[:8],
            object_id=(str(next(iter(view_args.values())))[:64] if view_args else None),
            status=response.status_code,
            ok=response.status_code < 400 and commits > 0 and last_committed,
            detail=_summary(view_args, request.form.keys()), **_origin())
        # what the request left uncommitted goes, as it would at the request's end
        db.session.rollback()
        db.session.add(AuditEvent(**event))
        db.session.commit()
    except Exception:  # the answer stands; the log says the record is missing
        db.session.rollback()
        log.exception("audit record of %s %s failed", request.method, request.path)
    return response


# ----- reading ----------------------------------------------------------------------

def events(*, tenant_ids: list[int] | None, user_ids: list[int] | None = None,
           since: datetime | None = None, until: datetime | None = None,
           before: int | None = None, size: int = 50) -> Page[AuditEvent]:
    """A page of events, newest first: of these shops (None: every shop), by these
    users, in ``[since, until)``."""
    query = select(AuditEvent)
    if tenant_ids is not None:
        query = query.where(AuditEvent.tenant_id.in_(tenant_ids))
    if user_ids is not None:
        query = query.where(AuditEvent.user_id.in_(user_ids))
    if since is not None:
        query = query.where(AuditEvent.created_at >= since)
    if until is not None:
        query = query.where(AuditEvent.created_at < until)
    return keyset_page(query, AuditEvent.id, size, before)
