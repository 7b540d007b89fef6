"""sales' part of the app: checkout and order pages, supplier callbacks, the wallet as a
payment method, and where verified payment notices go."""
from __future__ import annotations


def init_app(app) -> None:
    from kameng.billing.payments.services import set_payment_handler
    from kameng.sales import paying
    from kameng.sales.hooks import bp as supplier_hooks_bp
    from kameng.sales.views import bp as orders_bp

    paying.register()  # the balance provider spends the wallet in the order's transaction
    set_payment_handler(app, route_payment)
    app.register_blueprint(orders_bp)
    app.register_blueprint(supplier_hooks_bp)


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
