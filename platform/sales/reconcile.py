"""补单: asking a shop's payment gateway about its unpaid orders, in case a notify was lost.

One shop at a time: the periodic sweep (``kameng.workers.jobs.reconcile_unpaid``) finds
the shops that have unpaid orders of a provider that can be asked, and enqueues one
short job per shop and provider on the ``reconcile`` queue, so a gateway that answers
slowly or never holds up its own shop's round only (docs/architecture.md, Workers).

A round ends early at the first gateway failure (unreachable, timed out, a malformed
answer): the gateway is down for every order of the shop, and the next round asks
again. It also stops asking when its time is nearly up, so the job ends by itself
before RQ's job timeout would end it.
"""
from __future__ import annotations

import logging
import time

from flask import current_app
from sqlalchemy import select

from kameng.billing.payments.base import PaymentError
from kameng.billing.payments.services import reconcile
from kameng.core.errors import ServiceError
from kameng.core.extensions import db
from kameng.core.models import utcnow
from kameng.core.scoping import tenant_scope
from kameng.sales.models import Order
from kameng.tenants.models import Tenant

log = logging.getLogger(__name__)

# the providers whose gateway can be asked about an order
PROVIDERS = ("epay",)
ROUND_LIMIT = 50   # orders one round asks about, the oldest first


def shops_to_reconcile(provider: str) -> list[int]:
    """Ids of the shops with unpaid, unexpired orders to be paid through ``provider``."""
    rows = db.session.scalars(
        select(Order.tenant_id).distinct()
        .where(Order.status == "pending", Order.payment_method == provider,
               Order.expires_at > utcnow())
        .order_by(Order.tenant_id).execution_options(all_tenants=True)).all()
    db.session.commit()   # ends the read
    return list(rows)


def unpaid_for_reconcile(tenant_id: int, provider: str, limit: int = ROUND_LIMIT) -> list[str]:
    """Order numbers of one shop's unpaid orders still in time, to ask its gateway about."""
    return list(db.session.scalars(
        select(Order.order_no)
        .where(Order.tenant_id == tenant_id, Order.status == "pending",
               Order.payment_method == provider, Order.expires_at > utcnow())
        .order_by(Order.id).limit(limit).execution_options(all_tenants=True)))


def reconcile_shop(tenant_id: int, provider: str) -> dict:
    """One round of 补单 for one shop; a paid answer books the order (and its delivery
    follows through the outbox). Returns what the round did."""
    cfg = current_app.config
    per_call = float(cfg["GATEWAY_CONNECT_TIMEOUT"]) + float(cfg["GATEWAY_READ_TIMEOUT"])
    # leave room for one more call before RQ's job timeout
    budget = max(float(cfg["RECONCILE_JOB_TIMEOUT"]) - per_call, 0.0)
    started = time.monotonic()
    report = {"tenant_id": tenant_id, "provider": provider, "asked": 0, "paid": 0,
              "gateway_error": None, "left": 0}
    with tenant_scope(tenant_id):
        pending = unpaid_for_reconcile(tenant_id, provider)
        tenant = db.session.get(Tenant, tenant_id)
        db.session.commit()   # ends the read: no transaction during the gateway calls
        if tenant is None:
            return report
        for index, order_no in enumerate(pending):
            if index and time.monotonic() - started > budget:
                report["left"] = len(pending) - index
                break
            report["asked"] += 1
            try:
                notice = reconcile(tenant, provider, order_no)
            except PaymentError as err:
                # down, too slow, or answering nonsense: for every order of this shop
                db.session.rollback()
                report["gateway_error"] = str(err.message)
                report["left"] = len(pending) - index - 1
                log.warning("补单 shop %s (%s): gateway failed at %s: %s", tenant_id,
                            provider, order_no, err.message)
                break
            except ServiceError as err:   # one order's trouble must not end the round
                db.session.rollback()
                log.warning("补单 shop %s (%s): order %s: %s", tenant_id, provider, order_no,
                            err.message)
                continue
            report["paid"] += bool(notice is not None and notice.paid)
    return report
