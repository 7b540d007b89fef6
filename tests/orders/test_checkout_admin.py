"""The owner's order list and refunds from the back office."""
from __future__ import annotations

import pytest

from kameng.billing import wallets
from kameng.billing.ledger.services import check_ledger, transaction_by_key
from kameng.core.audit import AuditEvent
from kameng.core.extensions import db
from kameng.sales import services
from kameng.tenants.services import create_user
from tests.helpers import PASSWORD, login
from tests.orders.helpers import card_product, fund
from tests.orders.web_helpers import available, get_order, run_jobs


def balance_order(tree, product, quantity=2):
    fund(tree.star_customer, 10_000)
    return services.place_order(tree.star, sku=product.sku, quantity=quantity,
                                customer=tree.star_customer).order


def owner_client(client_for, tree):
    client = client_for("star.localhost")
    login(client, tree.star_owner.email)
    return client


@pytest.mark.both
def test_owner_refunds_an_undelivered_order_codes_go_back_and_the_wallet_is_refunded(
        app, tree, client_for):
    product = card_product(codes=5)
    order = balance_order(tree, product)
    assert available(product.id) == 3 and wallets.wallet_balance(tree.star_customer) < 10_000
    owner = owner_client(client_for, tree)
    detail = owner.get(f"/admin/orders/{order.order_no}")
    assert detail.status_code == 200 and 'class="card refund-form"' in detail.text

    assert owner.post(f"/admin/orders/{order.order_no}/refund",
                      data={"reason": ""}).status_code == 422
    assert get_order(order.order_no).status == "paid"

    resp = owner.post(f"/admin/orders/{order.order_no}/refund",
                      data={"reason": "buyer changed their mind"})
    assert resp.status_code == 302
    order = get_order(order.order_no)
    assert order.status == "refunded" and order.failure_reason == "buyer changed their mind"
    assert available(product.id) == 5
    assert wallets.wallet_balance(tree.star_customer) == 10_000
    assert transaction_by_key(f"order:{order.order_no}:refund") is not None
    assert db.session.query(AuditEvent).filter_by(action="order.refund").count() == 1
    assert check_ledger().ok

    # a second refund does nothing; a job arriving late delivers nothing
    again = owner.post(f"/admin/orders/{order.order_no}/refund", data={"reason": "again"})
    assert again.status_code == 409
    run_jobs(app)
    assert get_order(order.order_no).status == "refunded"
    assert wallets.wallet_balance(tree.star_customer) == 10_000
    assert db.session.query(AuditEvent).filter_by(action="order.refund").count() == 1


def test_only_the_owner_refunds_and_a_sub_shop_cannot_reverse_a_delivered_order(
        app, tree, client_for):
    product = card_product(codes=5)
    order = balance_order(tree, product)
    staff_user = create_user(tree.star, "staff@star.test", "staff", PASSWORD)
    staff = client_for("star.localhost")
    login(staff, staff_user.email)
    assert staff.post(f"/admin/orders/{order.order_no}/refund",
                      data={"reason": "x"}).status_code == 403
    run_jobs(app, "fulfilment", "mail")  # delivery, then commissions
    assert get_order(order.order_no).status == "delivered"

    assert transaction_by_key(f"order:{order.order_no}:commission") is not None
    before = wallets.wallet_balance(tree.star_customer)
    owner = owner_client(client_for, tree)
    # a delivered order's full reversal takes the master's margin back: not the star's to
    # do (tests/orders/test_refunds.py has its own funds and the request up the tree)
    assert 'class="card refund-form"' not in owner.get(f"/admin/orders/{order.order_no}").text
    assert owner.post(f"/admin/orders/{order.order_no}/refund",
                      data={"reason": "bad code"}).status_code == 403
    assert get_order(order.order_no).status == "delivered"
    assert wallets.wallet_balance(tree.star_customer) == before
    assert transaction_by_key(f"order:{order.order_no}:refund") is None
    assert check_ledger().ok


def test_order_list_filters_and_shop_scope(app, tree, client_for):
    product = card_product(codes=6)
    paid = balance_order(tree, product, quantity=1)
    delivered = balance_order(tree, product, quantity=1)
    from kameng.sales.fulfilment import fulfil

    fulfil(delivered.id)
    pending = services.place_order(tree.star, sku=product.sku, payment_method="epay",
                                   contact="guest@example.com", lookup_password="pw-1234").order
    rocket_fund = fund(tree.rocket_customer, 10_000)
    assert rocket_fund == 10_000
    rocket = services.place_order(tree.rocket, sku=product.sku,
                                  customer=tree.rocket_customer).order

    owner = owner_client(client_for, tree)
    everything = owner.get("/admin/orders").text
    for order in (paid, delivered, pending):
        assert order.order_no in everything
    assert rocket.order_no in everything  # a sub-shop's orders are listed too
    assert rocket.order_no not in owner.get(f"/admin/orders?shop={tree.star.id}").text

    only_delivered = owner.get("/admin/orders?status=delivered").text
    assert delivered.order_no in only_delivered and paid.order_no not in only_delivered
    by_contact = owner.get("/admin/orders?q=GUEST@example").text
    assert pending.order_no in by_contact and paid.order_no not in by_contact
    by_number = owner.get(f"/admin/orders?q={paid.order_no.lower()}").text
    assert paid.order_no in by_number and delivered.order_no not in by_number
    below = owner.get(f"/admin/orders/{rocket.order_no}")  # read-only
    assert below.status_code == 200 and "subtree-note" in below.text
    # the sub-shop never sees its parent's orders
    rocket_owner = client_for("rocket.localhost")
    login(rocket_owner, tree.rocket_owner.email)
    assert paid.order_no not in rocket_owner.get("/admin/orders").text
    assert rocket_owner.get(f"/admin/orders/{paid.order_no}").status_code == 404
    # owners see delivered codes in the detail (support), staff and customers do not
    codes = services.order_codes(get_order(delivered.order_no))
    assert all(c in owner.get(f"/admin/orders/{delivered.order_no}").text for c in codes)
    customer = client_for("star.localhost")
    login(customer, tree.star_customer.email)
    assert customer.get("/admin/orders").status_code == 403
