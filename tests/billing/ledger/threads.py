"""Run a function in N threads at once, each with its own app context and session."""
from __future__ import annotations

import threading

from kameng.core.extensions import db
from kameng.core.scoping import ALL, reset_scope, set_scope


def run_concurrently(app, n: int, fn) -> list:
    """``fn(i)`` in ``n`` threads released together; returns results or exceptions."""
    # end the main thread's transaction: on SQLite an open one holds the write lock
    db.session.commit()
    barrier = threading.Barrier(n)
    results: list = [None] * n

    def worker(i: int) -> None:
        with app.app_context():
            token = set_scope(ALL)
            try:
                barrier.wait(timeout=30)
                results[i] = fn(i)
            except Exception as err:  # reported to the test, which asserts on it
                db.session.rollback()
                results[i] = err
            finally:
                db.session.remove()
                reset_scope(token)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not any(t.is_alive() for t in threads), "a worker thread hung"
    return results
