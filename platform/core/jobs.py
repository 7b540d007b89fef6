"""Enqueueing background jobs by dotted path (the platform never imports workers)."""
from __future__ import annotations

from rq import Queue
from rq.exceptions import NoSuchJobError
from rq.job import Job, JobStatus
from rq.registry import StartedJobRegistry

from kameng.core.extensions import redis_conn

# queues named by purpose, highest priority first (workers listen in this order);
# "reconcile" holds the 补单 gateway calls, one short job per shop: run a worker of its
# own for it (``kameng worker --queue reconcile``) so no gateway call holds a fulfilment
# worker at all
QUEUES = ("fulfilment", "mail", "imports", "default", "reconcile")
# what a job of a fixed id may be doing while a new one must not be enqueued
WAITING = ("queued", "started", "deferred", "scheduled")
# how long a failed job stays listed (to be looked at, requeued)
FAILURE_TTL = 7 * 86400


def queue(name: str, connection=None) -> Queue:
    if name not in QUEUES:
        raise ValueError(f"unknown queue {name!r}")
    return Queue(name, connection=connection or redis_conn.get())


def enqueue(queue_name: str, func_path: str, *args, job_id: str | None = None,
            connection=None, job_timeout: int | None = None, **kwargs):
    """Enqueue ``func_path(*args, **kwargs)``; jobs take ids, never ORM objects.

    ``job_timeout`` (seconds) ends the job there (RQ's default: 180)."""
    return queue(queue_name, connection).enqueue(
        func_path, args=args, kwargs=kwargs, job_id=job_id, result_ttl=300,
        failure_ttl=FAILURE_TTL, job_timeout=job_timeout)


def file_failed(queue_name: str, func_path: str, *args, exc_string: str = "",
                connection=None, **kwargs):
    """File ``func_path(*args, **kwargs)`` as a failed job of ``queue_name``, as if it had
    run there and raised (``exc_string``): listed and requeued like any failed job, never
    run by itself. For a job that did several jobs' work and must not hide one that
    failed behind the others (a requeue runs only that one again)."""
    q = queue(queue_name, connection)
    job = q.create_job(func_path, args=args, kwargs=kwargs, result_ttl=300,
                       failure_ttl=FAILURE_TTL)
    job.set_status(JobStatus.FAILED, pipeline=None)
    q.failed_job_registry.add(job, ttl=FAILURE_TTL, exc_string=exc_string)
    return job


def job_status(job_id: str, connection=None) -> str | None:
    """The status of the job of that id (``queued``, ``started``, ``finished`` …), None if
    Redis no longer knows it."""
    try:
        job = Job.fetch(job_id, connection=connection or redis_conn.get())
    except NoSuchJobError:
        return None
    status = job.get_status(refresh=False)
    return getattr(status, "value", status)


def forget_abandoned(queue_name: str, connection=None) -> None:
    """Mark failed the jobs of ``queue_name`` whose worker died mid-job (RQ does it in its
    maintenance every few minutes; a sweep that enqueues by fixed id calls it first, so a
    crashed job does not hold its id until then)."""
    StartedJobRegistry(queue=queue(queue_name, connection)).cleanup()


def enqueue_unless_waiting(queue_name: str, func_path: str, *args, job_id: str,
                           connection=None, job_timeout: int | None = None, **kwargs):
    """Enqueue under the fixed ``job_id`` unless the job of that id is still queued or
    running: a periodic sweep must not pile jobs up behind a slow one. Returns the new
    job, or None when the previous one still waits or runs.

    Meant for a sweep that runs once per period (the scheduler claims each slot once):
    two sweeps racing between the look and the enqueue could both enqueue, which costs
    one repeated (idempotent) job, nothing more."""
    if job_status(job_id, connection) in WAITING:
        return None
    return enqueue(queue_name, func_path, *args, job_id=job_id, connection=connection,
                   job_timeout=job_timeout, **kwargs)
