"""易支付 (epay V1): the aggregator protocol for Alipay / WeChat Pay / QQ Pay.

Follows /work/shared/protocols/epay.md. Shop settings: ``apiurl`` (ending in
``/``), ``pid``, ``types`` (enabled channels); secret: ``key``.

Amount check: ``parse_notification`` returns the amount the gateway reports,
as integer fen, parsed exactly from ``money`` (a malformed ``money`` is
refused). When the caller passes ``expected_amount`` it is compared here;
the notify endpoint does not know orders, so there the payment handler compares
``notice.amount`` with the order (``PaymentNotice.matches``) and refuses a
mismatch.

Refunds: epay V1 has no standard refund call (``api.php?act=refund`` exists
only on some gateways), so ``refund`` raises ``RefundUnsupported``: refund in
the gateway's merchant console.
"""
from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Mapping

import requests
from flask import current_app, has_app_context

from kameng.billing.payments import base
from kameng.core import outbound
from kameng.core.errors import InvalidInput
from kameng.core.i18n import lazy_gettext as _l
from kameng.core.money import format_plain, parse_amount

CHANNELS = ("alipay", "wxpay", "qqpay")
CURRENCY = "CNY"
NAME_MAX_BYTES = 127
# seconds to connect and to wait for each read of the server-to-server query
# (KAMENG_GATEWAY_CONNECT_TIMEOUT / KAMENG_GATEWAY_READ_TIMEOUT): a gateway that never
# answers costs its shop's 补单 job a few seconds, nothing more
TIMEOUT = (3.0, 5.0)
_MONEY_RE = re.compile(r"^\d{1,12}(\.\d{1,2})?$")


def signing_string(params: Mapping[str, object]) -> str:
    """Drop sign/sign_type and empty values, sort keys (ASCII), join ``k=v&…`` raw."""
    items = sorted((str(k), str(v)) for k, v in params.items()
                   if k not in ("sign", "sign_type") and v is not None and str(v) != "")
    return "&".join(f"{k}={v}" for k, v in items)


def sign(params: Mapping[str, object], key: str) -> str:
    """md5(signing string + key), lowercase hex (the key appended directly)."""
    return hashlib.md5((signing_string(params) + key).encode("utf-8")).hexdigest()


def verify_sign(params: Mapping[str, object], key: str) -> bool:
    given = str(params.get("sign") or "").lower()
    return bool(given) and hmac.compare_digest(given.encode(), sign(params, key).encode())


def truncate_utf8(text: str, max_bytes: int = NAME_MAX_BYTES) -> str:
    """Cut to at most ``max_bytes`` UTF-8 bytes without splitting a character."""
    return text.encode("utf-8")[:max_bytes].decode("utf-8", "ignore")


def query_timeout() -> tuple[float, float]:
    """(connect, read) seconds for a call to a gateway, from the settings."""
    if not has_app_context():
        return TIMEOUT
    cfg = current_app.config
    return (float(cfg.get("GATEWAY_CONNECT_TIMEOUT") or TIMEOUT[0]),
            float(cfg.get("GATEWAY_READ_TIMEOUT") or TIMEOUT[1]))


def parse_money(text: str) -> int:
    """'12.65' -> 1265 fen; anything but plain yuan with at most 2 decimals is refused."""
    text = (text or "").strip()
    if not _MONEY_RE.match(text):
        raise ValueError(f"malformed money {text!r}")
    return parse_amount(text, CURRENCY)


class EpayProvider(base.PaymentProvider):
    name = "epay"

    @property
    def apiurl(self) -> str:
        return self.config.settings.get("apiurl", "")

    @property
    def pid(self) -> str:
        return str(self.config.settings.get("pid", ""))

    @property
    def key(self) -> str:
        return self.config.secrets.get("key", "")

    @property
    def channels(self) -> list[str]:
        return [c for c in self.config.settings.get("types") or [] if c in CHANNELS]

    def _require_configured(self) -> None:
        if not (self.apiurl and self.pid and self.key):
            raise base.PaymentError(_l("epay is not fully configured for this shop"), status=409)

    # ----- starting a payment ---------------------------------------------

    def start(self, payment: base.PaymentRequest) -> base.PaymentStart:
        self._require_configured()
        if self.config.settings.get("demo"):
            from kameng.billing.payments.demo import allowed

            if not allowed():
                raise base.PaymentError(_l("the demo payment gateway is off on this platform "
                                           "(KAMENG_DEMO_GATEWAY)"), status=409)
        if payment.currency.upper() != CURRENCY:
            raise InvalidInput(_l("epay takes %(expected)s only, not %(currency)s",
                                  expected=CURRENCY, currency=payment.currency),
                               field="currency")
        if payment.amount <= 0:
            raise InvalidInput(_l("the amount must be positive"), field="amount")
        channel = payment.channel or (self.channels[0] if self.channels else "")
        if channel not in self.channels:
            raise InvalidInput(_l("payment channel %(channel)r is not enabled",
                                  channel=channel), field="channel")
        if not payment.notify_url:
            raise InvalidInput(_l("notify_url is required for epay"), field="notify_url")
        fields = {
            "pid": self.pid,
            "type": channel,
            "out_trade_no": payment.order_no,
            "notify_url": payment.notify_url,
            "return_url": payment.return_url,
            "name": truncate_utf8(payment.description or payment.order_no),
            "money": format_plain(payment.amount, CURRENCY),
        }
        fields = {k: v for k, v in fields.items() if v != ""}
        fields["sign"] = sign(fields, self.key)
        fields["sign_type"] = "MD5"
        return base.PaymentStart(kind="form", url=self.apiurl + "submit.php", fields=fields)

    # ----- the notify callback ---------------------------------------------

    def parse_notification(self, req: base.NotificationRequest, url_order_no: str | None = None,
                           expected_amount: int | None = None) -> base.PaymentNotice:
        self._require_configured()
        # gateways send GET; a few POST a form
        params = dict(req.args)
        if req.method.upper() == "POST" and req.form:
            params = dict(req.form)
        for name in ("pid", "out_trade_no", "money", "trade_status", "sign"):
            if not params.get(name):
                raise base.InvalidNotification(f"missing {name}")
        if (params.get("sign_type") or "MD5").upper() != "MD5":
            raise base.InvalidNotification(f"unsupported sign_type {params.get('sign_type')!r}")
        if not verify_sign(params, self.key):
            raise base.InvalidNotification("bad signature")
        if not hmac.compare_digest(str(params["pid"]).encode(), self.pid.encode()):
            raise base.InvalidNotification("pid is not this shop's merchant id")
        if params["trade_status"] != "TRADE_SUCCESS":
            raise base.InvalidNotification(f"trade_status is {params['trade_status']!r}")
        order_no = params["out_trade_no"]
        if url_order_no is not None and order_no != url_order_no:
            raise base.InvalidNotification("out_trade_no does not match the notify URL")
        try:
            amount = parse_money(params["money"])
        except ValueError as err:
            raise base.InvalidNotification(str(err)) from None
        if expected_amount is not None and amount != int(expected_amount):
            raise base.InvalidNotification(f"money {amount} fen differs from the order's "
                                      f"{expected_amount} fen")
        return base.PaymentNotice(provider=self.name, order_no=order_no, amount=amount,
                             currency=CURRENCY, provider_ref=params.get("trade_no") or None,
                             paid=True, status="paid", channel=params.get("type") or None,
                             platform=self.platform)

    # ----- 补单: asking the gateway --------------------------------------------

    def query(self, order_no: str, provider_ref: str | None = None) -> base.PaymentNotice | None:
        """The gateway's view of an order: a notice (``paid`` True/False), None if unknown."""
        self._require_configured()
        if self.config.settings.get("demo"):
            return None  # the built-in demo gateway (kameng.billing.payments.demo) keeps no orders
        try:
            # the shop's own address: guarded against loopback, private and metadata
            resp = outbound.request("GET", self.apiurl + "api.php", timeout=query_timeout(), params={
                "act": "order", "pid": self.pid, "key": self.key, "out_trade_no": order_no})
            resp.raise_for_status()
            data = resp.json()
        except outbound.OutboundRefused as err:
            raise base.PaymentError(err.text) from None
        except (requests.RequestException, ValueError) as err:
            raise base.PaymentError(_l("epay query failed: %(error)s",
                                  error=err.__class__.__name__)) from None
        if str(data.get("code")) != "1":
            return None
        if str(data.get("out_trade_no", order_no)) != order_no:
            raise base.PaymentError(_l("epay query answered for another order"))
        if "pid" in data and str(data["pid"]) != self.pid:
            raise base.PaymentError(_l("epay query answered for another merchant"))
        try:
            amount = parse_money(str(data.get("money", "")))
        except ValueError as err:
            raise base.PaymentError(_l("epay query: %(err)s", err=err)) from None
        paid = str(data.get("status")) == "1"
        return base.PaymentNotice(provider=self.name, order_no=order_no, amount=amount,
                             currency=CURRENCY, provider_ref=data.get("trade_no") or None,
                             paid=paid, status="paid" if paid else "pending",
                             channel=data.get("type") or None, platform=self.platform)

    def refund(self, provider_ref: str, amount: int, idempotency_key: str) -> base.RefundResult:
        raise base.RefundUnsupported(_l("epay has no standard refund: refund this payment manually "
                                   "in the gateway's merchant console"))
