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


def fund(user, amount):
    wallets.credit_wallet(user, amount, note="test funds")
    return wallets.wallet_balance(user)
