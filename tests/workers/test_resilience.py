"""Delivery survives a worker killed mid-job and Redis being down at payment time."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest
from sqlalchemy import select

from kameng.billing.payments.base import PaymentNotice
from kameng.core.extensions import db, redis_conn
from kameng.core.scoping import tenant_scope
from kameng.sales import services
from kameng.sales.models import Order, OrderLine, OutboxMessage
from kameng.workers.runner import run_worker
from tests.fakes.supplier import fake_supplier  # noqa: F401  (fixture)
from tests.orders.helpers import card_product, fund, fund_own_gateway
from tests.orders.test_topup import topup_product

pytestmark = pytest.mark.slow


def _status(order_id):
    db.session.expire_all()
    return db.session.get(Order, order_id).status


def wait_for(predicate, timeout=30.0):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if predicate():
            return True
        time.sleep(0.2)
    raise AssertionError("timed out")


@pytest.mark.both
@pytest.mark.app_config(OUTBOX_GRACE_SECONDS=0)
def test_paid_while_redis_down_is_delivered_when_it_is_back(app, tree):
    product = card_product(codes=3)
    fund_own_gateway(tree.star)  # star's own gateway: the parent's price from its funds
    order = services.place_order(tree.star, sku=product.sku, payment_method="epay",
                                 contact="me@example.com", lookup_password="pw1234").order
    live = redis_conn.get(app)
    holder = app.extensions["kameng.redis"]
    real_url = holder.url
    holder.url, holder._conn = "redis://127.0.0.1:1/0", None  # Redis is gone
    notice = PaymentNotice(provider="epay", order_no=order.order_no, amount=order.amount,
                           currency=order.currency, provider_ref="T1", paid=True)
    assert services.record_payment(tree.star, notice)
    assert _status(order.id) == "paid"
    waiting = db.session.scalars(select(OutboxMessage)).all()
    assert [m.dispatched_at for m in waiting] == [None]

    holder.url, holder._conn = real_url, None  # Redis is back
    assert live.ping()
    from kameng.workers.jobs import dispatch_outbox

    assert dispatch_outbox() == 1
    run_worker(app, burst=True)
    assert _status(order.id) == "delivered"
    assert len(services.order_codes(db.session.get(Order, order.id))) == 1
    assert dispatch_outbox() == 0  # sent once


@pytest.mark.both
@pytest.mark.app_config(OUTBOX_GRACE_SECONDS=0)
def test_a_row_its_job_marked_is_not_sent_again_and_an_unmarked_one_is(app, tree):
    from kameng.workers.jobs import dispatch_outbox

    product = card_product(codes=3)
    fund(tree.star_customer, 100_000)
    first = services.place_order(tree.star, sku=product.sku, customer=tree.star_customer)
    run_worker(app, burst=True)          # the job sent at once marks its row
    assert _status(first.order.id) == "delivered"
    assert dispatch_outbox() == 0

    # the process died between COMMIT and enqueue: nobody marked the row
    second = services.place_order(tree.star, sku=product.sku, customer=tree.star_customer,
                                  idempotency_key="second")
    run_worker(app, burst=True)
    assert _status(second.order.id) == "delivered"
    with tenant_scope(tree.star.id):
        db.session.execute(OutboxMessage.__table__.update()
                           .where(OutboxMessage.ref_id == second.order.id)
                           .values(dispatched_at=None))
        db.session.commit()
    assert dispatch_outbox() == 1         # sent again after the grace period …
    run_worker(app, burst=True)           # … and the job finds nothing left to do
    assert _status(second.order.id) == "delivered"
    assert dispatch_outbox() == 0
    assert len(services.order_codes(db.session.get(Order, second.order.id))) == 1


def test_worker_killed_mid_job_delivers_once_after_restart(app, tree, fake_supplier, tmp_path,
                                                           pg, redis_url):
    fake_supplier.mode = "slow"
    fake_supplier.slow_seconds = 30  # the upstream processes it, the answer never comes back
    supplier = fake_supplier.create_supplier(read_timeout=60)
    product = topup_product(supplier)
    fund(tree.star_customer, 100_000)
    placed = services.place_order(tree.star, sku=product.sku, customer=tree.star_customer,
                                  fields={"account": "13800138000"})
    order = placed.order
    env = {**os.environ, "KAMENG_DATABASE_URL": pg.url, "KAMENG_REDIS_URL": redis_url,
           "KAMENG_INSTANCE_PATH": app.config["INSTANCE_PATH"],
           "KAMENG_OUTBOUND_ALLOW": app.config["OUTBOUND_ALLOW"],   # the fake supplier
           "KAMENG_CLAIM_STALE_SECONDS": "1", "KAMENG_REDELIVER_AFTER_SECONDS": "1"}
    # its own process group: the kill takes the worker and RQ's scheduler child with it,
    # as a crashed container or an OOM kill of the whole group would
    worker = subprocess.Popen([sys.executable, "-m", "kameng.cli", "worker"], env=env,
                              start_new_session=True,
                              stdout=open(tmp_path / "worker.log", "w"), stderr=subprocess.STDOUT)
    try:
        line_id = order.lines[0].id
        # the job claimed the line and is waiting on the supplier: kill it there
        try:
            wait_for(lambda: fake_supplier.total_topups == 1, timeout=60)
        except AssertionError:
            raise AssertionError((tmp_path / "worker.log").read_text()[-3000:]) from None
        db.session.expire_all()
        assert db.session.get(OrderLine, line_id).status == "processing"
        os.killpg(worker.pid, signal.SIGKILL)
        worker.wait(timeout=10)
    finally:
        if worker.poll() is None:
            os.killpg(worker.pid, signal.SIGKILL)
    assert _status(order.id) == "fulfilling"

    fake_supplier.mode = "success"  # status queries now answer
    time.sleep(1.5)  # past the stale-claim and redeliver thresholds
    app.config.update(CLAIM_STALE_SECONDS=1, REDELIVER_AFTER_SECONDS=1)
    from kameng.workers.jobs import sweep_orders

    assert sweep_orders()["requeued"] == 1
    run_worker(app, burst=True)  # the new worker
    assert _status(order.id) == "delivered"
    line = db.session.get(OrderLine, order.lines[0].id)
    assert fake_supplier.topups_for(line.supplier_key) == 1
    with tenant_scope(order.tenant_id):
        assert services.get_order(order.order_no).status == "delivered"
