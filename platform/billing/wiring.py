"""billing's part of the app: wallet and payment pages, plan limits, referrals, its commands."""
from __future__ import annotations


def init_app(app) -> None:
    from kameng.billing.commissions import settings
    from kameng.billing.payments.demo_views import bp as demo_gateway_bp
    from kameng.billing.payments.views import bp as payments_bp
    from kameng.billing.plans import guard
    from kameng.billing.views import bp as billing_bp
    from kameng.core.events import user_signed_up

    settings.install()
    guard.install()  # plan limits, checked at every flush
    user_signed_up.connect(bind_signup_referral)
    app.register_blueprint(billing_bp)
    app.register_blueprint(payments_bp)
    app.register_blueprint(demo_gateway_bp)


def bind_signup_referral(user, **_) -> None:
    """A customer who signs up through a promoter's link (?ref=…) is bound to the promoter."""
    from flask import session

    from kameng.billing.commissions.services import bind_referral

    code = session.pop("ref", None)
    if code:
        bind_referral(user, code)


def register_cli(group) -> None:
    from kameng.billing.commissions.cli import commissions_cli
    from kameng.billing.ledger.cli import balance_cli, ledger_cli
    from kameng.billing.plans.cli import plans_cli
    from kameng.billing.withdrawals.cli import withdrawals_cli

    for command in (ledger_cli, balance_cli, commissions_cli, withdrawals_cli, plans_cli):
        group.add_command(command)
