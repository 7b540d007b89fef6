"""The master decides which shops may use their own payment gateway: per shop (set by
the parent, in the back office or the CLI) and per plan."""
from __future__ import annotations

import pytest

from kameng.billing.payments import registry
from kameng.billing.payments import services as payment_services
from kameng.billing.payments.base import PaymentNotice
from kameng.billing.plans import services as plans
from kameng.core.extensions import db
from kameng.sales import services as orders
from kameng.sales.paying import pay_options
from kameng.tenants.models import Tenant
from tests.fakes.epay_gateway import epay_gateway  # noqa: F401  (fixture)
from tests.helpers import login
from tests.orders.helpers import card_product, fund_own_gateway
from tests.orders.web_helpers import GUEST, enable_epay, get_order

pytestmark = pytest.mark.both

EPAY_FORM = {"epay-enabled": "y", "epay-apiurl": "https://pay.example.com/",
             "epay-pid": "1001", "epay-key": "merchant-secret-9", "epay-types": ["alipay"]}


def _owner(client_for, slug, lang="en"):
    client = client_for(f"{slug}.localhost")
    client.get(f"/lang/{lang}")
    assert login(client, f"owner@{slug}.test").status_code == 302
    return client


def _star():
    db.session.commit()
    return db.session.scalar(db.select(Tenant).where(Tenant.slug == "star"))


def _epay_offered(tenant) -> bool:
    return any(o.method == "epay" for o in pay_options(tenant, None))


def test_a_plan_without_the_flag_keeps_a_shop_off_its_own_gateway(app, tree, client_for):
    basic = plans.create_plan(tree.master, "basic", "Basic", 1000)
    plans.grant_plan(tree.star, basic.id)
    star = _owner(client_for, "star")
    for lang in ("zh_CN", "en"):
        star.get(f"/lang/{lang}")
        assert 'class="note own-gateway-refused"' in star.get("/admin/payments").text
    refused = star.post("/admin/payments/epay", data=EPAY_FORM)
    assert refused.status_code in (403, 422)
    assert not registry.config_row(tree.star, "epay")

    pro = plans.create_plan(tree.master, "pro", "Pro", 5000, own_gateway=True)
    plans.grant_plan(tree.star, pro.id)
    assert star.post("/admin/payments/epay", data=EPAY_FORM).status_code == 302
    assert _epay_offered(_star())
    assert 'class="note own-gateway"' in star.get("/admin/payments").text


def test_the_parent_denies_and_allows_in_the_back_office(app, tree, client_for):
    product = card_product(codes=5)
    payment_services.save_provider_config(
        tree.star, "epay", enabled=True, secrets={"key": "k"},
        settings={"apiurl": "https://pay.example.com/", "pid": "1001", "types": ["alipay"]})
    fund_own_gateway(tree.star)
    order = orders.place_order(tree.star, sku=product.sku, payment_method="epay",
                               **GUEST).order
    assert _epay_offered(tree.star)

    for lang in ("en", "zh_CN"):
        master = _owner(client_for, "master", lang)
        page = master.get(f"/admin/funding/shops/{tree.star.id}")
        assert page.status_code == 200 and 'id="own-gateway"' in page.text
    url = f"/admin/funding/shops/{tree.star.id}/gateway"
    assert master.post(url, data={"own_gateway": "deny"}).status_code == 302
    star = _star()
    assert not registry.own_gateway_allowed(star)
    # not offered at checkout, its notices refused, and it cannot switch it on again
    assert not _epay_offered(star)
    notice = PaymentNotice("epay", order.order_no, order.amount, "CNY", "T-1", True)
    assert orders.record_payment(star, notice) is False
    assert get_order(order.order_no).status == "pending"
    owner = _owner(client_for, "star")
    assert owner.post("/admin/payments/epay", data=EPAY_FORM).status_code in (403, 422)

    # only the parent decides: star cannot allow itself, rocket is not master's child
    assert owner.post(url, data={"own_gateway": "allow"}).status_code == 404
    assert master.post(f"/admin/funding/shops/{tree.rocket.id}/gateway",
                       data={"own_gateway": "allow"}).status_code == 404

    assert master.post(url, data={"own_gateway": "allow"}).status_code == 302
    star = _star()
    assert _epay_offered(star)
    assert orders.record_payment(star, notice) is True
    assert get_order(order.order_no).status == "paid"


def test_the_cli_sets_the_permission(app, tree, cli):
    basic = plans.create_plan(tree.master, "basic", "Basic", 1000)
    plans.grant_plan(tree.star, basic.id)
    assert not registry.own_gateway_allowed(_star())
    done = cli("plans", "own-gateway", "--tenant", "star", "allow")
    assert done.exit_code == 0 and "allowed" in done.output
    assert registry.own_gateway_allowed(_star())
    assert cli("plans", "own-gateway", "--tenant", "star", "plan").exit_code == 0
    assert not registry.own_gateway_allowed(_star())
    assert cli("plans", "own-gateway", "--tenant", "master", "deny").exit_code != 0


@pytest.mark.app_config(DEMO_GATEWAY=True)
def test_a_plan_without_the_flag_still_offers_the_platforms_epay(app, tree, epay_gateway):
    """The flag keeps a shop off its OWN gateway only: the master's 易支付 is the
    platform's money and is offered to every sub-shop without one (a shop opened from
    the site is on a plan, usually without ``own_gateway``)."""
    from kameng.billing.payments import demo as demo_gateway

    demo_gateway.install(tree.master)
    plans.grant_plan(tree.star, plans.create_plan(tree.master, "basic", "Basic", 0).id)
    star = _star()
    assert not registry.own_gateway_allowed(star)
    assert _epay_offered(star)
    assert registry.get_provider(star, "epay").platform
    # its own gateway, saved before the plan said no, is not what the buyer gets
    star.settings = {**(star.settings or {}), "own_gateway": "allow"}
    db.session.commit()
    enable_epay(star, epay_gateway, funds=0)
    star.settings = {k: v for k, v in star.settings.items() if k != "own_gateway"}
    db.session.commit()
    assert _epay_offered(_star())
    assert registry.get_provider(_star(), "epay").platform
