"""补单 runs one short job per shop: a shop whose gateway never answers holds up nobody else.

Shop A (star) points its epay gateway at a listener that accepts and never replies;
shop B (the master) has orders paid at its gateway whose notifies were lost. Real RQ
workers (separate processes, as deployed) reconcile and deliver B's orders while A's
job is still waiting on its gateway; A's job then ends by its timeout.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest
import requests
from rq import Worker
from rq.job import Job

from kameng.billing.payments.base import PaymentRequest
from kameng.billing.payments.registry import get_provider
from kameng.billing.payments.services import epay_notify_url
from kameng.core.extensions import db, redis_conn
from kameng.sales import services
from kameng.sales.models import Order
from kameng.workers.jobs import reconcile_job_id, reconcile_unpaid
from kameng.workers.runner import run_worker
from tests.fakes.epay_gateway import epay_gateway  # noqa: F401  (fixture)
from tests.fakes.silent_gateway import silent_gateway  # noqa: F401  (fixture)
from tests.orders.helpers import card_product
from tests.orders.web_helpers import enable_epay

pytestmark = pytest.mark.slow

GUEST = {"contact": "me@example.com", "lookup_password": "pw-1234"}


def wait_for(predicate, timeout=30.0, what="the condition"):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if predicate():
            return True
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def silent_shop(tenant, gateway):
    """``tenant`` takes epay at a gateway that never answers."""
    from kameng.billing.payments import services as payments

    payments.save_provider_config(tenant, "epay", enabled=True, settings={
        "apiurl": gateway.apiurl, "pid": "2002", "types": ["alipay"]},
        secrets={"key": "silent-key"})


def epay_order(tenant, sku) -> Order:
    return services.place_order(tenant, sku=sku, payment_method="epay", **GUEST).order


def paid_but_notify_lost(tenant, gateway, order: Order) -> None:
    """The buyer posted the payment form and paid; the gateway's notify never arrived."""
    start = get_provider(tenant, "epay").start(PaymentRequest(
        order_no=order.order_no, amount=order.amount, currency=order.currency,
        description="card", notify_url=epay_notify_url(tenant, order.order_no),
        return_url="", channel="alipay"))
    db.session.commit()
    requests.post(start.url, data=dict(start.fields), timeout=10).raise_for_status()
    gateway.pay(order.order_no, notify=False)


def statuses(orders) -> list[str]:
    db.session.commit()  # see what the workers wrote
    return [db.session.get(Order, o.id).status for o in orders]


def start_worker(env, queue, log):
    # its own session: the kill at the end takes RQ's scheduler child with it
    return subprocess.Popen([sys.executable, "-m", "kameng.cli", "worker", "--queue", queue],
                            env=env, start_new_session=True, stdout=log,
                            stderr=subprocess.STDOUT)


def stop(proc) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=5)


def test_a_gateway_that_never_answers_delays_no_other_shop(
        app, tree, epay_gateway, silent_gateway, pg, redis_url, tmp_path):  # noqa: F811
    product = card_product(codes=5)
    silent_shop(tree.star, silent_gateway)
    enable_epay(tree.master, epay_gateway)
    stuck = epay_order(tree.star, product.sku)
    paid = [epay_order(tree.master, product.sku) for _ in range(2)]
    for order in paid:
        paid_but_notify_lost(tree.master, epay_gateway, order)
    db.session.commit()

    read_timeout = 15   # long enough to see B finish while A still waits on its gateway
    env = {**os.environ, "KAMENG_DATABASE_URL": pg.url, "KAMENG_REDIS_URL": redis_url,
           "KAMENG_INSTANCE_PATH": app.config["INSTANCE_PATH"],
           "KAMENG_OUTBOUND_ALLOW": app.config["OUTBOUND_ALLOW"],
           "KAMENG_GATEWAY_CONNECT_TIMEOUT": "3",
           "KAMENG_GATEWAY_READ_TIMEOUT": str(read_timeout),
           "KAMENG_RECONCILE_JOB_TIMEOUT": "40"}
    connection = redis_conn.get(app)
    log = open(tmp_path / "workers.log", "w")
    workers = [start_worker(env, "reconcile", log), start_worker(env, "reconcile", log),
               start_worker(env, "fulfilment", log)]
    try:
        try:
            wait_for(lambda: len(Worker.all(connection=connection)) == 3, timeout=90,
                     what="three workers")
        except AssertionError:
            raise AssertionError((tmp_path / "workers.log").read_text()[-3000:]) from None

        # the periodic sweep: one job per shop, on the reconcile queue, under the shop's id
        swept = reconcile_unpaid()
        assert sorted(swept["enqueued"]) == sorted([tree.master.id, tree.star.id])
        a_job = Job.fetch(reconcile_job_id(tree.star.id, "epay"), connection=connection)
        assert a_job.origin == "reconcile" and a_job.args == (tree.star.id, "epay")
        assert a_job.timeout == app.config["RECONCILE_JOB_TIMEOUT"]

        silent_gateway.wait_for_connection()
        wait_for(lambda: stuck.order_no.encode() in silent_gateway.received, timeout=10,
                 what="shop A's query to reach its gateway")
        # B's orders are found paid and delivered while A's gateway holds its connection
        wait_for(lambda: statuses(paid) == ["delivered", "delivered"], timeout=read_timeout,
                 what="shop B's orders to be delivered")
        assert silent_gateway.holding() == 1 and silent_gateway.closed == 0
        assert statuses([stuck]) == ["pending"]

        # A's round still runs: the next sweep does not pile a second job behind it
        again = reconcile_unpaid()
        assert again == {"enqueued": [], "waiting": [tree.star.id]}

        # A's job ends by the read timeout: it hangs up, the order simply stays unpaid
        silent_gateway.wait_until_hung_up(timeout=read_timeout + 30)
        wait_for(lambda: a_job.get_status(refresh=True) == "finished", timeout=30,
                 what="shop A's job to end")
        result = a_job.return_value(refresh=True)
        assert result["asked"] == 1 and result["paid"] == 0
        assert "Timeout" in result["gateway_error"]
        assert statuses([stuck]) == ["pending"]
        b_job = Job.fetch(reconcile_job_id(tree.master.id, "epay"), connection=connection)
        assert b_job.return_value()["paid"] == 2
        assert silent_gateway.accepted == 1     # one job, one call: no pile-up
    finally:
        for proc in workers:
            stop(proc)
        log.close()
    # once A's round is over, the next sweep gives it a new one
    assert reconcile_unpaid() == {"enqueued": [tree.star.id], "waiting": []}


@pytest.mark.app_config(GATEWAY_READ_TIMEOUT=120, RECONCILE_JOB_TIMEOUT=2)
def test_the_job_timeout_ends_a_round_stuck_on_its_gateway(app, tree, silent_gateway):  # noqa: F811
    product = card_product(codes=2)
    silent_shop(tree.star, silent_gateway)
    order = epay_order(tree.star, product.sku)
    db.session.commit()
    connection = redis_conn.get(app)

    assert reconcile_unpaid() == {"enqueued": [tree.star.id], "waiting": []}
    # queued and not yet run: no second job for the same shop
    assert reconcile_unpaid() == {"enqueued": [], "waiting": [tree.star.id]}
    started = time.monotonic()
    run_worker(app, ("reconcile",), burst=True)
    assert time.monotonic() - started < 60   # ended by the 2 s job timeout, not the read one

    job = Job.fetch(reconcile_job_id(tree.star.id, "epay"), connection=connection)
    assert job.get_status() == "failed"
    assert "JobTimeoutException" in (job.latest_result().exc_string or "")
    silent_gateway.wait_until_hung_up(timeout=10)
    assert statuses([order]) == ["pending"]
    # a failed round does not hold the shop's id: the next sweep enqueues it again
    assert reconcile_unpaid() == {"enqueued": [tree.star.id], "waiting": []}
