"""Back-pressure: with the fulfilment queue (a real Redis) deeper than the allowed
seconds of work, balance-paid orders are refused with 503 and Retry-After — the API
with a problem detail, the storefront checkout with its page — and nothing is written."""
from __future__ import annotations

import pytest
from sqlalchemy import func, select

from kameng.billing.wallets import wallet_balance
from kameng.core.extensions import db, redis_conn
from kameng.core.jobs import queue
from kameng.sales import backpressure, batches
from kameng.sales.models import Order
from tests.api.helpers import api_account, assert_problem, order
from tests.helpers import login
from tests.orders.helpers import card_product, fund
from tests.orders.web_helpers import checkout, enable_balance

pytestmark = [pytest.mark.both,
              pytest.mark.app_config(MAX_FULFILMENT_BACKLOG_SECONDS=1,
                                     FULFILMENT_ORDER_SECONDS=0.01, FULFIL_SHARDS=2)]


@pytest.fixture(autouse=True)
def fresh_readings():
    backpressure.forget()
    yield
    backpressure.forget()


def _fill_queue(jobs: int) -> None:
    """Real RQ jobs waiting in the fulfilment queue (no worker runs in the tests)."""
    q = queue("fulfilment")
    q.enqueue_many([q.prepare_data("kameng.benchmarks.orders.noop") for _ in range(jobs)])


def _orders() -> int:
    return db.session.scalar(select(func.count()).select_from(Order))


def test_the_api_answers_503_with_retry_after_while_the_queue_is_deep(app, tree,
                                                                      client_for):
    user, key = api_account(tree.star, "bot@star.test", funds=10_000)
    card_product("GAME-100", codes=5)
    client = client_for("star.localhost")
    _fill_queue(600)   # 600 jobs / 2 shards × 10 ms = 3 s of work > 1 s allowed
    assert backpressure.backlog_seconds(fresh=True) == pytest.approx(3.0)

    resp = order(client, key, "GAME-100", "k-1")
    assert_problem(resp, 503, "busy")
    assert 1 <= int(resp.headers["Retry-After"]) <= 60
    assert resp.headers["Retry-After"] in resp.json["title"]   # "try again in N seconds"
    assert _orders() == 0 and wallet_balance(user) == 10_000

    queue("fulfilment").empty()
    backpressure.forget()   # else the process's reading is trusted for a fifth of a second
    resp = order(client, key, "GAME-100", "k-1")
    assert resp.status_code == 201, resp.get_data(as_text=True)
    assert _orders() == 1


def test_a_repeat_of_an_order_placed_before_still_gets_it_back(app, tree, client_for):
    _user, key = api_account(tree.star, "bot@star.test", funds=10_000)
    card_product("GAME-100", codes=5)
    client = client_for("star.localhost")
    first = order(client, key, "GAME-100", "k-1")
    assert first.status_code == 201
    _fill_queue(600)
    backpressure.forget()
    again = order(client, key, "GAME-100", "k-1")
    assert again.status_code == 201 and again.headers["Idempotent-Replayed"] == "true"
    assert again.json["order_no"] == first.json["order_no"]
    assert_problem(order(client, key, "GAME-100", "k-2"), 503, "busy")


def test_the_longest_fulfilment_list_and_the_measured_time_decide(app, tree):
    r = redis_conn.get()
    r.rpush(batches.list_key(0), *[f"{tree.star.id}:{i}:" for i in range(50)])
    r.rpush(batches.list_key(1), *[f"{tree.star.id}:{i}:" for i in range(200)])
    assert backpressure.backlog_seconds(fresh=True) == pytest.approx(2.0)  # 200 × 10 ms
    for _ in range(60):
        backpressure.record(100, 0.5)       # the workers measure 5 ms an order
    assert backpressure.backlog_seconds(fresh=True) == pytest.approx(1.0, rel=1e-3)
    r.lpop(batches.list_key(1), 10)         # 190 × 5 ms: under the limit, accepted
    backpressure.forget_reading()
    backpressure.check()
    r.rpush(batches.list_key(1), *[f"{tree.star.id}:{i}:" for i in range(30)])
    backpressure.forget()
    with pytest.raises(backpressure.Busy) as refused:
        backpressure.check()
    assert refused.value.status == 503 and refused.value.retry_after == 1


@pytest.mark.app_config(MAX_FULFILMENT_BACKLOG_SECONDS=0)
def test_a_limit_of_zero_never_refuses(app, tree, client_for):
    _user, key = api_account(tree.star, "bot@star.test", funds=10_000)
    card_product("GAME-100", codes=5)
    _fill_queue(600)
    assert order(client_for("star.localhost"), key, "GAME-100", "k-1").status_code == 201


def test_the_storefront_checkout_says_to_come_back_and_charges_nothing(app, tree,
                                                                       client_for):
    product = card_product(codes=3)
    enable_balance(tree.star)
    fund(tree.star_customer, 10_000)
    client = client_for("star.localhost")
    login(client, tree.star_customer.email)
    _fill_queue(600)

    resp = checkout(client, product.sku, "balance", token="busy-token-0123456789")
    assert resp.status_code == 503
    assert 1 <= int(resp.headers["Retry-After"]) <= 60
    assert f'{resp.headers["Retry-After"]} ' in resp.text   # "try again in N seconds"
    assert 'class="card form checkout-form"' in resp.text
    assert _orders() == 0 and wallet_balance(tree.star_customer) == 10_000


def test_small_batches_do_not_make_a_deep_backlog_look_longer_than_it_is(app, tree):
    """A batch's fixed cost carried by one order (or a fresh worker's warm-up) says
    nothing about how fast a rush drains in full batches: the fixed part and the part
    per order are measured apart."""
    r = redis_conn.get()
    backpressure.record(1, 1.5)               # a fresh worker's first batch: its warm-up
    for _ in range(20):
        backpressure.record(50, 0.5)          # full batches: 10 ms an order
    for _ in range(20):
        backpressure.record(1, 0.09)          # a trickle: 90 ms for a batch of one
    r.rpush(batches.list_key(0), *[f"{tree.star.id}:{i}:" for i in range(80)])
    # 80 orders = 2 batches: 2 × ~80 ms + 80 × 10 ms ≈ 0.96 s (not 80 × 90 ms = 7.2 s)
    assert backpressure.backlog_seconds(fresh=True) == pytest.approx(0.96, abs=0.01)
    backpressure.check()                      # under the 1 s allowed
    for _ in range(20):
        backpressure.record(50, 2.0)          # the workers really slowed down
    backpressure.forget_reading()
    with pytest.raises(backpressure.Busy):
        backpressure.check()                  # 80 × ~38 ms: beyond the limit now
