"""Session hooks that invalidate price tables when what they depend on changes.

Whoever changes a markup rule, a cap, a tier, a quantity discount, a
product's prices or category, the category tree or a shop's place in the
tree, the affected tables are forgotten once the transaction commits (never
before: a rolled-back change must not leave the cache colder or, worse, let a
reader cache the uncommitted state).
"""
from __future__ import annotations

from itertools import chain

from flask import has_app_context
from sqlalchemy import inspect
from sqlalchemy.orm import Session

from kameng.core import txn
from kameng.core.database import listen_once
from kameng.shop.catalog.models import Category, Product
from kameng.shop.pricing.models import CustomerTier, MarkupRule, QuantityDiscount, ShopPricing
from kameng.tenants.models import Tenant

PENDING = "kameng_prices_pending"
CATALOG = "catalog"
SHOP_MODELS = (MarkupRule, ShopPricing, CustomerTier, QuantityDiscount)
PRODUCT_PRICE_ATTRS = ("supplier_cost", "wholesale_price", "retail_price", "category_id",
                       "currency")
TENANT_ATTRS = ("parent_id", "path")


def _changed(obj, attrs) -> bool:
    state = inspect(obj)
    return any(state.attrs[a].history.has_changes() for a in attrs)


class _Stale(set):
    """What a transaction changed (shop ids, CATALOG): forgotten once it commits."""

    def __call__(self) -> None:
        if not self or not has_app_context():
            return
        from kameng.shop.pricing import cache

        pending = set(self)
        if CATALOG in pending:
            cache.invalidate_catalog()
            pending.discard(CATALOG)
        cache.invalidate(pending)


def _stale(session) -> _Stale:
    return txn.after_commit(_Stale(), key=PENDING, session=session)


def _collect(session, _ctx):
    pending = set()
    for obj in chain(session.new, session.dirty, session.deleted):
        is_dirty = obj not in session.new and obj not in session.deleted
        if isinstance(obj, SHOP_MODELS):
            if not is_dirty or session.is_modified(obj):
                pending.add(obj.tenant_id)
        elif isinstance(obj, Product):
            if not is_dirty or _changed(obj, PRODUCT_PRICE_ATTRS):
                pending.add(CATALOG)
        elif isinstance(obj, Category):
            if obj in session.deleted or (is_dirty and _changed(obj, ("parent_id",))):
                pending.add(CATALOG)
        elif isinstance(obj, Tenant):
            if is_dirty and _changed(obj, TENANT_ATTRS) and obj.id is not None:
                pending.add(obj.id)
    if pending:
        _stale(session).update(pending)


def _bulk(state):
    # bulk UPDATE/DELETE statements bypass the flush; be safe and forget everything
    # when they touch prices (a stock-count update of products does not)
    if not (state.is_update or state.is_delete):
        return
    mappers = {m.class_ for m in state.all_mappers}
    if mappers & {MarkupRule, ShopPricing, CustomerTier, QuantityDiscount, Category}:
        _stale(state.session).add(CATALOG)
    elif Product in mappers:
        values = getattr(state.statement, "_values", None)
        names = {getattr(k, "key", getattr(k, "name", k)) for k in (values or {})}
        if state.is_delete or not names or names & set(PRODUCT_PRICE_ATTRS):
            _stale(state.session).add(CATALOG)


def install() -> None:
    listen_once(Session, "after_flush", _collect)
    listen_once(Session, "do_orm_execute", _bulk)
