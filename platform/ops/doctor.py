"""``kameng doctor``: is this installation healthy, and if not, what to do about it.

Each check returns a ``Finding``: ok or not, what it saw, and what to fix. The command
prints them all and exits non-zero when any failed. Checks only read (the stuck-order
and queue-depth limits are options of the command).
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta

import sqlalchemy as sa
from flask import current_app

from kameng.core import crypto
from kameng.core.extensions import db, redis_conn
from kameng.core.jobs import QUEUES
from kameng.core.models import utcnow

WEAK_SECRETS = {"", "x", "dev", "secret", "changeme", "change-me", "test", "test-secret"}
HOST_RE = re.compile(r"^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")
HEARTBEAT_KEY = "kameng:heartbeat"
HEARTBEAT_MAX_AGE = timedelta(minutes=3)  # the scheduler enqueues it every minute


@dataclass
class Finding:
    name: str
    ok: bool
    detail: str
    fix: str = ""


def production(app=None) -> bool:
    """Anything but the embedded default (a SQLite file) is treated as production."""
    cfg = (app or current_app).config
    return not cfg["SQLALCHEMY_DATABASE_URI"].startswith("sqlite")


def check_config() -> list[Finding]:
    cfg = current_app.config
    out = []
    secret = str(cfg.get("SECRET_KEY") or "")
    weak = secret.lower() in WEAK_SECRETS or len(secret) < 32
    if weak and production():
        out.append(Finding("config.secret_key", False, "SECRET_KEY is short or a well-known "
                           "value", "set KAMENG_SECRET_KEY to a long random value (e.g. "
                           "`python -c 'import secrets; print(secrets.token_urlsafe(48))'`), "
                           "or unset it to use the one kept in the instance folder"))
    else:
        out.append(Finding("config.secret_key", True, "SECRET_KEY set"))
    domain = str(cfg.get("BASE_DOMAIN") or "").lower()
    if production() and not HOST_RE.match(domain):
        out.append(Finding("config.base_domain", False, f"BASE_DOMAIN is {domain!r}",
                           "set KAMENG_BASE_DOMAIN to the public domain the shops' "
                           "sub-domains live under (e.g. shops.example.com)"))
    else:
        out.append(Finding("config.base_domain", True, f"BASE_DOMAIN {domain}"))
    return out


def check_database() -> list[Finding]:
    from alembic.script import ScriptDirectory

    try:
        db.session.execute(sa.text("SELECT 1"))
        current = set(db.session.scalars(sa.text("SELECT version_num FROM alembic_version")))
    except sa.exc.DBAPIError as err:
        db.session.rollback()
        reachable = "alembic_version" in str(err)
        return [Finding("database", False,
                        "reachable, but not migrated" if reachable
                        else f"not reachable: {type(err.orig).__name__}",
                        "run `kameng db upgrade`" if reachable
                        else "check KAMENG_DATABASE_URL and that the server is up")]
    finally:
        db.session.rollback()
    config = current_app.extensions["migrate"].migrate.get_config()
    heads = set(ScriptDirectory.from_config(config).get_heads())
    if current != heads:
        return [Finding("database", False, f"at revision {', '.join(sorted(current)) or 'none'}"
                        f", head is {', '.join(sorted(heads))}", "run `kameng db upgrade`")]
    return [Finding("database", True, f"reachable, at migration head {', '.join(heads)}")]


def redis_policy(connection) -> str:
    """The server's ``maxmemory-policy`` (INFO when CONFIG is disabled, as on some hosts)."""
    try:
        return connection.config_get("maxmemory-policy")["maxmemory-policy"]
    except Exception:  # noqa: BLE001 (CONFIG may be renamed or refused)
        return connection.info("memory").get("maxmemory_policy", "unknown")


def check_redis(connection=None) -> list[Finding]:
    try:
        connection = connection or redis_conn.get()
        connection.ping()
        policy = redis_policy(connection)
    except Exception as err:  # noqa: BLE001 (any failure to talk is "not reachable")
        return [Finding("redis", False, f"not reachable: {type(err).__name__}",
                        "check KAMENG_REDIS_URL and that Redis is running")]
    if policy != "noeviction":
        return [Finding("redis", False, f"maxmemory-policy is {policy}: Redis may evict "
                        "queued jobs and locks", "set `maxmemory-policy noeviction` in "
                        "redis.conf (or `CONFIG SET maxmemory-policy noeviction` and "
                        "`CONFIG REWRITE`)")]
    return [Finding("redis", True, "reachable, maxmemory-policy noeviction")]


# rows counted per key the doctor names, at most (the count stops there)
SHOWN_ROWS = 1000


def _rows(kid: str) -> str:
    from kameng.ops.rotation import count_using

    n = sum(count_using(kid, limit=SHOWN_ROWS + 1).values())
    return f"over {SHOWN_ROWS}" if n > SHOWN_ROWS else str(n)


def check_keys() -> list[Finding]:
    """The ring works, and every key id a row needs is in it. Which keys rows use is a
    few index probes (``rotation.keys_in_use``), not a count of every row; only the keys
    it names are counted, and at most ``SHOWN_ROWS`` rows each."""
    from kameng.ops.rotation import keys_in_use

    try:
        ring = crypto.reload_now()
        kid, blob = ring.encrypt("doctor", b"doctor")
        ring.decrypt(kid, blob, b"doctor")
    except crypto.CryptoError as err:
        return [Finding("keys", False, f"the key ring is not usable: {err}",
                        "fix <instance>/code_keys or KAMENG_CODE_KEYS")]
    try:
        used = keys_in_use()
        missing = {k: _rows(k) for k in sorted(used - set(ring.key_ids))}
        old = {} if missing else {k: _rows(k) for k in sorted(used - {ring.primary_id})}
    finally:
        db.session.rollback()
    if missing:
        detail = ", ".join(f"{k} ({n} rows)" for k, n in missing.items())
        return [Finding("keys", False, f"rows need keys the ring lacks: {detail}",
                        "put those keys back into <instance>/code_keys (from a backup) "
                        "or KAMENG_CODE_KEYS")]
    detail = f"{len(ring.key_ids)} key(s), encrypting with {ring.primary_id}"
    if old:
        detail += "; rows still under " + ", ".join(f"{k} ({n})" for k, n in old.items())
    return [Finding("keys", True, detail)]


def check_workers(connection=None) -> list[Finding]:
    from datetime import datetime

    from rq import Worker

    try:
        connection = connection or redis_conn.get()
        workers = Worker.all(connection=connection)
        beat = connection.get(HEARTBEAT_KEY)
    except Exception as err:  # noqa: BLE001
        return [Finding("workers", False, f"cannot ask Redis: {type(err).__name__}",
                        "fix Redis first")]
    out = []
    listening = {q for w in workers for q in w.queue_names()}
    unserved = [q for q in QUEUES if q not in listening]
    if not workers:
        out.append(Finding("workers", False, "no worker is running",
                           "start `kameng worker` (and `kameng worker --queue reconcile`)"))
    elif unserved:
        out.append(Finding("workers", False, f"no worker listens on {', '.join(unserved)}",
                           f"start `kameng worker --queue {unserved[0]}` (or one worker on "
                           "every queue)"))
    else:
        out.append(Finding("workers", True, f"{len(workers)} worker(s) on every queue"))
    age = None
    if beat:
        age = utcnow() - datetime.fromisoformat(beat.decode() if isinstance(beat, bytes)
                                                else beat)
    if age is None or age > HEARTBEAT_MAX_AGE:
        out.append(Finding("scheduler", False, "no heartbeat in the last 3 minutes"
                           if age is None else f"last heartbeat {int(age.total_seconds())} s ago",
                           "start `kameng scheduler` (and a worker on the default queue)"))
    else:
        out.append(Finding("scheduler", True, f"heartbeat {int(age.total_seconds())} s ago"))
    return out


def check_queues(max_depth: int, connection=None) -> list[Finding]:
    from kameng.core.jobs import queue

    try:
        depths = {name: len(queue(name, connection)) for name in QUEUES}
    except Exception as err:  # noqa: BLE001
        return [Finding("queues", False, f"cannot ask Redis: {type(err).__name__}",
                        "fix Redis first")]
    deep = {q: n for q, n in depths.items() if n > max_depth}
    detail = ", ".join(f"{q} {n}" for q, n in depths.items())
    if deep:
        return [Finding("queues", False, f"queues deeper than {max_depth}: {detail}",
                        "start more workers on " + ", ".join(deep) + " (or find what is slow)")]
    return [Finding("queues", True, detail)]


def check_stuck_orders(minutes: int) -> list[Finding]:
    """Orders paid more than ``minutes`` ago and still not delivered (a manual line that
    waits for staff is not stuck: people deliver those)."""
    orders = db.metadata.tables["orders"]
    lines = db.metadata.tables["order_lines"]
    cutoff = utcnow() - timedelta(minutes=minutes)
    manual = sa.exists().where(lines.c.order_id == orders.c.id, lines.c.kind == "manual",
                               lines.c.status == "pending")
    try:
        rows = db.session.execute(
            sa.select(orders.c.order_no).where(orders.c.status.in_(("paid", "fulfilling")),
                                               orders.c.paid_at < cutoff, ~manual)
            .order_by(orders.c.paid_at).limit(11)).scalars().all()
    finally:
        db.session.rollback()
    if rows:
        shown = ", ".join(rows[:10]) + (" …" if len(rows) > 10 else "")
        return [Finding("orders", False, f"paid over {minutes} min ago and not delivered: "
                        f"{shown}", "check the workers (above), the failed jobs "
                        "(`rq info`), and the supplier of those orders")]
    return [Finding("orders", True, f"no order paid over {minutes} min ago is undelivered")]


def run(stuck_minutes: int = 15, max_queue: int = 1000) -> list[Finding]:
    findings = check_config() + check_database()
    database_ok = all(f.ok for f in findings if f.name == "database")
    findings += check_redis()
    redis_ok = findings[-1].ok or "maxmemory-policy" in findings[-1].detail
    if database_ok:
        findings += check_keys()
    if redis_ok:
        findings += check_workers() + check_queues(max_queue)
    if database_ok:
        findings += check_stuck_orders(stuck_minutes)
    return findings
