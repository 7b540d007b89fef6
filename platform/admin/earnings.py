"""Back office: earnings (balances, per-day chart, statement, CSV) and billing settings."""
from __future__ import annotations

from flask import Response, flash, g, redirect, render_template, request, url_for
from flask_babel import gettext as _

from kameng.admin.routes import Routes
from kameng.admin.views import owner_required, staff_required
from kameng.billing import reports
from kameng.billing.commissions import settings as billing_settings
from kameng.billing.commissions.forms import BillingSettingsForm
from kameng.billing.plans.services import renewal_notice
from kameng.core.errors import ServiceError
from kameng.core.extensions import db

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
@owner_required
def earnings_csv():
    body = reports.statement_csv(g.tenant)
    return Response(body, mimetype="text/csv; charset=utf-8", headers={
        "Content-Disposition": f"attachment; filename=statement-{g.tenant.slug}.csv"})


@bp.route("/earnings/settings", methods=["GET", "POST"])
@owner_required
def earnings_settings():
    row = billing_settings.settings_for(g.tenant)
    form = BillingSettingsForm()
    if request.method == "POST":
        if not form.validate_on_submit():
            flash(_("The form expired; try again."), "error")
            return render_template("admin/earnings_settings.html", row=row, form=form), 400
        try:
            billing_settings.update_settings(g.tenant, **form.values(g.tenant.is_master))
        except ServiceError as err:
            db.session.rollback()
            flash(err.message, "error")
            return render_template("admin/earnings_settings.html", row=row, form=form), 422
        flash(_("Settings saved."), "success")
        return redirect(url_for("admin.earnings_settings"))
    return render_template("admin/earnings_settings.html", row=row, form=form)
