"""The product an order names, from a per-process snapshot: no query per order.

An API order names its product by SKU, and reading the product row was the order's
costliest statement for the web process (a wide row made into an object). A
snapshot holds the product's columns and whether the shop hides it, and stays valid
while the catalog's two counters have not moved: the price counter (``CATALOG_GEN``)
and the shown counter (``SHOWN_GEN``, moved by any other change of a product or of a
shop's override of it, ``kameng.shop.storefront.events``). Both come in the request's
one read of its counters (``kameng.core.generations``), so a hit costs no round trip.

The stock count moves with every sale and moves neither counter: a snapshot's
``stock_available`` is not to be read (an order claims its codes in one statement,
which is what decides). Snapshots are detached and shared by the process's threads:
read them, never change or merge them.
"""
from __future__ import annotations

import threading
from collections import OrderedDict

from flask import current_app

from kameng.core import generations
from kameng.core.models import detached_copy
from kameng.shop.catalog.models import Product

MAX_ENTRIES = 4096
_lock = threading.Lock()


def product_on_shop(tenant, sku: str) -> tuple[Product | None, bool]:
    """``services.product_on_shop`` for an order: the product (a read-only snapshot)
    and whether this shop hides it."""
    from kameng.shop.catalog import services
    from kameng.shop.pricing.cache import CATALOG_GEN, SHOWN_GEN

    sku = (sku or "").strip()
    try:
        counters = tuple(generations.read_many([CATALOG_GEN, SHOWN_GEN]))
    except Exception:   # Redis unavailable: nothing can tell a snapshot is stale
        counters = (None,)
    if None in counters:   # unavailable, or not seeded yet (the price tables seed them)
        return services.product_on_shop(tenant, sku)
    store = current_app.extensions.setdefault(
        "kameng.product_snapshots", {"counters": None, "rows": OrderedDict()})
    key = (tenant.id, sku)
    with _lock:
        if store["counters"] != counters:
            store["counters"], store["rows"] = counters, OrderedDict()
        hit = store["rows"].get(key)
    if hit is not None:
        return hit
    product, hidden = services.product_on_shop(tenant, sku)
    if product is None:
        return None, False
    snapshot = (detached_copy(product), hidden)
    with _lock:
        # read before the load: a change committed since has moved them (stored under
        # counters nobody asks for any more), never the other way round
        if store["counters"] == counters:
            rows = store["rows"]
            rows[key] = snapshot
            while len(rows) > MAX_ENTRIES:
                rows.popitem(last=False)
    return snapshot
