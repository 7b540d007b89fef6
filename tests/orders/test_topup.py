"""Top-up fulfilment against a real HTTP fake supplier: UNKNOWN is never FAILED."""
from __future__ import annotations

import pytest
from sqlalchemy import func, select

from kameng.billing import wallets
from kameng.billing.ledger.services import check_ledger
from kameng.core.extensions import db
from kameng.core.scoping import tenant_scope
from kameng.sales import services
from kameng.sales.fulfilment import fulfil
from kameng.sales.models import Order, OrderLine
from kameng.shop.catalog import services as catalog
from tests.fakes.supplier import fake_supplier  # noqa: F401  (fixture)
from tests.orders.helpers import fund

pytestmark = pytest.mark.both


def topup_product(supplier):
    return catalog.create_product(
        sku="CMCC-50", name="China Mobile ¥50", kind="topup", supplier_cost=4900,
        wholesale_price=4950, retail_price=5000, supplier_id=supplier.id,
        supplier_sku="CMCC-50",
        fields=[{"name": "account", "label": "Phone", "type": "phone", "required": True}])


def buy(tree, product):
    fund(tree.star_customer, 100_000)
    return services.place_order(tree.star, sku=product.sku, customer=tree.star_customer,
                                fields={"account": "13800138000"}).order


def run(order):
    with tenant_scope(order.tenant_id):
        return fulfil(order.id)


@pytest.mark.parametrize("mode", ["success", "error_then_success", "slow", "garbled"])
def test_topup_is_delivered_exactly_once(app, tree, fake_supplier, mode):
    fake_supplier.mode = mode
    product = topup_product(fake_supplier.create_supplier())
    order = buy(tree, product)
    outcome = run(order)
    line = db.session.scalar(select(OrderLine).where(OrderLine.order_id == order.id))
    if outcome.status != "delivered":
        # the answer was lost: a later run reconciles by the same key
        assert line.status == "unknown" and outcome.retry_in
        db.session.execute(OrderLine.__table__.update().values(claimed_at=None))
        db.session.commit()
        outcome = run(order)
    assert outcome.status == "delivered"
    assert fake_supplier.topups_for(line.supplier_key) == 1
    assert fake_supplier.total_topups == 1
    run(order)  # a duplicate job run
    assert fake_supplier.total_topups == 1


def test_pending_supplier_is_polled_until_done(app, tree, fake_supplier):
    fake_supplier.mode = "pending_then_success"
    product = topup_product(fake_supplier.create_supplier())
    order = buy(tree, product)
    first = run(order)
    assert first.status == "fulfilling" and first.retry_in
    line = db.session.scalar(select(OrderLine).where(OrderLine.order_id == order.id))
    fake_supplier.complete(line.supplier_key)
    assert run(order).status == "delivered"
    assert fake_supplier.total_topups == 1


def test_permanent_failure_refunds_the_order(app, tree, fake_supplier):
    fake_supplier.mode = "failure"
    product = topup_product(fake_supplier.create_supplier())
    order = buy(tree, product)
    assert wallets.wallet_balance(tree.star_customer) == 100_000 - order.amount
    assert run(order).status == "refunded"
    assert db.session.get(Order, order.id).status == "refunded"
    assert wallets.wallet_balance(tree.star_customer) == 100_000
    assert fake_supplier.total_topups == 0
    assert check_ledger().ok


def test_supplier_down_never_fails_the_order(app, tree, fake_supplier):
    fake_supplier.mode = "down"
    product = topup_product(fake_supplier.create_supplier())
    order = buy(tree, product)
    for _ in range(3):
        db.session.execute(OrderLine.__table__.update().values(claimed_at=None))
        db.session.commit()
        outcome = run(order)
        assert outcome.status == "fulfilling"
    assert db.session.scalar(select(func.count()).select_from(Order)
                             .where(Order.status == "refunded")) == 0
    fake_supplier.mode = "success"
    db.session.execute(OrderLine.__table__.update().values(claimed_at=None))
    db.session.commit()
    assert run(order).status == "delivered"
    assert fake_supplier.total_topups == 1


def test_supplier_webhook_completes_a_pending_topup(app, tree, fake_supplier, client_for):
    from kameng.workers.runner import run_worker

    fake_supplier.mode = "pending_then_success"
    fake_supplier.pending_polls = 1000  # only the webhook's news finishes it
    supplier = fake_supplier.create_supplier()
    product = topup_product(supplier)
    order = buy(tree, product)
    assert run(order).status == "fulfilling"
    line = db.session.scalar(select(OrderLine).where(OrderLine.order_id == order.id))
    fake_supplier.complete(line.supplier_key)
    headers, body = fake_supplier.webhook(line.supplier_key)
    master = client_for("master.localhost")
    forged = master.post(f"/supplier/webhook/{supplier.id}", data=body,
                         headers={**headers, "X-Signature": "0" * 64})
    assert forged.status_code == 401
    assert client_for("star.localhost").post(f"/supplier/webhook/{supplier.id}", data=body,
                                             headers=headers).status_code == 404
    resp = master.post(f"/supplier/webhook/{supplier.id}", data=body, headers=headers)
    assert resp.status_code == 200 and resp.json == {"ok": True}
    run_worker(app, ("fulfilment",), burst=True)
    db.session.expire_all()
    assert db.session.get(Order, order.id).status == "delivered"
    assert fake_supplier.total_topups == 1
