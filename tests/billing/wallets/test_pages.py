"""The customer's wallet page and the back office's wallet pages."""
from __future__ import annotations

import re

import pytest
from sqlalchemy import func, select

from kameng.billing import wallets
from kameng.billing.funding import services as funding
from kameng.billing.ledger import services as ledger
from kameng.billing.ledger.models import Transaction
from kameng.core.extensions import db
from tests.helpers import login

pytestmark = pytest.mark.both


def _count_tx() -> int:
    return db.session.scalar(select(func.count(Transaction.id)))


def _signed_in(client_for, host, email):
    client = client_for(host)
    client.get("/lang/en")  # messages asserted below are the English ones
    assert login(client, email).status_code == 302
    return client


# ----- the customer's page ---------------------------------------------------

def test_wallet_page_shows_own_balance_and_history(app, tree, client_for):
    wallets.credit_wallet(tree.star_customer, 1234, note="<script>alert(1)</script> gift")
    clearing = ledger.platform_account("sales_clearing", "CNY")
    wallets.spend_from_wallet(tree.star_customer, 234, "k1", "ORD-42", clearing)
    wallets.credit_wallet(tree.star_owner, 999_00, note="owner money")  # someone else's

    client = _signed_in(client_for, "star.localhost", "buyer@star.test")
    resp = client.get("/account/wallet")
    assert resp.status_code == 200
    body = resp.get_data(as_text=True)
    assert "¥10.00" in body and "¥12.34" in body and "ORD-42" in body
    assert "&lt;script&gt;alert(1)&lt;/script&gt; gift" in body and "<script>alert" not in body
    assert "owner money" not in body and "999.00" not in body


def test_wallet_page_needs_a_login(app, tree, client_for):
    resp = client_for("star.localhost").get("/account/wallet")
    assert resp.status_code == 302 and "/login" in resp.headers["Location"]


def test_a_customer_sees_nothing_of_another_shop(app, tree, client_for):
    star_tx = wallets.credit_wallet(tree.star_customer, 5000, note="star secret")
    rocket_tx = wallets.credit_wallet(tree.rocket_customer, 700, note="rocket note")

    rocket = _signed_in(client_for, "rocket.localhost", "buyer@rocket.test")
    body = rocket.get("/account/wallet").get_data(as_text=True)
    assert "¥7.00" in body and "star secret" not in body and "50.00" not in body
    assert rocket.get(f"/account/wallet/transactions/{rocket_tx.id}").status_code == 200
    # ids of another tenant's postings are as good as nonexistent
    assert rocket.get(f"/account/wallet/transactions/{star_tx.id}").status_code == 404
    assert rocket.get("/account/wallet/transactions/999999").status_code == 404
    assert rocket.get(f"/admin/wallets/{tree.star_customer.id}").status_code == 403

    # nor is another customer's posting on the same shop visible
    other = wallets.credit_wallet(tree.star_owner, 100)
    star = _signed_in(client_for, "star.localhost", "buyer@star.test")
    assert star.get(f"/account/wallet/transactions/{star_tx.id}").status_code == 200
    assert star.get(f"/account/wallet/transactions/{other.id}").status_code == 404


# ----- the back office ---------------------------------------------------------

def _token(body: str) -> str:
    return re.search(r'name="token" type="hidden" value="([^"]+)"', body).group(1)


def test_owner_finds_a_customer_and_credits_once(app, tree, client_for):
    owner = _signed_in(client_for, "star.localhost", "owner@star.test")
    resp = owner.get("/admin/wallets?email=buyer@star.test")
    assert resp.status_code == 302
    detail_url = f"/admin/wallets/{tree.star_customer.id}"
    assert resp.headers["Location"].endswith(detail_url)

    page = owner.get(detail_url).get_data(as_text=True)
    token = _token(page)
    form = {"amount": "25.50", "note": "compensation", "token": token}
    url = f"{detail_url}/credit"
    # a shop below the master grants credit only from its funded account (预存款)
    refused = owner.post(url, data=form)
    assert refused.status_code == 422 and "funded account" in refused.get_data(as_text=True)
    assert wallets.wallet_balance(tree.star_customer) == 0 and _count_tx() == 0
    funding.fund_shop(tree.master, tree.star, 3000)
    assert owner.post(url, data=form).status_code == 302
    assert owner.post(url, data=form).status_code == 302  # a double submit
    assert wallets.wallet_balance(tree.star_customer) == 2550 and _count_tx() == 2
    assert funding.funded_balance(tree.star) == 450
    tx = db.session.scalar(select(Transaction).where(Transaction.kind == "wallet_credit_funded"))
    assert tx.created_by_id == tree.star_owner.id and tx.memo == "compensation"
    assert ledger.check_ledger().ok

    page = owner.get(detail_url).get_data(as_text=True)
    assert "¥25.50" in page and "compensation" in page
    listing = owner.get("/admin/wallets").get_data(as_text=True)
    assert "buyer@star.test" in listing and "¥25.50" in listing


def test_bad_credit_form_writes_nothing(app, tree, client_for):
    owner = _signed_in(client_for, "star.localhost", "owner@star.test")
    url = f"/admin/wallets/{tree.star_customer.id}/credit"
    token = "t" * 24
    for amount in ("", "abc", "-1", "0", "1.234", "1e30", "1,0", "NaN", "Infinity"):
        resp = owner.post(url, data={"amount": amount, "note": "", "token": token})
        assert resp.status_code == 422, amount
    assert owner.post(url, data={"amount": "1", "token": "short"}).status_code == 422
    assert _count_tx() == 0


def test_unknown_email_is_reported(app, tree, client_for):
    owner = _signed_in(client_for, "star.localhost", "owner@star.test")
    resp = owner.get("/admin/wallets?email=buyer@rocket.test")
    assert resp.status_code == 200
    assert "No account with that e-mail" in resp.get_data(as_text=True)


def test_a_shop_cannot_reach_another_shops_customers(app, tree, client_for):
    owner = _signed_in(client_for, "star.localhost", "owner@star.test")
    for user in (tree.rocket_customer, tree.master_customer):
        assert owner.get(f"/admin/wallets/{user.id}").status_code == 404
        resp = owner.post(f"/admin/wallets/{user.id}/credit",
                          data={"amount": "5", "token": "t" * 24})
        assert resp.status_code == 404
    # the listing ignores ?shop= below the master
    body = owner.get("/admin/wallets?shop=rocket").get_data(as_text=True)
    assert "Rocket" not in body
    assert _count_tx() == 0


def test_customers_cannot_open_or_credit(app, tree, client_for):
    buyer = _signed_in(client_for, "star.localhost", "buyer@star.test")
    assert buyer.get("/admin/wallets").status_code == 403
    url = f"/admin/wallets/{tree.star_customer.id}/credit"
    assert buyer.post(url, data={"amount": "5", "token": "t" * 24}).status_code == 403
    assert _count_tx() == 0


def test_the_master_credits_a_sub_shop_customer(app, tree, client_for):
    master = _signed_in(client_for, "master.localhost", "owner@master.test")
    resp = master.get("/admin/wallets?shop=rocket&email=buyer@rocket.test")
    assert resp.status_code == 302
    url = resp.headers["Location"]
    token = _token(master.get(url).get_data(as_text=True))
    assert master.post(f"{url}/credit", data={"amount": "3", "token": token}).status_code == 302
    assert wallets.wallet_balance(tree.rocket_customer) == 300
    # against the sub-shop's own credits account
    assert ledger.shop_account(tree.rocket, "credits_issued").balance == -300
