"""A shop's customers (buyer accounts): find them, block and unblock them.

A blocked customer cannot sign in, its sessions and API keys stop working at once
(``User.is_active``, ``session_version``), so it cannot buy with the account; the
orders and the wallet stay as they are, and unblocking gives the account back.
"""
from __future__ import annotations

from sqlalchemy import or_, select

from kameng.core import audit
from kameng.core.errors import NotFound
from kameng.core.extensions import db
from kameng.core.i18n import lazy_gettext as _l
from kameng.core.models import utcnow
from kameng.core.pagination import Page, keyset_page
from kameng.core.scoping import all_tenants
from kameng.core.txn import owning
from kameng.tenants.models import Tenant, User
from kameng.tenants.services import end_sessions_in_txn

PAGE_SIZE = 50


def _like(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def search_customers(tenant: Tenant, query: str = "", *, before: int | None = None,
                     size: int = PAGE_SIZE) -> Page[User]:
    """The shop's customers, newest first, whose e-mail or name contains ``query``."""
    stmt = select(User).where(User.tenant_id == tenant.id, User.role == "customer")
    query = (query or "").strip()[:254]
    if query:
        pattern = _like(query.lower())
        stmt = stmt.where(or_(User.email.like(pattern, escape="\\"),
                              db.func.lower(User.display_name).like(pattern, escape="\\")))
    with all_tenants():
        return keyset_page(stmt, User.id, size, before)


def get_customer(tenant: Tenant, user_id: int) -> User:
    """A customer of this shop (``NotFound`` for another shop's, or a staff account)."""
    with all_tenants():
        user = db.session.get(User, user_id)
    if user is None or user.tenant_id != tenant.id or user.role != "customer":
        raise NotFound(_l("no such customer on this shop"))
    return user


def set_blocked_in_txn(tenant: Tenant, actor: User, user_id: int, blocked: bool) -> User:
    user = get_customer(tenant, user_id)
    if blocked == (user.blocked_at is not None):
        return user   # a double submit changes nothing
    if blocked:
        user.blocked_at = utcnow()
        end_sessions_in_txn(user)
    else:
        user.blocked_at = None
    audit.record(actor, "customer.block" if blocked else "customer.unblock",
                 tenant_id=tenant.id, email=user.email)
    return user


set_blocked = owning(set_blocked_in_txn)
