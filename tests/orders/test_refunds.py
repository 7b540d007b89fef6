"""Refunds by who answers for the money (docs/refunds.md): a sub-shop refunds a delivered
order from its own funded account, or asks upstream; only the master reverses a delivered
order in full, and then its codes are voided, never sold again."""
from __future__ import annotations

import threading

import pytest
from sqlalchemy import func, select

from kameng.billing import wallets
from kameng.billing.commissions.models import Commission
from kameng.billing.ledger import services as ledger
from kameng.billing.ledger.services import check_ledger, transaction_by_key
from kameng.core.errors import Conflict
from kameng.core.extensions import db
from kameng.sales import refunds, services
from kameng.sales.models import RefundRequest, RefundStep
from kameng.shop.stock.models import CardCode
from kameng.tenants.services import create_user
from tests.billing.commissions.helpers import deliver
from tests.helpers import PASSWORD, login
from tests.orders.helpers import card_product, fund, fund_own_gateway
from tests.orders.web_helpers import available, get_order


def top_up_funded(tenant, amount):
    """Money into a shop's funded account (the `funded` work tops it up for real; here a
    balanced posting from a test clearing account stands in for the parent's payment)."""
    funded = ledger.shop_account(tenant, "funded")
    source = ledger.platform_account("clearing_test", funded.currency)
    ledger.post(f"test-funded-{tenant.id}-{ledger.balance_of(funded)}-{amount}",
                "funded_topup", [(source, -amount), (funded, amount)])


def funded(tenant) -> int:
    return ledger.balance_of(ledger.shop_account(tenant, "funded"))


def sold_order(shop, buyer, product=None, quantity=1):
    product = product or card_product(codes=5)
    fund(buyer, 10_000)
    return deliver(shop, buyer, product, quantity=quantity)


def owner(client_for, tenant, email=None):
    client = client_for(f"{tenant.slug}.localhost")
    login(client, email or f"owner@{tenant.slug}.test")
    client.get("/lang/en")  # the demo shops speak zh_CN; these assertions read English
    return client


def code_statuses(order):
    line_ids = [line.id for line in order.lines]
    return sorted(db.session.scalars(select(CardCode.status)
                                     .where(CardCode.order_line_id.in_(line_ids))))


def commission_status(order):
    return db.session.scalar(select(Commission.status).where(Commission.order_id == order.id))


def ledger_checks(cli):
    """``kameng ledger check`` itself, as an operator runs it."""
    db.session.commit()
    result = cli("ledger", "check")
    assert result.exit_code == 0, result.output
    assert check_ledger().ok


def ledger_snapshot():
    from kameng.billing.ledger.models import Account

    db.session.commit()
    return dict(db.session.execute(select(Account.id, Account.balance)).all())


# ----- a sub-shop can no longer reverse a delivered order itself ---------------------------

@pytest.mark.both
def test_a_sub_shop_owner_cannot_fully_refund_a_delivered_order(app, tree, client_for):
    for shop, buyer in ((tree.star, tree.star_customer), (tree.rocket, tree.rocket_customer)):
        order = sold_order(shop, buyer, card_product(sku=f"CARD-{shop.slug}", codes=3))
        before = ledger_snapshot()
        client = owner(client_for, shop)
        page = client.get(f"/admin/orders/{order.order_no}").text
        assert 'class="card refund-form"' not in page       # no full-refund button
        assert 'class="card goodwill-form"' in page and 'class="card request-form"' in page
        resp = client.post(f"/admin/orders/{order.order_no}/refund",
                           data={"reason": "bad code"})
        assert resp.status_code == 403
        assert "refund request" in resp.text
        order = get_order(order.order_no)
        assert order.status == "delivered" and code_statuses(order) == ["sold"]
        assert commission_status(order) == "pending"
        assert transaction_by_key(f"order:{order.order_no}:refund") is None
        assert ledger_snapshot() == before
        with pytest.raises(refunds.RefundForbidden):
            refunds.refund_directly(shop, order, "bad code",
                                    actor=getattr(tree, f"{shop.slug}_owner"))
        assert get_order(order.order_no).status == "delivered"
    assert check_ledger().ok


def test_the_api_exposes_no_refund(app):
    """Refunds are back-office only: no API route takes one (the API would need the same
    policy otherwise)."""
    rules = [r for r in app.url_map.iter_rules() if r.rule.startswith("/api")]
    assert rules and not [r.rule for r in rules if "refund" in r.rule]


def test_an_undelivered_order_is_still_refunded_in_full_by_the_selling_shop(
        app, tree, client_for):
    product = card_product(codes=5)
    fund(tree.rocket_customer, 10_000)
    order = services.place_order(tree.rocket, sku=product.sku,
                                 customer=tree.rocket_customer).order
    assert available(product.id) == 4
    client = owner(client_for, tree.rocket)
    assert 'class="card refund-form"' in client.get(f"/admin/orders/{order.order_no}").text
    assert client.post(f"/admin/orders/{order.order_no}/refund",
                       data={"reason": "not filled"}).status_code == 302
    order = get_order(order.order_no)
    assert order.status == "refunded" and order.refund_kind == "reversal"
    assert available(product.id) == 5 and funded(tree.rocket) == 0
    assert wallets.wallet_balance(tree.rocket_customer) == 10_000
    assert check_ledger().ok


# ----- goodwill: from the shop's own funds ----------------------------------------------------

@pytest.mark.both
def test_goodwill_refund_from_the_funded_account_is_guarded(app, tree, client_for, cli):
    order = sold_order(tree.star, tree.star_customer)
    wallet_after_buying = wallets.wallet_balance(tree.star_customer)
    commission = transaction_by_key(f"order:{order.order_no}:commission")
    assert commission is not None
    client = owner(client_for, tree.star)

    # the funded account is short: refused with a clear form error, nothing written
    before = ledger_snapshot()
    top_up_funded(tree.star, order.amount - 1)
    before = ledger_snapshot()
    resp = client.post(f"/admin/orders/{order.order_no}/goodwill",
                       data={"reason": "sorry"})
    assert resp.status_code == 402
    assert "does not cover this refund" in resp.text
    assert get_order(order.order_no).status == "delivered"
    assert ledger_snapshot() == before

    top_up_funded(tree.star, 1)
    resp = client.post(f"/admin/orders/{order.order_no}/goodwill",
                       data={"reason": "sorry about the wait"})
    assert resp.status_code == 302
    order = get_order(order.order_no)
    assert order.status == "refunded" and order.refund_kind == "goodwill"
    assert funded(tree.star) == 0
    assert wallets.wallet_balance(tree.star_customer) == wallet_after_buying + order.amount
    # the chain's commissions and the supplier cost stand; the buyer keeps the code
    assert commission_status(order) == "pending"
    assert transaction_by_key(f"order:{order.order_no}:commission:reverse") is None
    assert transaction_by_key(f"order:{order.order_no}:refund") is None
    assert code_statuses(order) == ["sold"]
    page = client.get(f"/admin/orders/{order.order_no}").text
    assert 'data-refund-kind="goodwill"' in page
    # once only
    again = client.post(f"/admin/orders/{order.order_no}/goodwill", data={"reason": "x"})
    assert again.status_code == 409
    assert wallets.wallet_balance(tree.star_customer) == wallet_after_buying + order.amount
    ledger_checks(cli)


def test_goodwill_refund_of_a_guest_order_is_recorded_as_paid_outside(app, tree, client_for):
    from types import SimpleNamespace

    from kameng.sales.fulfilment import fulfil

    product = card_product(codes=5)
    placed = services.place_order(tree.star, sku=product.sku, payment_method="epay",
                                  contact="guest@example.com", lookup_password="pw-1234")
    order = placed.order
    fund_own_gateway(tree.star)   # its own gateway took the money: it pays the parent's price
    services.record_payment(tree.star, SimpleNamespace(
        paid=True, order_no=order.order_no, amount=order.amount, currency=order.currency,
        provider="epay", provider_ref="T1"))
    assert fulfil(order.id).status == "delivered"
    before = ledger_snapshot()
    client = owner(client_for, tree.star)
    page = client.get(f"/admin/orders/{order.order_no}").text
    assert "A guest has no wallet" in page
    assert client.post(f"/admin/orders/{order.order_no}/goodwill",
                       data={"reason": "paid back by bank transfer"}).status_code == 302
    order = get_order(order.order_no)
    assert order.status == "refunded" and order.refund_kind == "outside"
    assert ledger_snapshot() == before         # nothing moved in the platform's books
    assert commission_status(order) == "pending" and code_statuses(order) == ["sold"]
    assert check_ledger().ok


@pytest.mark.both
def test_the_master_has_no_goodwill_choice_and_refunds_delivered_orders_in_full(
        app, tree, client_for):
    product = card_product(codes=2)
    order = sold_order(tree.master, tree.master_customer, product)
    [code] = services.order_codes(order)
    client = owner(client_for, tree.master)
    page = client.get(f"/admin/orders/{order.order_no}").text
    assert 'class="card refund-form"' in page and "goodwill-form" not in page
    assert "request-form" not in page
    assert client.post(f"/admin/orders/{order.order_no}/goodwill",
                       data={"reason": "x"}).status_code == 409
    assert client.post(f"/admin/orders/{order.order_no}/refund",
                       data={"reason": "code reported invalid"}).status_code == 302
    order = get_order(order.order_no)
    assert order.status == "refunded" and order.refund_kind == "reversal"
    assert code_statuses(order) == ["void"]
    assert commission_status(order) == "reversed"
    assert wallets.wallet_balance(tree.master_customer) == 10_000
    page = client.get(f"/admin/orders/{order.order_no}").text
    assert "data-voided-code=" in page and code in page
    stock_page = client.get(f"/admin/stock/products/{product.id}").text
    assert 'class="refund-voided"' in stock_page and order.order_no in stock_page
    assert check_ledger().ok


# ----- refund requests up the tree ----------------------------------------------------------

@pytest.mark.both
def test_a_request_travels_up_and_the_masters_approval_reverses_once(app, tree, client_for,
                                                                      cli):
    product = card_product(codes=2)
    order = sold_order(tree.rocket, tree.rocket_customer, product)
    [voided_code] = services.order_codes(order)
    wallet_before = wallets.wallet_balance(tree.rocket_customer)
    rocket, star, master = (owner(client_for, t) for t in (tree.rocket, tree.star, tree.master))

    resp = rocket.post(f"/admin/orders/{order.order_no}/refund-request",
                       data={"reason": "buyer reports the code invalid"})
    assert resp.status_code == 302
    req = db.session.scalar(select(RefundRequest))
    assert req.status == "open" and req.holder_tenant_id == tree.star.id
    # a second request for the same order is refused while one is open
    assert rocket.post(f"/admin/orders/{order.order_no}/refund-request",
                       data={"reason": "again"}).status_code == 409
    assert f"R{req.id} is open" in rocket.get(f"/admin/orders/{order.order_no}").text
    # the master does not see it yet; the star decides first and cannot approve
    assert master.get(f"/admin/refund-requests/{req.id}").status_code == 404
    assert star.post(f"/admin/refund-requests/{req.id}/approve",
                     data={"note": "ok"}).status_code == 403
    assert f">R{req.id}<" in star.get("/admin/refund-requests").text
    assert star.post(f"/admin/refund-requests/{req.id}/forward",
                     data={"note": "looks right"}).status_code == 302
    db.session.refresh(req)
    assert req.holder_tenant_id == tree.master.id
    # the star can no longer act on it; the rocket sees where it waits
    assert star.post(f"/admin/refund-requests/{req.id}/reject",
                     data={"note": "no"}).status_code == 409
    assert "Master Shop" in rocket.get(f"/admin/refund-requests/{req.id}").text

    assert master.post(f"/admin/refund-requests/{req.id}/approve",
                       data={"note": "approved"}).status_code == 302
    again = master.post(f"/admin/refund-requests/{req.id}/approve", data={"note": "again"})
    assert again.status_code == 409          # a double click refunds once
    db.session.refresh(req)
    assert req.status == "approved" and req.decided_at is not None
    order = get_order(order.order_no)
    assert order.status == "refunded" and order.refund_kind == "reversal"
    assert wallets.wallet_balance(tree.rocket_customer) == wallet_before + order.amount
    assert commission_status(order) == "reversed"
    assert code_statuses(order) == ["void"]
    void = db.session.scalar(select(CardCode).where(CardCode.status == "void"))
    assert void.void_ref == order.order_no and "invalid" in void.void_reason
    steps = [(s.action, s.tenant_id) for s in db.session.scalars(
        select(RefundStep).order_by(RefundStep.id))]
    assert steps == [("filed", tree.rocket.id), ("forwarded", tree.star.id),
                     ("approved", tree.master.id)]
    assert db.session.scalar(select(func.count()).select_from(
        db.metadata.tables["ledger_transactions"]).where(
        db.metadata.tables["ledger_transactions"].c.kind == "order_refund")) == 1
    assert 'data-request-status="approved"' in rocket.get("/admin/refund-requests").text
    ledger_checks(cli)

    # the voided code is never sold again: one code left, then out of stock
    fund(tree.master_customer, 10_000)
    second = deliver(tree.master, tree.master_customer, product)
    assert code_statuses(second) == ["sold"]
    assert services.order_codes(second) != [voided_code]
    with pytest.raises(services.OutOfStock):
        services.place_order(tree.master, sku=product.sku, customer=tree.master_customer)
    assert available(product.id) == 0
    assert check_ledger().ok


def test_a_rejected_request_refunds_nothing_and_says_why(app, tree, client_for):
    order = sold_order(tree.star, tree.star_customer)
    before = ledger_snapshot()
    star, master = owner(client_for, tree.star), owner(client_for, tree.master)
    assert star.post(f"/admin/orders/{order.order_no}/refund-request",
                     data={"reason": "code invalid"}).status_code == 302
    req = db.session.scalar(select(RefundRequest))
    assert req.holder_tenant_id == tree.master.id      # a depth-1 shop's parent: the master
    # a rejection needs a note
    assert master.post(f"/admin/refund-requests/{req.id}/reject",
                       data={"note": ""}).status_code == 422
    assert master.post(f"/admin/refund-requests/{req.id}/forward",
                       data={"note": "x"}).status_code == 409   # nobody above the master
    assert master.post(f"/admin/refund-requests/{req.id}/reject",
                       data={"note": "the code was redeemed"}).status_code == 302
    db.session.refresh(req)
    assert req.status == "rejected"
    assert get_order(order.order_no).status == "delivered"
    assert ledger_snapshot() == before
    page = star.get(f"/admin/refund-requests/{req.id}").text
    assert "the code was redeemed" in page and 'data-request-status="rejected"' in page
    # rejected: the shop may ask again, or refund from its own funds
    detail = star.get(f"/admin/orders/{order.order_no}").text
    assert 'class="card request-form"' in detail and 'class="card goodwill-form"' in detail
    assert check_ledger().ok


def test_two_parallel_approvals_refund_once(app, tree):
    """Two owners' sessions approve the same request at the same moment: one wins, the
    other is refused; the order is reversed once."""
    order = sold_order(tree.star, tree.star_customer)
    wallet_before = wallets.wallet_balance(tree.star_customer)
    req = refunds.file_request(tree.star, order, "invalid code", actor=tree.star_owner)
    master_id, owner_id, req_id = tree.master.id, tree.master_owner.id, req.id
    db.session.commit()
    barrier = threading.Barrier(2)
    outcomes = []

    def approve():
        from kameng.core.scoping import all_tenants
        from kameng.tenants.models import Tenant, User

        with app.app_context(), all_tenants():
            master, actor = db.session.get(Tenant, master_id), db.session.get(User, owner_id)
            barrier.wait()
            try:
                refunds.approve_request(master, req_id, actor=actor)
                outcomes.append("approved")
            except Conflict:
                outcomes.append("conflict")
            finally:
                db.session.remove()

    threads = [threading.Thread(target=approve) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert sorted(outcomes) == ["approved", "conflict"]
    db.session.expire_all()
    order = get_order(order.order_no)
    assert order.status == "refunded"
    assert wallets.wallet_balance(tree.star_customer) == wallet_before + order.amount
    assert db.session.scalar(select(func.count()).select_from(RefundStep)
                             .where(RefundStep.action == "approved")) == 1
    assert check_ledger().ok


def test_goodwill_is_refused_while_a_request_is_open(
        app, tree, client_for):
    order = sold_order(tree.star, tree.star_customer)
    top_up_funded(tree.star, 10_000)
    star = owner(client_for, tree.star)
    req = refunds.file_request(tree.star, order, "invalid", actor=tree.star_owner)
    page = star.get(f"/admin/orders/{order.order_no}").text
    assert "goodwill-form" not in page and "open-request" in page
    assert star.post(f"/admin/orders/{order.order_no}/goodwill",
                     data={"reason": "x"}).status_code == 409
    assert funded(tree.star) == 10_000
    refunds.reject_request(tree.master, req.id, actor=tree.master_owner, note="no")
    refunds.goodwill_refund(tree.star, get_order(order.order_no), "sorry",
                            actor=tree.star_owner)
    assert funded(tree.star) == 10_000 - order.amount
    assert check_ledger().ok


def test_only_the_owner_decides_and_other_shops_see_nothing(app, tree, client_for):
    order = sold_order(tree.rocket, tree.rocket_customer)
    req = refunds.file_request(tree.rocket, order, "invalid", actor=tree.rocket_owner)
    staff_user = create_user(tree.star, "staff@star.test", "staff", PASSWORD)
    staff = client_for("star.localhost")
    login(staff, staff_user.email)
    assert staff.get(f"/admin/refund-requests/{req.id}").status_code == 200
    assert staff.post(f"/admin/refund-requests/{req.id}/forward",
                      data={"note": ""}).status_code == 403
    # a shop outside the chain: not found
    from kameng.tenants.services import create_tenant

    other = create_tenant("other", "Other", "master")
    create_user(other, "owner@other.test", "owner", PASSWORD)
    outsider = owner(client_for, other)
    assert outsider.get(f"/admin/refund-requests/{req.id}").status_code == 404
    assert outsider.post(f"/admin/refund-requests/{req.id}/reject",
                         data={"note": "x"}).status_code == 404
    assert f">R{req.id}<" not in outsider.get("/admin/refund-requests").text
    # a customer has no back office
    customer = client_for("rocket.localhost")
    login(customer, tree.rocket_customer.email)
    assert customer.get("/admin/refund-requests").status_code == 403


def test_a_voided_code_stays_void_whatever_runs_next(app, tree):
    """Voiding is final: re-running it, releasing the line or the staff's void of an
    available code leave it void, and allocation never picks it."""
    from kameng.shop.stock import allocation
    from kameng.shop.stock import services as stock
    from kameng.shop.stock.models import StockBatch

    product = card_product(sku="ONE-CODE", codes=1)
    order = sold_order(tree.master, tree.master_customer, product)
    line_id = order.lines[0].id
    assert refunds.refund_directly(tree.master, order, "invalid", actor=tree.master_owner)
    assert allocation.void_sold_codes_in_txn(line_id, "again", "X") == 0
    assert allocation.release_codes(line_id) == 0
    code = db.session.scalar(select(CardCode).where(CardCode.product_id == product.id))
    with pytest.raises(Conflict):
        stock.void_code(code.id)
    db.session.refresh(code)
    assert code.status == "void" and code.void_ref == order.order_no
    assert code.void_reason == "invalid" and code.voided_at is not None
    assert db.session.scalar(select(StockBatch.voided)
                             .where(StockBatch.id == code.batch_id)) == 1
    assert available(product.id) == 0 and stock.count_available(product.id) == 0
    with pytest.raises(services.OutOfStock):
        services.place_order(tree.master, sku=product.sku, customer=tree.master_customer)
