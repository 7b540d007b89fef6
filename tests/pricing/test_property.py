"""A property over random chains and rules, through the real services, database and Redis:
every level sells at or above its cost, and each level's cost is its parent's price to it."""
from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import delete

from kameng.core.extensions import db
from kameng.shop.pricing import services as pricing
from kameng.shop.pricing.models import MarkupRule, QuantityDiscount, ShopPricing
from tests.pricing.helpers import category, chain, product

rule_st = st.fixed_dictionaries({
    "level": st.sampled_from(["shop", "category", "product"]),
    "pick": st.integers(0, 2),
    "kind": st.sampled_from(["percent", "fixed"]),
    "value": st.integers(0, 20000),
    "wholesale": st.booleans(),
    "rounding": st.sampled_from(["fen", "jiao", "yuan", "x9"]),
})

scenario_st = st.fixed_dictionaries({
    "depth": st.integers(0, 5),
    "rules": st.lists(st.tuples(st.integers(0, 5), rule_st), max_size=12),
    "caps": st.lists(st.none() | st.integers(0, 5000), min_size=6, max_size=6),
    "qty": st.lists(st.tuples(st.integers(1, 20), st.integers(0, 10000)), max_size=3),
    "tier_bp": st.integers(0, 10000),
    "quantity": st.integers(1, 30),
})


def world(app):
    """The shops, categories and products, built once for all examples."""
    if "pricing_world" not in app.extensions:
        shops = chain(5, prefix="p")
        root = category("Root")
        leaf = category("Leaf", parent=root)
        cats = [root, leaf, category("Other")]
        products = [product(f"H{i}", 100 + 37 * i, 150 + 41 * i, 300 + 7 * i, category=cat)
                    for i, cat in enumerate([root, leaf, None])]
        app.extensions["pricing_world"] = (shops, cats, products)
    return app.extensions["pricing_world"]


@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(scenario=scenario_st)
def test_random_chains_keep_the_chain_invariants(app, scenario):
    shops, cats, products = world(app)

    for model in (MarkupRule, ShopPricing, QuantityDiscount):
        db.session.execute(delete(model).execution_options(all_tenants=True))
    db.session.commit()

    shops = shops[:scenario["depth"] + 1]
    for (at, rule) in scenario["rules"]:
        shop = shops[at % len(shops)]
        target = {}
        if rule["level"] == "category":
            target["category_id"] = cats[rule["pick"]].id
        elif rule["level"] == "product":
            target["product_id"] = products[rule["pick"]].id
        pricing.set_markup(shop, kind=rule["kind"], value=rule["value"], level=rule["level"],
                           wholesale=rule["wholesale"], rounding=rule["rounding"], **target)
    for shop, cap in zip(shops, scenario["caps"], strict=False):
        pricing.set_child_cap(shop, cap)
    last = shops[-1]
    for from_q, bp in scenario["qty"]:
        pricing.set_quantity_discount(last, from_q, bp)
    pricing.set_tier(last, "VIP", scenario["tier_bp"], 0)

    for p in products:
        for depth, shop in enumerate(shops):
            cost, wholesale = pricing.cost_for(shop, p), pricing.wholesale_for(shop, p)
            assert pricing.price_for(shop, p) >= cost and wholesale >= cost
            if depth:
                assert cost == pricing.wholesale_for(shops[depth - 1], p)
                cap = pricing.cap_on(shop)
                if cap is not None:
                    assert pricing.price_for(shop, p) - cost <= cost * cap // 10000
        levels = pricing.chain_prices(last, p, quantity=scenario["quantity"])
        assert levels[0].cost == p.supplier_cost
        assert [lv.tenant_id for lv in levels] == [s.id for s in shops]
        for upper, lower in zip(levels, levels[1:], strict=False):
            assert lower.cost == upper.price
        assert all(lv.price >= lv.cost for lv in levels)
        price = pricing.price_for(last, p, quantity=scenario["quantity"])
        assert levels[-1].price == price >= levels[-1].cost
