"""A per-process cache of Host → tenant, so resolving a request costs no query.

Entries live a few seconds and are dropped at once when any tenant or domain
changes: a committed change bumps a generation counter in Redis (shared by
every process), which each request compares — read in the request's one
``MGET`` of every counter it needs (``kameng.core.generations``). The
cached tenant is merged into the request's session without a query
(``merge(load=False)``, the SQLAlchemy caching recipe).
"""
from __future__ import annotations

import threading
import time

from flask import current_app
from sqlalchemy import inspect
from sqlalchemy.orm import Session

from kameng.core import generations, txn
from kameng.core.database import listen_once
from kameng.core.extensions import db, redis_conn
from kameng.core.models import detached_copy
from kameng.tenants.models import Domain, Tenant

GEN_KEY = "kameng:tenants:gen"
TTL_SECONDS = 30.0
_lock = threading.Lock()


def _state() -> dict:
    return current_app.extensions.setdefault("kameng.hostcache", {"gen": None, "hosts": {}})


def generation() -> bytes | None:
    """The tenants' change counter (None when Redis is unavailable), read once a request
    with the request's other counters."""
    try:
        return generations.read(GEN_KEY) or b"0"
    except Exception:  # Redis unavailable: fall back to the database every time
        return None


def lookup(host: str, load) -> Tenant | None:
    """The tenant for a normalised host, from the cache or ``load(host)``."""
    # the first read of the request: it brings every counter this host's requests use
    generations.begin(host)
    gen = generation()
    if gen is None:
        return load(host)
    state = _state()
    now = time.monotonic()
    with _lock:
        if state["gen"] != gen:
            state["gen"], state["hosts"] = gen, {}
        hit = state["hosts"].get(host)
    if hit is not None and hit[1] > now:
        snapshot = hit[0]
        return db.session.merge(snapshot, load=False) if snapshot is not None else None
    tenant = load(host)
    snapshot = None
    if tenant is not None:
        snapshot = _detached_copy(tenant)
    with _lock:
        if state["gen"] == gen:
            state["hosts"][host] = (snapshot, now + TTL_SECONDS)
    return tenant


def _detached_copy(tenant: Tenant) -> Tenant:
    if tenant.parent is None:
        return detached_copy(tenant)
    return detached_copy(tenant, parent=detached_copy(tenant.parent))


def bump() -> None:
    try:
        redis_conn.get().incr(GEN_KEY)
    except Exception:
        pass  # the TTL still bounds staleness
    generations.forget([GEN_KEY])


# a domain's DNS-check bookkeeping (tenants.domains) changes no routing: the daily
# re-check of every domain must not empty every process's cache again and again
_BOOKKEEPING = frozenset({"checked_at", "check_failures", "check_found", "notified_at"})


def _routing_changed(session, obj) -> bool:
    if not isinstance(obj, Domain) or obj in session.new or obj in session.deleted:
        return True
    return any(attr.history.has_changes() for attr in inspect(obj).attrs
               if attr.key not in _BOOKKEEPING)


def _note_changes(session, _ctx):
    for obj in (*session.new, *session.dirty, *session.deleted):
        if isinstance(obj, Tenant | Domain) and _routing_changed(session, obj):
            txn.after_commit(bump, key=GEN_KEY, session=session)
            return


def install() -> None:
    listen_once(Session, "after_flush", _note_changes)
