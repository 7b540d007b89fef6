"""Shared by the checkout, lookup, mail and manual-delivery tests: shops that take
payments, buying through the real pages, running the real workers."""
from __future__ import annotations

import re
from html.parser import HTMLParser

from sqlalchemy import func, select

from kameng.billing.payments import services as payment_services
from kameng.core.extensions import db
from kameng.sales.models import Order, OutboxMessage
from kameng.shop.stock.models import CardCode
from kameng.workers.runner import run_worker

GUEST = {"contact": "me@example.com", "lookup_password": "pw-1234"}


def enable_balance(tenant):
    payment_services.save_provider_config(tenant, "balance", enabled=True)


def enable_epay(tenant, gateway, types=("alipay",), funds=1_000_00):
    """The shop's own 易支付 gateway. Below the master the shop pays the parent's price
    of each order from its funded account, so it gets ``funds`` there (0: none)."""
    payment_services.save_provider_config(
        tenant, "epay", enabled=True,
        settings={"apiurl": gateway.apiurl, "pid": gateway.pid, "types": list(types)},
        secrets={"key": gateway.key})
    if funds and not tenant.is_master:
        from tests.orders.helpers import fund_own_gateway

        fund_own_gateway(tenant, funds)


def checkout(client, sku, method=None, quantity=1, **data):
    form = {"sku": sku, "quantity": str(quantity), **data}
    if method:
        form["payment_method"] = method
    return client.post("/checkout", data=form)


def order_no_from(response) -> str:
    found = re.search(r"/o/(K[0-9A-Z]+)", response.headers.get("Location", ""))
    assert found, (response.status_code, response.headers.get("Location"))
    return found.group(1)


def get_order(order_no) -> Order:
    db.session.commit()  # see what other sessions (the live server, a worker) wrote
    return db.session.scalar(select(Order).where(Order.order_no == order_no))


def run_jobs(app, *queues):
    db.session.commit()
    run_worker(app, queues or ("fulfilment",), burst=True)
    db.session.commit()


def available(product_id) -> int:
    return db.session.scalar(select(func.count()).select_from(CardCode).where(
        CardCode.product_id == product_id, CardCode.status == "available"))


def outbox_count(topic, order) -> int:
    return db.session.scalar(select(func.count()).select_from(OutboxMessage).where(
        OutboxMessage.topic == topic, OutboxMessage.ref_id == order.id))


class _Forms(HTMLParser):
    def __init__(self):
        super().__init__()
        self.forms: dict[str, dict] = {}
        self._current = None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "form":
            self._current = {"action": attrs.get("action"), "method": attrs.get("method"),
                             "fields": {}}
            self.forms[attrs.get("id") or str(len(self.forms))] = self._current
        elif tag == "input" and self._current is not None and attrs.get("name"):
            self._current["fields"][attrs["name"]] = attrs.get("value") or ""

    def handle_endtag(self, tag):
        if tag == "form":
            self._current = None


def html_form(html: str, form_id: str) -> dict:
    """{'action', 'method', 'fields'} of the form with that id (values unescaped)."""
    parser = _Forms()
    parser.feed(html)
    return parser.forms[form_id]
