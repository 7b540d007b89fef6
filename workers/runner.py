"""``kameng worker``: RQ workers that run each job inside an app context.

The default is RQ's ``SimpleWorker`` (no fork per job: fulfilment should not pay
for one). Jobs are idempotent and re-enqueued by sweeps, so a worker that dies
mid-job loses nothing.
"""
from __future__ import annotations

import logging

from rq import Queue, SimpleWorker, Worker

from kameng.core.extensions import db, redis_conn
from kameng.core.jobs import QUEUES

log = logging.getLogger(__name__)


class AppContextMixin:
    """Push the Flask app context around every job; never leak a session."""

    flask_app = None

    def perform_job(self, job, queue, execution=None):
        with self.flask_app.app_context():
            try:
                return super().perform_job(job, queue, execution)
            finally:
                db.session.remove()


class KamengSimpleWorker(AppContextMixin, SimpleWorker):
    pass


class KamengForkWorker(AppContextMixin, Worker):
    def perform_job(self, job, queue, execution=None):
        # runs in the forked work-horse: it must not reuse the parent's pooled connections
        with self.flask_app.app_context():
            for engine in db.engines.values():
                engine.dispose(close=False)
        return super().perform_job(job, queue, execution)


def make_worker(app, queues=QUEUES, fork: bool = False, name: str | None = None):
    connection = redis_conn.get(app)
    cls = KamengForkWorker if fork else KamengSimpleWorker
    worker_cls = type(cls.__name__, (cls,), {"flask_app": app})
    return worker_cls([Queue(q, connection=connection) for q in queues],
                      connection=connection, name=name)


def run_worker(app, queues=QUEUES, burst: bool = False, fork: bool = False,
               name: str | None = None) -> bool:
    worker = make_worker(app, queues, fork=fork, name=name)
    # the RQ scheduler in the worker runs the backoff retries (enqueue_in) of top-ups
    return worker.work(burst=burst, logging_level="INFO", with_scheduler=True)
