"""What happens after delivery or refund, outside the order's transaction (jobs)."""
from __future__ import annotations

import logging

from kameng.core.extensions import db
from kameng.core.mail import MailNotConfigured
from kameng.sales.models import Order
from kameng.tenants.models import Tenant

log = logging.getLogger(__name__)


def after_delivery(order_id: int) -> str:
    """The delivery e-mail (bilingual, with the codes) to an e-mail contact.

    (The commissions were posted by the delivering transaction itself.)
    """
    from kameng.sales.mailer import send_delivery

    order = db.session.get(Order, order_id)
    if order is None or order.status != "delivered":
        return "skipped"
    if "@" not in order.contact:
        return "no e-mail contact"
    tenant = db.session.get(Tenant, order.tenant_id)
    try:
        send_delivery(order, tenant)
    except MailNotConfigured:
        return "mail not configured"
    return "sent"


def refund_at_provider(order_id: int) -> str:
    from kameng.billing.payments.registry import get_provider

    order = db.session.get(Order, order_id)
    if order is None or order.status != "refunded" or not order.payment_ref:
        return "skipped"
    tenant = db.session.get(Tenant, order.tenant_id)
    from kameng.billing.payments.base import RefundUnsupported

    provider = get_provider(tenant, order.payment_method, enabled_only=False)
    payment_ref, amount, order_no = order.payment_ref, order.amount, order.order_no
    db.session.commit()  # ends the read: no transaction is open during the gateway call
    try:
        result = provider.refund(payment_ref, amount, f"refund-{order_no}")
    except RefundUnsupported:
        # epay has no standard refund call: the owner refunds in the gateway's console
        order.failure_reason = ((order.failure_reason or "") +
                                " [refund manually at the gateway]")[:255]
        db.session.commit()
        return "manual refund needed"
    log.info("refunded %s at %s: %s", order_no, order.payment_method, result.refund_ref)
    return result.refund_ref
