"""Topping a wallet up by card or 易支付: start a payment, credit the wallet on the verified
notice.

Only the platform's gateways top a wallet up: Stripe, and the master's 易支付 (which a
sub-shop without its own offers, ``registry.platform_epay_tenant``). A sub-shop's own
易支付 never does: its money is the shop's, not the platform's (docs/money.md).

The wallet is credited only by the provider's signed notice (the Stripe webhook, the
epay notify),
through the same payment handler as orders; a top-up number starts with ``W``
(order numbers with ``K``), which is how the handler tells them apart. A
repeated notice credits once (conditional status change + ledger idempotency key).
"""
from __future__ import annotations

import secrets

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from kameng.billing import wallets
from kameng.billing.ledger import services as ledger
from kameng.billing.payments.base import PaymentRequest, PaymentStart
from kameng.billing.payments.registry import get_provider
from kameng.billing.topups.models import WalletTopup
from kameng.core.errors import InvalidInput, NotFound, found
from kameng.core.extensions import db
from kameng.core.i18n import lazy_gettext as _l
from kameng.core.models import utcnow
from kameng.core.money import parse_input_amount
from kameng.tenants.models import Tenant, User

PREFIX = "W"
ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
MIN_AMOUNT, MAX_AMOUNT = 100, 10_000_00  # ¥1 … ¥10,000 per top-up
PROVIDERS = ("stripe", "epay")


def topup_methods(tenant) -> list[tuple[str, str | None]]:
    """(provider, epay channel) the shop's buyers can top up with: platform gateways only."""
    from kameng.billing.payments.base import ProviderUnavailable
    from kameng.billing.payments.registry import enabled_providers

    names = enabled_providers(tenant)
    methods: list[tuple[str, str | None]] = []
    if "stripe" in names:
        methods.append(("stripe", None))
    if "epay" in names:
        try:
            gateway = get_provider(tenant, "epay")
        except ProviderUnavailable:
            return methods
        if _is_platform(tenant, gateway):
            from kameng.billing.payments import demo

            if not (demo.is_demo(gateway) and not demo.allowed()):
                methods.extend(("epay", ch) for ch in gateway.channels)
    return methods


def _is_platform(tenant, gateway) -> bool:
    """The gateway's money is the platform's: Stripe, the master's own 易支付, or the
    master's 易支付 serving a sub-shop; never a sub-shop's own 易支付."""
    return gateway.name != "epay" or tenant.parent_id is None or gateway.platform


def is_topup_number(number: str | None) -> bool:
    return bool(number) and number.startswith(PREFIX)


def _new_number() -> str:
    return PREFIX + utcnow().strftime("%y%m%d") + "".join(
        secrets.choice(ALPHABET) for _ in range(14))


def parse_topup_amount(text: str, currency: str) -> int:
    amount = parse_input_amount(text, currency)
    if not MIN_AMOUNT <= amount <= MAX_AMOUNT:
        raise InvalidInput(_l("the amount is outside the allowed range"), field="amount")
    return amount


def start_topup(tenant: Tenant, user: User, amount: int, provider: str = "stripe",
                return_url: str = "", channel: str | None = None
                ) -> tuple[WalletTopup, PaymentStart]:
    """Record a pending top-up and start its payment (``channel``: the 易支付 type)."""
    if provider not in PROVIDERS:
        raise InvalidInput(_l("top-ups are paid by %(choices)s",
                              choices=', '.join(PROVIDERS)), field="provider")
    if user.tenant_id != tenant.id:
        raise NotFound(_l("no such account on this shop"))
    gateway = get_provider(tenant, provider)  # refuses a method the shop has not enabled
    if not _is_platform(tenant, gateway):
        raise InvalidInput(_l("a shop's own payment gateway cannot top up a wallet"),
                           field="provider")
    topup = WalletTopup(tenant_id=tenant.id, topup_no=_new_number(), user_id=user.id,
                        amount=amount, currency=tenant.currency, provider=provider)
    notify_url = ""
    if provider == "epay":
        from kameng.billing.payments.services import epay_notify_url

        notify_url = epay_notify_url(tenant, topup.topup_no, platform=gateway.platform)
    request = PaymentRequest(
        order_no=topup.topup_no, amount=amount, currency=tenant.currency,
        description=f"wallet top-up {topup.topup_no}", notify_url=notify_url,
        return_url=return_url, client_ip=None, customer_id=user.id, channel=channel)
    db.session.add(topup)
    db.session.commit()  # the top-up exists before the gateway is called, with none open
    start = gateway.start(request)
    topup.provider_ref = start.provider_ref
    db.session.commit()
    return topup, start


def get_topup(user: User, topup_no: str) -> WalletTopup:
    return found(db.session.scalar(select(WalletTopup).where(
        WalletTopup.topup_no == topup_no, WalletTopup.user_id == user.id)),
        _l("no such top-up"))


def record_topup_payment(tenant: Tenant, notice) -> bool:
    """The payment handler's part for top-ups: credit the wallet once."""
    if not notice.paid:
        return True
    topup = db.session.scalar(select(WalletTopup).where(
        WalletTopup.topup_no == notice.order_no, WalletTopup.tenant_id == tenant.id)
        .execution_options(all_tenants=True))
    if topup is None:
        return False
    if notice.amount != topup.amount or notice.currency.upper() != topup.currency:
        return False
    from kameng.billing.payments.registry import is_own_gateway

    if notice.provider != topup.provider or (is_own_gateway(tenant, notice.provider)
                                             and not notice.platform):
        # only the platform's gateway the top-up was started at may pay it: a notice a
        # shop signed on its own gateway must never turn into platform money
        return False
    changed = db.session.execute(
        update(WalletTopup).where(WalletTopup.id == topup.id, WalletTopup.status == "pending")
        .values(status="paid", paid_at=utcnow(), provider_ref=notice.provider_ref)
        .execution_options(synchronize_session=False)).rowcount
    if not changed:
        db.session.rollback()
        return True  # credited before: a repeated notice
    user = db.session.get(User, topup.user_id)
    clearing = ledger.platform_account(f"clearing_{topup.provider}", topup.currency)
    try:
        wallets.topup_wallet_in_txn(user, topup.amount, f"topup:{topup.topup_no}", topup.topup_no,
                                    clearing)
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
    return True
