"""Back office: a shop's payout methods and withdrawal requests; the decider's review list."""
from __future__ import annotations

from flask import abort, g, render_template
from flask_babel import gettext as _
from flask_login import current_user

from kameng.admin.routes import Routes
from kameng.admin.views import ActionPage, CsrfForm, staff_required
from kameng.billing import reports
from kameng.billing.commissions import settings as billing_settings
from kameng.billing.withdrawals import services
from kameng.billing.withdrawals.forms import (
    DecisionForm,
    PayoutMethodForm,
    WithdrawalRequestForm,
)
from kameng.tenants.services import shops_by_id

bp = Routes()


def _page(status=200):
    review = services.reviewable(g.tenant)
    return render_template(
        "admin/withdrawals.html", form=CsrfForm(), bal=reports.shop_balances(g.tenant),
        methods=services.payout_methods(g.tenant),
        mine=services.shop_withdrawals(g.tenant), rules=billing_settings.platform_settings(),
        review=review, shops=shops_by_id(w.tenant_id for w in review)), status


# staff_required: admin/permissions.py opens this area to finance and managers
page = ActionPage(bp, "/withdrawals", "withdrawals_index", staff_required, _page)


@page.action("/withdrawals/methods")
def withdrawals_add_method():
    if current_user.role != "owner":
        abort(403)  # where the shop's money goes is the owner's to say
    f = PayoutMethodForm()
    services.add_payout_method(g.tenant, f.kind.data, f.account.data, f.holder.data,
                               f.bank_name.data)
    return _("Payout method saved.")


@page.action("/withdrawals/request")
def withdrawals_request():
    f = WithdrawalRequestForm()
    amount = f.amount_minor(g.tenant.currency)
    services.request_withdrawal(g.tenant, current_user, f.method_id(),
                                amount, request_key=f.token.data or None)
    return _("Withdrawal requested; the amount is held until it is paid or rejected.")


@bp.route("/withdrawals/<int:withdrawal_id>/<action>", methods=["POST"])
@staff_required
def withdrawals_decide(withdrawal_id: int, action: str):
    f = DecisionForm()
    if action == "approve":
        def run():
            services.approve(withdrawal_id, g.tenant, current_user)
            return _("Approved.")
    elif action == "reject":
        def run():
            services.reject(withdrawal_id, g.tenant, current_user, f.note.data)
            return _("Rejected; the amount is available again.")
    elif action == "pay":
        def run():
            services.mark_paid(withdrawal_id, g.tenant, current_user, f.reference.data)
            return _("Marked paid.")
    else:
        abort(404)
    return page.guarded(run)
