"""Operations on suppliers: settings, connection test, catalog sync, margins.

Each function owns its transaction: it validates everything, then writes, then
commits, or raises a ``ServiceError`` having written nothing.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from urllib.parse import urlsplit

from sqlalchemy import and_, select

from kameng.core.errors import Conflict, InvalidInput, NotFound
from kameng.core.extensions import db
from kameng.core.i18n import lazy_gettext as _l
from kameng.core.models import utcnow
from kameng.core.outbound import check_url
from kameng.core.percent import format_percent, ratio_bp
from kameng.shop.catalog.models import Product
from kameng.shop.catalog.services import product_by_sku
from kameng.shop.suppliers.adapters import (
    REGISTRY,
    Adapter,
    OrderResult,
    SupplierProduct,
    get_adapter,
    standalone_adapter,
)
from kameng.shop.suppliers.http_topup import DEFAULT_CONNECT_TIMEOUT, DEFAULT_READ_TIMEOUT
from kameng.shop.suppliers.models import ADAPTERS, Supplier, UpstreamProduct
from kameng.shop.suppliers.secretbox import seal

MAX_TIMEOUT = 120
_UNSET = object()


# ----- reading ---------------------------------------------------------------

def list_suppliers() -> list[Supplier]:
    return list(db.session.scalars(select(Supplier).order_by(Supplier.name)))


def get_supplier(supplier_id: int) -> Supplier:
    supplier = db.session.get(Supplier, int(supplier_id))
    if supplier is None:
        raise NotFound(_l("no supplier with id %(supplier_id)s", supplier_id=supplier_id))
    return supplier


def supplier_by_name(name: str) -> Supplier:
    supplier = db.session.scalar(select(Supplier).where(Supplier.name == (name or "").strip()))
    if supplier is None:
        raise NotFound(_l("no supplier named %(name)r", name=name))
    return supplier


def adapter_for_product(product: Product) -> Adapter:
    """Every product has an adapter: its supplier's, else ``local`` (our own stock)."""
    supplier = db.session.get(Supplier, product.supplier_id) if product.supplier_id else None
    return get_adapter(supplier)


# ----- settings --------------------------------------------------------------

def _clean_name(name) -> str:
    name = (name or "").strip()
    if not name or len(name) > 120:
        raise InvalidInput(_l("name is required (at most 120 characters)"), field="name")
    return name


def _clean_adapter(adapter) -> str:
    adapter = (adapter or "").strip()
    if adapter not in ADAPTERS:
        raise InvalidInput(_l("adapter must be one of %(choices)s",
                              choices=', '.join(ADAPTERS)), field="adapter")
    if adapter not in REGISTRY:
        raise InvalidInput(_l("adapter %(adapter)r is not available yet",
                              adapter=adapter), field="adapter")
    return adapter


def _clean_url(url) -> str:
    url = (url or "").strip().rstrip("/")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname or len(url) > 500 \
            or parts.query or parts.fragment or parts.username:
        raise InvalidInput(_l("base URL must be an http:// or https:// address "
                              "(no query, no credentials)"), field="base_url")
    return url


def _clean_key_id(key_id) -> str:
    key_id = (key_id or "").strip()
    if not key_id or len(key_id) > 128 or any(c.isspace() for c in key_id):
        raise InvalidInput(_l("key id is required (at most 128 characters, no spaces)"),
                           field="key_id")
    return key_id


def _clean_timeout(value, name: str, default: float) -> float:
    if value in (None, ""):
        return default
    try:
        seconds = Decimal(str(value).strip())
    except InvalidOperation:
        raise InvalidInput(_l("%(what)s must be a number of seconds", what=name.replace('_', ' ')),
                           field=name) from None
    if not seconds.is_finite() or seconds <= 0 or seconds > MAX_TIMEOUT:
        raise InvalidInput(_l("%(what)s must be between 0 and %(max_timeout)s "
                              "seconds",
                              what=name.replace('_', ' '), max_timeout=MAX_TIMEOUT), field=name)
    return float(seconds)  # seconds for requests, not money


def _check_name_free(name: str, supplier_id: int | None = None) -> None:
    stmt = select(Supplier.id).where(Supplier.name == name)
    if supplier_id is not None:
        stmt = stmt.where(Supplier.id != supplier_id)
    if db.session.scalar(stmt):
        raise Conflict(_l("a supplier named %(name)r already exists", name=name), field="name")


def _settings(adapter: str, base_url, key_id, connect_timeout, read_timeout,
              has_secret: bool, old: dict) -> dict:
    if adapter != "http_topup":
        return {}
    config = {
        "base_url": _clean_url(base_url if base_url is not _UNSET else old.get("base_url")),
        "key_id": _clean_key_id(key_id if key_id is not _UNSET else old.get("key_id")),
        "connect_timeout": _clean_timeout(
            connect_timeout if connect_timeout is not _UNSET else old.get("connect_timeout"),
            "connect_timeout", DEFAULT_CONNECT_TIMEOUT),
        "read_timeout": _clean_timeout(
            read_timeout if read_timeout is not _UNSET else old.get("read_timeout"),
            "read_timeout", DEFAULT_READ_TIMEOUT),
    }
    if not has_secret:
        raise InvalidInput(_l("the API secret is required"), field="secret")
    return config


def _clean_secret(secret) -> str | None:
    if secret in (None, ""):
        return None
    if len(secret) > 512 or secret != secret.strip():
        raise InvalidInput(_l("the secret must be at most 512 characters, without surrounding "
                              "spaces"), field="secret")
    return secret


def create_supplier(name: str, adapter: str = "local", *, base_url=None, key_id=None,
                    secret=None, connect_timeout=None, read_timeout=None,
                    enabled: bool = True) -> Supplier:
    name = _clean_name(name)
    adapter = _clean_adapter(adapter)
    secret = _clean_secret(secret)
    config = _settings(adapter, base_url, key_id, connect_timeout, read_timeout,
                       has_secret=secret is not None, old={})
    if config.get("base_url"):  # not at a loopback, private or metadata address
        check_url(config["base_url"], field="base_url")
    _check_name_free(name)
    supplier = Supplier(name=name, adapter=adapter, config=config, enabled=bool(enabled),
                        secret_ciphertext=seal(secret) if secret and adapter != "local" else None)
    db.session.add(supplier)
    db.session.commit()
    return supplier


def update_supplier(supplier_id: int, *, name=_UNSET, adapter=_UNSET, base_url=_UNSET,
                    key_id=_UNSET, secret=None, connect_timeout=_UNSET, read_timeout=_UNSET,
                    enabled=_UNSET) -> Supplier:
    """Change the given settings; an empty ``secret`` keeps the stored one."""
    supplier = get_supplier(supplier_id)
    new_name = _clean_name(name) if name is not _UNSET else supplier.name
    new_adapter = _clean_adapter(adapter) if adapter is not _UNSET else supplier.adapter
    secret = _clean_secret(secret)
    config = _settings(new_adapter, base_url, key_id, connect_timeout, read_timeout,
                       has_secret=secret is not None or supplier.has_secret,
                       old=dict(supplier.config or {}))
    if config.get("base_url"):  # not at a loopback, private or metadata address
        check_url(config["base_url"], field="base_url")
    _check_name_free(new_name, supplier.id)

    supplier.name = new_name
    supplier.adapter = new_adapter
    supplier.config = config
    if secret is not None:
        supplier.secret_ciphertext = seal(secret)
    if new_adapter == "local":
        supplier.secret_ciphertext = None
    if enabled is not _UNSET:
        supplier.enabled = bool(enabled)
    db.session.commit()
    return supplier


# ----- talking to the upstream ----------------------------------------------

def _ask_upstream(supplier_id: int, call):
    """``call(adapter)`` with no transaction open (docs/architecture.md, Transactions)."""
    adapter = standalone_adapter(get_supplier(supplier_id))
    db.session.commit()  # ends the read
    return call(adapter)


def check_balance(supplier_id: int) -> int:
    """"Test connection": ask the upstream for our balance and remember the answer."""
    # SupplierError if unreachable / refused
    balance = _ask_upstream(supplier_id, lambda adapter: adapter.balance())
    supplier = get_supplier(supplier_id)
    supplier.last_balance = balance
    supplier.balance_checked_at = utcnow()
    db.session.commit()
    return balance


@dataclass
class SyncReport:
    total: int = 0
    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    gone: list[str] = field(default_factory=list)       # no longer listed upstream
    costs_updated: list[str] = field(default_factory=list)  # our product SKUs


def sync_catalog(supplier_id: int, update_costs: bool = False) -> SyncReport:
    """Fetch the upstream catalog and store it; optionally take upstream prices as our
    ``supplier_cost`` for the products mapped to it (same currency only)."""
    fetched: list[SupplierProduct] = _ask_upstream(supplier_id,
                                                   lambda adapter: adapter.sync_catalog())
    supplier = get_supplier(supplier_id)
    by_sku = {p.sku: p for p in fetched}   # the last one wins if upstream repeats a SKU
    now = utcnow()
    report = SyncReport(total=len(by_sku))
    existing = {row.sku: row for row in supplier.upstream_products}
    for sku, item in by_sku.items():
        row = existing.get(sku)
        if row is None:
            row = UpstreamProduct(supplier=supplier, sku=sku)
            db.session.add(row)
            report.added.append(sku)
        else:
            report.updated.append(sku)
        for attr in ("name", "currency", "face_value", "min_amount", "max_amount", "price",
                     "account_regex", "available"):
            setattr(row, attr, getattr(item, attr))
        row.synced_at = now
    for sku, row in existing.items():
        if sku not in by_sku and row.available:
            row.available = False  # kept: our products may still point at it
            report.gone.append(sku)
    if update_costs:
        for product in _mapped_products(supplier.id):
            item = by_sku.get(product.supplier_sku)
            if item and item.price is not None and item.currency == product.currency \
                    and product.supplier_cost != item.price:
                product.supplier_cost = item.price
                report.costs_updated.append(product.sku)
    supplier.synced_at = now
    db.session.commit()
    return report


def _mapped_products(supplier_id: int) -> list[Product]:
    return list(db.session.scalars(select(Product).where(Product.supplier_id == supplier_id)
                                   .order_by(Product.sku)))


@dataclass
class CatalogRow:
    upstream: UpstreamProduct
    products: list[Product]           # ours, mapped by supplier_sku


def catalog(supplier_id: int) -> list[CatalogRow]:
    """The last synced upstream catalog, each with the products of ours mapped to it."""
    supplier = get_supplier(supplier_id)
    mapped: dict[str, list[Product]] = {}
    for product in _mapped_products(supplier.id):
        mapped.setdefault(product.supplier_sku or "", []).append(product)
    return [CatalogRow(row, mapped.get(row.sku, [])) for row in supplier.upstream_products]


def map_product(supplier_id: int, supplier_sku: str, product_sku: str,
                take_cost: bool = False) -> Product:
    """Point our product ``product_sku`` at ``supplier_sku`` of this supplier."""
    supplier = get_supplier(supplier_id)
    supplier_sku = (supplier_sku or "").strip()
    product = product_by_sku(product_sku, field="product_sku")
    upstream = db.session.scalar(select(UpstreamProduct).where(
        UpstreamProduct.supplier_id == supplier.id, UpstreamProduct.sku == supplier_sku))
    if upstream is None:
        raise NotFound(_l("%(supplier_name)s has no product %(supplier_sku)r; sync the catalog "
                          "first",
                          supplier_name=supplier.name, supplier_sku=supplier_sku),
                       field="supplier_sku")
    if take_cost and upstream.price is not None and upstream.currency != product.currency:
        raise InvalidInput(_l("upstream price is in %(currency)s, the product in "
                              "%(product_currency)s",
                              currency=upstream.currency, product_currency=product.currency),
                           field="take_cost")
    product.supplier_id = supplier.id
    product.supplier_sku = supplier_sku
    if take_cost and upstream.price is not None:
        product.supplier_cost = upstream.price
    db.session.commit()
    return product


def receive_webhook(supplier_id: int, headers, raw_body: bytes) -> OrderResult:
    """Verify and read a supplier's webhook (``InvalidSignature`` if forged or stale).

    Acting on the result (advancing the order line with this idempotency key) is
    the fulfilment code's job.
    """
    return get_adapter(get_supplier(supplier_id)).parse_webhook(headers, raw_body)


# ----- margins ---------------------------------------------------------------

@dataclass
class MarginRow:
    sku: str
    name: str
    kind: str
    currency: str
    supplier: str | None
    adapter: str              # "local" when the product has no supplier
    supplier_sku: str | None
    supplier_cost: int
    wholesale_price: int
    retail_price: int
    margin: int               # wholesale_price - supplier_cost (the master's per unit)
    margin_bp: int | None     # margin in basis points of the wholesale price
    upstream_price: int | None  # the supplier's price at the last sync, if known

    @property
    def margin_percent(self) -> str | None:
        """'12.34' (of the wholesale price), for display."""
        if self.margin_bp is None:
            return None
        return format_percent(self.margin_bp, trim=False)

    @property
    def cost_drift(self) -> bool:
        """The upstream now charges something other than our recorded cost."""
        return self.upstream_price is not None and self.upstream_price != self.supplier_cost


def supplier_margin_report(supplier_id: int | None = None) -> list[MarginRow]:
    """Per product: supplier, supplier cost, wholesale price and the master's margin."""
    stmt = (
        select(Product, Supplier.name, Supplier.adapter, UpstreamProduct.price,
               UpstreamProduct.currency)
        .outerjoin(Supplier, Supplier.id == Product.supplier_id)
        .outerjoin(UpstreamProduct, and_(UpstreamProduct.supplier_id == Product.supplier_id,
                                         UpstreamProduct.sku == Product.supplier_sku))
        .order_by(Product.sku)
    )
    if supplier_id is not None:
        stmt = stmt.where(Product.supplier_id == int(supplier_id))
    rows = []
    for product, sname, adapter, up_price, up_currency in db.session.execute(stmt):
        margin = product.wholesale_price - product.supplier_cost
        rows.append(MarginRow(
            sku=product.sku, name=product.name, kind=product.kind, currency=product.currency,
            supplier=sname, adapter=adapter or "local", supplier_sku=product.supplier_sku,
            supplier_cost=product.supplier_cost, wholesale_price=product.wholesale_price,
            retail_price=product.retail_price, margin=margin,
            margin_bp=ratio_bp(margin, product.wholesale_price)
            if product.wholesale_price else None,
            upstream_price=up_price if up_currency == product.currency else None))
    return rows
