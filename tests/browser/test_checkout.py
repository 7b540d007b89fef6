"""Buying a card with the account balance in a real browser, then copying the code."""
from __future__ import annotations

import os
import re

import pytest
from playwright.sync_api import expect

from kameng.core.extensions import db
from tests.browser.conftest import SHOTS
from tests.helpers import PASSWORD
from tests.orders.helpers import card_product, fund
from tests.orders.web_helpers import enable_balance, get_order, run_jobs

pytestmark = pytest.mark.browser


def test_buy_with_balance_see_the_code_and_copy_it(app, tree, live_server, browser):
    product = card_product(sku="GAME-60", codes=3)
    enable_balance(tree.star)
    fund(tree.star_customer, 10_000)
    db.session.commit()
    base = live_server("star.localhost")
    context = browser.new_context(viewport={"width": 1280, "height": 860})
    context.grant_permissions(["clipboard-read", "clipboard-write"], origin=base)
    page = context.new_page()
    try:
        page.goto(base + "/login")
        page.fill("input[name=email]", tree.star_customer.email)
        page.fill("input[name=password]", PASSWORD)
        # wait for the signed-in page: the login POST must land before the next visit
        with page.expect_navigation():
            page.click("form.form button[type=submit]")
        assert "/login" not in page.url

        page.goto(base + f"/p/{product.sku}")
        page.click(".buy-form button[type=submit]")
        page.wait_for_url(re.compile(r"/checkout$"))
        page.check("input[name=payment_method][value=balance]")
        assert page.locator("[data-total]").inner_text().strip()
        page.click(".checkout-form button[type=submit]")
        page.wait_for_url(re.compile(r"/o/K[0-9A-Z]+$"))
        order_no = page.url.rsplit("/", 1)[1]
        assert get_order(order_no).status == "paid"

        # a worker delivers while the page waits; the page polls and shows the code
        run_jobs(app)
        page.wait_for_selector("code.code", timeout=20_000)
        code = page.locator("code.code").first.inner_text().strip()
        assert code.startswith("GAME-60-CODE-")
        page.screenshot(path=os.path.join(SHOTS, "kameng-order-delivered.png"), full_page=True)

        page.locator(".copy-btn").first.click()
        # a locator wait, not wait_for_function: a string predicate is eval'd in the page,
        # which the CSP refuses (script-src without 'unsafe-eval')
        expect(page.locator(".copy-btn").first).to_have_class(re.compile(r"\bcopied\b"))
        assert page.evaluate("navigator.clipboard.readText()") == code
    finally:
        context.close()
