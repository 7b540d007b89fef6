"""Placing, paying (balance), fulfilling, refunding and expiring orders."""
from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select, update

from kameng.billing import wallets
from kameng.billing.ledger.services import InsufficientBalance, check_ledger
from kameng.core.errors import InvalidInput
from kameng.core.extensions import db
from kameng.core.models import utcnow
from kameng.sales import services
from kameng.sales.fulfilment import fulfil
from kameng.sales.models import Order, OutboxMessage
from kameng.shop.catalog.models import Product
from kameng.shop.stock.models import CardCode
from tests.orders.helpers import card_product, fund

pytestmark = pytest.mark.both


def available(product_id):
    return db.session.scalar(select(func.count()).select_from(CardCode).where(
        CardCode.product_id == product_id, CardCode.status == "available"))


def test_balance_order_is_paid_then_delivered_once(app, tree):
    product = card_product(codes=5)
    buyer = tree.star_customer
    fund(buyer, 10_000)
    price = services.chain_prices(tree.star, product)[-1].price
    placed = services.place_order(tree.star, sku=product.sku, quantity=2, customer=buyer)
    order = placed.order
    assert placed.created and order.status == "paid" and order.amount == 2 * price
    assert wallets.wallet_balance(buyer) == 10_000 - 2 * price
    assert db.session.scalar(select(func.count()).select_from(OutboxMessage)) == 1
    # the price snapshot keeps every level of the chain
    assert [lv["tenant_id"] for lv in order.lines[0].chain] == [tree.master.id, tree.star.id]

    assert fulfil(order.id).status == "delivered"
    codes = services.order_codes(order)
    assert len(codes) == 2 and all(c.startswith("GAME-100-CODE-") for c in codes)
    assert fulfil(order.id).status == "delivered"  # a second run changes nothing
    assert services.order_codes(order) == codes
    assert db.session.get(Product, product.id).stock_available == 3
    assert check_ledger().ok


def test_out_of_stock_writes_nothing(app, tree):
    product = card_product(codes=1)
    fund(tree.star_customer, 10_000)
    with pytest.raises(services.OutOfStock):
        services.place_order(tree.star, sku=product.sku, quantity=2,
                             customer=tree.star_customer)
    assert db.session.scalar(select(func.count()).select_from(Order)) == 0
    assert wallets.wallet_balance(tree.star_customer) == 10_000
    assert available(product.id) == 1


def test_insufficient_balance_writes_nothing(app, tree):
    product = card_product(codes=3)
    fund(tree.star_customer, 100)
    with pytest.raises(InsufficientBalance):
        services.place_order(tree.star, sku=product.sku, customer=tree.star_customer)
    assert db.session.scalar(select(func.count()).select_from(Order)) == 0
    assert available(product.id) == 3
    assert wallets.wallet_balance(tree.star_customer) == 100


def test_idempotency_key_returns_the_same_order_and_charges_once(app, tree):
    product = card_product(codes=3)
    fund(tree.star_customer, 10_000)
    first = services.place_order(tree.star, sku=product.sku, customer=tree.star_customer,
                                 idempotency_key="abc-1")
    again = services.place_order(tree.star, sku=product.sku, customer=tree.star_customer,
                                 idempotency_key="abc-1")
    assert again.order.id == first.order.id and not again.created
    assert wallets.wallet_balance(tree.star_customer) == 10_000 - first.order.amount


def test_input_fields_and_quantity_are_validated(app, tree):
    product = card_product(codes=3, max_quantity=2, fields=[
        {"name": "account", "label": "QQ", "type": "qq", "required": True}])
    fund(tree.star_customer, 10_000)
    with pytest.raises(InvalidInput) as err:
        services.place_order(tree.star, sku=product.sku, customer=tree.star_customer,
                             fields={"account": "not a qq"})
    assert err.value.field == "account"
    with pytest.raises(InvalidInput) as err:
        services.place_order(tree.star, sku=product.sku, quantity=3,
                             customer=tree.star_customer, fields={"account": "12345678"})
    assert err.value.field == "quantity"
    assert db.session.scalar(select(func.count()).select_from(Order)) == 0


def test_guest_order_needs_contact_and_password_and_looks_up_only_with_both(app, tree):
    product = card_product(codes=3)
    with pytest.raises(InvalidInput):
        services.place_order(tree.star, sku=product.sku, payment_method="epay",
                             contact="", lookup_password="pw12")
    order = services.place_order(tree.star, sku=product.sku, payment_method="epay",
                                 contact="me@example.com", lookup_password="secret-1").order
    assert order.status == "pending" and order.lookup_hash != "secret-1"
    assert services.lookup(order.order_no, "ME@example.com", "secret-1").id == order.id
    assert services.lookup(order.order_no, "me@example.com", "wrong") is None
    assert services.lookup(order.order_no, "other@example.com", "secret-1") is None
    assert services.lookup("K000000NOSUCHORDER", "me@example.com", "secret-1") is None


def test_refund_returns_money_and_codes(app, tree):
    product = card_product(codes=3)
    fund(tree.star_customer, 10_000)
    order = services.place_order(tree.star, sku=product.sku, customer=tree.star_customer).order
    assert available(product.id) == 2
    assert services.refund_order(order, "customer asked")
    assert not services.refund_order(order, "again")  # a second refund is a no-op
    assert order.status == "refunded"
    assert wallets.wallet_balance(tree.star_customer) == 10_000
    assert available(product.id) == 3
    assert check_ledger().ok


def test_unpaid_order_expires_and_frees_its_codes(app, tree):
    product = card_product(codes=2)
    order = services.place_order(tree.star, sku=product.sku, payment_method="epay",
                                 contact="me@example.com", lookup_password="pw1234").order
    assert available(product.id) == 1
    assert services.expire_orders(now=utcnow() + timedelta(minutes=5)) == 0
    assert services.expire_orders(now=utcnow() + timedelta(hours=1)) == 1
    assert db.session.get(Order, order.id).status == "expired"
    assert available(product.id) == 2


def test_a_paid_order_keeps_its_codes_however_late_its_delivery(app, tree):
    """The periodic sweep never puts a paid order's codes back on sale, however long ago
    its reservation's time (the unpaid order's deadline) ran out: a worker outage or a
    backlog must not sell the buyer's code to the next buyer and refund the first."""
    from kameng.workers.jobs import sweep_orders

    product = card_product(codes=1)
    fund(tree.star_customer, 10_000)
    order = services.place_order(tree.star, sku=product.sku, customer=tree.star_customer).order
    assert order.status == "paid"   # from the wallet; no worker has delivered it yet
    reserved = CardCode.product_id == product.id
    db.session.execute(update(CardCode).where(reserved)
                       .values(reserved_until=utcnow() - timedelta(days=1)))
    db.session.commit()

    assert sweep_orders()["expired"] == 0
    assert db.session.scalar(select(CardCode.status).where(reserved)) == "reserved"
    fund(tree.master_customer, 10_000)
    with pytest.raises(services.OutOfStock):
        services.place_order(tree.master, sku=product.sku, customer=tree.master_customer)
    assert fulfil(order.id).status == "delivered"
    assert services.order_codes(order) == ["GAME-100-CODE-00000"]
    assert check_ledger().ok
