"""Payment providers behind one interface (balance, stripe, epay).

Checkout::

    from kameng.billing.payments.base import PaymentRequest
    from kameng.billing.payments.registry import get_provider
    start = get_provider(tenant, "epay").start(PaymentRequest(...))

Callbacks are verified in ``views`` and handed to the payment handler the
orders work registers (contract: ``kameng.billing.payments.services``).
"""
