"""A small catalog for storefront, theme and browser tests, built through the real services."""
from __future__ import annotations

from types import SimpleNamespace

from kameng.core.extensions import db
from kameng.shop.catalog import services as catalog
from kameng.shop.pricing import services as pricing

PHONE_FIELD = {"name": "phone", "label": "手机号码", "label_en": "Phone number",
               "type": "phone", "regex": r"^1\d{10}$", "required": True}


def _with_stock(product, count: int):
    # the stock service keeps this count; tests only need a number to show
    product.stock_available = count
    db.session.commit()
    return product


def make_catalog(tree) -> SimpleNamespace:
    """Categories and products on the master; star hides, renames and features some."""
    games = catalog.create_category("游戏点卡", "Game cards")
    tencent = catalog.create_category("腾讯专区", "Tencent", parent=games)
    phone = catalog.create_category("话费充值", "Phone top-ups")
    catalog.create_category("空分类", "Empty")
    ns = SimpleNamespace(games=games, tencent=tencent, phone=phone)
    ns.qb = _with_stock(catalog.create_product(
        sku="QB-10", name="Q币10元", name_en="QQ Coins 10", kind="card", category=tencent,
        supplier_cost=900, wholesale_price=950, retail_price=1000,
        description="自动发卡，秒到账。", description_en="Delivered instantly.",
        min_quantity=1, max_quantity=20), 500)
    ns.steam = _with_stock(catalog.create_product(
        sku="STEAM-50", name="Steam 充值卡 50元", name_en="Steam Wallet 50", kind="card",
        category=games, supplier_cost=4500, wholesale_price=4700, retail_price=4999), 3)
    ns.mobile = catalog.create_product(
        sku="CM-50", name="移动话费50元", name_en="China Mobile 50", kind="topup",
        category=phone, supplier_cost=4800, wholesale_price=4850, retail_price=4900,
        fields=[PHONE_FIELD], min_quantity=1, max_quantity=5)
    ns.hidden = catalog.create_product(
        sku="SECRET-1", name="内部商品", name_en="Internal item", kind="card", category=games,
        supplier_cost=100, wholesale_price=100, retail_price=100, status="hidden")
    ns.sold_out = catalog.create_product(
        sku="GONE-1", name="绝版礼包", name_en="Retired bundle", kind="manual", category=games,
        supplier_cost=100, wholesale_price=200, retail_price=300, status="sold_out")
    # star: +10 % on everything, hides Steam, renames and features Q币
    pricing.set_markup(tree.star, kind="percent", value=1000)
    catalog.set_shop_override(tree.star, ns.steam, hidden=True)
    catalog.set_shop_override(tree.star, ns.qb, name="星光Q币10元", name_en="Star QQ Coins 10",
                              featured=True)
    return ns
