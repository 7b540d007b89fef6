"""The product form in Chromium: a field added with the "add a field" button, an image
uploaded, the product saved; the storefront shows the picture and the field; the codes
list voids a selected code after the confirmation."""
from __future__ import annotations

import io
import re

import pytest
from PIL import Image
from sqlalchemy import select

from kameng.core.extensions import db
from kameng.shop.catalog.models import Product
from kameng.shop.stock import services as stock
from kameng.shop.stock.models import CardCode
from tests.browser.test_csp import sign_in, watch

pytestmark = pytest.mark.browser


def test_product_form_upload_and_field_rows_then_codes_list(app, tree, live_server, browser,
                                                            tmp_path):
    picture = tmp_path / "photo.png"
    data = io.BytesIO()
    Image.new("RGB", (120, 90), (10, 120, 200)).save(data, "PNG")
    picture.write_bytes(data.getvalue())
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    violations = watch(page)
    try:
        base = live_server("master.localhost")
        sign_in(page, base, "owner@master.test")
        page.goto(base + "/admin/catalog/products/new")
        page.fill("input[name=sku]", "WEB-1")
        page.fill("input[name=name]", "网页卡")
        page.fill("input[name=name_en]", "Web card")
        page.select_option("select[name=kind]", "card")
        for name, value in (("supplier_cost", "1"), ("wholesale_price", "2"),
                            ("retail_price", "3")):
            page.fill(f"input[name={name}]", value)
        page.fill("input[name='fields-0-name']", "account")
        page.fill("input[name='fields-0-label']", "游戏账号")
        page.set_input_files("input[name=upload]", str(picture))
        page.click("button[name=add_field]")     # admin.js adds the row in place
        assert page.input_value("input[name='fields-0-name']") == "account"
        assert page.input_value("input[name='fields-1-name']") == ""
        page.fill("input[name='fields-1-name']", "zone")
        page.fill("input[name='fields-1-label']", "区服")
        page.select_option("select[name='fields-1-type']", "number")
        page.uncheck("input[name='fields-1-required']")
        page.click("form button.btn-primary[type=submit]")
        page.wait_for_url(re.compile(r"/admin/catalog/products/\d+$"))
        product = db.session.scalar(select(Product).where(Product.sku == "WEB-1"))
        assert [f["name"] for f in product.fields] == ["account", "zone"]
        assert product.fields[1]["type"] == "number" and not product.fields[1]["required"]
        [url] = product.images
        assert page.locator(".images img").count() == 1

        stock.import_codes(product, text="WEB-CODE-1\nWEB-CODE-2\n")
        shop = live_server("star.localhost")
        page.goto(shop + "/p/WEB-1")
        image = page.locator(f"img[src='{url}']")
        assert image.count() == 1
        assert page.evaluate("(img) => img.naturalWidth", image.element_handle()) == 120

        page.goto(base + f"/admin/stock/products/{product.id}/codes")
        assert page.locator("code.secret").count() == 2
        first = db.session.scalar(select(CardCode.id).where(CardCode.product_id == product.id)
                                  .order_by(CardCode.id))
        page.check(f"#code-{first}")
        page.fill("input[name=reason]", "泄露")
        page.once("dialog", lambda dialog: dialog.accept())
        page.click("button[data-confirm]")
        page.wait_for_load_state()
        db.session.expire_all()
        assert db.session.get(CardCode, first).status == "void"
        assert violations == []
    finally:
        context.close()
