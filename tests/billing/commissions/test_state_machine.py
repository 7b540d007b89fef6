"""Random sequences of orders, refunds, maturation, withdrawals and plan payments.

After every step: the ledger balances, no available balance is negative unless
a refund after the hold explains it, and every shop has earned exactly the sum
of its price differences on its delivered (not refunded) lines.
"""
from __future__ import annotations

from datetime import timedelta

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from kameng.billing import reports
from kameng.billing.commissions import services as commissions
from kameng.billing.ledger import services as ledger
from kameng.billing.ledger.services import InsufficientBalance, forget_accounts
from kameng.billing.plans import services as plans
from kameng.billing.withdrawals import services as withdrawals
from kameng.core.extensions import db
from kameng.core.models import utcnow
from kameng.sales import services as orders
from tests.billing.commissions.helpers import balance, card_product, chain, deliver, fund
from tests.conftest import _truncate_all

DEPTH = 3


class Billing(RuleBasedStateMachine):
    def __init__(self):
        super().__init__()
        db.session.rollback()
        if db.engine.dialect.name == "postgresql":
            _truncate_all()
        else:
            db.drop_all()
            db.create_all()
            forget_accounts()
        self.c = chain(depth=DEPTH, step=50)
        self.product = card_product(sku="SM", codes=300, cost=700, wholesale=800, retail=1000)
        for buyer in self.c.buyers[1:]:
            fund(buyer, 10_000_000)
        self.methods = {i: withdrawals.add_payout_method(s, "alipay", "13800138000", "测试").id
                        for i, s in enumerate(self.c.shops) if i}
        # the master sells at 150, s1 resells at 200 to s2, s2 at 260 to s3
        basic = plans.create_plan(self.c.master, "basic", "普及版", 150)
        s1_plan = plans.create_plan(self.c.shops[1], "basic", "普及版", 200, base_plan_id=basic.id)
        s2_plan = plans.create_plan(self.c.shops[2], "basic", "普及版", 260,
                                    base_plan_id=s1_plan.id)
        self.plans = {1: (basic.id, 150, 0), 2: (s1_plan.id, 200, 50), 3: (s2_plan.id, 260, 60)}
        self.live: list = []            # delivered, not refunded: (order_no, id)
        self.margins = {s.id: 0 for s in self.c.shops}
        self.explained: set[int] = set()   # shops overdrawn by a refund after the hold
        self.open_withdrawals: list[int] = []

    def _orders_margins(self, order, sign):
        for line in order.lines:
            for level in line.chain:
                self.margins[level["tenant_id"]] += sign * (level["price"] - level["cost"]) \
                    * line.quantity

    @rule(level=st.integers(1, DEPTH), quantity=st.integers(1, 3))
    def order(self, level, quantity):
        order = deliver(self.c.shops[level], self.c.buyers[level], self.product, quantity)
        self._orders_margins(order, +1)
        self.live.append(order.id)

    @precondition(lambda self: self.live)
    @rule(data=st.data())
    def refund(self, data):
        order_id = data.draw(st.sampled_from(self.live))
        self.live.remove(order_id)
        from kameng.sales.models import Order

        order = db.session.get(Order, order_id)
        after_hold = commissions.commission_for(order_id).status == "available"
        assert orders.refund_order(order, "state machine", from_statuses=("delivered",))
        self._orders_margins(order, -1)
        if after_hold:
            self.explained.update(level["tenant_id"] for line in order.lines
                                  for level in line.chain)

    @rule()
    def mature(self):
        commissions.mature_commissions(now=utcnow() + timedelta(days=30))

    @rule(level=st.integers(1, DEPTH), part=st.sampled_from([1, 2, 4]))
    def withdraw(self, level, part):
        shop = self.c.shops[level]
        available = balance(shop, "earnings_available")
        amount = available // part
        if amount <= 0:
            return
        w = withdrawals.request_withdrawal(shop, self.c.owners[level], self.methods[level],
                                           amount)
        self.open_withdrawals.append(w.id)

    @precondition(lambda self: self.open_withdrawals)
    @rule(data=st.data(), pay=st.booleans())
    def decide(self, data, pay):
        wid = data.draw(st.sampled_from(self.open_withdrawals))
        self.open_withdrawals.remove(wid)
        if pay:
            withdrawals.approve(wid, self.c.master)
            withdrawals.mark_paid(wid, self.c.master, reference=f"slip-{wid}")
        else:
            withdrawals.reject(wid, self.c.master)

    @rule(level=st.integers(1, DEPTH))
    def pay_plan(self, level):
        shop = self.c.shops[level]
        plan_id, price, _parent_earns = self.plans[level]
        before = balance(shop, "earnings_available")
        try:
            plans.pay_plan(shop, plan_id, "balance")
        except InsufficientBalance:
            db.session.rollback()
            assert before < price
        else:
            assert before >= price
            # every reseller up the plan's chain keeps its own difference
            for upper in range(level - 1, 0, -1):
                self.margins[self.c.shops[upper].id] += self.plans[upper + 1][2]

    @invariant()
    def books_balance(self):
        result = ledger.check_ledger()
        assert result.ok, result.problems

    @invariant()
    def nothing_negative_without_a_reason(self):
        for shop in self.c.shops:
            if shop.id not in self.explained:
                assert balance(shop, "earnings_available") >= 0, shop.slug
            assert balance(shop, "earnings_pending") >= 0
            assert balance(shop, "withdrawal_hold") >= 0

    @invariant()
    def earnings_equal_price_differences(self):
        earned = {b.slug: b.earned_total for b in reports.balances(self.c.shops)}
        assert earned == {s.slug: self.margins[s.id] for s in self.c.shops}


@pytest.mark.both
def test_random_billing_sequences_keep_the_books(app):
    run_state_machine_as_test(Billing, settings=settings(
        max_examples=20, stateful_step_count=12, deadline=None,
        suppress_health_check=list(HealthCheck)))
