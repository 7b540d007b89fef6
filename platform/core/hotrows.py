"""Increments of hot counters, applied at the very end of the transaction.

A row every order touches (a product's stock counter, a platform clearing
account's balance) is locked from its UPDATE until COMMIT. Issued mid-
transaction, that lock makes concurrent orders queue behind each other for the
whole transaction; issued right before COMMIT it is held for the commit alone.
Only increments that need no check may be deferred (adding to a counter or to
a balance that may go negative); anything guarded stays immediate.
"""
from __future__ import annotations

import functools
from collections import defaultdict

from sqlalchemy import Table, bindparam, func, select, update
from sqlalchemy.orm import Session

from kameng.core.database import listen_once
from kameng.core.txn import inside

_KEY = "kameng_deferred_increments"


def defer_increment(session: Session, table: Table, row_id: int, column: str, delta: int):
    if not delta:
        return
    pending = session.info.setdefault(_KEY, {"tables": {}, "moves": []})
    pending["tables"][table.name] = table
    # with the savepoint it was made in: rolling that savepoint back takes it back
    pending["moves"].append((session.get_nested_transaction(),
                             (table.name, int(row_id), column), int(delta)))


def take_pending(session: Session, table: Table, row_id: int, column: str) -> int:
    """Remove and return a row's deferred delta: a guarded UPDATE of the same row must
    include it (a credit deferred earlier in this transaction counts toward the guard)."""
    pending = session.info.get(_KEY)
    if not pending:
        return 0
    key = (table.name, int(row_id), column)
    taken = sum(delta for _level, row, delta in pending["moves"] if row == key)
    pending["moves"] = [move for move in pending["moves"] if move[1] != key]
    return taken


def _apply(session: Session):
    if session.in_nested_transaction():
        return  # a savepoint: wait for the real commit
    moves = take_all(session)
    if not moves:
        return
    shape, params = statement_shape(moves)
    if len(shape) > 1 and session.get_bind().dialect.name == "postgresql":
        session.execute(_chained(shape), params)   # one round trip for all of them
        return
    for n, (table, columns) in enumerate(shape):
        session.execute(update(table).where(table.c.id == params[f"id{n}"])
                        .values({column: table.c[column] + params[f"delta{n}_{k}"]
                                 for k, column in enumerate(columns)}))


def in_lock_order(moves) -> list[tuple[Table, int, str, int]]:
    """``[(table, row_id, column, delta)]`` summed per row and column, in the one lock
    order every transaction uses (no deadlocks between committing transactions)."""
    tables, deltas = {}, defaultdict(int)
    for table, row_id, column, delta in moves:
        tables[table.name] = table
        deltas[(table.name, int(row_id), column)] += delta
    return [(tables[name], row_id, column, delta)
            for (name, row_id, column), delta in sorted(deltas.items()) if delta]


def take_all(session: Session) -> list[tuple[Table, int, str, int]]:
    """Every increment deferred so far, taken off the transaction's list, in lock order:
    for the transaction's last statement to apply itself (``chain``), saving the
    round trip before COMMIT; if it did not apply them, it gives them back
    (``restore``). None while a savepoint is open: rolling it back would undo
    increments deferred before it."""
    if session.in_nested_transaction():
        return []
    pending = session.info.pop(_KEY, None)
    if not pending:
        return []
    return in_lock_order((pending["tables"][name], row_id, column, delta)
                         for _level, (name, row_id, column), delta in pending["moves"])


def restore(session: Session, moves) -> None:
    """Defer again the increments ``take_all`` gave that a statement did not apply."""
    for table, row_id, column, delta in moves:
        defer_increment(session, table, row_id, column, delta)


def statement_shape(moves) -> tuple[tuple, dict]:
    """The ``shape`` of ``chain`` for moves in lock order (``((table, columns), …)``, one
    UPDATE per row, whatever columns of it move) and their parameters ``id<n>`` and
    ``delta<n>_<k>``."""
    shape, params, last = [], {}, None
    for table, row_id, column, delta in moves:
        if last != (table.name, row_id):
            last = (table.name, row_id)
            params[f"id{len(shape)}"] = row_id
            shape.append((table, ()))
        n = len(shape) - 1
        params[f"delta{n}_{len(shape[n][1])}"] = delta
        shape[n] = (table, (*shape[n][1], column))
    return tuple(shape), params


@functools.lru_cache(maxsize=64)
def _chained(shape):
    """The moves (``statement_shape``) as one statement of chained data-modifying CTEs,
    built once per shape."""
    ctes = chain(shape)
    return select(func.count()).select_from(ctes[-1]).add_cte(*ctes)


def chain(shape, after=None) -> list:
    """The moves (``statement_shape``) as chained data-modifying CTEs ``hot<n>``, one per
    row (two UPDATEs of one row in one statement would apply only the first): each
    UPDATE's WHERE reads the
    previous one's result, so PostgreSQL runs (and locks) them one after the other in
    the given order, as separate statements would. With ``after`` (a CTE), only if it
    returned a row, and after it."""
    ctes, previous = [], None
    for n, (table, columns) in enumerate(shape):
        stmt = update(table).where(table.c.id == bindparam(f"id{n}"))
        if after is not None:   # every one of them: each reads only its predecessor
            stmt = stmt.where(select(func.count()).select_from(after)
                              .scalar_subquery() >= 1)
        if previous is not None:
            stmt = stmt.where(select(func.count()).select_from(previous)
                              .scalar_subquery() >= 0)
        previous = (stmt.values({column: table.c[column]
                                 + bindparam(f"delta{n}_{k}", type_=table.c[column].type)
                                 for k, column in enumerate(columns)})
                    .returning(table.c.id).cte(f"hot{n}"))
        ctes.append(previous)
    return ctes


def _forget(session: Session):
    """A rollback: the whole transaction's increments, or only those deferred inside the
    savepoint that rolled back (a refused first INSERT in a savepoint must not take
    the increments of the batch around it with it)."""
    pending = session.info.get(_KEY)
    if pending is None:
        return
    savepoint = session.get_nested_transaction()
    if savepoint is None:
        del session.info[_KEY]
        return
    pending["moves"] = [move for move in pending["moves"] if not inside(move[0], savepoint)]


def install() -> None:
    listen_once(Session, "before_commit", _apply)
    listen_once(Session, "after_rollback", _forget)
