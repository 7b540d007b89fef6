"""The price chain as plain arithmetic on integers (no database, no cache).

For every shop from the master down, and every product:

- **cost** — the master's is the product's supplier cost; a sub-shop's is its
  parent's price to it (its parent's *wholesale* price).
- **retail** — the shop's price on its own storefront: cost + its markup rule
  (most specific wins: product > category, nearest first > shop), rounded by
  the rule's rounding, capped by the parent's cap, never below cost. With no
  rule a sub-shop sells at cost; the master sells at the product's
  ``retail_price`` (a master rule, if any, prices from the supplier cost).
- **wholesale** — the shop's price to its own sub-shops: the same with its
  ``wholesale`` rules; with none a sub-shop passes its cost on, the master
  charges the product's ``wholesale_price``.

Rounding (applied to the exact cost + markup, before the cap and the floor):

- ``fen``  — to 1 minor unit, half up (the default);
- ``jiao`` — to 0.1 of the major unit (10 fen), half up;
- ``yuan`` — to 1 major unit (100 fen), half up;
- ``x9``   — *up* to the next amount whose last minor digit is 9:
  12.31 → 12.39, 12.39 → 12.39, 12.40 → 12.49 (never rounds down).

If rounding half up would land below cost (cost 12.30 + 1 % rounded to the
yuan is 12.00), the amount is rounded *up* to the step instead (13.00).
Then the cap: the markup (price − cost) is at most ``floor(cost × cap)``; the
cap wins over the rounding (the price may then not be a round amount). Then
the floor: never below cost.

Discounts on the retail price (tiers, then quantity) are each a percentage
rounded half up to the minor unit, and never take the price below cost.
"""
from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from kameng.core.money import exponent
from kameng.core.percent import BASIS, percent_of, percent_of_floor


@dataclass(frozen=True, slots=True)
class Rule:
    level: str            # shop | category | product
    target_id: int        # product id, category id, or 0 for the shop level
    kind: str             # percent (basis points) | fixed (minor units)
    value: int
    wholesale: bool = False
    rounding: str = "fen"


@dataclass(frozen=True, slots=True)
class ProductInput:
    id: int
    category_id: int | None
    supplier_cost: int
    wholesale_price: int
    retail_price: int
    currency: str = "CNY"


@dataclass(slots=True)
class LevelInput:
    """One shop of the chain: its rules and the cap its parent puts on its markup."""

    tenant_id: int
    rules: Iterable[Rule] = ()
    cap_bp: int | None = None
    index: dict = field(default_factory=dict, init=False)

    def __post_init__(self):
        self.index = {(r.wholesale, r.level, r.target_id): r for r in self.rules}


def half_up(num: int, den: int) -> int:
    """round(num / den) with halves away from zero, num >= 0, den > 0."""
    q, r = divmod(num, den)
    return q + (1 if 2 * r >= den else 0)


def rounding_step(rounding: str, exp: int) -> int:
    """The step (in minor units) of the half-up roundings."""
    if rounding == "fen":
        return 1
    if rounding == "jiao":
        return 10 ** (exp - 1) if exp >= 1 else 1
    if rounding == "yuan":
        return 10 ** exp
    raise ValueError(f"unknown rounding {rounding!r}")


def round_price(num: int, den: int, rounding: str, exp: int, floor: int = 0) -> int:
    """The exact amount num/den (minor units) rounded by a declared rule.

    A half-up result below ``floor`` is rounded up to the step instead.
    """
    if rounding == "x9":
        n = -(-num // den)  # up to a whole minor unit first
        return n + (9 - n % 10) % 10
    step = rounding_step(rounding, exp)
    price = half_up(num, den * step) * step
    if price < floor:
        price = -(-num // (den * step)) * step
    return price


def apply_rule(rule: Rule, cost: int, cap_bp: int | None, exp: int) -> int:
    if rule.kind == "percent":
        num, den = cost * (BASIS + rule.value), BASIS
    else:
        num, den = cost + rule.value, 1
    price = round_price(num, den, rule.rounding, exp, floor=cost)
    return clamp(price, cost, cap_bp)


def clamp(price: int, cost: int, cap_bp: int | None) -> int:
    if cap_bp is not None:
        price = min(price, cost + percent_of_floor(cost, cap_bp))
    return max(price, cost)


def discounted(price: int, bp: int) -> int:
    return price - percent_of(price, bp) if bp else price


def category_chain(category_id: int | None, parents: dict[int, int | None]) -> list[int]:
    """The category and its ancestors, nearest first (a cycle stops the walk)."""
    chain: list[int] = []
    while category_id is not None and category_id not in chain:
        chain.append(category_id)
        category_id = parents.get(category_id)
    return chain


def find_rule(level: LevelInput, wholesale: bool, product_id: int,
              categories: Sequence[int]) -> Rule | None:
    index = level.index
    if not index:
        return None
    rule = index.get((wholesale, "product", product_id))
    if rule is not None:
        return rule
    for cid in categories:
        rule = index.get((wholesale, "category", cid))
        if rule is not None:
            return rule
    return index.get((wholesale, "shop", 0))


Prices = tuple[int, int, int]  # (cost, wholesale, retail)


def compute_chain(levels: Sequence[LevelInput], products: Iterable[ProductInput],
                  category_parents: dict[int, int | None]) -> list[dict[int, Prices]]:
    """Every level's price table, master first; ``levels[0]`` is the master."""
    tables: list[dict[int, Prices]] = [{} for _ in levels]
    cat_cache: dict[int | None, list[int]] = {}
    for p in products:
        cats = cat_cache.get(p.category_id)
        if cats is None:
            cats = cat_cache[p.category_id] = category_chain(p.category_id, category_parents)
        exp = exponent(p.currency)
        cost = p.supplier_cost
        for depth, level in enumerate(levels):
            retail_rule = find_rule(level, False, p.id, cats)
            wholesale_rule = find_rule(level, True, p.id, cats)
            cap = level.cap_bp if depth else None
            if depth == 0:
                base_retail, base_wholesale = max(p.retail_price, cost), max(p.wholesale_price,
                                                                              cost)
            else:
                base_retail = base_wholesale = cost
            retail = apply_rule(retail_rule, cost, cap, exp) if retail_rule else base_retail
            wholesale = (apply_rule(wholesale_rule, cost, cap, exp) if wholesale_rule
                         else base_wholesale)
            tables[depth][p.id] = (cost, wholesale, retail)
            cost = wholesale
    return tables


def pick_tier(tiers: Sequence[tuple[int, int, str]], spend: int) -> tuple[int, int, str] | None:
    """The tier (min_spend, discount_bp, name) a customer with this total spend has reached."""
    best = None
    for tier in tiers:
        if tier[0] <= spend and (best is None or (tier[0], tier[1]) > (best[0], best[1])):
            best = tier
    return best


def pick_quantity_bp(discounts: Sequence[tuple[int, int, int]], product_id: int,
                     quantity: int) -> int:
    """Discount (basis points) for ``quantity`` units: the product's own steps first,
    else the shop-wide ones; the highest step reached wins."""
    for target in (product_id, 0):
        steps = [(q, bp) for t, q, bp in discounts if t == target and q <= quantity]
        if steps:
            return max(steps)[1]
    return 0


def customer_price(retail: int, cost: int, tier_bp: int, quantity_bp: int) -> int:
    """The retail price after the tier discount, then the quantity discount; never below cost."""
    return max(discounted(discounted(retail, tier_bp), quantity_bp), cost)
