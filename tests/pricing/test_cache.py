"""Price tables are cached per tenant and forgotten when anything on the chain changes."""
from __future__ import annotations

from contextlib import contextmanager

import pytest
from flask import current_app, g
from sqlalchemy import event, text, update

from kameng.core.extensions import db
from kameng.core.models import utcnow
from kameng.shop.catalog.models import Product
from kameng.shop.pricing import cache
from kameng.shop.pricing import services as pricing
from tests.pricing.helpers import chain, product


def as_another_process(shop, p=None):
    """Look the price up as a fresh worker would: no request memo, no process map."""
    g.pop("_kameng_price_tables", None)
    current_app.extensions.pop("kameng.prices.local", None)
    if p is None:
        return pricing.price_list(shop)
    return pricing.price_for(shop, p)


@contextmanager
def counting_queries():
    statements: list[str] = []

    def before(_conn, _cursor, statement, *_args):
        statements.append(statement)

    event.listen(db.engine, "before_cursor_execute", before)
    try:
        yield statements
    finally:
        event.remove(db.engine, "before_cursor_execute", before)


@pytest.mark.both
def test_a_price_list_is_one_cached_lookup_not_a_query_per_product(app):
    _master, _s1, s2 = chain(2)
    for i in range(30):
        product(f"P{i:02}", 100, 200, 300)
    db.session.expire_all()
    with counting_queries() as cold:
        as_another_process(s2)
    assert len(cold) <= 8          # the whole chain, whatever the number of products
    with counting_queries() as warm:
        table = as_another_process(s2)       # from Redis
        again = pricing.price_list(s2)       # from the request memo
        one = pricing.price_for(s2, next(iter(table)))
    assert warm == [] and table == again and one == 200


@pytest.mark.both
def test_a_rule_change_at_an_ancestor_reaches_every_descendant(app):
    master, s1, s2, s3 = chain(3)
    p = product("A", 800, 1000, 1200)
    assert [as_another_process(s, p) for s in (master, s1, s2, s3)] == [1200, 1000, 1000, 1000]

    pricing.set_markup(s1, kind="percent", value=1000, wholesale=True)
    assert [as_another_process(s, p) for s in (master, s1, s2, s3)] == [1200, 1000, 1100, 1100]
    pricing.set_child_cap(master, 500)      # caps s1's price to s2 at cost + 5 %
    assert [as_another_process(s, p) for s in (s1, s2, s3)] == [1000, 1050, 1050]
    pricing.set_markup(master, kind="fixed", value=700, wholesale=True)
    assert [as_another_process(s, p) for s in (master, s1, s2, s3)] == [1200, 1500, 1575, 1575]


@pytest.mark.both
def test_the_cache_really_serves_until_invalidated(app):
    master, s1, s2 = chain(2)
    p = product("A", 800, 1000, 1200)
    assert as_another_process(s2, p) == 1000
    # a change the ORM hooks cannot see (raw SQL) is not noticed …
    db.session.execute(text(
        "INSERT INTO markup_rules (tenant_id, level, target_id, kind, value, wholesale,"
        " rounding, created_at) VALUES (:t, 'shop', 0, 'fixed', 100, :w, 'fen', :now)"),
        {"t": s1.id, "w": True, "now": utcnow()})
    db.session.commit()
    assert as_another_process(s2, p) == 1000
    master_version = cache.table_for(master).version
    # … until that shop is invalidated: its descendants follow, its ancestors keep theirs
    cache.invalidate([s1.id])
    assert as_another_process(s2, p) == 1100
    assert cache.table_for(master).version == master_version


@pytest.mark.both
def test_product_price_changes_invalidate_every_shop_but_stock_counts_do_not(app):
    _master, s1, s2 = chain(2)
    p = product("A", 800, 1000, 1200)
    pricing.set_markup(s2, kind="percent", value=1000)
    assert as_another_process(s2, p) == 1100
    p.wholesale_price = 2000
    db.session.commit()
    assert as_another_process(s2, p) == 2200 and as_another_process(s1, p) == 2000

    version = cache.table_for(s2).version
    db.session.execute(update(Product).where(Product.id == p.id)
                       .values(stock_available=Product.stock_available + 5))
    p.stock_available = 7
    p.name = "renamed"
    db.session.commit()
    assert cache.table_for(s2).version == version
    db.session.execute(update(Product).where(Product.id == p.id).values(wholesale_price=3000))
    db.session.commit()
    assert as_another_process(s2, p) == 3300


def test_a_new_product_appears_in_the_price_list(app):
    _master, s1 = chain(1)
    a = product("A", 800, 1000, 1200)
    assert set(as_another_process(s1)) == {a.id}
    b = product("B", 800, 1000, 1200)
    assert set(pricing.price_list(s1)) == {a.id, b.id}


def test_a_rolled_back_change_leaves_the_cache_alone(app):
    _master, s1 = chain(1)
    p = product("A", 800, 1000, 1200)
    version = cache.table_for(s1).version
    p.wholesale_price = 5
    db.session.flush()
    db.session.rollback()
    assert cache.table_for(s1).version == version
    assert as_another_process(s1, p) == 1000


def test_keys_are_tenant_scoped_and_survive_a_redis_flush(app, redis_client):
    _master, s1, s2 = chain(2)
    p = product("A", 800, 1000, 1200)
    pricing.set_markup(s1, kind="fixed", value=100)
    assert as_another_process(s1, p) == 1100 and as_another_process(s2, p) == 1000
    keys = {k.decode() for k in redis_client.keys("kameng:prices:table:*")}
    assert {cache.table_key(s1.id), cache.table_key(s2.id)} <= keys
    assert all(k.rsplit(":", 1)[1].isdigit() for k in keys)   # never a tenant-blind key

    # Redis loses everything: a process still holding tables must not serve them
    stale = cache.table_for(s1)
    redis_client.flushdb()
    db.session.execute(text("UPDATE markup_rules SET value = 200"))
    db.session.commit()
    g.pop("_kameng_price_tables", None)
    assert cache.table_for(s1).version != stale.version
    assert pricing.price_for(s1, p) == 1200
