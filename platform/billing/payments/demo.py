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

import secrets

from flask import current_app

from kameng.billing.payments import registry
from kameng.billing.payments.base import ProviderUnavailable
from kameng.billing.payments.epay import CHANNELS, sign, verify_sign
from kameng.billing.payments.models import PaymentMethodConfig
from kameng.billing.payments.secrets import seal
from kameng.core.config import default_database_url
from kameng.core.extensions import db

PATH = "/demo-gateway/"
DEMO_PID = "1000"


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


class DemoRefused(Exception):
    """The demo gateway does not serve this request (``status``: 403 off, 404, 400)."""

    def __init__(self, status: int):
        super().__init__(status)
        self.status = status


def verified_provider(params):
    """The master's demo 易支付 when ``params`` carry its valid signature; ends the read."""
    if not allowed():
        raise DemoRefused(403)
    try:
        provider = registry.platform_epay()
    except ProviderUnavailable:
        raise DemoRefused(404) from None
    db.session.commit()  # ends the read: the notify that may follow owns its transactions
    if not is_demo(provider) or not provider.key:
        raise DemoRefused(404)
    if str(params.get("pid") or "") != provider.pid or not verify_sign(params, provider.key):
        raise DemoRefused(400)
    if params.get("type") not in CHANNELS or not params.get("out_trade_no"):
        raise DemoRefused(400)
    return provider


def paid_notice(provider, params) -> dict:
    """The signed TRADE_SUCCESS notify the gateway sends for ``params``."""
    result = {"pid": provider.pid, "trade_no": "DEMO" + secrets.token_hex(8).upper(),
              "out_trade_no": params["out_trade_no"], "type": params["type"],
              "name": params.get("name", ""), "money": params.get("money", ""),
              "trade_status": "TRADE_SUCCESS"}
    result["sign"] = sign(result, provider.key)
    result["sign_type"] = "MD5"
    return result
