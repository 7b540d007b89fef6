"""The price chain through the real services, database and Redis."""
from __future__ import annotations

import pytest

from kameng.core.errors import InvalidInput, NotFound
from kameng.core.percent import parse_percent
from kameng.shop.pricing import services as pricing
from kameng.tenants import services as tenants
from tests.pricing.helpers import category, chain, product


def prices(shop, p):
    return (pricing.cost_for(shop, p), pricing.wholesale_for(shop, p),
            pricing.price_for(shop, p))


@pytest.mark.both
def test_depth_0_master_sells_at_its_set_prices(app):
    (master,) = chain(0)
    p = product("A", cost=800, wholesale=1000, retail=1200)
    assert prices(master, p) == (800, 1000, 1200)
    assert pricing.chain_prices(master, p) == [pricing.ChainLevel(master.id, 800, 1200)]


@pytest.mark.both
def test_depth_1_to_3_each_cost_is_the_parents_price_to_it(app):
    master, s1, s2, s3 = chain(3)
    p = product("A", cost=800, wholesale=1000, retail=1200)
    # no rules: a sub-shop sells (retail and wholesale) at its cost
    assert prices(s1, p) == (1000, 1000, 1000)
    assert prices(s3, p) == (1000, 1000, 1000)

    pricing.set_markup(s1, kind="percent", value=1000, wholesale=True)      # +10 % to s2
    pricing.set_markup(s1, kind="percent", value=2000)                      # +20 % retail
    pricing.set_markup(s2, kind="fixed", value=50, wholesale=True)          # +0.50 to s3
    pricing.set_markup(s3, kind="fixed", value=300)                         # +3.00 retail
    assert prices(s1, p) == (1000, 1100, 1200)
    assert prices(s2, p) == (1100, 1150, 1100)   # s2 has no retail rule: sells at cost
    assert prices(s3, p) == (1150, 1150, 1450)
    assert pricing.chain_prices(s3, p) == [
        pricing.ChainLevel(master.id, 800, 1000),
        pricing.ChainLevel(s1.id, 1000, 1100),
        pricing.ChainLevel(s2.id, 1100, 1150),
        pricing.ChainLevel(s3.id, 1150, 1450),
    ]
    # every level's margin is what it earns; they add up to customer price − supplier cost
    assert sum(level.margin for level in pricing.chain_prices(s3, p)) == 1450 - 800


@pytest.mark.both
def test_most_specific_rule_wins(app):
    _master, s1 = chain(1)
    games = category("Games")
    steam = category("Steam", parent=games)
    in_steam = product("STEAM-50", 800, 1000, 1200, category=steam)
    in_games = product("GAME-1", 800, 1000, 1200, category=games)
    loose = product("PHONE", 800, 1000, 1200)

    pricing.set_markup(s1, kind="percent", value=1000)                              # shop
    pricing.set_markup(s1, kind="percent", value=2000, level="category",
                       category_id=games.id)                                         # category
    assert pricing.price_for(s1, loose) == 1100
    assert pricing.price_for(s1, in_games) == 1200
    assert pricing.price_for(s1, in_steam) == 1200      # walks up Steam → Games
    pricing.set_markup(s1, kind="percent", value=3000, level="category",
                       category_id=steam.id)
    assert pricing.price_for(s1, in_steam) == 1300      # the nearer category wins
    pricing.set_markup(s1, kind="fixed", value=1, level="product", product_id=in_steam.id)
    assert pricing.price_for(s1, in_steam) == 1001      # product beats category
    assert pricing.price_for(s1, in_games) == 1200


@pytest.mark.both
def test_set_markup_replaces_the_rule_for_the_same_target(app):
    _master, s1 = chain(1)
    p = product("A", 800, 1000, 1200)
    first = pricing.set_markup(s1, kind="percent", value=1000)
    second = pricing.set_markup(s1, kind="fixed", value=5, rounding="x9")
    assert first.id == second.id and len(pricing.list_markups(s1)) == 1
    assert pricing.price_for(s1, p) == 1009
    pricing.delete_markup(s1, second.id)
    assert pricing.price_for(s1, p) == 1000


@pytest.mark.parametrize("rounding, expected", [
    ("fen", 1234), ("jiao", 1230), ("yuan", 1200), ("x9", 1239)])
def test_each_rounding_rule_through_the_services(app, rounding, expected):
    _master, s1 = chain(1)
    p = product("A", 800, 1000, 1200)
    pricing.set_markup(s1, kind="percent", value=2340, rounding=rounding)
    assert pricing.price_for(s1, p) == expected


def test_master_rules_price_from_the_supplier_cost(app):
    (master,) = chain(0)
    p = product("A", cost=800, wholesale=1000, retail=1200)
    assert prices(master, p) == (800, 1000, 1200)
    pricing.set_markup(master, kind="percent", value=6000)
    pricing.set_markup(master, kind="percent", value=3000, wholesale=True)
    assert prices(master, p) == (800, 1040, 1280)
    pricing.set_markup(master, kind="percent", value=2000, level="product", product_id=p.id)
    assert pricing.price_for(master, p) == 960


def test_never_below_cost_even_when_the_master_sets_a_loss(app):
    _master, s1 = chain(1)
    p = product("A", cost=1000, wholesale=900, retail=500)
    assert pricing.price_for(_master, p) == 1000
    assert pricing.cost_for(s1, p) == 1000
    pricing.set_markup(s1, kind="fixed", value=0, rounding="yuan")
    assert pricing.price_for(s1, p) == 1000


@pytest.mark.both
def test_parent_caps_its_childrens_markup(app):
    master, s1, s2 = chain(2)
    p = product("A", 800, 1000, 1200)
    pricing.set_markup(s1, kind="percent", value=5000)
    pricing.set_markup(s1, kind="percent", value=4000, wholesale=True)
    pricing.set_markup(s2, kind="fixed", value=1000)
    assert prices(s1, p) == (1000, 1400, 1500)
    assert pricing.price_for(s2, p) == 2400

    pricing.set_child_cap(master, 2000)                      # master caps s1 at 20 %
    assert prices(s1, p) == (1000, 1200, 1200)
    assert pricing.price_for(s2, p) == 2200                  # s2 is not capped by the master
    pricing.set_child_cap(s1, 1000)                          # s1 caps s2 at 10 %
    assert prices(s2, p) == (1200, 1200, 1320)
    pricing.set_child_cap(master, None)
    assert prices(s1, p) == (1000, 1400, 1500)
    assert pricing.cap_on(s2) == 1000 and pricing.cap_on(master) is None


@pytest.mark.both
def test_tiers_lower_the_price_never_below_cost(app, tree):
    p = product("A", 800, 1000, 1200)
    pricing.set_markup(tree.star, kind="percent", value=1000)        # star sells at 11.00
    pricing.set_tier(tree.star, "普通", 0, 0)
    pricing.set_tier(tree.star, "VIP", 500, 10000)
    pricing.set_tier(tree.star, "SVIP", 5000, 50000)
    buyer = tree.star_customer
    assert pricing.price_for(tree.star, p, customer=buyer) == 1100
    assert pricing.tier_for(tree.star, buyer).name == "普通"

    assert pricing.record_spend(tree.star, buyer, 10000) == 10000
    assert pricing.tier_for(tree.star, buyer).name == "VIP"
    assert pricing.price_for(tree.star, p, customer=buyer) == 1045
    assert pricing.price_list(tree.star, buyer)[p.id] == 1045
    assert pricing.price_list(tree.star)[p.id] == 1100

    pricing.record_spend(tree.star, buyer, 40000)
    assert pricing.price_for(tree.star, p, customer=buyer) == 1000   # 50 % off, floored at cost
    # a customer of another shop has no tier here; the tier is per shop
    assert pricing.price_for(tree.star, p, customer=tree.rocket_customer) == 1100
    assert pricing.price_for(tree.rocket, p, customer=tree.rocket_customer) == 1000
    # a refund lowers the total spend again, never below zero
    assert pricing.record_spend(tree.star, buyer, -45000) == 5000
    assert pricing.record_spend(tree.star, buyer, -10 ** 9) == 0


def test_record_spend_can_join_the_callers_transaction(app, tree):
    from kameng.core.extensions import db

    pricing.record_spend_in_txn(tree.star, tree.star_customer, 700)
    db.session.rollback()
    assert pricing.spend_of(tree.star, tree.star_customer) == 0
    pricing.record_spend_in_txn(tree.star, tree.star_customer, 700)
    db.session.commit()
    assert pricing.spend_of(tree.star, tree.star_customer) == 700


@pytest.mark.both
def test_quantity_discounts_never_below_cost(app):
    _master, s1 = chain(1)
    a = product("A", 800, 1000, 1200)
    b = product("B", 800, 1000, 1200)
    pricing.set_markup(s1, kind="percent", value=2000)
    pricing.set_quantity_discount(s1, 10, 500)                       # every product
    pricing.set_quantity_discount(s1, 100, 5000, product_id=a.id)    # A only, huge
    assert pricing.price_for(s1, a, quantity=9) == 1200
    assert pricing.price_for(s1, a, quantity=10) == 1140
    assert pricing.price_for(s1, b, quantity=500) == 1140
    assert pricing.price_for(s1, a, quantity=100) == 1000            # 50 % off, floored at cost
    assert pricing.chain_prices(s1, a, quantity=100)[-1] == pricing.ChainLevel(s1.id, 1000, 1000)
    with pytest.raises(InvalidInput):
        pricing.price_for(s1, a, quantity=0)


@pytest.mark.both
def test_price_list_has_every_product(app):
    _master, s1, s2 = chain(2)
    ps = [product(f"P{i}", 100 * i, 110 * i, 150 * i) for i in range(1, 6)]
    pricing.set_markup(s2, kind="percent", value=1000)
    assert pricing.price_list(s2) == {p.id: 121 * i for i, p in enumerate(ps, 1)}


def test_depth_5_chain(app):
    shops = chain(5)
    p = product("A", 100, 1000, 1500)
    for shop in shops[1:]:
        pricing.set_markup(shop, kind="fixed", value=100, wholesale=True)
        pricing.set_markup(shop, kind="fixed", value=1)
    levels = pricing.chain_prices(shops[-1], p)
    assert [lv.cost for lv in levels] == [100, 1000, 1100, 1200, 1300, 1400]
    assert [lv.price for lv in levels] == [1000, 1100, 1200, 1300, 1400, 1401]


def test_bad_input_is_refused_and_writes_nothing(app):
    _master, s1 = chain(1)
    p = product("A", 800, 1000, 1200)
    with pytest.raises(InvalidInput):
        pricing.set_markup(s1, kind="percent", value=-1)
    with pytest.raises(InvalidInput):
        pricing.set_markup(s1, kind="markup", value=1)
    with pytest.raises(InvalidInput):
        pricing.set_markup(s1, kind="fixed", value=1, rounding="nearest")
    with pytest.raises(InvalidInput):
        pricing.set_markup(s1, kind="fixed", value=1, level="category")
    with pytest.raises(NotFound):
        pricing.set_markup(s1, kind="fixed", value=1, level="product", product_id=999999)
    with pytest.raises(InvalidInput):
        parse_percent("1.234")
    with pytest.raises(InvalidInput):
        pricing.set_tier(s1, "VIP", 10001, 0)
    with pytest.raises(InvalidInput):
        pricing.set_quantity_discount(s1, 0, 100)
    with pytest.raises(NotFound):
        pricing.price_for(s1, 999999)
    assert pricing.list_markups(s1) == [] and pricing.list_tiers(s1) == []
    assert pricing.price_for(s1, p) == 1000


def test_rules_are_tenant_owned(app):
    from kameng.core.extensions import db
    from kameng.core.scoping import tenant_scope
    from kameng.shop.pricing.models import MarkupRule

    _master, s1 = chain(1)
    other = tenants.create_tenant("other", "Other", "master")
    rule = pricing.set_markup(s1, kind="percent", value=1000)
    with pytest.raises(NotFound):
        pricing.delete_markup(other, rule.id)
    db.session.expire_all()
    with tenant_scope(other.id):
        assert db.session.scalars(db.select(MarkupRule)).all() == []
    with tenant_scope(s1.id):
        assert [r.id for r in db.session.scalars(db.select(MarkupRule))] == [rule.id]
