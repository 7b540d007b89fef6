"""Stock test helpers: a card product and a check that the counter matches the rows."""
from __future__ import annotations

import pytest

from kameng.core.extensions import db
from kameng.shop.catalog.services import create_product
from kameng.shop.stock.services import count_available


@pytest.fixture
def card(app):
    return create_product(sku="CARD-1", name="点卡 100", kind="card", supplier_cost=800,
                          wholesale_price=1000, retail_price=1200)


@pytest.fixture
def loop_card(app):
    return create_product(sku="LOOP-1", name="共享账号", kind="card", supplier_cost=0,
                          wholesale_price=100, retail_price=200, loop_code=True)


def assert_counter(product) -> int:
    """Product.stock_available must equal the number of its available rows."""
    db.session.expire_all()
    db.session.refresh(product)
    assert product.stock_available == count_available(product.id)
    return product.stock_available


def codes(n: int, prefix: str = "CODE") -> str:
    return "\n".join(f"{prefix}-{i:05d}" for i in range(n)) + "\n"
