"""Job entry points: thin functions that take ids and call services."""
from __future__ import annotations

import logging
import traceback
from collections import Counter

from kameng.core.extensions import redis_conn
from kameng.core.models import utcnow


def heartbeat() -> str:
    """Proves the worker and scheduler are alive (shown in the back office)."""
    stamp = utcnow().isoformat()
    redis_conn.get().set("kameng:heartbeat", stamp, ex=600)
    return stamp


def import_stock_batch(tenant_id: int, batch_id: int) -> dict:
    """Import an uploaded code file into its stock batch (the "imports" queue)."""
    from kameng.core.scoping import tenant_scope
    from kameng.shop.stock.jobs import run_import

    with tenant_scope(tenant_id):
        return run_import(tenant_id, batch_id)


def sync_supplier_catalog(supplier_id: int, update_costs: bool = False) -> dict:
    """Fetch a supplier's catalog into ``supplier_products`` (suppliers are not tenant-owned)."""
    from kameng.shop.suppliers import services

    report = services.sync_catalog(supplier_id, update_costs=update_costs)
    return {"total": report.total, "added": len(report.added), "gone": len(report.gone),
            "costs_updated": len(report.costs_updated)}


def check_supplier_balances() -> dict:
    """Record every enabled upstream supplier's balance; one failing does not stop the rest."""
    import logging

    from kameng.core.errors import ServiceError
    from kameng.shop.suppliers import services

    answers = {}
    for supplier in services.list_suppliers():
        if not supplier.enabled or supplier.adapter == "local":
            continue
        try:
            answers[supplier.name] = services.check_balance(supplier.id)
        except ServiceError as err:
            logging.getLogger(__name__).warning("supplier %s balance: %s", supplier.name,
                                                err.message)
            answers[supplier.name] = None
    return answers


# ----- orders ------------------------------------------------------------------

def fulfil_order(tenant_id: int, order_id: int, outbox_id: int | None = None) -> str:
    """Deliver a paid order (idempotent; the sweeps may run it again)."""
    from kameng.core.extensions import db
    from kameng.core.scoping import tenant_scope
    from kameng.sales import outbox
    from kameng.sales.fulfilment import fulfil

    with tenant_scope(tenant_id):
        outbox.mark_sent(outbox_id)   # commits with the delivery (or just below)
        outcome = fulfil(order_id)
        db.session.commit()
    _retry_later(tenant_id, order_id, outcome)
    return outcome.status


def fulfil_batch(shard: int) -> dict:
    """Deliver the paid orders waiting in one fulfilment list (kameng.sales.batches)."""
    from collections import Counter

    from kameng.sales.fulfilment import fulfil_waiting

    outcomes: Counter = Counter()
    for tenant_id, order_id, outcome in fulfil_waiting(shard):
        outcomes[outcome.status] += 1
        _retry_later(tenant_id, order_id, outcome)
    return dict(outcomes)


def _retry_later(tenant_id: int, order_id: int, outcome) -> None:
    # a top-up whose supplier has not answered yet: look again after the backoff
    from datetime import timedelta

    from kameng.core.jobs import queue

    if outcome.retry_in:
        queue("fulfilment").enqueue_in(timedelta(seconds=outcome.retry_in),
                                       "kameng.workers.jobs.fulfil_order", tenant_id, order_id)


def order_delivered(tenant_id: int, order_id: int, outbox_id: int | None = None) -> str:
    """After delivery: the e-mail to the buyer."""
    from kameng.core.scoping import tenant_scope
    from kameng.sales.notify import after_delivery

    with tenant_scope(tenant_id):
        _outbox_sent(outbox_id)
        return after_delivery(order_id)


def orders_delivered(items: list) -> dict:
    """After a delivery batch: each order's e-mail (``items``: [tenant id, order id,
    outbox id] each), sent exactly as ``order_delivered`` sends it, one order after the
    other. A mail that fails holds up none of the others: it is filed as the failed
    ``order_delivered`` job it would have been on its own (requeued, it sends that one)."""
    from kameng.core.extensions import db
    from kameng.core.jobs import file_failed

    outcomes: Counter = Counter()
    for tenant_id, order_id, outbox_id in items:
        try:
            outcomes[order_delivered(tenant_id, order_id, outbox_id)] += 1
        except Exception:
            db.session.rollback()
            logging.getLogger(__name__).exception("delivery e-mail of order %s", order_id)
            file_failed("mail", "kameng.workers.jobs.order_delivered", tenant_id, order_id,
                        outbox_id=outbox_id, exc_string=traceback.format_exc())
            outcomes["failed"] += 1
    return dict(outcomes)


def refund_at_provider(tenant_id: int, order_id: int, outbox_id: int | None = None) -> str:
    """Return a refunded order's money at the payment provider (card refunds)."""
    from kameng.core.scoping import tenant_scope
    from kameng.sales.notify import refund_at_provider as run

    with tenant_scope(tenant_id):
        _outbox_sent(outbox_id)
        return run(order_id)


def _outbox_sent(outbox_id: int | None) -> None:
    # marked before the work: a crash mid-way is not re-sent (the work is not repeatable
    # for free: a mail, a refund call with its own idempotency key)
    from kameng.core.extensions import db
    from kameng.sales import outbox

    if outbox_id is not None:
        outbox.mark_sent(outbox_id)
        db.session.commit()


def dispatch_outbox() -> int:
    from kameng.core.scoping import all_tenants
    from kameng.sales import outbox

    with all_tenants():
        return outbox.dispatch()


def sweep_orders() -> dict:
    """Expire unpaid orders (their codes go back on sale), re-enqueue paid orders that
    stall. A paid order's codes stay reserved however late its delivery: reservations end
    with their orders, never by their time alone."""
    from flask import current_app

    from kameng.core.jobs import enqueue
    from kameng.core.scoping import all_tenants
    from kameng.sales import services
    from kameng.sales.funding import fill_all_waiting

    with all_tenants():
        expired = services.expire_orders()
        stuck = services.stuck_orders(current_app.config["REDELIVER_AFTER_SECONDS"])
    for tenant_id, order_id in stuck:
        enqueue("fulfilment", "kameng.workers.jobs.fulfil_order", tenant_id, order_id)
    # orders awaiting their shop's funds, in case a retry after a funding was lost
    filled = fill_all_waiting()
    return {"expired": expired, "requeued": len(stuck),
            "funded": filled}


def order_awaiting_funds(tenant_id: int, order_id: int, outbox_id: int | None = None) -> str:
    """An own-gateway order waits for its shop's funds: tell the shop's owners."""
    from kameng.core.scoping import tenant_scope
    from kameng.sales.funding import tell_owners

    with tenant_scope(tenant_id):
        _outbox_sent(outbox_id)
        return tell_owners(order_id)


def recheck_domains() -> dict:
    """The daily DNS re-check of verified custom domains (look-ups outside transactions)."""
    from kameng.sales.domain_checks import recheck_domains as run

    return run()


def domain_check_failed(tenant_id: int, domain_id: int, outbox_id: int | None = None) -> str:
    """A verified domain's TXT record went missing or wrong: tell the shop's owners."""
    from kameng.core.scoping import tenant_scope
    from kameng.sales.domain_checks import tell_owners

    with tenant_scope(tenant_id):
        _outbox_sent(outbox_id)
        return tell_owners(domain_id)


def fill_waiting_orders(tenant_id: int) -> int:
    """Money went into the shop's funded account: fill its orders awaiting funds."""
    from kameng.sales.funding import fill_waiting_orders as run

    return run(tenant_id)


def reconcile_unpaid() -> dict:
    """补单 sweep: one short job per shop and provider with unpaid orders, on the
    ``reconcile`` queue; none for a shop whose previous job still waits or runs."""
    from flask import current_app

    from kameng.core.extensions import redis_conn
    from kameng.core.jobs import enqueue_unless_waiting, forget_abandoned
    from kameng.sales import reconcile

    connection = redis_conn.get()
    timeout = int(current_app.config["RECONCILE_JOB_TIMEOUT"])
    forget_abandoned("reconcile", connection)
    enqueued, waiting = [], []
    for provider in reconcile.PROVIDERS:
        for tenant_id in reconcile.shops_to_reconcile(provider):
            job = enqueue_unless_waiting(
                "reconcile", "kameng.workers.jobs.reconcile_shop", tenant_id, provider,
                job_id=reconcile_job_id(tenant_id, provider), connection=connection,
                job_timeout=timeout)
            (enqueued if job is not None else waiting).append(tenant_id)
    return {"enqueued": enqueued, "waiting": waiting}


def reconcile_job_id(tenant_id: int, provider: str) -> str:
    """The one RQ job id a shop's 补单 round runs under (no second one while it waits)."""
    return f"reconcile-{provider}-{int(tenant_id)}"


def reconcile_shop(tenant_id: int, provider: str) -> dict:
    """补单 for one shop: ask its gateway about its unpaid orders (the ``reconcile`` queue)."""
    from kameng.sales.reconcile import reconcile_shop as run

    return run(tenant_id, provider)


# ----- commissions, plans (issue 5) ------------------------------------------------

def mature_commissions() -> int:
    """Make earnings past their hold period available (once per order)."""
    from kameng.billing.commissions.services import mature_commissions as run

    return run()


def sweep_subscriptions() -> dict:
    """Renew lapsed plans from the balance, start grace, expire and suspend."""
    from kameng.billing.plans.services import sweep_subscriptions as run

    return run()
