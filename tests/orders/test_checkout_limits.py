"""Guest checkout cannot be used to tie up a shop's stock or its CPU: placed orders are
rate-limited per shop and client, the unpaid orders a client may hold are capped, and
lookup passwords are hashed with cheaper argon2 parameters than account passwords."""
from __future__ import annotations

import pytest
from sqlalchemy import func, select

from kameng.billing.payments.base import PaymentNotice
from kameng.core.extensions import db
from kameng.core.passwords import hasher
from kameng.sales import services
from kameng.sales.models import Order
from kameng.tenants import services as tenants
from kameng.tenants.i18n import COOKIE
from tests.fakes.epay_gateway import epay_gateway  # noqa: F401  (fixture)
from tests.helpers import login
from tests.orders.helpers import card_product, fund
from tests.orders.web_helpers import (
    GUEST,
    available,
    checkout,
    enable_balance,
    enable_epay,
    order_no_from,
)

STAR, ROCKET = "star.localhost", "rocket.localhost"
LIMIT_EN = "Too many orders from you in a short time. Please wait a few minutes"
LIMIT_ZH = "您短时间内下单太多"
CAP_EN = "You already have 2 unpaid orders in this shop."
CAP_ZH = "您在本店已有 2 笔未付款的订单"
UNITS_EN = "Unpaid orders may reserve at most 5 items at a time, and yours already reserve 4."
UNITS_ZH = "未付款的订单最多可同时预留 5 件商品"


def orders_count(**where) -> int:
    db.session.commit()
    stmt = select(func.count()).select_from(Order)
    for name, value in where.items():
        stmt = stmt.where(getattr(Order, name) == value)
    return db.session.scalar(stmt)


def client_at(client_for, host, address, lang="en"):
    """A browser at ``address``, as the (one, trusted) reverse proxy reports it."""
    client = client_for(host)
    client.environ_base["HTTP_X_FORWARDED_FOR"] = address
    client.set_cookie(COOKIE, lang, domain=host)
    return client


def buy(client, sku, quantity=1, **data):
    return checkout(client, sku, "epay:alipay", quantity=quantity, **{**GUEST, **data})


@pytest.fixture
def shops(app, tree, epay_gateway):  # noqa: F811
    """Star and rocket take epay; a card with plenty of codes."""
    enable_epay(tree.star, epay_gateway)
    enable_epay(tree.rocket, epay_gateway)
    return card_product(codes=40)


# ----- the rate limit ---------------------------------------------------------------------

@pytest.mark.app_config(CHECKOUT_RATE_LIMIT="3 per minute", TRUSTED_PROXIES=1,
                        MAX_UNPAID_ORDERS=0, MAX_UNPAID_UNITS=0)
@pytest.mark.parametrize("lang, message", [("en", LIMIT_EN), ("zh_CN", LIMIT_ZH)])
def test_guest_checkout_is_limited_per_shop_and_client(app, tree, shops, client_for,
                                                      lang, message):
    product = shops
    mallory = client_at(client_for, STAR, "203.0.113.5", lang)
    # forms with errors and the step that picks a payment method place nothing: not counted
    assert buy(mallory, product.sku, contact="").status_code == 422
    assert checkout(mallory, product.sku, **GUEST).status_code == 200
    for _ in range(3):
        assert buy(mallory, product.sku).status_code == 302
    refused = buy(mallory, product.sku)
    assert refused.status_code == 429
    assert message in refused.text and 'class="card form checkout-form"' in refused.text
    assert orders_count() == 3 and available(product.id) == 40 - 3

    # the checkout page still opens; another client of the shop, and the same client in
    # another shop, are not affected
    assert mallory.get(f"/checkout?sku={product.sku}").status_code == 200
    assert buy(client_at(client_for, STAR, "198.51.100.7", lang), product.sku).status_code == 302
    assert buy(client_at(client_for, ROCKET, "203.0.113.5", lang), product.sku).status_code == 302
    assert orders_count(tenant_id=tree.star.id) == 4
    assert orders_count(tenant_id=tree.rocket.id) == 1


@pytest.mark.app_config(CHECKOUT_RATE_LIMIT="2 per minute", TRUSTED_PROXIES=1,
                        MAX_UNPAID_ORDERS=0, MAX_UNPAID_UNITS=0)
def test_a_signed_in_customer_is_limited_by_account_and_never_for_balance_orders(
        app, tree, shops, client_for):
    product = shops
    enable_balance(tree.star)
    fund(tree.star_customer, 100_000)
    customer = client_at(client_for, STAR, "203.0.113.5")
    login(customer, tree.star_customer.email)
    for _ in range(2):
        assert checkout(customer, product.sku, "epay:alipay").status_code == 302
    refused = checkout(customer, product.sku, "epay:alipay")
    assert refused.status_code == 429 and LIMIT_EN in refused.text
    # paid at once from the balance: reserves nothing unpaid, neither refused nor counted
    for _ in range(3):
        assert checkout(customer, product.sku, "balance").status_code == 302
    # a guest behind the same address is another client
    assert buy(client_at(client_for, STAR, "203.0.113.5"), product.sku).status_code == 302


@pytest.mark.app_config(API_RATE_LIMIT="2 per minute")
@pytest.mark.parametrize("locale, message", [
    ("en", "Too many requests for this API key"), ("zh_CN", "此 API 密钥的请求太多")])
def test_the_apis_limit_is_per_key_and_said_in_the_shops_language(app, tree, client_for,
                                                                   locale, message):
    # the API places orders paid from the balance only (nothing unpaid, no lookup hash):
    # its per-key limit is its guard
    from tests.api.helpers import api_account, auth

    tree.star.locale = locale   # the shop's language (an API client has no cookie)
    db.session.commit()
    _user, key = api_account(tree.star, "api@star.test")
    client = client_for(STAR)
    for _ in range(2):
        assert client.get("/api/v1/balance", headers=auth(key)).status_code == 200
    refused = client.get("/api/v1/balance", headers=auth(key))
    assert refused.status_code == 429 and refused.mimetype == "application/problem+json"
    assert refused.json["code"] == "rate_limited" and message in refused.json["title"]


# ----- the cap on unpaid orders -------------------------------------------------------------

@pytest.mark.app_config(MAX_UNPAID_ORDERS=2, MAX_UNPAID_UNITS=5, TRUSTED_PROXIES=1)
@pytest.mark.parametrize("lang, message", [("en", CAP_EN), ("zh_CN", CAP_ZH)])
def test_a_guest_holds_at_most_so_many_unpaid_orders(app, tree, shops, client_for,
                                                     lang, message):
    product = shops
    guest = client_at(client_for, STAR, "203.0.113.5", lang)
    first = order_no_from(buy(guest, product.sku))
    # another contact from the same address: the same client
    assert buy(guest, product.sku, contact="other@example.com").status_code == 302
    refused = buy(guest, product.sku, contact="third@example.com")
    assert refused.status_code == 429 and message in refused.text
    assert orders_count() == 2 and available(product.id) == 40 - 2

    # another address, and the same address in another shop, are other clients
    assert buy(client_at(client_for, STAR, "198.51.100.7", lang), product.sku).status_code == 302
    assert buy(client_at(client_for, ROCKET, "203.0.113.5", lang),
               product.sku).status_code == 302

    # once one is paid, the client may place another
    order = services.get_order(first)
    assert services.record_payment(tree.star, PaymentNotice(
        provider="epay", order_no=first, amount=order.amount, currency=order.currency,
        provider_ref="T1", paid=True))
    assert buy(guest, product.sku).status_code == 302
    assert buy(guest, product.sku).status_code == 429


@pytest.mark.app_config(MAX_UNPAID_ORDERS=10, MAX_UNPAID_UNITS=5, TRUSTED_PROXIES=1)
@pytest.mark.parametrize("lang, message", [("en", UNITS_EN), ("zh_CN", UNITS_ZH)])
def test_unpaid_orders_of_a_guest_reserve_at_most_so_many_units(app, tree, shops, client_for,
                                                                lang, message):
    product = shops
    guest = client_at(client_for, STAR, "203.0.113.5", lang)
    assert buy(guest, product.sku, quantity=4).status_code == 302
    refused = buy(guest, product.sku, quantity=2)
    assert refused.status_code == 429 and message in refused.text
    assert available(product.id) == 40 - 4
    assert buy(guest, product.sku, quantity=1).status_code == 302
    assert available(product.id) == 40 - 5


@pytest.mark.both
@pytest.mark.app_config(MAX_UNPAID_ORDERS=2)
def test_the_cap_counts_a_customers_unpaid_orders_and_never_refuses_a_paid_one(app, tree,
                                                                              shops):
    product = shops
    enable_balance(tree.star)
    fund(tree.star_customer, 100_000)
    for _ in range(2):
        services.place_order(tree.star, sku=product.sku, customer=tree.star_customer,
                             payment_method="epay", client_ip="203.0.113.5")
    with pytest.raises(services.TooManyUnpaid) as refused:
        services.place_order(tree.star, sku=product.sku, customer=tree.star_customer,
                             payment_method="epay", client_ip="198.51.100.7")
    assert (refused.value.status, refused.value.code) == (429, "too_many_unpaid_orders")
    assert CAP_EN in refused.value.message
    # paid at once (the web's balance, the API's orders): nothing unpaid, no cap
    paid = services.place_order(tree.star, sku=product.sku, customer=tree.star_customer,
                                payment_method="balance", client_ip="203.0.113.5")
    assert paid.order.status == "paid"
    # a guest at the customer's address is another client
    services.place_order(tree.star, sku=product.sku, payment_method="epay",
                         client_ip="203.0.113.5", **GUEST)
    # the unpaid orders expire: the customer may order again
    db.session.execute(Order.__table__.update().values(expires_at=Order.created_at))
    db.session.commit()
    services.expire_orders()
    services.place_order(tree.star, sku=product.sku, customer=tree.star_customer,
                         payment_method="epay")


# ----- the lookup password's hash -----------------------------------------------------------

@pytest.mark.app_config(ARGON2_PROFILE="RFC_9106_LOW_MEMORY")
def test_lookup_passwords_are_hashed_cheaper_than_account_passwords(app, client_for):
    shop = tenants.create_tenant("solo", "Solo Shop")
    owner = tenants.create_user(shop, "owner@solo.test", "owner", "an account password")
    product = card_product(codes=3)
    order = services.place_order(shop, sku=product.sku, payment_method="epay",
                                 **GUEST).order

    # argon2id both, with the parameters written into each hash
    assert owner.password_hash.startswith("$argon2id$v=19$m=65536,t=3,p=4$")
    assert order.lookup_hash.startswith("$argon2id$v=19$m=19456,t=2,p=1$")

    # the lookup finds the order, through the service and the page
    assert services.lookup(order.order_no, GUEST["contact"], GUEST["lookup_password"]) == order
    assert services.lookup(order.order_no, GUEST["contact"], "wrong-pw") is None
    client = client_for("solo.localhost")
    resp = client.post("/lookup", data={"order_number": order.order_no,
                                        "contact": GUEST["contact"],
                                        "lookup_password": GUEST["lookup_password"]})
    assert resp.status_code == 302 and resp.headers["Location"].endswith(order.order_no)

    # a hash stored with the account parameters (before the split) still verifies
    order.lookup_hash = hasher().hash(GUEST["lookup_password"])
    db.session.commit()
    assert services.lookup(order.order_no, GUEST["contact"], GUEST["lookup_password"]) == order
    assert services.lookup(order.order_no, GUEST["contact"], "wrong-pw") is None


def test_lookup_parameters_are_never_dearer_than_the_account_profile(app, tree):
    # the tests' CHEAPEST profile: the lookup hasher takes the cheaper of each parameter
    order = services.place_order(tree.star, sku=card_product(codes=1).sku,
                                 payment_method="epay", **GUEST).order
    assert order.lookup_hash.startswith("$argon2id$v=19$m=8,t=1,p=1$")
    assert services.lookup(order.order_no, GUEST["contact"], GUEST["lookup_password"]) == order
