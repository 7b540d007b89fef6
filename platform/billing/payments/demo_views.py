"""The demo gateway's pages (``kameng.billing.payments.demo``): the cashier with "pay" and
"cancel", then the in-process notify and the return redirect."""
from __future__ import annotations

import re
from urllib.parse import urlencode, urlsplit

from flask import Blueprint, abort, current_app, g, redirect, request

from kameng.billing.payments import demo
from kameng.billing.payments.base import NotificationRequest
from kameng.core.extensions import csrf
from kameng.tenants.themes import render

_NOTIFY_RE = re.compile(r"^/pay/epay/(platform/)?notify/([^/]+)$")

bp = Blueprint("demo_gateway", __name__)
# the shop's checkout posts to it as to any gateway (no CSRF token of ours); every step
# is checked by the merchant signature instead
csrf.exempt(bp)


def _verified_provider(params):
    try:
        return demo.verified_provider(params)
    except demo.DemoRefused as err:
        abort(err.status)


def _same_host(url: str) -> bool:
    parts = urlsplit(url)
    return not parts.netloc or parts.netloc == request.host


@bp.route(demo.PATH + "submit.php", methods=["GET", "POST"])
def submit():
    params = request.values.to_dict()
    _verified_provider(params)
    return render("demo_gateway.html", fields=params, item=params.get("name", ""),
                  money=params.get("money", ""), channel=params.get("type"))


@bp.route(demo.PATH + "pay", methods=["POST"])
def pay():
    params = {k: v for k, v in request.form.to_dict().items() if k != "action"}
    provider = _verified_provider(params)
    notify_url = params.get("notify_url") or ""
    return_url = params.get("return_url") or ""
    if not _same_host(notify_url) or (return_url and not _same_host(return_url)):
        abort(400)
    order_no = params["out_trade_no"]
    if request.form.get("action") != "pay":
        # cancelled: back to the shop, nothing paid
        return redirect(return_url + "?" + urlencode({"out_trade_no": order_no})
                        if return_url else "/")
    match = _NOTIFY_RE.match(urlsplit(notify_url).path)
    if match is None:
        abort(400)
    result = demo.paid_notice(provider, params)
    # the server-to-server notify, in-process; the handler owns its transactions
    from kameng.billing.payments.views import epay_notify_response

    body, status, _ = epay_notify_response(g.tenant, NotificationRequest(method="GET",
                                                                          args=result),
                                           match.group(2), platform=bool(match.group(1)))
    if status != 200 or body != "success":
        current_app.logger.warning("demo gateway: the shop answered %s %r", status, body)
    if not return_url:
        return render("demo_gateway.html", fields=None, done=True, item=result["name"],
                      money=result["money"], channel=result["type"])
    return redirect(return_url + "?" + urlencode(result))
