"""The back-office page where a shop owner picks payment methods."""
from __future__ import annotations

import pytest

from kameng.billing.payments import services
from kameng.billing.payments.registry import get_provider
from tests.helpers import login

pytestmark = pytest.mark.both

EPAY_FORM = {"epay-enabled": "y", "epay-apiurl": "https://pay.example.com/",
             "epay-pid": "1001", "epay-key": "merchant-secret-9", "epay-types": ["alipay",
                                                                                "qqpay"]}


def owner_client(client_for, tree, shop="star"):
    client = client_for(f"{shop}.localhost")
    login(client, f"owner@{shop}.test")
    return client


def test_owner_enables_epay_and_never_sees_the_key_again(app, tree, client_for):
    client = owner_client(client_for, tree)
    page = client.get("/admin/payments")
    assert page.status_code == 200
    assert "/admin/payments/epay" in page.get_data(as_text=True)

    resp = client.post("/admin/payments/epay", data=EPAY_FORM)
    assert resp.status_code == 302
    provider = get_provider(tree.star, "epay")
    assert provider.key == "merchant-secret-9" and provider.channels == ["alipay", "qqpay"]

    html = client.get("/admin/payments").get_data(as_text=True)
    assert "merchant-secret-9" not in html
    assert "https://pay.example.com/" in html and 'value="1001"' in html
    assert "key-stored" in html
    assert "http://star.localhost/pay/epay/notify/ORDER" in html

    # saving again with the key left blank keeps it
    client.post("/admin/payments/epay", data={**EPAY_FORM, "epay-key": ""})
    assert get_provider(tree.star, "epay").key == "merchant-secret-9"


def test_bad_settings_show_a_message_and_change_nothing(app, tree, client_for):
    client = owner_client(client_for, tree)
    client.get("/lang/en")  # service messages follow the page's locale; these read English
    resp = client.post("/admin/payments/epay",
                       data={**EPAY_FORM, "epay-apiurl": "javascript:alert(1)"})
    assert resp.status_code == 422
    assert "must be an http(s) URL" in resp.get_data(as_text=True)
    assert services.provider_settings(tree.star)["epay"]["enabled"] is False


def test_stripe_needs_platform_keys(app, tree, client_for):
    client = owner_client(client_for, tree)
    client.get("/lang/en")  # service messages follow the page's locale; these read English
    resp = client.post("/admin/payments/stripe", data={"stripe-enabled": "y"})
    assert resp.status_code == 422 and "not configured" in resp.get_data(as_text=True)
    app.config.update(STRIPE_SECRET_KEY="sk_test_x", STRIPE_PUBLISHABLE_KEY="pk_test_x")
    assert client.post("/admin/payments/stripe", data={"stripe-enabled": "y"}).status_code == 302
    assert services.provider_settings(tree.star)["stripe"]["enabled"] is True
    client.post("/admin/payments/stripe", data={})
    assert services.provider_settings(tree.star)["stripe"]["enabled"] is False


def test_only_the_shops_owner_may_change_payment_methods(app, tree, client_for):
    buyer = client_for("star.localhost")
    login(buyer, "buyer@star.test")
    assert buyer.get("/admin/payments").status_code == 403
    assert buyer.post("/admin/payments/epay", data=EPAY_FORM).status_code == 403
    # another shop's owner, on this shop's host
    stranger = client_for("star.localhost")
    login(stranger, "owner@rocket.test")
    assert stranger.get("/admin/payments").status_code in (302, 403)
    anonymous = client_for("star.localhost")
    assert anonymous.get("/admin/payments").status_code == 302
    assert services.provider_settings(tree.star)["epay"]["enabled"] is False


def test_unknown_provider_is_404(app, tree, client_for):
    assert owner_client(client_for, tree).post("/admin/payments/paypal").status_code == 404
