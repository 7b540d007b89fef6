"""Back office: the shop's plan (pay, renew), and the plans it sells to its sub-shops."""
from __future__ import annotations

from flask import g, render_template, request
from flask_babel import gettext as _
from flask_login import current_user

from kameng.admin.routes import Routes
from kameng.admin.views import guarded_action, owner_required
from kameng.billing import reports
from kameng.billing.plans import services
from kameng.core.errors import InvalidInput
from kameng.core.money import parse_input_amount

bp = Routes()


def _page(status=200):
    sub = services.subscription_of(g.tenant)
    return render_template(
        "admin/plans.html", sub=sub, current=services.get_plan(sub.plan_id) if sub else None,
        offered=services.offered_to(g.tenant), selling=services.plans_of(g.tenant),
        payments=services.payments_of(g.tenant), bal=reports.shop_balances(g.tenant),
        notice=services.renewal_notice(g.tenant),
        can_sell=g.tenant.is_master or services.plan_allows(g.tenant, "sub_shops")), status


def _guarded(action):
    return guarded_action(action, _page, "admin.plans_index")


@bp.route("/plans")
@owner_required
def plans_index():
    return _page()


@bp.route("/plans/pay", methods=["POST"])
@owner_required
def plans_pay():
    def run():
        payment = services.pay_plan(g.tenant, request.form.get("plan", 0, int), "balance",
                                    actor=current_user)
        return _("Paid: the plan runs until %(date)s.",
                 date=payment.period_end.strftime("%Y-%m-%d"))
    return _guarded(run)


@bp.route("/plans/create", methods=["POST"])
@owner_required
def plans_create():
    f = request.form

    def run():
        price = parse_input_amount(f.get("price", ""), g.tenant.currency, "price")

        def opt_int(name):
            value = (f.get(name) or "").strip()
            if not value:
                return None
            if not value.isdigit():
                raise InvalidInput(f"{name} must be a whole number", field=name)
            return int(value)

        services.create_plan(
            g.tenant, f.get("code", ""), f.get("name", ""), price, f.get("interval", "month"),
            base_plan_id=opt_int("base_plan"), custom_domain=bool(f.get("custom_domain")),
            sub_shops=bool(f.get("sub_shops")), max_markup_bp=opt_int("max_markup_bp"),
            max_staff=opt_int("max_staff"))
        return _("Plan created.")
    return _guarded(run)
