"""The master fulfils, in a real browser, a manual order a buyer placed on a depth-2 shop;
the buyer's order page, waiting meanwhile, shows the code."""
from __future__ import annotations

import os
import re

import pytest

from kameng.core.extensions import db
from kameng.shop.catalog import services as catalog
from kameng.tenants.services import create_user
from tests.browser.conftest import SHOTS
from tests.helpers import PASSWORD
from tests.orders.helpers import fund
from tests.orders.web_helpers import enable_balance, get_order, run_jobs

pytestmark = pytest.mark.browser


def log_in(page, base, email):
    page.goto(base + "/login")
    page.fill("input[name=email]", email)
    page.fill("input[name=password]", PASSWORD)
    page.click("form.form button[type=submit]")
    page.wait_for_load_state()


def test_master_delivers_a_manual_order_of_a_depth2_shop(app, tree, live_server, browser):
    product = catalog.create_product(
        sku="VIP-MONTH", name="VIP membership", kind="manual", supplier_cost=1000,
        wholesale_price=1500, retail_price=2000,
        fields=[{"name": "account", "label": "Game account", "type": "text", "required": True}])
    enable_balance(tree.rocket)
    fund(tree.rocket_customer, 100_000)
    create_user(tree.master, "staff@master.test", "staff", PASSWORD)
    db.session.commit()
    rocket, master = live_server("rocket.localhost"), live_server("master.localhost")
    buyer_ctx = browser.new_context(viewport={"width": 1280, "height": 860})
    staff_ctx = browser.new_context(viewport={"width": 1280, "height": 860})
    try:
        buyer = buyer_ctx.new_page()
        log_in(buyer, rocket, tree.rocket_customer.email)
        buyer.goto(rocket + f"/p/{product.sku}")
        buyer.fill("input[name=field_account]", "player-42")
        buyer.click(".buy-form button[type=submit]")
        buyer.wait_for_url(re.compile(r"/checkout$"))
        buyer.check("input[name=payment_method][value=balance]")
        buyer.click(".checkout-form button[type=submit]")
        buyer.wait_for_url(re.compile(r"/o/K[0-9A-Z]+$"))
        order_no = buyer.url.rsplit("/", 1)[1]
        run_jobs(app)
        buyer.wait_for_selector("[data-waiting=manual]")

        staff = staff_ctx.new_page()
        log_in(staff, master, "staff@master.test")
        staff.goto(master + "/admin/")
        assert staff.locator("[data-nav-count]").inner_text().strip() == "1"
        staff.click("[data-nav-count]")
        staff.select_option("select[name=status]", "queue")
        staff.click(".orders-filter button")
        row = staff.locator(f"tr[data-order={order_no}]")
        assert "Rocket Topups" in row.inner_text()
        row.locator("a").first.click()
        assert "player-42" in staff.content()
        staff.fill(".manual-form textarea[name=codes]", "VIP-CODE-1")
        staff.click(".manual-form button")
        staff.wait_for_selector("[data-order-status=delivered]")
        staff.screenshot(path=os.path.join(SHOTS, "kameng-manual-delivered.png"), full_page=True)

        # the buyer's page polls and shows the code
        buyer.wait_for_selector("code.code", timeout=20_000)
        assert buyer.locator("code.code").first.inner_text().strip() == "VIP-CODE-1"
        assert get_order(order_no).status == "delivered"
        staff.goto(master + "/admin/")
        assert staff.locator("[data-period='1'] [data-orders]").get_attribute(
            "data-orders") == "1"
        assert staff.locator("[data-nav-count]").count() == 0
        staff.screenshot(path=os.path.join(SHOTS, "kameng-dashboard.png"), full_page=True)
    finally:
        buyer_ctx.close()
        staff_ctx.close()
