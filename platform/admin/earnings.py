"""Back office: earnings (balances, per-day chart, statement, CSV) and billing settings."""
from __future__ import annotations

from flask import Response, flash, g, redirect, render_template, request, url_for
from flask_babel import gettext as _

from kameng.admin.routes import Routes
from kameng.admin.views import owner_required, staff_required
from kameng.billing import reports
from kameng.billing.commissions import settings as billing_settings
from kameng.billing.commissions.forms import PROVIDER_LABELS, BillingSettingsForm
from kameng.billing.plans.services import renewal_notice
from kameng.core.errors import ServiceError
from kameng.core.extensions import db
from kameng.core.money import format_plain
from kameng.core.percent import format_percent

bp = Routes()


@bp.route("/earnings")
@staff_required
def earnings():
    days = request.args.get("days", 30, type=int)
    days = days if days in (7, 30, 90) else 30
    rows = reports.daily(g.tenant, days)
    chart = reports.chart(rows, g.tenant.currency)
    return render_template("admin/earnings.html", bal=reports.shop_balances(g.tenant),
                           rows=rows, chart=chart, days=days,
                           statement=reports.statement(g.tenant, limit=100),
                           notice=renewal_notice(g.tenant))


@bp.route("/earnings/statement.csv")
@staff_required
def earnings_csv():
    body = reports.statement_csv(g.tenant)
    return Response(body, mimetype="text/csv; charset=utf-8", headers={
        "Content-Disposition": f"attachment; filename=statement-{g.tenant.slug}.csv"})


def _shown(row, tenant) -> dict:
    """The saved settings as the form shows them (percentages, major units, days)."""
    cur = tenant.currency
    shown = {"promoter_percent": format_percent(row.promoter_bp),
             "hold_days": "" if row.hold_days is None else str(row.hold_days),
             "withdraw_min": format_plain(row.withdraw_min, cur),
             "withdraw_fee_fixed": format_plain(row.withdraw_fee_fixed, cur),
             "withdraw_fee_percent": format_percent(row.withdraw_fee_bp),
             "withdraw_approver": row.withdraw_approver,
             "plan_grace_days": str(row.plan_grace_days)}
    for provider in billing_settings.PROVIDERS:
        rule = (row.provider_fees or {}).get(provider) or {}
        shown[f"fee_{provider}_percent"] = format_percent(rule["bp"]) if rule else ""
        shown[f"fee_{provider}_fixed"] = format_plain(rule["fixed"], cur) if rule else ""
        shown[f"fee_{provider}_payer"] = rule.get("payer", "seller")
    return shown


def _settings_page(row, shown: dict, error=None, status: int = 200):
    providers = [(p, str(PROVIDER_LABELS[p])) for p in billing_settings.PROVIDERS]
    return render_template("admin/earnings_settings.html", row=row, shown=shown,
                           error=error, providers=providers,
                           default_hold_days=billing_settings.hold_days()), status


@bp.route("/earnings/settings", methods=["GET", "POST"])
@owner_required
def earnings_settings():
    """Every shop: its promoter share; the master: the platform's billing rules too.
    The form calls the service the CLI calls (``kameng commissions settings``)."""
    row = billing_settings.settings_for(g.tenant)
    if request.method == "GET":
        return _settings_page(row, _shown(row, g.tenant))
    form = BillingSettingsForm()
    shown = {**_shown(row, g.tenant), **{k: v for k, v in request.form.items()
                                         if k != "csrf_token"}}
    if not form.validate_on_submit():
        flash(_("The form expired; try again."), "error")
        return _settings_page(row, shown, status=400)
    try:
        billing_settings.update_settings(g.tenant, **form.values(g.tenant))
    except ServiceError as err:
        db.session.rollback()
        return _settings_page(row, shown, error=err, status=err.status)
    flash(_("Settings saved."), "success")
    return redirect(url_for("admin.earnings_settings"))
