"""Back office: a shop's payout methods and withdrawal requests; the decider's review list."""
from __future__ import annotations

from flask import abort, g, render_template
from flask_babel import gettext as _
from flask_login import current_user

from kameng.admin.routes import Routes
from kameng.admin.views import CsrfForm, guarded_action, owner_required
from kameng.billing import reports
from kameng.billing.commissions import settings as billing_settings
from kameng.billing.withdrawals import services
from kameng.billing.withdrawals.forms import (
    DecisionForm,
    PayoutMethodForm,
    WithdrawalRequestForm,
)

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
    f = PayoutMethodForm()
    return _guarded(lambda: (services.add_payout_method(
        g.tenant, f.kind.data, f.account.data, f.holder.data, f.bank_name.data),
        _("Payout method saved."))[1])


@bp.route("/withdrawals/request", methods=["POST"])
@owner_required
def withdrawals_request():
    f = WithdrawalRequestForm()

    def run():
        amount = f.amount_minor(g.tenant.currency)
        services.request_withdrawal(g.tenant, current_user, f.method_id(),
                                    amount, request_key=f.token.data or None)
        return _("Withdrawal requested; the amount is held until it is paid or rejected.")
    return _guarded(run)


@bp.route("/withdrawals/<int:withdrawal_id>/<action>", methods=["POST"])
@owner_required
def withdrawals_decide(withdrawal_id: int, action: str):
    f = DecisionForm()
    if action == "approve":
        return _guarded(lambda: (services.approve(withdrawal_id, g.tenant, current_user),
                                 _("Approved."))[1])
    if action == "reject":
        return _guarded(lambda: (services.reject(withdrawal_id, g.tenant, current_user,
                                                 f.note.data),
                                 _("Rejected; the amount is available again."))[1])
    if action == "pay":
        return _guarded(lambda: (services.mark_paid(withdrawal_id, g.tenant, current_user,
                                                    f.reference.data),
                                 _("Marked paid."))[1])
    abort(404)
