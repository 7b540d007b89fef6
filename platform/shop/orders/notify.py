"""What happens after delivery or refund, outside the order's transaction (jobs)."""
from __future__ import annotations

import logging

from flask import render_template_string

from kameng.core.extensions import db
from kameng.core.mail import MailNotConfigured, send_mail
from kameng.shop.orders.models import Order
from kameng.shop.orders.services import order_codes
from kameng.tenants.models import Tenant
from kameng.tenants.services import primary_host

log = logging.getLogger(__name__)

DELIVERY_TEXT = """{{ shop }} — order {{ order.order_no }}

Your order is delivered. / 您的订单已发货。

{% for code in codes %}{{ code }}
{% endfor %}
Look it up any time at http://{{ host }}/lookup with the order number and your password.
"""


def after_delivery(order_id: int) -> str:
    order = db.session.get(Order, order_id)
    if order is None or order.status != "delivered":
        return "skipped"
    if "@" not in order.contact:
        return "no e-mail contact"
    tenant = db.session.get(Tenant, order.tenant_id)
    body = render_template_string(DELIVERY_TEXT, shop=tenant.name, order=order,
                                  codes=order_codes(order), host=primary_host(tenant))
    try:
        send_mail(order.contact, f"{tenant.name}: {order.order_no}", body)
    except MailNotConfigured:
        return "mail not configured"
    return "sent"


def refund_at_provider(order_id: int) -> str:
    from kameng.billing.payments.registry import get_provider

    order = db.session.get(Order, order_id)
    if order is None or order.status != "refunded" or not order.payment_ref:
        return "skipped"
    tenant = db.session.get(Tenant, order.tenant_id)
    provider = get_provider(tenant, order.payment_method, enabled_only=False)
    result = provider.refund(order.payment_ref, order.amount, f"refund-{order.order_no}")
    log.info("refunded %s at %s: %s", order.order_no, order.payment_method, result.refund_ref)
    return result.refund_ref
