"""The tenant side of opening a shop from a shop's site: a shop's sign-up setting, the
slug rules, and the one-time login link that carries the founder to the new host.

The sign-up itself (a shop, its owner, its plan and markup in one transaction) composes
tenants, shop and billing, so it lives in ``kameng.sales.openshop``.
"""
from __future__ import annotations

import re
import secrets
from datetime import timedelta

from flask import current_app
from sqlalchemy import select, update

from kameng.core.errors import Conflict, InvalidInput
from kameng.core.extensions import db
from kameng.core.i18n import lazy_gettext as _l
from kameng.core.models import utcnow
from kameng.core.scoping import all_tenants
from kameng.core.txn import owning
from kameng.tenants.api_keys import hash_key
from kameng.tenants.models import Domain, Tenant, User
from kameng.tenants.services import RESERVED_SLUGS
from kameng.tenants.signup_models import LoginHandover, ShopSignup

SIGNUP_MODES = ("closed", "approval", "open")
# a new shop's slug: what a visitor may pick (operators may use 1–63 with the CLI)
OPEN_SLUG_RE = re.compile(r"^[a-z0-9](?:[a-z0-9-]{1,30}[a-z0-9])$")
RESERVED = RESERVED_SLUGS | {"open-shop", "shop", "shops", "help", "support",
                             "login", "register", "assets", "media", "cdn", "ftp", "smtp",
                             "imap", "pop", "ns1", "ns2", "localhost", "kameng", "_tls"}
HANDOVER_SECONDS = 120


# ----- the sign-up setting -------------------------------------------------------------

def signup_settings(tenant: Tenant) -> dict:
    """``{"mode": closed|approval|open, "plans": [plan ids], "markup_bp": int}`` of a shop
    (kept in ``Tenant.settings["signups"]``, so the host cache carries it)."""
    raw = dict((tenant.settings or {}).get("signups") or {})
    mode = raw.get("mode") if raw.get("mode") in SIGNUP_MODES else "closed"
    plans = [int(p) for p in raw.get("plans") or [] if str(p).isdigit()]
    markup = raw.get("markup_bp")
    return {"mode": mode, "plans": plans,
            "markup_bp": int(markup) if isinstance(markup, int) and markup >= 0 else 0}


def write_signup_settings_in_txn(tenant: Tenant, mode: str, plans: list[int],
                                 markup_bp: int) -> None:
    """Store the setting as given (the caller checked the plans are the shop's own)."""
    if mode not in SIGNUP_MODES:
        raise InvalidInput(_l("choose closed, with approval or open"), field="mode")
    settings = dict(tenant.settings or {})
    settings["signups"] = {"mode": mode, "plans": [int(p) for p in plans],
                           "markup_bp": int(markup_bp)}
    tenant.settings = settings  # a new dict: the JSON column sees the change


# ----- slugs --------------------------------------------------------------------------

def slug_problem(slug: str) -> InvalidInput | Conflict | None:
    """Why ``slug`` cannot name a new shop (None: it can, as of now)."""
    slug = slug or ""
    if not OPEN_SLUG_RE.match(slug):
        return InvalidInput(_l("Use 3–32 lower-case letters, digits or '-' (not first or "
                               "last)."), field="slug")
    if slug in RESERVED:
        return InvalidInput(_l("This name is reserved: choose another."), field="slug")
    host = f"{slug}.{current_app.config['BASE_DOMAIN']}"
    taken = db.session.scalar(select(Tenant.id).where(Tenant.slug == slug)) or \
        db.session.scalar(select(Domain.id).where(Domain.hostname == host))
    if taken:
        return Conflict(_l("This name is taken: choose another."), field="slug")
    return None


# ----- the hand-over login link ----------------------------------------------------------

def create_handover_in_txn(tenant: Tenant, user: User, next_path: str = "/admin/") -> str:
    """A login link's token for ``user`` on ``tenant``'s host, good once for
    ``HANDOVER_SECONDS``."""
    token = secrets.token_urlsafe(32)
    db.session.add(LoginHandover(token_hash=hash_key(token), tenant_id=tenant.id, user_id=user.id,
                                 next_path=next_path,
                                 expires_at=utcnow() + timedelta(seconds=HANDOVER_SECONDS)))
    return token


def spend_handover_in_txn(tenant: Tenant, token: str) -> tuple[User, str] | None:
    """The user a valid, unused link of this shop names, and where it leads; the link is
    spent by one conditional UPDATE (two racing clicks: one wins). None otherwise."""
    if not token or len(token) > 128:
        return None
    now = utcnow()
    spent = db.session.execute(
        update(LoginHandover)
        .where(LoginHandover.token_hash == hash_key(token),
               LoginHandover.tenant_id == tenant.id,
               LoginHandover.used_at.is_(None), LoginHandover.expires_at > now)
        .values(used_at=now)
        .returning(LoginHandover.user_id, LoginHandover.next_path)
        .execution_options(synchronize_session=False)).first()
    if spent is None:
        return None
    with all_tenants():
        user = db.session.get(User, spent.user_id)
    if user is None or user.tenant_id != tenant.id or not user.is_active:
        return None
    return user, spent.next_path


spend_handover = owning(spend_handover_in_txn)


# ----- what a pending shop waits for ----------------------------------------------------

def signup_of(tenant: Tenant) -> ShopSignup | None:
    return db.session.scalar(select(ShopSignup).where(ShopSignup.tenant_id == tenant.id))


def _open_when_ready(tenant: Tenant, signup: ShopSignup) -> None:
    if tenant.status == "pending" and not signup.awaiting_approval \
            and not signup.awaiting_payment:
        tenant.status = "active"


def plan_paid_in_txn(tenant: Tenant) -> None:
    """The shop's plan is paid: a shop that waited only for that opens now (billing calls
    this from the transaction that records the payment)."""
    signup = signup_of(tenant)
    if signup is None or not signup.awaiting_payment:
        return
    signup.awaiting_payment = False
    _open_when_ready(tenant, signup)


def approve_in_txn(tenant: Tenant) -> None:
    """The parent approves a pending shop: it opens, unless its plan is still unpaid."""
    signup = signup_of(tenant)
    if tenant.status != "pending" or signup is None or not signup.awaiting_approval:
        raise Conflict(_l("This shop is not waiting for approval."), field="shop")
    signup.awaiting_approval = False
    signup.approved_at = utcnow()
    _open_when_ready(tenant, signup)
