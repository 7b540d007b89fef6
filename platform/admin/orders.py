"""Back office: the orders of the shop and of every shop below it — list and filters,
CSV, detail, manual delivery, refunds.

A shop sees its own orders and its subtree's (``kameng.sales.oversight``), never its
parent's or a sibling's. Manual lines are delivered (or failed) by the staff of the
shop that owns the stock — the master — whichever site took the order; other shops
see their status read-only. Only the owner refunds its own shop's orders, with the
choices ``kameng.sales.refunds`` gives its shop (docs/refunds.md); a sub-shop's order
is refunded through the refund-request flow.
"""
from __future__ import annotations

from flask import (
    Response,
    abort,
    flash,
    g,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy.orm import selectinload

from kameng.admin.routes import Routes
from kameng.admin.views import manual_queue_count, owner_required, staff_required
from kameng.core.errors import ServiceError
from kameng.core.extensions import db
from kameng.core.pagination import keyset_page, requested_before
from kameng.sales import oversight, refunds
from kameng.sales.delivery import line_codes
from kameng.sales.forms import ManualDeliveryForm, RefundForm, RefundRequestForm
from kameng.sales.manual import deliver_manual, fail_manual
from kameng.sales.models import ORDER_STATUSES, Order
from kameng.shop.stock.allocation import voided_codes_for_line
from kameng.tenants.models import Tenant

bp = Routes()

PAGE = 50


def _order_or_404(order_no: str) -> Order:
    order = oversight.subtree_order(g.tenant, order_no)  # this shop's and its subtree's
    if order is None:
        abort(404)
    return order


def _filter() -> oversight.OrderFilter:
    return oversight.order_filter(g.tenant, request.args)


@bp.route("/orders")
@staff_required
def orders_index():
    f = _filter()
    # the page's order ids first (from the (shop, id) index: a subtree's orders are spread
    # over the whole table, each shop's together in the index), then those orders
    page = keyset_page(oversight.subtree_orders(g.tenant, f), Order.id, PAGE,
                       requested_before(), rows=oversight.orders_by_id().options(
                           selectinload(Order.lines)))
    # the shop filter is a search field and the shop column names the page's shops only:
    # nothing here grows with the number of shops in the subtree
    return render_template(
        "admin/orders.html", orders=page.rows, older=page.older, f=f, args=f.as_args(),
        statuses=ORDER_STATUSES, subshops=oversight.has_subshops(g.tenant),
        names=oversight.shop_names(o.tenant_id for o in page.rows),
        products=oversight.products_sold(g.tenant),
        queue_count=manual_queue_count(),
        fulfils=oversight.fulfils(g.tenant), funds_count=oversight.awaiting_funds_count(g.tenant))


@bp.route("/orders.csv")
@owner_required
def orders_csv():
    rows = oversight.orders_csv(g.tenant, _filter())
    return Response(rows, mimetype="text/csv; charset=utf-8", headers={
        "Content-Disposition": f"attachment; filename=orders-{g.tenant.slug}.csv"})


def _detail(order: Order, *, manual_forms=None, forms=None, status: int = 200):
    owner = current_user.role == "owner"
    own = order.tenant_id == g.tenant.id
    fulfils = oversight.fulfils(g.tenant)
    show_codes = owner and order.status == "delivered"
    lines = []
    for line in order.lines:
        form = (manual_forms or {}).get(line.id) or ManualDeliveryForm(formdata=None)
        fail_form = (forms or {}).get(("fail", line.id)) or RefundForm(formdata=None)
        waiting = (line.kind == "manual" and line.status in oversight.WAITING_LINE
                   and order.status in oversight.WAITING_ORDER)
        voided = voided_codes_for_line(line.id) if line.kind == "card" else []
        if not owner:  # staff see that codes were voided, not the codes
            voided = [{**v, "code": None} for v in voided]
        lines.append({"line": line, "form": form, "fail_form": fail_form,
                      "waiting": waiting, "can_deliver": waiting and fulfils,
                      "codes": line_codes(line) if show_codes else None, "voided": voided})
    forms = forms or {}
    shop = db.session.get(Tenant, order.tenant_id)
    return render_template(
        "admin/orders_detail.html", order=order, lines=lines, own=own, shop=shop,
        refund_form=forms.get("refund") or RefundForm(formdata=None),
        goodwill_form=forms.get("goodwill") or RefundForm(formdata=None),
        request_form=forms.get("request") or RefundRequestForm(formdata=None),
        choices=refunds.refund_choices(g.tenant, order) if owner and own else None,
        requests=refunds.requests_for_order(order) if owner and own else []), status


@bp.route("/orders/<order_no>")
@staff_required
def order_detail(order_no: str):
    return _detail(_order_or_404(order_no))


def _refuse_unless_fulfiller():
    if not oversight.fulfils(g.tenant):
        abort(403)  # a reseller sees the status; the stock's owner delivers


@bp.route("/orders/<order_no>/lines/<int:line_id>/deliver", methods=["POST"])
@staff_required
def order_deliver(order_no: str, line_id: int):
    order = _order_or_404(order_no)
    _refuse_unless_fulfiller()
    form = ManualDeliveryForm()
    if form.validate_on_submit():
        try:
            codes = deliver_manual(order, line_id, form.codes.data, current_user)
        except ServiceError as err:
            db.session.rollback()
            form.codes.errors = [err.message]
        else:
            flash(_("Delivered %(count)s code(s).", count=len(codes)), "success")
            return redirect(url_for("admin.order_detail", order_no=order.order_no))
    order = _order_or_404(order_no)
    return _detail(order, manual_forms={line_id: form}, status=422)


@bp.route("/orders/<order_no>/lines/<int:line_id>/fail", methods=["POST"])
@staff_required
def order_fail(order_no: str, line_id: int):
    """The stock's owner cannot deliver a manual line: the order fails and is refunded."""
    order = _order_or_404(order_no)
    _refuse_unless_fulfiller()
    form = RefundForm()
    if form.validate_on_submit():
        try:
            fail_manual(order, line_id, form.reason.data, current_user)
        except ServiceError as err:
            db.session.rollback()
            form.reason.errors = [err.message]
        else:
            flash(_("Order %(number)s failed and refunded.", number=order.order_no), "success")
            return redirect(url_for("admin.order_detail", order_no=order.order_no))
    order = _order_or_404(order_no)
    return _detail(order, forms={("fail", line_id): form}, status=422)


def _refund_action(order_no: str, key: str, form, run):
    """Run one of the order page's refund buttons: the form's reason goes to ``run``;
    a refusal is shown under that form, with the service's status."""
    order = _order_or_404(order_no)
    if not form.validate_on_submit():
        return _detail(order, forms={key: form}, status=422)
    try:
        message, target = run(order, form.reason.data)
    except ServiceError as err:
        db.session.rollback()
        form.reason.errors = [err.message]
        return _detail(_order_or_404(order_no), forms={key: form}, status=err.status)
    if message is None:
        db.session.rollback()
        flash(_("The order changed meanwhile; nothing was refunded."), "error")
    else:
        flash(message, "success")
    return redirect(target or url_for("admin.order_detail", order_no=order.order_no))


@bp.route("/orders/<order_no>/refund", methods=["POST"])
@owner_required
def order_refund(order_no: str):
    """The full reversal: the master's orders, or a sub-shop's undelivered ones."""
    def run(order, reason):
        done = refunds.refund_directly(g.tenant, order, reason, actor=current_user)
        return (_("Order %(number)s refunded.", number=order.order_no) if done else None,
                None)
    return _refund_action(order_no, "refund", RefundForm(), run)


@bp.route("/orders/<order_no>/goodwill", methods=["POST"])
@owner_required
def order_goodwill(order_no: str):
    """A sub-shop refunds its buyer from its own funded account."""
    def run(order, reason):
        kind = refunds.goodwill_refund(g.tenant, order, reason, actor=current_user)
        if kind == "outside":
            return _("Order %(number)s recorded as refunded by you outside the platform.",
                     number=order.order_no), None
        return _("Order %(number)s refunded from your funded balance to the buyer's wallet.",
                 number=order.order_no), None
    return _refund_action(order_no, "goodwill", RefundForm(), run)


@bp.route("/orders/<order_no>/refund-request", methods=["POST"])
@owner_required
def order_refund_request(order_no: str):
    """A sub-shop asks its parent shop for the full reversal of a delivered order."""
    def run(order, reason):
        request = refunds.file_request(g.tenant, order, reason, actor=current_user)
        return (_("Refund request sent to your parent shop."),
                url_for("admin.refund_request_detail", request_id=request.id))
    return _refund_action(order_no, "request", RefundRequestForm(), run)
