"""Who may open which part of the back office: one table, checked once per request.

An *area* is the back-office module a view lives in (``kameng.admin.<module>``). The
owner may open every area; a staff account only the areas its role is listed for here.
A module that is not in the table is the owner's alone, so a module added without a
line here is closed to staff until someone decides otherwise (fail safe).

The table opens an area; the view's own decorator still applies on top of it: an
action that stays ``owner_required`` (changing the payout account, approving a refund
as the parent) is the owner's even inside an area a role may open.
"""
from __future__ import annotations

from flask import abort, g, request
from flask_login import current_user

from kameng.core.i18n import lazy_gettext as _l

MANAGER, SUPPORT, FINANCE = "manager", "support", "finance"

# area → staff roles that may open it (the owner may open all of them)
AREAS: dict[str, frozenset[str]] = {
    "views": frozenset({MANAGER, SUPPORT, FINANCE}),       # the dashboard
    "security": frozenset({MANAGER, SUPPORT, FINANCE}),    # one's own two-factor sign-in
    "orders": frozenset({MANAGER, SUPPORT, FINANCE}),
    "refund_requests": frozenset({MANAGER, SUPPORT, FINANCE}),
    "customers": frozenset({MANAGER, SUPPORT}),
    "wallets": frozenset({MANAGER, SUPPORT, FINANCE}),
    "earnings": frozenset({MANAGER, FINANCE}),
    "withdrawals": frozenset({MANAGER, FINANCE}),
    "funding": frozenset({MANAGER, FINANCE}),
    "catalog": frozenset({MANAGER}),
    "stock": frozenset({MANAGER}),
    "suppliers": frozenset({MANAGER}),
    "api_keys": frozenset({MANAGER}),
    # not listed, so the owner's alone: staff, payments, plans, shop_settings, pricing,
    # discounts, coupons, reports, appearance, and every module added later until it is
    # listed here
}

# what the staff page shows for each area (an area without a line is shown by its name)
AREA_LABELS = {
    "views": _l("Dashboard"), "security": _l("Own two-factor sign-in"),
    "orders": _l("Orders and the manual delivery queue"),
    "refund_requests": _l("Refund requests"), "customers": _l("Customers (search, block)"),
    "wallets": _l("Wallets"), "earnings": _l("Earnings"), "withdrawals": _l("Withdrawals"),
    "funding": _l("Funded account"), "reports": _l("All shops (master)"),
    "staff": _l("Staff accounts"), "payments": _l("Payments"), "plans": _l("Plan"),
    "shop_settings": _l("Shop settings"), "appearance": _l("Appearance"),
    "catalog": _l("Catalog (master)"), "stock": _l("Stock (master)"),
    "suppliers": _l("Suppliers (master)"), "pricing": _l("Prices and markup"),
    "discounts": _l("Member tiers and quantity discounts"), "coupons": _l("Coupons"),
    "api_keys": _l("Own API keys"),
}

# actions inside an open area that stay the owner's (shown on the staff page)
OWNER_ONLY = (
    _l("Staff accounts, payment settings, plan, shop settings, appearance, audit log"),
    _l("The master's two-factor policy; stock export; adding and editing suppliers"),
    _l("Refunds and goodwill credits on orders, deciding a sub-shop's refund request"),
    _l("Crediting a wallet; payout methods; funding a sub-shop; earnings settings"),
)

# endpoints open to anyone who reaches the blueprint (the view decides)
_OPEN = {"admin.static"}

_area_of: dict[str, str] = {}


def register(endpoint: str, module: str) -> None:
    """``admin.<endpoint>`` lives in ``kameng.admin.<module>`` (called while wiring)."""
    _area_of[endpoint] = module


def area_of(endpoint: str) -> str | None:
    return _area_of.get(endpoint)


def may_open(role: str | None, area: str | None) -> bool:
    """Whether a back-office role (owner, manager, support, finance) may open an area."""
    if role == "owner":
        return True
    return role is not None and area is not None and role in AREAS.get(area, ())


def may(endpoint: str) -> bool:
    """Whether the signed-in user's role opens ``endpoint``'s area (for the nav)."""
    if not current_user.is_authenticated:
        return False
    return may_open(current_user.back_office_role, area_of(endpoint))


def matrix() -> list[tuple[object, dict[str, bool]]]:
    """(label, {role: may open}) for each area the staff page names; the last row stands
    for every area the table does not list (the owner's alone)."""
    roles = ("owner", MANAGER, SUPPORT, FINANCE)
    rows = [(label, {r: may_open(r, area) for r in roles}) for area, label in AREA_LABELS.items()]
    return rows + [(_l("Any other page"), {r: r == "owner" for r in roles})]


def check_area() -> None:
    """The blueprint's before-request hook: a staff account of this shop outside its
    role's areas gets 403. Anyone else passes on to the view's own checks (which send
    a visitor to sign in, and refuse customers and other shops' accounts)."""
    endpoint = request.endpoint
    if endpoint is None or endpoint in _OPEN or not current_user.is_authenticated:
        return
    if current_user.role != "staff" or current_user.tenant_id != g.tenant.id:
        return
    if not may_open(current_user.staff_role, area_of(endpoint)):
        abort(403)
