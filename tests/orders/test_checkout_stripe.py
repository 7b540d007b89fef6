"""Card checkout end to end against localstripe, through the real stripe client.

The pay page creates the PaymentIntent and mounts the Payment Element with its
client secret. What Stripe.js does in the buyer's browser — attach the card and
confirm — is done here with the same API calls; only Stripe's signed webhook
then marks the order paid.
"""
from __future__ import annotations

import re
import time

import pytest

from kameng.billing.ledger.services import check_ledger, transaction_by_key
from kameng.billing.payments import services as payment_services
from tests.fakes.stripe import localstripe, stripe_fake  # noqa: F401
from tests.helpers import stripe_webhook_server
from tests.orders.helpers import card_product
from tests.orders.web_helpers import (
    GUEST,
    checkout,
    get_order,
    order_no_from,
    outbox_count,
    run_jobs,
)


@pytest.fixture
def ls(app, stripe_fake):
    app.config.update(stripe_fake.app_config())
    return stripe_fake


def wait_for_status(order_no, status, timeout=20.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        order = get_order(order_no)
        if order.status == status:
            return order
        time.sleep(0.2)
    raise AssertionError(f"{order_no} is {get_order(order_no).status}, not {status}")


def test_card_checkout_is_paid_by_the_webhook_and_delivered(app, tree, client_for, ls):
    product = card_product(codes=4)
    payment_services.save_provider_config(tree.star, "stripe", enabled=True)
    with stripe_webhook_server(app, ls):
        client = client_for("star.localhost")
        choose = checkout(client, product.sku, **GUEST)
        assert 'value="stripe"' in choose.text

        resp = checkout(client, product.sku, "stripe", quantity=2, **GUEST)
        order_no = order_no_from(resp)
        page = client.get(resp.headers["Location"])
        assert page.status_code == 200
        assert f'<script src="{ls.js_url}"></script>' in page.text
        # the pay page's policy lets Stripe.js in; no other page's does
        origin = re.match(r"https?://[^/]+", ls.js_url).group(0)
        assert f"script-src 'self' {origin} " in page.headers["Content-Security-Policy"]
        assert origin not in client.get("/").headers["Content-Security-Policy"]
        secret = re.search(r'data-client-secret="([^"]+)"', page.text).group(1)
        assert 'data-publishable-key="pk_test_kameng"' in page.text
        assert f'data-return-url="http://star.localhost/o/{order_no}"' in page.text
        pi_id = secret.split("_secret_")[0]
        # (opening the page again asks Stripe with the same idempotency key, so real Stripe
        # returns the same PaymentIntent; localstripe does not implement idempotency keys)

        stripe = ls.client()
        intent = stripe.v1.payment_intents.retrieve(pi_id)
        order = get_order(order_no)
        assert (intent.amount, intent.currency) == (order.amount, "cny")
        assert intent.metadata["order_no"] == order_no
        assert intent.metadata["tenant_id"] == str(tree.star.id)
        assert order.status == "pending"

        # the buyer's browser: Stripe.js attaches the card and confirms
        assert ls.pay_with_card(pi_id).status == "succeeded"

        order = wait_for_status(order_no, "paid")
        assert order.payment_method == "stripe" and order.payment_ref == pi_id
        assert client.get(f"/o/{order_no}/pay").status_code == 302  # nothing left to pay
        run_jobs(app)
        order = get_order(order_no)
        assert order.status == "delivered"
        assert client.get(f"/o/{order_no}/status").json["delivered"] is True
        codes = re.findall(r'<code class="code">([^<]+)</code>', client.get(f"/o/{order_no}").text)
        assert len(codes) == 2
        assert transaction_by_key(f"order:{order_no}:pay") is not None
        assert outbox_count("order.paid", order) == 1
        assert check_ledger().ok


def test_card_method_is_offered_only_when_the_shop_enables_it(app, tree, client_for, ls):
    product = card_product(codes=1)
    client = client_for("star.localhost")
    assert 'value="stripe"' not in checkout(client, product.sku, **GUEST).text
    resp = checkout(client, product.sku, "stripe", **GUEST)
    assert resp.status_code == 422


def test_refunding_a_card_order_refunds_it_at_stripe(app, tree, ls):
    from kameng.billing.payments.base import PaymentNotice, PaymentRequest
    from kameng.billing.payments.registry import get_provider
    from kameng.core.scoping import tenant_scope
    from kameng.sales import services

    product = card_product(codes=2)
    payment_services.save_provider_config(tree.star, "stripe", enabled=True)
    with tenant_scope(tree.star.id):
        order = services.place_order(tree.star, sku=product.sku, payment_method="stripe",
                                     contact="card@example.com",
                                     lookup_password="pw-1234").order
        start = get_provider(tree.star, "stripe").start(PaymentRequest(
            order_no=order.order_no, amount=order.amount, currency=order.currency,
            description="test", notify_url="", return_url="", client_ip=None,
            payment_method=ls.card_payment_method()))
        pi_id = start.provider_ref
        notice = PaymentNotice(provider="stripe", order_no=order.order_no, amount=order.amount,
                               currency=order.currency, provider_ref=pi_id, paid=True)
        assert services.record_payment(tree.star, notice)
        assert services.refund_order(get_order(order.order_no), "customer changed mind")
    run_jobs(app, "default")
    refunds = ls.client().v1.refunds.list(params={"payment_intent": pi_id})
    assert [r.amount for r in refunds.data] == [order.amount]
    assert get_order(order.order_no).status == "refunded"
    assert check_ledger().ok
