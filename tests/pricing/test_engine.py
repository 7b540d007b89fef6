"""The price arithmetic on its own: rounding, caps, floors, discounts, most-specific-wins."""
from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kameng.shop.pricing import engine
from kameng.shop.pricing.engine import LevelInput, ProductInput, Rule


def pct(value_bp, rounding="fen", wholesale=False, level="shop", target=0):
    return Rule(level, target, "percent", value_bp, wholesale, rounding)


def fixed(amount, rounding="fen", wholesale=False, level="shop", target=0):
    return Rule(level, target, "fixed", amount, wholesale, rounding)


@pytest.mark.parametrize("cost, rule, expected", [
    (1000, pct(1250), 1125),              # 10.00 + 12.5 % = 11.25
    (999, pct(1000), 1099),               # 10.989 → 10.99
    (10, pct(500), 11),                   # 0.105 → 0.11: half up
    (1005, pct(500), 1055),               # 10.5525 → 10.55
    (1000, fixed(250), 1250),
    (1000, pct(2340, "jiao"), 1230),      # 12.34 → 12.30
    (1000, pct(2350, "jiao"), 1240),      # 12.35 → 12.40: half up
    (1000, pct(1490, "yuan"), 1100),      # 11.49 → 11.00
    (1000, pct(1500, "yuan"), 1200),      # 11.50 → 12.00
    (1000, pct(2310, "x9"), 1239),        # 12.31 → 12.39
    (1000, pct(2390, "x9"), 1239),        # 12.39 stays
    (1000, pct(2400, "x9"), 1249),        # 12.40 → 12.49
    (1000, pct(2301, "x9"), 1239),        # 12.3010 → 12.31 → 12.39 (up, never down)
    (1230, pct(100, "yuan"), 1300),       # 12.423 half-up is 12.00 < cost: up to 13.00
    (1230, fixed(0, "jiao"), 1230),       # already on the step
    (1231, fixed(0, "jiao"), 1240),       # half up would be 12.30 < cost 12.31
])
def test_rounding_rules(cost, rule, expected):
    assert engine.apply_rule(rule, cost, None, 2) == expected


def test_rounding_for_a_currency_without_decimals():
    # JPY: "jiao" has no meaning, it falls back to the minor unit; "yuan" is 1 yen
    assert engine.apply_rule(pct(1050, "jiao"), 1000, None, 0) == 1105
    assert engine.apply_rule(pct(1050, "yuan"), 1000, None, 0) == 1105
    assert engine.apply_rule(pct(1050, "x9"), 1000, None, 0) == 1109


@pytest.mark.parametrize("cost, rule, cap_bp, expected", [
    (1000, pct(5000), 2000, 1200),        # +50 % capped at 20 %
    (1000, fixed(500), 1000, 1100),       # +5.00 capped at 10 % = 1.00
    (1000, pct(2310, "x9"), 2000, 1200),  # the cap wins over the rounding
    (999, pct(5000), 1000, 1098),         # cap = floor(99.9) = 0.99
    (1000, pct(1000), 2000, 1100),        # under the cap: untouched
    (1000, pct(1000), 0, 1000),           # a zero cap means sell at cost
])
def test_parent_cap(cost, rule, cap_bp, expected):
    assert engine.apply_rule(rule, cost, cap_bp, 2) == expected


def test_discounts_never_below_cost():
    assert engine.customer_price(1000, 800, 500, 0) == 950
    assert engine.customer_price(1000, 800, 500, 1000) == 855     # tier, then quantity
    assert engine.customer_price(1000, 900, 500, 1000) == 900     # floor
    assert engine.customer_price(1000, 0, 10000, 0) == 0
    assert engine.customer_price(999, 0, 1, 0) == 999 - 0          # 0.0999 fen rounds to 0


def test_quantity_steps_product_first_then_shop_wide():
    steps = [(0, 10, 500), (0, 50, 1000), (7, 20, 800)]
    assert engine.pick_quantity_bp(steps, 7, 5) == 0
    assert engine.pick_quantity_bp(steps, 7, 10) == 500     # no product step reached yet
    assert engine.pick_quantity_bp(steps, 7, 60) == 800     # product's own steps win
    assert engine.pick_quantity_bp(steps, 8, 60) == 1000
    assert engine.pick_quantity_bp(steps, 8, 1) == 0


def test_tier_reached_by_spend():
    tiers = [(0, 0, "普通"), (10000, 500, "VIP"), (50000, 1000, "SVIP")]
    assert engine.pick_tier(tiers, 0)[2] == "普通"
    assert engine.pick_tier(tiers, 9999)[2] == "普通"
    assert engine.pick_tier(tiers, 10000)[2] == "VIP"
    assert engine.pick_tier(tiers, 10 ** 9)[2] == "SVIP"
    assert engine.pick_tier([(100, 500, "VIP")], 99) is None


def test_most_specific_rule_wins_and_categories_walk_up():
    parents = {1: None, 2: 1, 3: 2}
    level = LevelInput(5, [pct(1000), pct(2000, level="category", target=1),
                           pct(3000, level="product", target=42)])
    deep = ProductInput(41, 3, 0, 1000, 0)
    own = ProductInput(42, 3, 0, 1000, 0)
    loose = ProductInput(43, None, 0, 1000, 0)
    master = LevelInput(1)
    tables = engine.compute_chain([master, level], [deep, own, loose], parents)
    assert tables[1][41] == (1000, 1000, 1200)   # category 1 via 3 → 2 → 1
    assert tables[1][42] == (1000, 1000, 1300)   # its own rule
    assert tables[1][43] == (1000, 1000, 1100)   # the shop rule


def test_a_category_cycle_does_not_hang():
    assert engine.category_chain(1, {1: 2, 2: 1}) == [1, 2]


# ----- the property: for any chain and any rules ------------------------------------

rules_st = st.builds(
    Rule,
    level=st.sampled_from(["shop", "category", "product"]),
    target_id=st.integers(0, 3),
    kind=st.sampled_from(["percent", "fixed"]),
    value=st.integers(0, 50000),
    wholesale=st.booleans(),
    rounding=st.sampled_from(["fen", "jiao", "yuan", "x9"]),
)


@st.composite
def chains(draw):
    depth = draw(st.integers(0, 5))
    levels = [LevelInput(tid, draw(st.lists(rules_st, max_size=6)),
                         draw(st.none() | st.integers(0, 30000)))
              for tid in range(1, depth + 2)]
    products = [ProductInput(pid, draw(st.none() | st.integers(1, 3)),
                             draw(st.integers(0, 10 ** 7)), draw(st.integers(0, 10 ** 7)),
                             draw(st.integers(0, 10 ** 7)))
                for pid in range(1, draw(st.integers(1, 4)) + 1)]
    return levels, products


@settings(max_examples=400, deadline=None)
@given(chains(), st.integers(0, 10000), st.integers(0, 10000))
def test_every_level_sells_at_or_above_cost_and_buys_at_its_parents_price(
        data, tier_bp, qty_bp):
    levels, products = data
    tables = engine.compute_chain(levels, products, {1: None, 2: 1, 3: 2})
    for p in products:
        assert tables[0][p.id][0] == p.supplier_cost
        for depth, table in enumerate(tables):
            cost, wholesale, retail = table[p.id]
            assert wholesale >= cost and retail >= cost
            assert engine.customer_price(retail, cost, tier_bp, qty_bp) >= cost
            if depth:
                assert cost == tables[depth - 1][p.id][1]
                cap = levels[depth].cap_bp
                if cap is not None:
                    assert retail - cost <= cost * cap // 10000
                    assert wholesale - cost <= cost * cap // 10000
