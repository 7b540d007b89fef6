"""The commission split of an order the selling shop collected itself (pure arithmetic)."""
from __future__ import annotations

import dataclasses

import pytest

from kameng.billing.commissions.services import split_order
from kameng.billing.commissions.snapshot import LineSnapshot, OrderSnapshot, price_chain

pytestmark = pytest.mark.smoke

CHAIN = price_chain([{"tenant_id": 1, "cost": 800, "price": 900},
                     {"tenant_id": 3, "cost": 900, "price": 1200}])
ORDER = OrderSnapshot(order_id=1, order_no="K1", tenant_id=3, customer_id=None, amount=2400,
                      currency="CNY", payment_method="epay", delivered_at=None,
                      lines=(LineSnapshot(7, "delivered", 2, CHAIN),))


def test_the_seller_holds_its_share_and_clearing_nets_to_zero():
    # the shop kept its margin (600) less its promoter's 60; it funded 2400 - 540 = 1860
    held = 600 - 60
    split = split_order(dataclasses.replace(ORDER, seller_held=held),
                        promoter_user_id=42, promoter_bp=1000)
    assert split.shops[3].net == 0 and split.shops[1].net == 200
    assert split.promoter_amount == 60 and split.supplier == 1600
    from_clearing = split.amount - split.held
    paid_out = (split.supplier + split.fee + split.rounding + split.promoter_amount
                + sum(s.net for s in split.shops.values()))
    assert from_clearing == 1860 == paid_out


def test_a_promoter_gone_by_delivery_gives_the_shop_back_what_it_funded_for_them():
    split = split_order(dataclasses.replace(ORDER, seller_held=540))
    assert split.shops[3].net == 60 and split.promoter_amount == 0
    assert split.amount - split.held == split.supplier + sum(
        s.net for s in split.shops.values())
