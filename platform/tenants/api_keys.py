"""API keys: make one (the plaintext is returned once), list, revoke, authenticate.

A key is an account's credential, so it lives with the accounts: the API
authenticates with it, the storefront and the back office manage it.
"""
from __future__ import annotations

import hashlib
import logging
import secrets
import threading
import time
from dataclasses import dataclass
from datetime import timedelta

from flask import current_app, has_request_context
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from kameng.core import generations, txn
from kameng.core.database import listen_once
from kameng.core.errors import Conflict, InvalidInput, NotFound
from kameng.core.extensions import db, redis_conn
from kameng.core.i18n import lazy_gettext as _l
from kameng.core.models import detached_copy, utcnow
from kameng.core.txn import in_own_txn
from kameng.tenants.models import ApiKey, Tenant, User

KEY_PREFIX = "km_"
PREFIX_SHOWN = len(KEY_PREFIX) + 8
NAME_MAX = 80
MAX_ACTIVE_KEYS = 20
# last_used_at is a hint for the owner, not an audit log: one write a minute at most
TOUCH_EVERY = timedelta(seconds=60)

log = logging.getLogger(__name__)


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
    Answered from a per-process cache when it can be (``_KeyCache``): an API client
    sends the same key with every request, and looking it up again each time was
    a database round trip per request that did not depend on the request.
    """
    if tenant is None or not plaintext or not plaintext.startswith(KEY_PREFIX) \
            or len(plaintext) > 128:
        return None
    digest = hash_key(plaintext)
    cache = _KeyCache.of_app()
    gen = cache.generation()   # read before the database: a change after it is seen
    hit = cache.get(gen, tenant.id, digest)
    if hit is not None:
        key = db.session.merge(hit.key, load=False)
        user = db.session.merge(hit.user, load=False)
        if time.monotonic() - hit.touched > TOUCH_EVERY.total_seconds():
            hit.touched = time.monotonic()
            _touch(key.id, utcnow())
        return key, user
    row = db.session.execute(
        select(ApiKey, User).join(User, User.id == ApiKey.user_id)
        .where(ApiKey.key_hash == digest, ApiKey.tenant_id == tenant.id,
               User.tenant_id == tenant.id)
        .execution_options(all_tenants=True)).first()
    if row is None:
        return None
    key, user = row
    if key.revoked_at is not None or not user.is_active:
        return None
    cache.put(gen, tenant.id, digest, key, user)
    now = utcnow()
    if key.last_used_at is None or now - key.last_used_at > TOUCH_EVERY:
        _touch(key.id, now)
    return key, user


def _touch(key_id: int, now) -> None:
    session = db.session()
    session.execute(
        update(ApiKey).where(ApiKey.id == key_id).values(last_used_at=now)
        .execution_options(synchronize_session=False, **{_NOT_A_CHANGE: True}))
    # at the start of a request the session holds only what it has just read (the shop,
    # the key, its account): expired by the commit, each would be read again at once
    session.expire_on_commit = False
    try:
        session.commit()
    finally:
        session.expire_on_commit = True


# ----- the per-process key cache ------------------------------------------------------
#
# Entries are detached copies of the key and its account, valid while Redis's
# generation counter has not moved. Every committed change to an API key or an
# account (revoked, blocked, deleted …) bumps the counter (``_note_changes``). A
# request reads the counter in its one MGET of every counter it needs
# (``kameng.core.generations``, with the host cache's and the price versions) — so a
# revocation takes effect on every process's next request, and costs no round trip of
# its own. Without Redis (unreadable counter) nothing is cached: every request asks
# the database.

GEN_KEY = "kameng:api-keys:gen"
# outside a request (never on the API's path) the counter is read at most this often
GENERATION_EVERY = 0.5
ENTRY_SECONDS = 300.0      # re-read now and then anyway
MAX_ENTRIES = 10_000
_NOT_A_CHANGE = "kameng_api_key_touch"   # last_used_at: a hint, not a change of rights


@dataclass
class _Entry:
    gen: bytes
    key: ApiKey
    user: User
    until: float
    touched: float


class _KeyCache:
    def __init__(self):
        self.lock = threading.Lock()
        self.entries: dict[tuple[int, str], _Entry] = {}
        self.gen: bytes | None = None
        self.read_at = float("-inf")

    @classmethod
    def of_app(cls) -> _KeyCache:
        return current_app.extensions.setdefault("kameng.api_keys", cls())

    def generation(self) -> bytes | None:
        now = time.monotonic()
        in_request = has_request_context()
        if not in_request and now - self.read_at < GENERATION_EVERY:
            return self.gen
        try:
            gen = generations.read(GEN_KEY) or b"0"
        except Exception:  # Redis unavailable: no caching, the database answers
            gen = None
        with self.lock:
            if gen != self.gen:
                self.entries.clear()
            self.gen, self.read_at = gen, now
        return gen

    def get(self, gen: bytes | None, tenant_id: int, digest: str) -> _Entry | None:
        if gen is None:
            return None
        hit = self.entries.get((tenant_id, digest))
        if hit is None or hit.gen != gen or hit.until < time.monotonic():
            return None
        return hit

    def put(self, gen: bytes | None, tenant_id: int, digest: str, key: ApiKey,
            user: User) -> None:
        if gen is None:
            return
        now = time.monotonic()
        entry = _Entry(gen, detached_copy(key), detached_copy(user), now + ENTRY_SECONDS,
                       now)
        with self.lock:
            if len(self.entries) >= MAX_ENTRIES:
                self.entries.clear()
            self.entries[(tenant_id, digest)] = entry


def bump() -> None:
    """Drop every process's cached keys: this one's at once, the others' on their next
    request."""
    cache = _KeyCache.of_app()
    with cache.lock:
        cache.entries.clear()
        cache.read_at = float("-inf")   # and read the new generation on the next request
    try:
        redis_conn.get().incr(GEN_KEY)
    except Exception:
        # Redis is down: the processes cannot read the counter either, so they cache
        # nothing until it is back (and entries expire after ENTRY_SECONDS regardless)
        log.warning("could not bump the API key generation", exc_info=True)
    generations.forget([GEN_KEY])


def _note_flush(session, _ctx, _instances) -> None:
    if any(isinstance(obj, ApiKey | User) for obj in (*session.dirty, *session.deleted)):
        txn.after_commit(bump, key=GEN_KEY, session=session)


def _note_statement(state) -> None:
    if not (state.is_update or state.is_delete) or state.execution_options.get(_NOT_A_CHANGE):
        return
    table = getattr(state.statement, "table", None)
    if getattr(table, "name", None) in (ApiKey.__tablename__, User.__tablename__):
        txn.after_commit(bump, key=GEN_KEY, session=state.session)


def install() -> None:
    """Bump the generation after any committed change to a key or an account."""
    listen_once(Session, "before_flush", _note_flush)
    listen_once(Session, "do_orm_execute", _note_statement)
