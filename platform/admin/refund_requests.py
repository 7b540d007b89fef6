"""Back office: refund requests — those this shop filed (outgoing) and those that came to
it from the shops below (incoming), and the holder's decision: forward, reject, approve.

Staff read them; the owner decides. What each shop may do is
``kameng.sales.refunds``'s business (docs/refunds.md).
"""
from __future__ import annotations

from flask import abort, flash, g, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_login import current_user

from kameng.admin.routes import Routes
from kameng.admin.views import owner_required, staff_required
from kameng.core.errors import NotFound, ServiceError
from kameng.core.extensions import db
from kameng.sales import refunds
from kameng.sales.forms import RefundDecisionForm

bp = Routes()


@bp.route("/refund-requests")
@staff_required
def refund_requests():
    incoming = refunds.incoming(g.tenant)
    outgoing = refunds.outgoing(g.tenant)
    shops = refunds.shop_names([r.tenant_id for r in incoming]
                               + [r.holder_tenant_id for r in incoming + outgoing])
    return render_template("admin/refund_requests.html", incoming=incoming, outgoing=outgoing,
                           shops=shops)


def _request_or_404(request_id: int):
    try:
        return refunds.get_request(g.tenant, request_id)
    except NotFound:
        abort(404)


def _detail(request, form=None, status: int = 200):
    order = refunds.request_order(request)
    steps = list(request.steps)
    shops = refunds.shop_names([request.tenant_id, request.holder_tenant_id]
                               + [s.tenant_id for s in steps] + [s.to_tenant_id for s in steps])
    decide = current_user.role == "owner" and refunds.can_decide(g.tenant, request)
    return render_template(
        "admin/refund_request.html", req=request, order=order, steps=steps, shops=shops,
        form=form or RefundDecisionForm(formdata=None), can_decide=decide,
        own=request.tenant_id == g.tenant.id), status


@bp.route("/refund-requests/<int:request_id>")
@staff_required
def refund_request_detail(request_id: int):
    return _detail(_request_or_404(request_id))


ACTIONS = {"forward": refunds.forward_request, "reject": refunds.reject_request,
           "approve": refunds.approve_request}


@bp.route("/refund-requests/<int:request_id>/<action>", methods=["POST"])
@owner_required
def refund_request_decide(request_id: int, action: str):
    if action not in ACTIONS:
        abort(404)
    request = _request_or_404(request_id)
    form = RefundDecisionForm()
    if not form.validate_on_submit():
        return _detail(request, form, status=422)
    try:
        ACTIONS[action](g.tenant, request.id, actor=current_user, note=form.note.data)
    except ServiceError as err:
        db.session.rollback()
        form.note.errors = [err.message]
        return _detail(_request_or_404(request_id), form, status=err.status)
    flash(_messages()[action], "success")
    return redirect(url_for("admin.refund_request_detail", request_id=request.id))


def _messages() -> dict:
    # translated in the request's language (the msgids are literal for extraction)
    return {"forward": _("Forwarded to your parent shop."),
            "reject": _("Rejected; nothing was refunded."),
            "approve": _("Approved: the order is refunded in full and its codes are voided.")}
