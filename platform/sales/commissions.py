"""An order's commissions: sales hands billing a plain snapshot of the order.

Billing never reads the ``Order`` model. What has to hold the order row — posting
a commission late while a refund may race for the same order — happens here.
"""
from __future__ import annotations

import logging

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from kameng.billing.commissions import services as billing_commissions
from kameng.billing.commissions.models import Commission
from kameng.billing.commissions.snapshot import LineSnapshot, OrderSnapshot, price_chain
from kameng.billing.ledger import services as ledger
from kameng.core.errors import NotFound
from kameng.core.extensions import db
from kameng.core.i18n import lazy_gettext as _l
from kameng.core.scoping import all_tenants
from kameng.sales.models import Order

log = logging.getLogger(__name__)


def order_snapshot(order: Order) -> OrderSnapshot:
    return OrderSnapshot(
        order_id=order.id, order_no=order.order_no, tenant_id=order.tenant_id,
        customer_id=order.customer_id, amount=int(order.amount), currency=order.currency,
        payment_method=order.payment_method, delivered_at=order.delivered_at,
        lines=tuple(LineSnapshot(line.id, line.status, int(line.quantity),
                                 price_chain(line.chain), int(line.discount or 0))
                    for line in order.lines),
        seller_held=(int(order.amount) - int(order.funded_amount or 0)
                     if order.collected_by_tenant_id is not None else None))


def commission_on_delivery(order: Order) -> Commission:
    """The commission of an order just delivered, in the caller's transaction."""
    return billing_commissions.commission_on_delivery(order_snapshot(order))


def commissions_on_delivery(orders: list[Order]) -> None:
    """The commissions of the orders one batch just delivered, in the caller's
    transaction (written together: ``billing_commissions.commissions_on_delivery``)."""
    billing_commissions.commissions_on_delivery([order_snapshot(o) for o in orders])


def reverse_commissions_in_txn(order: Order) -> bool:
    """Take back an order's commissions, inside the refund's transaction."""
    return billing_commissions.reverse_commissions_in_txn(order_snapshot(order))


def post_commissions(order_id: int) -> str:
    """Post the order's commission transaction once; safe to run any number of times
    (the CLI and any late repair; delivery posts it in its own transaction)."""
    with all_tenants():
        return _post(order_id)


def post_commissions_by_number(order_no: str) -> str:
    order_id = db.session.scalar(select(Order.id).where(Order.order_no == order_no))
    if order_id is None:
        raise NotFound(_l("no order %(order_no)r", order_no=order_no))
    return post_commissions(order_id)


def _post(order_id: int) -> str:
    # lock the order row: a refund (a conditional UPDATE of the same row) waits for us,
    # or we see its status and post nothing
    order = db.session.scalar(select(Order).where(Order.id == order_id).with_for_update()
                              .execution_options(populate_existing=True))
    if order is None:
        db.session.rollback()
        return "missing"
    if order.status != "delivered":
        db.session.rollback()
        return f"skipped ({order.status})"
    if db.session.scalar(select(Commission.id).where(Commission.order_id == order.id)):
        db.session.rollback()
        return "already posted"
    if ledger.transaction_by_key(f"order:{order.order_no}:pay") is None:
        db.session.rollback()
        log.warning("order %s delivered without a payment posting", order.order_no)
        return "no payment posting"
    try:
        commission_on_delivery(order)
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        return "already posted"
    return "posted"
