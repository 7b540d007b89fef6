"""Back office: the shop's orders — list and filters, detail, manual delivery, refunds.

A shop sees its own orders only (the request's tenant scope). Staff deliver
``manual`` lines; only the owner refunds.
"""
from __future__ import annotations

from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import exists, func, or_, select

from kameng.admin.routes import Routes
from kameng.admin.views import owner_required, staff_required
from kameng.core.errors import NotFound, ServiceError
from kameng.core.extensions import db
from kameng.core.pagination import keyset_page, requested_before
from kameng.sales import services
from kameng.sales.delivery import line_codes
from kameng.sales.forms import ManualDeliveryForm, RefundForm
from kameng.sales.manual import deliver_manual
from kameng.sales.models import ORDER_STATUSES, Order, OrderLine

bp = Routes()

PAGE = 50
# a delivered order may be refunded too (a bad code): its commissions are reversed
REFUNDABLE = ("paid", "fulfilling", "failed", "delivered")
# the manual queue: paid orders with a manual line nobody has delivered yet
QUEUE = "queue"


def _order_or_404(order_no: str) -> Order:
    try:
        return services.get_order(order_no)  # this shop's orders only
    except NotFound:
        abort(404)


def _manual_waiting():
    return exists().where(OrderLine.order_id == Order.id, OrderLine.kind == "manual",
                          OrderLine.status.in_(("pending", "processing")))


@bp.route("/orders")
@staff_required
def orders_index():
    status = (request.args.get("status") or "").strip()
    q = (request.args.get("q") or "").strip()[:254]
    query = select(Order)
    if status == QUEUE:
        query = query.where(Order.status.in_(("paid", "fulfilling")), _manual_waiting())
    elif status in ORDER_STATUSES:
        query = query.where(Order.status == status)
    if q:
        like = q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        query = query.where(or_(Order.order_no == q.upper(),
                                func.lower(Order.contact).like(f"%{like.lower()}%",
                                                               escape="\\")))
    page = keyset_page(query, Order.id, PAGE, requested_before())
    queue_count = db.session.scalar(
        select(func.count()).select_from(Order)
        .where(Order.status.in_(("paid", "fulfilling")), _manual_waiting()))
    funds_count = db.session.scalar(select(func.count()).select_from(Order)
                                    .where(Order.status == "awaiting_funds"))
    return render_template("admin/orders.html", orders=page.rows, older=page.older, status=status,
                           q=q, statuses=ORDER_STATUSES, queue_count=queue_count,
                           funds_count=funds_count)


def _detail(order: Order, *, manual_forms=None, refund_form=None, status: int = 200):
    show_codes = current_user.role == "owner" and order.status == "delivered"
    lines = []
    for line in order.lines:
        form = (manual_forms or {}).get(line.id) or ManualDeliveryForm(formdata=None)
        can_deliver = (line.kind == "manual" and line.status in ("pending", "processing")
                       and order.status in ("paid", "fulfilling"))
        lines.append({"line": line, "form": form, "can_deliver": can_deliver,
                      "codes": line_codes(line) if show_codes else None})
    return render_template(
        "admin/orders_detail.html", order=order, lines=lines,
        refund_form=refund_form or RefundForm(formdata=None),
        can_refund=current_user.role == "owner" and order.status in REFUNDABLE), status


@bp.route("/orders/<order_no>")
@staff_required
def order_detail(order_no: str):
    return _detail(_order_or_404(order_no))


@bp.route("/orders/<order_no>/lines/<int:line_id>/deliver", methods=["POST"])
@staff_required
def order_deliver(order_no: str, line_id: int):
    order = _order_or_404(order_no)
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
    db.session.refresh(order)
    return _detail(order, manual_forms={line_id: form}, status=422)


@bp.route("/orders/<order_no>/refund", methods=["POST"])
@owner_required
def order_refund(order_no: str):
    order = _order_or_404(order_no)
    form = RefundForm()
    if not form.validate_on_submit():
        return _detail(order, refund_form=form, status=422)
    if order.status not in REFUNDABLE:
        form.reason.errors = [_("Only paid, undelivered or failed orders can be refunded here.")]
        return _detail(order, refund_form=form, status=409)
    try:
        done = services.refund_order(order, form.reason.data, actor=current_user,
                                     from_statuses=REFUNDABLE)
    except ServiceError as err:
        db.session.rollback()
        form.reason.errors = [err.message]
        return _detail(_order_or_404(order_no), refund_form=form, status=err.status)
    if not done:
        db.session.rollback()
        flash(_("The order changed meanwhile; nothing was refunded."), "error")
    else:
        flash(_("Order %(number)s refunded.", number=order.order_no), "success")
    return redirect(url_for("admin.order_detail", order_no=order.order_no))
