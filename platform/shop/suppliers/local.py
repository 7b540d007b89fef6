"""The ``local`` adapter: goods come from our own card-code stock.

There is nobody upstream to call. The fulfilment job hands out codes from stock
itself; this adapter exists so every product has an adapter, and it answers
SUCCESS with ``from_stock=True`` to say "take the codes from our stock".
"""
from __future__ import annotations

from kameng.core.i18n import lazy_gettext as _l
from kameng.shop.suppliers.adapters import (
    SUCCESS,
    Adapter,
    OrderResult,
    SupplierError,
    SupplierProduct,
)


class LocalAdapter(Adapter):
    name = "local"

    def sync_catalog(self) -> list[SupplierProduct]:
        return []  # our own stock has no upstream catalog

    def validate_order(self, supplier_sku, amount, account) -> None:
        return None  # stock and input fields are checked by the catalog and the order

    def place_order(self, supplier_sku, quantity, account, idempotency_key,
                    amount=None) -> OrderResult:
        return OrderResult(SUCCESS, idempotency_key, reference="local", from_stock=True,
                           message="take the codes from our own stock")

    def get_status(self, idempotency_key) -> OrderResult:
        return OrderResult(SUCCESS, idempotency_key, reference="local", from_stock=True,
                           message="take the codes from our own stock")

    def parse_webhook(self, headers, raw_body) -> OrderResult:
        raise SupplierError(_l("the local supplier sends no webhooks"))

    def balance(self) -> int:
        return 0  # nothing prepaid upstream
