"""Buying on the demo in a real browser: a guest pays on a sub-shop through the built-in
demo gateway (the platform's 易支付) and sees the code; a buyer whose balance is too low
tops up by 易支付 and pays."""
from __future__ import annotations

import os
import re

import pytest

from kameng.billing import wallets
from kameng.billing.ledger.services import check_ledger
from kameng.core.extensions import db
from kameng.tenants.models import User
from tests.browser.conftest import SHOTS
from tests.orders.web_helpers import get_order, run_jobs

pytestmark = [pytest.mark.browser, pytest.mark.app_config(DEMO_GATEWAY=True)]

CONTACT, LOOKUP = "guest@example.com", "pw-5678"


@pytest.fixture
def demo(app):
    from kameng.demo import DEMO_PASSWORD, seed

    seed()
    db.session.commit()
    return DEMO_PASSWORD


def _pay_at_the_demo_gateway(page):
    page.wait_for_url(re.compile(r"/demo-gateway/submit\.php"))
    page.click(".demo-pay-form button[value=pay]")


def test_a_guest_buys_on_a_sub_shop_through_the_demo_gateway(app, demo, live_server,
                                                             browser):
    base = live_server("star.localhost")
    context = browser.new_context(viewport={"width": 1280, "height": 860})
    page = context.new_page()
    try:
        page.goto(base + "/p/STEAM-100")
        assert page.locator(".buy-form input[name=lookup_password]").count() == 0
        page.click(".buy-form button[type=submit]")
        page.wait_for_url(re.compile(r"/checkout$"))
        page.fill(".checkout-form input[name=contact]", CONTACT)
        page.fill(".checkout-form input[name=lookup_password]", LOOKUP)
        # the platform's 易支付 is offered and pre-selected
        assert page.is_checked("input[name=payment_method][value='epay:alipay']")
        page.click(".checkout-form button[type=submit]")
        _pay_at_the_demo_gateway(page)
        page.wait_for_url(re.compile(r"/o/K[0-9A-Z]+"))
        order_no = re.search(r"/o/(K[0-9A-Z]+)", page.url).group(1)
        order = get_order(order_no)
        assert order.status == "paid" and order.collected_by_tenant_id is None
        run_jobs(app)
        page.wait_for_selector("code.code", timeout=20_000)
        assert page.locator("code.code").first.inner_text().startswith("STEAM-100-")
        page.screenshot(path=os.path.join(SHOTS, "kameng-demo-gateway-bought.png"),
                        full_page=True)
        assert check_ledger().ok
    finally:
        context.close()


def test_a_buyer_with_too_little_balance_tops_up_by_epay_and_pays(app, demo, live_server,
                                                                  browser):
    base = live_server("star.localhost")
    buyer_email = "buyer@star.localhost"
    context = browser.new_context(viewport={"width": 1280, "height": 860})
    page = context.new_page()
    try:
        page.goto(base + "/login")
        page.fill("input[name=email]", buyer_email)
        page.fill("input[name=password]", demo)
        page.click("form.form button[type=submit]")
        page.wait_for_load_state()

        # two cards cost more than the demo wallet's ¥200
        page.goto(base + "/p/STEAM-100")
        page.fill(".buy-form input[name=quantity]", "2")
        page.click(".buy-form button[type=submit]")
        page.wait_for_url(re.compile(r"/checkout$"))
        assert not page.is_checked("input[name=payment_method][value=balance]")
        page.click(".topup-offer a")
        page.wait_for_url(re.compile(r"/account/wallet/topup$"))
        page.fill("input[name=amount]", "50")
        page.check("input[name=method][value='epay:alipay']")
        page.click(".topup-form button[type=submit]")
        _pay_at_the_demo_gateway(page)
        page.wait_for_url(re.compile(r"/account/wallet/topup/W[0-9A-Z]+$"))
        page.wait_for_selector(".topup-status.paid")

        page.goto(base + "/p/STEAM-100")
        page.fill(".buy-form input[name=quantity]", "2")
        page.click(".buy-form button[type=submit]")
        page.wait_for_url(re.compile(r"/checkout$"))
        assert page.is_checked("input[name=payment_method][value=balance]")
        page.click(".checkout-form button[type=submit]")
        page.wait_for_url(re.compile(r"/o/K[0-9A-Z]+$"))
        order_no = page.url.rsplit("/", 1)[1]
        assert get_order(order_no).status == "paid"
        run_jobs(app)
        page.wait_for_selector("code.code", timeout=20_000)
        assert page.locator("code.code").count() == 2
        buyer = db.session.query(User).filter_by(email=buyer_email).one()
        assert wallets.wallet_balance(buyer) == 20000 + 5000 - get_order(order_no).amount
        assert check_ledger().ok
    finally:
        context.close()


def test_a_guest_finds_the_order_by_contact_and_password(app, demo, live_server, browser):
    base = live_server("star.localhost")
    buying = browser.new_context(viewport={"width": 1280, "height": 860})
    page = buying.new_page()
    try:
        page.goto(base + "/p/NETEASE-50")
        page.click(".buy-form button[type=submit]")
        page.wait_for_url(re.compile(r"/checkout$"))
        page.fill(".checkout-form input[name=contact]", CONTACT)
        page.fill(".checkout-form input[name=lookup_password]", LOOKUP)
        page.click(".checkout-form button[type=submit]")
        _pay_at_the_demo_gateway(page)
        page.wait_for_url(re.compile(r"/o/K[0-9A-Z]+"))
        order_no = re.search(r"/o/(K[0-9A-Z]+)", page.url).group(1)
        run_jobs(app)
    finally:
        buying.close()

    # another browser (no session): contact and lookup password alone, no number
    finding = browser.new_context(viewport={"width": 1280, "height": 860})
    page = finding.new_page()
    try:
        page.goto(base + "/lookup")
        page.fill(".lookup-form input[name=contact]", "nobody@example.com")
        page.fill(".lookup-form input[name=lookup_password]", LOOKUP)
        page.click(".lookup-form button[type=submit]")
        page.wait_for_selector(".lookup-failed")
        page.fill(".lookup-form input[name=contact]", CONTACT)
        page.fill(".lookup-form input[name=lookup_password]", LOOKUP)
        page.click(".lookup-form button[type=submit]")
        page.wait_for_url(re.compile(rf"/o/{order_no}$"))
        page.wait_for_selector("code.code", timeout=20_000)
        assert page.locator("code.code").first.inner_text().startswith("NETEASE-50-")
    finally:
        finding.close()
