"""The customer's own wallet: balance and history (login required, this shop only)."""
from __future__ import annotations

from functools import partial

from flask import Blueprint, abort, g, request
from flask_login import current_user, login_required

from kameng.billing import wallets
from kameng.billing.ledger.services import find_user_account
from kameng.core.i18n import lazy_gettext as _l
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


CHANNEL_LABELS = {"alipay": _l("Alipay"), "wxpay": _l("WeChat Pay"), "qqpay": _l("QQ Pay")}


def _topup_options(tenant) -> list[tuple[str, str]]:
    """(value posted, label) of the platform gateways this shop's buyers can top up with."""
    from kameng.billing.topups.services import topup_methods

    return [("stripe", str(_l("Card"))) if provider == "stripe"
            else (f"epay:{channel}", str(CHANNEL_LABELS[channel]))
            for provider, channel in topup_methods(tenant)]


@bp.route("/account/wallet/topup", methods=["GET", "POST"])
@login_required
def topup():
    from flask import url_for

    from kameng.billing.topups import services as topups
    from kameng.billing.topups.forms import TopupForm
    from kameng.core.errors import ServiceError

    options = _topup_options(g.tenant)
    form = TopupForm()
    error, amount_text = None, form.amount.data
    chosen = form.method.data or (options[0][0] if options else "")
    if request.method == "POST" and options:
        if chosen not in dict(options):
            chosen = options[0][0]
        provider, _sep, channel = chosen.partition(":")
        try:
            amount = topups.parse_topup_amount(amount_text, g.tenant.currency)
            # the number is made before the gateway is called: the return URL names it
            topup, start = topups.start_topup(
                g.tenant, current_user, amount, provider, channel=channel or None,
                return_url=(url_for("billing.topup_return", _external=True)
                            if provider == "epay" else ""))
        except ServiceError as err:
            error = err.message
        else:
            return_url = url_for("billing.topup_status", topup_no=topup.topup_no,
                                 _external=True)
            if start.kind in ("form", "redirect"):
                return render("wallet_topup.html", mode="epay", topup=topup, start=start,
                              label=dict(options)[chosen])
            allow_payment_script(start.fields.get("js_url") or "")
            return render("wallet_topup.html", mode="pay", topup=topup, start=start,
                          return_url=return_url)
    return render("wallet_topup.html", mode="form", available=bool(options), options=options,
                  chosen=chosen, error=error, amount_text=amount_text), (422 if error else 200)


@bp.route("/account/wallet/topup/return")
@login_required
def topup_return():
    """Where 易支付 sends the buyer back: not authoritative (only the notify credits)."""
    from flask import redirect, url_for

    from kameng.billing.topups import services as topups
    from kameng.core.errors import NotFound

    number = (request.args.get("out_trade_no") or "")[:64]
    try:
        topup = topups.get_topup(current_user, number) if number else None
    except NotFound:
        topup = None
    if topup is None:
        return redirect(url_for("billing.wallet"))
    return redirect(url_for("billing.topup_status", topup_no=topup.topup_no))


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
