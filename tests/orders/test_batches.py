"""Paid orders reach the workers in batches: one RQ job carries many, each order is
delivered exactly as it would be alone (codes, commissions, outbox, books)."""
from __future__ import annotations

from collections import Counter

import pytest
from rq import Queue
from sqlalchemy import func, select

from kameng.billing.commissions.models import Commission
from kameng.billing.ledger.services import check_ledger
from kameng.core.extensions import db, redis_conn
from kameng.sales import batches, services
from kameng.sales.models import Order, OutboxMessage
from kameng.shop.stock import allocation
from tests.orders.helpers import card_product, fund
from tests.orders.test_manual import manual_product
from tests.orders.web_helpers import available, run_jobs

pytestmark = pytest.mark.both


def _fulfilment_jobs() -> list:
    return Queue("fulfilment", connection=redis_conn.get()).get_jobs()


def _statuses(ids) -> Counter:
    db.session.expire_all()
    return Counter(db.session.scalars(select(Order.status).where(Order.id.in_(ids))))


def test_many_paid_orders_travel_in_few_jobs_and_are_each_delivered_once(app, tree):
    product = card_product(codes=30)
    fund(tree.star_customer, 100_000)
    fund(tree.rocket_customer, 100_000)
    placed = [services.place_order(shop, sku=product.sku, customer=buyer).order.id
              for _ in range(6)
              for shop, buyer in ((tree.star, tree.star_customer),
                                  (tree.rocket, tree.rocket_customer))]
    jobs = _fulfilment_jobs()
    # one waiting job per list, not one per order
    assert 1 <= len(jobs) <= app.config["FULFIL_SHARDS"] < len(placed)
    assert {j.func_name for j in jobs} == {"kameng.workers.jobs.fulfil_batch"}

    run_jobs(app, "fulfilment")
    assert _statuses(placed) == {"delivered": len(placed)}
    codes = [code for oid in placed
             for code in services.order_codes(db.session.get(Order, oid))]
    assert len(codes) == len(set(codes)) == len(placed)
    assert available(product.id) == 30 - len(placed)
    # delivered together: one UPDATE per list and shop stamps its orders alike
    stamps = set(db.session.scalars(select(Order.delivered_at).where(Order.id.in_(placed))))
    assert len(stamps) <= app.config["FULFIL_SHARDS"] * 2 < len(placed)
    # each order's commission once, every outbox row marked, the books balance
    assert db.session.scalar(select(func.count()).select_from(Commission)) == len(placed)
    assert db.session.scalar(select(func.count()).select_from(OutboxMessage).where(
        OutboxMessage.dispatched_at.is_(None))) == 0
    assert check_ledger().ok

    run_jobs(app, "fulfilment")   # nothing waits; running again changes nothing
    assert db.session.scalar(select(func.count()).select_from(Commission)) == len(placed)


def test_a_batch_with_a_lapsed_reservation_and_a_manual_order(app, tree):
    cards = card_product(codes=3)
    vip = manual_product()
    fund(tree.star_customer, 100_000)
    first = services.place_order(tree.star, sku=cards.sku, customer=tree.star_customer).order
    lapsed = services.place_order(tree.star, sku=cards.sku, customer=tree.star_customer).order
    manual = services.place_order(tree.star, sku=vip.sku, customer=tree.star_customer).order
    # the second order's reservation ran out and its code went back on sale
    allocation.release_codes(lapsed.lines[0].id)
    assert available(cards.id) == 2

    run_jobs(app, "fulfilment")
    db.session.expire_all()
    assert db.session.get(Order, first.id).status == "delivered"
    # the batch could not complete: it fell back to one by one, which re-reserves
    assert db.session.get(Order, lapsed.id).status == "delivered"
    assert len(services.order_codes(db.session.get(Order, lapsed.id))) == 1
    assert db.session.get(Order, manual.id).status == "fulfilling"   # waits for staff
    assert available(cards.id) == 1
    assert check_ledger().ok


def test_an_order_pushed_while_a_job_waits_or_drains_joins_that_job(app, tree):
    product = card_product(codes=5)
    fund(tree.star_customer, 100_000)

    def place(key):
        return services.place_order(tree.star, sku=product.sku, customer=tree.star_customer,
                                    idempotency_key=key).order.id

    ids = [place(f"k{i}") for i in range(2)]
    shards = {oid % app.config["FULFIL_SHARDS"] for oid in ids}
    assert len(_fulfilment_jobs()) == len(shards)
    # a job that starts keeps its list's flag while it drains: no second job for the list
    for shard in shards:
        batches.hold(shard)
    third = place("k2")
    assert len(_fulfilment_jobs()) == len(shards)
    run_jobs(app, "fulfilment")
    assert _statuses([*ids, third]) == {"delivered": 3}
    # drained: the flags are given up, the next order enqueues a job again
    r = redis_conn.get()
    assert not any(r.exists(batches.flag_key(s)) for s in range(app.config["FULFIL_SHARDS"]))
    fourth = place("k3")
    assert len(_fulfilment_jobs()) == 1
    run_jobs(app, "fulfilment")
    assert _statuses([fourth]) == {"delivered": 1}


def test_a_job_that_finds_its_list_empty_drains_on_if_an_order_came_meanwhile(app):
    r = redis_conn.get()
    batches.hold(0)
    # an order pushed after the job's last take, while the flag was still held: the
    # pusher enqueued nothing, so the job must see it
    r.rpush(batches.list_key(0), batches.Item(1, 10, None).encode())
    assert batches.finish(0) is True
    assert 0 < r.ttl(batches.flag_key(0)) <= batches.HOLD_SECONDS
    assert [i.order_id for i in batches.take(0)] == [10]
    # empty now: the flag is given up, and an order pushed next enqueues a job of its own
    assert batches.finish(0) is False
    assert not r.exists(batches.flag_key(0))
    batches.hand_over([batches.Item(1, 0, None)])   # order id 0: list 0
    assert len(_fulfilment_jobs()) == 1


def test_a_batch_pays_each_referred_buyers_promoter_and_nobody_elses(app, tree):
    """The batch reads its buyers' referrals together: the referred buyer's orders pay
    the promoter, the other buyer's orders in the same batch pay no one."""
    from kameng.billing.commissions import services as commissions
    from kameng.billing.commissions import settings as billing_settings
    from kameng.shop.pricing import services as pricing
    from kameng.tenants.services import create_user

    pricing.set_markup(tree.star, kind="fixed", value=200)        # star's own margin
    billing_settings.update_settings(tree.star, promoter_bp=1000)   # 10 % of it
    promoter = create_user(tree.star, "promoter@star.test", "customer", "correct-horse")
    friend = create_user(tree.star, "friend@star.test", "customer", "correct-horse")
    assert commissions.bind_referral(friend, commissions.promoter_code(promoter).code)
    product = card_product(codes=10)
    fund(friend, 100_000)
    fund(tree.star_customer, 100_000)
    placed = [services.place_order(tree.star, sku=product.sku, customer=buyer).order
              for _ in range(3) for buyer in (friend, tree.star_customer)]
    run_jobs(app, "fulfilment")
    assert _statuses([o.id for o in placed]) == {"delivered": 6}
    paid = {o.customer_id: set() for o in placed}
    for order in placed:
        paid[order.customer_id].add(commissions.commission_for(order.id).promoter_user_id)
    assert paid == {friend.id: {promoter.id}, tree.star_customer.id: {None}}
    assert commissions.promoter_balances(promoter)["earnings_pending"] > 0
    assert check_ledger().ok


def test_a_short_batch_waits_once_for_the_orders_that_join_it(app):
    r = redis_conn.get()
    r.rpush(batches.list_key(0), batches.Item(1, 10, 5).encode())
    waits = []

    def sleep(seconds):   # two orders arrive while the job waits
        waits.append(seconds)
        r.rpush(batches.list_key(0), batches.Item(1, 12, None).encode(),
                batches.Item(2, 14, 6).encode())

    taken = batches.take_lingering(0, sleep=sleep)
    assert waits == [app.config["FULFIL_LINGER_SECONDS"]] and waits[0] > 0
    assert [i.order_id for i in taken] == [10, 12, 14]
    assert batches.take_lingering(0, sleep=sleep) == [] and len(waits) == 1  # nothing: no wait

    app.config["FULFIL_BATCH"] = 2    # a full batch does not wait
    r.rpush(batches.list_key(0), *(batches.Item(1, n, None).encode() for n in (16, 18, 20)))
    assert [i.order_id for i in batches.take_lingering(0, sleep=sleep)] == [16, 18]
    app.config["FULFIL_LINGER_SECONDS"] = 0   # nor does any with no linger set
    assert [i.order_id for i in batches.take_lingering(0, sleep=sleep)] == [20]
    assert len(waits) == 1
