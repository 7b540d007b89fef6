"""API keys: make one (the plaintext is returned once), list, revoke, authenticate.

A key is an account's credential, so it lives with the accounts: the API
authenticates with it, the storefront and the back office manage it.
"""
from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import func, select, update

from kameng.core.errors import Conflict, InvalidInput, NotFound
from kameng.core.extensions import db
from kameng.core.i18n import lazy_gettext as _l
from kameng.core.models import utcnow
from kameng.core.txn import in_own_txn
from kameng.tenants.models import ApiKey, Tenant, User

KEY_PREFIX = "km_"
PREFIX_SHOWN = len(KEY_PREFIX) + 8
NAME_MAX = 80
MAX_ACTIVE_KEYS = 20
# last_used_at is a hint for the owner, not an audit log: one write a minute at most
TOUCH_EVERY = timedelta(seconds=60)


@dataclass
class NewKey:
    key: ApiKey
    plaintext: str   # shown to the user once, never stored


def hash_key(plaintext: str) -> str:
    return hashlib.sha256(plaintext.encode()).hexdigest()


def _clean_name(name: str | None) -> str:
    name = (name or "").strip() or "API key"
    if len(name) > NAME_MAX or any(ord(c) < 32 or ord(c) == 127 for c in name):
        raise InvalidInput(_l("the key's name must be at most %(name_max)s printable characters",
                              name_max=NAME_MAX),
                           field="name")
    return name


def _own(user: User):
    """Rows of this user's keys, whatever the current tenant scope."""
    return (select(ApiKey).where(ApiKey.tenant_id == user.tenant_id, ApiKey.user_id == user.id)
            .execution_options(all_tenants=True))


def create_key(user: User, name: str | None = None) -> NewKey:
    """A new key for ``user``; the returned plaintext is the only copy there will be."""
    return in_own_txn(create_key_in_txn, user, name)


def create_key_in_txn(user: User, name: str | None = None) -> NewKey:
    """``create_key`` in the caller's transaction (flushed: the key has its id)."""
    if user is None or user.id is None:
        raise InvalidInput(_l("no such account"), field="user")
    name = _clean_name(name)
    active = db.session.scalar(
        select(func.count()).select_from(ApiKey)
        .where(ApiKey.tenant_id == user.tenant_id, ApiKey.user_id == user.id,
               ApiKey.revoked_at.is_(None)).execution_options(all_tenants=True))
    if active >= MAX_ACTIVE_KEYS:
        raise Conflict(_l("an account may hold at most %(max_active_keys)s active keys; "
                          "revoke one first", max_active_keys=MAX_ACTIVE_KEYS), field="name")
    plaintext = KEY_PREFIX + secrets.token_urlsafe(32)   # 256 random bits
    key = ApiKey(tenant_id=user.tenant_id, user_id=user.id, name=name,
                 prefix=plaintext[:PREFIX_SHOWN], key_hash=hash_key(plaintext))
    db.session.add(key)
    db.session.flush()
    return NewKey(key, plaintext)


def list_keys(user: User) -> list[ApiKey]:
    """The user's keys, active first, newest first."""
    return list(db.session.scalars(
        _own(user).order_by(ApiKey.revoked_at.is_not(None), ApiKey.id.desc())))


def get_key(user: User, key_id: int) -> ApiKey:
    key = db.session.scalar(_own(user).where(ApiKey.id == key_id))
    if key is None:
        raise NotFound(_l("no such API key"))
    return key


def revoke_key(user: User, key_id: int) -> ApiKey:
    """Revoke one of the user's own keys (at once: the next request with it is refused).

    Revoking a revoked key changes nothing.
    """
    key = get_key(user, key_id)
    db.session.execute(
        update(ApiKey).where(ApiKey.id == key.id, ApiKey.revoked_at.is_(None))
        .values(revoked_at=utcnow()).execution_options(synchronize_session=False))
    db.session.commit()
    db.session.refresh(key)
    return key


def authenticate(tenant: Tenant, plaintext: str | None) -> tuple[ApiKey, User] | None:
    """The active key and its account on *this* shop, else None.

    A key of another shop is not found here (the lookup is bound to the tenant).
    """
    if tenant is None or not plaintext or not plaintext.startswith(KEY_PREFIX) \
            or len(plaintext) > 128:
        return None
    row = db.session.execute(
        select(ApiKey, User).join(User, User.id == ApiKey.user_id)
        .where(ApiKey.key_hash == hash_key(plaintext), ApiKey.tenant_id == tenant.id,
               User.tenant_id == tenant.id)
        .execution_options(all_tenants=True)).first()
    if row is None:
        return None
    key, user = row
    if key.revoked_at is not None or not user.is_active:
        return None
    now = utcnow()
    if key.last_used_at is None or now - key.last_used_at > TOUCH_EVERY:
        db.session.execute(
            update(ApiKey).where(ApiKey.id == key.id)
            .values(last_used_at=now).execution_options(synchronize_session=False))
        db.session.commit()
    return key, user
