"""A buyer applies a coupon at checkout in a real browser; the order shows the discount."""
from __future__ import annotations

import re

import pytest

from kameng.core.extensions import db
from kameng.sales import coupons
from kameng.shop.pricing import services as pricing
from tests.helpers import PASSWORD
from tests.orders.helpers import card_product, fund
from tests.orders.web_helpers import enable_balance, get_order

pytestmark = pytest.mark.browser


def test_a_coupon_is_applied_at_checkout(app, tree, live_server, browser):
    product = card_product(sku="GAME-70", codes=3)
    pricing.set_markup(tree.star, kind="fixed", value=200)   # 11.00, its cost 9.00
    enable_balance(tree.star)
    fund(tree.star_customer, 10_000)
    coupons.create_coupon(tree.star, {"code": "WELCOME", "kind": "fixed", "value": "1.50"})
    db.session.commit()
    base = live_server("star.localhost")
    context = browser.new_context(viewport={"width": 1280, "height": 860})
    page = context.new_page()
    try:
        page.goto(base + "/login")
        page.fill("input[name=email]", tree.star_customer.email)
        page.fill("input[name=password]", PASSWORD)
        page.click("form.form button[type=submit]")
        page.wait_for_load_state()

        page.goto(base + f"/checkout?sku={product.sku}")
        page.fill("input[name=coupon]", "nope")
        page.check("input[name=payment_method][value=balance]")
        page.click(".checkout-form button[type=submit]")
        page.wait_for_selector("#error-coupon")
        # the shop speaks Chinese unless the buyer chose English
        assert page.locator("#error-coupon").inner_text().strip() in ("优惠码无效",
                                                                       "unknown coupon code")

        page.fill("input[name=coupon]", "welcome")
        page.check("input[name=payment_method][value=balance]")
        page.click(".checkout-form button[type=submit]")
        page.wait_for_url(re.compile(r"/o/K[0-9A-Z]+$"))
        order_no = page.url.rsplit("/", 1)[1]
        order = get_order(order_no)
        assert (order.amount, order.discount, order.coupon_code) == (950, 150, "WELCOME")
        assert "WELCOME" in page.locator("[data-discount]").inner_text()
    finally:
        context.close()
