"""A chain of shops with known prices, and orders delivered through the real services."""
from __future__ import annotations

from types import SimpleNamespace

from kameng.billing.ledger import services as ledger
from kameng.sales import services as orders
from kameng.sales.fulfilment import fulfil
from kameng.shop.pricing import services as pricing
from kameng.tenants import services as tenants
from tests.orders.helpers import card_product, fund


def chain(depth: int = 4, step: int = 100) -> SimpleNamespace:
    """master → s1 → … → s<depth>; each sub-shop adds ``step × level`` fen on top of its cost,
    to its sub-shops (wholesale) and to its customers (retail) alike."""
    master = tenants.create_tenant("master", "Master")
    shops = [master]
    for level in range(1, depth + 1):
        shop = tenants.create_tenant(f"s{level}", f"Shop {level}", shops[-1].slug)
        pricing.set_markup(shop, kind="fixed", value=step * level, wholesale=True)
        pricing.set_markup(shop, kind="fixed", value=step * level)
        shops.append(shop)
    owners = [tenants.create_user(s, f"owner@{s.slug}.test", "owner", "correct-horse")
              for s in shops]
    buyers = [tenants.create_user(s, f"buyer@{s.slug}.test", "customer", "correct-horse")
              for s in shops]
    return SimpleNamespace(master=master, shops=shops, owners=owners, buyers=buyers)


def deliver(shop, buyer, product, quantity=1, **kwargs):
    """Place (paid from the wallet), fulfil, and run the after-delivery step."""
    from kameng.sales.notify import after_delivery

    placed = orders.place_order(shop, sku=product.sku, quantity=quantity, customer=buyer,
                                **kwargs)
    order = placed.order
    assert fulfil(order.id).status == "delivered"
    after_delivery(order.id)
    return order


def placed_order(c, level=1):
    """One card bought at shop ``level`` of chain ``c`` by its buyer, paid from a funded
    wallet, not yet delivered."""
    product = card_product(codes=5)
    fund(c.buyers[level], 10_000)
    return orders.place_order(c.shops[level], sku=product.sku, customer=c.buyers[level]).order


def balance(tenant, kind):
    account = ledger.shop_account(tenant, kind)
    return ledger.balance_of(account)


__all__ = ["card_product", "chain", "deliver", "fund", "placed_order", "balance"]
