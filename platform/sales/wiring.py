"""sales' part of the app: checkout and order pages, supplier callbacks, the wallet as a
payment method, and where verified payment notices go."""
from __future__ import annotations


def init_app(app) -> None:
    from kameng.billing.payments.services import set_payment_handler
    from kameng.sales import paying
    from kameng.sales.hooks import bp as supplier_hooks_bp
    from kameng.sales.openshop_views import bp as openshop_bp
    from kameng.sales.views import bp as orders_bp

    paying.register()  # the balance provider spends the wallet in the order's transaction
    set_payment_handler(app, route_payment)
    app.register_blueprint(orders_bp)
    app.register_blueprint(supplier_hooks_bp)
    app.register_blueprint(openshop_bp)
    app.add_template_global(_takes_signups, "takes_signups")


def _takes_signups() -> bool:
    """For the storefront footer's "Open your own shop" link."""
    from flask import g

    from kameng.sales.openshop import takes_signups

    tenant = g.get("tenant")
    return tenant is not None and takes_signups(tenant)


def route_payment(tenant, notice) -> bool:
    """A verified payment notice is booked by the service it pays for: a top-up or an order."""
    from kameng.billing.topups.services import is_topup_number, record_topup_payment
    from kameng.sales.services import record_payment

    if is_topup_number(notice.order_no):
        return record_topup_payment(tenant, notice)
    return record_payment(tenant, notice)


def register_cli(group) -> None:
    from kameng.sales.cli import post_commissions_command

    # `commissions post` reads an order: sales defines it, billing owns the group
    group.commands["commissions"].add_command(post_commissions_command)
