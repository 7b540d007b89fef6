"""The transactional outbox: work written with the change that calls for it.

``add`` joins the caller's transaction. ``dispatch`` moves undispatched rows to
RQ (at least once: a row is marked only after its job is enqueued, and jobs
are idempotent). If Redis is down the rows wait; the periodic dispatcher
sends them when it is back.
"""
from __future__ import annotations

import logging

from sqlalchemy import select, text, update

from kameng.core.extensions import db
from kameng.core.jobs import enqueue
from kameng.core.models import utcnow
from kameng.shop.orders.models import OutboxMessage

log = logging.getLogger(__name__)

# topic -> (queue, job); every job takes (tenant_id, ref_id)
TOPICS = {
    "order.paid": ("fulfilment", "kameng.workers.jobs.fulfil_order"),
    "order.delivered": ("mail", "kameng.workers.jobs.order_delivered"),
    "order.refund_provider": ("default", "kameng.workers.jobs.refund_at_provider"),
}


def add(topic: str, tenant_id: int, ref_id: int, **payload) -> OutboxMessage:
    if topic not in TOPICS:
        raise ValueError(f"unknown outbox topic {topic!r}")
    row = OutboxMessage(topic=topic, tenant_id=tenant_id, ref_id=ref_id, payload=payload)
    db.session.add(row)
    return row


def dispatch(limit: int = 200, ids: list[int] | None = None, connection=None) -> int:
    """Enqueue waiting rows; returns how many were sent.

    The rows are marked and returned by one UPDATE, enqueued, then the mark is
    committed; if Redis fails the transaction is rolled back and the rows wait
    for the next run (a row enqueued before the failure is sent again: jobs are
    idempotent).
    """
    pick = (select(OutboxMessage.id).where(OutboxMessage.dispatched_at.is_(None))
            .order_by(OutboxMessage.id).limit(limit))
    if ids is not None:
        pick = pick.where(OutboxMessage.id.in_(ids))
    postgres = db.engine.dialect.name == "postgresql"
    if postgres:
        pick = pick.with_for_update(skip_locked=True)
    rows = db.session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.id.in_(pick.scalar_subquery()),
               OutboxMessage.dispatched_at.is_(None))
        .values(dispatched_at=utcnow(), attempts=OutboxMessage.attempts + 1)
        .returning(OutboxMessage.id, OutboxMessage.topic, OutboxMessage.tenant_id,
                   OutboxMessage.ref_id)
        .execution_options(synchronize_session=False)).all()
    if not rows:
        db.session.rollback()
        return 0
    try:
        for row in sorted(rows):
            queue_name, func = TOPICS[row.topic]
            enqueue(queue_name, func, row.tenant_id, row.ref_id, connection=connection,
                    job_id=f"outbox-{row.id}")
    except BaseException:
        db.session.rollback()
        raise
    if postgres:
        # losing this mark in a crash only sends the job again: no need to wait for the disk
        db.session.execute(text("SET LOCAL synchronous_commit TO OFF"))
    db.session.commit()
    return len(rows)


def dispatch_now(ids: list[int]) -> None:
    """Best effort right after a commit, so delivery does not wait for the sweep."""
    if not ids:
        return
    try:
        dispatch(ids=ids)
    except Exception as err:  # Redis down: the periodic dispatcher will send them
        db.session.rollback()
        log.warning("outbox dispatch deferred: %s", err)
