"""The transactional outbox: work written with the change that calls for it.

``add`` joins the caller's transaction and returns what the queue needs; once
that transaction commits the row is handed to RQ at once (``core.txn.after_commit``,
no database round trip), and the job marks its row sent inside its own
transaction (``mark_sent``). A row that no job marked — Redis was down, the process died
between commit and enqueue — is sent by the periodic ``dispatch`` once it is
older than ``OUTBOX_GRACE_SECONDS``; at worst a job runs twice, and every job
is idempotent.
"""
from __future__ import annotations

import functools
import logging
from dataclasses import dataclass
from datetime import timedelta

from flask import current_app
from sqlalchemy import bindparam, insert, select, text, update

from kameng.core import txn
from kameng.core.extensions import db
from kameng.core.jobs import enqueue
from kameng.core.models import utcnow
from kameng.sales import batches
from kameng.sales.models import OutboxMessage

log = logging.getLogger(__name__)

# topic -> (queue, job); every job takes (tenant_id, ref_id, outbox_id=…)
TOPICS = {
    "order.paid": ("fulfilment", "kameng.workers.jobs.fulfil_order"),
    "order.delivered": ("mail", "kameng.workers.jobs.order_delivered"),
    "order.refund_provider": ("default", "kameng.workers.jobs.refund_at_provider"),
    "order.awaiting_funds": ("mail", "kameng.workers.jobs.order_awaiting_funds"),
    "domain.check_failed": ("mail", "kameng.workers.jobs.domain_check_failed"),
}


@dataclass(frozen=True, order=True)
class Pending:
    """An outbox row written in the current transaction, as the queue needs it."""

    id: int
    topic: str
    tenant_id: int
    ref_id: int


def add(topic: str, tenant_id: int, ref_id: int, **payload) -> Pending:
    if topic not in TOPICS:
        raise ValueError(f"unknown outbox topic {topic!r}")
    row_id = db.session.execute(_insert_statement(), {
        "ob_topic": topic, "ob_tenant_id": tenant_id, "ob_ref_id": ref_id,
        "ob_payload": payload, "ob_attempts": 0, "ob_created_at": utcnow()}).scalar_one()
    return written(row_id, topic, tenant_id, ref_id)


def written(row_id: int, topic: str, tenant_id: int, ref_id: int) -> Pending:
    """A row the caller inserted itself (``add``'s columns, in a statement of its own):
    handed to the queue once the transaction commits, as ``add``'s rows are."""
    item = Pending(row_id, topic, tenant_id, ref_id)
    txn.after_commit(_Handover(), key=_Handover).append(item)
    return item


@functools.cache
def _insert_statement():
    # built once: every paid order writes a row
    table = OutboxMessage.__table__
    return insert(table).values({table.c[name]: bindparam(f"ob_{name}", type_=table.c[name].type)
                                 for name in ("topic", "tenant_id", "ref_id", "payload",
                                              "attempts", "created_at")}
                                ).returning(table.c.id)


class _Handover(list):
    """The rows one transaction wrote, handed to the queue once it commits."""

    def __call__(self) -> None:
        _dispatch_now(self)


def _send(item: Pending, connection=None) -> None:
    queue_name, func = TOPICS[item.topic]
    enqueue(queue_name, func, item.tenant_id, item.ref_id, outbox_id=item.id,
            connection=connection, job_id=f"outbox-{item.id}")


def mark_sent(outbox_id: int | None) -> None:
    """Called by the job, inside its transaction: the row needs no re-sending."""
    if outbox_id is not None:
        mark_sent_many([outbox_id])


def mark_sent_many(outbox_ids: list[int]) -> None:
    if not outbox_ids:
        return
    db.session.execute(sent_update(outbox_ids, utcnow()))


def sent_update(outbox_ids, now):
    """The UPDATE that marks the rows ``outbox_ids`` (a list, or an SQL expression such
    as a subquery) sent at ``now``, for a caller that runs it inside a statement of its
    own; a row marked before stays as it was."""
    rows = OutboxMessage.__table__
    return (update(rows).where(rows.c.id.in_(outbox_ids), rows.c.dispatched_at.is_(None))
            .values(dispatched_at=now, attempts=rows.c.attempts + 1))


def dispatch(limit: int = 200, connection=None) -> int:
    """Send rows no job has marked and that are older than the grace period.

    The rows are marked and returned by one UPDATE, enqueued, then the mark is
    committed; if Redis fails the transaction is rolled back and the rows wait
    for the next run (a row enqueued before the failure is sent again: jobs are
    idempotent).
    """
    grace = current_app.config.get("OUTBOX_GRACE_SECONDS", 30)
    cutoff = utcnow() - timedelta(seconds=grace)
    pick = (select(OutboxMessage.id).where(OutboxMessage.dispatched_at.is_(None),
                                           OutboxMessage.created_at <= cutoff)
            .order_by(OutboxMessage.id).limit(limit))
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
            _send(Pending(row.id, row.topic, row.tenant_id, row.ref_id), connection)
    except BaseException:
        db.session.rollback()
        raise
    if postgres:
        # losing this mark in a crash only sends the job again: no need to wait for the disk
        db.session.execute(text("SET LOCAL synchronous_commit TO OFF"))
    db.session.commit()
    return len(rows)


# the delivery e-mails of the orders one transaction delivered (a delivery batch): one job
DELIVERED_MANY_JOB = "kameng.workers.jobs.orders_delivered"


def _dispatch_now(pending: list[Pending]) -> None:
    """Right after the commit that wrote them, so the work does not wait for the sweep.

    Paid orders go to the fulfilment batches (``batches``); the delivery e-mails of
    several orders (a delivery batch) to one job, which sends each as the single job
    would; the rest one job each. (The periodic dispatcher sends one job per row.)
    """
    try:
        paid = [batches.Item(p.tenant_id, p.ref_id, p.id) for p in pending
                if p.topic == "order.paid"]
        if paid:
            batches.hand_over(paid)
        mails = [p for p in pending if p.topic == "order.delivered"]
        together = len(mails) > 1
        if together:
            enqueue(TOPICS["order.delivered"][0], DELIVERED_MANY_JOB,
                    [[p.tenant_id, p.ref_id, p.id] for p in mails],
                    job_id=f"outbox-{mails[0].id}-{len(mails)}")
        for item in pending:
            if item.topic != "order.paid" and not (together and item.topic == "order.delivered"):
                _send(item)
    except Exception as err:  # Redis down: the periodic dispatcher will send them
        log.warning("outbox dispatch deferred: %s", err)
