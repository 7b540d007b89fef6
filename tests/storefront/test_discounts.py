"""Quantity discounts and member tiers on the product page of every theme, and how
they combine: the tier first, then the quantity step on that price (each rounded half
up to the cent), never below the shop's cost — the page states it, and the prices it
shows are the ones checkout charges."""
from __future__ import annotations

import re

import pytest

from kameng.billing import wallets
from kameng.sales import services as orders
from kameng.shop.catalog import services as catalog
from kameng.shop.pricing import engine
from kameng.shop.pricing import services as pricing
from kameng.shop.stock import services as stock
from tests.helpers import login
from tests.orders.web_helpers import enable_balance

pytestmark = pytest.mark.both


@pytest.fixture
def priced(tree):
    """A product sold by master (default theme), star (classic) and rocket (midnight),
    each shop with a VIP tier (10 % from ¥50 spent) and quantity steps."""
    product = catalog.create_product(sku="CARD-1", name="点卡", name_en="Card",
                                     kind="card", supplier_cost=800, wholesale_price=900,
                                     retail_price=1000, max_quantity=50)
    stock.import_codes(product, text="\n".join(f"CODE-{i:03d}" for i in range(40)))
    pricing.set_markup(tree.star, kind="percent", value=2000)       # 900 → 1080
    pricing.set_markup(tree.rocket, kind="percent", value=1000)     # 900 → 990
    for shop in (tree.master, tree.star, tree.rocket):
        pricing.set_tier(shop, "VIP", 1000, 5000)
        pricing.set_quantity_discount(shop, 5, 500)                 # every product
        pricing.set_quantity_discount(shop, 100, 900)               # above max_quantity
        enable_balance(shop)
    tree.product = product
    return tree


def _texts(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


@pytest.mark.parametrize("lang", ["en", "zh_CN"])
def test_every_theme_shows_steps_tiers_and_the_rule(priced, client_for, lang):
    prices = {"master": (1000, 950, 900), "star": (1080, 1026, 972),
              "rocket": (990, 940, 900)}   # one unit, from 5 units, VIP (held at cost)
    for slug, (one, five, vip) in prices.items():
        client = client_for(f"{slug}.localhost")
        client.get(f"/lang/{lang}")
        page = client.get("/p/CARD-1")
        assert page.status_code == 200
        text = _texts(page.text)
        assert 'class="discounts"' in page.text, slug
        for amount in (one, five, vip):
            assert f"{amount // 100}.{amount % 100:02d}" in text, (slug, amount)
        assert "from 100" not in text and "100 件起" not in text  # beyond max_quantity
        if lang == "en":
            assert "Discounts combine: a member discount is taken first" in text
            assert "VIP" in text and "-10%" in text and "-5%" in text
        else:
            assert "优惠叠加" in text and "会员" in text
        assert one == pricing.price_for(getattr(priced, slug), priced.product)
        assert five == pricing.price_for(getattr(priced, slug), priced.product, quantity=5)


def test_a_member_sees_its_tier_and_pays_what_the_page_says(priced, client_for):
    star, buyer = priced.star, priced.star_customer
    pricing.record_spend(star, buyer, 6000)          # past the VIP threshold
    wallets.credit_wallet(buyer, 100_000)
    client = client_for("star.localhost")
    login(client, "buyer@star.test")
    client.get("/lang/en")
    text = _texts(client.get("/p/CARD-1").text)
    assert "(your tier)" in text
    assert "include your member discount" in text
    # 1080 −10 % = 972, then −5 % = 923.4 → 923 (not 1080 −15 % = 918)
    assert "9.23" in text and "9.18" not in text
    assert pricing.price_for(star, priced.product, buyer, quantity=5) == 923
    assert engine.customer_price(1080, 900, 1000, 500) == 923
    placed = orders.place_order(star, sku="CARD-1", quantity=5, customer=buyer)
    assert placed.order.amount == 5 * 923


def test_discounts_never_go_below_cost_and_stay_in_their_shop(priced, client_for):
    star = priced.star
    pricing.set_tier(star, "SVIP", 5000, 0)           # 50 % for everyone logged in
    pricing.set_quantity_discount(star, 2, 5000, priced.product.id)   # the product's own
    buyer = priced.star_customer
    # star's cost is 900: 1080 −50 % = 540 −50 % → held at 900
    assert pricing.price_for(star, priced.product, buyer, quantity=2) == 900
    offer = pricing.product_discounts(star, priced.product, buyer)
    assert offer.tier_name == "SVIP"
    # the product's own steps replace the shop-wide ones
    assert [(s.quantity, s.bp, s.unit_price) for s in offer.quantity_steps] == [(2, 5000, 900)]
    # rocket, star's child, and master, its parent, are untouched
    assert pricing.price_for(priced.rocket, priced.product, quantity=2) == 990
    assert pricing.price_for(priced.master, priced.product, quantity=2) == 1000
    client = client_for("rocket.localhost")
    client.get("/lang/en")
    assert "SVIP" not in client.get("/p/CARD-1").text


def test_no_discounts_no_section(tree, client_for):
    catalog.create_product(sku="PLAIN", name="P", kind="card", supplier_cost=1,
                           wholesale_price=2, retail_price=3)
    page = client_for("master.localhost").get("/p/PLAIN")
    assert page.status_code == 200 and 'class="discounts"' not in page.text
