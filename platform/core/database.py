"""Engine set-up per backend.

SQLite (the zero-setup default) runs in WAL mode with foreign keys on, and
every transaction starts with ``BEGIN IMMEDIATE``: writers are serialised, so a
read-then-write (allocating a code, spending a balance) cannot interleave with
another writer. PostgreSQL relies on row locks and guarded updates instead.
"""
from __future__ import annotations

import select

from sqlalchemy import event, exc

from kameng.core.extensions import db


def _sqlite_connect(dbapi_conn, _record):
    dbapi_conn.isolation_level = None  # we issue BEGIN ourselves
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.close()


def _sqlite_begin(conn):
    conn.exec_driver_sql("BEGIN IMMEDIATE")


def _dropped_on_checkout(_dbapi_conn, record, _proxy) -> None:
    """Replace a pooled PostgreSQL connection the server has closed (restart,
    ``pg_terminate_backend``, idle timeout) before a request uses it: an idle connection
    has nothing to read, so a readable socket means the server's goodbye or EOF. One
    non-blocking ``select`` instead of ``pool_pre_ping``'s round trip per checkout (and
    its server CPU); a connection cut without a word (network) still fails its request,
    and SQLAlchemy's disconnect handling gives the next one a fresh connection."""
    pgconn = getattr(record.driver_connection, "pgconn", None)
    if pgconn is None:
        return
    try:
        fd = pgconn.socket
        readable = select.select([fd], [], [], 0)[0]
    except Exception:   # closed: no socket any more
        readable = True
    if readable:
        raise exc.DisconnectionError("the server closed this pooled connection")


def configure_engine(engine) -> None:
    if getattr(engine, "_kameng_configured", False):
        return
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_connect)
        event.listen(engine, "begin", _sqlite_begin)
    elif engine.dialect.name == "postgresql" and engine.dialect.driver == "psycopg":
        event.listen(engine, "checkout", _dropped_on_checkout)
    engine._kameng_configured = True


def listen_once(target, identifier: str, fn, **kwargs) -> None:
    """``event.listen`` unless already listening: listeners are per process, while
    a process (the tests) may create many apps."""
    if not event.contains(target, identifier, fn):
        event.listen(target, identifier, fn, **kwargs)


def init_database(app) -> None:
    with app.app_context():
        for engine in db.engines.values():
            configure_engine(engine)


def is_sqlite() -> bool:
    return db.engine.dialect.name == "sqlite"


def insert_on_conflict(table):
    """``insert(table)`` of the session's database, the one that knows ON CONFLICT (the
    two databases we run on spell it alike, through different classes)."""
    name = db.session.get_bind().dialect.name
    if name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    elif name == "sqlite":
        from sqlalchemy.dialects.sqlite import insert
    else:  # pragma: no cover - the two supported databases are above
        raise RuntimeError(f"unsupported database {name}")
    return insert(table)
