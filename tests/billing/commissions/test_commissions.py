"""Commissions up the tenant chain: exact per level, the hold, refunds, promoters, fees."""
from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from kameng.billing.commissions import services as commissions
from kameng.billing.commissions import settings as billing_settings
from kameng.billing.commissions.models import Commission
from kameng.billing.ledger import services as ledger
from kameng.billing.ledger.models import Transaction
from kameng.core.extensions import db
from kameng.core.models import utcnow
from kameng.sales import services as orders
from kameng.sales.commissions import post_commissions
from kameng.sales.fulfilment import fulfil
from tests.billing.commissions.helpers import (
    balance,
    card_product,
    chain,
    deliver,
    fund,
    placed_order,
)

pytestmark = pytest.mark.both


def platform(kind, currency="CNY"):
    return ledger.balance_of(ledger.platform_account(kind, currency))


def test_depth_four_chain_pays_each_level_exactly_its_difference(app):
    c = chain(depth=4)
    product = card_product(codes=10, cost=800, wholesale=900, retail=1000)
    fund(c.buyers[4], 100_000)
    order = deliver(c.shops[4], c.buyers[4], product, quantity=3)
    # master 800→900, s1 900→1000, s2 1000→1200, s3 1200→1500, s4 1500→1900
    assert order.amount == 3 * 1900
    expected = [100, 100, 200, 300, 400]
    assert [balance(s, "earnings_pending") for s in c.shops] == [3 * e for e in expected]
    assert [balance(s, "earnings_available") for s in c.shops] == [0] * 5
    assert platform("supplier_payable") == 3 * 800
    assert platform("sales_clearing") == 0        # every fen of the order is accounted for
    assert platform("rounding") == 0
    tx = ledger.transaction_by_key(f"order:{order.order_no}:commission")
    assert tx.kind == "commission" and tx.reference == order.order_no
    assert ledger.check_ledger().ok
    commission = commissions.commission_for(order.id)
    assert [(s.tenant_id, s.sales, s.cost, s.net) for s in commission.shares] == [
        (c.master.id, 2700, 2400, 300), (c.shops[1].id, 3000, 2700, 300),
        (c.shops[2].id, 3600, 3000, 600), (c.shops[3].id, 4500, 3600, 900),
        (c.shops[4].id, 5700, 4500, 1200)]


def test_posting_twice_changes_nothing(app):
    c = chain(depth=2)
    product = card_product(codes=5)
    fund(c.buyers[2], 10_000)
    order = deliver(c.shops[2], c.buyers[2], product)
    assert post_commissions(order.id) == "already posted"
    assert db.session.scalar(select(func.count()).select_from(Transaction)
                             .where(Transaction.kind == "commission")) == 1
    assert db.session.scalar(select(func.count()).select_from(Commission)) == 1


def test_earnings_become_available_after_the_hold(app):
    billing_settings.update_settings(chain(depth=1).master, hold_days=3)
    from kameng.tenants.services import tenant_by_slug

    s1, buyer = tenant_by_slug("s1"), None
    from kameng.billing.wallets import find_user

    buyer = find_user(s1, "buyer@s1.test")
    product = card_product(codes=5)
    fund(buyer, 10_000)
    order = deliver(s1, buyer, product)
    margin = balance(s1, "earnings_pending")
    assert margin == 100
    assert commissions.mature_commissions(now=utcnow() + timedelta(days=2)) == 0
    assert balance(s1, "earnings_pending") == margin
    later = utcnow() + timedelta(days=3, minutes=1)
    assert commissions.mature_commissions(now=later) == 1
    assert commissions.mature_commissions(now=later) == 0     # once per order
    assert balance(s1, "earnings_pending") == 0
    assert balance(s1, "earnings_available") == margin
    assert commissions.commission_for(order.id).status == "available"
    assert ledger.check_ledger().ok


def test_refund_inside_the_hold_reverses_the_pending_postings(app):
    c = chain(depth=2)
    product = card_product(codes=5)
    fund(c.buyers[2], 10_000)
    order = deliver(c.shops[2], c.buyers[2], product)
    assert orders.refund_order(order, "customer asked", from_statuses=("delivered",))
    assert [balance(s, "earnings_pending") for s in c.shops] == [0, 0, 0]
    assert platform("supplier_payable") == 0 and platform("sales_clearing") == 0
    assert commissions.commission_for(order.id).status == "reversed"
    assert commissions.mature_commissions(now=utcnow() + timedelta(days=30)) == 0
    assert ledger.check_ledger().ok


def test_refund_after_the_hold_takes_back_available_even_below_zero(app):
    from kameng.billing import reports
    from kameng.billing.withdrawals import services as withdrawals

    c = chain(depth=1)
    s1 = c.shops[1]
    product = card_product(codes=5)
    fund(c.buyers[1], 10_000)
    order = deliver(s1, c.buyers[1], product)
    commissions.mature_commissions(now=utcnow() + timedelta(days=10))
    # the owner withdraws everything, then the order is refunded
    method = withdrawals.add_payout_method(s1, "alipay", "13800138000", "张三")
    withdrawals.request_withdrawal(s1, c.owners[1], method.id, 100)
    assert orders.refund_order(order, "chargeback", from_statuses=("delivered",))
    assert balance(s1, "earnings_available") == -100
    assert balance(s1, "earnings_pending") == 0
    commission = commissions.commission_for(order.id)
    assert commission.status == "reversed" and commission.reversed_after_hold
    # the owner sees why: the statement names the refunded order
    rows = reports.statement(s1)
    assert rows[0].kind == "commission_clawback" and rows[0].reference == order.order_no
    assert rows[0].amount == -100
    assert ledger.check_ledger().ok
    # later earnings make it up
    fund(c.buyers[1], 10_000)
    deliver(s1, c.buyers[1], product)
    commissions.mature_commissions(now=utcnow() + timedelta(days=20))
    assert balance(s1, "earnings_available") == 0


def test_promoter_gets_a_percent_of_the_selling_shops_own_margin_only(app):
    from kameng.billing.commissions.services import bind_referral, promoter_code

    c = chain(depth=2)
    s2 = c.shops[2]
    billing_settings.update_settings(s2, promoter_bp=1000)   # 10 %
    promoter = c.buyers[2]
    from kameng.tenants.services import create_user

    friend = create_user(s2, "friend@s2.test", "customer", "correct-horse")
    code = promoter_code(promoter).code
    assert not bind_referral(promoter, code)        # never oneself
    assert bind_referral(friend, code)
    assert not bind_referral(friend, code)          # once
    product = card_product(codes=5)
    fund(friend, 10_000)
    deliver(s2, friend, product, quantity=2)
    # s2 margin 2×200 = 400: 10 % → 40 to the promoter, 360 to the shop; levels above untouched
    assert balance(s2, "earnings_pending") == 360
    assert balance(c.shops[1], "earnings_pending") == 200
    assert balance(c.master, "earnings_pending") == 200
    assert commissions.promoter_balances(promoter) == {"earnings_pending": 40,
                                                       "earnings_available": 0}
    commissions.mature_commissions(now=utcnow() + timedelta(days=10))
    assert commissions.promoter_balances(promoter)["earnings_available"] == 40
    assert ledger.check_ledger().ok


def test_referral_code_of_another_shop_is_ignored(app):
    from kameng.billing.commissions.services import bind_referral, promoter_code

    c = chain(depth=2)
    code = promoter_code(c.buyers[1]).code
    assert not bind_referral(c.buyers[2], code)
    assert not bind_referral(c.buyers[2], "nonsense!")


@pytest.mark.parametrize("payer", ["seller", "master"])
def test_provider_fee_is_booked_where_the_master_says(app, payer):
    from kameng.billing.payments.base import PaymentNotice

    c = chain(depth=1)
    billing_settings.update_settings(c.master, provider_fees={
        "stripe": {"bp": 290, "fixed": 30, "payer": payer}})
    s1 = c.shops[1]
    product = card_product(codes=5)
    placed = orders.place_order(s1, sku=product.sku, quantity=5, customer=c.buyers[1],
                                payment_method="stripe")
    order = placed.order
    assert orders.record_payment(s1, PaymentNotice("stripe", order.order_no, order.amount,
                                                   "CNY", "pi_123", True))
    assert fulfil(order.id).status == "delivered"   # the delivery posts the commission
    assert post_commissions(order.id) == "already posted"
    fee = (5000 * 290 + 5000) // 10000 + 30          # 2.9 % of 50.00 half up, + 0.30
    assert fee == 175
    assert platform("fees") == fee
    if payer == "seller":
        assert balance(s1, "earnings_pending") == 500 - fee
        assert balance(c.master, "earnings_pending") == 500
    else:
        assert balance(s1, "earnings_pending") == 500
        assert balance(c.master, "earnings_pending") == 500 - fee
    assert ledger.check_ledger().ok


def test_fee_above_the_margin_overdraws_available_not_pending(app):
    from kameng.billing.payments.base import PaymentNotice

    c = chain(depth=1)
    billing_settings.update_settings(c.master, provider_fees={
        "stripe": {"bp": 0, "fixed": 150, "payer": "seller"}})
    product = card_product(codes=5)
    order = orders.place_order(c.shops[1], sku=product.sku, customer=c.buyers[1],
                               payment_method="stripe").order
    orders.record_payment(c.shops[1], PaymentNotice("stripe", order.order_no, order.amount,
                                                    "CNY", "pi_9", True))
    fulfil(order.id)
    post_commissions(order.id)
    assert balance(c.shops[1], "earnings_pending") == 0
    assert balance(c.shops[1], "earnings_available") == 100 - 150
    assert ledger.check_ledger().ok


def test_an_inconsistent_snapshot_leaves_its_remainder_on_the_rounding_account(app):
    c = chain(depth=1)
    order = placed_order(c)
    line = order.lines[0]
    # a snapshot whose levels do not meet (the master's price 7 above s1's cost)
    line.chain = [{**line.chain[0], "price": line.chain[0]["price"] + 7}, line.chain[1]]
    db.session.commit()
    fulfil(order.id)
    assert post_commissions(order.id) == "already posted"
    assert platform("rounding") == -7
    assert platform("sales_clearing") == 0
    assert ledger.check_ledger().ok


def test_the_delivering_transaction_posts_the_commission(app):
    from kameng.core.scoping import tenant_scope

    c = chain(depth=1)
    order = placed_order(c)
    with tenant_scope(c.shops[1].id):
        fulfil(order.id)
    db.session.rollback()  # nothing left uncommitted: the delivery committed it all
    assert balance(c.shops[1], "earnings_pending") == 100
    assert commissions.commission_for(order.id).status == "pending"


def test_undelivered_orders_earn_nothing(app):
    c = chain(depth=1)
    order = placed_order(c)
    assert post_commissions(order.id) == "skipped (paid)"
    assert balance(c.shops[1], "earnings_pending") == 0


def test_the_post_command_posts_once_and_names_a_missing_order(app, cli):
    c = chain(depth=1)
    order = placed_order(c)
    paid = cli("commissions", "post", order.order_no)
    assert paid.exit_code == 0, paid.output
    assert paid.output.strip() == f"{order.order_no}: skipped (paid)"
    fulfil(order.id)
    again = cli("commissions", "post", order.order_no)
    assert again.output.strip() == f"{order.order_no}: already posted"
    missing = cli("commissions", "post", "NOPE")
    assert missing.exit_code != 0 and "no order 'NOPE'" in missing.output
