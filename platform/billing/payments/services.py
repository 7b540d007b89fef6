"""Payment operations: a shop's provider settings, handing verified notices on, 补单.

The payment handler
-------------------
This package verifies callbacks; it does not know orders. The sales package
registers one callable in its ``init_app``::

    set_payment_handler(app, handler)   # handler(tenant, notice) -> bool

It is called inside ``tenant_scope(tenant.id)`` with a verified
``PaymentNotice`` and returns

- ``True``: recorded, or a harmless repeat / out-of-order event that changed
  nothing, or a bookkeeping notice (``paid`` False: ``failed``/``refunded``)
  noted or deliberately ignored (the gateway is told ``success`` / 200);
- ``False``: refused for good (unknown order, ``notice.amount`` or
  ``notice.currency`` not the order's: the handler MUST compare them, as
  integers, with ``notice.matches(order.amount, order.currency)``). epay is
  answered ``fail`` (it retries a few times); Stripe gets 200 with
  ``accepted: false`` (its retries cannot help) and the refusal is logged;

and raises for a transient failure (database down …): the gateway retries.
The same callback may arrive many times and out of order (a ``failed`` after a
``paid``); the handler's conditional updates make repeats no-ops.
"""
from __future__ import annotations

import re
from urllib.parse import quote, urlsplit

from flask import current_app, g, has_request_context, url_for

from kameng.billing.payments import registry
from kameng.billing.payments.base import PaymentNotice
from kameng.billing.payments.epay import CHANNELS
from kameng.billing.payments.models import PROVIDER_NAMES, PaymentMethodConfig
from kameng.billing.payments.secrets import seal
from kameng.billing.payments.stripe_provider import is_configured as stripe_configured
from kameng.billing.payments.stripe_provider import webhook_tenant_id
from kameng.core.errors import InvalidInput, NotFound, ServiceError
from kameng.core.extensions import db
from kameng.core.i18n import lazy_gettext as _l
from kameng.core.outbound import check_url
from kameng.core.scoping import tenant_scope
from kameng.tenants.models import Tenant

HANDLER_KEY = "kameng.payment_handler"
SECRET_FIELDS = {"epay": ("key",)}
_PID_RE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


class NoPaymentHandler(RuntimeError):
    """No orders code is registered to take payment notices (the endpoint answers 503)."""


# ----- handing notices to the orders work -----------------------------------

def set_payment_handler(app, handler) -> None:
    app.extensions[HANDLER_KEY] = handler


def payment_handler():
    return current_app.extensions.get(HANDLER_KEY)


def dispatch_notice(tenant, notice: PaymentNotice) -> bool:
    """Give a verified notice to the registered handler, in the shop's scope."""
    handler = payment_handler()
    if handler is None:
        raise NoPaymentHandler("no payment handler is registered")
    with tenant_scope(tenant.id):
        return bool(handler(tenant, notice))


def gateway_notice(tenant, provider_name: str, req, **kwargs) -> PaymentNotice:
    """Verify a notification (``provider.parse_notification``). A provider may ask its
    gateway while verifying: no transaction is open then (docs/architecture.md, Transactions)."""
    provider = registry.get_provider(tenant, provider_name, enabled_only=False)
    db.session.commit()  # ends the read
    return provider.parse_notification(req, **kwargs)


def platform_epay_notice(req, url_order_no: str) -> PaymentNotice:
    """Verify a notify of the master's 易支付 for an order of a sub-shop (platform money)."""
    provider = registry.platform_epay()
    db.session.commit()  # ends the read
    return provider.parse_notification(req, url_order_no=url_order_no)


def stripe_webhook_tenant(req):
    """The shop a genuine Stripe webhook is about, or None (not one of ours); verifying
    it may ask Stripe for the PaymentIntent, with no transaction open."""
    db.session.commit()  # ends the read
    tenant_id = webhook_tenant_id(req)
    return db.session.get(Tenant, tenant_id) if tenant_id is not None else None


def reconcile(tenant, provider_name: str, order_no: str,
              provider_ref: str | None = None) -> PaymentNotice | None:
    """补单: ask the gateway about an unpaid order; a paid answer goes to the handler.

    For the periodic sweep over unpaid, unexpired orders. Returns the gateway's
    notice (None if it does not know the order). Gateway errors raise
    ``PaymentError``: try again on the next sweep.
    """
    if provider_name == "epay" and registry.platform_epay_tenant(tenant) is not None:
        provider = registry.platform_epay()  # a sub-shop offering the platform's 易支付
    else:
        provider = registry.get_provider(tenant, provider_name, enabled_only=False)
    db.session.commit()  # ends the read: no transaction is open during the gateway call
    notice = provider.query(order_no, provider_ref=provider_ref)
    if notice is not None and notice.paid:
        dispatch_notice(tenant, notice)
    return notice


def epay_notify_url(tenant, order_no: str, *, platform: bool = False) -> str:
    """The notify URL to give epay for an order: this shop's host, order number in the path;
    ``platform``: the master's 易支付 collects for a sub-shop (its own notify path)."""
    path = (f"/pay/epay/{'platform/' if platform else ''}notify/{quote(order_no, safe='')}")
    endpoint = "payments.platform_epay_notify" if platform else "payments.epay_notify"
    if has_request_context() and getattr(g.get("tenant"), "id", None) == tenant.id:
        return url_for(endpoint, order_no=order_no, _external=True)
    from kameng.tenants.services import primary_host

    cfg = current_app.config
    port = cfg.get("SERVER_PORT")
    host = primary_host(tenant) + (f":{port}" if port and port not in (80, 443) else "")
    return f"{cfg.get('PREFERRED_URL_SCHEME') or 'http'}://{host}{path}"


# ----- the owner's settings ---------------------------------------------------

class GatewayNotAllowed(ServiceError):
    """The shop's parent (or plan) does not let it use its own payment gateway."""

    code = "own_gateway_not_allowed"
    status = 403


def set_own_gateway(parent: Tenant, child: Tenant, choice: str | None, *, actor=None) -> Tenant:
    """The parent decides whether its direct sub-shop may use its own gateway:
    ``"allow"``, ``"deny"`` or None (its plan decides). Commits; audited."""
    from kameng.core import audit

    if child.parent_id != parent.id:
        raise NotFound(_l("no such sub-shop"), field="shop")
    if choice not in (*registry.OWN_GATEWAY_CHOICES, None):
        raise InvalidInput(_l("choose allow, deny or the plan's rule"), field="own_gateway")
    settings = dict(child.settings or {})
    if choice is None:
        settings.pop(registry.OWN_GATEWAY_SETTING, None)
    else:
        settings[registry.OWN_GATEWAY_SETTING] = choice
    child.settings = settings
    audit.record(actor or "system", "payments.own_gateway", tenant_id=parent.id,
                 shop=child.slug, choice=choice or "plan")
    db.session.commit()
    return child


def provider_settings(tenant) -> dict[str, dict]:
    """What the back office shows: per provider, enabled, plain settings, which secrets are set."""
    out = {}
    for name in PROVIDER_NAMES:
        row = registry.config_row(tenant, name)
        out[name] = {
            "enabled": bool(row and row.enabled),
            "settings": dict(row.settings or {}) if row else {},
            "secrets_set": sorted((row.secrets or {}).keys()) if row else [],
            "available": registry.is_registered(name)
            and (name != "stripe" or stripe_configured()),
            # a sub-shop's own gateway: allowed by its parent / plan, paid from its funds
            "own": registry.is_own_gateway(tenant, name),
            "allowed": registry.usable(tenant, name),
            # a sub-shop without its own 易支付 in use offers the master's (platform money)
            "platform": name == "epay" and registry.platform_epay_tenant(tenant) is not None,
        }
    return out


def save_provider_config(tenant, name: str, *, enabled: bool, settings: dict | None = None,
                         secrets: dict | None = None) -> PaymentMethodConfig:
    """Enable/disable a provider for a shop and store its settings.

    A blank secret keeps the stored one (the form never shows it back).
    Everything is validated before anything is written.
    """
    if name not in PROVIDER_NAMES:
        raise NotFound(_l("no payment provider %(name)r", name=name))
    if enabled and not registry.usable(tenant, name):
        raise GatewayNotAllowed(_l("your parent shop has not allowed your own payment "
                                   "gateway"), field="enabled")
    row = registry.config_row(tenant, name)
    stored_secrets = dict(row.secrets or {}) if row else {}
    new_secrets = {k: (v or "").strip() for k, v in (secrets or {}).items()}
    for field in new_secrets:
        if field not in SECRET_FIELDS.get(name, ()):
            raise InvalidInput(_l("%(name)s has no secret %(field)r",
                                  name=name, field=field), field=field)
    clean = _validate(name, dict(settings or {}), enabled,
                      has_secret={f: bool(new_secrets.get(f) or f in stored_secrets)
                                  for f in SECRET_FIELDS.get(name, ())})
    if clean.get("apiurl"):  # not at a loopback, private or metadata address
        check_url(clean["apiurl"], field="apiurl")

    for field, value in new_secrets.items():
        if value:
            stored_secrets[field] = seal(value, tenant_id=tenant.id, provider=name, name=field)
    if row is None:
        row = PaymentMethodConfig(tenant_id=tenant.id, provider=name)
        db.session.add(row)
    row.enabled = bool(enabled)
    row.settings = clean
    row.secrets = stored_secrets
    db.session.commit()
    return row


def _validate(name: str, settings: dict, enabled: bool, has_secret: dict) -> dict:
    if name == "epay":
        return _validate_epay(settings, enabled, has_secret)
    if name == "stripe" and enabled and not stripe_configured():
        raise InvalidInput(_l("Stripe is not configured on this platform (STRIPE_SECRET_KEY, "
                              "STRIPE_PUBLISHABLE_KEY)"), field="enabled")
    if enabled and not registry.is_registered(name):
        raise InvalidInput(_l("the %(name)s payment method is not available yet",
                              name=name), field="enabled")
    if settings:
        raise InvalidInput(_l("%(name)s takes no settings", name=name), field=next(iter(settings)))
    return {}


def _validate_epay(settings: dict, enabled: bool, has_secret: dict) -> dict:
    apiurl = str(settings.get("apiurl") or "").strip()
    pid = str(settings.get("pid") or "").strip()
    types = settings.get("types") or []
    if isinstance(types, str):
        types = [t.strip() for t in types.split(",") if t.strip()]
    if apiurl:
        parts = urlsplit(apiurl)
        if parts.scheme not in ("http", "https") or not parts.netloc or parts.query \
                or parts.fragment:
            raise InvalidInput(_l("the gateway address must be an http(s) URL like "
                                  "https://pay.example.com/"), field="apiurl")
        if not apiurl.endswith("/"):
            apiurl += "/"
    if pid and not _PID_RE.match(pid):
        raise InvalidInput(_l("the merchant id (pid) is letters and digits only"), field="pid")
    unknown = [t for t in types if t not in CHANNELS]
    if unknown:
        raise InvalidInput(_l("unknown channel(s): %(channels)s",
                              channels=', '.join(map(str, unknown))),
                           field="types")
    if enabled:
        if not apiurl:
            raise InvalidInput(_l("the gateway address is required"), field="apiurl")
        if not pid:
            raise InvalidInput(_l("the merchant id (pid) is required"), field="pid")
        if not has_secret.get("key"):
            raise InvalidInput(_l("the merchant key is required"), field="key")
        if not types:
            raise InvalidInput(_l("choose at least one channel"), field="types")
    return {"apiurl": apiurl, "pid": pid, "types": [t for t in CHANNELS if t in types]}
