"""One interface for every supplier, and the registry that picks the adapter.

Contract for callers (the fulfilment job):

* ``place_order(sku, quantity, account, idempotency_key)`` answers an
  ``OrderResult``. ``UNKNOWN`` (a timeout, a connection error, a 5xx, a garbled
  answer) means *the upstream may or may not have done it*: never refund on
  UNKNOWN. Ask ``get_status(idempotency_key)``, and when that is still UNKNOWN
  call ``place_order`` again with the SAME key — never a new one; the upstream
  deduplicates by key, so a retry cannot top up twice.
* ``FAILED`` is final: the upstream refused or gave up and charged nothing.
* ``PENDING``: accepted, not finished; poll ``get_status`` or wait for the
  webhook (``parse_webhook``).
* ``SUCCESS``: done; ``codes`` holds delivered codes/pins (often empty for a
  top-up). ``from_stock`` is True for the local adapter: take the codes from our
  own card stock.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from enum import StrEnum

from kameng.core.errors import InvalidInput, ServiceError
from kameng.core.i18n import lazy_gettext as _l


class Status(StrEnum):
    SUCCESS = "SUCCESS"
    FAILED = "FAILED"
    PENDING = "PENDING"
    UNKNOWN = "UNKNOWN"


SUCCESS, FAILED, PENDING, UNKNOWN = Status.SUCCESS, Status.FAILED, Status.PENDING, Status.UNKNOWN


@dataclass
class OrderResult:
    status: Status
    idempotency_key: str | None = None
    reference: str | None = None          # the supplier's own order id
    codes: list[str] = field(default_factory=list)
    message: str = ""
    from_stock: bool = False

    @property
    def final(self) -> bool:
        return self.status in (SUCCESS, FAILED)

    def __repr__(self) -> str:  # codes are secrets: count them, never print them
        return (f"OrderResult(status={self.status.value}, key={self.idempotency_key!r}, "
                f"reference={self.reference!r}, codes={len(self.codes)}, "
                f"message={self.message!r})")


@dataclass
class SupplierProduct:
    """One product in an upstream catalog. Amounts are integer minor units."""

    sku: str
    name: str = ""
    currency: str = "CNY"
    face_value: int | None = None         # None: an open amount in [min_amount, max_amount]
    min_amount: int | None = None
    max_amount: int | None = None
    price: int | None = None              # our cost per unit
    account_regex: str | None = None      # the recipient account must match (full match)
    available: bool = True


class SupplierError(ServiceError):
    """The supplier cannot be used (configuration, unreachable for a test, …)."""

    code = "supplier_error"
    status = 502


class InvalidSignature(SupplierError):
    code = "invalid_signature"
    status = 401


class Adapter:
    """Base class. ``supplier`` may be None for the local adapter (our own stock)."""

    name = "base"

    def __init__(self, supplier=None):
        self.supplier = supplier

    def sync_catalog(self) -> list[SupplierProduct]:
        raise NotImplementedError

    def validate_order(self, supplier_sku: str, amount: int | None, account: str | None) -> None:
        """Raise ``InvalidInput`` (field "amount" or "account") if the upstream would refuse."""
        raise NotImplementedError

    def place_order(self, supplier_sku: str, quantity: int, account: str | None,
                    idempotency_key: str, amount: int | None = None) -> OrderResult:
        raise NotImplementedError

    def get_status(self, idempotency_key: str) -> OrderResult:
        raise NotImplementedError

    def parse_webhook(self, headers, raw_body: bytes) -> OrderResult:
        raise NotImplementedError

    def balance(self) -> int:
        raise NotImplementedError

    def __repr__(self) -> str:
        name = self.supplier.name if self.supplier is not None else "-"
        return f"<{type(self).__name__} {name}>"


ACCOUNT_MAX = 128
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def check_against(product: SupplierProduct, amount: int | None, account: str | None) -> None:
    """The shared amount/account rules, given what the upstream says about the product."""
    if not product.available:
        raise InvalidInput(_l("supplier product %(sku)s is not available",
                              sku=product.sku), field="sku")
    if amount is not None and (isinstance(amount, bool) or not isinstance(amount, int)):
        raise InvalidInput(_l("amount must be an integer number of minor units"), field="amount")
    if product.face_value is not None:
        if amount is not None and amount != product.face_value:
            raise InvalidInput(_l("%(sku)s has a fixed face value of %(face_value)s",
                                  sku=product.sku, face_value=product.face_value),
                               field="amount")
    elif product.min_amount is not None or product.max_amount is not None:
        if amount is None:
            raise InvalidInput(_l("%(sku)s needs an amount", sku=product.sku), field="amount")
        low, high = product.min_amount, product.max_amount
        if (low is not None and amount < low) or (high is not None and amount > high):
            raise InvalidInput(_l("amount must be between %(low)s and %(high)s for %(sku)s",
                                  low=low, high=high, sku=product.sku),
                               field="amount")
    if product.account_regex:
        account = (account or "").strip()
        if not account:
            raise InvalidInput(_l("a recipient account is required"), field="account")
        try:
            matches = re.fullmatch(product.account_regex, account) is not None
        except re.error:
            raise SupplierError(_l("the supplier's account pattern for %(sku)s "
                                   "is not a valid regular expression", sku=product.sku)) from None
        if len(account) > ACCOUNT_MAX or _CONTROL.search(account) or not matches:
            raise InvalidInput(_l("the recipient account is not in the expected format"),
                               field="account")
    elif account is not None and (len(account) > ACCOUNT_MAX or _CONTROL.search(account)):
        raise InvalidInput(_l("the recipient account is not in the expected format"),
                           field="account")


# adapter name -> "module:Class", imported on first use
REGISTRY: dict[str, str] = {
    "local": "kameng.shop.suppliers.local:LocalAdapter",
    "http_topup": "kameng.shop.suppliers.http_topup:HttpTopupAdapter",
}


def register_adapter(name: str, target: str) -> None:
    REGISTRY[name] = target


def adapter_class(name: str) -> type[Adapter]:
    import importlib

    try:
        module, _, cls = REGISTRY[name].partition(":")
    except KeyError:
        raise SupplierError(_l("adapter %(name)r is not available", name=name)) from None
    return getattr(importlib.import_module(module), cls)


def get_adapter(supplier) -> Adapter:
    """The adapter for a ``Supplier`` row; ``None`` means our own stock (local)."""
    if supplier is None:
        return adapter_class("local")(None)
    return adapter_class(supplier.adapter)(supplier)


def standalone_adapter(supplier) -> Adapter:
    """The adapter on a copy of the row outside the session: nothing it reads opens a
    transaction, so it can be called after the caller's transaction has ended (no
    transaction is open during a network call, docs/architecture.md, Transactions)."""
    if supplier is None:
        return get_adapter(None)
    from sqlalchemy import inspect

    columns = inspect(supplier).mapper.column_attrs
    return get_adapter(type(supplier)(**{c.key: getattr(supplier, c.key) for c in columns}))
