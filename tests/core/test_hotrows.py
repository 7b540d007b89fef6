"""Deferred increments (``kameng.core.hotrows``) all reach their rows at COMMIT."""
from __future__ import annotations

import pytest

from kameng.core.extensions import db
from kameng.core.hotrows import defer_increment
from kameng.shop.catalog.models import Product
from tests.orders.helpers import card_product

pytestmark = pytest.mark.both


def test_two_columns_of_one_row_and_another_row_all_move(app):
    first, second = card_product("HOT-1", codes=0), card_product("HOT-2", codes=0)
    ids = first.id, second.id
    table = Product.__table__
    before = {pid: (db.session.get(Product, pid).stock_available,
                    db.session.get(Product, pid).max_quantity) for pid in ids}
    defer_increment(db.session(), table, ids[0], "stock_available", 5)
    defer_increment(db.session(), table, ids[0], "max_quantity", 2)
    defer_increment(db.session(), table, ids[1], "stock_available", -3)
    defer_increment(db.session(), table, ids[0], "stock_available", 1)
    db.session.commit()
    db.session.expire_all()
    after = {pid: (db.session.get(Product, pid).stock_available,
                   db.session.get(Product, pid).max_quantity) for pid in ids}
    assert after == {ids[0]: (before[ids[0]][0] + 6, before[ids[0]][1] + 2),
                     ids[1]: (before[ids[1]][0] - 3, before[ids[1]][1])}
