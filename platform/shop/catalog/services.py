"""The master's catalog: categories and products, and a sub-shop's own view of them.

Every write validates everything first, then writes and commits; a bad value
raises ``InvalidInput`` naming the field and nothing is written.
"""
from __future__ import annotations

import re
from urllib.parse import urlsplit

from flask import current_app, has_app_context
from sqlalchemy import func, select

from kameng.core.addresses import is_address
from kameng.core.errors import Conflict, InvalidInput, NotFound
from kameng.core.extensions import db
from kameng.core.i18n import lazy_gettext as _l
from kameng.core.money import CURRENCIES
from kameng.shop.catalog.models import KINDS, STATUSES, Category, Product, ShopProduct

SKU_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
FIELD_NAME_RE = re.compile(r"^[a-z][a-z0-9_]{0,31}$")
FIELD_TYPES = ("text", "phone", "email", "number", "qq")
# built-in checks per buyer-field type; a field's own regex applies on top
TYPE_PATTERNS = {
    "text": None,
    "phone": re.compile(r"^\+?[0-9][0-9 -]{4,19}$"),
    "email": None,  # checked with email-validator (kameng.core.addresses)
    "number": re.compile(r"^-?[0-9]+(\.[0-9]+)?$"),
    "qq": re.compile(r"^[1-9][0-9]{4,11}$"),
}
MAX_FIELD_VALUE = 255
MAX_REGEX = 200
MAX_IMAGES = 20
MAX_QUANTITY = 100000
_UNSET = object()


# ---------------------------------------------------------------- categories

def _text(value, field: str, *, required: bool = False, max_len: int = 200) -> str | None:
    value = (value or "").strip() if value is not None else None
    if required and not value:
        raise InvalidInput(_l("%(field)s is required", field=field), field=field)
    if value and len(value) > max_len:
        raise InvalidInput(_l("%(field)s is at most %(max_len)s characters",
                              field=field, max_len=max_len), field=field)
    return value or None


def get_category(category_id: int, field: str | None = None) -> Category:
    category = db.session.get(Category, category_id)
    if category is None:
        raise NotFound(_l("no category %(category_id)s", category_id=category_id), field=field)
    return category


def find_category(name: str) -> Category | None:
    """The category named ``name`` (in either language), None if there is none."""
    name = (name or "").strip()
    rows = db.session.scalars(
        select(Category).where((Category.name == name) | (Category.name_en == name))).all()
    if len(rows) > 1:
        raise Conflict(_l("more than one category is named %(name)r; use its id", name=name),
                       field="category")
    return rows[0] if rows else None


def category_by_name(name: str) -> Category:
    found = find_category(name)
    if found is None:
        raise NotFound(_l("no category named %(name)r", name=name), field="category")
    return found


def _resolve_parent(parent) -> Category | None:
    if parent is None or parent == "":
        return None
    if isinstance(parent, Category):
        return parent
    return get_category(int(parent))


def create_category(name: str, name_en: str | None = None, parent=None, icon: str | None = None,
                    position: int | None = None) -> Category:
    name = _text(name, "name", required=True, max_len=120)
    name_en = _text(name_en, "name_en", max_len=120)
    icon = _text(icon, "icon", max_len=255)
    parent = _resolve_parent(parent)
    if position is None:
        siblings = (Category.parent_id == parent.id) if parent else Category.parent_id.is_(None)
        position = (db.session.scalar(select(func.max(Category.position)).where(siblings))
                    or 0) + 1
    category = Category(name=name, name_en=name_en, icon=icon, position=int(position),
                        parent_id=parent.id if parent else None)
    db.session.add(category)
    db.session.commit()
    return category


def update_category(category: Category, *, name=_UNSET, name_en=_UNSET, parent=_UNSET,
                    icon=_UNSET, position=_UNSET) -> Category:
    changes: dict = {}
    if name is not _UNSET:
        changes["name"] = _text(name, "name", required=True, max_len=120)
    if name_en is not _UNSET:
        changes["name_en"] = _text(name_en, "name_en", max_len=120)
    if icon is not _UNSET:
        changes["icon"] = _text(icon, "icon", max_len=255)
    if position is not _UNSET:
        try:
            changes["position"] = int(position)
        except (TypeError, ValueError):
            raise InvalidInput(_l("position must be a whole number"), field="position") from None
    if parent is not _UNSET:
        new_parent = _resolve_parent(parent)
        # walking up from the new parent must never meet this category
        node = new_parent
        while node is not None:
            if node.id == category.id:
                raise InvalidInput(_l("a category cannot be moved under itself"), field="parent")
            node = node.parent
        changes["parent_id"] = new_parent.id if new_parent else None
    for key, value in changes.items():
        setattr(category, key, value)
    db.session.commit()
    return category


def delete_category(category: Category) -> None:
    if db.session.scalar(select(Category.id).where(Category.parent_id == category.id).limit(1)):
        raise Conflict(_l("the category has sub-categories; move or delete them first"))
    if db.session.scalar(select(Product.id).where(Product.category_id == category.id).limit(1)):
        raise Conflict(_l("the category still has products; move them first"))
    db.session.delete(category)
    db.session.commit()


def category_tree() -> list[tuple[int, Category]]:
    """Every category as (depth, category), parents before children, in position order."""
    rows = db.session.scalars(select(Category).order_by(Category.position, Category.id)).all()
    children: dict[int | None, list[Category]] = {}
    for c in rows:
        children.setdefault(c.parent_id, []).append(c)
    out: list[tuple[int, Category]] = []

    def walk(parent_id, depth):
        for c in children.get(parent_id, []):
            out.append((depth, c))
            walk(c.id, depth + 1)

    walk(None, 0)
    return out


# ------------------------------------------------------------------ products

def catalog_currency() -> str:
    """The currency the catalog is priced in: the master shop's."""
    from kameng.tenants.services import master

    root = master()
    if root is not None:
        return root.currency
    return current_app.config.get("DEFAULT_CURRENCY", "CNY") if has_app_context() else "CNY"


def get_product(product_id: int, field: str | None = None) -> Product:
    product = db.session.get(Product, product_id)
    if product is None:
        raise NotFound(_l("no product %(product_id)s", product_id=product_id), field=field)
    return product


def product_by_sku(sku: str, field: str = "sku") -> Product:
    product = db.session.scalar(select(Product).where(Product.sku == (sku or "").strip()))
    if product is None:
        raise NotFound(_l("no product with SKU %(sku)r", sku=sku), field=field)
    return product


def product_sku(product_id: int) -> str:
    return db.session.scalar(select(Product.sku).where(Product.id == product_id)) or "?"


def list_products(category_id: int | None = None, status: str | None = None) -> list[Product]:
    stmt = select(Product).order_by(Product.position, Product.id)
    if category_id is not None:
        stmt = stmt.where(Product.category_id == category_id)
    if status is not None:
        stmt = stmt.where(Product.status == status)
    return list(db.session.scalars(stmt))


def validate_sku(sku: str) -> str:
    sku = (sku or "").strip()
    if not SKU_RE.match(sku):
        raise InvalidInput(_l("SKU %(sku)r must be 1–64 letters, digits, '.', '_' or '-', "
                              "starting with a letter or digit", sku=sku), field="sku")
    return sku


def _amount(value, field: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidInput(_l("%(field)s must be an integer amount in minor units",
                              field=field), field=field)
    if value < 0:
        raise InvalidInput(_l("%(field)s cannot be negative", field=field), field=field)
    return value


def _quantity(value, field: str) -> int:
    try:
        value = int(value)
    except (TypeError, ValueError):
        raise InvalidInput(_l("%(field)s must be a whole number",
                              field=field), field=field) from None
    if not 1 <= value <= MAX_QUANTITY:
        raise InvalidInput(_l("%(field)s must be between 1 and %(max_quantity)s",
                              field=field, max_quantity=MAX_QUANTITY), field=field)
    return value


def validate_images(images) -> list[str]:
    if images is None:
        return []
    if isinstance(images, str):
        images = images.splitlines()
    out = []
    for url in images:
        url = (url or "").strip()
        if not url:
            continue
        parts = urlsplit(url)
        ok = (parts.scheme in ("http", "https") and parts.netloc) or \
            (not parts.scheme and url.startswith("/") and not url.startswith("//"))
        if not ok or len(url) > 500 or any(c.isspace() for c in url):
            raise InvalidInput(_l("image %(url)r is not an http(s) URL or a /path", url=url[:80]),
                               field="images")
        out.append(url)
    if len(out) > MAX_IMAGES:
        raise InvalidInput(_l("at most %(max_images)s images",
                              max_images=MAX_IMAGES), field="images")
    return out


def validate_fields(fields, first: int = 1) -> list[dict]:
    """Buyer input field definitions, checked as data; returns the cleaned list.

    ``first`` is the number messages give the first definition (#1 by default)."""
    if fields is None:
        return []
    if not isinstance(fields, list):
        raise InvalidInput(_l("fields must be a list of field definitions"), field="fields")
    cleaned, seen = [], set()
    for i, spec in enumerate(fields, first):
        if not isinstance(spec, dict):
            raise InvalidInput(_l("field #%(i)s must be an object", i=i), field="fields")
        unknown = set(spec) - {"name", "label", "label_en", "type", "regex", "required"}
        if unknown:
            raise InvalidInput(_l("field #%(i)s has unknown keys: %(unknown)s",
                                  i=i, unknown=', '.join(sorted(unknown))),
                               field="fields")
        name = str(spec.get("name") or "").strip()
        if not FIELD_NAME_RE.match(name):
            raise InvalidInput(_l("field #%(i)s: name %(name)r must be lowercase letters, digits "
                                  "or '_' (at most 32), starting with a letter",
                                  i=i, name=name), field="fields")
        if name in seen:
            raise InvalidInput(_l("field name %(name)r is used twice", name=name), field="fields")
        seen.add(name)
        label = str(spec.get("label") or "").strip()
        if not label or len(label) > 100:
            raise InvalidInput(_l("field %(name)r: label is required (at most 100 characters)",
                                  name=name),
                               field="fields")
        label_en = str(spec.get("label_en") or "").strip() or None
        if label_en and len(label_en) > 100:
            raise InvalidInput(_l("field %(name)r: label_en is at most 100 characters", name=name),
                               field="fields")
        ftype = spec.get("type") or "text"
        if ftype not in FIELD_TYPES:
            raise InvalidInput(_l("field %(name)r: type must be one of %(choices)s",
                                  name=name, choices=', '.join(FIELD_TYPES)),
                               field="fields")
        regex = spec.get("regex") or None
        if regex is not None:
            if not isinstance(regex, str) or len(regex) > MAX_REGEX:
                raise InvalidInput(_l("field %(name)r: regex must be text of at most "
                                      "%(max_regex)s characters",
                                      name=name, max_regex=MAX_REGEX), field="fields")
            try:
                re.compile(regex)
            except re.error as err:
                raise InvalidInput(_l("field %(name)r: regex does not compile (%(err)s)",
                                      name=name, err=err),
                                   field="fields") from None
        required = spec.get("required", True)
        if not isinstance(required, bool):
            raise InvalidInput(_l("field %(name)r: required must be true or false", name=name),
                               field="fields")
        cleaned.append({"name": name, "label": label, "label_en": label_en, "type": ftype,
                        "regex": regex, "required": required})
    return cleaned


def validate_buyer_fields(product: Product, values: dict) -> dict:
    """The buyer's answers to a product's input fields, cleaned; InvalidInput names the field.

    Unknown keys are dropped; values are stripped strings.
    """
    values = values or {}
    cleaned: dict[str, str] = {}
    for spec in product.fields or []:
        name = spec["name"]
        raw = values.get(name)
        value = "" if raw is None else str(raw).strip()
        label = spec.get("label") or name
        if not value:
            if spec.get("required", True):
                raise InvalidInput(_l("%(label)s is required", label=label), field=name)
            continue
        if len(value) > MAX_FIELD_VALUE or any(ord(c) < 32 or ord(c) == 127 for c in value):
            raise InvalidInput(_l("%(label)s is not valid", label=label), field=name)
        ftype = spec.get("type") or "text"
        pattern = TYPE_PATTERNS.get(ftype)
        if not (is_address(value) if ftype == "email"
                else pattern is None or pattern.match(value)):
            raise InvalidInput(_l("%(label)s is not a valid %(type)s",
                                  label=label, type=spec.get('type')), field=name)
        if spec.get("regex") and not re.fullmatch(spec["regex"], value):
            raise InvalidInput(_l("%(label)s is not in the expected format",
                                  label=label), field=name)
        cleaned[name] = value
    return cleaned


def _category_arg(category) -> int | None:
    if category is None or category == "":
        return None
    if isinstance(category, Category):
        return category.id
    if isinstance(category, str) and not category.strip().isdigit():
        return category_by_name(category).id
    return get_category(int(category)).id


def _clean_product(values: dict, current: Product | None) -> dict:
    """Validate the given product attributes; returns column values to set."""
    out: dict = {}
    if "sku" in values:
        out["sku"] = validate_sku(values["sku"])
        clash = db.session.scalar(select(Product.id).where(Product.sku == out["sku"]))
        if clash and (current is None or clash != current.id):
            raise Conflict(_l("a product with SKU %(sku)r already exists",
                              sku=out['sku']), field="sku")
    if "kind" in values:
        if values["kind"] not in KINDS:
            raise InvalidInput(_l("kind must be one of %(choices)s",
                                  choices=', '.join(KINDS)), field="kind")
        out["kind"] = values["kind"]
    if "status" in values:
        if values["status"] not in STATUSES:
            raise InvalidInput(_l("status must be one of %(choices)s",
                                  choices=', '.join(STATUSES)), field="status")
        out["status"] = values["status"]
    if "name" in values:
        out["name"] = _text(values["name"], "name", required=True)
    if "name_en" in values:
        out["name_en"] = _text(values["name_en"], "name_en")
    for key in ("description", "description_en"):
        if key in values:
            text_value = values[key] or ""
            if len(text_value) > 20000:
                raise InvalidInput(_l("%(key)s is at most 20000 characters", key=key), field=key)
            out[key] = text_value
    if "images" in values:
        out["images"] = validate_images(values["images"])
    if "fields" in values:
        out["fields"] = validate_fields(values["fields"])
    for key in ("supplier_cost", "wholesale_price", "retail_price"):
        if key in values:
            out[key] = _amount(values[key], key)
    for key in ("min_quantity", "max_quantity"):
        if key in values:
            out[key] = _quantity(values[key], key)
    low = out.get("min_quantity", current.min_quantity if current else 1)
    high = out.get("max_quantity", current.max_quantity if current else 100)
    if high < low:
        raise InvalidInput(_l("max_quantity cannot be below min_quantity"), field="max_quantity")
    if "category" in values:
        out["category_id"] = _category_arg(values["category"])
    if "currency" in values:
        if values["currency"] not in CURRENCIES:
            raise InvalidInput(_l("unknown currency %(currency)r",
                                  currency=values['currency']), field="currency")
        out["currency"] = values["currency"]
    if "loop_code" in values:
        out["loop_code"] = bool(values["loop_code"])
    if "low_stock_threshold" in values:
        try:
            out["low_stock_threshold"] = int(values["low_stock_threshold"])
        except (TypeError, ValueError):
            raise InvalidInput(_l("low_stock_threshold must be a whole number"),
                               field="low_stock_threshold") from None
        if out["low_stock_threshold"] < 0:
            raise InvalidInput(_l("low_stock_threshold cannot be negative"),
                               field="low_stock_threshold")
    if "position" in values:
        out["position"] = int(values["position"] or 0)
    if "supplier_id" in values:
        out["supplier_id"] = values["supplier_id"] or None
    if "supplier_sku" in values:
        out["supplier_sku"] = _text(values["supplier_sku"], "supplier_sku", max_len=128)
    return out


def create_product(*, sku: str, name: str, kind: str, supplier_cost: int, wholesale_price: int,
                   retail_price: int, category=None, **extra) -> Product:
    """Create a master product. Amounts are integer minor units of the master's currency.

    ``category`` may be a Category, its id, a name (created when missing, in the same
    transaction), or None. Other keyword arguments:
    name_en, description, description_en, images, min_quantity, max_quantity,
    fields, status, currency, loop_code, low_stock_threshold, position,
    supplier_id, supplier_sku.
    """
    values = dict(extra, sku=sku, name=name, kind=kind, supplier_cost=supplier_cost,
                  wholesale_price=wholesale_price, retail_price=retail_price,
                  category=category)
    allowed = {"sku", "name", "kind", "supplier_cost", "wholesale_price", "retail_price",
               "category", "name_en", "description", "description_en", "images",
               "min_quantity", "max_quantity", "fields", "status", "currency", "loop_code",
               "low_stock_threshold", "position", "supplier_id", "supplier_sku"}
    unknown = set(values) - allowed
    if unknown:
        raise InvalidInput(_l("unknown product attribute(s): %(unknown)s",
                              unknown=', '.join(sorted(unknown))))
    new_category = None
    if isinstance(category, str) and category.strip() and not category.strip().isdigit() \
            and find_category(category) is None:
        new_category = Category(name=_text(category, "category", required=True, max_len=120),
                                position=0)
        values["category"] = None
    cleaned = _clean_product(values, None)
    cleaned.setdefault("currency", catalog_currency())
    product = Product(**cleaned)
    product.stock_available = 0
    if new_category is not None:
        db.session.add(new_category)
        product.category = new_category
    db.session.add(product)
    db.session.commit()
    return product


def update_product(product: Product, **changes) -> Product:
    """Change a product; ``stock_available`` is the stock service's, never set here."""
    if "stock_available" in changes:
        raise InvalidInput(_l("stock_available is kept by the stock service"),
                           field="stock_available")
    cleaned = _clean_product(changes, product)
    for key, value in cleaned.items():
        setattr(product, key, value)
    db.session.commit()
    return product


# ---------------------------------------------------------- sub-shop overrides

def shop_override(tenant, product: Product) -> ShopProduct | None:
    return db.session.scalar(
        select(ShopProduct).where(ShopProduct.tenant_id == tenant.id,
                                  ShopProduct.product_id == product.id)
        .execution_options(all_tenants=True))


def product_on_shop(tenant, sku: str) -> tuple[Product | None, bool]:
    """The product with this SKU and whether this shop hides it, in one query."""
    row = db.session.execute(
        select(Product, ShopProduct.hidden)
        .outerjoin(ShopProduct, (ShopProduct.product_id == Product.id)
                   & (ShopProduct.tenant_id == tenant.id))
        .where(Product.sku == (sku or "").strip())
        .execution_options(all_tenants=True)).first()
    if row is None:
        return None, False
    # the master shows its products as they are; overrides belong to sub-shops
    return row[0], bool(row[1]) and tenant.parent_id is not None


def set_shop_override(tenant, product: Product, *, hidden=_UNSET, name=_UNSET,
                      name_en=_UNSET, position=_UNSET, featured=_UNSET) -> ShopProduct:
    """A sub-shop's own presentation of a master product; the master's row is untouched.

    ``name``/``name_en`` None restore the master's name; ``position`` None its order.
    """
    if tenant.parent_id is None:
        raise InvalidInput(_l("the master edits its products directly, not through an override"))
    changes: dict = {}
    if hidden is not _UNSET:
        changes["hidden"] = bool(hidden)
    if featured is not _UNSET:
        changes["featured"] = bool(featured)
    if name is not _UNSET:
        changes["name"] = _text(name, "name")
    if name_en is not _UNSET:
        changes["name_en"] = _text(name_en, "name_en")
    if position is not _UNSET:
        if position in (None, ""):
            changes["position"] = None
        else:
            try:
                changes["position"] = int(position)
            except (TypeError, ValueError):
                raise InvalidInput(_l("position must be a whole number"),
                                   field="position") from None
    override = shop_override(tenant, product)
    if override is None:
        override = ShopProduct(tenant_id=tenant.id, product_id=product.id)
        db.session.add(override)
    for key, value in changes.items():
        setattr(override, key, value)
    db.session.commit()
    return override


def shop_catalog(tenant, include_hidden: bool = False) -> list[tuple[Product, ShopProduct | None]]:
    """The master's on-sale products as one shop shows them: overrides applied, ordered
    featured first, then by the shop's position (else the master's)."""
    products = db.session.scalars(
        select(Product).where(Product.status != "hidden")).all()
    overrides = {}
    if tenant.parent_id is not None:
        overrides = {o.product_id: o for o in db.session.scalars(
            select(ShopProduct).where(ShopProduct.tenant_id == tenant.id)
            .execution_options(all_tenants=True))}
    rows = []
    for p in products:
        o = overrides.get(p.id)
        if o is not None and o.hidden and not include_hidden:
            continue
        rows.append((p, o))

    def key(row):
        p, o = row
        featured = bool(o and o.featured)
        position = o.position if o is not None and o.position is not None else p.position
        return (not featured, position, p.id)

    rows.sort(key=key)
    return rows


def display_name(product: Product, override: ShopProduct | None, locale: str = "zh_CN") -> str:
    if locale.startswith("en"):
        return (override and override.name_en) or product.name_en or \
            (override and override.name) or product.name
    return (override and override.name) or product.name
