"""The docking API's request parsing and response shapes (the contract lives here).

Amounts are integers in the currency's minor unit, always with ``currency``.
"""
from __future__ import annotations

from dataclasses import dataclass

from kameng.core.errors import InvalidInput
from kameng.core.i18n import lazy_gettext as _l

MAX_SKU = 64
MAX_FIELDS = 32


@dataclass
class OrderRequest:
    sku: str
    quantity: int
    fields: dict
    coupon: str | None = None


def parse_order(body) -> OrderRequest:
    """``{"sku", "quantity", "fields"}``; InvalidInput names the offending field."""
    if not isinstance(body, dict):
        raise InvalidInput(_l("the body must be a JSON object"), field="body")
    sku = body.get("sku")
    if not isinstance(sku, str) or not sku.strip() or len(sku) > MAX_SKU:
        raise InvalidInput(_l("sku is required (a product's SKU)"), field="sku")
    quantity = body.get("quantity", 1)
    if isinstance(quantity, bool) or not isinstance(quantity, int):
        raise InvalidInput(_l("quantity must be a whole number"), field="quantity")
    fields = body.get("fields")
    if fields is None:
        fields = {}
    if not isinstance(fields, dict) or len(fields) > MAX_FIELDS or not all(
            isinstance(k, str) and isinstance(v, str | int) and not isinstance(v, bool)
            for k, v in fields.items()):
        raise InvalidInput(_l("fields must be an object of field name → text"), field="fields")
    coupon = body.get("coupon")
    if coupon is not None and (not isinstance(coupon, str) or len(coupon) > 32):
        raise InvalidInput(_l("coupon must be a code of at most 32 characters"), field="coupon")
    return OrderRequest(sku.strip(), quantity, {k: str(v) for k, v in fields.items()},
                        (coupon or "").strip() or None)


def product_json(product, name: str, price: int, currency: str, in_stock: bool, *,
                 names: dict | None = None, description: str = "",
                 descriptions: dict | None = None) -> dict:
    return {
        "sku": product.sku,
        "name": name,
        "names": names or {},
        "description": description,
        "descriptions": descriptions or {},
        "kind": product.kind,
        "price": price,
        "currency": currency,
        "in_stock": in_stock,
        "min_quantity": product.min_quantity,
        "max_quantity": product.max_quantity,
        "fields": [{"name": f["name"], "label": f.get("label"), "label_en": f.get("label_en"),
                    "type": f.get("type") or "text", "regex": f.get("regex"),
                    "required": f.get("required", True)} for f in product.fields or []],
    }


def order_json(order, codes: list[str] | None = None) -> dict:
    body = {"order_no": order.order_no, "status": order.status, "amount": order.amount,
            "currency": order.currency, "discount": int(order.discount or 0),
            "coupon": order.coupon_code}
    if codes is not None:
        body["codes"] = codes
    return body
