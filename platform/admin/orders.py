"""Back office: the shop's orders — list and filters, detail, manual delivery, refunds.

A shop sees its own orders only (the request's tenant scope). Staff deliver
``manual`` lines; only the owner refunds, with the choices ``kameng.sales.refunds``
gives its shop (docs/refunds.md).
"""
from __future__ import annotations

from flask import abort, flash, g, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import exists, func, or_, select

from kameng.admin.routes import Routes
from kameng.admin.views import owner_required, staff_required
from kameng.core.errors import NotFound, ServiceError
from kameng.core.extensions import db
from kameng.core.pagination import keyset_page, requested_before
from kameng.sales import refunds, services
from kameng.sales.delivery import line_codes
from kameng.sales.forms import ManualDeliveryForm, RefundForm, RefundRequestForm
from kameng.sales.manual import deliver_manual
from kameng.sales.models import ORDER_STATUSES, Order, OrderLine
from kameng.shop.stock.allocation import voided_codes_for_line

bp = Routes()

PAGE = 50
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


def _detail(order: Order, *, manual_forms=None, forms=None, status: int = 200):
    owner = current_user.role == "owner"
    show_codes = owner and order.status == "delivered"
    lines = []
    for line in order.lines:
        form = (manual_forms or {}).get(line.id) or ManualDeliveryForm(formdata=None)
        can_deliver = (line.kind == "manual" and line.status in ("pending", "processing")
                       and order.status in ("paid", "fulfilling"))
        voided = voided_codes_for_line(line.id) if line.kind == "card" else []
        if not owner:  # staff see that codes were voided, not the codes
            voided = [{**v, "code": None} for v in voided]
        lines.append({"line": line, "form": form, "can_deliver": can_deliver,
                      "codes": line_codes(line) if show_codes else None, "voided": voided})
    forms = forms or {}
    return render_template(
        "admin/orders_detail.html", order=order, lines=lines,
        refund_form=forms.get("refund") or RefundForm(formdata=None),
        goodwill_form=forms.get("goodwill") or RefundForm(formdata=None),
        request_form=forms.get("request") or RefundRequestForm(formdata=None),
        choices=refunds.refund_choices(g.tenant, order) if owner else None,
        requests=refunds.requests_for_order(order) if owner else []), status


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
