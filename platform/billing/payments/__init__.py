"""Payment providers behind one interface (balance, stripe, epay).

Checkout::

    from kameng.billing.payments import PaymentRequest, get_provider
    start = get_provider(tenant, "epay").start(PaymentRequest(...))

Callbacks are verified in ``views`` and handed to the payment handler the
orders work registers (contract: ``kameng.billing.payments.services``).
"""
from kameng.billing.payments.base import (
    IgnoredNotification,
    InvalidNotification,
    NotificationRequest,
    PaymentError,
    PaymentNotice,
    PaymentProvider,
    PaymentRequest,
    PaymentStart,
    ProviderConfig,
    ProviderUnavailable,
    RefundResult,
    RefundUnsupported,
)
from kameng.billing.payments.registry import enabled_providers, get_provider, register_provider

__all__ = [
    "IgnoredNotification", "InvalidNotification", "NotificationRequest", "PaymentError",
    "PaymentNotice", "PaymentProvider", "PaymentRequest", "PaymentStart", "ProviderConfig",
    "ProviderUnavailable", "RefundResult", "RefundUnsupported",
    "enabled_providers", "get_provider", "register_provider",
]
