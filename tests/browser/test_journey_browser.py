"""The entrepreneur's whole journey in a real Chromium, on the demo, without a shell:
open a shop through /open-shop on the demo master → give it a theme, a logo and an
announcement in the studio → bind a custom domain and prove it through DNS (a real
DNS server on loopback) → a guest buys a card product on that domain and sees the code →
the sale shows in the new shop's dashboard and in its parent's (the master's).

Chromium reaches the custom domain through a host-resolver rule that sends that one
name to the loopback address, exactly as a CNAME to the platform would. Screenshots of
each step are kept in KAMENG_SCREENSHOT_DIR (kameng-journey-*.png)."""
from __future__ import annotations

import os
import re

import pytest
from PIL import Image
from sqlalchemy import select

from kameng.billing.ledger.services import check_ledger
from kameng.core.extensions import db
from kameng.tenants.models import Domain, Tenant
from tests.browser.conftest import CHROMIUM, CHROMIUM_ARGS, SHOTS
from tests.orders.web_helpers import get_order, run_jobs

pytestmark = [pytest.mark.browser, pytest.mark.app_config(DEMO_GATEWAY=True)]

CUSTOM = "cards.journey-shop.example"
FOUNDER, FOUNDER_PASSWORD = "founder@example.com", "Green-tea-2026!"


@pytest.fixture
def demo(app):
    from kameng.demo import DEMO_PASSWORD, seed

    seed()
    db.session.commit()
    return DEMO_PASSWORD


@pytest.fixture
def journey_browser(browser):
    """A Chromium of its own: the custom domain resolves to loopback (a launch option)."""
    instance = browser.browser_type.launch(
        executable_path=CHROMIUM, headless=True,
        args=CHROMIUM_ARGS + [f"--host-resolver-rules=MAP {CUSTOM} 127.0.0.1"])
    yield instance
    instance.close()


def shot(page, name: str) -> None:
    page.screenshot(path=os.path.join(SHOTS, f"kameng-journey-{name}.png"), full_page=True)


def _logo(tmp_path) -> str:
    path = tmp_path / "logo.png"
    Image.new("RGB", (180, 60), (14, 116, 144)).save(path, "PNG")
    return str(path)


def _figure(page, attribute: str) -> int:
    """Today's figure on the dashboard (delivered orders or earnings, minor units)."""
    return int(page.locator(f".period[data-period='1'] [data-{attribute}]")
               .get_attribute(f"data-{attribute}"))


def test_open_a_shop_design_it_bind_a_domain_and_sell(app, demo, live_server, dns_server,
                                                     journey_browser, tmp_path):
    master = live_server("master.localhost")
    port = master.rsplit(":", 1)[1]
    founder = journey_browser.new_context(viewport={"width": 1280, "height": 860},
                                          locale="en-US").new_page()

    # 1. open a shop on the demo master's site
    founder.goto(master + "/lang/en")
    founder.goto(master + "/")
    founder.click("a[href='/open-shop']")
    founder.wait_for_url(re.compile(r"/open-shop$"))
    founder.fill("input[name=email]", FOUNDER)
    founder.fill("input[name=password]", FOUNDER_PASSWORD)
    founder.fill("input[name=shop_name]", "Journey Cards")
    founder.fill("input[name=slug]", "journey")
    founder.locator("[data-slug-status]").filter(has_text="free").wait_for()
    shot(founder, "1-open-shop")
    founder.click("form[data-open-shop] button[type=submit]")
    founder.wait_for_url(re.compile(r"^http://journey\.localhost:\d+/admin/$"))
    shop = f"http://journey.localhost:{port}"
    assert "Journey Cards" in founder.content()
    shot(founder, "2-back-office")
    db.session.expire_all()
    tenant = db.session.scalar(select(Tenant).where(Tenant.slug == "journey"))
    assert tenant.status == "active" and tenant.parent.slug == "master"

    # 2. the studio: colour, logo, announcement; publish
    founder.goto(shop + "/admin/appearance")
    founder.fill("input[name=primary_color]", "#0e7490")
    founder.set_input_files("input[name=logo]", _logo(tmp_path))
    founder.fill("textarea[name=announcement]", "开业大酬宾 — grand opening")
    founder.click("button[name=action][value=publish]")
    founder.wait_for_load_state("load")
    assert founder.locator(".flash.success").count() == 1
    shot(founder, "3-studio")

    # 3. bind a custom domain and prove it through DNS
    founder.goto(shop + "/admin/domains")
    founder.fill("input[name=hostname]", CUSTOM)
    founder.click("form[action$='/admin/domains'] button[type=submit]")
    founder.wait_for_load_state("load")
    assert f"_kameng.{CUSTOM}" in founder.content()
    db.session.expire_all()
    domain = db.session.scalar(select(Domain).where(Domain.hostname == CUSTOM))
    assert domain.token in founder.content() and domain.verified_at is None
    # Verify before the record exists: refused, saying what was expected and found
    verify = f"form[action$='/admin/domains/{domain.id}/verify'] button"
    founder.click(verify)
    founder.wait_for_load_state("load")
    assert domain.token in founder.content()
    db.session.expire_all()
    assert db.session.get(Domain, domain.id).verified_at is None
    dns_server.set_txt(f"_kameng.{CUSTOM}", domain.token)
    founder.click(verify)
    founder.wait_for_load_state("load")
    db.session.expire_all()
    assert db.session.get(Domain, domain.id).verified_at is not None
    shot(founder, "4-domain-verified")

    # 4. a guest buys a card on the custom domain and sees the code
    guest = journey_browser.new_context(viewport={"width": 1280, "height": 860}).new_page()
    storefront = f"http://{CUSTOM}:{port}"
    guest.goto(storefront + "/")
    shot(guest, "5-custom-domain-home")
    assert "开业大酬宾" in guest.locator(".announcement, .notice").first.inner_text()
    assert guest.evaluate("document.querySelector('img.logo').naturalWidth") > 0
    shot(guest, "5-custom-domain-home")
    guest.goto(storefront + "/p/STEAM-100")
    guest.click(".buy-form button[type=submit]")
    guest.wait_for_url(re.compile(r"/checkout$"))
    guest.fill(".checkout-form input[name=contact]", "guest@example.com")
    guest.fill(".checkout-form input[name=lookup_password]", "pw-5678")
    guest.click(".checkout-form button[type=submit]")
    guest.wait_for_url(re.compile(r"/demo-gateway/submit\.php"))
    guest.click(".demo-pay-form button[value=pay]")
    guest.wait_for_url(re.compile(rf"^http://{re.escape(CUSTOM)}:\d+/o/K[0-9A-Z]+"))
    order_no = re.search(r"/o/(K[0-9A-Z]+)", guest.url).group(1)
    order = get_order(order_no)
    assert order.tenant_id == tenant.id and order.status == "paid"
    run_jobs(app)
    guest.wait_for_selector("code.code", timeout=20_000)
    assert guest.locator("code.code").first.inner_text().startswith("STEAM-100-")
    shot(guest, "6-code")

    # 5. the sale in the owner's dashboard and in the parent's
    founder.goto(shop + "/admin/")
    assert _figure(founder, "orders") == 1 and _figure(founder, "earnings") > 0
    shot(founder, "7-owner-dashboard")
    parent = journey_browser.new_context(viewport={"width": 1280, "height": 860}).new_page()
    parent.goto(master + "/lang/en")
    parent.goto(master + "/login")
    parent.fill("input[name=email]", "owner@master.localhost")
    parent.fill("input[name=password]", demo)
    parent.click("form.form button[type=submit]")
    parent.wait_for_load_state("load")
    parent.goto(master + "/admin/")
    assert _figure(parent, "orders") >= 1 and _figure(parent, "earnings") > 0
    shot(parent, "8-parent-dashboard")
    parent.goto(master + "/admin/subshops")
    assert "Journey Cards" in parent.content()
    shot(parent, "9-parent-subshops")
    assert check_ledger().ok
