"""The storefront in a real browser: themes, phone layout, language switch."""
from __future__ import annotations

import os

import pytest

from kameng.core.extensions import db
from kameng.tenants.services import update_appearance
from tests.browser.conftest import SHOTS
from tests.storefront.catalog import make_catalog

pytestmark = pytest.mark.browser

SHOPS = (("master", "default"), ("star", "classic"), ("rocket", "midnight"))


@pytest.fixture
def demo(tree):
    shop = make_catalog(tree)
    update_appearance(tree.master, "default", {
        "banner_text": "卡盟总站 · 全场自动发货", "announcement": "新用户首单立减，欢迎选购。"})
    update_appearance(tree.star, "classic", {"announcement": "本站 24 小时自动发卡，售后请联系客服。"})
    db.session.commit()
    return shop


def body_background(page) -> str:
    return page.evaluate("getComputedStyle(document.body).backgroundColor")


def overflow(page) -> int:
    """How many CSS pixels the page is wider than the viewport (0 = none)."""
    return page.evaluate(
        "Math.max(document.documentElement.scrollWidth, document.body.scrollWidth)"
        " - window.innerWidth")


def test_each_shop_renders_its_own_theme(live_server, demo, desktop):
    backgrounds = {}
    for slug, theme in SHOPS:
        desktop.goto(live_server(f"{slug}.localhost") + "/")
        assert desktop.locator(".shop-name").first.inner_text().strip()
        backgrounds[theme] = body_background(desktop)
        desktop.screenshot(path=os.path.join(SHOTS, f"kameng-{theme}-desktop.png"),
                           full_page=True)
    assert len(set(backgrounds.values())) == 3, backgrounds


@pytest.mark.parametrize("path", ["/", "/c/{games}", "/p/CM-50", "/search?q=Q", "/login",
                                  "/register", "/no-such-page"])
def test_phone_viewport_has_no_horizontal_overflow(live_server, demo, phone, path):
    path = path.format(games=demo.games.id)
    for slug, theme in SHOPS:
        phone.goto(live_server(f"{slug}.localhost") + path)
        assert overflow(phone) <= 0, (slug, path)
        if path == "/":
            phone.screenshot(path=os.path.join(SHOTS, f"kameng-{theme}-phone.png"),
                             full_page=True)


def test_product_page_on_a_phone(live_server, demo, phone):
    for slug, theme in SHOPS:
        phone.goto(live_server(f"{slug}.localhost") + "/p/CM-50")
        assert overflow(phone) <= 0
        buy = phone.locator("form.buy-form button[type=submit]")
        assert buy.is_visible() and buy.is_enabled()
        # the browser itself enforces the product's field pattern
        field = phone.locator("input[name=field_phone]")
        field.fill("12")
        assert not field.evaluate("el => el.checkValidity()")
        field.fill("13800138000")
        assert field.evaluate("el => el.checkValidity()")
        phone.screenshot(path=os.path.join(SHOTS, f"kameng-{theme}-product-phone.png"),
                         full_page=True)


def test_language_switch_by_clicking(live_server, demo, desktop):
    for slug, _theme in SHOPS:
        desktop.goto(live_server(f"{slug}.localhost") + f"/c/{demo.games.id}")
        search = desktop.locator("input[name=q]").first
        assert search.get_attribute("placeholder") == "搜索商品"
        desktop.locator("a[data-lang=en]").first.click()
        desktop.wait_for_load_state()
        assert desktop.url.endswith(f"/c/{demo.games.id}")  # back on the same page
        assert desktop.locator("input[name=q]").first.get_attribute("placeholder") \
            == "Search products"
        assert desktop.locator("html").get_attribute("lang") == "en"
        desktop.locator("a[data-lang=zh_CN]").first.click()
        desktop.wait_for_load_state()
        assert desktop.locator("input[name=q]").first.get_attribute("placeholder") == "搜索商品"


def test_owner_switches_the_theme_in_the_back_office(live_server, demo, desktop, browser):
    base = live_server("master.localhost")
    desktop.goto(base + "/login")
    desktop.fill("input[name=email]", "owner@master.test")
    desktop.fill("input[name=password]", "correct-horse")
    desktop.click("form.form button[type=submit]")
    desktop.wait_for_url(base + "/admin/")
    desktop.click("a.nav-link[href='/admin/appearance']")
    desktop.click("a.theme-card[data-theme=classic]")
    desktop.fill("input[name=primary_color]", "not a colour")
    desktop.click("button.btn-primary")
    assert desktop.locator(".field.has-error").count() == 1
    desktop.fill("input[name=primary_color]", "#0a7d32")
    desktop.fill("textarea[name=announcement]", "新品上架")
    desktop.screenshot(path=os.path.join(SHOTS, "kameng-admin-appearance.png"), full_page=True)
    desktop.click("button.btn-primary")
    desktop.wait_for_load_state()
    assert desktop.locator(".flash.success").count() == 1
    desktop.goto(base + "/")
    assert "classic" in desktop.locator("body").get_attribute("class")
    assert desktop.locator(".notice").inner_text().endswith("新品上架")
    assert desktop.evaluate(
        "getComputedStyle(document.querySelector('.mainnav')).backgroundColor") \
        == "rgb(10, 125, 50)"

    phone = browser.new_context(viewport={"width": 375, "height": 740}, is_mobile=True,
                                storage_state=desktop.context.storage_state()).new_page()
    phone.goto(base + "/admin/appearance")
    assert overflow(phone) <= 0
    phone.screenshot(path=os.path.join(SHOTS, "kameng-admin-phone.png"), full_page=True)
    phone.context.close()
