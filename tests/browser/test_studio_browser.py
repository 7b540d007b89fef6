"""The theme studio (装修) in a real Chromium: the owner sets colours, uploads a logo,
writes an announcement, previews the draft, publishes it and sees it on the storefront;
the studio's states (fresh, with a draft and history, refused CSS) and the preview page
run under the CSP without a violation and without a serious axe finding."""
from __future__ import annotations

import os
import re

import pytest
from PIL import Image

from tests.browser.conftest import SHOTS
from tests.browser.test_accessibility import check
from tests.browser.test_csp import sign_in, visit, watch
from tests.storefront.catalog import make_catalog

pytestmark = pytest.mark.browser


def _logo(tmp_path) -> str:
    path = tmp_path / "logo.png"
    Image.new("RGB", (160, 60), (200, 20, 60)).save(path, "PNG")
    return str(path)


def shot(page, name):
    page.screenshot(path=os.path.join(SHOTS, f"kameng-studio-{name}.png"), full_page=True)


def test_owner_designs_previews_and_publishes(app, tree, live_server, browser, tmp_path):
    make_catalog(tree)
    base = live_server("star.localhost")
    owner = browser.new_context(viewport={"width": 1280, "height": 860}).new_page()
    violations = watch(owner)
    sign_in(owner, base, "owner@star.test")
    visit(owner, base + "/admin/appearance")
    assert owner.locator("a.theme-card img.shot").count() == 3     # previews of the themes
    shot(owner, "1-studio")

    owner.fill("input[name=primary_color]", "#0a7d32")
    owner.set_input_files("input[name=logo]", _logo(tmp_path))
    owner.fill("textarea[name=announcement]", "新品上架，全场九折")
    owner.fill("textarea[name=custom_css]", ".notice{border:3px solid rgb(1, 2, 3)}")
    owner.click("button:has-text('Preview'), button:has-text('预览')")
    owner.wait_for_url(re.compile(r"/\?preview=\d+$"))
    owner.wait_for_load_state("load")
    assert owner.locator(".preview-bar").count() == 1
    assert owner.locator(".notice").inner_text().endswith("新品上架，全场九折")
    assert owner.locator("img.logo").count() == 1
    assert owner.evaluate("getComputedStyle(document.querySelector('.notice')).borderTopColor") \
        == "rgb(1, 2, 3)"                                              # the draft's CSS
    shot(owner, "2-preview")

    # a buyer meanwhile sees the published shop
    buyer = browser.new_context().new_page()
    buyer.goto(owner.url)
    assert buyer.locator(".preview-bar").count() == 0
    assert buyer.locator(".notice").count() == 0 and buyer.locator("img.logo").count() == 0

    owner.click(".preview-bar a")
    owner.wait_for_url(base + "/admin/appearance")
    shot(owner, "3-draft")
    owner.click("button:has-text('Publish'), button:has-text('发布')")
    owner.wait_for_load_state("load")
    assert owner.locator(".flash.success").count() == 1
    assert owner.locator("tr[data-version='1']").count() == 1

    buyer.goto(base + "/")
    assert buyer.locator(".notice").inner_text().endswith("新品上架，全场九折")
    assert buyer.locator("img.logo").count() == 1
    assert buyer.evaluate("getComputedStyle(document.querySelector('.mainnav')).backgroundColor") \
        == "rgb(10, 125, 50)"
    assert buyer.evaluate("getComputedStyle(document.querySelector('.notice')).borderTopColor") \
        == "rgb(1, 2, 3)"
    assert buyer.evaluate("document.querySelector('img.logo').naturalWidth") > 0
    shot(buyer, "4-published")

    # refused CSS: the message in place, the page still clean
    owner.fill("textarea[name=custom_css]", "a{color:red}\n@import url(https://x.example/a.css);")
    owner.click("button:has-text('Save draft'), button:has-text('保存草稿')")
    owner.wait_for_load_state("load")
    assert "@import" in owner.locator(".field.has-error .error").inner_text()
    shot(owner, "5-refused")
    assert violations == []
    owner.context.close()
    buyer.context.close()


@pytest.fixture
def axe():
    module = pytest.importorskip("axe_playwright_python.sync_playwright",
                                 reason="axe-playwright-python is not installed")
    return module.Axe()


def test_the_studio_states_pass_axe(app, tree, live_server, browser, axe):
    from kameng.tenants import appearance
    from kameng.tenants.services import update_appearance

    make_catalog(tree)
    update_appearance(tree.star, "classic", {"announcement": "v1"})
    update_appearance(tree.star, "classic", {"announcement": "v2"})
    draft = appearance.save_draft(tree.star, "midnight", {"banner_text": "draft"},
                                  ".notice{border-width:2px}")
    base = live_server("star.localhost")
    page = browser.new_context(viewport={"width": 1280, "height": 860}).new_page()
    sign_in(page, base, "owner@star.test")
    found: list[str] = []
    for path in ("/admin/appearance", "/admin/appearance?theme=default",
                 f"/?preview={draft.id}"):
        check(axe, page, base + path, found)
    # the refused state
    page.goto(base + "/admin/appearance")
    page.fill("textarea[name=custom_css]", "a{width:expression(1)}")
    page.click("button:has-text('保存草稿'), button:has-text('Save draft')")
    page.wait_for_load_state("load")
    results = axe.run(page)
    found += [v["id"] for v in results.response["violations"]
              if v["impact"] in ("critical", "serious")]
    page.context.close()
    assert found == []
