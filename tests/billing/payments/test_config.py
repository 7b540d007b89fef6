"""Per-shop provider settings: validation, sealed secrets, the registry."""
from __future__ import annotations

import pytest
from sqlalchemy import select

from kameng.billing.payments import registry, services
from kameng.billing.payments.base import PaymentProvider, PaymentStart, ProviderUnavailable
from kameng.billing.payments.models import PaymentMethodConfig
from kameng.billing.payments.registry import enabled_providers, get_provider, register_provider
from kameng.billing.payments.secrets import SecretError, seal, unseal
from kameng.core.crypto import keyring, new_key
from kameng.core.errors import InvalidInput, NotFound
from kameng.core.extensions import db
from kameng.core.scoping import tenant_scope

pytestmark = pytest.mark.both

EPAY = {"apiurl": "https://pay.example.com", "pid": "1001", "types": ["wxpay", "alipay"]}


def rows():
    return db.session.scalars(select(PaymentMethodConfig)).all()


def test_epay_settings_are_stored_with_the_key_sealed(app, tree):
    services.save_provider_config(tree.star, "epay", enabled=True, settings=EPAY,
                                  secrets={"key": "merchant-secret-1"})
    [row] = rows()
    assert row.tenant_id == tree.star.id and row.enabled
    # the address gets its trailing slash; channels in a fixed order
    assert row.settings == {"apiurl": "https://pay.example.com/", "pid": "1001",
                            "types": ["alipay", "wxpay"]}
    assert "merchant-secret-1" not in str(row.secrets) and row.secrets["key"].startswith(
        keyring().primary_id + ":")
    provider = get_provider(tree.star, "epay")
    assert provider.key == "merchant-secret-1" and provider.channels == ["alipay", "wxpay"]

    # a blank key keeps the stored one
    services.save_provider_config(tree.star, "epay", enabled=True,
                                  settings={**EPAY, "pid": "1002"}, secrets={"key": ""})
    provider = get_provider(tree.star, "epay")
    assert provider.pid == "1002" and provider.key == "merchant-secret-1"


def test_a_sealed_key_only_opens_for_its_shop_and_field(app):
    token = seal("s3cret", tenant_id=1, provider="epay", name="key")
    assert unseal(token, tenant_id=1, provider="epay", name="key") == "s3cret"
    for other in ({"tenant_id": 2, "provider": "epay", "name": "key"},
                  {"tenant_id": 1, "provider": "stripe", "name": "key"}):
        with pytest.raises(SecretError):
            unseal(token, **other)
    # sealed on the CODE_KEYS ring: rotating the session key loses nothing, and a
    # new ring key still opens what the old one sealed
    app.config["SECRET_KEY"] = "rotated"
    assert unseal(token, tenant_id=1, provider="epay", name="key") == "s3cret"
    old_ring = app.config["CODE_KEYS"]
    app.config["CODE_KEYS"] = f"k9:{new_key()},{old_ring}"
    assert unseal(token, tenant_id=1, provider="epay", name="key") == "s3cret"
    assert seal("x", tenant_id=1, provider="epay", name="key").startswith("k9:")
    app.config["CODE_KEYS"] = f"k9:{new_key()}"
    with pytest.raises(SecretError, match="enter it again"):
        unseal(token, tenant_id=1, provider="epay", name="key")


@pytest.mark.parametrize("settings,secrets,field", [
    ({**EPAY, "apiurl": ""}, {"key": "k"}, "apiurl"),
    ({**EPAY, "apiurl": "ftp://pay.example.com/"}, {"key": "k"}, "apiurl"),
    ({**EPAY, "apiurl": "https://pay.example.com/?x=1"}, {"key": "k"}, "apiurl"),
    ({**EPAY, "pid": ""}, {"key": "k"}, "pid"),
    ({**EPAY, "pid": "10 01"}, {"key": "k"}, "pid"),
    (EPAY, {}, "key"),
    ({**EPAY, "types": []}, {"key": "k"}, "types"),
    ({**EPAY, "types": ["paypal"]}, {"key": "k"}, "types"),
])
def test_incomplete_or_bad_epay_settings_are_refused_and_nothing_is_written(
        app, tree, settings, secrets, field):
    with pytest.raises(InvalidInput) as err:
        services.save_provider_config(tree.star, "epay", enabled=True, settings=settings,
                                      secrets=secrets)
    assert err.value.field == field
    db.session.rollback()
    assert rows() == []


def test_disabled_epay_may_be_saved_half_filled(app, tree):
    services.save_provider_config(tree.star, "epay", enabled=False,
                                  settings={"apiurl": "https://pay.example.com/"})
    with pytest.raises(ProviderUnavailable):
        get_provider(tree.star, "epay")
    assert enabled_providers(tree.star) == []


def test_unknown_provider_or_secret_field_is_refused(app, tree):
    with pytest.raises(NotFound):
        services.save_provider_config(tree.star, "paypal", enabled=True)
    with pytest.raises(NotFound):
        get_provider(tree.star, "paypal")
    with pytest.raises(InvalidInput):
        services.save_provider_config(tree.star, "epay", enabled=False,
                                      secrets={"password": "x"})
    with pytest.raises(InvalidInput, match="no settings"):
        services.save_provider_config(tree.star, "balance", enabled=False,
                                      settings={"x": 1})


def test_each_shop_has_its_own_settings(app, tree):
    services.save_provider_config(tree.star, "epay", enabled=True, settings=EPAY,
                                  secrets={"key": "star-key"})
    with pytest.raises(ProviderUnavailable):
        get_provider(tree.rocket, "epay")
    # the scoped query of the rocket shop does not see star's row either
    with tenant_scope(tree.rocket.id):
        assert db.session.scalars(select(PaymentMethodConfig)).all() == []
    assert services.provider_settings(tree.rocket)["epay"]["enabled"] is False
    shown = services.provider_settings(tree.star)["epay"]
    assert shown["secrets_set"] == ["key"] and "star-key" not in str(shown)


class FakeBalance(PaymentProvider):
    name = "balance"

    def start(self, payment):
        return PaymentStart(kind="instant", provider_ref=f"wallet:{payment.order_no}")


@pytest.fixture
def balance_registered():
    saved = dict(registry._FACTORIES)
    register_provider("balance", FakeBalance)
    yield
    registry._FACTORIES.clear()
    registry._FACTORIES.update(saved)


@pytest.fixture
def balance_unregistered():
    saved = dict(registry._FACTORIES)
    registry._FACTORIES.pop("balance", None)
    yield
    registry._FACTORIES.clear()
    registry._FACTORIES.update(saved)


def test_balance_is_available_once_the_orders_work_registers_it(app, tree,
                                                                balance_unregistered):
    with pytest.raises(InvalidInput, match="not available"):
        services.save_provider_config(tree.star, "balance", enabled=True)
    with pytest.raises(ProviderUnavailable):
        get_provider(tree.star, "balance", enabled_only=False)


def test_registered_balance_provider_is_built_per_shop(app, tree, balance_registered):
    services.save_provider_config(tree.star, "balance", enabled=True)
    assert enabled_providers(tree.star) == ["balance"]
    provider = get_provider(tree.star, "balance")
    assert isinstance(provider, FakeBalance) and provider.tenant is tree.star
    from kameng.billing.payments.base import PaymentRequest

    start = provider.start(PaymentRequest(order_no="K1", amount=100, currency="CNY",
                                          description="x", customer_id=tree.star_customer.id))
    assert start.kind == "instant"
    with pytest.raises(ValueError):
        register_provider("paypal", FakeBalance)
