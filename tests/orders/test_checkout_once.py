"""The contact and the lookup password are asked once (at checkout), a payment method is
pre-selected, and a balance too low offers the top-up and the other methods."""
from __future__ import annotations

import re

import pytest

from kameng.billing.payments import demo as demo_gateway
from tests.helpers import login
from tests.orders.helpers import card_product, fund
from tests.orders.web_helpers import GUEST, checkout, enable_balance, order_no_from


def checked(html: str) -> list[str]:
    return re.findall(r'name="payment_method" value="([^"]+)" checked', html)


@pytest.mark.app_config(DEMO_GATEWAY=True)
def test_a_guest_gives_contact_and_password_once_at_checkout(app, tree, client_for):
    product = card_product(codes=3)
    demo_gateway.install(tree.master)
    client = client_for("star.localhost")
    page = client.get(f"/p/{product.sku}").text
    assert 'name="lookup_password"' not in page and 'name="contact"' not in page
    # the buy form carries only the product's own fields: no error, the checkout asks
    step = checkout(client, product.sku)
    assert step.status_code == 200
    assert 'name="contact"' in step.text and 'name="lookup_password"' in step.text
    assert 'role="alert"' not in step.text
    assert checked(step.text) == ["epay:alipay"]  # pre-selected: the first method
    placed = checkout(client, product.sku, "epay:alipay", **GUEST)
    assert placed.status_code == 302 and order_no_from(placed)
    # placing still needs them
    missing = checkout(client, product.sku, "epay:alipay")
    assert missing.status_code == 422 and 'id="error-lookup_password"' in missing.text


@pytest.mark.app_config(DEMO_GATEWAY=True)
@pytest.mark.parametrize("locale", ["en", "zh_CN"])
def test_a_balance_too_low_offers_the_top_up_and_the_other_methods(app, tree, client_for,
                                                                   locale):
    product = card_product(codes=3, retail=1000)
    demo_gateway.install(tree.master)
    enable_balance(tree.star)
    fund(tree.star_customer, 500)
    client = client_for("star.localhost")
    login(client, tree.star_customer.email)
    client.get(f"/lang/{locale}")
    step = checkout(client, product.sku)
    assert step.status_code == 200
    assert checked(step.text) == ["epay:alipay"]  # not the balance that cannot pay
    assert 'href="/account/wallet/topup"' in step.text
    refused = checkout(client, product.sku, "balance")
    assert refused.status_code == 402
    assert checked(refused.text) == ["epay:alipay"]
    assert 'href="/account/wallet/topup"' in refused.text
    assert ("或选择其他支付方式" if locale == "zh_CN" else "or choose another payment method"
            ) in refused.text


def test_a_balance_that_covers_it_is_pre_selected(app, tree, client_for):
    product = card_product(codes=3, retail=1000)
    enable_balance(tree.star)
    fund(tree.star_customer, 5000)
    client = client_for("star.localhost")
    login(client, tree.star_customer.email)
    step = checkout(client, product.sku)
    assert checked(step.text) == ["balance"]
    assert 'href="/account/wallet/topup"' not in step.text
