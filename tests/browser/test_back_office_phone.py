"""The back office on a 390-px-wide phone, in Chinese and English: no page is wider than
the screen (wide tables scroll inside their box), and the collapsed nav opens and
takes you where you tap."""
from __future__ import annotations

import os

import pytest
from sqlalchemy import select

from kameng.core.extensions import db
from kameng.tenants.models import User
from tests.browser.conftest import SHOTS
from tests.test_crawl import build_world

pytestmark = pytest.mark.browser

PAGES = ("/admin/", "/admin/orders", "/admin/customers", "/admin/staff")
WIDTH = 390
WIDER_THAN = """(limit) => Array.from(document.querySelectorAll('body *'))
  .filter(e => e.getBoundingClientRect().right > limit
               && !(e.parentElement && e.parentElement.closest('.table-wrap')))
  .slice(0, 8).map(e => e.tagName + '.' + e.className)"""


def _sign_in(page, base, email, password):
    page.goto(base + "/login")
    page.fill("input[name=email]", email)
    page.fill("input[name=password]", password)
    page.click("form.form button[type=submit]")
    page.wait_for_load_state()


@pytest.mark.parametrize("lang", ["zh_CN", "en"])
def test_back_office_fits_a_phone_and_its_nav_works(app, live_server, browser, lang):
    from kameng import demo

    app.config["RATELIMIT_ENABLED"] = False
    build_world(app)   # the demo with orders in every state: the tables have rows
    db.session.commit()
    buyer = db.session.scalar(select(User).where(User.email == "buyer@master.localhost"))
    base = live_server("master.localhost")
    context = browser.new_context(viewport={"width": WIDTH, "height": 844}, is_mobile=True,
                                  has_touch=True, device_scale_factor=2)
    page = context.new_page()
    try:
        page.goto(base + f"/lang/{lang}")
        _sign_in(page, base, "owner@master.localhost", demo.DEMO_PASSWORD)
        for path in (*PAGES, f"/admin/customers/{buyer.id}"):
            response = page.goto(base + path)
            assert response is not None and response.status == 200, path
            page.wait_for_load_state("load")
            width = page.evaluate("document.documentElement.scrollWidth")
            name = path.strip("/").replace("/", "-").replace("admin-", "")
            name = "dashboard" if name == "admin" else name
            page.screenshot(path=os.path.join(SHOTS, f"kameng-phone-{name}-{lang}.png"),
                            full_page=True)
            # what sticks out, when something does (tables scroll inside their box)
            wide = page.evaluate(WIDER_THAN, WIDTH)
            assert width <= WIDTH, (path, lang, width, wide)
            # the nav is folded away until asked for
            assert not page.locator(".side-nav").is_visible() or \
                page.locator(".side").bounding_box()["x"] < -100, path

        # open the nav, follow a link
        page.goto(base + "/admin/")
        page.click("label.burger")
        link = page.locator(".side-nav a[href='/admin/customers']")
        link.wait_for(state="visible")
        for _ in range(50):   # the nav slides in (a short transition)
            box = page.locator(".side").bounding_box()
            if box["x"] >= 0:
                break
            page.wait_for_timeout(50)
        assert box["x"] >= 0 and box["x"] + box["width"] <= WIDTH, box
        page.screenshot(path=os.path.join(SHOTS, f"kameng-phone-nav-{lang}.png"))
        link.click()
        page.wait_for_url(f"{base}/admin/customers")
        assert page.locator("table.customers-list").count() == 1
        assert page.evaluate("document.documentElement.scrollWidth") <= WIDTH
    finally:
        context.close()
