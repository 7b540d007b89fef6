"""Back office: the shop's customers — search, detail (orders, wallet, member tier), block.

A shop sees its own customers only: another shop's customer id is a 404, the master's
included (the master looks at a sub-shop's buyers through that shop's wallets page).
"""
from __future__ import annotations

from flask import abort, flash, g, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from kameng.admin.routes import Routes
from kameng.admin.views import CsrfForm, staff_required
from kameng.billing.wallets import wallet_balance
from kameng.core.errors import NotFound, ServiceError
from kameng.core.pagination import requested_before
from kameng.sales import oversight
from kameng.shop.pricing.services import customer_tier, list_tiers
from kameng.tenants import customers

bp = Routes()


@bp.route("/customers")
@staff_required
def customers_index():
    query = (request.args.get("q") or "").strip()[:254]
    if query:
        # an order number finds the customer who placed it
        order = oversight.subtree_order(g.tenant, query.upper())
        if order is not None and order.tenant_id == g.tenant.id and order.customer_id:
            return redirect(url_for("admin.customer_detail", user_id=order.customer_id))
    page = customers.search_customers(g.tenant, query, before=requested_before())
    return render_template("admin/customers.html", rows=page.rows, older=page.older,
                           query=query)


def _customer(user_id: int):
    try:
        return customers.get_customer(g.tenant, user_id)
    except NotFound:
        abort(404)


def _detail(user_id: int, status: int = 200):
    user = _customer(user_id)
    orders = oversight.customer_orders(g.tenant, user.id, requested_before())
    return render_template(
        "admin/customer_detail.html", user=user, orders=orders.rows, older=orders.older,
        balance=wallet_balance(user), tier=customer_tier(g.tenant, user),
        has_tiers=bool(list_tiers(g.tenant)), form=CsrfForm()), status


@bp.route("/customers/<int:user_id>")
@staff_required
def customer_detail(user_id: int):
    return _detail(user_id)


def _action(user_id: int, blocked: bool):
    _customer(user_id)   # another shop's customer: 404 before anything else
    if not CsrfForm().validate_on_submit():
        abort(400)
    try:
        user = customers.set_blocked(g.tenant, current_user, user_id, blocked)
    except ServiceError as err:
        flash(err.message, "error")
        return _detail(user_id, err.status if err.status < 500 else 422)
    flash(_("%(email)s is blocked: signed out, cannot sign in or buy.", email=user.email)
          if blocked else _("%(email)s is unblocked.", email=user.email), "success")
    return redirect(url_for("admin.customer_detail", user_id=user_id))


@bp.route("/customers/<int:user_id>/block", methods=["POST"])
@staff_required
def customer_block(user_id: int):
    return _action(user_id, True)


@bp.route("/customers/<int:user_id>/unblock", methods=["POST"])
@staff_required
def customer_unblock(user_id: int):
    return _action(user_id, False)
