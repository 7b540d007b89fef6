"""Gateway callbacks: the epay notify and the Stripe webhook (CSRF-exempt).

``GET|POST /pay/epay/notify/<order_no>`` on the shop's own host: verified with
that shop's epay settings (signature, pid, TRADE_SUCCESS, order number equal to
the one in the path, money parsed exactly), then handed to the payment
handler. Answers the plain text ``success`` only once the handler accepted the
notice; otherwise ``fail`` (the gateway retries).

``POST /pay/stripe/webhook`` on any shop host (configure the master's): the
shop is taken from the verified event's ``metadata.tenant_id``, not from the
host. 400 for a bad signature (or a stale/future one); 200 once the handler
accepted the notice, and also when it refused it for good
(``{"accepted": false}``, logged): Stripe retries would not change the answer,
and it disables endpoints that keep failing. 200 too for events we do not act on.

Both answer 503 when no payment handler is registered, so nothing is lost:
the gateway retries later. The handler contract is in
``kameng.billing.payments.services``.
"""
from __future__ import annotations

import logging

from flask import Blueprint, g, jsonify, request

from kameng.billing.payments.base import (
    IgnoredNotification,
    InvalidNotification,
    NotificationRequest,
)
from kameng.billing.payments.services import (
    NoPaymentHandler,
    dispatch_notice,
    gateway_notice,
    platform_epay_notice,
    stripe_webhook_tenant,
)
from kameng.core.errors import ServiceError
from kameng.core.extensions import csrf, db

log = logging.getLogger(__name__)
bp = Blueprint("payments", __name__)
csrf.exempt(bp)


def _text(body: str, status: int):
    return body, status, {"Content-Type": "text/plain; charset=utf-8"}


def _dispatch(tenant, notice) -> tuple[bool | None, int]:
    """(accepted, status) — accepted is None when it could not be decided now."""
    try:
        accepted = dispatch_notice(tenant, notice)
    except NoPaymentHandler:
        log.error("payment notice for %s/%s but no payment handler is registered",
                  tenant.id, notice.order_no)
        return None, 503
    except Exception:
        db.session.rollback()
        log.exception("payment handler failed for %s/%s", tenant.id, notice.order_no)
        return None, 500
    return accepted, (200 if accepted else 400)


@bp.route("/pay/epay/notify/<order_no>", methods=["GET", "POST"])
def epay_notify(order_no: str):
    return epay_notify_response(g.tenant, NotificationRequest.from_flask(request), order_no)


@bp.route("/pay/epay/platform/notify/<order_no>", methods=["GET", "POST"])
def platform_epay_notify(order_no: str):
    """The master's 易支付 paid an order of this (sub-)shop: platform money."""
    return epay_notify_response(g.tenant, NotificationRequest.from_flask(request), order_no,
                                platform=True)


def epay_notify_response(tenant, req, order_no: str, *, platform: bool = False):
    """Verify an epay notify and hand it on; the gateway's plain-text answer (also used
    in-process by the demo gateway)."""
    try:
        notice = (platform_epay_notice(req, order_no) if platform
                  else gateway_notice(tenant, "epay", req, url_order_no=order_no))
    except (InvalidNotification, ServiceError) as err:
        log.warning("epay notify refused for shop %s order %r: %s", tenant.id, order_no, err)
        return _text("fail", 400)
    accepted, status = _dispatch(tenant, notice)
    return _text("success" if accepted else "fail", status)


@bp.route("/pay/stripe/webhook", methods=["POST"])
def stripe_webhook():
    req = NotificationRequest.from_flask(request)
    try:
        tenant = stripe_webhook_tenant(req)
        if tenant is None:
            # genuine, but not about one of our shops' orders: acknowledge, do nothing
            return jsonify(received=True, ignored=True)
        notice = gateway_notice(tenant, "stripe", req)
    except IgnoredNotification:
        return jsonify(received=True, ignored=True)
    except (InvalidNotification, ServiceError) as err:
        log.warning("stripe webhook refused: %s", err)
        return jsonify(received=False, error="invalid"), 400
    accepted, status = _dispatch(tenant, notice)
    if accepted is False:
        # a refusal for good (unknown order, amount mismatch): retrying cannot change it,
        # and Stripe disables endpoints that keep failing, so acknowledge and log
        log.warning("stripe %s for %s/%s refused by the payment handler", notice.status,
                    tenant.id, notice.order_no)
        return jsonify(received=True, accepted=False), 200
    return jsonify(received=bool(accepted), accepted=bool(accepted)), status
