"""Topping a wallet up by 易支付: the platform's (the master's, here the demo gateway), on
the master and on a sub-shop that has no gateway of its own; never a sub-shop's own."""
from __future__ import annotations

import pytest

from kameng.billing import wallets
from kameng.billing.ledger.services import check_ledger, transaction_by_key
from kameng.billing.payments import demo as demo_gateway
from kameng.billing.payments.base import PaymentNotice
from kameng.billing.topups import services as topups
from kameng.billing.topups.models import WalletTopup
from kameng.core.errors import InvalidInput
from kameng.core.extensions import db
from tests.fakes.epay_gateway import epay_gateway  # noqa: F401  (fixture)
from tests.helpers import login
from tests.orders.web_helpers import enable_epay, html_form


def _topup_by_demo_epay(client, amount="50.00"):
    page = client.get("/account/wallet/topup")
    assert page.status_code == 200 and 'value="epay:alipay"' in page.text
    started = client.post("/account/wallet/topup", data={"amount": amount,
                                                         "method": "epay:alipay"})
    assert started.status_code == 200, started.text
    form = html_form(started.text, "epay-form")
    assert form["action"] == "/demo-gateway/submit.php"
    cashier = client.post(form["action"], data=form["fields"])
    pay_form = html_form(cashier.text, "demo-pay-form")
    done = client.post(pay_form["action"], data={**pay_form["fields"], "action": "pay"})
    assert done.status_code == 302 and "/account/wallet/topup/return?" in done.headers["Location"]
    back = client.get(done.headers["Location"])
    assert back.status_code == 302 and "/account/wallet/topup/W" in back.headers["Location"]
    return form["fields"]["out_trade_no"], back.headers["Location"]


@pytest.mark.app_config(DEMO_GATEWAY=True)
@pytest.mark.parametrize("shop", ["star", "master"])
def test_a_buyer_tops_up_by_the_platform_epay(app, tree, client_for, shop):
    demo_gateway.install(tree.master)
    buyer = getattr(tree, f"{shop}_customer")
    client = client_for(f"{shop}.localhost")
    login(client, buyer.email)
    topup_no, status_url = _topup_by_demo_epay(client)
    db.session.expire_all()
    assert wallets.wallet_balance(buyer) == 5000
    topup = db.session.query(WalletTopup).filter_by(topup_no=topup_no).one()
    assert topup.status == "paid" and topup.provider == "epay"
    tx = transaction_by_key(f"topup:{topup_no}")
    assert tx is not None and tx.kind == "wallet_topup"
    assert "topup-status paid" in client.get(status_url).text
    assert check_ledger().ok


def test_a_sub_shops_own_epay_never_tops_a_wallet_up(app, tree, client_for, epay_gateway):
    demo_gateway.install(tree.master)
    tree.star.settings = {**(tree.star.settings or {}), "own_gateway": "allow"}
    db.session.commit()
    enable_epay(tree.star, epay_gateway)
    assert topups.topup_methods(tree.star) == []
    with pytest.raises(InvalidInput):
        topups.start_topup(tree.star, tree.star_customer, 5000, "epay")
    client = client_for("star.localhost")
    login(client, tree.star_customer.email)
    page = client.get("/account/wallet/topup")
    assert page.status_code == 200 and 'name="method"' not in page.text
    # a notice signed on the shop's own gateway for a top-up credits nothing
    topup = WalletTopup(tenant_id=tree.star.id, topup_no="W261129TESTTESTTEST",
                        user_id=tree.star_customer.id, amount=5000, currency="CNY",
                        provider="epay")
    db.session.add(topup)
    db.session.commit()
    notice = PaymentNotice(provider="epay", order_no=topup.topup_no, amount=5000,
                           currency="CNY", provider_ref="T1", paid=True)
    assert topups.record_topup_payment(tree.star, notice) is False
    assert wallets.wallet_balance(tree.star_customer) == 0


@pytest.mark.parametrize("locale", ["en", "zh_CN"])
@pytest.mark.app_config(DEMO_GATEWAY=True)
def test_the_topup_page_in_both_languages(app, tree, client_for, locale):
    demo_gateway.install(tree.master)
    client = client_for("rocket.localhost")
    login(client, tree.rocket_customer.email)
    client.get(f"/lang/{locale}")
    page = client.get("/account/wallet/topup")
    assert page.status_code == 200
    assert ("支付宝" if locale == "zh_CN" else "Alipay") in page.text
