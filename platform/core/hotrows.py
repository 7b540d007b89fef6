"""Increments of hot counters, applied at the very end of the transaction.

A row every order touches (a product's stock counter, a platform clearing
account's balance) is locked from its UPDATE until COMMIT. Issued mid-
transaction, that lock makes concurrent orders queue behind each other for the
whole transaction; issued right before COMMIT it is held for the commit alone.
Only increments that need no check may be deferred (adding to a counter or to
a balance that may go negative); anything guarded stays immediate.
"""
from __future__ import annotations

from collections import defaultdict

from sqlalchemy import Table, update
from sqlalchemy.orm import Session

from kameng.core.database import listen_once

_KEY = "kameng_deferred_increments"


def defer_increment(session: Session, table: Table, row_id: int, column: str, delta: int):
    if not delta:
        return
    pending = session.info.setdefault(_KEY, {"tables": {}, "deltas": defaultdict(int)})
    pending["tables"][table.name] = table
    pending["deltas"][(table.name, int(row_id), column)] += int(delta)


def take_pending(session: Session, table: Table, row_id: int, column: str) -> int:
    """Remove and return a row's deferred delta: a guarded UPDATE of the same row must
    include it (a credit deferred earlier in this transaction counts toward the guard)."""
    pending = session.info.get(_KEY)
    if not pending:
        return 0
    return pending["deltas"].pop((table.name, int(row_id), column), 0)


def _apply(session: Session):
    if session.in_nested_transaction():
        return  # a savepoint: wait for the real commit
    pending = session.info.pop(_KEY, None)
    if not pending:
        return
    # one lock order for everyone: no deadlocks between committing transactions
    for (name, row_id, column), delta in sorted(pending["deltas"].items()):
        if delta:
            table = pending["tables"][name]
            session.execute(update(table).where(table.c.id == row_id)
                            .values({column: table.c[column] + delta}))


def _forget(session: Session):
    session.info.pop(_KEY, None)


def install() -> None:
    listen_once(Session, "before_commit", _apply)
    listen_once(Session, "after_rollback", _forget)
