"""The price chain: what a shop pays, what it charges, and the rules that decide it.

Reading prices (one cached table lookup per shop and request):

- ``price_for(tenant, product, customer=None, quantity=1) -> int`` — the unit
  price this customer pays in this shop for that quantity;
- ``price_list(tenant, customer=None) -> dict[int, int]`` — product id → unit
  retail price (after the customer's tier) for every product;
- ``cost_for(tenant, product)``, ``wholesale_for(tenant, product)``;
- ``chain_prices(tenant, product, quantity=1, customer=None) -> list[ChainLevel]``
  — master first: each level's cost and its price to the next level (the last
  level's price is what the customer pays), for order snapshots and commissions.

Writing rules: ``set_markup``, ``delete_markup``, ``set_child_cap``,
``set_tier``, ``set_quantity_discount`` … each validates, writes and commits;
the session hooks forget the affected price tables after the commit.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass

from sqlalchemy import case, select, update
from sqlalchemy.exc import IntegrityError

from kameng.core.errors import Conflict, InvalidInput, NotFound
from kameng.core.extensions import db
from kameng.core.i18n import lazy_gettext as _l
from kameng.core.money import parse_input_amount
from kameng.core.percent import BASIS, format_percent
from kameng.core.txn import in_own_txn
from kameng.shop.catalog.models import Category, Product
from kameng.shop.catalog.services import (
    catalog_currency,
    get_category,
    get_product,
    product_by_sku,
)
from kameng.shop.pricing import cache, engine
from kameng.shop.pricing.models import (
    KINDS,
    ROUNDINGS,
    CustomerSpend,
    CustomerTier,
    MarkupRule,
    QuantityDiscount,
    ShopPricing,
)
from kameng.tenants.models import Tenant, User

MAX_MARKUP_BP = 1000 * 100  # 1000 %: anything above is a typo
MAX_FIXED_SHARE_BP = 10 ** 12  # a fixed markup on a product that costs nothing


@dataclass(frozen=True, slots=True)
class ChainLevel:
    tenant_id: int
    cost: int
    price: int

    @property
    def margin(self) -> int:
        return self.price - self.cost


# ----- parsing operator input -------------------------------------------------------

def parse_money(text, currency: str, field: str = "amount") -> int:
    return parse_input_amount(text, currency, field)


# ----- looking things up -------------------------------------------------------------

def _tenant(tenant) -> Tenant:
    if isinstance(tenant, Tenant):
        return tenant
    found = db.session.get(Tenant, int(tenant))
    if found is None:
        raise NotFound(_l("no shop with id %(tenant)s", tenant=tenant))
    return found


def _product_id(product) -> int:
    return product.id if isinstance(product, Product) else int(product)


# ----- reading prices ---------------------------------------------------------------

def _row(table: cache.PriceTable, product_id: int) -> engine.Prices:
    row = table.prices.get(product_id)
    if row is None:
        raise NotFound(_l("no product with id %(product_id)s",
                          product_id=product_id), field="product")
    return row


def _user_id(customer) -> int | None:
    if customer is None:
        return None
    return customer.id if isinstance(customer, User) else int(customer)


def _tier_bp(tenant: Tenant, table: cache.PriceTable, customer) -> int:
    if customer is None or not table.tiers:
        return 0
    if isinstance(customer, User) and customer.tenant_id != tenant.id:
        return 0  # a customer of another shop has no tier here
    tier = engine.pick_tier(table.tiers, spend_of(tenant, customer))
    return tier[1] if tier else 0


def tier_discount_bp(tenant, customer=None) -> int:
    """The member-tier discount (basis points) ``customer`` has in this shop; 0 for none
    (a visitor, another shop's customer, a shop without tiers: then no query)."""
    tenant = _tenant(tenant)
    return _tier_bp(tenant, cache.table_for(tenant), customer)


def price_for(tenant, product, customer=None, quantity: int = 1) -> int:
    """The unit price ``customer`` pays for ``quantity`` units of ``product`` in this shop."""
    if int(quantity) < 1:
        raise InvalidInput(_l("quantity must be at least 1"), field="quantity")
    tenant = _tenant(tenant)
    table = cache.table_for(tenant)
    pid = _product_id(product)
    cost, _wholesale, retail = _row(table, pid)
    qty_bp = engine.pick_quantity_bp(table.quantity, pid, int(quantity))
    return engine.customer_price(retail, cost, _tier_bp(tenant, table, customer), qty_bp)


def price_list(tenant, customer=None) -> dict[int, int]:
    """Product id → unit retail price (with the customer's tier) for every product."""
    tenant = _tenant(tenant)
    table = cache.table_for(tenant)
    bp = _tier_bp(tenant, table, customer)
    if not bp:
        return dict(table.retail())
    return {pid: engine.customer_price(row[2], row[0], bp, 0)
            for pid, row in table.prices.items()}


@dataclass(frozen=True, slots=True)
class DiscountStep:
    """One line of a product page's discount table: from ``quantity`` units (or at a
    tier), ``bp`` off, and the unit price that makes."""

    quantity: int
    bp: int
    unit_price: int
    name: str = ""
    min_spend: int = 0


@dataclass(frozen=True, slots=True)
class ProductDiscounts:
    """What a product page says about discounts (``product_discounts``)."""

    base_price: int                 # one unit, no tier
    quantity_steps: list[DiscountStep]  # this customer's unit price from each step on
    tiers: list[DiscountStep]       # one unit's price at each tier
    tier_name: str | None           # the tier this customer has reached
    tier_bp: int

    def __bool__(self) -> bool:
        return bool(self.quantity_steps or self.tiers)


def product_discounts(tenant, product, customer=None) -> ProductDiscounts:
    """The quantity steps that apply to ``product`` in this shop (its own, else the
    shop-wide ones) and the shop's tiers, each with the unit price it gives — from the
    arithmetic ``price_for`` uses, so the page states what checkout charges: the tier
    first, then the quantity step on that price, never below cost."""
    tenant = _tenant(tenant)
    table = cache.table_for(tenant)
    pid = _product_id(product)
    cost, _wholesale, retail = _row(table, pid)
    tier_bp = _tier_bp(tenant, table, customer)
    own = [(q, bp) for t, q, bp in table.quantity if t == pid]
    shared = [(q, bp) for t, q, bp in table.quantity if t == 0]
    steps = [DiscountStep(q, engine.pick_quantity_bp(table.quantity, pid, q),
                          engine.customer_price(retail, cost, tier_bp,
                                                engine.pick_quantity_bp(table.quantity, pid, q)))
             for q, _bp in sorted(own or shared)]
    tiers = [DiscountStep(1, bp, engine.customer_price(retail, cost, bp, 0), name=name,
                          min_spend=min_spend)
             for min_spend, bp, name in sorted(table.tiers)]
    reached = None
    if customer is not None and table.tiers and not (
            isinstance(customer, User) and customer.tenant_id != tenant.id):
        picked = engine.pick_tier(table.tiers, spend_of(tenant, customer))
        reached = picked[2] if picked else None
    return ProductDiscounts(engine.customer_price(retail, cost, 0, 0), steps, tiers, reached,
                            tier_bp)


def cost_for(tenant, product) -> int:
    """What this shop pays for one unit (its parent's price to it)."""
    return _row(cache.table_for(_tenant(tenant)), _product_id(product))[0]


def wholesale_for(tenant, product) -> int:
    """This shop's price for one unit to its own sub-shops."""
    return _row(cache.table_for(_tenant(tenant)), _product_id(product))[1]


def chain_prices(tenant, product, quantity: int = 1, customer=None) -> list[ChainLevel]:
    """Each shop from the master down to ``tenant``: its unit cost and unit price.

    Every level but the last sells to the next at its wholesale price; the last
    sells to the customer at ``price_for(tenant, product, customer, quantity)``.
    The master's cost is the supplier cost.
    """
    tenant = _tenant(tenant)
    pid = _product_id(product)
    ids = cache.chain_ids(tenant)
    cache.table_for_chain(ids)   # the whole chain first: its ancestors' versions come with it
    levels = []
    for depth, tid in enumerate(ids[:-1]):
        cost, wholesale, _retail = _row(cache.table_for_chain(ids[:depth + 1]), pid)
        levels.append(ChainLevel(tid, cost, wholesale))
    levels.append(ChainLevel(tenant.id, cost_for(tenant, pid),
                             price_for(tenant, pid, customer, quantity)))
    return levels


def price_rows(tenant, sku: str | None = None) -> list[dict]:
    """Per product (by SKU): cost, wholesale, retail price and margin, in minor units."""
    tenant = _tenant(tenant)
    table = cache.table_for(tenant)
    stmt = select(Product.id, Product.sku, Product.name, Product.currency, Product.status)
    if sku is not None:
        product_by_sku(sku)
        stmt = stmt.where(Product.sku == sku.strip())
    rows = []
    for pid, psku, name, currency, status in db.session.execute(stmt.order_by(Product.sku)):
        cost, wholesale, price = _row(table, pid)
        rows.append({"sku": psku, "name": name, "currency": currency, "cost": cost,
                     "wholesale": wholesale, "price": price, "margin": price - cost,
                     "product_id": pid, "status": status})
    return rows


# ----- markup rules -----------------------------------------------------------------

def _rule_target(level: str, category_id, product_id) -> tuple[int | None, int | None, int]:
    if level == "shop":
        if category_id or product_id:
            raise InvalidInput(_l("a shop-level rule names no product or category"), field="level")
        return None, None, 0
    if level == "category":
        if not category_id or product_id:
            raise InvalidInput(_l("a category rule needs a category (and no product)"),
                               field="category")
        get_category(int(category_id), field="category")
        return int(category_id), None, int(category_id)
    if level == "product":
        if not product_id or category_id:
            raise InvalidInput(_l("a product rule needs a product (and no category)"),
                               field="sku")
        get_product(int(product_id), field="sku")
        return None, int(product_id), int(product_id)
    raise InvalidInput(_l("level must be shop, category or product"), field="level")


def validate_rule(*, kind: str, value: int, level: str = "shop", category_id=None,
                  product_id=None, wholesale: bool = False, rounding: str = "fen"):
    """Check a proposed rule; returns (engine rule, category_id, product_id)."""
    if kind not in KINDS:
        raise InvalidInput(_l("kind must be percent or fixed"), field="kind")
    if rounding not in ROUNDINGS:
        raise InvalidInput(_l("rounding must be one of %(choices)s",
                              choices=', '.join(ROUNDINGS)), field="rounding")
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise InvalidInput(_l("the markup must be a whole number of minor units or basis"
                              " points, not negative"), field="value")
    if kind == "percent" and value > MAX_MARKUP_BP:
        raise InvalidInput(_l("a markup above %(maximum)s%% is refused",
                              maximum=format_percent(MAX_MARKUP_BP)),
                           field="value")
    category_id, product_id, target = _rule_target(level, category_id, product_id)
    rule = engine.Rule(level, target, kind, value, bool(wholesale), rounding)
    return rule, category_id, product_id


def set_markup(tenant, *, kind: str, value: int, level: str = "shop", category_id=None,
               product_id=None, wholesale: bool = False, rounding: str = "fen") -> MarkupRule:
    """Create or replace the shop's rule for that target (one per target and purpose)."""
    row = set_markup_in_txn(tenant, kind=kind, value=value, level=level,
                            category_id=category_id, product_id=product_id,
                            wholesale=wholesale, rounding=rounding)
    _commit("a rule for that target was just added; try again")
    return row


def set_markup_in_txn(tenant, *, kind: str, value: int, level: str = "shop", category_id=None,
                      product_id=None, wholesale: bool = False,
                      rounding: str = "fen") -> MarkupRule:
    tenant = _tenant(tenant)
    rule, category_id, product_id = validate_rule(
        kind=kind, value=value, level=level, category_id=category_id, product_id=product_id,
        wholesale=wholesale, rounding=rounding)
    row = db.session.scalar(select(MarkupRule).where(
        MarkupRule.tenant_id == tenant.id, MarkupRule.wholesale == rule.wholesale,
        MarkupRule.level == rule.level, MarkupRule.target_id == rule.target_id)
        .execution_options(all_tenants=True))
    if row is None:
        row = MarkupRule(tenant_id=tenant.id, level=rule.level, target_id=rule.target_id,
                         category_id=category_id, product_id=product_id,
                         wholesale=rule.wholesale)
        db.session.add(row)
    row.kind, row.value, row.rounding = rule.kind, rule.value, rule.rounding
    return row


def fixed_markup_share(rule: MarkupRule) -> tuple | None:
    """A fixed rule as the plan guard sees it: ``("markup", bp, detail)``.

    ``bp`` is the share of cost (basis points, rounded up) the fixed amount adds
    to the cheapest product the rule covers — so a plan capping markups at 20 %
    refuses a fixed ¥3.00 on a product that costs this shop ¥5.00 (60 %), the
    same arithmetic the engine uses for a cap (``floor(cost × cap)``). A product
    costing nothing has no room for any fixed markup under a cap. None when the
    rule covers no product or adds nothing.
    """
    from kameng.core.money import format_plain

    if not rule.value or rule.tenant_id is None:
        return None
    stmt = select(Product.id, Product.sku, Product.category_id, Product.currency)
    if rule.level == "product":
        stmt = stmt.where(Product.id == rule.product_id)
    rows = db.session.execute(stmt).all()
    if rule.level == "category":
        parents = dict(db.session.execute(select(Category.id, Category.parent_id)).all())
        rows = [r for r in rows
                if rule.category_id in engine.category_chain(r.category_id, parents)]
    if not rows:
        return None
    prices = cache.table_for(_tenant(rule.tenant_id)).prices
    costs = [(prices[r.id][0], r.sku, r.currency) for r in rows if r.id in prices]
    if not costs:
        return None
    cost, sku, currency = min(costs)
    bp = -(-rule.value * BASIS // cost) if cost > 0 else MAX_FIXED_SHARE_BP
    detail = _l("a fixed %(amount)s is %(share)s%% of the cost of %(sku)s (%(cost)s)",
                amount=format_plain(rule.value, currency),
                share=format_percent(bp) if cost > 0 else "∞", sku=sku,
                cost=format_plain(cost, currency))
    return ("markup", bp, detail)


def _delete_own(model, tenant, row_id: int, what) -> None:
    """Delete one row of this shop by id; another shop's id is not found."""
    tenant = _tenant(tenant)
    row = db.session.scalar(select(model).where(model.id == int(row_id),
                                                model.tenant_id == tenant.id)
                            .execution_options(all_tenants=True))
    if row is None:
        raise NotFound(_l("no %(what)s %(row_id)s in this shop", what=what, row_id=row_id))
    db.session.delete(row)
    db.session.commit()


def delete_markup(tenant, rule_id: int) -> None:
    _delete_own(MarkupRule, tenant, rule_id, _l("markup rule"))


def list_markups(tenant) -> list[MarkupRule]:
    tenant = _tenant(tenant)
    order = case({"product": 0, "category": 1, "shop": 2}, value=MarkupRule.level)
    return list(db.session.scalars(
        select(MarkupRule).where(MarkupRule.tenant_id == tenant.id)
        .order_by(MarkupRule.wholesale, order, MarkupRule.id)
        .execution_options(all_tenants=True)))


def describe_rule(rule) -> str:
    """'+12.5% (round x9)' / '+¥2.00' style text for lists."""
    from kameng.core.money import format_plain

    amount = (f"+{format_percent(rule.value)}%" if rule.kind == "percent"
              else f"+{format_plain(rule.value, catalog_currency())}")
    return amount if rule.rounding == "fen" else f"{amount} (round {rule.rounding})"


def rule_target_label(rule) -> str:
    if rule.level == "product":
        product = db.session.get(Product, rule.product_id)
        return f"product {product.sku}" if product else "product ?"
    if rule.level == "category":
        category = db.session.get(Category, rule.category_id)
        return f"category {category.name}" if category else "category ?"
    return "whole shop"


# ----- the cap a shop puts on its sub-shops ---------------------------------------------

def _settings(tenant_id: int) -> ShopPricing | None:
    return db.session.scalar(select(ShopPricing).where(ShopPricing.tenant_id == tenant_id)
                             .execution_options(all_tenants=True))


def child_cap(tenant) -> int | None:
    """The cap (basis points) this shop puts on its direct sub-shops' markup."""
    row = _settings(_tenant(tenant).id)
    return row.child_max_markup_bp if row else None


def cap_on(tenant) -> int | None:
    """The cap this shop's parent puts on its markup."""
    tenant = _tenant(tenant)
    return child_cap(tenant.parent_id) if tenant.parent_id else None


def set_child_cap(tenant, max_bp: int | None) -> None:
    """Cap the markup of this shop's direct sub-shops at ``max_bp`` of their cost (None: no cap)."""
    tenant = _tenant(tenant)
    if max_bp is not None and (not isinstance(max_bp, int) or max_bp < 0):
        raise InvalidInput(_l("the cap must be a percentage of at least 0"), field="max_percent")
    row = _settings(tenant.id)
    if row is None:
        row = ShopPricing(tenant_id=tenant.id)
        db.session.add(row)
    row.child_max_markup_bp = max_bp
    _commit("the settings were just changed; try again")


# ----- customer tiers and spend ------------------------------------------------------

def set_tier(tenant, name: str, discount_bp: int, min_spend: int) -> CustomerTier:
    tenant = _tenant(tenant)
    name = (name or "").strip()
    if not name or len(name) > 60:
        raise InvalidInput(_l("a tier needs a name (at most 60 characters)"), field="name")
    if not 0 <= discount_bp <= BASIS:
        raise InvalidInput(_l("the discount must be between 0 and 100%"), field="discount")
    if min_spend < 0:
        raise InvalidInput(_l("the minimum spend must not be negative"), field="min_spend")
    row = db.session.scalar(select(CustomerTier).where(
        CustomerTier.tenant_id == tenant.id, CustomerTier.name == name)
        .execution_options(all_tenants=True))
    if row is None:
        row = CustomerTier(tenant_id=tenant.id, name=name)
        db.session.add(row)
    row.discount_bp, row.min_spend = discount_bp, min_spend
    _commit(f"tier {name!r} was just added; try again")
    return row


def delete_tier(tenant, name: str) -> None:
    tenant = _tenant(tenant)
    row = db.session.scalar(select(CustomerTier).where(
        CustomerTier.tenant_id == tenant.id, CustomerTier.name == (name or "").strip())
        .execution_options(all_tenants=True))
    if row is None:
        raise NotFound(_l("no tier named %(name)r in this shop", name=name))
    db.session.delete(row)
    db.session.commit()


def list_tiers(tenant) -> list[CustomerTier]:
    return list(db.session.scalars(
        select(CustomerTier).where(CustomerTier.tenant_id == _tenant(tenant).id)
        .order_by(CustomerTier.min_spend, CustomerTier.id).execution_options(all_tenants=True)))


def spend_of(tenant, customer) -> int:
    """The customer's total spend in this shop (memoised for the request)."""
    from flask import g

    tenant_id = _tenant(tenant).id if not isinstance(tenant, int) else tenant
    uid = _user_id(customer)
    memo = g.setdefault("_kameng_spend", {})
    key = (tenant_id, uid)
    if key not in memo:
        memo[key] = db.session.scalar(select(CustomerSpend.total).where(
            CustomerSpend.tenant_id == tenant_id, CustomerSpend.user_id == uid)
            .execution_options(all_tenants=True)) or 0
    return memo[key]


def tier_for(tenant, customer) -> CustomerTier | None:
    """The tier the customer has reached in this shop, or None."""
    tenant = _tenant(tenant)
    if customer is None:
        return None
    spend = spend_of(tenant, customer)
    reached = [t for t in list_tiers(tenant) if t.min_spend <= spend]
    return max(reached, key=lambda t: (t.min_spend, t.discount_bp)) if reached else None


def record_spend(tenant, user, amount: int) -> int:
    """``record_spend_in_txn`` as a transaction of its own."""
    return in_own_txn(record_spend_in_txn, tenant, user, amount)


def record_spend_in_txn(tenant, user, amount: int) -> int:
    """Add ``amount`` (minor units; negative for a refund) to the customer's total spend.

    Atomic under concurrency (one guarded UPDATE, an INSERT only for the first
    purchase). In the caller's transaction (e.g. the order's), so the spend and
    the order commit together. Returns the new total.
    """
    # an id is taken as is (the delivering transaction knows it); a row is checked
    tid = tenant if isinstance(tenant, int) else _tenant(tenant).id
    uid = _user_id(user)
    if not isinstance(amount, int) or isinstance(amount, bool):
        raise InvalidInput(_l("amount must be an integer number of minor units"), field="amount")
    new_total = CustomerSpend.total + amount
    stmt = (update(CustomerSpend)
            .where(CustomerSpend.tenant_id == tid, CustomerSpend.user_id == uid)
            .values(total=case((new_total < 0, 0), else_=new_total))
            .returning(CustomerSpend.total)
            .execution_options(all_tenants=True, synchronize_session=False))
    total = db.session.execute(stmt).scalar()
    if total is None:
        try:
            with db.session.begin_nested():
                db.session.add(CustomerSpend(tenant_id=tid, user_id=uid,
                                             total=max(amount, 0)))
            total = max(amount, 0)
        except IntegrityError:
            # a concurrent first purchase inserted the row
            total = db.session.execute(stmt).scalar()
    from flask import g

    g.pop("_kameng_spend", None)
    return total


def record_spend_many_in_txn(spent: dict[tuple[int, int], int]) -> None:
    """``record_spend_in_txn`` for several customers at once (a delivery batch):
    ``{(shop id, customer id): amount}``, amounts >= 0. On PostgreSQL one statement
    whatever the number of customers, a first purchase included (an INSERT … ON
    CONFLICT DO UPDATE, rows taken in (shop, customer) order, so two batches sharing
    customers lock them in the same order and cannot deadlock; no UPDATE that misses,
    then a SAVEPOINT and an INSERT); elsewhere one customer at a time, in that order."""
    moves = sorted((int(t), int(u), amount) for (t, u), amount in spent.items())
    for _t, _u, amount in moves:
        if not isinstance(amount, int) or isinstance(amount, bool) or amount < 0:
            raise InvalidInput(_l("amount must be an integer number of minor units"),
                               field="amount")
    if not moves:
        return
    if db.session.get_bind().dialect.name == "postgresql":
        db.session.execute(_spend_statement(), {"tenant_ids": [m[0] for m in moves],
                                                "user_ids": [m[1] for m in moves],
                                                "amounts": [m[2] for m in moves]})
        from flask import g

        g.pop("_kameng_spend", None)
        return
    for tenant_id, user_id, amount in moves:
        record_spend_in_txn(tenant_id, user_id, amount)


@functools.cache
def _spend_statement():
    from sqlalchemy import BigInteger, bindparam, func
    from sqlalchemy.dialects.postgresql import ARRAY, insert

    table = CustomerSpend.__table__
    given = func.unnest(bindparam("tenant_ids", type_=ARRAY(BigInteger)),
                        bindparam("user_ids", type_=ARRAY(BigInteger)),
                        bindparam("amounts", type_=ARRAY(BigInteger))
                        ).table_valued("tenant_id", "user_id", "total", with_ordinality="n"
                                       ).render_derived(name="given")
    stmt = insert(table).from_select(
        ["tenant_id", "user_id", "total"],
        select(given.c.tenant_id, given.c.user_id, given.c.total).order_by(given.c.n))
    return stmt.on_conflict_do_update(index_elements=[table.c.tenant_id, table.c.user_id],
                                      set_={"total": table.c.total + stmt.excluded.total})


# ----- quantity discounts ------------------------------------------------------------

def set_quantity_discount(tenant, min_quantity: int, discount_bp: int,
                          product_id: int | None = None) -> QuantityDiscount:
    """From ``min_quantity`` units, ``discount_bp`` off (one product, or every product)."""
    tenant = _tenant(tenant)
    if not isinstance(min_quantity, int) or min_quantity < 1:
        raise InvalidInput(_l("--from must be at least 1 unit"), field="from")
    if not 0 <= discount_bp <= BASIS:
        raise InvalidInput(_l("the discount must be between 0 and 100%"), field="percent")
    if product_id is not None:
        get_product(int(product_id), field="sku")
    target = int(product_id) if product_id else 0
    row = db.session.scalar(select(QuantityDiscount).where(
        QuantityDiscount.tenant_id == tenant.id, QuantityDiscount.target_id == target,
        QuantityDiscount.min_quantity == min_quantity).execution_options(all_tenants=True))
    if row is None:
        row = QuantityDiscount(tenant_id=tenant.id, target_id=target, product_id=product_id,
                               min_quantity=min_quantity)
        db.session.add(row)
    row.discount_bp = discount_bp
    _commit("that quantity step was just added; try again")
    return row


def delete_quantity_discount(tenant, discount_id: int) -> None:
    _delete_own(QuantityDiscount, tenant, discount_id, _l("quantity discount"))


def list_quantity_discounts(tenant) -> list[QuantityDiscount]:
    return list(db.session.scalars(
        select(QuantityDiscount).where(QuantityDiscount.tenant_id == _tenant(tenant).id)
        .order_by(QuantityDiscount.target_id, QuantityDiscount.min_quantity)
        .execution_options(all_tenants=True)))


# ----- live preview ---------------------------------------------------------------------

def preview_rule(tenant, **proposed) -> list[dict]:
    """The shop's price table as it would be with ``proposed`` rule saved (nothing is written).

    Rows: sku, name, cost, price (now), new_price, wholesale (now), new_wholesale, new_margin.
    """
    tenant = _tenant(tenant)
    rule, _cat, _prod = validate_rule(**proposed)
    ids = cache.chain_ids(tenant)
    inputs = cache.load_inputs(ids)
    last = inputs.levels[-1]
    rules = {k: r for k, r in last.index.items()}
    rules[(rule.wholesale, rule.level, rule.target_id)] = rule
    inputs.levels[-1] = engine.LevelInput(last.tenant_id, list(rules.values()), last.cap_bp)
    after = engine.compute_chain(inputs.levels, inputs.products, inputs.category_parents)[-1]
    rows = []
    for row in price_rows(tenant):
        cost, new_wholesale, new_price = after[row["product_id"]]
        rows.append({"sku": row["sku"], "name": row["name"], "currency": row["currency"],
                     "cost": cost, "price": row["price"], "new_price": new_price,
                     "wholesale": row["wholesale"], "new_wholesale": new_wholesale,
                     "new_margin": new_price - cost})
    return rows


def _commit(conflict_message: str) -> None:
    try:
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        raise Conflict(conflict_message) from None


def customer_tier(tenant, customer) -> tuple[str, int] | None:
    """(name, discount_bp) of the member tier the customer has reached here, or None."""
    tenant = _tenant(tenant)
    tier = engine.pick_tier(cache.table_for(tenant).tiers, spend_of(tenant, customer))
    return (tier[2], tier[1]) if tier else None
