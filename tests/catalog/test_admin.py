"""The master's catalog pages: master staff only; validation messages on the form."""
from __future__ import annotations

import pytest
from sqlalchemy import select

from kameng.core.extensions import db
from kameng.shop.catalog.models import Category, Product
from kameng.tenants.services import create_user
from tests.helpers import PASSWORD, login

pytestmark = pytest.mark.both

PAGES = ["/admin/catalog/categories", "/admin/catalog/products", "/admin/catalog/products/new"]


def test_sub_shop_staff_get_403(app, tree, client_for):
    client = client_for("star.localhost")
    login(client, "owner@star.test")
    for page in PAGES:
        assert client.get(page).status_code == 403


def test_master_staff_manage_categories_and_products(app, tree, client_for):
    create_user(tree.master, "staff@master.test", "staff", PASSWORD)
    client = client_for("master.localhost")
    login(client, "staff@master.test")
    for page in PAGES:
        assert client.get(page).status_code == 200
    assert client.post("/admin/catalog/categories", data={"name": "游戏", "position": 1}
                       ).status_code == 302
    cat = db.session.scalar(select(Category))
    form = {"sku": "G-1", "name": "游戏卡", "kind": "card", "status": "on_sale",
            "category": str(cat.id), "supplier_cost": "8", "wholesale_price": "10.00",
            "retail_price": "12.5", "min_quantity": 1, "max_quantity": 10,
            "fields-0-name": "account", "fields-0-label": "账号", "fields-0-type": "qq",
            "fields-0-required": "y",
            "low_stock_threshold": 5, "images": "https://cdn.example/x.png"}
    bad = client.post("/admin/catalog/products/new", data=dict(form, retail_price="1.234",
                                                                **{"fields-0-name": "Bad"}))
    body = bad.get_data(as_text=True)
    assert bad.status_code == 200 and "more than 2 decimal places" in body
    assert "row-errors" in body and "&#39;Bad&#39;" in body
    for huge in ("1e30", "1" * 30, "1,0"):    # no 500 from an overflowing column
        bad = client.post("/admin/catalog/products/new", data=dict(form, supplier_cost=huge))
        body = bad.get_data(as_text=True)
        assert bad.status_code == 200 and ("not an amount" in body or "too large" in body), huge
    client.get("/lang/en")  # service messages follow the page's locale; these read English
    bad = client.post("/admin/catalog/products/new",
                      data=dict(form, **{"fields-0-regex": "(["}))
    assert "regex does not compile" in bad.get_data(as_text=True)
    assert db.session.scalar(select(Product)) is None
    ok = client.post("/admin/catalog/products/new", data=form)
    assert ok.status_code == 302
    product = db.session.scalar(select(Product))
    assert (product.retail_price, product.fields[0]["type"], product.category_id) == \
        (1250, "qq", cat.id)
    page = client.get(f"/admin/catalog/products/{product.id}").get_data(as_text=True)
    assert "12.50" in page and "G-1" in page
    dup = client.post("/admin/catalog/products/new", data=form)
    assert "already exists" in dup.get_data(as_text=True)
    edit = client.post(f"/admin/catalog/products/{product.id}", data=dict(form, name="新名"))
    assert edit.status_code == 302
    db.session.expire_all()
    assert db.session.get(Product, product.id).name == "新名"


def test_buyer_input_is_escaped(app, tree, client_for):
    client = client_for("master.localhost")
    login(client, "owner@master.test")
    client.post("/admin/catalog/categories", data={"name": "<script>x()</script>"})
    body = client.get("/admin/catalog/categories").get_data(as_text=True)
    assert "<script>x()</script>" not in body and "&lt;script&gt;" in body
