"""Supplier webhooks: a signed "your order finished" call advances the order line.

``POST /supplier/webhook/<supplier_id>`` on the master's host. The body is
verified by the supplier's adapter (signature, fresh timestamp); the line with
that idempotency key is then reconciled by the fulfilment job, which asks the
supplier for the status itself — the webhook only says when to look.
"""
from __future__ import annotations

from flask import Blueprint, abort, g, jsonify, request
from sqlalchemy import select

from kameng.core.extensions import csrf, db
from kameng.core.jobs import enqueue
from kameng.sales.models import Order, OrderLine
from kameng.shop.suppliers import services as suppliers
from kameng.shop.suppliers.adapters import InvalidSignature

bp = Blueprint("supplier_hooks", __name__)
csrf.exempt(bp)


@bp.route("/supplier/webhook/<int:supplier_id>", methods=["POST"])
def supplier_webhook(supplier_id: int):
    if not g.tenant.is_master:
        abort(404)  # suppliers are the master's
    try:
        result = suppliers.receive_webhook(supplier_id, request.headers, request.get_data())
    except InvalidSignature as err:
        return jsonify(ok=False, error=err.message), 401
    row = db.session.execute(
        select(Order.tenant_id, Order.id).join(OrderLine, OrderLine.order_id == Order.id)
        .where(OrderLine.supplier_key == result.idempotency_key,
               Order.status == "fulfilling")
        .execution_options(all_tenants=True)).first()
    if row is not None:
        enqueue("fulfilment", "kameng.workers.jobs.fulfil_order", row.tenant_id, row.id)
    return jsonify(ok=True)
