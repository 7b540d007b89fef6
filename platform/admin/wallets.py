"""Back office: customers' wallets — find by e-mail, see the history, credit (owners).

A shop sees and credits its own customers only; the master (the root shop)
may pick any shop, since every shop is below it.
"""
from __future__ import annotations

import re
import secrets
from functools import partial

from flask import abort, flash, g, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select

from kameng.admin.routes import Routes
from kameng.admin.views import owner_required, staff_required
from kameng.billing import wallets
from kameng.billing.forms import CreditForm
from kameng.billing.funding.services import funded_balance
from kameng.billing.ledger.services import find_user_account
from kameng.core.errors import ServiceError
from kameng.core.extensions import db
from kameng.core.money import format_money
from kameng.core.pagination import page_from, requested_before
from kameng.core.scoping import all_tenants
from kameng.tenants.models import Tenant, User

bp = Routes()

TOKEN_RE = re.compile(r"^[A-Za-z0-9_-]{16,64}$")
PAGE = 50


def _shop_for_listing() -> Tenant:
    slug = (request.args.get("shop") or "").strip()
    if not slug or not g.tenant.is_master:
        return g.tenant
    shop = db.session.scalar(select(Tenant).where(Tenant.slug == slug))
    if shop is None:
        abort(404)
    return shop


def _visible_user(user_id: int) -> User:
    with all_tenants():
        user = db.session.get(User, user_id)
    if user is None or (user.tenant_id != g.tenant.id and not g.tenant.is_master):
        abort(404)  # another shop's customer: as if it did not exist
    return user


@bp.route("/wallets")
@staff_required
def wallets_index():
    shop = _shop_for_listing()
    email = (request.args.get("email") or "").strip()
    if email:
        try:
            user = wallets.find_user(shop, email)
        except ServiceError:
            flash(_("No account with that e-mail on %(shop)s.", shop=shop.name), "error")
        else:
            return redirect(url_for("admin.wallet_detail", user_id=user.id))
    with all_tenants():
        shops = (list(db.session.scalars(select(Tenant).order_by(Tenant.path)))
                 if g.tenant.is_master else [])
    return render_template("admin/wallets.html", shop=shop, shops=shops, email=email,
                           rows=wallets.list_wallets(shop))


def _detail(user: User, form: CreditForm, status: int = 200):
    with all_tenants():
        shop = db.session.get(Tenant, user.tenant_id)
    account = find_user_account(user, "wallet")
    page = page_from(partial(wallets.wallet_history, user), PAGE, lambda row: row.entry.id,
                     requested_before())
    # a failed POST wrote nothing, so its token may be used again
    form.token.data = form.token.data or secrets.token_urlsafe(24)
    return render_template(
        "admin/wallet_detail.html", user=user, shop=shop, form=form, rows=page.rows,
        older=page.older, balance=account.balance if account else 0,
        funded_balance=funded_balance(g.tenant),
        currency=account.currency if account else shop.currency,
        can_credit=current_user.role == "owner"), status


@bp.route("/wallets/<int:user_id>")
@staff_required
def wallet_detail(user_id: int):
    return _detail(_visible_user(user_id), CreditForm(formdata=None))


@bp.route("/wallets/<int:user_id>/credit", methods=["POST"])
@owner_required
def wallet_credit(user_id: int):
    user = _visible_user(user_id)
    form = CreditForm()
    if not form.validate_on_submit() or not TOKEN_RE.match(form.token.data or ""):
        if not form.errors:
            form.amount.errors = [_("Please reload the page and try again.")]
        return _detail(user, form, 422)
    with all_tenants():
        shop = db.session.get(Tenant, user.tenant_id)
    try:
        amount = wallets.parse_credit_amount(form.amount.data, shop.currency)
        tx = wallets.credit_wallet(
            user, amount, note=form.note.data, created_by=current_user,
            idempotency_key=f"wallet_credit:{user.tenant_id}:{form.token.data}",
            granted_by=g.tenant)
    except ServiceError as err:
        field = form.note if err.field == "note" else form.amount
        field.errors = [err.message]
        return _detail(user, form, 422)
    if not getattr(tx, "replayed", False):
        flash(_("Credited %(amount)s to %(email)s.",
                amount=format_money(amount, shop.currency), email=user.email), "success")
    return redirect(url_for("admin.wallet_detail", user_id=user.id))

