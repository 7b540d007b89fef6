"""Coupons (优惠券): codes a shop gives its buyers, paid from its own margin only.

A coupon takes money off an order's line after the member tier and the quantity
discount (``chain_prices`` gives the line's unit price with both applied), and never
more than the selling shop's own margin on the line: ``(price - cost) × quantity``
of the last level of the price chain, where ``cost`` is the parent's price for the
shop (the supplier cost for the master). The chain's prices stay as they were; the
line and the order carry the ``discount`` and the commission split gives the selling
shop that much less (``LineSnapshot.discount``). The shops above, the master and the
supplier are paid exactly as without the coupon.

Redeeming happens inside the order's transaction:

- ``UPDATE coupons SET uses = uses + 1 WHERE id = … AND active AND (max_uses IS NULL
  OR uses < max_uses)``: the row count decides; racing checkouts queue on the row
  lock and the loser sees the code used up;
- then the buyer's held redemptions are counted (the row lock above makes racing
  orders of one buyer count one after the other) against ``per_buyer``;
- a ``coupon_redemptions`` row (one per order, unique) records it.

An unpaid order that expires gives its use back (``release_in_txn``); if its payment
arrives late anyway the order keeps its price and the use is taken again when the
coupon still has one (``rehold_in_txn``). A refunded order keeps its use: the buyer
had the coupon's benefit once, and a refund is no reason to hand out another.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy import func, select, update

from kameng.core.errors import InvalidInput, NotFound
from kameng.core.extensions import db
from kameng.core.i18n import lazy_gettext as _l
from kameng.core.models import utcnow
from kameng.core.money import parse_input_amount
from kameng.core.percent import BASIS, parse_percent
from kameng.core.txn import owning
from kameng.sales.models import COUPON_KINDS, COUPON_SCOPES, Coupon, CouponRedemption, Order
from kameng.shop.catalog.models import Category, Product
from kameng.tenants.models import Tenant
from kameng.tenants.shop_settings import TIME_FORMAT, time_zone_of

CODE_MAX = 32


class CouponRefused(InvalidInput):
    """The buyer's code cannot be used on this order (``code`` says why)."""

    def __init__(self, message, code: str):
        super().__init__(message, code=code, field="coupon")


@dataclass(frozen=True)
class Applied:
    coupon: Coupon
    discount: int      # minor units off the line


def normalize_code(code) -> str:
    return str(code or "").strip().upper()


# ----- the owner's side ---------------------------------------------------------------

def list_coupons(tenant: Tenant) -> list[Coupon]:
    return list(db.session.scalars(select(Coupon).where(Coupon.tenant_id == tenant.id)
                                   .order_by(Coupon.created_at.desc(), Coupon.id.desc())))


def get_coupon(tenant: Tenant, coupon_id) -> Coupon:
    try:
        cid = int(coupon_id)
    except (TypeError, ValueError):
        cid = 0
    coupon = db.session.scalar(select(Coupon).where(Coupon.id == cid,
                                                    Coupon.tenant_id == tenant.id))
    if coupon is None:
        raise NotFound(_l("no such coupon"))
    return coupon


def _local_time(text, tenant: Tenant, field: str) -> datetime | None:
    text = str(text or "").strip()
    if not text:
        return None
    try:
        naive = datetime.strptime(text.replace("T", " "), TIME_FORMAT)
    except ValueError:
        raise InvalidInput(_l("give a date and time like 2026-12-01 09:00"), field=field) from None
    return naive.replace(tzinfo=ZoneInfo(time_zone_of(tenant))).astimezone(ZoneInfo("UTC"))


def _optional_count(text, field: str) -> int | None:
    text = str(text or "").strip()
    if not text:
        return None
    if not text.isdecimal() or not 1 <= int(text) <= 10**9:
        raise InvalidInput(_l("give a whole number of at least 1, or leave it empty"),
                           field=field)
    return int(text)


def clean(tenant: Tenant, data: dict) -> dict:
    """The coupon's columns from form/API input (raises ``InvalidInput`` naming the field)."""
    code = normalize_code(data.get("code"))
    if not code or len(code) > CODE_MAX or not all(c.isalnum() or c in "-_" for c in code) \
            or not code.isascii():
        raise InvalidInput(_l("a code is 1–32 letters, digits, '-' or '_'"), field="code")
    kind = str(data.get("kind") or "")
    if kind not in COUPON_KINDS:
        raise InvalidInput(_l("choose percent or fixed amount"), field="kind")
    if kind == "percent":
        value = parse_percent(data.get("value"), field="value", maximum_bp=BASIS)
    else:
        value = parse_input_amount(data.get("value"), tenant.currency, field="value")
    if value <= 0:
        raise InvalidInput(_l("the discount must be more than zero"), field="value")
    scope, target = str(data.get("target") or "shop"), None
    if ":" in scope:
        scope, _sep, target = scope.partition(":")
    if scope not in COUPON_SCOPES or (scope != "shop") != bool(target):
        raise InvalidInput(_l("choose the whole shop, a category or a product"), field="target")
    category_id = product_id = None
    if scope == "category":
        category_id = int(target) if target.isdecimal() else 0
        if db.session.get(Category, category_id) is None:
            raise InvalidInput(_l("no such category"), field="target")
    elif scope == "product":
        product_id = int(target) if target.isdecimal() else 0
        if db.session.get(Product, product_id) is None:
            raise InvalidInput(_l("no such product"), field="target")
    starts_at = _local_time(data.get("starts_at"), tenant, "starts_at")
    ends_at = _local_time(data.get("ends_at"), tenant, "ends_at")
    if starts_at and ends_at and ends_at <= starts_at:
        raise InvalidInput(_l("the end must come after the start"), field="ends_at")
    min_text = str(data.get("min_amount") or "").strip()
    min_amount = parse_input_amount(min_text, tenant.currency, field="min_amount") \
        if min_text else 0
    return {"code": code, "kind": kind, "value": value, "scope": scope,
            "category_id": category_id, "product_id": product_id,
            "starts_at": starts_at, "ends_at": ends_at,
            "max_uses": _optional_count(data.get("max_uses"), "max_uses"),
            "per_buyer": _optional_count(data.get("per_buyer"), "per_buyer"),
            "min_amount": min_amount}


def _code_taken(tenant: Tenant, code: str, but: int | None = None) -> bool:
    stmt = select(Coupon.id).where(Coupon.tenant_id == tenant.id, Coupon.code == code)
    if but is not None:
        stmt = stmt.where(Coupon.id != but)
    return db.session.scalar(stmt) is not None


def create_coupon_in_txn(tenant: Tenant, data: dict) -> Coupon:
    values = clean(tenant, data)
    if _code_taken(tenant, values["code"]):
        raise InvalidInput(_l("this shop already has the code %(code)s", code=values["code"]),
                           field="code")
    coupon = Coupon(tenant_id=tenant.id, uses=0, active=True, **values)
    db.session.add(coupon)
    db.session.flush()
    return coupon


def update_coupon_in_txn(tenant: Tenant, coupon_id, data: dict) -> Coupon:
    coupon = get_coupon(tenant, coupon_id)
    values = clean(tenant, data)
    if _code_taken(tenant, values["code"], but=coupon.id):
        raise InvalidInput(_l("this shop already has the code %(code)s", code=values["code"]),
                           field="code")
    if values["max_uses"] is not None and values["max_uses"] < coupon.uses:
        raise InvalidInput(_l("it has been used %(uses)s times already: the total cannot be "
                              "less", uses=coupon.uses), field="max_uses")
    for key, value in values.items():
        setattr(coupon, key, value)
    db.session.flush()
    return coupon


def set_active_in_txn(tenant: Tenant, coupon_id, active: bool) -> Coupon:
    coupon = get_coupon(tenant, coupon_id)
    coupon.active = bool(active)
    db.session.flush()
    return coupon


create_coupon = owning(create_coupon_in_txn)
update_coupon = owning(update_coupon_in_txn)
set_active = owning(set_active_in_txn)


def form_values(coupon: Coupon, tenant: Tenant) -> dict:
    """The coupon as the edit form shows it (times in the shop's zone)."""
    from kameng.core.money import format_plain as format_input_amount
    from kameng.core.percent import format_percent

    zone = ZoneInfo(time_zone_of(tenant))
    target = "shop"
    if coupon.scope == "category":
        target = f"category:{coupon.category_id}"
    elif coupon.scope == "product":
        target = f"product:{coupon.product_id}"
    return {
        "code": coupon.code, "kind": coupon.kind,
        "value": (format_percent(coupon.value) if coupon.kind == "percent"
                  else format_input_amount(coupon.value, tenant.currency)),
        "target": target,
        "starts_at": coupon.starts_at.astimezone(zone).strftime(TIME_FORMAT)
        if coupon.starts_at else "",
        "ends_at": coupon.ends_at.astimezone(zone).strftime(TIME_FORMAT)
        if coupon.ends_at else "",
        "max_uses": str(coupon.max_uses or ""), "per_buyer": str(coupon.per_buyer or ""),
        "min_amount": format_input_amount(coupon.min_amount, tenant.currency)
        if coupon.min_amount else "",
    }


# ----- the buyer's side ---------------------------------------------------------------

def buyer_key(customer_id: int | None, contact: str) -> str:
    if customer_id is not None:
        return f"customer:{customer_id}"
    return f"contact:{(contact or '').strip().lower()}"[:270]


def quote_in_txn(tenant: Tenant, code, product: Product, quantity: int,
                 unit_price: int, unit_cost: int, now=None) -> Applied:
    """What ``code`` takes off a line of ``quantity`` × ``unit_price`` (the tier and the
    quantity discount already applied) whose selling shop pays ``unit_cost`` per unit.

    Raises ``CouponRefused`` (field ``coupon``) for an unknown, not yet valid, expired,
    used-up, disabled or not applicable code, or an order below its minimum."""
    code = normalize_code(code)
    coupon = db.session.scalar(select(Coupon).where(Coupon.tenant_id == tenant.id,
                                                    Coupon.code == code)) if code else None
    if coupon is None or len(code) > CODE_MAX:
        raise CouponRefused(_l("unknown coupon code"), "coupon_unknown")
    now = now or utcnow()
    if not coupon.active:
        raise CouponRefused(_l("this coupon is no longer valid"), "coupon_disabled")
    if coupon.starts_at and now < coupon.starts_at:
        raise CouponRefused(_l("this coupon is not valid yet"), "coupon_not_yet_valid")
    if coupon.ends_at and now >= coupon.ends_at:
        raise CouponRefused(_l("this coupon has expired"), "coupon_expired")
    if coupon.max_uses is not None and coupon.uses >= coupon.max_uses:
        raise CouponRefused(_l("this coupon has been used up"), "coupon_used_up")
    if (coupon.scope == "product" and coupon.product_id != product.id) or \
            (coupon.scope == "category" and coupon.category_id != product.category_id):
        raise CouponRefused(_l("this coupon does not apply to this product"),
                            "coupon_not_applicable")
    base = unit_price * quantity
    if base < coupon.min_amount:
        raise CouponRefused(_l("this coupon needs an order of at least %(amount)s",
                               amount=_format(coupon.min_amount, tenant.currency)),
                            "coupon_below_minimum")
    if coupon.kind == "percent":
        raw = base * coupon.value // BASIS
    else:
        raw = coupon.value
    # never below the shop's cost: only its own margin can be given away
    discount = max(0, min(raw, base, (unit_price - unit_cost) * quantity))
    if discount <= 0:
        raise CouponRefused(_l("this coupon does not apply to this product"),
                            "coupon_not_applicable")
    return Applied(coupon, discount)


def preview(tenant: Tenant, code, product: Product, quantity: int, customer=None) -> Applied:
    """``quote_in_txn`` for the checkout page: the buyer's price chain, nothing written."""
    from kameng.shop.pricing.services import chain_prices

    levels = chain_prices(tenant, product, quantity, customer)
    return quote_in_txn(tenant, code, product, quantity, levels[-1].price, levels[-1].cost)


def _format(amount: int, currency: str) -> str:
    from kameng.core.money import format_money

    return format_money(amount, currency)


def redeem_in_txn(applied: Applied, order: Order, buyer: str) -> None:
    """Take one use of the coupon for ``order`` (flushed, in the order's transaction)."""
    coupon = applied.coupon
    taken = db.session.execute(
        update(Coupon).where(Coupon.id == coupon.id, Coupon.active.is_(True),
                             (Coupon.max_uses.is_(None)) | (Coupon.uses < Coupon.max_uses))
        .values(uses=Coupon.uses + 1).execution_options(synchronize_session=False))
    if taken.rowcount != 1:
        raise CouponRefused(_l("this coupon has been used up"), "coupon_used_up")
    if coupon.per_buyer is not None:
        mine = db.session.scalar(select(func.count(CouponRedemption.id)).where(
            CouponRedemption.coupon_id == coupon.id, CouponRedemption.buyer == buyer,
            CouponRedemption.status == "held"))
        if mine >= coupon.per_buyer:
            raise CouponRefused(_l("you have already used this coupon as often as it allows"),
                                "coupon_used_up")
    db.session.add(CouponRedemption(tenant_id=order.tenant_id, coupon_id=coupon.id,
                                    order_id=order.id, buyer=buyer, discount=applied.discount,
                                    status="held"))
    db.session.flush()


def release_in_txn(order: Order) -> bool:
    """An unpaid order expired: its use goes back to the coupon (once)."""
    if not order.coupon_code:
        return False
    row = db.session.execute(
        update(CouponRedemption).where(CouponRedemption.order_id == order.id,
                                       CouponRedemption.status == "held")
        .values(status="released").returning(CouponRedemption.coupon_id)
        .execution_options(synchronize_session=False)).first()
    if row is None:
        return False
    db.session.execute(update(Coupon).where(Coupon.id == row.coupon_id, Coupon.uses > 0)
                       .values(uses=Coupon.uses - 1)
                       .execution_options(synchronize_session=False))
    return True


def rehold_in_txn(order: Order) -> bool:
    """A late payment of an expired order: the order keeps its price; its use is taken
    again when the coupon still has one (never past ``max_uses``)."""
    if not order.coupon_code:
        return False
    coupon_id = db.session.scalar(select(CouponRedemption.coupon_id).where(
        CouponRedemption.order_id == order.id, CouponRedemption.status == "released"))
    if coupon_id is None:
        return False
    taken = db.session.execute(
        update(Coupon).where(Coupon.id == coupon_id,
                             (Coupon.max_uses.is_(None)) | (Coupon.uses < Coupon.max_uses))
        .values(uses=Coupon.uses + 1).execution_options(synchronize_session=False))
    if taken.rowcount != 1:
        return False
    db.session.execute(update(CouponRedemption).where(CouponRedemption.order_id == order.id)
                       .values(status="held").execution_options(synchronize_session=False))
    return True


def redemptions(coupon: Coupon, limit: int = 50) -> list[tuple[CouponRedemption, str]]:
    """The coupon's latest uses with their order numbers (usage on the edit page)."""
    rows = db.session.execute(
        select(CouponRedemption, Order.order_no)
        .join(Order, Order.id == CouponRedemption.order_id)
        .where(CouponRedemption.coupon_id == coupon.id)
        .order_by(CouponRedemption.id.desc()).limit(limit))
    return [(r[0], r[1]) for r in rows]

