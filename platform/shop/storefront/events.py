"""Session hooks that bump the storefront's catalog generation when what its pages
show of the catalog changes (``fragments``).

Prices have their own versions (``shop.pricing.cache``); this counter covers the
rest: a product's name, pictures, status, order, fields…, a category, a shop's
own presentation of a product (``ShopProduct``: hidden, renamed, featured). A
product's stock count is left out: it moves with every sale, and the fragments'
short lifetime bounds how stale a stock state may be. The counter moves once the
transaction commits (never before: a rolled-back change must not let a reader keep
the uncommitted state).
"""
from __future__ import annotations

from itertools import chain

from sqlalchemy import inspect
from sqlalchemy.orm import Session

from kameng.core import txn
from kameng.core.database import listen_once
from kameng.shop.catalog.models import Category, Product, ShopProduct

# columns a storefront never shows: the stock count (see above) and timestamps
NOT_SHOWN = frozenset({"stock_available", "created_at", "updated_at"})
MODELS = (Product, Category, ShopProduct)


def _bump() -> None:
    from kameng.shop.storefront.fragments import bump

    bump()


def _shown_change(session, obj) -> bool:
    if obj in session.new or obj in session.deleted:
        return True
    state = inspect(obj)
    return any(attr.history.has_changes() for attr in state.attrs
               if attr.key not in NOT_SHOWN)


def _collect(session, _ctx):
    for obj in chain(session.new, session.dirty, session.deleted):
        if isinstance(obj, MODELS) and _shown_change(session, obj):
            txn.after_commit(_bump, key="kameng_storefront_gen", session=session)
            return


def _bulk(state):
    # bulk UPDATE/DELETE statements bypass the flush: one of the catalog's bumps the
    # counter, unless it sets only the stock count (the stock service's own updates)
    if not (state.is_update or state.is_delete):
        return
    mappers = {m.class_ for m in state.all_mappers}
    if not mappers & set(MODELS):
        return
    values = getattr(state.statement, "_values", None)
    names = {getattr(k, "key", getattr(k, "name", k)) for k in (values or {})}
    if state.is_delete or not names or names - NOT_SHOWN or mappers - {Product}:
        txn.after_commit(_bump, key="kameng_storefront_gen", session=state.session)


def install() -> None:
    listen_once(Session, "after_flush", _collect)
    listen_once(Session, "do_orm_execute", _bulk)
