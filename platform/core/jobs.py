"""Enqueueing background jobs by dotted path (the platform never imports workers)."""
from __future__ import annotations

from rq import Queue

from kameng.core.extensions import redis_conn

# queues named by purpose, highest priority first (workers listen in this order)
QUEUES = ("fulfilment", "mail", "imports", "default")


def queue(name: str, connection=None) -> Queue:
    if name not in QUEUES:
        raise ValueError(f"unknown queue {name!r}")
    return Queue(name, connection=connection or redis_conn.get())


def enqueue(queue_name: str, func_path: str, *args, job_id: str | None = None,
            connection=None, **kwargs):
    """Enqueue ``func_path(*args, **kwargs)``; jobs take ids, never ORM objects."""
    return queue(queue_name, connection).enqueue(
        func_path, args=args, kwargs=kwargs, job_id=job_id, result_ttl=300,
        failure_ttl=7 * 86400)
