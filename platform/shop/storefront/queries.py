"""Read-only catalog queries for the storefront.

A shop shows the master's catalog minus hidden products, through its own
``ShopProduct`` presentation (hidden, renamed, re-ordered, featured) and at its
own prices. List pages cost a constant number of queries: one for the category
tree, one for the products (columns only, no ORM identity map), plus the
pricing engine's ``price_list`` — never one query per product.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from types import SimpleNamespace
from urllib.parse import quote

from sqlalchemy import and_, false, func, or_, select

from kameng.core.extensions import db
from kameng.core.money import format_money
from kameng.shop.catalog.models import Category, Product, ShopProduct

SEARCH_LIMIT = 100
IN_STOCK, LOW, SOLD_OUT = "in_stock", "low", "sold_out"


@dataclass(slots=True)
class CategoryNode:
    id: int
    parent_id: int | None
    name: str
    icon: str | None
    children: list[CategoryNode] = field(default_factory=list)


@dataclass(slots=True)
class Item:
    """One product as a storefront list shows it."""

    id: int
    sku: str
    name: str
    kind: str
    category_id: int | None
    image: str | None
    price: int
    price_text: str           # formatted once here, not by a filter per card
    url: str
    stock: str                # IN_STOCK | LOW | SOLD_OUT
    stock_count: int | None   # only for card stock; shown only if the owner allows it
    featured: bool


@dataclass(slots=True)
class CategoryTree:
    roots: list[CategoryNode]
    by_id: dict[int, CategoryNode]

    def descendants(self, category_id: int) -> list[int]:
        """The category and every category below it."""
        out, todo = [], [self.by_id[category_id]]
        while todo:
            node = todo.pop()
            out.append(node.id)
            todo.extend(node.children)
        return out

    def trail(self, category_id: int) -> list[CategoryNode]:
        """Breadcrumb: root first."""
        out, node, seen = [], self.by_id.get(category_id), set()
        while node is not None and node.id not in seen:
            seen.add(node.id)
            out.append(node)
            node = self.by_id.get(node.parent_id) if node.parent_id else None
        return out[::-1]


def localized(zh: str | None, en: str | None, locale: str) -> str:
    if locale == "en" and en:
        return en
    return zh or en or ""


def category_tree(locale: str) -> CategoryTree:
    rows = db.session.execute(
        select(Category.id, Category.parent_id, Category.name, Category.name_en, Category.icon)
        .order_by(Category.position, Category.id)
    ).all()
    by_id = {r.id: CategoryNode(r.id, r.parent_id, localized(r.name, r.name_en, locale), r.icon)
             for r in rows}
    roots = []
    for node in by_id.values():
        parent = by_id.get(node.parent_id) if node.parent_id else None
        (parent.children if parent is not None else roots).append(node)
    return CategoryTree(roots, by_id)


def stock_state(kind: str, status: str, available: int, threshold: int,
                loop_code: bool) -> tuple[str, int | None]:
    """In stock / low / sold out; card stock also gives its count."""
    if status == "sold_out":
        return SOLD_OUT, 0
    if kind != "card":
        return IN_STOCK, None  # fulfilled upstream or by hand: no stock to count
    if available <= 0:
        return SOLD_OUT, 0
    if not loop_code and available <= threshold:
        return LOW, available
    return IN_STOCK, available


def _shop_row(tenant_id: int):
    """The outer join to this shop's presentation rows."""
    return and_(ShopProduct.product_id == Product.id, ShopProduct.tenant_id == tenant_id)


def _visible(stmt):
    return stmt.where(Product.status != "hidden",
                      or_(ShopProduct.hidden.is_(None), ShopProduct.hidden == false()))


_LIST_COLUMNS = (
    Product.id, Product.sku, Product.name, Product.name_en, Product.kind, Product.status,
    Product.category_id, Product.images, Product.stock_available, Product.low_stock_threshold,
    Product.loop_code,
    ShopProduct.name.label("shop_name"), ShopProduct.name_en.label("shop_name_en"),
    ShopProduct.featured,
)


def list_items(tenant, prices: dict[int, int], locale: str, *,
               category_ids: list[int] | None = None, search: str | None = None,
               limit: int | None = None, url_prefix: str = "/p/") -> list[Item]:
    """Visible products this shop sells (has a price for), in the shop's order."""
    currency = tenant.currency
    stmt = _visible(
        select(*_LIST_COLUMNS)
        .outerjoin(ShopProduct, _shop_row(tenant.id))
    ).order_by(func.coalesce(ShopProduct.position, Product.position), Product.id)
    if category_ids is not None:
        stmt = stmt.where(Product.category_id.in_(category_ids))
    if search:
        stmt = stmt.where(or_(
            Product.name.icontains(search, autoescape=True),
            Product.name_en.icontains(search, autoescape=True),
            Product.sku.icontains(search, autoescape=True),
            ShopProduct.name.icontains(search, autoescape=True),
            ShopProduct.name_en.icontains(search, autoescape=True),
        ))
    if limit:
        stmt = stmt.limit(limit)
    # the join above already names this shop's tenant id; skipping the generic
    # scope filter halves the cost of this, the hottest query of the storefront
    stmt = stmt.execution_options(all_tenants=True)
    items = []
    for r in db.session.execute(stmt):
        price = prices.get(r.id)
        if price is None:
            continue  # not sold by this shop
        state, count = stock_state(r.kind, r.status, r.stock_available, r.low_stock_threshold,
                                   r.loop_code)
        items.append(Item(
            id=r.id, sku=r.sku,
            name=localized(r.shop_name or r.name, r.shop_name_en or r.name_en, locale),
            kind=r.kind, category_id=r.category_id,
            image=(r.images or [None])[0] if isinstance(r.images, list) else None,
            price=price, price_text=format_money(price, currency),
            url=url_prefix + quote(r.sku, safe=""),
            stock=state, stock_count=count, featured=bool(r.featured),
        ))
    return items


# catalog field types → HTML input type / inputmode (a regex still applies to numbers)
_INPUT_TYPES = {"text": "text", "phone": "tel", "email": "email", "number": "text", "qq": "text"}
_INPUT_MODES = {"phone": "tel", "number": "numeric", "qq": "numeric"}


@dataclass(slots=True)
class ProductPage:
    product: Product
    name: str
    description: str
    fields: list[dict]
    stock: str
    stock_count: int | None


def product_page(tenant, sku: str, locale: str) -> ProductPage | None:
    """The product behind /p/<sku> on this shop, or None when not shown here."""
    row = db.session.execute(
        _visible(select(Product, ShopProduct.name, ShopProduct.name_en)
                 .outerjoin(ShopProduct, _shop_row(tenant.id)))
        .where(Product.sku == sku)
    ).first()
    if row is None:
        return None
    product, shop_name, shop_name_en = row
    state, count = stock_state(product.kind, product.status, product.stock_available,
                               product.low_stock_threshold, product.loop_code)
    fields = []
    for spec in product.fields or []:
        if not isinstance(spec, dict) or not spec.get("name"):
            continue
        fields.append({
            "name": str(spec["name"]),
            "label": localized(spec.get("label"), spec.get("label_en"), locale)
            or str(spec["name"]),
            "type": _INPUT_TYPES.get(spec.get("type") or "text", "text"),
            "inputmode": _INPUT_MODES.get(spec.get("type") or "text"),
            "regex": spec.get("regex") or None,
            "required": bool(spec.get("required", True)),
        })
    return ProductPage(
        product=product,
        name=localized(shop_name or product.name, shop_name_en or product.name_en, locale),
        description=localized(product.description, product.description_en, locale),
        fields=fields, stock=state, stock_count=count,
    )


def product_snapshot(tenant, sku: str, locale: str) -> ProductPage | None:
    """``product_page`` with the product as a plain copy of its columns (no session,
    no lazy loading): what the storefront keeps between requests. Checkout reads the
    live row (``product_page``)."""
    page = product_page(tenant, sku, locale)
    if page is None:
        return None
    product = page.product
    page.product = SimpleNamespace(**{a.key: getattr(product, a.key)
                                      for a in Product.__mapper__.column_attrs})
    return page
