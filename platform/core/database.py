"""Engine set-up per backend.

SQLite (the zero-setup default) runs in WAL mode with foreign keys on, and
every transaction starts with ``BEGIN IMMEDIATE``: writers are serialised, so a
read-then-write (allocating a code, spending a balance) cannot interleave with
another writer. PostgreSQL relies on row locks and guarded updates instead.
"""
from __future__ import annotations

from sqlalchemy import event

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


def configure_engine(engine) -> None:
    if engine.dialect.name == "sqlite" and not getattr(engine, "_kameng_configured", False):
        event.listen(engine, "connect", _sqlite_connect)
        event.listen(engine, "begin", _sqlite_begin)
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


def in_own_txn(work, /, *args, **kwargs):
    """Run ``work`` (an ``…_in_txn`` helper) as a transaction of its own.

    The public form of a service operation is this: it commits when ``work``
    returns and rolls the whole session back when it raises. See
    docs/transactions.md.
    """
    try:
        result = work(*args, **kwargs)
    except BaseException:
        db.session.rollback()
        raise
    db.session.commit()
    return result
