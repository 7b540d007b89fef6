"""Catalog, stock and wallets for order tests, built through the real services."""
from __future__ import annotations

from kameng.billing import wallets
from kameng.shop.catalog import services as catalog
from kameng.shop.stock import services as stock


def card_product(sku="GAME-100", codes=10, wholesale=900, retail=1000, cost=800, **extra):
    product = catalog.create_product(sku=sku, name=f"Card {sku}", kind="card",
                                     supplier_cost=cost, wholesale_price=wholesale,
                                     retail_price=retail, **extra)
    if codes:
        text = "\n".join(f"{sku}-CODE-{i:05d}" for i in range(codes))
        stock.import_codes(product, text=text)
    return product


def fund_own_gateway(shop, amount=1_000_00):
    """A sub-shop's own 易支付 gateway takes the buyer's money itself: the parent's price
    of each such order comes out of the shop's funded account (docs/money.md). Give it
    ``amount`` there, as its parent would after being paid."""
    from kameng.billing.funding import services as funding
    from kameng.core.extensions import db
    from kameng.tenants.models import Tenant

    parent = db.session.get(Tenant, shop.parent_id)
    if not parent.is_master:
        fund_own_gateway(parent, amount)  # a parent below the master pays from its funds
    funding.fund_shop(parent, shop, amount)


def fund(user, amount):
    wallets.credit_wallet(user, amount, note="test funds")
    return wallets.wallet_balance(user)


def wallet_order(shop, customer, codes=3, funds=10_000):
    """An order for a card product (``codes`` in stock) that ``customer`` places on
    ``shop`` and pays from a wallet funded with ``funds``."""
    from kameng.core.scoping import tenant_scope
    from kameng.sales import services as orders

    product = card_product(codes=codes)
    fund(customer, funds)
    with tenant_scope(shop.id):
        return orders.place_order(shop, sku=product.sku, customer=customer).order
