"""Billing splits a plain order snapshot: no model, no database."""
from __future__ import annotations

import dataclasses

import pytest

from kameng.billing.commissions.services import split_order
from kameng.billing.commissions.snapshot import (
    LineSnapshot,
    OrderSnapshot,
    PriceLevel,
    price_chain,
)
from kameng.core.errors import InvalidInput

pytestmark = pytest.mark.smoke


def snapshot(*lines: LineSnapshot, tenant_id: int = 3, amount: int = 2400) -> OrderSnapshot:
    return OrderSnapshot(order_id=1, order_no="K1", tenant_id=tenant_id, customer_id=None,
                         amount=amount, currency="CNY", payment_method="balance",
                         delivered_at=None, lines=lines)


CHAIN = price_chain([{"tenant_id": 1, "cost": "800", "price": 900},
                     {"tenant_id": 3, "cost": 900, "price": 1200}])


def test_a_stored_chain_becomes_integers():
    assert CHAIN == (PriceLevel(1, 800, 900), PriceLevel(3, 900, 1200))


def test_the_split_of_a_snapshot():
    split = split_order(snapshot(LineSnapshot(7, "delivered", 2, CHAIN),
                                 LineSnapshot(8, "refunded", 5, CHAIN)),
                        promoter_user_id=42, promoter_bp=1000, fee=30, fee_tenant_id=3)
    assert split.supplier == 1600
    assert (split.shops[1].margin, split.shops[3].margin) == (200, 600)
    assert split.promoter_amount == 60 and split.shops[3].net == 600 - 60 - 30
    assert split.rounding == 0


def test_a_chain_not_ending_at_the_seller_is_refused():
    with pytest.raises(InvalidInput):
        split_order(snapshot(LineSnapshot(7, "delivered", 1, CHAIN), tenant_id=9))


def test_the_snapshot_is_frozen():
    with pytest.raises(dataclasses.FrozenInstanceError):
        snapshot().amount = 0
