"""Checkout through the real pages: balance, the epay gateway on loopback, validation,
who may see an order page, escaping of the buyer's input."""
from __future__ import annotations

import re

import pytest
import requests
from sqlalchemy import func, select

from kameng.billing import wallets
from kameng.billing.ledger.models import Entry, Transaction
from kameng.billing.ledger.services import check_ledger, transaction_by_key
from kameng.core.extensions import db
from kameng.sales.models import Order
from kameng.shop.stock.models import CardCode
from tests.fakes.epay_gateway import epay_gateway, live_server  # noqa: F401  (fixture)
from tests.helpers import login
from tests.orders.helpers import card_product, fund
from tests.orders.web_helpers import (
    GUEST,
    available,
    checkout,
    enable_balance,
    enable_epay,
    get_order,
    html_form,
    order_no_from,
    outbox_count,
    run_jobs,
)


def orders_count() -> int:
    return db.session.scalar(select(func.count()).select_from(Order))


def signed_in_balance_buyer(tree, client_for, codes, funds):
    """Star takes the balance; its customer, with ``funds`` on the wallet, is signed in.
    Gives a card with ``codes`` codes and the customer's client."""
    product = card_product(codes=codes)
    enable_balance(tree.star)
    fund(tree.star_customer, funds)
    client = client_for("star.localhost")
    login(client, tree.star_customer.email)
    return product, client


# ----- balance --------------------------------------------------------------------------

@pytest.mark.both
def test_balance_checkout_pays_at_once_and_the_order_page_shows_the_codes(app, tree,
                                                                          client_for):
    product, client = signed_in_balance_buyer(tree, client_for, codes=5, funds=10_000)

    # from the product page (no method yet): the confirm step offers the balance
    page = checkout(client, product.sku, quantity=2)
    assert page.status_code == 200
    assert 'value="balance"' in page.text and 'class="card form checkout-form"' in page.text

    resp = checkout(client, product.sku, "balance", quantity=2,
                    token=re.search(r'name="token" value="([^"]+)"', page.text).group(1))
    assert resp.status_code == 302
    order_no = order_no_from(resp)
    assert resp.headers["Location"].endswith(f"/o/{order_no}")
    order = get_order(order_no)
    assert order.status == "paid" and order.customer_id == tree.star_customer.id
    assert wallets.wallet_balance(tree.star_customer) == 10_000 - order.amount

    waiting = client.get(f"/o/{order_no}")
    assert waiting.status_code == 200 and "data-poll-url" in waiting.text
    assert "GAME-100-CODE-" not in waiting.text
    assert client.get(f"/o/{order_no}/status").json == {
        "order_no": order_no, "status": "paid", "delivered": False}

    run_jobs(app)
    page = client.get(f"/o/{order_no}")
    codes = re.findall(r'<code class="code">([^<]+)</code>', page.text)
    assert len(codes) == 2 and all(c.startswith("GAME-100-CODE-") for c in codes)
    assert page.text.count('class="copy-btn"') == 2
    assert client.get(f"/o/{order_no}/status").json["delivered"] is True
    # the customer's own list
    mine = client.get("/account/orders")
    assert mine.status_code == 200 and order_no in mine.text
    assert check_ledger().ok


@pytest.mark.both
def test_a_double_submitted_checkout_charges_once(app, tree, client_for):
    product, client = signed_in_balance_buyer(tree, client_for, codes=5, funds=10_000)
    first = checkout(client, product.sku, "balance", token="same-token-0123456789")
    again = checkout(client, product.sku, "balance", token="same-token-0123456789")
    assert order_no_from(first) == order_no_from(again)
    assert orders_count() == 1


def test_guests_cannot_pay_from_a_balance(app, tree, client_for):
    product = card_product(codes=2)
    enable_balance(tree.star)
    client = client_for("star.localhost")
    page = checkout(client, product.sku, **GUEST)
    assert page.status_code == 200 and 'value="balance"' not in page.text
    resp = checkout(client, product.sku, "balance", **GUEST)
    assert resp.status_code == 422 and 'id="error-payment_method"' in resp.text
    assert orders_count() == 0


def test_insufficient_balance_is_shown_and_nothing_is_written(app, tree, client_for):
    product, client = signed_in_balance_buyer(tree, client_for, codes=2, funds=10)
    resp = checkout(client, product.sku, "balance")
    assert resp.status_code == 402 and 'id="error-payment_method"' in resp.text
    assert orders_count() == 0 and available(product.id) == 2


# ----- validation -------------------------------------------------------------------------

@pytest.mark.both
def test_invalid_input_is_shown_next_to_the_field_and_nothing_is_written(app, tree,
                                                                         client_for,
                                                                         epay_gateway):
    product = card_product(codes=3, max_quantity=2, fields=[
        {"name": "account", "label": "QQ", "type": "qq", "required": True}])
    enable_epay(tree.star, epay_gateway)
    client = client_for("star.localhost")

    bad_field = checkout(client, product.sku, "epay:alipay", field_account="not a qq", **GUEST)
    assert bad_field.status_code == 422
    assert 'id="error-field_account"' in bad_field.text
    assert 'value="not a qq"' in bad_field.text  # what the buyer typed stays in the form

    too_many = checkout(client, product.sku, "epay:alipay", quantity=3,
                        field_account="12345678", **GUEST)
    assert too_many.status_code == 422 and 'id="error-quantity"' in too_many.text

    no_contact = checkout(client, product.sku, "epay:alipay", field_account="12345678",
                          contact="", lookup_password="pw-1234")
    assert no_contact.status_code == 422 and 'id="error-contact"' in no_contact.text
    short_password = checkout(client, product.sku, "epay:alipay", field_account="12345678",
                              contact="me@example.com", lookup_password="x")
    assert short_password.status_code == 422
    assert 'id="error-lookup_password"' in short_password.text

    unknown_method = checkout(client, product.sku, "epay:wxpay", field_account="12345678",
                              **GUEST)
    assert unknown_method.status_code == 422
    assert 'id="error-payment_method"' in unknown_method.text

    assert orders_count() == 0 and available(product.id) == 3
    assert checkout(client, "NO-SUCH-SKU", "epay:alipay", **GUEST).status_code == 404


def test_sold_out_is_refused_cleanly(app, tree, client_for, epay_gateway):
    product = card_product(codes=1)
    enable_epay(tree.star, epay_gateway)
    client = client_for("star.localhost")
    resp = checkout(client, product.sku, "epay:alipay", quantity=2, **GUEST)
    assert resp.status_code == 409 and 'class="flash error"' in resp.text
    assert orders_count() == 0 and available(product.id) == 1


# ----- epay through the fake gateway ---------------------------------------------------------

def _pay_page(client, order_no):
    page = client.get(f"/o/{order_no}/pay?method=epay:alipay")
    assert page.status_code == 200
    return html_form(page.text, "epay-form")


@pytest.mark.both
def test_guest_epay_checkout_end_to_end(app, tree, client_for, epay_gateway):
    product = card_product(codes=5)
    enable_epay(tree.star, epay_gateway)
    server = live_server(app)  # the gateway's notify reaches the app here
    try:
        client = client_for(f"star.localhost:{server.port}")
        resp = checkout(client, product.sku, "epay:alipay", quantity=2, **GUEST)
        assert resp.status_code == 302
        order_no = order_no_from(resp)
        assert "/pay" in resp.headers["Location"]
        assert get_order(order_no).status == "pending"

        # the browser auto-submits our signed form to the gateway's submit.php
        form = _pay_page(client, order_no)
        assert form["action"] == epay_gateway.apiurl + "submit.php"
        assert "csrf_token" not in form["fields"]
        assert form["fields"]["out_trade_no"] == order_no
        assert form["fields"]["notify_url"].endswith(f"/pay/epay/notify/{order_no}")
        cashier = requests.post(form["action"], data=form["fields"], timeout=10)
        assert cashier.status_code == 200 and "收银台" in cashier.text

        # the return page never marks anything paid; it sends the buyer to the waiting page
        db.session.commit()
        back = client.get("/pay/return", query_string=epay_gateway.notify_params(order_no))
        assert back.status_code == 302 and f"/o/{order_no}" in back.headers["Location"]
        assert get_order(order_no).status == "pending"
        waiting = client.get(f"/o/{order_no}?returned=1")
        assert "data-poll-url" in waiting.text and "GAME-100-CODE-" not in waiting.text

        [result] = epay_gateway.pay(order_no)
        assert (result.status, result.body) == (200, "success")
        assert get_order(order_no).status == "paid"
        run_jobs(app)
        page = client.get(f"/o/{order_no}")
        assert get_order(order_no).status == "delivered"
        assert len(re.findall(r'<code class="code">GAME-100-CODE-\d+</code>', page.text)) == 2
        assert check_ledger().ok
    finally:
        server.close()


@pytest.mark.both
def test_notify_five_times_out_of_order_delivers_once_with_one_set_of_postings(
        app, tree, client_for, epay_gateway):
    product = card_product(codes=10)
    enable_epay(tree.star, epay_gateway)
    server = live_server(app)
    try:
        client = client_for(f"star.localhost:{server.port}")
        numbers = []
        for _ in range(2):
            order_no = order_no_from(checkout(client, product.sku, "epay:alipay", quantity=2,
                                              **GUEST))
            form = _pay_page(client, order_no)
            requests.post(form["action"], data=form["fields"], timeout=10).raise_for_status()
            numbers.append(order_no)
        db.session.commit()
        for order_no in numbers:
            epay_gateway.pay(order_no, notify=False)
        replies = epay_gateway.replay(numbers, times=5, seed=11)
        assert len(replies) == 10 and all(r.body == "success" for _, r in replies)
        run_jobs(app)
        run_jobs(app)  # a second run (a sweep's re-enqueue) changes nothing

        for order_no in numbers:
            order = get_order(order_no)
            assert order.status == "delivered"
            line = order.lines[0]
            sold = db.session.scalar(select(func.count()).select_from(CardCode).where(
                CardCode.order_line_id == line.id, CardCode.status == "sold"))
            assert sold == 2
            pay = transaction_by_key(f"order:{order_no}:pay")
            assert pay is not None
            # one payment, and one commission roll-up posted by the delivery itself
            kinds = db.session.scalars(select(Transaction.kind).where(
                Transaction.reference == order_no)).all()
            # star's own gateway: the parent's price came out of its funded account
            assert sorted(kinds) == ["commission", "order_funding"]
            assert db.session.scalar(select(func.count()).select_from(Entry).where(
                Entry.transaction_id == pay.id)) == 2
            assert outbox_count("order.paid", order) == 1
            assert outbox_count("order.delivered", order) == 0  # no SMTP: no mail queued
        assert available(product.id) == 6
        assert check_ledger().ok
    finally:
        server.close()


def test_a_tampered_notify_pays_nothing(app, tree, client_for, epay_gateway):
    product = card_product(codes=2)
    enable_epay(tree.star, epay_gateway)
    server = live_server(app)
    try:
        client = client_for(f"star.localhost:{server.port}")
        order_no = order_no_from(checkout(client, product.sku, "epay:alipay", **GUEST))
        form = _pay_page(client, order_no)
        requests.post(form["action"], data=form["fields"], timeout=10).raise_for_status()
        db.session.commit()
        [cheap] = epay_gateway.pay(order_no, money="0.01")
        [forged] = epay_gateway.notify(order_no, bad_sign=True)
        assert cheap.body == forged.body == "fail"
        assert get_order(order_no).status == "pending"
        assert transaction_by_key(f"order:{order_no}:pay") is None
    finally:
        server.close()


# ----- who may see an order ---------------------------------------------------------------

def _guest_epay_order(client, product):
    return order_no_from(checkout(client, product.sku, "epay:alipay", **GUEST))


def test_only_the_buyer_sees_the_order_page(app, tree, client_for, epay_gateway):
    product = card_product(codes=3)
    enable_epay(tree.star, epay_gateway)
    buyer = client_for("star.localhost")
    order_no = _guest_epay_order(buyer, product)
    assert buyer.get(f"/o/{order_no}").status_code == 200

    stranger = client_for("star.localhost")
    fake_no = "K000000AAAAAAAAAAAAAA"
    unknown = stranger.get(f"/o/{fake_no}")
    for path in (f"/o/{order_no}", f"/o/{order_no}/status", f"/o/{order_no}/pay"):
        resp = stranger.get(path)
        assert resp.status_code == 404, path
    # nothing tells them apart (the page only echoes the number in its language links)
    assert stranger.get(f"/o/{order_no}").text.replace(order_no, fake_no) == unknown.text

    # a logged-in customer of the shop who does not own it: 404 as well
    login(stranger, tree.star_customer.email)
    assert stranger.get(f"/o/{order_no}").status_code == 404


def test_another_shops_order_is_not_found_on_this_host(app, tree, client_for, epay_gateway):
    product = card_product(codes=3)
    enable_epay(tree.star, epay_gateway)
    order_no = _guest_epay_order(client_for("star.localhost"), product)
    order = get_order(order_no)
    rocket = client_for("rocket.localhost")
    # even a session that claims the order (either shop's id) gets nothing on rocket's host
    for tenant_id in (tree.star.id, tree.rocket.id):
        with rocket.session_transaction() as sess:
            sess["kameng.orders"] = [f"{tenant_id}:{order_no}"]
        assert rocket.get(f"/o/{order_no}").status_code == 404
        assert rocket.get(f"/o/{order_no}/status").status_code == 404
    assert order.tenant_id == tree.star.id


def test_the_owner_customer_sees_their_order_from_any_session(app, tree, client_for):
    product, first = signed_in_balance_buyer(tree, client_for, codes=3, funds=10_000)
    order_no = order_no_from(checkout(first, product.sku, "balance"))
    other_device = client_for("star.localhost")
    assert other_device.get(f"/o/{order_no}").status_code == 404
    login(other_device, tree.star_customer.email)
    assert other_device.get(f"/o/{order_no}").status_code == 200


# ----- escaping ---------------------------------------------------------------------------

XSS_CONTACT = "<script>alert('contact')</script>@example.com"
XSS_FIELD = "<script>alert('field')</script>"


@pytest.mark.both
def test_buyer_input_is_rendered_escaped(app, tree, client_for, epay_gateway):
    product = card_product(codes=3, fields=[
        {"name": "note", "label": "Note", "type": "text", "required": True}])
    enable_epay(tree.star, epay_gateway)
    client = client_for("star.localhost")

    invalid = checkout(client, product.sku, "epay:alipay", field_note=XSS_FIELD,
                       contact=XSS_CONTACT, lookup_password="x")
    assert invalid.status_code == 422
    assert "<script>alert(" not in invalid.text
    assert "&lt;script&gt;alert(" in invalid.text

    resp = checkout(client, product.sku, "epay:alipay", field_note=XSS_FIELD,
                    contact=XSS_CONTACT, lookup_password="pw-1234")
    order_no = order_no_from(resp)
    page = client.get(f"/o/{order_no}")
    assert page.status_code == 200
    assert "<script>alert(" not in page.text
    assert page.text.count("&lt;script&gt;alert(") == 2

    owner = client_for("star.localhost")
    login(owner, tree.star_owner.email)
    for path in ("/admin/orders", f"/admin/orders/{order_no}",
                 f"/admin/orders?q={order_no}"):
        admin_page = owner.get(path)
        assert admin_page.status_code == 200, path
        assert "<script>alert(" not in admin_page.text, path
        assert "&lt;script&gt;alert(" in admin_page.text, path


# ----- CSRF and closed shops -----------------------------------------------------------------

@pytest.mark.app_config(WTF_CSRF_ENABLED=True)
def test_checkout_needs_the_forms_csrf_token(app, tree, client_for, epay_gateway):
    product = card_product(codes=2)
    enable_epay(tree.star, epay_gateway)
    client = client_for("star.localhost")
    assert checkout(client, product.sku, "epay:alipay", **GUEST).status_code == 400
    product_page = client.get(f"/p/{product.sku}").text
    token = re.search(r'name="csrf_token" value="([^"]+)"', product_page).group(1)
    step = checkout(client, product.sku, csrf_token=token, **GUEST)
    assert step.status_code == 200
    token = re.search(r'name="csrf_token" value="([^"]+)"', step.text).group(1)
    resp = checkout(client, product.sku, "epay:alipay", csrf_token=token, **GUEST)
    assert resp.status_code == 302 and orders_count() == 1


def test_a_suspended_shop_takes_no_orders_but_buyers_still_see_theirs(app, tree, client_for,
                                                                      epay_gateway):
    product = card_product(codes=2)
    enable_epay(tree.star, epay_gateway)
    client = client_for("star.localhost")
    order_no = order_no_from(checkout(client, product.sku, "epay:alipay", **GUEST))
    tree.star.status = "suspended"
    db.session.commit()
    assert checkout(client, product.sku, "epay:alipay", **GUEST).status_code == 503
    assert client.get(f"/o/{order_no}/pay").status_code == 503
    assert client.get(f"/o/{order_no}").status_code == 200
    assert orders_count() == 1
