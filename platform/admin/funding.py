"""Back office: funded accounts (预存款).

A shop below the master sees its funded balance, its history and the orders
waiting for funds, and moves withdrawable earnings into it (owners). A shop with
sub-shops sees its whole subtree's funded balances, what each owes and what it
collected on its own gateway, and its owner funds a direct sub-shop.
"""
from __future__ import annotations

import re
import secrets
from functools import partial

from flask import abort, flash, g, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_login import current_user

from kameng.admin.routes import Routes
from kameng.admin.views import owner_required, staff_required
from kameng.billing import reports
from kameng.billing.funding import services as funding
from kameng.billing.funding.forms import EarningsToFundedForm, FundShopForm, OwnGatewayForm
from kameng.billing.payments import registry as payment_registry
from kameng.billing.payments.services import set_own_gateway
from kameng.billing.wallets import parse_credit_amount
from kameng.core.errors import NotFound, ServiceError
from kameng.core.extensions import db
from kameng.core.money import format_money
from kameng.core.pagination import page_from, requested_after, requested_before
from kameng.sales import funding as order_funding
from kameng.tenants.models import Tenant

bp = Routes()

TOKEN_RE = re.compile(r"^[A-Za-z0-9_-]{16,64}$")
PAGE = 50


def _page(form: EarningsToFundedForm | None = None, status: int = 200):
    tenant = g.tenant
    is_owner = current_user.role == "owner"
    ctx = {"rows": [], "older": None, "waiting": [], "balance": 0, "available": 0}
    if not tenant.is_master:
        page = page_from(partial(funding.funded_history, tenant), PAGE,
                         lambda row: row.entry.id, requested_before())
        own = reports.shop_balances(tenant)
        ctx.update(rows=page.rows, older=page.older, balance=own.funded,
                   available=own.available, waiting=order_funding.waiting_orders(tenant))
        if is_owner:
            form = form or EarningsToFundedForm(formdata=None)
            form.token.data = form.token.data or secrets.token_urlsafe(24)
    after = requested_after()
    subtree, next_after = order_funding.subtree_rows(tenant, after)
    return render_template("admin/funding.html", form=form if is_owner else None,
                           subtree=subtree, after=after, next_after=next_after,
                           is_owner=is_owner, **ctx), status


@bp.route("/funding")
@staff_required
def funding_index():
    return _page()


@bp.route("/funding/from-earnings", methods=["POST"])
@owner_required
def funding_from_earnings():
    if g.tenant.is_master:
        abort(404)
    form = EarningsToFundedForm()
    if not form.validate_on_submit() or not TOKEN_RE.match(form.token.data or ""):
        if not form.errors:
            form.amount.errors = [_("Please reload the page and try again.")]
        return _page(form, 422)
    try:
        amount = parse_credit_amount(form.amount.data, g.tenant.currency)
        tx = funding.earnings_to_funded(
            g.tenant, amount, actor=current_user,
            idempotency_key=f"funding:earnings:{g.tenant.id}:{form.token.data}")
    except ServiceError as err:
        form.amount.errors = [err.message]
        return _page(form, 422)
    if not getattr(tx, "replayed", False):
        flash(_("Moved %(amount)s of your earnings into your funded account.",
                amount=format_money(amount, g.tenant.currency)), "success")
    return redirect(url_for("admin.funding_index"))


def _child_or_404(shop_id: int) -> Tenant:
    try:
        return funding.child_of(g.tenant, shop_id)
    except NotFound:
        abort(404)


def _shop_page(child: Tenant, form: FundShopForm, status: int = 200):
    form.token.data = form.token.data or secrets.token_urlsafe(24)
    page = page_from(partial(funding.funded_history, child), PAGE,
                     lambda row: row.entry.id, requested_before())
    gateway_form = OwnGatewayForm(formdata=None, own_gateway=(child.settings or {}).get(
        payment_registry.OWN_GATEWAY_SETTING, "plan"))
    return render_template("admin/funding_shop.html", shop=child, form=form,
                           gateway_form=gateway_form,
                           gateway_allowed=payment_registry.own_gateway_allowed(child),
                           balance=funding.funded_balance(child), rows=page.rows,
                           older=page.older, waiting=order_funding.waiting_orders(child)), status


@bp.route("/funding/shops/<int:shop_id>")
@owner_required
def funding_shop(shop_id: int):
    return _shop_page(_child_or_404(shop_id), FundShopForm(formdata=None))


@bp.route("/funding/shops/<int:shop_id>", methods=["POST"])
@owner_required
def funding_shop_credit(shop_id: int):
    child = _child_or_404(shop_id)
    form = FundShopForm()
    if not form.validate_on_submit() or not TOKEN_RE.match(form.token.data or ""):
        if not form.errors:
            form.amount.errors = [_("Please reload the page and try again.")]
        return _shop_page(child, form, 422)
    try:
        amount = parse_credit_amount(form.amount.data, child.currency)
        tx = funding.fund_shop(
            g.tenant, child, amount, source=form.source.data, actor=current_user,
            note=form.note.data,
            idempotency_key=f"funding:shop:{child.id}:{form.token.data}")
    except ServiceError as err:
        field = form.note if err.field == "note" else form.amount
        field.errors = [err.message]
        return _shop_page(child, form, 422)
    if not getattr(tx, "replayed", False):
        flash(_("Credited %(amount)s to the funded account of %(shop)s.",
                amount=format_money(amount, child.currency), shop=child.name), "success")
    return redirect(url_for("admin.funding_shop", shop_id=child.id))


@bp.route("/funding/shops/<int:shop_id>/gateway", methods=["POST"])
@owner_required
def funding_shop_gateway(shop_id: int):
    """The parent decides whether its sub-shop may use its own payment gateway."""
    child = _child_or_404(shop_id)
    form = OwnGatewayForm()
    if not form.validate_on_submit():
        flash(_("Please reload the page and try again."), "error")
        return _shop_page(child, FundShopForm(formdata=None), 422)
    choice = None if form.own_gateway.data == "plan" else form.own_gateway.data
    try:
        set_own_gateway(g.tenant, child, choice, actor=current_user)
    except ServiceError as err:
        db.session.rollback()
        flash(err.message, "error")
        return _shop_page(child, FundShopForm(formdata=None), 422)
    flash(_("Saved."), "success")
    return redirect(url_for("admin.funding_shop", shop_id=child.id))
