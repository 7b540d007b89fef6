"""admin's part of the app: the back office, one blueprint built from its modules' routes."""
from __future__ import annotations

from importlib import import_module

# in this order their routes join the blueprint
MODULES = ("views", "api_keys", "appearance", "catalog", "coupons", "discounts", "domains",
           "earnings",
           "funding", "orders", "payments", "plans", "pricing", "refund_requests", "reports",
           "security", "shop_settings", "stock", "subshops", "suppliers", "wallets",
           "withdrawals", "staff", "customers")


def init_app(app) -> None:
    from flask import Blueprint

    from kameng.admin import permissions, security
    from kameng.core import audit
    from kameng.core.security import no_store

    # one per app: a blueprint takes no routes once registered on an app
    bp = Blueprint("admin", "kameng.admin", url_prefix="/admin", template_folder="templates",
                   static_folder="static")
    bp.after_request(no_store)  # the back office shows codes, orders and money
    # who wrote what, when, from where, and did it work (in its own transaction)
    audit.install()
    bp.before_request(security.audit_request)
    bp.after_request(security.record_audit)
    # the master's 2FA policy: not enrolled yet → the enrolment pages only
    bp.before_request(security.require_enrolment)
    # which areas a staff role may open: one table (admin/permissions.py)
    bp.before_request(permissions.check_area)
    bp.context_processor(_nav_counts)
    for name in MODULES:
        routes = import_module(f"kameng.admin.{name}").bp
        routes.register(bp)
        for endpoint in routes.endpoints():
            permissions.register(f"admin.{endpoint}", name)
    app.register_blueprint(bp)


def _nav_counts() -> dict:
    """``manual_queue_count()`` for the nav badge: the statement the orders list filters by
    (called by the template, so pages outside the back office's layout pay nothing)."""
    from flask import g

    from kameng.admin.permissions import may
    from kameng.admin.views import manual_queue_count
    from kameng.sales.openshop import may_have_sub_shops
    from kameng.tenants.domains import failing

    # the owner's banner: verified domains whose DNS record the daily check found gone
    return {"manual_queue_count": manual_queue_count,
            "failing_domains": lambda: failing(g.tenant), "may": may,
            "may_have_sub_shops": lambda: may_have_sub_shops(g.tenant)}
