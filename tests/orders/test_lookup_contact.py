"""Lookup by contact and lookup password alone (no order number): that buyer's guest orders
on this shop, one constant answer for every miss, the same rate limit; a signed-in buyer's
order page does not ask them to keep a password they never set."""
from __future__ import annotations

import re

import pytest

from kameng.sales import services
from tests.orders.helpers import card_product, fund
from tests.orders.test_lookup import CONTACT, PASSWORD, delivered_guest_order
from tests.orders.web_helpers import enable_balance


def post_lookup(client, contact=CONTACT, password=PASSWORD, number=""):
    return client.post("/lookup", data={"order_number": number, "contact": contact,
                                        "lookup_password": password})


def normalised(response) -> str:
    text = response.get_data(as_text=True)
    return re.sub(r'name="csrf_token" value="[^"]*"', 'name="csrf_token" value=""', text)


@pytest.mark.both
def test_contact_and_password_find_the_buyers_orders_on_this_shop(app, tree, client_for):
    product = card_product(codes=6)
    first = delivered_guest_order(tree.star, product)
    second = delivered_guest_order(tree.star, product)
    other_buyer = delivered_guest_order(tree.star, product, contact="other@example.com")
    elsewhere = delivered_guest_order(tree.rocket, card_product(sku="ROCKET-1", codes=1))
    client = client_for("star.localhost")
    found = post_lookup(client, contact=" ME@example.com ")
    assert found.status_code == 200 and "lookup-found" in found.text
    assert first.order_no in found.text and second.order_no in found.text
    assert other_buyer.order_no not in found.text and elsewhere.order_no not in found.text
    # the session may now open both orders, not the others
    assert client.get(f"/o/{first.order_no}").status_code == 200
    assert client.get(f"/o/{second.order_no}").status_code == 200
    assert client.get(f"/o/{other_buyer.order_no}").status_code == 404
    page = client.get(f"/o/{first.order_no}").text
    assert "无需订单号" in page  # star speaks Chinese

    # a single order goes straight to its page
    single = post_lookup(client_for("star.localhost"), contact="other@example.com")
    assert single.status_code == 302
    assert single.headers["Location"].endswith(f"/o/{other_buyer.order_no}")


def test_every_miss_gives_the_same_answer(app, tree, client_for):
    product = card_product(codes=3)
    order = delivered_guest_order(tree.star, product)
    delivered_guest_order(tree.rocket, card_product(sku="ROCKET-1", codes=1))
    client = client_for("star.localhost")
    misses = [post_lookup(client, password="wrong-pw"),
              post_lookup(client, contact="nobody@example.com"),
              post_lookup(client_for("star.localhost"), contact=CONTACT, password="nope-nope")]
    for resp in misses:
        assert resp.status_code == 200 and "lookup-failed" in resp.text
        assert order.order_no not in resp.text
    assert normalised(misses[0]) == normalised(misses[2])
    assert normalised(misses[1]) == normalised(misses[0]).replace(CONTACT, "nobody@example.com")
    # rocket's buyer with the same contact is not found on star, and not the other way round
    assert services.lookup_by_contact(tree.rocket, CONTACT, PASSWORD)[0].tenant_id == \
        tree.rocket.id


@pytest.mark.app_config(LOOKUP_RATE_LIMIT="2 per minute")
def test_lookup_by_contact_is_rate_limited(app, tree, client_for):
    client = client_for("star.localhost")
    assert post_lookup(client).status_code == 200
    assert post_lookup(client).status_code == 200
    assert post_lookup(client).status_code == 429


@pytest.mark.parametrize("locale", ["en", "zh_CN"])
def test_a_signed_in_buyers_order_page_asks_for_no_password(app, tree, client_for, locale):
    from tests.helpers import login

    product = card_product(codes=2)
    enable_balance(tree.star)
    fund(tree.star_customer, 10_000)
    order = services.place_order(tree.star, sku=product.sku, customer=tree.star_customer,
                                 payment_method="balance").order
    client = client_for("star.localhost")
    login(client, tree.star_customer.email)
    client.get(f"/lang/{locale}")
    page = client.get(f"/o/{order.order_no}").text
    assert "lookup password" not in page.lower() and "查询密码" not in page
    assert ("我的订单" if locale == "zh_CN" else "My orders") in page
    lookup = client.get("/lookup").text
    assert ("选填" if locale == "zh_CN" else "optional") in lookup
