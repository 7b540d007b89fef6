"""Stripe: a PaymentIntent per order, the Payment Element on the checkout page.

The platform holds one Stripe account (``STRIPE_SECRET_KEY``,
``STRIPE_PUBLISHABLE_KEY``, ``STRIPE_WEBHOOK_SECRET``; ``STRIPE_API_BASE``
points the real client at localstripe in tests, same code path). A shop only
switches the method on. Every PaymentIntent carries ``metadata.order_no`` and
``metadata.tenant_id``; the webhook finds the shop from the latter.

Only the verified webhook says an order is paid, never the browser. The
signature is checked on the raw body with ``stripe.Webhook.construct_event``;
on top of that an event signed more than the tolerance in the *future* is
refused (stripe-python only refuses old ones). Repeats and out-of-order events
reach the payment handler as equal notices; its conditional updates make them
no-ops.

No global ``stripe.api_key``/``api_base`` is ever set: each call uses a
``stripe.StripeClient`` built from the app's config.
"""
from __future__ import annotations

import json
import time

import stripe
from flask import current_app

from kameng.billing.payments import base
from kameng.core.errors import InvalidInput
from kameng.core.i18n import lazy_gettext as _l

TOLERANCE = 300  # seconds either side of now
HANDLED_EVENTS = ("payment_intent.succeeded", "payment_intent.payment_failed",
                  "charge.refunded")
_PI_STATUS = {"succeeded": "paid", "canceled": "failed"}


def is_configured(config=None) -> bool:
    config = config or current_app.config
    return bool(config.get("STRIPE_SECRET_KEY") and config.get("STRIPE_PUBLISHABLE_KEY"))


def client() -> stripe.StripeClient:
    """A client for the platform account (cached per key and API base, never global)."""
    cfg = current_app.config
    key, base = cfg.get("STRIPE_SECRET_KEY"), cfg.get("STRIPE_API_BASE")
    if not key:
        raise base.PaymentError(_l("Stripe is not configured on this platform"), status=409)
    cache = current_app.extensions.setdefault("kameng.stripe_clients", {})
    if (key, base) not in cache:
        cache[(key, base)] = stripe.StripeClient(
            key, base_addresses={"api": base} if base else None, max_network_retries=2)
    return cache[(key, base)]


def _gateway_error(err: stripe.StripeError) -> base.PaymentError:
    message = getattr(err, "user_message", None) or err.__class__.__name__
    status = 402 if isinstance(err, stripe.CardError) else 502
    return base.PaymentError(_l("Stripe: %(message)s", message=message), status=status)


# ----- webhooks ------------------------------------------------------------

def signature_timestamp(header: str | None) -> int | None:
    """The ``t=`` of a Stripe-Signature header, or None if there is none or it is malformed."""
    stamps = []
    for part in (header or "").split(","):
        name, _, value = part.strip().partition("=")
        if name == "t":
            try:
                stamps.append(int(value))
            except ValueError:
                return None
    return stamps[0] if len(stamps) == 1 else None


def verify_webhook(raw_body: bytes, header: str | None, secret: str | None = None,
                   tolerance: int = TOLERANCE, now: float | None = None) -> dict:
    """The event as a dict, once its signature and timestamp check out."""
    secret = secret if secret is not None else current_app.config.get("STRIPE_WEBHOOK_SECRET")
    if not secret:
        raise base.InvalidNotification("STRIPE_WEBHOOK_SECRET is not configured")
    stamp = signature_timestamp(header)
    if stamp is None:
        raise base.InvalidNotification("missing or malformed Stripe-Signature header")
    if stamp > (time.time() if now is None else now) + tolerance:
        raise base.InvalidNotification("signature timestamp is in the future")
    try:
        stripe.Webhook.construct_event(raw_body, header, secret, tolerance)
        return json.loads(raw_body)
    except stripe.SignatureVerificationError as err:
        raise base.InvalidNotification(f"bad Stripe signature: {err.user_message or err}") from None
    except (ValueError, UnicodeDecodeError):
        raise base.InvalidNotification("the webhook body is not JSON") from None


def _metadata_and_intent(event: dict) -> tuple[dict, dict | None]:
    """The metadata naming our shop and order, and the PaymentIntent when the event has one."""
    obj = event.get("data", {}).get("object") or {}
    if obj.get("object") == "payment_intent":
        return dict(obj.get("metadata") or {}), obj
    if obj.get("object") == "charge":
        metadata = dict(obj.get("metadata") or {})
        if metadata.get("order_no") and metadata.get("tenant_id"):
            return metadata, None
        # charges do not always carry the intent's metadata: ask Stripe for it
        if obj.get("payment_intent"):
            try:
                pi = client().v1.payment_intents.retrieve(obj["payment_intent"]).to_dict()
            except stripe.StripeError as err:
                raise _gateway_error(err) from None
            return dict(pi.get("metadata") or {}), pi
    return {}, None


def webhook_tenant_id(req: base.NotificationRequest) -> int | None:
    """Verify a webhook and say which shop it is for (None: not one of ours, or ignored)."""
    event = verify_webhook(req.raw_body, req.header("Stripe-Signature"))
    if event.get("type") not in HANDLED_EVENTS:
        return None
    metadata, _ = _metadata_and_intent(event)
    try:
        return int(metadata["tenant_id"])
    except (KeyError, TypeError, ValueError):
        return None


class StripeProvider(base.PaymentProvider):
    name = "stripe"

    def start(self, payment: base.PaymentRequest) -> base.PaymentStart:
        if payment.amount <= 0:
            raise InvalidInput(_l("the amount must be positive"), field="amount")
        metadata = {"order_no": payment.order_no, "tenant_id": str(self.tenant_id)}
        if payment.customer_id is not None:
            metadata["customer_id"] = str(payment.customer_id)
        if payment.description:
            metadata["description"] = payment.description[:500]
        params = {"amount": int(payment.amount), "currency": payment.currency.lower(),
                  "metadata": metadata, "payment_method_types": ["card"]}
        if payment.payment_method:
            params.update(payment_method=payment.payment_method, confirm=True)
        # the same order started twice gets the same PaymentIntent back
        key = payment.idempotency_key or (
            f"kameng:pi:{self.tenant_id}:{payment.order_no}:{payment.amount}:"
            f"{payment.currency.lower()}:{payment.payment_method or ''}")
        try:
            pi = client().v1.payment_intents.create(params=params,
                                                    options={"idempotency_key": key})
        except stripe.StripeError as err:
            raise _gateway_error(err) from None
        cfg = current_app.config
        return base.PaymentStart(kind="client_secret", client_secret=pi.client_secret,
                            provider_ref=pi.id,
                            fields={"publishable_key": cfg.get("STRIPE_PUBLISHABLE_KEY") or "",
                                    "js_url": cfg.get("STRIPE_JS_URL") or "",
                                    "status": pi.status})

    def parse_notification(self, req: base.NotificationRequest, url_order_no: str | None = None,
                           expected_amount: int | None = None) -> base.PaymentNotice:
        event = verify_webhook(req.raw_body, req.header("Stripe-Signature"))
        kind = event.get("type")
        if kind not in HANDLED_EVENTS:
            raise base.IgnoredNotification(f"event type {kind!r} is not acted on")
        metadata, intent = _metadata_and_intent(event)
        if metadata.get("tenant_id") != str(self.tenant_id):
            raise base.InvalidNotification("the event belongs to another shop")
        order_no = metadata.get("order_no")
        if not order_no or (url_order_no is not None and order_no != url_order_no):
            raise base.InvalidNotification("the event names no order, or another order")
        obj = event["data"]["object"]
        if kind == "charge.refunded":
            amount, status, paid = int(obj.get("amount_refunded") or 0), "refunded", False
            ref = obj.get("payment_intent") or (intent or {}).get("id")
        else:
            succeeded = kind == "payment_intent.succeeded"
            amount = int(obj.get("amount_received") or obj.get("amount") or 0) if succeeded \
                else int(obj.get("amount") or 0)
            status, paid, ref = ("paid" if succeeded else "failed"), succeeded, obj.get("id")
        if expected_amount is not None and paid and amount != int(expected_amount):
            raise base.InvalidNotification("the amount differs from the order's")
        return base.PaymentNotice(provider=self.name, order_no=order_no, amount=amount,
                             currency=str(obj.get("currency", "")).upper(), provider_ref=ref,
                             paid=paid, status=status, event_id=event.get("id"))

    def query(self, order_no: str, provider_ref: str | None = None) -> base.PaymentNotice | None:
        """Ask Stripe about the order's PaymentIntent (by id if known, else by search)."""
        try:
            if provider_ref:
                intents = [client().v1.payment_intents.retrieve(provider_ref).to_dict()]
            else:
                if "'" in order_no or "\\" in order_no:
                    raise InvalidInput(_l("bad order number"), field="order_no")
                found = client().v1.payment_intents.search(params={
                    "query": f"metadata['order_no']:'{order_no}' AND "
                             f"metadata['tenant_id']:'{self.tenant_id}'"})
                intents = [pi.to_dict() for pi in found.data]
        except stripe.InvalidRequestError as err:
            if provider_ref and getattr(err, "http_status", None) == 404:
                return None
            raise _gateway_error(err) from None
        except stripe.StripeError as err:
            raise _gateway_error(err) from None
        ours = [pi for pi in intents
                if (pi.get("metadata") or {}).get("order_no") == order_no
                and (pi.get("metadata") or {}).get("tenant_id") == str(self.tenant_id)]
        if not ours:
            return None
        pi = next((p for p in ours if p.get("status") == "succeeded"), ours[0])
        status = _PI_STATUS.get(pi.get("status"), "pending")
        amount = int(pi.get("amount_received") or pi.get("amount") or 0) if status == "paid" \
            else int(pi.get("amount") or 0)
        return base.PaymentNotice(provider=self.name, order_no=order_no, amount=amount,
                             currency=str(pi.get("currency", "")).upper(),
                             provider_ref=pi.get("id"), paid=status == "paid", status=status)

    def refund(self, provider_ref: str, amount: int, idempotency_key: str) -> base.RefundResult:
        if amount <= 0:
            raise InvalidInput(_l("the refund amount must be positive"), field="amount")
        if not idempotency_key:
            raise InvalidInput(_l("a refund needs an idempotency key"), field="idempotency_key")
        try:
            refund = client().v1.refunds.create(
                params={"payment_intent": provider_ref, "amount": int(amount)},
                options={"idempotency_key": idempotency_key})
        except stripe.StripeError as err:
            raise _gateway_error(err) from None
        status = refund.status if refund.status in ("succeeded", "pending") else (
            "failed" if refund.status in ("failed", "canceled") else "pending")
        return base.RefundResult(refund_ref=refund.id, amount=int(refund.amount), status=status)
