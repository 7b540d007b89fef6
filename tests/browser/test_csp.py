"""The Content-Security-Policy in a real Chromium: the storefronts, the checkout up to the
delivered code, the Stripe pay page and every back-office page run without one violation,
and an inline script really is refused (so the watch can see one)."""
from __future__ import annotations

import re

import pytest

from kameng.billing.payments import services as payment_services
from kameng.core.extensions import db
from kameng.shop.stock import services as stock
from tests.browser.test_storefront_browser import SHOPS
from tests.core.test_security import get_routes
from tests.fakes.stripe import localstripe, stripe_fake  # noqa: F401
from tests.helpers import PASSWORD
from tests.orders.helpers import card_product, fund
from tests.orders.web_helpers import enable_balance, run_jobs
from tests.storefront.catalog import make_catalog

pytestmark = pytest.mark.browser

# answers that are not pages (JSON, CSV, files) or that leave the app
NOT_PAGES = re.compile(r"(\.json|\.csv|/progress|/preview|/status|/static/|/_theme/|/notify/"
                       r"|/api/|/lang/|/healthz)")


def watch(page) -> list[str]:
    """Every CSP violation the page reports, from the console and the DOM event."""
    seen: list[str] = []
    page.on("console", lambda msg: seen.append(msg.text)
            if "Content Security Policy" in msg.text else None)
    page.add_init_script(
        "document.addEventListener('securitypolicyviolation', function (e) {"
        " console.error('Content Security Policy violation: ' + e.violatedDirective"
        " + ' ' + e.blockedURI + ' at ' + document.location.pathname); });")
    return seen


def sign_in(page, base, email):
    page.goto(base + "/login")
    page.fill("input[name=email]", email)
    page.fill("input[name=password]", PASSWORD)
    page.click("form.form button[type=submit]")
    page.wait_for_load_state()


def visit(page, url):
    response = page.goto(url)
    page.wait_for_load_state("load")
    assert response is not None and response.status < 500, url
    assert "frame-ancestors 'none'" in response.headers.get("content-security-policy", ""), url


def test_no_page_breaks_the_content_security_policy(app, tree, live_server, browser):
    demo = make_catalog(tree)
    product = card_product(sku="GAME-60", codes=3)
    batch = stock.import_codes(product, text="EXTRA-1\nEXTRA-2")
    enable_balance(tree.star)
    fund(tree.star_customer, 10_000)
    db.session.commit()
    context = browser.new_context(viewport={"width": 1280, "height": 860})
    page = context.new_page()
    violations = watch(page)
    try:
        # the storefronts of the three themes, anonymous
        for slug, _theme in SHOPS:
            base = live_server(f"{slug}.localhost")
            for path in ("/", f"/c/{demo.games.id}", "/p/CM-50", "/search?q=Q", "/login",
                         "/register", "/lookup", "/open-shop", "/no-such-page"):
                visit(page, base + path)

        # a customer checks out with the balance and sees the delivered code
        star = live_server("star.localhost")
        sign_in(page, star, tree.star_customer.email)
        visit(page, star + f"/p/{product.sku}")
        page.click(".buy-form button[type=submit]")
        page.wait_for_url(re.compile(r"/checkout$"))
        page.check("input[name=payment_method][value=balance]")
        page.click(".checkout-form button[type=submit]")
        page.wait_for_url(re.compile(r"/o/K[0-9A-Z]+$"))
        order_no = page.url.rsplit("/", 1)[1]
        run_jobs(app)
        page.wait_for_selector("code.code", timeout=20_000)  # the polling script works
        for path in ("/account/orders", "/account/wallet", "/account/wallet/topup",
                     "/account/api-keys"):
            visit(page, star + path)
        page.context.clear_cookies()

        # every back-office page, as the star owner and as the master owner (the star's
        # refund request waits at the master: its page shows the decision form)
        from kameng.sales import refunds
        from kameng.sales.services import get_order

        request = refunds.file_request(tree.star, get_order(order_no), "code invalid",
                                       actor=tree.star_owner)
        from kameng.billing.plans import services as plans

        plan = plans.create_plan(tree.master, "csp-plan", "CSP", 100, max_markup_bp=2000)
        values = {"order_no": order_no, "sku": product.sku, "product_id": product.id,
                  "category_id": demo.games.id, "user_id": tree.star_customer.id,
                  "batch_id": batch.batch_id, "request_id": request.id,
                  "shop_id": tree.star.id,
                  ("admin.plans_edit", "plan_id"): plan.id}
        paths = [p for p in get_routes(app, values)
                 if p.startswith("/admin") and not NOT_PAGES.search(p)]
        assert len(paths) > 20
        for host, email in ((("star.localhost", "owner@star.test")),
                            ("master.localhost", "owner@master.test")):
            base = live_server(host)
            sign_in(page, base, email)
            for path in paths:
                visit(page, base + path)
            page.context.clear_cookies()

        assert violations == []

        # the watch sees a violation when there is one: an inline script is refused
        page.evaluate("() => { const s = document.createElement('script');"
                      " s.textContent = 'window.inlineRan = true';"
                      " document.body.appendChild(s); }")
        page.wait_for_timeout(300)
        assert page.evaluate("() => window.inlineRan === undefined")
        assert violations, "an inline script ran or was not reported"
    finally:
        context.close()


def test_the_stripe_pay_page_mounts_stripe_under_the_policy(app, tree, live_server, browser,
                                                           stripe_fake):
    app.config.update(stripe_fake.app_config())
    product = card_product(codes=2)
    payment_services.save_provider_config(tree.star, "stripe", enabled=True)
    db.session.commit()
    context = browser.new_context(viewport={"width": 1280, "height": 860})
    page = context.new_page()
    violations = watch(page)
    try:
        base = live_server("star.localhost")
        visit(page, base + f"/p/{product.sku}")
        # the contact and the lookup password are asked once, at checkout
        page.click(".buy-form button[type=submit]")
        page.wait_for_url(re.compile(r"/checkout$"))
        page.fill(".checkout-form input[name=contact]", "me@example.com")
        page.fill(".checkout-form input[name=lookup_password]", "pw-1234")
        page.check("input[name=payment_method][value=stripe]")
        page.click(".checkout-form button[type=submit]")
        page.wait_for_url(re.compile(r"/pay"))
        csp = page.evaluate("() => document.querySelector('#payment-element') !== null")
        assert csp
        # Stripe.js (here localstripe's stand-in, from its own origin) mounted its fields
        page.wait_for_selector("#payment-element input", timeout=10_000)
        page.wait_for_timeout(500)
        assert violations == []
    finally:
        context.close()
