"""Opening a shop in a real Chromium: the form on the master's site checks the address
live (a static script under the CSP), the founder submits and lands signed in on the new
shop's back office, on its own host."""
from __future__ import annotations

import re

import pytest

from kameng.billing.plans import services as plans
from kameng.core.extensions import db
from kameng.sales import openshop
from tests.browser.conftest import SHOTS
from tests.browser.test_csp import sign_in, watch

pytestmark = pytest.mark.browser


def test_open_a_shop_from_the_masters_site(app, tree, live_server, desktop):
    free = plans.create_plan(tree.master, "free", "Free", 0, sub_shops=True,
                             custom_domain=True)
    openshop.set_signup_settings(tree.master, "open", [free.id], 1000)
    db.session.commit()
    master = live_server("master.localhost")
    page = desktop
    violations = watch(page)
    page.goto(master + "/lang/en")
    page.goto(master + "/")
    page.click("a[href='/open-shop']")
    page.wait_for_url(re.compile(r"/open-shop$"))
    page.fill("input[name=email]", "founder@example.com")
    page.fill("input[name=password]", "Green-tea-2026!")
    page.fill("input[name=shop_name]", "Founder Cards")
    # the live check: a taken name, then a free one
    page.fill("input[name=slug]", "star")
    page.locator("[data-slug-status]").filter(has_text="taken").wait_for()
    page.fill("input[name=slug]", "founder")
    page.locator("[data-slug-status]").filter(has_text="free").wait_for()
    page.screenshot(path=f"{SHOTS}/kameng-open-shop-form.png", full_page=True)
    page.click("form[data-open-shop] button[type=submit]")
    page.wait_for_url(re.compile(r"^http://founder\.localhost:\d+/admin/$"))
    assert page.locator("h1").first.is_visible()
    assert "Founder Cards" in page.content()
    page.screenshot(path=f"{SHOTS}/kameng-open-shop-back-office.png", full_page=True)
    # signed in on the new host: its back office pages open
    page.goto(page.url.replace("/admin/", "/admin/plans"))
    assert "/login" not in page.url
    # the master's sub-shops page lists the new shop
    page.context.clear_cookies()
    page.goto(master + "/lang/en")
    sign_in(page, master, "owner@master.test")
    page.goto(master + "/admin/subshops")
    assert page.locator("tr[data-shop=founder]").is_visible()
    page.screenshot(path=f"{SHOTS}/kameng-open-shop-subshops.png", full_page=True)
    assert violations == []
