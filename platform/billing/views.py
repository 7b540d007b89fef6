"""The customer's own wallet: balance and history (login required, this shop only)."""
from __future__ import annotations

from functools import partial

from flask import Blueprint, abort, g, request
from flask_login import current_user, login_required

from kameng.billing import wallets
from kameng.billing.ledger.services import find_user_account
from kameng.core.pagination import page_from, requested_before
from kameng.core.security import allow_payment_script
from kameng.tenants.themes import render

bp = Blueprint("billing", __name__)

PAGE = 30


@bp.route("/account/wallet")
@login_required
def wallet():
    # the session is bound to this host's shop (see load_session_user), so
    # current_user is always a user of g.tenant
    account = find_user_account(current_user, "wallet")
    page = page_from(partial(wallets.wallet_history, current_user), PAGE,
                     lambda row: row.entry.id, requested_before())
    return render("wallet.html", balance=account.balance if account else 0,
                  currency=account.currency if account else g.tenant.currency,
                  rows=page.rows, older=page.older, transaction=None,
                  referral_link=_referral_link())


def _referral_link() -> str | None:
    """The customer's promoter link, when this shop pays promoters (推广)."""
    from flask import url_for

    from kameng.billing.commissions.services import promoter_code
    from kameng.billing.commissions.settings import find_settings

    settings = find_settings(g.tenant)
    if current_user.role != "customer" or settings is None or not settings.promoter_bp:
        return None
    return url_for("shop.index", ref=promoter_code(current_user).code, _external=True)


@bp.route("/account/wallet/transactions/<int:transaction_id>")
@login_required
def wallet_transaction(transaction_id: int):
    found = wallets.wallet_transaction(current_user, transaction_id)
    if found is None:
        abort(404)
    tx, amount = found
    account = find_user_account(current_user, "wallet")
    return render("wallet.html", balance=account.balance, currency=account.currency,
                  rows=[], older=None, transaction=tx, amount=amount)


@bp.route("/account/wallet/topup", methods=["GET", "POST"])
@login_required
def topup():
    from flask import url_for

    from kameng.billing.payments.registry import enabled_providers
    from kameng.billing.topups import services as topups
    from kameng.billing.topups.forms import TopupForm
    from kameng.core.errors import ServiceError

    available = "stripe" in enabled_providers(g.tenant)
    error, amount_text = None, TopupForm().amount.data
    if request.method == "POST" and available:
        try:
            amount = topups.parse_topup_amount(amount_text, g.tenant.currency)
            topup, start = topups.start_topup(g.tenant, current_user, amount, "stripe")
        except ServiceError as err:
            error = err.message
        else:
            return_url = url_for("billing.topup_status", topup_no=topup.topup_no,
                                 _external=True)
            allow_payment_script(start.fields.get("js_url") or "")
            return render("wallet_topup.html", mode="pay", topup=topup, start=start,
                          return_url=return_url)
    return render("wallet_topup.html", mode="form", available=available, error=error,
                  amount_text=amount_text), (422 if error else 200)


@bp.route("/account/wallet/topup/<topup_no>")
@login_required
def topup_status(topup_no: str):
    from kameng.billing.topups import services as topups
    from kameng.core.errors import NotFound

    try:
        topup = topups.get_topup(current_user, topup_no)
    except NotFound:
        abort(404)
    return render("wallet_topup.html", mode="status", topup=topup)
