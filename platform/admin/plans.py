"""Back office: the shop's plan (pay, renew), and the plans it sells to its sub-shops."""
from __future__ import annotations

from flask import g, render_template
from flask_babel import gettext as _
from flask_login import current_user

from kameng.admin.routes import Routes
from kameng.admin.views import ActionPage, owner_required
from kameng.billing import reports
from kameng.billing.plans import services
from kameng.billing.plans.forms import PayPlanForm, PlanForm
from kameng.tenants.shop_settings import format_shop_time

bp = Routes()


def _page(status=200):
    sub = services.subscription_of(g.tenant)
    return render_template(
        "admin/plans.html", sub=sub, current=services.get_plan(sub.plan_id) if sub else None,
        offered=services.offered_to(g.tenant), selling=services.plans_of(g.tenant),
        payments=services.payments_of(g.tenant), bal=reports.shop_balances(g.tenant),
        notice=services.renewal_notice(g.tenant),
        can_sell=g.tenant.is_master or services.plan_allows(g.tenant, "sub_shops")), status


page = ActionPage(bp, "/plans", "plans_index", owner_required, _page)


@page.action("/plans/pay")
def plans_pay():
    payment = services.pay_plan(g.tenant, PayPlanForm().plan_id(), "balance", actor=current_user)
    return _("Paid: the plan runs until %(date)s.",
             date=format_shop_time(payment.period_end, g.tenant, "%Y-%m-%d"))


@page.action("/plans/create")
def plans_create():
    values = PlanForm().values(g.tenant.currency)
    services.create_plan(g.tenant, values.pop("code"), values.pop("name"),
                         values.pop("price"), values.pop("interval"), **values)
    return _("Plan created.")
