"""The built-in demo 易支付 gateway, and sub-shops offering the platform's 易支付.

A guest of a depth-1 sub-shop pays through the master's (demo) 易支付: the money is
platform money (``clearing_epay`` → ``sales_clearing``), never the shop's own; the
books check. On PostgreSQL the demo gateway is refused unless ``KAMENG_DEMO_GATEWAY``.
"""
from __future__ import annotations

import re
from urllib.parse import urlsplit

import pytest

from kameng.billing.ledger.services import check_ledger, transaction_by_key
from kameng.billing.payments import demo as demo_gateway
from kameng.billing.payments import registry
from kameng.core.extensions import db
from tests.fakes.epay_gateway import epay_gateway  # noqa: F401  (fixture)
from tests.orders.helpers import card_product
from tests.orders.web_helpers import (
    GUEST,
    checkout,
    enable_epay,
    get_order,
    html_form,
    order_no_from,
    run_jobs,
)


def _gateway_page(client, order_no, method="epay:alipay"):
    page = client.get(f"/o/{order_no}/pay?method={method}")
    assert page.status_code == 200, page.text
    form = html_form(page.text, "epay-form")
    assert form["action"] == "/demo-gateway/submit.php"
    return form


def _guest_order(client, sku):
    resp = checkout(client, sku, "epay:alipay", **GUEST)
    assert resp.status_code == 302, resp.text
    return order_no_from(resp)


@pytest.mark.app_config(DEMO_GATEWAY=True)
def test_a_guest_of_a_sub_shop_pays_through_the_platform_demo_gateway(app, tree, client_for):
    product = card_product(codes=3)
    demo_gateway.install(tree.master)
    assert registry.platform_epay_tenant(tree.star).id == tree.master.id
    assert "epay" in registry.enabled_providers(tree.rocket)  # depth 2 too
    client = client_for("star.localhost")
    order_no = _guest_order(client, product.sku)

    form = _gateway_page(client, order_no)
    assert urlsplit(form["fields"]["notify_url"]).path == f"/pay/epay/platform/notify/{order_no}"
    cashier = client.post(form["action"], data=form["fields"])
    assert cashier.status_code == 200 and "demo-pay-form" in cashier.text
    pay_form = html_form(cashier.text, "demo-pay-form")
    assert pay_form["action"] == "/demo-gateway/pay"

    # a tampered amount is refused by the signature
    assert client.post(pay_form["action"],
                       data={**pay_form["fields"], "money": "0.01", "action": "pay"}
                       ).status_code == 400
    assert get_order(order_no).status == "pending"

    done = client.post(pay_form["action"], data={**pay_form["fields"], "action": "pay"})
    assert done.status_code == 302 and "/pay/return?" in done.headers["Location"]
    order = get_order(order_no)
    assert order.status == "paid" and order.payment_method == "epay"
    assert order.collected_by_tenant_id is None  # platform money, not the shop's own
    paid = transaction_by_key(f"order:{order_no}:pay")
    assert paid.kind == "order_payment"

    back = client.get(done.headers["Location"])
    assert back.status_code == 302 and f"/o/{order_no}" in back.headers["Location"]
    run_jobs(app)
    page = client.get(f"/o/{order_no}")
    assert get_order(order_no).status == "delivered"
    assert re.search(r'<code class="code">GAME-100-CODE-\d+</code>', page.text)
    assert check_ledger().ok


@pytest.mark.app_config(DEMO_GATEWAY=True)
def test_cancel_pays_nothing_and_a_forged_pay_is_refused(app, tree, client_for):
    product = card_product(codes=3)
    demo_gateway.install(tree.master)
    client = client_for("star.localhost")
    order_no = _guest_order(client, product.sku)
    form = _gateway_page(client, order_no)
    cancel = client.post("/demo-gateway/pay", data={**form["fields"], "action": "cancel"})
    assert cancel.status_code == 302
    assert get_order(order_no).status == "pending"
    forged = client.post("/demo-gateway/pay",
                         data={**form["fields"], "sign": "0" * 32, "action": "pay"})
    assert forged.status_code == 400
    assert get_order(order_no).status == "pending"


def test_the_demo_gateway_is_refused_on_postgresql_without_the_setting(app, tree, client_for):
    assert not demo_gateway.allowed()
    product = card_product(codes=3)
    demo_gateway.install(tree.master)
    client = client_for("star.localhost")
    # not offered at checkout …
    page = client.get(f"/p/{product.sku}")
    assert page.status_code == 200 and "epay:alipay" not in page.text
    resp = checkout(client, product.sku, "epay:alipay", **GUEST)
    assert resp.status_code == 422 and "Location" not in resp.headers
    # … and the gateway itself answers 403
    assert client.post("/demo-gateway/submit.php", data={"pid": "1000"}).status_code == 403
    assert client.post("/demo-gateway/pay", data={"pid": "1000"}).status_code == 403


def test_a_sub_shop_with_its_own_gateway_offers_its_own(app, tree, epay_gateway):
    demo_gateway.install(tree.master)
    assert registry.platform_epay_tenant(tree.master) is None
    assert registry.platform_epay_tenant(tree.star).id == tree.master.id
    tree.star.settings = {**(tree.star.settings or {}), "own_gateway": "allow"}
    db.session.commit()
    enable_epay(tree.star, epay_gateway)
    assert registry.platform_epay_tenant(tree.star) is None
    provider = registry.get_provider(tree.star, "epay")
    assert provider.tenant.id == tree.star.id and not provider.platform
    assert registry.get_provider(tree.rocket, "epay").platform  # rocket has none of its own


def test_kameng_demo_seed_makes_the_demo_gateway_the_masters_epay(app, cli):
    result = cli("demo", "seed")
    assert result.exit_code == 0, result.output
    from kameng.tenants.models import Tenant

    shops = {t.slug: t for t in db.session.query(Tenant)}
    provider = registry.platform_epay()
    assert provider.tenant.id == shops["master"].id and demo_gateway.is_demo(provider)
    for slug in ("star", "rocket"):
        assert registry.platform_epay_tenant(shops[slug]).id == shops["master"].id


@pytest.mark.app_config(DEMO_GATEWAY=True)
@pytest.mark.parametrize("locale,words", [("en", ("Demo payment gateway", "Pay")),
                                          ("zh_CN", ("演示支付网关", "支付"))])
def test_the_gateway_page_in_both_languages(app, tree, client_for, locale, words):
    product = card_product(codes=3)
    demo_gateway.install(tree.master)
    client = client_for("rocket.localhost")
    client.get(f"/lang/{locale}")
    order_no = _guest_order(client, product.sku)
    form = _gateway_page(client, order_no)
    cashier = client.post(form["action"], data=form["fields"])
    assert cashier.status_code == 200
    assert all(word in cashier.text for word in words)


@pytest.mark.parametrize("locale,words", [("en", "the platform's 易支付"),
                                          ("zh_CN", "平台的易支付")])
def test_a_sub_shop_owner_is_told_its_buyers_get_the_platform_epay(app, tree, client_for,
                                                                   locale, words):
    from tests.helpers import login

    demo_gateway.install(tree.master)
    client = client_for("star.localhost")
    login(client, tree.star_owner.email)
    client.get(f"/lang/{locale}")
    page = client.get("/admin/payments")
    assert page.status_code == 200 and "platform-epay" in page.text
    assert words in page.text.replace("&#39;", "'")
    master = client_for("master.localhost")
    login(master, tree.master_owner.email)
    assert "platform-epay" not in master.get("/admin/payments").text


def test_the_masters_real_epay_pays_a_sub_shop_order_by_notify_and_by_reconcile(
        app, tree, client_for, epay_gateway):
    """Not the demo: the master's 易支付 at a (fake) real gateway, over HTTP both ways."""
    import requests

    from kameng.billing.ledger.services import platform_account
    from kameng.sales.reconcile import reconcile_shop
    from tests.fakes.epay_gateway import live_server

    product = card_product(codes=5)
    enable_epay(tree.master, epay_gateway)
    db.session.commit()
    server = live_server(app)
    try:
        client = client_for(f"star.localhost:{server.port}")
        numbers = []
        for _ in range(2):
            order_no = _guest_order(client, product.sku)
            page = client.get(f"/o/{order_no}/pay?method=epay:alipay")
            form = html_form(page.text, "epay-form")
            assert form["action"] == epay_gateway.apiurl + "submit.php"
            assert form["fields"]["pid"] == epay_gateway.pid  # the master's merchant id
            assert f"/pay/epay/platform/notify/{order_no}" in form["fields"]["notify_url"]
            assert requests.post(form["action"], data=form["fields"], timeout=10).ok
            numbers.append(order_no)

        [result] = epay_gateway.pay(numbers[0])
        assert (result.status, result.body) == (200, "success")
        assert epay_gateway.notify(numbers[0])[0].status == 200  # a repeat: a no-op
        # the master's notice sent to the shop's own-gateway path is refused there
        own_path = client.get(f"/pay/epay/notify/{numbers[1]}",
                              query_string=epay_gateway.notify_params(numbers[1]))
        assert own_path.status_code == 400 and get_order(numbers[1]).status == "pending"
        epay_gateway.pay(numbers[1], notify=False)
        report = reconcile_shop(tree.star.id, "epay")
        assert report["paid"] == 1, report
        total = 0
        for order_no in numbers:
            order = get_order(order_no)
            assert order.status == "paid" and order.collected_by_tenant_id is None
            assert transaction_by_key(f"order:{order_no}:pay").kind == "order_payment"
            total += order.amount
        db.session.expire_all()
        assert platform_account("clearing_epay", "CNY").balance == -total
        run_jobs(app)
        assert all(get_order(n).status == "delivered" for n in numbers)
        assert check_ledger().ok
    finally:
        server.close()


def test_allowed_on_the_embedded_default_or_when_the_operator_says_so(tmp_path):
    from kameng.core.config import default_database_url

    instance = str(tmp_path)
    embedded = {"DATABASE_URL": default_database_url(instance), "INSTANCE_PATH": instance}
    postgres = {"DATABASE_URL": "postgresql://db/kameng", "INSTANCE_PATH": instance}
    other_sqlite = {"DATABASE_URL": f"sqlite:///{tmp_path / 'other.db'}",
                    "INSTANCE_PATH": instance}
    assert demo_gateway.allowed(embedded)
    assert not demo_gateway.allowed(postgres) and not demo_gateway.allowed(other_sqlite)
    assert demo_gateway.allowed({**postgres, "DEMO_GATEWAY": True})
