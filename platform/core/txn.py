"""Transaction boundaries: ``in_own_txn`` (a service operation's own transaction) and
work that must follow a commit (enqueueing, cache bumps, e-mail).

``after_commit(callback)`` runs ``callback()`` once the session's outermost
transaction commits, in the order registered. A rollback drops it: the whole
transaction's callbacks on a real rollback, only those registered inside a
SAVEPOINT when that savepoint rolls back. Callbacks run after COMMIT with no
transaction open, so they must not use the session; an exception propagates
out of ``commit()`` (the data is committed by then).

Two session listeners carry it, installed by ``install()`` (core's init_app).
"""
from __future__ import annotations

import functools
from collections.abc import Callable, Hashable

from sqlalchemy.orm import Session, SessionTransaction

from kameng.core.database import listen_once
from kameng.core.extensions import db

_KEY = "kameng.after_commit"


def after_commit(callback: Callable[[], object], *, key: Hashable | None = None,
                 session: Session | None = None):
    """Run ``callback()`` after the current transaction commits (beginning one if none is).

    With a ``key``, a callback already waiting under that key at the same savepoint
    level is kept and returned instead: work wanted once per transaction, or an
    object that collects what the transaction changed. Returns the waiting callback.
    """
    session = db.session() if session is None else session
    root = session.get_transaction() or session.begin()
    pending = session.info.get(_KEY)
    if pending is None or pending[0] is not root:
        # nothing yet, or left by a transaction that ended without commit or rollback
        pending = session.info[_KEY] = (root, [])
    savepoint = session.get_nested_transaction()
    if key is not None:
        for level, waiting_key, waiting in pending[1]:
            if waiting_key == key and level is savepoint:
                return waiting
    pending[1].append((savepoint, key, callback))
    return callback


def waiting(key: Hashable, *, session: Session | None = None):
    """The callback waiting under ``key`` for the current transaction's commit (at any
    savepoint level), or None; registers nothing."""
    session = db.session() if session is None else session
    pending = session.info.get(_KEY)
    if pending is None or pending[0] is not session.get_transaction():
        return None
    for _level, waiting_key, callback in pending[1]:
        if waiting_key == key:
            return callback
    return None


def _run(session: Session) -> None:
    if session.in_nested_transaction():
        return  # a SAVEPOINT released: the outer transaction may still roll back
    pending = session.info.pop(_KEY, None)
    if pending is None or pending[0] is not session.get_transaction():
        return
    for _level, _key, callback in pending[1]:
        callback()


def _drop(session: Session) -> None:
    pending = session.info.get(_KEY)
    if pending is None:
        return
    savepoint = session.get_nested_transaction()
    if savepoint is None:
        del session.info[_KEY]
        return
    pending[1][:] = [entry for entry in pending[1] if not inside(entry[0], savepoint)]


def inside(level: SessionTransaction | None, savepoint: SessionTransaction) -> bool:
    """Whether the (nested) transaction ``level`` is ``savepoint`` or one begun inside it."""
    while level is not None:
        if level is savepoint:
            return True
        level = level.parent
    return False


def install() -> None:
    listen_once(Session, "after_commit", _run)
    listen_once(Session, "after_rollback", _drop)


def in_own_txn(work, /, *args, **kwargs):
    """Run ``work`` (an ``…_in_txn`` helper) as a transaction of its own.

    The public form of a service operation is this: it commits when ``work``
    returns and rolls the whole session back when it raises. See
    docs/architecture.md (Transactions).
    """
    try:
        result = work(*args, **kwargs)
    except BaseException:
        db.session.rollback()
        raise
    db.session.commit()
    return result


def owning(work):
    """The public form of an ``x_in_txn`` helper: ``x = owning(x_in_txn)`` runs it in a
    transaction of its own (``in_own_txn``)."""
    @functools.wraps(work)
    def run(*args, **kwargs):
        return in_own_txn(work, *args, **kwargs)

    run.__name__ = run.__qualname__ = work.__name__.removesuffix("_in_txn")
    run.__doc__ = f"``{work.__name__}`` as a transaction of its own."
    return run
