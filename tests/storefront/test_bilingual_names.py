"""Product names and descriptions in both languages: the storefront shows the buyer's
(falling back to the other), the back office edits both, the API gives both or one."""
from __future__ import annotations

import pytest

from kameng.core.extensions import db
from kameng.shop.catalog import services as catalog
from tests.api.helpers import api_account, auth
from tests.helpers import login

pytestmark = pytest.mark.both


@pytest.fixture
def products(app, tree):
    both = catalog.create_product(sku="BI-1", name="月卡", name_en="Monthly pass",
                                  description="中文说明", description_en="English text",
                                  kind="topup", supplier_cost=100, wholesale_price=200,
                                  retail_price=300)
    zh_only = catalog.create_product(sku="ZH-1", name="只有中文", kind="topup",
                                     supplier_cost=100, wholesale_price=200, retail_price=300,
                                     description="仅中文说明")
    en_text = catalog.create_product(sku="EN-1", name="点券", name_en="Points",
                                     description="", description_en="Only English text",
                                     kind="topup", supplier_cost=100, wholesale_price=200,
                                     retail_price=300)
    return both, zh_only, en_text


@pytest.mark.parametrize("theme", ["default", "classic", "midnight"])
def test_storefront_shows_the_buyers_language_with_fallback(app, tree, client_for, products,
                                                            theme):
    tree.star.theme = theme
    db.session.commit()
    for host in ("master.localhost", "star.localhost"):
        zh, en = client_for(host), client_for(host)
        zh.get("/lang/zh_CN")
        en.get("/lang/en")
        zh_home, en_home = zh.get("/").get_data(as_text=True), en.get("/").get_data(as_text=True)
        assert "月卡" in zh_home and "Monthly pass" not in zh_home
        assert "Monthly pass" in en_home and "月卡" not in en_home
        assert "只有中文" in en_home            # no English name: the Chinese one
        page = en.get("/p/BI-1").get_data(as_text=True)
        assert "English text" in page and "中文说明" not in page
        page = zh.get("/p/BI-1").get_data(as_text=True)
        assert "中文说明" in page and "English text" not in page
        assert "仅中文说明" in en.get("/p/ZH-1").get_data(as_text=True)
        assert "Only English text" in zh.get("/p/EN-1").get_data(as_text=True)


@pytest.mark.parametrize("locale", ["en", "zh_CN"])
def test_back_office_edits_both_languages(app, tree, client_for, products, locale):
    both = products[0]
    client = client_for("master.localhost")
    login(client, "owner@master.test")
    client.get(f"/lang/{locale}")
    page = client.get(f"/admin/catalog/products/{both.id}").get_data(as_text=True)
    assert 'value="Monthly pass"' in page and "English text" in page and "中文说明" in page
    answer = client.post(f"/admin/catalog/products/{both.id}", data={
        "sku": "BI-1", "name": "季卡", "name_en": "Season pass", "kind": "topup",
        "status": "on_sale", "category": "", "supplier_cost": "1", "wholesale_price": "2",
        "retail_price": "3", "min_quantity": 1, "max_quantity": 100, "low_stock_threshold": 1,
        "description": "新说明", "description_en": "New text", "images": ""})
    assert answer.status_code == 302
    db.session.expire_all()
    both = catalog.get_product(both.id)
    assert (both.name, both.name_en, both.description, both.description_en) == \
        ("季卡", "Season pass", "新说明", "New text")


def test_api_returns_both_or_the_requested_language(app, tree, client_for, products):
    _user, key = api_account(tree.star, "bot@star.test", funds=0)
    client = client_for("star.localhost")
    rows = {p["sku"]: p for p in client.get("/api/v1/products", headers=auth(key)).json}
    assert rows["BI-1"]["names"] == {"zh_CN": "月卡", "en": "Monthly pass"}
    assert rows["BI-1"]["descriptions"] == {"zh_CN": "中文说明", "en": "English text"}
    assert rows["ZH-1"]["names"] == {"zh_CN": "只有中文", "en": "只有中文"}
    assert rows["EN-1"]["descriptions"]["zh_CN"] == "Only English text"
    for lang, name, text in (("en", "Monthly pass", "English text"),
                             ("zh_CN", "月卡", "中文说明")):
        rows = {p["sku"]: p for p in client.get(f"/api/v1/products?lang={lang}",
                                                headers=auth(key)).json}
        assert (rows["BI-1"]["name"], rows["BI-1"]["description"]) == (name, text)
