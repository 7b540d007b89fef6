"""Topping up a wallet by card, end to end against localstripe and its signed webhook."""
from __future__ import annotations

import re
import time

import pytest

from kameng.billing import wallets
from kameng.billing.ledger.services import check_ledger
from kameng.billing.payments import services as payment_services
from kameng.billing.payments.base import PaymentNotice
from kameng.billing.topups.models import WalletTopup
from kameng.core.extensions import db
from tests.fakes.stripe import localstripe, stripe_fake  # noqa: F401
from tests.helpers import login, stripe_webhook_server


@pytest.fixture
def ls(app, stripe_fake):
    app.config.update(stripe_fake.app_config())
    return stripe_fake


def wait_paid(topup_no, timeout=20.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        db.session.expire_all()
        topup = db.session.query(WalletTopup).filter_by(topup_no=topup_no).one()
        if topup.status == "paid":
            return topup
        time.sleep(0.2)
    raise AssertionError("the top-up was not paid")


def test_card_topup_credits_the_wallet_once(app, tree, client_for, ls):
    payment_services.save_provider_config(tree.star, "stripe", enabled=True)
    with stripe_webhook_server(app, ls):
        client = client_for("star.localhost")
        login(client, "buyer@star.test")
        bad = client.post("/account/wallet/topup", data={"amount": "0.001"})
        assert bad.status_code == 422
        page = client.post("/account/wallet/topup", data={"amount": "50.00"})
        assert page.status_code == 200
        secret = re.search(r'data-client-secret="([^"]+)"', page.text).group(1)
        topup_no = re.search(r'class="order-no">(W[0-9A-Z]+)<', page.text).group(1)
        pi_id = secret.split("_secret_")[0]
        assert wallets.wallet_balance(tree.star_customer) == 0

        assert ls.pay_with_card(pi_id).status == "succeeded"
        wait_paid(topup_no)
        assert wallets.wallet_balance(tree.star_customer) == 5000
        status = client.get(f"/account/wallet/topup/{topup_no}")
        assert "paid" in status.text

        # the same notice again (Stripe retries) credits nothing more
        handler = app.extensions["kameng.payment_handler"]
        notice = PaymentNotice(provider="stripe", order_no=topup_no, amount=5000,
                               currency="CNY", provider_ref=pi_id, paid=True)
        assert handler(tree.star, notice) is True
        assert wallets.wallet_balance(tree.star_customer) == 5000
        assert check_ledger().ok


def test_topup_pages_are_private_and_need_the_method(app, tree, client_for, ls):
    client = client_for("star.localhost")
    assert client.get("/account/wallet/topup").status_code == 302  # login first
    login(client, "buyer@star.test")
    page = client.get("/account/wallet/topup")
    assert page.status_code == 200 and 'name="amount"' not in page.text  # not enabled
    other = client_for("rocket.localhost")
    login(other, "buyer@rocket.test")
    assert other.get("/account/wallet/topup/W000000NOSUCH").status_code == 404
