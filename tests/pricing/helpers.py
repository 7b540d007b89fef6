"""Pricing test data: shops through the real tenant services, products as plain rows.

Products are inserted directly through the catalog model, so these tests do
not depend on the catalog's services.
"""
from __future__ import annotations

from kameng.core.extensions import db
from kameng.shop.catalog.models import Category, Product
from kameng.tenants import services as tenants


def product(sku: str, cost: int, wholesale: int, retail: int, category: Category | None = None,
            **extra) -> Product:
    row = Product(sku=sku, kind="card", name=extra.pop("name", f"Card {sku}"),
                  supplier_cost=cost, wholesale_price=wholesale, retail_price=retail,
                  category_id=category.id if category else None, currency="CNY", **extra)
    db.session.add(row)
    db.session.commit()
    return row


def category(name: str, parent: Category | None = None) -> Category:
    row = Category(name=name, parent_id=parent.id if parent else None)
    db.session.add(row)
    db.session.commit()
    return row


def chain(depth: int, prefix: str = "s") -> list:
    """master → s1 → … → s<depth>; returns the shops, master first."""
    shops = [tenants.master() or tenants.create_tenant("master", "Master")]
    for level in range(1, depth + 1):
        slug = f"{prefix}{level}"
        shops.append(tenants.create_tenant(slug, f"Shop {slug}", shops[-1].slug))
    return shops
