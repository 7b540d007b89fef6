"""Categories, products, buyer input fields and sub-shop overrides."""
from __future__ import annotations

import pytest
from sqlalchemy import func, select

from kameng.core.errors import Conflict, InvalidInput, NotFound
from kameng.core.extensions import db
from kameng.shop.catalog import services
from kameng.shop.catalog.models import Product, ShopProduct

pytestmark = pytest.mark.both


def make(sku="P-1", **kw):
    args = dict(sku=sku, name="商品", kind="card", supplier_cost=800, wholesale_price=1000,
                retail_price=1200)
    args.update(kw)
    return services.create_product(**args)


def test_nested_ordered_categories(app):
    games = services.create_category("游戏", "Games", icon="🎮")
    steam = services.create_category("Steam", parent=games)
    phone = services.create_category("话费", "Phone")
    services.create_category("Origin", parent=games.id, position=0)
    tree = [(d, c.name) for d, c in services.category_tree()]
    assert tree == [(0, "游戏"), (1, "Origin"), (1, "Steam"), (0, "话费")]
    services.update_category(phone, position=0)
    assert services.category_tree()[0][1].name == "话费"
    with pytest.raises(InvalidInput):
        services.update_category(games, parent=steam)        # a cycle
    make(category=steam)
    with pytest.raises(Conflict):
        services.delete_category(steam)
    with pytest.raises(Conflict):
        services.delete_category(games)
    services.delete_category(phone)
    with pytest.raises(NotFound):
        services.get_category(phone.id)


def test_create_product_with_everything(app, tree):
    cat = services.create_category("游戏")
    p = make(category=cat, name_en="Game card", description="说明", description_en="About",
             images=["https://cdn.example/a.png", "/static/b.png"], min_quantity=2,
             max_quantity=5, status="hidden", low_stock_threshold=3,
             fields=[{"name": "account", "label": "账号", "label_en": "Account",
                      "type": "text", "regex": "^[a-z0-9]{4,12}$", "required": True}])
    assert (p.category_id, p.currency, p.images[1], p.min_quantity, p.fields[0]["type"]) == \
        (cat.id, "CNY", "/static/b.png", 2, "text")
    assert services.product_by_sku("P-1").id == p.id


@pytest.mark.parametrize("kw, field", [
    ({"sku": "has space"}, "sku"),
    ({"sku": ""}, "sku"),
    ({"kind": "gift"}, "kind"),
    ({"status": "gone"}, "status"),
    ({"name": "  "}, "name"),
    ({"retail_price": -1}, "retail_price"),
    ({"retail_price": 12.5}, "retail_price"),
    ({"min_quantity": 5, "max_quantity": 2}, "max_quantity"),
    ({"images": ["javascript:alert(1)"]}, "images"),
    ({"fields": [{"name": "x", "label": "X", "regex": "(["}]}, "fields"),
    ({"fields": [{"name": "x", "label": "X", "type": "date"}]}, "fields"),
    ({"fields": [{"name": "X y", "label": "X"}]}, "fields"),
    ({"fields": [{"name": "x", "label": "X"}, {"name": "x", "label": "Y"}]}, "fields"),
    ({"fields": [{"name": "x", "label": ""}]}, "fields"),
    ({"fields": [{"name": "x", "label": "X", "colour": "red"}]}, "fields"),
    ({"category": 9999}, None),
])
def test_bad_product_input_names_the_field_and_writes_nothing(app, kw, field):
    with pytest.raises((InvalidInput, NotFound)) as err:
        make(**kw)
    if field:
        assert err.value.field == field
    assert db.session.scalar(select(func.count()).select_from(Product)) == 0


def test_duplicate_sku_conflicts(app):
    make()
    with pytest.raises(Conflict):
        make()
    other = make("P-2")
    with pytest.raises(Conflict):
        services.update_product(other, sku="P-1")


def test_update_product_never_touches_the_stock_counter(app):
    p = make()
    services.update_product(p, name="新名字", retail_price=1300)
    assert (p.name, p.retail_price) == ("新名字", 1300)
    with pytest.raises(InvalidInput):
        services.update_product(p, stock_available=99)


FIELDS = [
    {"name": "phone", "label": "手机号", "type": "phone"},
    {"name": "qq", "label": "QQ", "type": "qq", "required": False},
    {"name": "email", "label": "邮箱", "type": "email", "required": False},
    {"name": "server", "label": "区服", "type": "number", "required": False},
    {"name": "account", "label": "账号", "type": "text", "regex": "[a-z]{3}\\d{2}",
     "required": False},
]


def test_validate_buyer_fields(app):
    p = make(fields=FIELDS)
    ok = services.validate_buyer_fields(p, {"phone": " 13800138000 ", "qq": "12345",
                                            "account": "abc12", "extra": "dropped"})
    assert ok == {"phone": "13800138000", "qq": "12345", "account": "abc12"}
    for values, field in [
        ({}, "phone"),
        ({"phone": "call me"}, "phone"),
        ({"phone": "13800138000", "qq": "0123"}, "qq"),
        ({"phone": "13800138000", "email": "nope"}, "email"),
        ({"phone": "13800138000", "server": "3a"}, "server"),
        ({"phone": "13800138000", "account": "abc12x"}, "account"),   # regex must match whole
        ({"phone": "138\n00138000"}, "phone"),
    ]:
        with pytest.raises(InvalidInput) as err:
            services.validate_buyer_fields(p, values)
        assert err.value.field == field


def test_shop_override_leaves_the_master_row_alone(app, tree):
    a, b, c = make("A", position=1), make("B", position=2), make("C", position=3)
    services.set_shop_override(tree.star, b, name="星星卡", featured=True)
    services.set_shop_override(tree.star, c, hidden=True)
    services.set_shop_override(tree.rocket, a, position=9)
    db.session.expire_all()
    assert (b.name, c.status) == ("商品", "on_sale")
    star = [(p.sku, services.display_name(p, o)) for p, o in services.shop_catalog(tree.star)]
    assert star == [("B", "星星卡"), ("A", "商品")]
    rocket = [p.sku for p, _ in services.shop_catalog(tree.rocket)]
    assert rocket == ["B", "C", "A"]
    assert [p.sku for p, _ in services.shop_catalog(tree.master)] == ["A", "B", "C"]
    services.set_shop_override(tree.star, b, name=None)
    assert services.display_name(b, services.shop_override(tree.star, b)) == "商品"
    assert db.session.scalar(select(func.count()).select_from(ShopProduct)
                             .execution_options(all_tenants=True)) == 3
    with pytest.raises(InvalidInput):
        services.set_shop_override(tree.master, a, hidden=True)
