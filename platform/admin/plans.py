"""Back office: the shop's plan (pay, renew), and the plans it sells to its sub-shops."""
from __future__ import annotations

from flask import abort, current_app, flash, g, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from kameng.admin.routes import Routes
from kameng.admin.views import ActionPage, CsrfForm, owner_required
from kameng.billing import reports
from kameng.billing.plans import services
from kameng.billing.plans.forms import PayPlanForm, PlanForm
from kameng.core.errors import ServiceError
from kameng.core.extensions import db
from kameng.core.money import format_plain
from kameng.core.percent import format_percent
from kameng.tenants.shop_settings import format_shop_time

bp = Routes()


def _card_form() -> dict | None:
    """Stripe.js settings for the "pay by card" form, when the platform takes cards."""
    from kameng.billing.payments.stripe_provider import is_configured
    from kameng.core.security import allow_payment_script

    if g.tenant.is_master or not is_configured():
        return None
    js_url = current_app.config["STRIPE_JS_URL"]
    allow_payment_script(js_url)
    return {"js_url": js_url, "publishable_key": current_app.config["STRIPE_PUBLISHABLE_KEY"]}


def _page(status=200):
    sub = services.subscription_of(g.tenant)
    return render_template(
        "admin/plans.html", sub=sub, current=services.get_plan(sub.plan_id) if sub else None,
        offered=services.offered_to(g.tenant), selling=services.plans_of(g.tenant),
        payments=services.payments_of(g.tenant), bal=reports.shop_balances(g.tenant),
        notice=services.renewal_notice(g.tenant), percent=format_percent,
        can_sell=g.tenant.is_master or services.plan_allows(g.tenant, "sub_shops"),
        card=_card_form()), status


page = ActionPage(bp, "/plans", "plans_index", owner_required, _page)


@page.action("/plans/pay")
def plans_pay():
    payment = services.pay_plan(g.tenant, PayPlanForm().plan_id(), "balance", actor=current_user)
    return _("Paid: the plan runs until %(date)s.",
             date=format_shop_time(payment.period_end, g.tenant, "%Y-%m-%d"))


@page.action("/plans/pay-card")
def plans_pay_card():
    # the card was turned into a PaymentMethod by Stripe.js (admin/static/plan_card.js)
    payment = services.pay_plan(g.tenant, PayPlanForm().plan_id(), "card",
                                payment_method=(request.form.get("payment_method") or "")[:64],
                                actor=current_user)
    return _("Paid: the plan runs until %(date)s.",
             date=format_shop_time(payment.period_end, g.tenant, "%Y-%m-%d"))


@page.action("/plans/create")
def plans_create():
    values = PlanForm().values(g.tenant.currency)
    services.create_plan(g.tenant, values.pop("code"), values.pop("name"),
                         values.pop("price"), values.pop("interval"), **values)
    return _("Plan created.")


@page.action("/plans/<int:plan_id>/retire")
def plans_retire(plan_id):
    services.retire_plan(g.tenant, plan_id)
    return _("Plan retired: it takes no new subscriber; current ones run until their "
             "period ends.")


@page.action("/plans/<int:plan_id>/reinstate")
def plans_reinstate(plan_id):
    services.retire_plan(g.tenant, plan_id, retired=False)
    return _("Plan offered again.")


@bp.route("/plans/<int:plan_id>", methods=["GET", "POST"])
@owner_required
def plans_edit(plan_id):
    plan = services.get_plan(plan_id)
    if plan.tenant_id != g.tenant.id:
        abort(404)
    form, error, status = PlanForm(), None, 200
    if request.method == "POST":
        if not CsrfForm().validate_on_submit():
            abort(400)
        try:
            services.update_plan(g.tenant, plan.id, **form.edit_values(g.tenant.currency))
        except ServiceError as err:
            db.session.rollback()
            error, status = err, (err.status if err.status < 500 else 422)
        else:
            flash(_("Plan saved."), "success")
            return redirect(url_for("admin.plans_index"))
        values = {key: request.form.get(key, "") for key in
                  ("name", "price", "max_markup", "max_staff")}
        values["custom_domain"] = bool(request.form.get("custom_domain"))
        values["sub_shops"] = bool(request.form.get("sub_shops"))
        values["own_gateway"] = bool(request.form.get("own_gateway"))
    else:
        values = {"name": plan.name, "price": format_plain(plan.price, g.tenant.currency),
                  "max_markup": format_percent(plan.max_markup_bp)
                  if plan.max_markup_bp is not None else "",
                  "max_staff": "" if plan.max_staff is None else str(plan.max_staff),
                  "custom_domain": plan.custom_domain, "sub_shops": plan.sub_shops,
                  "own_gateway": plan.own_gateway}
    return render_template("admin/plans_edit.html", plan=plan, values=values, error=error,
                           currency=g.tenant.currency, percent=format_percent), status
