"""Storefront pages: each host shows its own shop's view of the master catalog."""
from __future__ import annotations

import pytest
from sqlalchemy import event

from kameng.core.extensions import db
from kameng.core.money import format_money
from kameng.shop.catalog import services as catalog
from kameng.shop.pricing.services import price_for
from tests.storefront.catalog import make_catalog

pytestmark = pytest.mark.both


@pytest.fixture
def shop(tree):
    return make_catalog(tree)


def english(client):
    client.get("/lang/en")
    return client


def text(resp) -> str:
    return resp.get_data(as_text=True)


def test_each_host_shows_its_own_view_of_the_catalog(app, tree, shop, client_for):
    master = text(client_for("master.localhost").get("/"))
    star = text(client_for("star.localhost").get("/"))
    rocket = text(client_for("rocket.localhost").get("/"))

    assert "Q币10元" in master and "Steam 充值卡 50元" in master and "星光" not in master
    # star renamed Q币 and hid Steam; rocket (star's sub-shop) has its own view
    assert "星光Q币10元" in star and "Steam 充值卡" not in star
    assert "Steam 充值卡 50元" in rocket and "星光" not in rocket
    for body in (master, star, rocket):
        assert "内部商品" not in body  # hidden by the master: nowhere


def test_list_and_product_pages_show_this_shops_price(app, tree, shop, client_for):
    for tenant in (tree.master, tree.star, tree.rocket):
        # the demo shops speak zh_CN: "¥10.00" (outside a request the tests' default is en)
        expected = format_money(price_for(tenant, shop.qb), "CNY", locale="zh_CN")
        client = client_for(f"{tenant.slug}.localhost")
        assert expected in text(client.get("/"))
        assert expected in text(client.get("/p/QB-10"))
    # star marks up 10 %, so its price differs from its parent's
    assert price_for(tree.star, shop.qb) != price_for(tree.master, shop.qb)


def test_hidden_products_are_404_everywhere(app, tree, shop, client_for):
    for host in ("master.localhost", "star.localhost", "rocket.localhost"):
        client = client_for(host)
        assert client.get("/p/SECRET-1").status_code == 404
        assert "内部商品" not in text(client.get("/search?q=内部商"))


def test_a_product_hidden_by_a_sub_shop_is_404_there_only(app, tree, shop, client_for):
    star = client_for("star.localhost")
    assert star.get("/p/STEAM-50").status_code == 404
    assert "Steam 充值卡" not in text(star.get("/search?q=Steam"))
    assert "Steam" not in text(star.get(f"/c/{shop.games.id}"))
    assert client_for("master.localhost").get("/p/STEAM-50").status_code == 200
    assert client_for("rocket.localhost").get("/p/STEAM-50").status_code == 200


def test_category_page_lists_its_subcategories_products(app, tree, shop, client_for):
    client = client_for("master.localhost")
    games = text(client.get(f"/c/{shop.games.id}"))
    assert "Q币10元" in games  # lives in the child category 腾讯专区
    assert "移动话费" not in games
    phone = text(client.get(f"/c/{shop.phone.id}"))
    assert "移动话费50元" in phone and "Q币" not in phone
    assert client.get("/c/999999").status_code == 404


def test_search_matches_names_in_both_languages_and_sku(app, tree, shop, client_for):
    client = english(client_for("master.localhost"))
    assert "QQ Coins 10" in text(client.get("/search?q=coins"))
    assert "China Mobile 50" in text(client.get("/search?q=cm-50"))
    assert "QQ Coins" in text(client.get("/search?q=Q币"))
    # LIKE wildcards are literal, not "match everything"
    nothing = text(client.get("/search?q=%25"))
    assert "QQ Coins" not in nothing and "Nothing matches" in nothing
    assert "Type a product name" in text(client.get("/search?q="))


def test_locale_picks_the_english_names(app, tree, shop, client_for):
    star = client_for("star.localhost")
    assert "星光Q币10元" in text(star.get("/"))
    english(star)
    body = text(star.get("/"))
    assert "Star QQ Coins 10" in body and "Game cards" in body


def test_product_page_renders_the_buy_form(app, tree, shop, client_for):
    body = text(english(client_for("master.localhost")).get("/p/CM-50"))
    assert 'action="/checkout"' in body and 'method="post"' in body
    assert 'name="csrf_token"' in body
    assert 'name="sku" value="CM-50"' in body
    assert 'name="field_phone"' in body and 'pattern="^1\\d{10}$"' in body
    assert 'type="tel"' in body
    field = body.split('name="field_phone"', 1)[1].split(">", 1)[0]
    assert "required" in field
    assert "Phone number" in body
    assert 'name="quantity" value="1" min="1" max="5"' in body
    # the contact and the lookup password are asked once, on the checkout page
    assert 'name="contact"' not in body and 'name="lookup_password"' not in body


def test_stock_state_without_the_exact_count(app, tree, shop, client_for):
    client = english(client_for("master.localhost"))
    qb = text(client.get("/p/QB-10"))
    assert '<span class="stock stock-in_stock">In stock</span>' in qb
    assert "(500)" not in qb and ">500<" not in qb
    assert "Low stock" in text(client.get("/p/STEAM-50"))
    gone = text(client.get("/p/GONE-1"))
    assert "Sold out" in gone
    assert "disabled" in gone.split('type="submit" class="btn btn-primary btn-block"', 1)[1][:20]


def test_owner_may_show_the_stock_count(app, tree, shop, client_for):
    from kameng.tenants.services import update_appearance

    update_appearance(tree.master, "default", {"show_stock_count": True})
    client = english(client_for("master.localhost"))
    assert "In stock (500)" in text(client.get("/p/QB-10"))
    assert "(500)" in text(client.get("/"))


def test_featured_products_are_shown_on_the_home_page(app, tree, shop, client_for):
    body = text(english(client_for("star.localhost")).get("/"))
    featured = body.split("Featured", 1)[1].split("</section>", 1)[0]
    assert "Star QQ Coins 10" in featured


def test_suspended_shop_shows_the_closed_page(app, tree, shop, client_for):
    tree.star.status = "suspended"
    db.session.commit()
    star = english(client_for("star.localhost"))
    for path in ("/", "/p/QB-10", f"/c/{shop.games.id}", "/search?q=Q"):
        resp = star.get(path)
        assert resp.status_code == 503
        assert "temporarily closed" in text(resp)
        assert "Q币" not in text(resp)
    # its sub-shop and parent keep selling
    assert client_for("rocket.localhost").get("/").status_code == 200
    assert client_for("master.localhost").get("/").status_code == 200


def test_list_pages_run_a_constant_number_of_queries(app, tree, shop, client_for):
    client = client_for("star.localhost")
    counted = []

    def count(*_args, **_kwargs):
        counted.append(1)

    def queries(path):
        client.get(path)  # warm the price table
        counted.clear()
        event.listen(db.engine, "before_cursor_execute", count)
        try:
            resp = client.get(path)
        finally:
            event.remove(db.engine, "before_cursor_execute", count)
        assert resp.status_code == 200
        return len(counted), text(resp)

    before = {p: queries(p)[0] for p in ("/", f"/c/{shop.games.id}", "/search?q=卡")}
    for i in range(15):
        catalog.create_product(sku=f"EXTRA-{i}", name=f"加量卡{i}", kind="card",
                               category=shop.games, supplier_cost=100, wholesale_price=110,
                               retail_price=120)
    for path, n in before.items():
        after, body = queries(path)
        assert after == n, path
    assert body.count("加量卡") == 15


@pytest.mark.app_config(FRAGMENT_CACHE_SECONDS=0)
def test_a_page_reads_the_category_tree_once_with_nothing_kept(app, tree, shop, client_for):
    client = client_for("star.localhost")
    tree_reads = []

    def note(_conn, _cursor, statement, *_args):
        if "FROM categories" in statement and "categories.icon" in statement:
            tree_reads.append(statement)

    for path in ("/", f"/c/{shop.games.id}", "/search?q=卡", f"/p/{shop.qb.sku}"):
        client.get(path)  # warm the price table
        tree_reads.clear()
        event.listen(db.engine, "before_cursor_execute", note)
        try:
            assert client.get(path).status_code == 200, path
        finally:
            event.remove(db.engine, "before_cursor_execute", note)
        assert len(tree_reads) == 1, path
