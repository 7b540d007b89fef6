"""Stripe: PaymentIntents and refunds through the real client against localstripe, and
the webhook's verification (raw-body signature, stale and future timestamps)."""
from __future__ import annotations

import json
import time

import pytest
import stripe

from kameng.billing.payments import services
from kameng.billing.payments.base import (
    InvalidNotification,
    NotificationRequest,
    PaymentRequest,
    ProviderUnavailable,
)
from kameng.billing.payments.registry import get_provider
from kameng.billing.payments.stripe_provider import verify_webhook
from kameng.core.extensions import db
from kameng.tenants.services import add_domain
from tests.fakes.epay_gateway import live_server
from tests.fakes.stripe import (
    TEST_PUBLISHABLE_KEY,
    TEST_SECRET_KEY,
    TEST_WEBHOOK_SECRET,
    make_event,
    sign_payload,
    signed_event,
)

STRIPE_KEYS = dict(STRIPE_SECRET_KEY=TEST_SECRET_KEY, STRIPE_PUBLISHABLE_KEY=TEST_PUBLISHABLE_KEY,
                   STRIPE_WEBHOOK_SECRET=TEST_WEBHOOK_SECRET)


@pytest.fixture
def ls(app, stripe_fake):
    app.config.update(stripe_fake.app_config())
    return stripe_fake


def enable_stripe(tenant):
    services.save_provider_config(tenant, "stripe", enabled=True)


def intent(tenant_id, order_no="K1", amount=1265, pi_id="pi_test1", **extra) -> dict:
    return {"id": pi_id, "object": "payment_intent", "amount": amount, "amount_received": amount,
            "currency": "cny", "status": "succeeded",
            "metadata": {"order_no": order_no, "tenant_id": str(tenant_id)}, **extra}


def post_event(client_for, event, host="master.localhost", **sign):
    body, headers = signed_event(event, **sign)
    return client_for(host).post("/pay/stripe/webhook", data=body, headers=headers)


# ----- through localstripe ------------------------------------------------------------

def test_end_to_end_card_payment_reaches_the_handler_from_the_webhook(app, tree, ls, handler):
    enable_stripe(tree.star)
    # the platform's webhook is served on the master's host; Stripe calls it by IP here
    add_domain("master", "127.0.0.1", verified=True)
    star_id = tree.star.id
    server = live_server(app)
    try:
        ls.register_webhook(f"{server.url}/pay/stripe/webhook", TEST_WEBHOOK_SECRET)
        db.session.commit()
        start = get_provider(tree.star, "stripe").start(PaymentRequest(
            order_no="KSTRIPE1", amount=1265, currency="CNY", description="60 点券",
            payment_method=ls.card_payment_method(), customer_id=tree.star_customer.id))
        assert start.kind == "client_secret" and start.client_secret.startswith(start.provider_ref)
        assert start.fields["status"] == "succeeded"
        assert start.fields["publishable_key"] == TEST_PUBLISHABLE_KEY
        assert start.fields["js_url"] == ls.js_url

        [notice] = handler.wait_for(1)
        tenant_id, _, scope = handler.calls[0]
        assert tenant_id == scope == star_id
        assert (notice.order_no, notice.amount, notice.currency) == ("KSTRIPE1", 1265, "CNY")
        assert notice.paid and notice.status == "paid" and notice.provider == "stripe"
        assert notice.provider_ref == start.provider_ref and notice.event_id.startswith("evt_")

        pi = ls.client().v1.payment_intents.retrieve(start.provider_ref)
        assert pi.metadata["order_no"] == "KSTRIPE1" and pi.metadata["tenant_id"] == str(star_id)
    finally:
        server.close()


def test_start_without_a_method_gives_a_client_secret_for_the_payment_element(app, tree, ls):
    enable_stripe(tree.star)
    start = get_provider(tree.star, "stripe").start(PaymentRequest(
        order_no="K2", amount=500, currency="USD", description="gift card"))
    assert start.kind == "client_secret" and start.fields["status"] == "requires_payment_method"
    pi = ls.client().v1.payment_intents.retrieve(start.provider_ref)
    assert (pi.amount, pi.currency, pi.client_secret) == (500, "usd", start.client_secret)


def test_refund_goes_through_stripe(app, tree, ls):
    enable_stripe(tree.star)
    provider = get_provider(tree.star, "stripe")
    start = provider.start(PaymentRequest(order_no="K3", amount=2000, currency="CNY",
                                          description="x",
                                          payment_method=ls.card_payment_method()))
    partial = provider.refund(start.provider_ref, 500, "kameng:refund:K3:1")
    assert partial.status == "succeeded" and partial.amount == 500
    assert partial.refund_ref.startswith("re_")
    rest = provider.refund(start.provider_ref, 1500, "kameng:refund:K3:2")
    assert rest.status == "succeeded" and rest.refund_ref != partial.refund_ref
    refunds = ls.client().v1.refunds.list(params={"payment_intent": start.provider_ref})
    assert sorted(r.amount for r in refunds.data) == [500, 1500]


def test_query_by_payment_intent(app, tree, ls):
    enable_stripe(tree.star)
    provider = get_provider(tree.star, "stripe")
    paid = provider.start(PaymentRequest(order_no="K4", amount=900, currency="CNY",
                                         description="x", payment_method=ls.card_payment_method()))
    open_ = provider.start(PaymentRequest(order_no="K5", amount=900, currency="CNY",
                                          description="x"))
    notice = provider.query("K4", provider_ref=paid.provider_ref)
    assert notice.paid and notice.amount == 900 and notice.currency == "CNY"
    assert provider.query("K5", provider_ref=open_.provider_ref).status == "pending"
    # another order's intent, or another shop's, says nothing about this order
    assert provider.query("K5", provider_ref=paid.provider_ref) is None
    enable_stripe(tree.rocket)
    assert get_provider(tree.rocket, "stripe").query("K4", provider_ref=paid.provider_ref) is None


def test_refunded_charge_without_metadata_is_traced_to_its_order(app, tree, ls, handler,
                                                                 client_for):
    enable_stripe(tree.star)
    start = get_provider(tree.star, "stripe").start(PaymentRequest(
        order_no="K6", amount=700, currency="CNY", description="x",
        payment_method=ls.card_payment_method()))
    charge = {"id": "ch_test", "object": "charge", "amount": 700, "amount_refunded": 700,
              "currency": "cny", "payment_intent": start.provider_ref, "metadata": {}}
    resp = post_event(client_for, make_event("charge.refunded", charge))
    assert resp.status_code == 200
    [notice] = handler.notices
    assert (notice.order_no, notice.status, notice.amount, notice.paid) == ("K6", "refunded",
                                                                             700, False)
    assert notice.provider_ref == start.provider_ref


# ----- webhook verification (no Stripe server needed) ------------------------------------

with_stripe_keys = pytest.mark.app_config(**STRIPE_KEYS)


@pytest.mark.both
@with_stripe_keys
def test_signed_event_is_accepted_and_repeats_give_equal_notices(app, tree, handler,
                                                                  client_for):
    event = make_event("payment_intent.succeeded", intent(tree.star.id))
    for _ in range(3):
        resp = post_event(client_for, event)
        assert resp.status_code == 200 and resp.json == {"received": True, "accepted": True}
    assert len(handler.notices) == 3 and len(set(handler.notices)) == 1
    assert all(t == tree.star.id for t, _, _ in handler.calls)


@pytest.mark.both
@with_stripe_keys
def test_the_shop_comes_from_the_event_not_the_host(app, tree, handler, client_for):
    resp = post_event(client_for, make_event("payment_intent.succeeded",
                                             intent(tree.rocket.id, "KR")), host="star.localhost")
    assert resp.status_code == 200
    [(tenant_id, notice, scope)] = handler.calls
    assert tenant_id == scope == tree.rocket.id and notice.order_no == "KR"


@pytest.mark.both
@with_stripe_keys
def test_forged_unsigned_stale_and_future_events_are_refused(app, tree, handler, client_for):
    event = make_event("payment_intent.succeeded", intent(tree.star.id))
    body = json.dumps(event).encode()
    client = client_for("master.localhost")
    now = int(time.time())
    attempts = {
        "unsigned": {},
        "wrong secret": {"Stripe-Signature": sign_payload(body, "whsec_attacker")},
        "garbage header": {"Stripe-Signature": "nonsense"},
        "stale": {"Stripe-Signature": sign_payload(body, TEST_WEBHOOK_SECRET, now - 3600)},
        "future": {"Stripe-Signature": sign_payload(body, TEST_WEBHOOK_SECRET, now + 3600)},
    }
    for name, headers in attempts.items():
        resp = client.post("/pay/stripe/webhook", data=body,
                           headers={**headers, "Content-Type": "application/json"})
        assert resp.status_code == 400, name
    # the body is verified as received: re-serialised JSON does not pass
    header = sign_payload(body, TEST_WEBHOOK_SECRET)
    altered = json.dumps(event, indent=1).encode()
    assert client.post("/pay/stripe/webhook", data=altered,
                       headers={"Stripe-Signature": header}).status_code == 400
    assert handler.calls == []


@with_stripe_keys
def test_stripe_python_alone_would_accept_a_future_timestamp(app):
    body = json.dumps(make_event("payment_intent.succeeded", intent(1))).encode()
    future = sign_payload(body, TEST_WEBHOOK_SECRET, int(time.time()) + 3600)
    stripe.Webhook.construct_event(body, future, TEST_WEBHOOK_SECRET)   # no error: the gap
    with pytest.raises(InvalidNotification, match="future"):
        verify_webhook(body, future)
    slightly_ahead = sign_payload(body, TEST_WEBHOOK_SECRET, int(time.time()) + 60)
    assert verify_webhook(body, slightly_ahead)["type"] == "payment_intent.succeeded"


@pytest.mark.both
@with_stripe_keys
def test_events_we_do_not_act_on_are_acknowledged_and_ignored(app, tree, handler, client_for):
    other = make_event("customer.created", {"id": "cus_1", "object": "customer"})
    foreign = make_event("payment_intent.succeeded", {**intent(tree.star.id), "metadata": {}})
    gone = make_event("payment_intent.succeeded", intent(999999))
    for event in (other, foreign, gone):
        resp = post_event(client_for, event)
        assert resp.status_code == 200 and resp.json["ignored"] is True
    assert handler.calls == []


@pytest.mark.both
@with_stripe_keys
def test_failed_and_refunded_events_become_bookkeeping_notices(app, tree, handler, client_for):
    failed = make_event("payment_intent.payment_failed",
                        {**intent(tree.star.id, "K7"), "status": "requires_payment_method",
                         "amount_received": 0})
    refunded = make_event("charge.refunded", {
        "id": "ch_1", "object": "charge", "amount": 1265, "amount_refunded": 400,
        "currency": "cny", "payment_intent": "pi_test1",
        "metadata": {"order_no": "K7", "tenant_id": str(tree.star.id)}})
    assert post_event(client_for, failed).status_code == 200
    assert post_event(client_for, refunded).status_code == 200
    f, r = handler.notices
    assert (f.status, f.paid, f.amount) == ("failed", False, 1265)
    assert (r.status, r.paid, r.amount, r.provider_ref) == ("refunded", False, 400, "pi_test1")


@pytest.mark.both
@with_stripe_keys
def test_a_notice_the_handler_refuses_is_acknowledged_but_not_accepted(app, tree, handler,
                                                                         client_for):
    handler.answer = False
    resp = post_event(client_for, make_event("payment_intent.succeeded", intent(tree.star.id)))
    assert resp.status_code == 200 and resp.json == {"received": True, "accepted": False}
    assert len(handler.calls) == 1


@pytest.mark.both
@with_stripe_keys
def test_a_failing_handler_makes_stripe_retry(app, tree, handler, client_for):
    def broken(tenant, notice):
        raise RuntimeError("database went away")

    handler.answer = broken
    resp = post_event(client_for, make_event("payment_intent.succeeded", intent(tree.star.id)))
    assert resp.status_code == 500


@pytest.mark.both
@with_stripe_keys
def test_no_handler_means_503_so_stripe_retries(app, tree, client_for, without_handler):
    resp = post_event(client_for, make_event("payment_intent.succeeded", intent(tree.star.id)))
    assert resp.status_code == 503


@with_stripe_keys
def test_provider_checks_the_shop_and_amount(app, tree):
    event = make_event("payment_intent.succeeded", intent(tree.star.id, "K8", amount=1000))
    body, headers = signed_event(event)
    req = NotificationRequest(method="POST", headers=headers, raw_body=body)
    enable_stripe(tree.star)
    provider = get_provider(tree.star, "stripe")
    assert provider.parse_notification(req, expected_amount=1000).amount == 1000
    with pytest.raises(InvalidNotification):
        provider.parse_notification(req, expected_amount=999)
    with pytest.raises(InvalidNotification, match="another shop"):
        get_provider(tree.rocket, "stripe", enabled_only=False).parse_notification(req)


@pytest.mark.both
def test_stripe_cannot_be_enabled_without_platform_keys(app, tree):
    with pytest.raises(Exception, match="not configured"):
        enable_stripe(tree.star)
    with pytest.raises(ProviderUnavailable):
        get_provider(tree.star, "stripe")
