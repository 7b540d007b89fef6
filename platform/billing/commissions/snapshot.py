"""What billing needs to know of a delivered order: a plain, frozen value.

Sales builds it from its ``Order`` and hands it over, so billing never reads the
order model (or locks its row: that stays with sales).
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import NamedTuple


class PriceLevel(NamedTuple):
    """One shop of a line's price chain, per unit (the master first)."""

    tenant_id: int
    cost: int
    price: int


class LineSnapshot(NamedTuple):
    id: int
    status: str
    quantity: int
    chain: tuple[PriceLevel, ...]
    # a coupon's discount on the whole line: it comes out of the selling shop's margin
    discount: int = 0


@dataclass(frozen=True)
class OrderSnapshot:
    order_id: int
    order_no: str
    tenant_id: int
    customer_id: int | None
    amount: int
    currency: str
    payment_method: str | None
    delivered_at: datetime | None
    lines: tuple[LineSnapshot, ...]
    # the selling shop took the money on its own gateway and keeps this much of it
    # (its own share): the commission credits it nothing more and charges no fee
    seller_held: int | None = None


def price_chain(levels) -> tuple[PriceLevel, ...]:
    """A stored chain (``[{tenant_id, cost, price}, …]``) as plain integers."""
    return tuple(PriceLevel(int(lv["tenant_id"]), int(lv["cost"]), int(lv["price"]))
                 for lv in levels or ())
