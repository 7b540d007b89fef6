"""What a delivery batch costs the database: a fixed number of statements whatever
its size, and, order for order, the very rows one order delivered alone writes."""
from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import event, select, update

from kameng.billing.commissions.models import Commission, CommissionShare
from kameng.billing.ledger.models import Entry, Transaction
from kameng.billing.ledger.services import check_ledger
from kameng.core.extensions import db
from kameng.core.models import utcnow
from kameng.core.scoping import all_tenants, tenant_scope
from kameng.sales import services
from kameng.sales.commissions import post_commissions
from kameng.sales.fulfilment import fulfil_many
from kameng.sales.models import Order, OrderLine
from kameng.shop.pricing import services as pricing
from tests.orders.helpers import card_product, fund


class _Statements(list):
    def __enter__(self):
        event.listen(db.engine, "before_cursor_execute", self._add)
        return self

    def __exit__(self, *exc):
        event.remove(db.engine, "before_cursor_execute", self._add)

    def _add(self, _conn, _cursor, statement, *_args):
        self.append(statement)


def _place(tree, product, n):
    buyers = (tree.rocket_customer, tree.rocket_owner)
    placed = [services.place_order(tree.rocket, sku=product.sku, customer=buyers[i % 2]).order
              for i in range(n)]
    db.session.commit()
    return [o.id for o in placed]


def test_a_batch_of_eight_orders_takes_as_many_statements_as_a_batch_of_two(app, tree):
    pricing.set_markup(tree.star, kind="fixed", value=100)
    pricing.set_markup(tree.rocket, kind="fixed", value=50)
    product = card_product(codes=20)
    for buyer in (tree.rocket_customer, tree.rocket_owner):
        fund(buyer, 100_000)
    counts = []
    for n in (2, 2, 8):   # the first batch warms what is read once per process
        ids = _place(tree, product, n)
        with _Statements() as statements, tenant_scope(tree.rocket.id):
            results = fulfil_many([(i, None) for i in ids])
        assert {r.status for r in results.values()} == {"delivered"}
        counts.append(len(statements))
    # the orders, their codes, commissions, postings, outbox rows and spend: together
    assert counts[1] == counts[2]
    assert check_ledger().ok


def _written(order_id):
    with all_tenants():
        commission = db.session.scalar(select(Commission).where(Commission.order_id == order_id))
        shares = sorted((s.tenant_id, s.user_id, s.depth, s.sales, s.cost, s.margin, s.promoter,
                         s.fee, s.net) for s in db.session.scalars(
            select(CommissionShare).where(CommissionShare.commission_id == commission.id)))
        tx = db.session.get(Transaction, commission.transaction_id)
        entries = [(e.account_id, e.amount) for e in db.session.scalars(
            select(Entry).where(Entry.transaction_id == tx.id).order_by(Entry.id))]
    columns = (commission.currency, commission.amount, commission.supplier_cost,
               commission.fee, commission.fee_tenant_id, commission.rounding,
               commission.promoter_user_id, commission.status, commission.day,
               commission.matures_at.date() - commission.day, commission.reversed_after_hold)
    posting = (tx.kind, tx.reference == commission.order_no, tx.memo,
               tx.idempotency_key == f"order:{commission.order_no}:commission")
    return columns, shares, posting, entries


def test_a_batch_writes_each_order_what_one_order_alone_writes(app, tree):
    pricing.set_markup(tree.star, kind="fixed", value=100)
    pricing.set_markup(tree.rocket, kind="fixed", value=50)
    product = card_product(codes=10)
    fund(tree.rocket_customer, 100_000)
    fund(tree.rocket_owner, 100_000)
    batch = _place(tree, product, 2)
    with tenant_scope(tree.rocket.id):
        fulfil_many([(i, None) for i in batch])
    # the same order again, its commission written by the one-order path (the CLI's)
    alone = _place(tree, product, 1)[0]
    db.session.execute(update(Order).where(Order.id == alone)
                       .values(status="delivered", delivered_at=utcnow())
                       .execution_options(all_tenants=True))
    db.session.execute(update(OrderLine).where(OrderLine.order_id == alone)
                       .values(status="delivered").execution_options(all_tenants=True))
    db.session.commit()
    assert post_commissions(alone) == "posted"
    assert _written(batch[0]) == _written(alone)
    assert check_ledger().ok


def test_a_batch_adds_each_buyers_orders_to_their_spend_in_one_statement(app, tree):
    from kameng.shop.pricing.services import record_spend_many_in_txn, spend_of

    shop, first, second = tree.rocket.id, tree.rocket_customer.id, tree.rocket_owner.id
    record_spend_many_in_txn({(shop, first): 300})   # a first purchase
    db.session.commit()
    with _Statements() as statements:
        record_spend_many_in_txn({(shop, second): 250,   # a first purchase: a new row
                                  (shop, first): 700})
    db.session.commit()
    assert len(statements) == 1
    assert (spend_of(shop, first), spend_of(shop, second)) == (1000, 250)


def test_one_buyers_spend_is_one_statement_first_purchase_or_not(app, tree):
    """A batch of one buyer's orders (the common batch at a low order rate) adds its
    spend with the same single upsert: no UPDATE that misses, then SAVEPOINT + INSERT."""
    from kameng.shop.pricing.services import record_spend_many_in_txn, spend_of

    shop, buyer = tree.rocket.id, tree.rocket_customer.id
    for amount, total in ((300, 300), (450, 750)):   # the first purchase, then another
        with _Statements() as statements:
            record_spend_many_in_txn({(shop, buyer): amount})
        db.session.commit()
        assert len(statements) == 1
        assert spend_of(shop, buyer) == total


@pytest.mark.both
def test_a_delivered_orders_commission_matures_from_its_delivery_time(app, tree):
    """The hold counts from the delivered_at the batch wrote on the order, not from
    whenever the commission row happened to be built."""
    from kameng.billing.commissions import settings as billing_settings

    product = card_product(codes=5)
    fund(tree.rocket_customer, 100_000)
    fund(tree.rocket_owner, 100_000)
    ids = _place(tree, product, 2)
    with tenant_scope(tree.rocket.id):
        fulfil_many([(i, None) for i in ids])
    days = billing_settings.hold_days()
    with all_tenants():
        for order_id in ids:
            order = db.session.get(Order, order_id)
            commission = db.session.scalar(select(Commission)
                                           .where(Commission.order_id == order_id))
            assert order.status == "delivered"
            assert commission.matures_at == order.delivered_at + timedelta(days=days)
            assert commission.day == order.delivered_at.date()
