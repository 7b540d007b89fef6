"""Each shop's whole price table: computed once for the chain, cached per tenant.

Lookups go, fastest first, to:

1. a per-request memo in ``flask.g``;
2. a small per-process map keyed by (tenant id, version);
3. Redis, key ``kameng:prices:table:<tenant id>``, whose value carries the
   version it was computed for;
4. the database: the whole chain (master → this shop) in a few queries, and
   every level's table is stored on the way.

The *version* of a shop's table is built from generation counters in Redis
(read with the request's other counters in one round trip: ``kameng.core.generations``):
one for the catalog and one per shop of its chain, e.g.
``8812|1/7/42|3.0.5``. A change to a shop's rules bumps that shop's counter,
which changes the version of the shop **and of every descendant** (their
versions contain it) in one O(1) write: no scan of the tree, and no race with
a table being computed meanwhile (a table computed from old rows is stored
under the old version, which nobody asks for any more). A change to product
prices or the category tree bumps the catalog counter (every shop). Counters
start at a random value, so one lost with Redis's data (a flush, an eviction)
comes back as a value no table was stored under, and a stale per-process
entry can never match again.

Changes are noticed by the session hooks in ``kameng.shop.pricing.events``;
code that changes prices with bulk SQL the ORM does not see calls
``invalidate_catalog()`` or ``invalidate(tenant_ids)`` itself.
"""
from __future__ import annotations

import json
import secrets
import threading
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass, field

from flask import current_app, g, has_app_context
from sqlalchemy import select

from kameng.core import generations
from kameng.core.extensions import db, redis_conn
from kameng.shop.catalog.models import Category, Product
from kameng.shop.pricing import engine
from kameng.shop.pricing.models import CustomerTier, MarkupRule, QuantityDiscount, ShopPricing

PREFIX = "kameng:prices:"
CATALOG_GEN = PREFIX + "gen:catalog"
# what the storefront shows of the catalog besides prices (names, pictures, order…):
# read in the same round trip as the price versions, for the storefront's fragments
SHOWN_GEN = PREFIX + "gen:shown"
TTL_SECONDS = 24 * 3600
LOCAL_MAX = 512


def gen_key(tenant_id: int) -> str:
    return f"{PREFIX}gen:{int(tenant_id)}"


def table_key(tenant_id: int) -> str:
    return f"{PREFIX}table:{int(tenant_id)}"


@dataclass
class PriceTable:
    """One shop's prices for every product, plus its tiers and quantity discounts."""

    tenant_id: int
    version: str
    prices: dict[int, engine.Prices]                     # product id → (cost, wholesale, retail)
    tiers: list[tuple[int, int, str]] = field(default_factory=list)   # (min_spend, bp, name)
    quantity: list[tuple[int, int, int]] = field(default_factory=list)  # (product|0, from, bp)
    _retail: dict[int, int] | None = field(default=None, repr=False)

    def retail(self) -> dict[int, int]:
        if self._retail is None:
            self._retail = {pid: row[2] for pid, row in self.prices.items()}
        return self._retail

    def dumps(self) -> str:
        return json.dumps({"t": self.tenant_id, "v": self.version,
                           "p": [[pid, *row] for pid, row in self.prices.items()],
                           "tiers": self.tiers, "qty": self.quantity},
                          separators=(",", ":"), ensure_ascii=False)

    @classmethod
    def loads(cls, raw: bytes | str) -> PriceTable:
        data = json.loads(raw)
        return cls(tenant_id=data["t"], version=data["v"],
                   prices={row[0]: (row[1], row[2], row[3]) for row in data["p"]},
                   tiers=[tuple(t) for t in data["tiers"]],
                   quantity=[tuple(q) for q in data["qty"]])


# ----- versions and invalidation -------------------------------------------------

# bumped by every invalidation in this process, so a per-request memo taken
# before a change made by the same process is not reused after it
_local_epoch = 0
_lock = threading.Lock()


def chain_ids(tenant) -> list[int]:
    ids = [int(x) for x in (tenant.path or "").strip("/").split("/") if x]
    return ids if ids and ids[-1] == tenant.id else [*tenant.ancestor_ids, tenant.id]


def _versions(r, ids: list[int]) -> list[str]:
    """The version of each level's table, master first. The catalog's shown counter
    (``SHOWN_GEN``) is read with them, in the request's one read of every counter it
    needs (``kameng.core.generations``), for ``shown_generation``."""
    keys = [CATALOG_GEN, *(gen_key(i) for i in ids), SHOWN_GEN]
    values = generations.read_many(keys)
    missing = [k for k, v in zip(keys, values, strict=True) if v is None]
    if missing:
        # seeded at random, never 0: a counter lost with Redis data (flush, eviction)
        # comes back as a value no table was ever stored under
        with r.pipeline(transaction=False) as pipe:
            for key in missing:
                pipe.set(key, secrets.randbits(60), nx=True)
            pipe.execute()
        generations.forget(missing)
        values = generations.read_many(keys)
    catalog = values[0].decode()
    gens = [v.decode() for v in values[1:-1]]
    return [f"{catalog}|{'/'.join(map(str, ids[:k + 1]))}|{'.'.join(gens[:k + 1])}"
            for k in range(len(ids))]


def _chain_versions(memo: dict, r, ids: list[int]) -> list[str]:
    """``_versions`` once per request: an ancestor's versions are the first ones of
    its descendant's chain, so a chain read after a longer one costs no round trip."""
    known = memo.get("_versions")
    if known is not None and known[0][:len(ids)] == tuple(ids):
        return known[1][:len(ids)]
    versions = _versions(r, ids)
    if known is None or len(ids) > len(known[0]):
        memo["_versions"] = (tuple(ids), versions)
    return versions


def invalidate(tenant_ids: Iterable[int]) -> None:
    """Forget the price tables of these shops and of all their descendants."""
    ids = sorted({int(t) for t in tenant_ids})
    if not ids:
        return
    r = redis_conn.get()
    with r.pipeline(transaction=False) as pipe:
        for tid in ids:
            pipe.incr(gen_key(tid))
        pipe.execute()
    _forget_local([gen_key(tid) for tid in ids])


def shown_generation() -> str:
    """The catalog's shown counter (``SHOWN_GEN``): the storefront keys what it keeps of
    the catalog on it. Asked after the shop's ``table_for``, it is the value read in the
    same round trip as the price versions."""
    raw = generations.read(SHOWN_GEN)
    return raw.decode() if raw is not None else "0"


def bump_shown() -> None:
    """The storefront's view of the catalog changed (no price did): see ``SHOWN_GEN``."""
    redis_conn.get().incr(SHOWN_GEN)
    _forget_local([SHOWN_GEN])


def invalidate_catalog() -> None:
    """Forget every shop's price table (product prices or the category tree changed)."""
    redis_conn.get().incr(CATALOG_GEN)
    _forget_local([CATALOG_GEN])


def _forget_local(keys: list[str]) -> None:
    global _local_epoch
    with _lock:
        _local_epoch += 1
    if has_app_context():
        g.pop("_kameng_price_tables", None)
    generations.forget(keys)   # the rest of this request reads them again


# ----- lookup --------------------------------------------------------------------

def _local_map() -> OrderedDict:
    return current_app.extensions.setdefault("kameng.prices.local", OrderedDict())


def _memo() -> dict:
    memo = g.get("_kameng_price_tables")
    if memo is None or memo.get("_epoch") != _local_epoch:
        memo = g._kameng_price_tables = {"_epoch": _local_epoch}
    return memo


def table_for(tenant) -> PriceTable:
    """The shop's whole price table: one cached lookup."""
    return table_for_chain(chain_ids(tenant))


def table_for_chain(ids: list[int]) -> PriceTable:
    """The price table of the last shop of ``ids`` (its chain, master first): an
    ancestor's table is had without reading the ancestor's row."""
    memo = _memo()
    tenant_id = ids[-1]
    table = memo.get(tenant_id)
    if table is not None:
        return table
    r = redis_conn.get()
    versions = _chain_versions(memo, r, ids)
    version = versions[-1]
    local = _local_map()
    key = (tenant_id, version)
    with _lock:
        table = local.get(key)
        if table is not None:
            local.move_to_end(key)
    if table is None:
        raw = r.get(table_key(tenant_id))
        if raw is not None:
            cached = PriceTable.loads(raw)
            if cached.version == version:
                table = cached
    if table is None:
        tables = compute_tables(ids, versions)
        with r.pipeline(transaction=False) as pipe:
            for t in tables:
                pipe.set(table_key(t.tenant_id), t.dumps(), ex=TTL_SECONDS)
            pipe.execute()
        table = tables[-1]
    with _lock:
        local[key] = table
        while len(local) > LOCAL_MAX:
            local.popitem(last=False)
    memo[tenant_id] = table
    return table


# ----- computing from the database -------------------------------------------------

@dataclass
class ChainInputs:
    ids: list[int]
    levels: list[engine.LevelInput]
    products: list[engine.ProductInput]
    category_parents: dict[int, int | None]
    tiers: dict[int, list[tuple[int, int, str]]]
    quantity: dict[int, list[tuple[int, int, int]]]


def _rows(stmt):
    return db.session.execute(stmt.execution_options(all_tenants=True)).all()


def load_inputs(ids: list[int]) -> ChainInputs:
    """Everything the chain's prices depend on, in six queries."""
    products = [engine.ProductInput(*row) for row in _rows(
        select(Product.id, Product.category_id, Product.supplier_cost, Product.wholesale_price,
               Product.retail_price, Product.currency).order_by(Product.id))]
    parents = dict(_rows(select(Category.id, Category.parent_id)))
    rules: dict[int, list[engine.Rule]] = {tid: [] for tid in ids}
    for row in _rows(select(MarkupRule.tenant_id, MarkupRule.level, MarkupRule.target_id,
                            MarkupRule.kind, MarkupRule.value, MarkupRule.wholesale,
                            MarkupRule.rounding).where(MarkupRule.tenant_id.in_(ids))):
        rules[row[0]].append(engine.Rule(*row[1:]))
    caps = dict(_rows(select(ShopPricing.tenant_id, ShopPricing.child_max_markup_bp)
                      .where(ShopPricing.tenant_id.in_(ids))))
    tiers: dict[int, list] = {tid: [] for tid in ids}
    for tid, min_spend, bp, name in _rows(
            select(CustomerTier.tenant_id, CustomerTier.min_spend, CustomerTier.discount_bp,
                   CustomerTier.name).where(CustomerTier.tenant_id.in_(ids))
            .order_by(CustomerTier.min_spend, CustomerTier.id)):
        tiers[tid].append((min_spend, bp, name))
    quantity: dict[int, list] = {tid: [] for tid in ids}
    for tid, target, from_q, bp in _rows(
            select(QuantityDiscount.tenant_id, QuantityDiscount.target_id,
                   QuantityDiscount.min_quantity, QuantityDiscount.discount_bp)
            .where(QuantityDiscount.tenant_id.in_(ids))
            .order_by(QuantityDiscount.min_quantity)):
        quantity[tid].append((target, from_q, bp))
    levels = [engine.LevelInput(tid, rules[tid], caps.get(ids[k - 1]) if k else None)
              for k, tid in enumerate(ids)]
    return ChainInputs(ids, levels, products, parents, tiers, quantity)


def tables_from_inputs(inputs: ChainInputs, versions: list[str]) -> list[PriceTable]:
    computed = engine.compute_chain(inputs.levels, inputs.products, inputs.category_parents)
    return [PriceTable(tid, versions[k], computed[k], inputs.tiers[tid], inputs.quantity[tid])
            for k, tid in enumerate(inputs.ids)]


def compute_tables(ids: list[int], versions: list[str]) -> list[PriceTable]:
    return tables_from_inputs(load_inputs(ids), versions)


def table_version(tenant) -> str:
    """The current version of the shop's price table (changes with any rule or price
    on its chain); lets callers key their own caches on prices."""
    return _versions(redis_conn.get(), chain_ids(tenant))[-1]
