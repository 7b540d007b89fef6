"""Order lookup: number + contact + lookup password, one answer for every failure,
codes only after the check, rate-limited per shop and address."""
from __future__ import annotations

import re

import pytest

from kameng.sales import services
from kameng.sales.fulfilment import fulfil
from tests.orders.helpers import card_product, fund_own_gateway
from tests.orders.web_helpers import enable_balance

PASSWORD = "pw-1234"
CONTACT = "me@example.com"


def delivered_guest_order(tenant, product, contact=CONTACT):
    if not tenant.is_master:
        fund_own_gateway(tenant)  # its own gateway: the parent's price from its funds
    order = services.place_order(tenant, sku=product.sku, payment_method="epay",
                                 contact=contact, lookup_password=PASSWORD).order
    from kameng.billing.payments.base import PaymentNotice

    services.record_payment(tenant, PaymentNotice(
        provider="epay", order_no=order.order_no, amount=order.amount, currency=order.currency,
        provider_ref="T1", paid=True))
    assert fulfil(order.id).status == "delivered"
    return order


def post_lookup(client, order_no, contact=CONTACT, password=PASSWORD):
    return client.post("/lookup", data={"order_number": order_no, "contact": contact,
                                        "lookup_password": password})


def normalised(response, typed_number) -> str:
    text = response.get_data(as_text=True)
    text = re.sub(r'name="csrf_token" value="[^"]*"', 'name="csrf_token" value=""', text)
    return text.replace(typed_number, "<NUMBER>")


@pytest.mark.both
def test_lookup_with_the_right_details_shows_the_codes(app, tree, client_for):
    product = card_product(codes=3)
    order = delivered_guest_order(tree.star, product)
    codes = services.order_codes(order)
    client = client_for("star.localhost")
    assert client.get(f"/o/{order.order_no}").status_code == 404  # not before the check

    resp = post_lookup(client, order.order_no.lower(), contact="  ME@example.com ")
    assert resp.status_code == 302
    assert resp.headers["Location"].endswith(f"/o/{order.order_no}")
    page = client.get(f"/o/{order.order_no}")
    assert page.status_code == 200
    assert all(f'<code class="code">{code}</code>' in page.text for code in codes)


@pytest.mark.both
def test_every_failure_gives_the_same_answer_and_no_codes(app, tree, client_for):
    product = card_product(codes=3)
    order = delivered_guest_order(tree.star, product)
    rocket_order = delivered_guest_order(tree.rocket, card_product(sku="ROCKET-1", codes=1))
    codes = services.order_codes(order)
    client = client_for("star.localhost")
    attempts = {
        "wrong password": post_lookup(client, order.order_no, password="wrong-pw"),
        "wrong contact": post_lookup(client, order.order_no, contact="other@example.com"),
        "unknown number": post_lookup(client, "K261126ZZZZZZZZZZZZZZ"),
        "another shop's order": post_lookup(client, rocket_order.order_no),
    }
    typed = {"wrong password": order.order_no, "wrong contact": order.order_no,
             "unknown number": "K261126ZZZZZZZZZZZZZZ",
             "another shop's order": rocket_order.order_no}
    # the contact is echoed back as typed; compare like with like
    baseline = normalised(attempts["wrong password"], order.order_no)
    for name, resp in attempts.items():
        assert resp.status_code == 200, name
        assert "lookup-failed" in resp.text, name
        assert not any(code in resp.text for code in codes), name
        text = normalised(resp, typed[name])
        if name != "wrong contact":
            assert text == baseline, name
        else:
            assert text == baseline.replace(CONTACT, "other@example.com"), name
    # none of them opened the order page
    assert client.get(f"/o/{order.order_no}").status_code == 404


def test_a_customers_order_has_no_lookup_password(app, tree, client_for):
    from tests.orders.helpers import fund

    product = card_product(codes=2)
    enable_balance(tree.star)
    fund(tree.star_customer, 10_000)
    order = services.place_order(tree.star, sku=product.sku, customer=tree.star_customer).order
    resp = post_lookup(client_for("star.localhost"), order.order_no,
                       contact=tree.star_customer.email, password="")
    assert resp.status_code == 422  # the password is required; nothing is looked up


def test_the_return_page_without_access_reveals_nothing(app, tree, client_for):
    product = card_product(codes=2)
    order = delivered_guest_order(tree.star, product)
    client = client_for("star.localhost")
    known = client.get(f"/pay/return?out_trade_no={order.order_no}")
    unknown = client.get("/pay/return?out_trade_no=K261126ZZZZZZZZZZZZZZ")
    assert known.status_code == unknown.status_code == 200
    assert normalised(known, order.order_no) == normalised(unknown, "K261126ZZZZZZZZZZZZZZ")


@pytest.mark.app_config(LOOKUP_RATE_LIMIT="3 per minute")
def test_lookup_is_rate_limited_per_shop_and_address(app, tree, client_for):
    client = client_for("star.localhost")
    for _ in range(3):
        assert post_lookup(client, "K261126ZZZZZZZZZZZZZZ").status_code == 200
    assert post_lookup(client, "K261126ZZZZZZZZZZZZZZ").status_code == 429
    # the page itself still opens, and another shop on the same address is not affected
    assert client.get("/lookup").status_code == 200
    assert post_lookup(client_for("rocket.localhost"), "K261126ZZZZZZZZZZZZZZ").status_code == 200
