"""The built-in demo gateway: a stand-in 易支付 served by the app itself.

``kameng demo seed`` sets the master's 易支付 to it (``install``), so a guest of
any demo shop can pay out of the box. It speaks the epay protocol
(/work/shared/protocols/epay.md): the checkout posts the signed order to
``/demo-gateway/submit.php``; the page offers "pay" and "cancel"; "pay" sends
the signed notify to the shop's notify URL — handled in-process, after the
read is committed, exactly as the notify endpoint would — and then returns the
buyer to the shop's return URL with the signed result.

No money moves: it is refused (403) unless the app runs on the embedded
default SQLite database or the operator sets ``KAMENG_DEMO_GATEWAY``. The real
epay path is untouched: a shop with a real gateway address never comes here.
"""
from __future__ import annotations

import re
import secrets
from urllib.parse import urlencode, urlsplit

from flask import Blueprint, abort, current_app, g, redirect, request

from kameng.billing.payments import registry
from kameng.billing.payments.base import NotificationRequest, ProviderUnavailable
from kameng.billing.payments.epay import CHANNELS, sign, verify_sign
from kameng.billing.payments.models import PaymentMethodConfig
from kameng.billing.payments.secrets import seal
from kameng.core.config import default_database_url
from kameng.core.extensions import csrf, db
from kameng.tenants.themes import render

PATH = "/demo-gateway/"
DEMO_PID = "1000"
_NOTIFY_RE = re.compile(r"^/pay/epay/(platform/)?notify/([^/]+)$")

bp = Blueprint("demo_gateway", __name__)
# the shop's checkout posts to it as to any gateway (no CSRF token of ours); every step
# is checked by the merchant signature instead
csrf.exempt(bp)


def allowed(config=None) -> bool:
    """The demo gateway runs on the embedded default database, or when the operator
    turns it on (``KAMENG_DEMO_GATEWAY``); never silently on a production database."""
    cfg = config if config is not None else current_app.config
    if cfg.get("DEMO_GATEWAY"):
        return True
    return cfg.get("DATABASE_URL") == default_database_url(cfg["INSTANCE_PATH"])


def is_demo(provider) -> bool:
    return bool(provider.config.settings.get("demo"))


def install(master) -> PaymentMethodConfig:
    """Point the master's 易支付 at the demo gateway (``kameng demo seed``); commits."""
    key = secrets.token_hex(16)
    row = registry.config_row(master, "epay")
    if row is None:
        row = PaymentMethodConfig(tenant_id=master.id, provider="epay")
        db.session.add(row)
    row.enabled = True
    row.settings = {"apiurl": PATH, "pid": DEMO_PID, "types": ["alipay", "wxpay"],
                    "demo": True}
    row.secrets = {"key": seal(key, tenant_id=master.id, provider="epay", name="key")}
    db.session.commit()
    return row


def _verified_provider(params):
    """The master's demo 易支付 when ``params`` carry its valid signature; else 400/403."""
    if not allowed():
        abort(403)
    try:
        provider = registry.platform_epay()
    except ProviderUnavailable:
        abort(404)
    db.session.commit()  # ends the read
    if not is_demo(provider) or not provider.key:
        abort(404)
    if str(params.get("pid") or "") != provider.pid or not verify_sign(params, provider.key):
        abort(400)
    if params.get("type") not in CHANNELS or not params.get("out_trade_no"):
        abort(400)
    return provider


def _same_host(url: str) -> bool:
    parts = urlsplit(url)
    return not parts.netloc or parts.netloc == request.host


@bp.route(PATH + "submit.php", methods=["GET", "POST"])
def submit():
    params = request.values.to_dict()
    _verified_provider(params)
    return render("demo_gateway.html", fields=params, item=params.get("name", ""),
                  money=params.get("money", ""), channel=params.get("type"))


@bp.route(PATH + "pay", methods=["POST"])
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
    result = {"pid": provider.pid, "trade_no": "DEMO" + secrets.token_hex(8).upper(),
              "out_trade_no": order_no, "type": params["type"],
              "name": params.get("name", ""), "money": params.get("money", ""),
              "trade_status": "TRADE_SUCCESS"}
    result["sign"] = sign(result, provider.key)
    result["sign_type"] = "MD5"
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
