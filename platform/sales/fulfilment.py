"""Fulfilment of a paid order, run by a worker; safe to run any number of times.

``card`` lines: the reserved codes are marked sold (re-reserved first if the
reservation ran out before the payment arrived). ``topup`` lines: the line is
claimed with a conditional UPDATE and committed *before* the supplier is
called (no transaction is held open across the network); the supplier gets
the line's fixed idempotency key on every attempt, so a retry or a second
worker can never top up twice. UNKNOWN is reconciled by status query, never
treated as failure. ``manual`` lines wait for staff.
"""
from __future__ import annotations

import functools
import logging
import time
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta

from flask import current_app
from sqlalchemy import BigInteger, any_, bindparam, func, literal_column, or_, select, update
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import joinedload
from sqlalchemy.orm.attributes import set_committed_value

from kameng.billing.commissions.services import expect_deliveries
from kameng.core.addresses import is_address
from kameng.core.errors import Conflict
from kameng.core.extensions import db
from kameng.core.mail import mail_configured
from kameng.core.models import utcnow
from kameng.core.scoping import tenant_scope
from kameng.sales import backpressure, batches, outbox
from kameng.sales.delivery import store_delivered
from kameng.sales.models import Order, OrderLine
from kameng.sales.services import refund_order, transition_in_txn
from kameng.shop.catalog.models import Product
from kameng.shop.pricing.services import record_spend_many_in_txn
from kameng.shop.stock import allocation
from kameng.shop.suppliers import adapters as supplier_adapters
from kameng.shop.suppliers.models import Supplier

log = logging.getLogger(__name__)


@dataclass
class Outcome:
    status: str               # the order's status afterwards
    retry_in: int | None = None  # seconds, when a supplier answer is still open


def fulfil(order_id: int) -> Outcome:
    order = db.session.get(Order, order_id, options=[joinedload(Order.lines)])
    if order is None:
        return Outcome("missing")
    if order.status == "paid" and all(line.kind == "card" for line in order.lines):
        # the common case, codes from our own stock: one transaction, one commit
        delivered = _deliver_cards_together([order], [])
        if delivered is not None:
            return Outcome("delivered") if delivered \
                else Outcome(db.session.get(Order, order_id).status)
        order = db.session.get(Order, order_id)
    if order.status == "paid":
        transition_in_txn(order, ("paid",), "fulfilling")
        db.session.commit()
    if order.status != "fulfilling":
        return Outcome(order.status)  # delivered, refunded …: nothing to do

    retry = None
    for line in order.lines:
        if line.status in ("delivered", "failed", "refunded"):
            continue
        if line.kind == "card":
            _deliver_card(order, line)
        elif line.kind == "topup":
            wait = _deliver_topup(order, line)
            retry = wait if retry is None or (wait and wait < retry) else retry
    db.session.refresh(order)
    return settle(order, retry)


def fulfil_waiting(shard: int) -> Iterator[tuple[int, int, Outcome]]:
    """Deliver the paid orders waiting in one fulfilment list (``batches``), a batch
    at a time, until it is empty; yields (tenant id, order id, outcome)."""
    batches.hold(shard)
    while True:
        while items := batches.take_lingering(shard):
            started = time.monotonic()   # after the linger: the workers' time, not the wait
            by_tenant: dict[int, list[tuple[int, int | None]]] = defaultdict(list)
            for item in items:
                by_tenant[item.tenant_id].append((item.order_id, item.outbox_id))
            for tenant_id, pairs in by_tenant.items():
                with tenant_scope(tenant_id):
                    results = fulfil_many(pairs)
                for order_id, outcome in results.items():
                    yield tenant_id, order_id, outcome
            # what an order costs the workers, for the API's back-pressure
            backpressure.record(len(items), time.monotonic() - started)
            batches.hold(shard)
        if not batches.finish(shard):
            return


def fulfil_many(pairs: list[tuple[int, int | None]]) -> dict[int, Outcome]:
    """Deliver several paid orders of the current tenant scope; ``pairs`` are
    (order id, outbox id). The card-only ones are delivered together in one
    transaction; the others — top-ups, manual lines, a lapsed reservation, or all
    of them if the batch cannot complete — one by one as ``fulfil`` does.
    """
    outbox_of = dict(pairs)
    orders = db.session.scalars(
        select(Order).where(Order.id.in_(list(outbox_of)))
        .options(joinedload(Order.lines))).unique().all()
    together = [o for o in orders
                if o.status == "paid" and o.lines and all(ln.kind == "card" for ln in o.lines)]
    results: dict[int, Outcome] = {}
    try:
        if together:
            # the ids before the commit: reading ``o.id`` after it reloads each order
            ids = [o.id for o in together]
            delivered = _deliver_cards_together(together, [outbox_of[i] for i in ids])
            if delivered is not None:
                # an order someone else settled meanwhile is reported as it is now
                results.update((i, Outcome("delivered" if i in delivered
                                           else "settled elsewhere")) for i in ids)
    except Exception as err:  # e.g. a deadlock with another batch: one by one instead
        log.warning("batch of %d orders fell back to one by one: %s", len(together), err)
    db.session.rollback()  # nothing half-done is carried into the single deliveries
    for order_id, outbox_id in outbox_of.items():
        if order_id in results:
            continue
        try:
            outbox.mark_sent(outbox_id)
            results[order_id] = fulfil(order_id)
            db.session.commit()
        except Exception:  # one order must not hold up the rest; the sweeps retry it
            db.session.rollback()
            log.exception("fulfilment of order %s failed", order_id)
            results[order_id] = Outcome("error")
    return results


def _deliver_cards_together(orders: list[Order], outbox_ids: list[int | None]
                            ) -> set[int] | None:
    """Card orders from our own stock (one or many) in one transaction: each order
    moves from paid to delivered by the same conditional UPDATE, which is the claim
    (a second job waits on the row, then finds it delivered); its codes are sold,
    its delivery effects (_on_delivered) written, its outbox row marked. Returns
    the ids delivered here; None (and nothing written) when a code is missing —
    the reservation lapsed: the caller goes step by step, which re-reserves or
    records the failure and refunds. The orders are of one shop (the callers deliver
    a shop's orders at a time, in its tenant scope)."""
    now = utcnow()
    sent = [i for i in outbox_ids if i is not None]
    fused = db.session.get_bind().dialect.name == "postgresql"
    if fused:
        # the claim, the lines, the codes and the outbox rows in one round trip
        claimed, sold = set(), Counter()
        for kind, row_id in db.session.execute(_deliver_statement(), {
                "shop_id": orders[0].tenant_id, "now": now,
                "order_ids": [o.id for o in orders], "outbox_ids": sent}):
            if kind == "o":
                claimed.add(row_id)
            else:
                sold[row_id] += 1
    else:
        claimed = set(db.session.execute(
            update(Order).where(Order.id.in_([o.id for o in orders]), Order.status == "paid")
            .values(status="delivered", delivered_at=now)
            .returning(Order.id).execution_options(synchronize_session=False)).scalars())
    orders = [o for o in orders if o.id in claimed]  # the others were taken meanwhile
    lines = [line for order in orders for line in order.lines]
    if fused:
        short = [line.id for line in lines if sold[line.id] < line.quantity]
        if short:   # a loop code's reservation is a row of its own
            sold.update(allocation.mark_loops_sold_many(short, now))
    else:
        sold = allocation.mark_sold_many([line.id for line in lines],
                                         {line.id: line.quantity for line in lines}
                                         ) if lines else Counter()
    if any(sold[line.id] < line.quantity for line in lines):
        db.session.rollback()
        return None
    if lines and not fused:
        db.session.execute(update(OrderLine).where(OrderLine.id.in_([ln.id for ln in lines]))
                           .values(status="delivered")
                           .execution_options(synchronize_session=False))
    if len(orders) > 1:
        # each delivery's commission asks for its buyer's promoter: one query for all
        expect_deliveries((o.tenant_id, o.customer_id) for o in orders)
    with db.session.no_autoflush:
        for order in orders:
            set_committed_value(order, "status", "delivered")
            # the commission's day and maturity count from the delivery written here
            set_committed_value(order, "delivered_at", now)
            for line in order.lines:
                set_committed_value(line, "status", "delivered")
        _on_delivered(orders)
    if not fused:
        outbox.mark_sent_many(sent)
    # last: the customers' spend rows are shared by every batch (two workers deliver
    # orders of the same buyers), so their locks are taken right before the commit, not
    # held while the commissions are written
    db.session.flush()
    _count_spend(orders)
    db.session.commit()
    return claimed


@functools.cache
def _deliver_statement():
    """PostgreSQL's one statement of a delivery batch (``_deliver_cards_together``):
    ``:order_ids`` of the shop ``:shop_id`` still paid become delivered at ``:now``,
    with their lines; the lines' reserved codes become sold; the rows ``:outbox_ids``
    are marked sent. Answers ('o', order id) per order claimed and ('s', line id) per
    code sold. Built once: the ids are arrays, so its text is the same for any batch.
    (No parameter is named after a column: an UPDATE takes such a parameter as a value
    to SET.)"""
    orders, lines = Order.__table__, OrderLine.__table__
    now = bindparam("now", type_=orders.c.delivered_at.type)
    claimed = (update(orders)
               .where(orders.c.id == any_(bindparam("order_ids", type_=ARRAY(BigInteger))),
                      orders.c.tenant_id == bindparam("shop_id", type_=BigInteger),
                      orders.c.status == "paid")
               .values(status="delivered", delivered_at=now)
               .returning(orders.c.id).cte("claimed"))
    done = (update(lines).where(lines.c.order_id.in_(select(claimed.c.id)))
            .values(status="delivered").returning(lines.c.id).cte("done_lines"))
    sold = allocation.sold_update(select(done.c.id), now).cte("sold")
    sent = outbox.sent_update(
        select(func.unnest(bindparam("outbox_ids", type_=ARRAY(BigInteger)))), now).cte("sent")
    return (select(literal_column("'o'").label("kind"), claimed.c.id.label("id"))
            .union_all(select(literal_column("'s'"), sold.c.order_line_id))
            .add_cte(sent))


def _count_spend(orders: list[Order]) -> None:
    """Delivered orders count toward their customers' tiers (会员等级): summed per
    customer and locked in id order, so two batches sharing customers cannot deadlock."""
    spent: dict[tuple[int, int], int] = {}
    for order in orders:
        if order.customer_id is not None:
            key = (order.tenant_id, order.customer_id)
            spent[key] = spent.get(key, 0) + order.amount
    record_spend_many_in_txn(spent)


def _on_delivered(orders: list[Order]) -> list[outbox.Pending]:
    """What delivery brings besides the spend, in the delivering transaction: the
    commissions up the chain (written together for a batch), and the e-mail (an
    outbox row, only when there is a way to send it and someone to mail). Returns
    the outbox rows."""
    from kameng.sales.commissions import commissions_on_delivery

    commissions_on_delivery(orders)
    if not mail_configured():   # checked first: it costs nothing, an address check does
        return []
    return [outbox.add("order.delivered", order.tenant_id, order.id) for order in orders
            if is_address(order.contact)]


def settle(order: Order, retry: int | None) -> Outcome:
    """Close the order once its lines are done: delivered, or failed and refunded
    (commits; manual delivery settles the same way)."""
    statuses = {line.status for line in order.lines}
    if statuses == {"delivered"}:
        if transition_in_txn(order, ("fulfilling",), "delivered", delivered_at=utcnow()):
            _count_spend([order])
            _on_delivered([order])
            db.session.commit()
        return Outcome(order.status)
    if "failed" in statuses and not statuses & {"processing", "unknown", "pending"}:
        if transition_in_txn(order, ("fulfilling",), "failed",
                       failure_reason=next((ln.note for ln in order.lines if ln.note), None)):
            db.session.commit()
            refund_order(order, order.failure_reason or "fulfilment failed")
        return Outcome(order.status)
    db.session.commit()
    return Outcome(order.status, retry)


def _deliver_card(order: Order, line: OrderLine) -> None:
    try:
        sold = allocation.mark_sold_in_txn(line.id)
        if sold < line.quantity and not allocation.codes_for_line(line.id):
            # the reservation lapsed before the payment came: take fresh codes if any
            allocation.reserve_codes_in_txn(line.product_id, line.quantity, line.id,
                                            utcnow() + timedelta(minutes=5))
            allocation.mark_sold_in_txn(line.id)
        line.status = "delivered"
        db.session.commit()
    except Conflict as err:
        db.session.rollback()
        line = db.session.get(OrderLine, line.id)
        line.status, line.note = "failed", f"out of stock: {err.message}"[:500]
        db.session.commit()


def _claim(line: OrderLine) -> bool:
    stale = utcnow() - timedelta(seconds=current_app.config.get("CLAIM_STALE_SECONDS", 120))
    result = db.session.execute(
        update(OrderLine).where(
            OrderLine.id == line.id,
            or_(OrderLine.status.in_(("pending", "unknown")),
                (OrderLine.status == "processing") & (OrderLine.claimed_at < stale)))
        .values(status="processing", claimed_at=utcnow(), attempts=OrderLine.attempts + 1)
        .execution_options(synchronize_session=False))
    db.session.commit()
    return result.rowcount == 1


def _deliver_topup(order: Order, line: OrderLine) -> int | None:
    if not _claim(line):
        return None  # another worker holds it
    db.session.refresh(line)
    product = db.session.get(Product, line.product_id)
    supplier = db.session.get(Supplier, product.supplier_id) if product.supplier_id else None
    # only a first attempt may give up here: after a lost answer the upstream may
    # already have topped up, so a retry must reconcile even if the supplier was disabled
    if supplier is None or (not supplier.enabled and line.attempts == 1):
        return _finish_line(line, "failed", note="no enabled supplier for this product")
    adapter = supplier_adapters.standalone_adapter(supplier)
    sku, quantity, key = product.supplier_sku or product.sku, line.quantity, line.supplier_key
    account = line.fields.get("account") or next(iter(line.fields.values()), None)
    attempt = line.attempts
    db.session.commit()  # ends the read: no transaction is open during the supplier call
    result = _ask_supplier(adapter, sku, quantity, account, key, first=attempt == 1)
    if result.status == "SUCCESS":
        return _finish_line(line, "delivered", codes=result.codes, ref=result.reference)
    if result.status == "FAILED":
        return _finish_line(line, "failed", note=result.message or "supplier refused",
                            ref=result.reference)
    # PENDING or still UNKNOWN: keep the key, look again later with backoff
    _finish_line(line, "unknown", ref=result.reference, note=result.message)
    return min(5 * 2 ** max(attempt - 1, 0), 300)


def _ask_supplier(adapter, sku: str, quantity: int, account, key: str, *, first: bool):
    """The network part, run with no transaction open; the line's claim (committed)
    and its fixed key make a crash here recoverable: the next run asks by key."""
    # after a lost answer, ask first: the upstream may have done it already
    result = None if first else adapter.get_status(key)
    if result is None or result.status == "UNKNOWN":
        result = adapter.place_order(sku, quantity, account, key)
        if result.status == "UNKNOWN":
            result = adapter.get_status(key)
    return result


def _finish_line(line: OrderLine, status: str, *, codes=(), ref=None, note=None):
    line.status = status
    if ref:
        line.supplier_ref = ref
    if note:
        line.note = str(note)[:500]
    store_delivered(line, list(codes or []))
    db.session.commit()
    return None


def pending_retry_lines() -> list[tuple[int, int]]:
    """(tenant_id, order_id) of orders with a top-up still awaiting its supplier."""
    rows = db.session.execute(
        select(Order.tenant_id, Order.id).join(OrderLine, OrderLine.order_id == Order.id)
        .where(Order.status == "fulfilling", OrderLine.status.in_(("unknown", "processing")))
        .distinct().execution_options(all_tenants=True))
    return [(r.tenant_id, r.id) for r in rows]
