"""Back office: a shop's payout methods and withdrawal requests; the decider's review list."""
from __future__ import annotations

from flask import abort, g, render_template, request
from flask_babel import gettext as _
from flask_login import current_user

from kameng.admin.routes import Routes
from kameng.admin.views import CsrfForm, guarded_action, owner_required
from kameng.billing import reports
from kameng.billing.commissions import settings as billing_settings
from kameng.billing.withdrawals import services
from kameng.core.money import parse_input_amount

bp = Routes()


def _page(status=200):
    return render_template(
        "admin/withdrawals.html", form=CsrfForm(), bal=reports.shop_balances(g.tenant),
        methods=services.payout_methods(g.tenant),
        mine=services.shop_withdrawals(g.tenant), rules=billing_settings.platform_settings(),
        review=services.reviewable(g.tenant), shops={}), status


def _guarded(action):
    return guarded_action(action, _page, "admin.withdrawals_index")


@bp.route("/withdrawals")
@owner_required
def withdrawals_index():
    return _page()


@bp.route("/withdrawals/methods", methods=["POST"])
@owner_required
def withdrawals_add_method():
    f = request.form
    return _guarded(lambda: (services.add_payout_method(
        g.tenant, f.get("kind", ""), f.get("account", ""), f.get("holder", ""),
        f.get("bank_name", "")), _("Payout method saved."))[1])


@bp.route("/withdrawals/request", methods=["POST"])
@owner_required
def withdrawals_request():
    def run():
        amount = parse_input_amount(request.form.get("amount", ""), g.tenant.currency)
        services.request_withdrawal(g.tenant, current_user, request.form.get("method", 0, int),
                                    amount, request_key=request.form.get("token") or None)
        return _("Withdrawal requested; the amount is held until it is paid or rejected.")
    return _guarded(run)


@bp.route("/withdrawals/<int:withdrawal_id>/<action>", methods=["POST"])
@owner_required
def withdrawals_decide(withdrawal_id: int, action: str):
    if action == "approve":
        return _guarded(lambda: (services.approve(withdrawal_id, g.tenant, current_user),
                                 _("Approved."))[1])
    if action == "reject":
        return _guarded(lambda: (services.reject(withdrawal_id, g.tenant, current_user,
                                                 request.form.get("note")),
                                 _("Rejected; the amount is available again."))[1])
    if action == "pay":
        return _guarded(lambda: (services.mark_paid(withdrawal_id, g.tenant, current_user,
                                                    request.form.get("reference")),
                                 _("Marked paid."))[1])
    abort(404)
