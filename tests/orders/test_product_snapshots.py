"""An order reads its product from the process's snapshot, and a change to the product
or to a shop's override of it is honoured by the very next order."""
from __future__ import annotations

import pytest
from sqlalchemy import event

from kameng.core.errors import InvalidInput, NotFound
from kameng.core.extensions import db
from kameng.sales import services
from kameng.shop.catalog import services as catalog
from tests.orders.helpers import card_product, fund

pytestmark = pytest.mark.both


def _order(shop, buyer, sku, quantity=1):
    return services.place_order(shop, sku=sku, quantity=quantity, customer=buyer).order


def _product_reads(run) -> int:
    seen = []

    def note(_conn, _cursor, statement, *_args):
        if statement.lstrip().upper().startswith("SELECT") and "FROM products" in statement:
            seen.append(statement)

    event.listen(db.engine, "before_cursor_execute", note)
    try:
        run()
    finally:
        event.remove(db.engine, "before_cursor_execute", note)
    return len(seen)


def test_a_second_order_of_a_product_does_not_read_the_product(app, tree):
    product = card_product(codes=5)
    fund(tree.star_customer, 10_000)
    sku = product.sku
    _order(tree.star, tree.star_customer, sku)
    assert _product_reads(lambda: _order(tree.star, tree.star_customer, sku)) == 0


def test_a_change_to_the_product_reaches_the_next_order(app, tree):
    product = card_product(codes=5, max_quantity=5)
    fund(tree.star_customer, 100_000)
    _order(tree.star, tree.star_customer, product.sku)

    catalog.update_product(product, max_quantity=1)
    with pytest.raises(InvalidInput):
        _order(tree.star, tree.star_customer, product.sku, quantity=2)

    catalog.update_product(product, name="Renamed card")
    assert _order(tree.star, tree.star_customer, product.sku).lines[0].name == "Renamed card"

    catalog.update_product(product, status="sold_out")
    with pytest.raises(services.OutOfStock):
        _order(tree.star, tree.star_customer, product.sku)

    catalog.update_product(product, status="hidden")
    with pytest.raises(NotFound):
        _order(tree.star, tree.star_customer, product.sku)


def test_a_price_change_reaches_the_next_order(app, tree):
    product = card_product(codes=5, wholesale=900, retail=1000)
    fund(tree.master_customer, 100_000)
    assert _order(tree.master, tree.master_customer, product.sku).amount == 1000
    catalog.update_product(product, retail_price=1200)
    assert _order(tree.master, tree.master_customer, product.sku).amount == 1200


def test_a_shop_hiding_the_product_refuses_it_on_that_shop_only(app, tree):
    product = card_product(codes=5)
    fund(tree.star_customer, 10_000)
    fund(tree.rocket_customer, 10_000)
    _order(tree.star, tree.star_customer, product.sku)
    _order(tree.rocket, tree.rocket_customer, product.sku)

    catalog.set_shop_override(tree.rocket, product, hidden=True)
    with pytest.raises(NotFound):
        _order(tree.rocket, tree.rocket_customer, product.sku)
    assert _order(tree.star, tree.star_customer, product.sku).status == "paid"

    catalog.set_shop_override(tree.rocket, product, hidden=False)
    assert _order(tree.rocket, tree.rocket_customer, product.sku).status == "paid"
