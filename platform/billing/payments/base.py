"""The provider interface: what checkout hands a provider, and what comes back.

Every amount is an integer in the currency's minor unit (fen, cents). A
provider is built for one shop from that shop's ``PaymentMethodConfig`` (see
``kameng.billing.payments.registry.get_provider``); it never touches orders.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from kameng.core.errors import Conflict, ServiceError
from kameng.core.i18n import lazy_gettext as _l

START_KINDS = ("redirect", "form", "client_secret", "instant")
NOTICE_STATUSES = ("paid", "pending", "failed", "refunded")


class InvalidNotification(Exception):
    """A callback failed a check (signature, pid, status, order number, amount…).

    The endpoint answers it with a refusal so the gateway retries (a forged or
    replayed callback simply keeps failing). The message is for our logs only.
    """


class IgnoredNotification(Exception):
    """A genuine callback about something we do not act on (an unrelated event type)."""


class PaymentError(ServiceError):
    """The gateway refused or could not be reached; nothing was changed on our side."""

    code = "payment_error"
    status = 502


class RefundUnsupported(Conflict):
    code = "refund_manually"


class ProviderUnavailable(Conflict):
    code = "payment_method_unavailable"


@dataclass(frozen=True)
class PaymentRequest:
    order_no: str
    amount: int                      # minor units
    currency: str                    # ISO code, e.g. "CNY"
    description: str
    notify_url: str = ""             # where the gateway calls back (epay)
    return_url: str = ""             # where the buyer's browser comes back
    client_ip: str = ""
    channel: str | None = None       # epay: alipay | wxpay | qqpay (default: first enabled)
    customer_id: int | None = None   # the paying account, if logged in (balance needs it)
    payment_method: str | None = None  # stripe: a saved/test method to confirm at creation
    idempotency_key: str | None = None  # default: derived from tenant, order and amount


@dataclass(frozen=True)
class PaymentStart:
    """What the checkout page does next.

    - ``redirect``: send the browser to ``url``;
    - ``form``: auto-submit a POST form to ``url`` with ``fields``
      (``redirect_url`` gives the equivalent GET link);
    - ``client_secret``: mount the Stripe Payment Element with ``client_secret``
      (``fields["publishable_key"]``);
    - ``instant``: already paid (the balance provider).
    """

    kind: str
    url: str | None = None
    fields: Mapping[str, str] = field(default_factory=dict)
    client_secret: str | None = None
    provider_ref: str | None = None

    def __post_init__(self):
        if self.kind not in START_KINDS:
            raise ValueError(f"unknown start kind {self.kind!r}")

    @property
    def redirect_url(self) -> str | None:
        if self.url is None:
            return None
        if not self.fields:
            return self.url
        from urllib.parse import urlencode

        return f"{self.url}?{urlencode(dict(self.fields))}"


@dataclass(frozen=True)
class PaymentNotice:
    """A verified statement from the gateway about one order.

    ``amount``/``currency`` are what the gateway says was paid (or refunded);
    the payment handler compares them with the order. The same callback parsed
    twice gives equal notices, so a handler can treat repeats as no-ops.
    """

    provider: str
    order_no: str
    amount: int
    currency: str
    provider_ref: str | None
    paid: bool
    status: str = "paid"             # paid | pending (query only) | failed | refunded
    event_id: str | None = None      # stripe event id (epay has none)
    channel: str | None = None       # epay type (alipay …)
    # the master's 易支付 took it for a sub-shop's order: platform money, not the shop's own
    platform: bool = False

    def __post_init__(self):
        if self.status not in NOTICE_STATUSES:
            raise ValueError(f"unknown notice status {self.status!r}")

    def matches(self, amount: int, currency: str) -> bool:
        """True when the gateway's amount is exactly the order's (integers, no floats)."""
        return int(self.amount) == int(amount) and self.currency.upper() == currency.upper()


@dataclass(frozen=True)
class RefundResult:
    refund_ref: str
    amount: int
    status: str                      # succeeded | pending | failed


@dataclass(frozen=True)
class NotificationRequest:
    """The parts of an HTTP callback a provider looks at (Flask-free, easy to build in tests)."""

    method: str = "GET"
    args: Mapping[str, str] = field(default_factory=dict)
    form: Mapping[str, str] = field(default_factory=dict)
    headers: Mapping[str, str] = field(default_factory=dict)
    raw_body: bytes = b""

    @classmethod
    def from_flask(cls, request) -> NotificationRequest:
        raw = request.get_data(cache=True)  # before .form, which would consume the stream
        return cls(method=request.method, args=request.args.to_dict(),
                   form=request.form.to_dict(), headers=dict(request.headers), raw_body=raw)

    def header(self, name: str) -> str | None:
        lname = name.lower()
        for key, value in self.headers.items():
            if key.lower() == lname:
                return value
        return None


@dataclass
class ProviderConfig:
    """One shop's settings for one provider, secrets already decrypted."""

    tenant_id: int
    name: str
    enabled: bool = False
    settings: dict[str, Any] = field(default_factory=dict)
    secrets: dict[str, str] = field(default_factory=dict, repr=False)


class PaymentProvider:
    """Base class; a provider instance serves one shop (``self.tenant``)."""

    name = ""
    # True for the master's 易支付 serving a sub-shop (``registry.platform_epay``)
    platform = False

    def __init__(self, tenant, config: ProviderConfig):
        self.tenant = tenant
        # read now: a gateway call runs with no transaction open (docs/architecture.md, Transactions)
        # and must not load the shop row again meanwhile
        self.tenant_id = tenant.id
        self.config = config

    def start(self, payment: PaymentRequest) -> PaymentStart:
        raise NotImplementedError

    def parse_notification(self, req: NotificationRequest, url_order_no: str | None = None,
                           expected_amount: int | None = None) -> PaymentNotice:
        raise InvalidNotification(f"{self.name} sends no notifications")

    def query(self, order_no: str, provider_ref: str | None = None) -> PaymentNotice | None:
        return None

    def refund(self, provider_ref: str, amount: int, idempotency_key: str) -> RefundResult:
        raise RefundUnsupported(_l("%(name)s cannot refund automatically; refund manually",
                                   name=self.name))
