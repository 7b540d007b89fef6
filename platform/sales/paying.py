"""How a buyer pays an order: the methods a shop offers, and starting a payment.

``balance`` is paid inside ``place_order`` (the wallet is debited in the
order's own transaction), so its provider has nothing to do in the browser.
``stripe`` and ``epay`` start at the gateway; only their verified callbacks
(``kameng.billing.payments.views``) mark an order paid.
"""
from __future__ import annotations

from dataclasses import dataclass

from kameng.billing.payments import demo as demo_gateway
from kameng.billing.payments import registry
from kameng.billing.payments.base import (
    PaymentProvider,
    PaymentRequest,
    PaymentStart,
    ProviderUnavailable,
)
from kameng.billing.payments.services import epay_notify_url
from kameng.core.errors import InvalidInput
from kameng.core.extensions import db
from kameng.core.i18n import lazy_gettext as _l
from kameng.sales.models import Order

CHANNEL_LABELS = {"alipay": _l("Alipay"), "wxpay": _l("WeChat Pay"), "qqpay": _l("QQ Pay")}


class BalanceProvider(PaymentProvider):
    """The wallet: the orders service debits it when the order is placed."""

    name = "balance"

    def start(self, payment: PaymentRequest) -> PaymentStart:
        return PaymentStart(kind="instant")


def register() -> None:
    if not registry.is_registered("balance"):
        registry.register_provider("balance", BalanceProvider)


@dataclass(frozen=True)
class PayOption:
    value: str            # what the form posts: "balance", "stripe", "epay:alipay"
    method: str           # the provider name
    channel: str | None   # epay channel
    label: str


def pay_options(tenant, customer, *, with_balance: bool = True) -> list[PayOption]:
    """The shop's enabled methods as the buyer can choose them (balance needs a login)."""
    options = []
    for name in registry.enabled_providers(tenant):
        if name == "balance":
            if customer is not None and with_balance:
                options.append(PayOption("balance", "balance", None, str(_l("Account balance"))))
        elif name == "stripe":
            options.append(PayOption("stripe", "stripe", None, str(_l("Card"))))
        elif name == "epay":
            try:
                provider = registry.get_provider(tenant, "epay")
            except ProviderUnavailable:
                continue
            if demo_gateway.is_demo(provider) and not demo_gateway.allowed():
                continue  # the demo gateway is refused on this database
            channels = provider.channels
            options.extend(PayOption(f"epay:{ch}", "epay", ch, str(CHANNEL_LABELS[ch]))
                           for ch in channels)
    return options


def preselect(options: list[PayOption], balance: int | None, total: int | None) -> str:
    """The method checked when the page opens: the balance when it covers the total (or
    the total is not known yet), else the first other method; "" when none is offered."""
    others = [o for o in options if o.method != "balance"]
    if any(o.method == "balance" for o in options) and balance is not None \
            and balance > 0 and (total is None or balance >= total):
        return "balance"
    if others:
        return others[0].value
    return options[0].value if options else ""


def find_option(options: list[PayOption], value: str | None) -> PayOption | None:
    value = (value or "").strip()
    return next((o for o in options if o.value == value), None)


def default_option(order: Order, options: list[PayOption]) -> PayOption | None:
    """The method the buyer picked at checkout, when it is still offered."""
    return next((o for o in options if o.method == order.payment_method), None)


def start_payment(tenant, order: Order, option: PayOption, *, return_url: str,
                  client_ip: str | None = None) -> PaymentStart:
    """Start (or continue: providers are idempotent per order) paying ``order``."""
    if option.method == "balance":
        raise InvalidInput(_l("choose another payment method"), field="payment_method")
    if order.status != "pending":
        raise InvalidInput(_l("this order is not waiting for payment"), field="payment_method")
    provider = registry.get_provider(tenant, option.method)
    line = order.lines[0] if order.lines else None
    description = line.name if line is not None and len(order.lines) == 1 else order.order_no
    request = PaymentRequest(
        order_no=order.order_no, amount=order.amount, currency=order.currency,
        description=description,
        notify_url=(epay_notify_url(tenant, order.order_no, platform=provider.platform)
                    if option.method == "epay" else ""),
        return_url=return_url, client_ip=client_ip or "", channel=option.channel,
        customer_id=order.customer_id)
    db.session.commit()  # ends the read: no transaction is open during the gateway call
    return provider.start(request)
