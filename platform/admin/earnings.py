"""Back office: earnings (balances, per-day chart, statement, CSV) and billing settings."""
from __future__ import annotations

from flask import Response, flash, g, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_wtf import FlaskForm
from markupsafe import Markup

from kameng.admin.routes import Routes
from kameng.admin.views import owner_required, staff_required
from kameng.billing import reports
from kameng.billing.commissions import settings as billing_settings
from kameng.billing.plans.services import renewal_notice
from kameng.core.errors import InvalidInput, ServiceError
from kameng.core.extensions import db
from kameng.core.percent import parse_percent

bp = Routes()


@bp.route("/earnings")
@staff_required
def earnings():
    days = request.args.get("days", 30, type=int)
    days = days if days in (7, 30, 90) else 30
    rows = reports.daily(g.tenant, days)
    # the SVG is built from numbers and escaped dates only (reports.chart_svg)
    chart = Markup(reports.chart_svg(rows, g.tenant.currency))  # noqa: S704
    return render_template("admin/earnings.html", bal=reports.shop_balances(g.tenant),
                           rows=rows, chart=chart, days=days,
                           statement=reports.statement(g.tenant, limit=100),
                           notice=renewal_notice(g.tenant))


@bp.route("/earnings/statement.csv")
@owner_required
def earnings_csv():
    body = reports.statement_csv(g.tenant)
    return Response(body, mimetype="text/csv; charset=utf-8", headers={
        "Content-Disposition": f"attachment; filename=statement-{g.tenant.slug}.csv"})


class CsrfForm(FlaskForm):
    """No fields: the forms below are read by hand; this checks the CSRF token."""


@bp.route("/earnings/settings", methods=["GET", "POST"])
@owner_required
def earnings_settings():
    row = billing_settings.settings_for(g.tenant)
    form = CsrfForm()
    if request.method == "POST":
        if not form.validate_on_submit():
            flash(_("The form expired; try again."), "error")
            return render_template("admin/earnings_settings.html", row=row, form=form), 400
        try:
            values = {"promoter_bp": parse_percent(
                request.form.get("promoter_percent", "0"), "promoter_percent")}
            if g.tenant.is_master:
                values.update(_master_values(request.form))
            billing_settings.update_settings(g.tenant, **values)
        except ServiceError as err:
            db.session.rollback()
            flash(err.message, "error")
            return render_template("admin/earnings_settings.html", row=row, form=form), 422
        flash(_("Settings saved."), "success")
        return redirect(url_for("admin.earnings_settings"))
    return render_template("admin/earnings_settings.html", row=row, form=form)


def _int(form, name: str) -> int:
    try:
        value = int((form.get(name) or "0").strip())
    except ValueError:
        raise InvalidInput(f"{name} must be a whole number", field=name) from None
    return value


def _master_values(form) -> dict:
    values = {"withdraw_min": _int(form, "withdraw_min"),
              "withdraw_fee_fixed": _int(form, "withdraw_fee_fixed"),
              "withdraw_fee_bp": parse_percent(
                  form.get("withdraw_fee_percent", "0"), "withdraw_fee"),
              "withdraw_approver": form.get("withdraw_approver", "master"),
              "plan_grace_days": _int(form, "plan_grace_days")}
    hold = (form.get("hold_days") or "").strip()
    values["hold_days"] = _int(form, "hold_days") if hold else None
    fees = {}
    for provider in billing_settings.PROVIDERS:
        percent = (form.get(f"fee_{provider}_percent") or "").strip()
        fixed = (form.get(f"fee_{provider}_fixed") or "").strip()
        if percent or fixed:
            fees[provider] = {"bp": parse_percent(percent or "0", "fee"),
                              "fixed": _int(form, f"fee_{provider}_fixed") if fixed else 0,
                              "payer": form.get(f"fee_{provider}_payer", "seller")}
    values["provider_fees"] = fees
    return values
