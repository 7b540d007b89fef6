"""The storefront's fragments (``shop.storefront.fragments``): pages for every visitor
cost a bounded, small number of SQL statements, and what is kept is keyed by shop and
versions — a change shows at once, two shops never share a fragment, a buyer's tier
prices never reach another visitor."""
from __future__ import annotations

import pytest
from sqlalchemy import event

from kameng.core.extensions import db
from kameng.core.money import format_money
from kameng.shop.catalog import services as catalog
from kameng.shop.pricing import services as pricing
from kameng.tenants import services as tenants
from tests.helpers import PASSWORD, login
from tests.storefront.catalog import make_catalog

# a long lifetime: anything these tests see change must come from a version, not expiry
pytestmark = [pytest.mark.both, pytest.mark.app_config(FRAGMENT_CACHE_SECONDS=300)]

# after the first visit (price table, tree and lists computed and kept)
MAX_STATEMENTS_VISITOR = 0
MAX_STATEMENTS_BUYER = 3     # the session's user, the buyer's spend (tier), a spare one
MAX_STATEMENTS_FIRST = 12    # the chain's price inputs (6), tree, list or product, spare


@pytest.fixture
def shop(tree):
    return make_catalog(tree)


def text(resp) -> str:
    return resp.get_data(as_text=True)


def count_statements(client, path: str) -> tuple[int, str]:
    counted = []

    def count(*_args, **_kwargs):
        counted.append(1)

    event.listen(db.engine, "before_cursor_execute", count)
    try:
        resp = client.get(path)
    finally:
        event.remove(db.engine, "before_cursor_execute", count)
    assert resp.status_code == 200, path
    return len(counted), text(resp)


def price_text(tenant, product, **kwargs) -> str:
    return format_money(pricing.price_for(tenant, product, **kwargs), "CNY", locale="zh_CN")


def test_list_and_product_pages_run_a_bounded_number_of_statements(app, tree, shop,
                                                                    client_for):
    visitor = client_for("star.localhost")
    buyer = client_for("star.localhost")
    login(buyer, tree.star_customer.email, PASSWORD)
    pages = ("/", f"/c/{shop.games.id}", "/search?q=卡", "/p/QB-10")
    for path in pages:
        first, _ = count_statements(visitor, path)
        assert first <= MAX_STATEMENTS_FIRST, (path, first)
        again, body = count_statements(visitor, path)
        assert again <= MAX_STATEMENTS_VISITOR, (path, again)
        assert "Star Cards" in body and ("星光Q币10元" in body or path.startswith("/search"))
        as_buyer, body = count_statements(buyer, path)
        assert as_buyer <= MAX_STATEMENTS_BUYER, (path, as_buyer)
        assert tree.star_customer.email in body   # the buyer's own header, not a kept one


def test_a_kept_page_is_the_page_rendered_afresh(app, tree, shop, client_for):
    client = client_for("star.localhost")
    for path in ("/", f"/c/{shop.games.id}", "/search?q=Q"):
        fresh = text(client.get(path))
        kept = text(client.get(path))
        assert kept == fresh, path
    app.config["FRAGMENT_CACHE_SECONDS"] = 0
    for path in ("/", f"/c/{shop.games.id}"):
        assert text(client.get(path)) == text(client_for("star.localhost").get(path))


def test_a_price_change_shows_at_once(app, tree, shop, client_for):
    client = client_for("rocket.localhost")
    before = price_text(tree.rocket, shop.qb)
    for path in ("/", "/p/QB-10", f"/c/{shop.tencent.id}"):
        assert before in text(client.get(path))
    # a markup upstream (star's wholesale) and the shop's own markup both show at once
    pricing.set_markup(tree.star, kind="percent", value=2000, level="shop", wholesale=True)
    pricing.set_markup(tree.rocket, kind="fixed", value=77, level="product",
                       product_id=shop.qb.id)
    after = price_text(tree.rocket, shop.qb)
    assert after != before
    for path in ("/", "/p/QB-10", f"/c/{shop.tencent.id}"):
        body = text(client.get(path))
        assert after in body and before not in body, path


def test_a_catalog_change_shows_at_once(app, tree, shop, client_for):
    client = client_for("star.localhost")
    assert "星光Q币10元" in text(client.get("/"))
    catalog.set_shop_override(tree.star, shop.qb, name="改名Q币")
    catalog.update_product(shop.mobile, name="移动话费五十")
    for path in ("/", "/search?q=Q", f"/c/{shop.tencent.id}"):
        body = text(client.get(path))
        assert "星光Q币10元" not in body, path
    assert "改名Q币" in text(client.get("/"))
    assert "移动话费五十" in text(client.get("/"))
    assert "改名Q币" in text(client.get("/p/QB-10"))


def test_two_shops_never_share_a_fragment(app, tree, shop, client_for):
    # two sibling shops alike in all but their own presentation: same theme, same prices
    one = tenants.create_tenant("one", "Shop One", "master", theme="default")
    two = tenants.create_tenant("two", "Shop Two", "master", theme="default")
    catalog.set_shop_override(one, shop.qb, name="一号店Q币")
    db.session.commit()
    pages = ("/", "/p/QB-10", f"/c/{shop.tencent.id}", "/search?q=Q")
    bodies = {}
    for slug in ("one", "two", "one", "two"):
        client = client_for(f"{slug}.localhost")
        bodies[slug] = [text(client.get(p)) for p in pages]
    assert all("Shop One" in b and "Shop Two" not in b for b in bodies["one"])
    assert all("Shop Two" in b and "Shop One" not in b for b in bodies["two"])
    assert all("一号店Q币" not in b for b in bodies["two"])
    assert "一号店Q币" in bodies["one"][0]
    # every kept fragment is filed under its shop's id (data: first; rendered blocks:
    # after the template and block names); both shops have their own
    store = app.extensions["kameng.fragments"]

    def owner(key):
        return key[3] if key[0] == "block" else key[0]

    owners = {owner(key) for key in store}
    assert {one.id, two.id} <= owners
    assert all(isinstance(o, int) for o in owners)
    kept_one = {key[1:] if key[0] != "block" else key[:3] + key[4:]
                for key in store if owner(key) == one.id}
    assert kept_one, "shop one kept nothing"


def test_a_buyers_tier_prices_are_never_shown_to_another_visitor(app, tree, shop, client_for):
    pricing.set_tier(tree.star, "金牌", 1000, 100)
    pricing.record_spend(tree.star, tree.star_customer, 500)
    member = price_text(tree.star, shop.qb, customer=tree.star_customer)
    plain = price_text(tree.star, shop.qb)
    assert member != plain
    buyer = client_for("star.localhost")
    login(buyer, tree.star_customer.email, PASSWORD)
    visitor = client_for("star.localhost")
    for path in ("/", f"/c/{shop.tencent.id}", "/search?q=Q"):
        assert member in text(buyer.get(path)), path
        body = text(visitor.get(path))
        assert plain in body and member not in body, path
        assert member in text(buyer.get(path)), path


def test_a_signed_in_buyers_header_is_never_kept(app, tree, shop, client_for):
    visitor = client_for("star.localhost")
    buyer = client_for("star.localhost")
    login(buyer, tree.star_customer.email, PASSWORD)
    email = tree.star_customer.email
    for path in ("/", "/p/QB-10", f"/c/{shop.tencent.id}"):
        assert email not in text(visitor.get(path))
        assert email in text(buyer.get(path)), path
        assert email not in text(visitor.get(path)), path
    # nothing kept holds the buyer's address
    for _expires, value in app.extensions["kameng.fragments"].values():
        assert not (isinstance(value, str) and email in value)
