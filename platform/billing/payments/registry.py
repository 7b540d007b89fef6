"""Provider names → classes, and building a provider for one shop.

``epay`` and ``stripe`` are built in; ``balance`` is registered by the orders
work (``register_provider("balance", BalanceProvider)``) because it spends the
ledger's wallet. A factory is called as ``factory(tenant, ProviderConfig)``.
"""
from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import select

from kameng.billing.payments.base import PaymentProvider, ProviderConfig, ProviderUnavailable
from kameng.billing.payments.epay import EpayProvider
from kameng.billing.payments.models import PROVIDER_NAMES, PaymentMethodConfig
from kameng.billing.payments.secrets import unseal
from kameng.billing.payments.stripe_provider import StripeProvider
from kameng.billing.payments.stripe_provider import is_configured as stripe_configured
from kameng.core.errors import NotFound
from kameng.core.extensions import db
from kameng.core.i18n import lazy_gettext as _l
from kameng.core.scoping import all_tenants

Factory = Callable[..., PaymentProvider]

_FACTORIES: dict[str, Factory] = {"epay": EpayProvider, "stripe": StripeProvider}

# providers whose gateway a shop configures with its own merchant account: below the
# master, the money they take goes to the shop, never to the platform
OWN_GATEWAY_PROVIDERS = ("epay",)


def is_own_gateway(tenant, name: str) -> bool:
    """True when ``name`` on ``tenant`` collects into the shop's own hands (a sub-shop's
    own 易支付 merchant account); the master's gateways and Stripe are the platform's."""
    return name in OWN_GATEWAY_PROVIDERS and tenant.parent_id is not None


# the shop's own setting, written by its parent: "allow", "deny" (absent: its plan decides)
OWN_GATEWAY_SETTING = "own_gateway"
OWN_GATEWAY_CHOICES = ("allow", "deny")


def own_gateway_allowed(tenant) -> bool:
    """May this shop take payments on its own gateway? The master decides: its parent's
    per-shop setting first, else the shop's plan (``own_gateway``); a shop no plan
    limits (made by the operator) may. The master's gateways are the platform's."""
    if tenant.parent_id is None:
        return True
    choice = (tenant.settings or {}).get(OWN_GATEWAY_SETTING)
    if choice in OWN_GATEWAY_CHOICES:
        return choice == "allow"
    from kameng.billing.plans.services import plan_allows

    return plan_allows(tenant, "own_gateway")


def usable(tenant, name: str) -> bool:
    """Whether the shop may use the provider at all (its own gateway needs permission)."""
    return not is_own_gateway(tenant, name) or own_gateway_allowed(tenant)


def register_provider(name: str, factory: Factory) -> None:
    if name not in PROVIDER_NAMES:
        raise ValueError(f"unknown provider name {name!r}; add it to PROVIDER_NAMES")
    _FACTORIES[name] = factory


def is_registered(name: str) -> bool:
    return name in _FACTORIES


def config_row(tenant, name: str) -> PaymentMethodConfig | None:
    # explicit tenant filter: this also runs from the Stripe webhook, whose host
    # may be another shop's
    with all_tenants():
        return db.session.scalar(select(PaymentMethodConfig).where(
            PaymentMethodConfig.tenant_id == tenant.id, PaymentMethodConfig.provider == name))


def load_config(tenant, name: str) -> ProviderConfig:
    """The shop's settings for ``name`` with secrets opened (defaults if never saved)."""
    row = config_row(tenant, name)
    if row is None:
        return ProviderConfig(tenant_id=tenant.id, name=name)
    secrets = {field: unseal(token, tenant_id=tenant.id, provider=name, name=field)
               for field, token in (row.secrets or {}).items()}
    return ProviderConfig(tenant_id=tenant.id, name=name, enabled=row.enabled,
                          settings=dict(row.settings or {}), secrets=secrets)


def own_epay_enabled(tenant) -> bool:
    """The shop has switched its own 易支付 on and may use it."""
    row = config_row(tenant, "epay")
    return bool(row and row.enabled) and usable(tenant, "epay")


def platform_epay_tenant(tenant):
    """The master, when a sub-shop offers the platform's 易支付 to its buyers: the shop has
    no own 易支付 switched on (or may not use it) and the master's is on. The money goes to
    the platform (``clearing_epay``), as for any platform gateway. None otherwise."""
    if tenant.parent_id is None or own_epay_enabled(tenant):
        return None
    from kameng.tenants.services import master

    root = master()
    if root is None or root.id == tenant.id:
        return None
    row = config_row(root, "epay")
    return root if row is not None and row.enabled else None


def get_provider(tenant, name: str, *, enabled_only: bool = True) -> PaymentProvider:
    """The provider ``name`` set up for ``tenant``.

    Checkout uses the default (the owner must have enabled it). Callbacks and
    refunds pass ``enabled_only=False``: a payment started before the owner
    switched the method off must still be verified and refundable.
    """
    if name not in PROVIDER_NAMES:
        raise NotFound(_l("no payment provider %(name)r", name=name))
    if name not in _FACTORIES:
        raise ProviderUnavailable(_l("the %(name)s payment method is not available yet", name=name))
    if enabled_only and name == "epay":
        root = platform_epay_tenant(tenant)
        if root is not None:
            return platform_epay(root)
    config = load_config(tenant, name)
    if enabled_only and (not config.enabled or not usable(tenant, name)):
        raise ProviderUnavailable(_l("this shop does not take %(name)s payments", name=name))
    return _FACTORIES[name](tenant, config)


def platform_epay(root=None) -> PaymentProvider:
    """The master's 易支付 (the platform's gateway), for callbacks of sub-shop orders too;
    the provider's ``platform`` attribute is True."""
    if root is None:
        from kameng.tenants.services import master

        root = master()
    if root is None:
        raise ProviderUnavailable(_l("this shop does not take %(name)s payments", name="epay"))
    provider = _FACTORIES["epay"](root, load_config(root, "epay"))
    provider.platform = True
    return provider


def enabled_providers(tenant) -> list[str]:
    """Names of the methods the shop has switched on and this platform can serve."""
    with all_tenants():
        names = set(db.session.scalars(select(PaymentMethodConfig.provider).where(
            PaymentMethodConfig.tenant_id == tenant.id, PaymentMethodConfig.enabled)))
    if not stripe_configured():
        names.discard("stripe")
    platform_epay = platform_epay_tenant(tenant) is not None
    if platform_epay:
        names.add("epay")
    # the platform's 易支付 needs no own-gateway permission: the money is the platform's
    return [n for n in PROVIDER_NAMES if n in names and n in _FACTORIES
            and (usable(tenant, n) or (n == "epay" and platform_epay))]
