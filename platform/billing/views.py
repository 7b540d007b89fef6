"""The customer's own wallet: balance and history (login required, this shop only)."""
from __future__ import annotations

from flask import Blueprint, abort, g, request
from flask_login import current_user, login_required

from kameng.billing import wallets
from kameng.billing.ledger.services import find_user_account
from kameng.tenants.themes import render

bp = Blueprint("billing", __name__)

PAGE = 30


@bp.route("/account/wallet")
@login_required
def wallet():
    # the session is bound to this host's shop (see load_session_user), so
    # current_user is always a user of g.tenant
    before = request.args.get("before", type=int)
    account = find_user_account(current_user, "wallet")
    rows = wallets.wallet_history(current_user, limit=PAGE + 1, before_id=before)
    older = rows[PAGE - 1].entry.id if len(rows) > PAGE else None
    return render("wallet.html", balance=account.balance if account else 0,
                  currency=account.currency if account else g.tenant.currency,
                  rows=rows[:PAGE], older=older, transaction=None)


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
