"""Coupons (优惠券): the discount comes out of the selling shop's own margin only, never
below its cost; redeeming is race-safe; the ledger stays balanced through refunds."""
from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from kameng.billing.commissions.models import Commission, CommissionShare
from kameng.billing.funding import services as funding
from kameng.billing.ledger import services as ledger
from kameng.billing.ledger.models import Account, Entry, Transaction
from kameng.billing.payments.base import PaymentNotice
from kameng.core.errors import InvalidInput
from kameng.core.extensions import db
from kameng.core.models import utcnow
from kameng.core.scoping import all_tenants
from kameng.sales import coupons
from kameng.sales import services as orders
from kameng.sales.fulfilment import fulfil
from kameng.sales.models import Coupon, CouponRedemption, Order
from kameng.shop.pricing import services as pricing
from kameng.tenants.models import Tenant
from tests.billing.ledger.threads import run_concurrently
from tests.orders.helpers import card_product, fund

pytestmark = pytest.mark.both

GUEST = {"contact": "me@example.com", "lookup_password": "pw-1234"}


@pytest.fixture(autouse=True)
def star_margin(tree):
    """Star buys at 9.00 (the master's wholesale) and sells at 11.00: 2.00 of margin."""
    pricing.set_markup(tree.star, kind="fixed", value=200)


def make(tenant, **data):
    data = {"code": "SAVE", "kind": "percent", "value": "10", **data}
    return coupons.create_coupon(tenant, data)


def uses(coupon_id) -> int:
    db.session.commit()
    return db.session.scalar(select(Coupon.uses).where(Coupon.id == coupon_id)
                             .execution_options(all_tenants=True))


def clearing_for(order_no: str) -> int:
    return int(db.session.scalar(
        select(func.coalesce(func.sum(Entry.amount), 0))
        .join(Transaction, Transaction.id == Entry.transaction_id)
        .join(Account, Account.id == Entry.account_id)
        .where(Transaction.reference == order_no, Account.owner_type == "platform",
               Account.kind == "sales_clearing")))


def shares(order) -> dict[int, CommissionShare]:
    with all_tenants():
        commission = db.session.scalar(select(Commission).where(Commission.order_id == order.id))
        rows = db.session.scalars(select(CommissionShare).where(
            CommissionShare.commission_id == commission.id,
            CommissionShare.user_id.is_(None))).all()
    return {row.tenant_id: row for row in rows}, commission


def test_a_percent_coupon_takes_from_the_shops_margin_and_the_ledger_balances(app, tree):
    product = card_product(codes=5)
    buyer = tree.star_customer
    fund(buyer, 100_00)
    coupon = make(tree.star, value="10")
    levels = orders.chain_prices(tree.star, product, 2)
    assert (levels[-1].cost, levels[-1].price) == (900, 1100)
    order = orders.place_order(tree.star, sku=product.sku, quantity=2, customer=buyer,
                               coupon=" save ").order
    # 10 % of 22.00 = 2.20, within star's margin of 4.00 on the line
    assert (order.discount, order.amount, order.coupon_code) == (220, 2200 - 220, "SAVE")
    assert order.lines[0].discount == 220 and order.lines[0].amount == 1980
    assert uses(coupon.id) == 1
    assert fulfil(order.id).status == "delivered"
    by_shop, commission = shares(order)
    assert by_shop[tree.star.id].margin == 400 - 220
    assert by_shop[tree.master.id].margin == 2 * (900 - 800)   # untouched
    assert commission.supplier_cost == 2 * 800                   # untouched
    assert commission.rounding == 0 and clearing_for(order.order_no) == 0
    assert ledger.check_ledger().ok

    # a full refund reverses everything; the coupon's use stays taken
    with all_tenants():
        assert orders.refund_order(db.session.get(Order, order.id), "test",
                                   from_statuses=("delivered",))
    assert clearing_for(order.order_no) == 0 and ledger.check_ledger().ok
    assert uses(coupon.id) == 1


def test_a_coupon_never_takes_the_price_below_the_shops_cost(app, tree):
    product = card_product(codes=5)
    fund(tree.star_customer, 100_00)
    make(tree.star, code="HALF", value="50")
    make(tree.star, code="BIG", kind="fixed", value="100")
    half = orders.place_order(tree.star, sku=product.sku, quantity=2,
                              customer=tree.star_customer, coupon="half").order
    assert half.discount == 400 and half.amount == 2 * 900   # exactly star's cost
    big = orders.place_order(tree.star, sku=product.sku, customer=tree.star_customer,
                             coupon="BIG").order
    assert big.discount == 200 and big.amount == 900
    for order in (half, big):
        assert fulfil(order.id).status == "delivered"
        by_shop, commission = shares(order)
        assert by_shop[tree.star.id].margin == 0
        assert by_shop[tree.master.id].margin == order.lines[0].quantity * 100
        assert clearing_for(order.order_no) == 0
    assert ledger.check_ledger().ok


def test_the_master_can_give_away_only_its_margin_over_the_supplier_cost(app, tree):
    product = card_product(codes=5)   # master: cost 8.00, retail 10.00
    fund(tree.master_customer, 100_00)
    make(tree.master, code="ALL", kind="fixed", value="50")
    order = orders.place_order(tree.master, sku=product.sku, customer=tree.master_customer,
                               coupon="all").order
    assert order.amount == 800 and order.discount == 200
    assert fulfil(order.id).status == "delivered" and ledger.check_ledger().ok


def test_tier_and_quantity_discounts_come_first_then_the_coupon(app, tree):
    product = card_product(codes=10)
    fund(tree.star_customer, 100_00)
    pricing.set_quantity_discount(tree.star, 2, 500)   # 5 % from 2 units
    make(tree.star, code="TEN", value="10")
    unit = orders.chain_prices(tree.star, product, 2, tree.star_customer)[-1].price
    assert unit == 1045                                  # 11.00 less 5 %
    order = orders.place_order(tree.star, sku=product.sku, quantity=2,
                               customer=tree.star_customer, coupon="TEN").order
    assert order.discount == 2 * 1045 // 10 and order.amount == 2 * 1045 - 209
    # and still never below cost: a second, large coupon stops at 9.00 a unit
    make(tree.star, code="NINETY", value="90")
    order = orders.place_order(tree.star, sku=product.sku, quantity=2,
                               customer=tree.star_customer, coupon="NINETY").order
    assert order.amount == 2 * 900


@pytest.mark.parametrize("setup, code, error", [
    ({}, "NOPE", "coupon_unknown"),
    ({"ends_at": "2020-01-01 00:00"}, "SAVE", "coupon_expired"),
    ({"starts_at": "2099-01-01 00:00"}, "SAVE", "coupon_not_yet_valid"),
    ({"target": "category:999999"}, "SAVE", "invalid_field"),
    ({"min_amount": "50"}, "SAVE", "coupon_below_minimum"),
])
def test_clear_errors_and_nothing_written(app, tree, setup, code, error):
    product = card_product(codes=3)
    fund(tree.star_customer, 100_00)
    try:
        make(tree.star, **setup)
    except InvalidInput as err:
        assert err.code == error
        return
    with pytest.raises(coupons.CouponRefused) as err:
        orders.place_order(tree.star, sku=product.sku, customer=tree.star_customer, coupon=code)
    assert err.value.code == error and err.value.field == "coupon" and err.value.status == 422
    assert db.session.scalar(select(func.count()).select_from(Order)) == 0


def test_scope_used_up_disabled_and_another_shops_code(app, tree):
    product = card_product(codes=5)
    other = card_product(sku="OTHER-1", codes=5)
    fund(tree.star_customer, 100_00)
    fund(tree.rocket_customer, 100_00)
    only = make(tree.star, code="ONLY", target=f"product:{other.id}")
    with pytest.raises(coupons.CouponRefused) as err:
        orders.place_order(tree.star, sku=product.sku, customer=tree.star_customer, coupon="ONLY")
    assert err.value.code == "coupon_not_applicable"
    assert orders.place_order(tree.star, sku=other.sku, customer=tree.star_customer,
                              coupon="ONLY").order.discount > 0
    once = make(tree.star, code="ONCE", max_uses="1")
    orders.place_order(tree.star, sku=product.sku, customer=tree.star_customer, coupon="ONCE")
    with pytest.raises(coupons.CouponRefused) as err:
        orders.place_order(tree.star, sku=product.sku, customer=tree.star_customer, coupon="ONCE")
    assert err.value.code == "coupon_used_up" and uses(once.id) == 1
    coupons.set_active(tree.star, only.id, False)
    with pytest.raises(coupons.CouponRefused) as err:
        orders.place_order(tree.star, sku=other.sku, customer=tree.star_customer, coupon="ONLY")
    assert err.value.code == "coupon_disabled"
    # star's code is unknown on rocket (a shop below it)
    with pytest.raises(coupons.CouponRefused) as err:
        orders.place_order(tree.rocket, sku=product.sku, customer=tree.rocket_customer,
                           coupon="ONCE")
    assert err.value.code == "coupon_unknown"


def test_per_buyer_limit_for_guests_by_contact_and_expiry_gives_the_use_back(app, tree):
    product = card_product(codes=5)
    coupon = make(tree.star, code="GUEST1", per_buyer="1")
    first = orders.place_order(tree.star, sku=product.sku, payment_method="epay",
                               coupon="GUEST1", **GUEST).order
    with pytest.raises(coupons.CouponRefused) as err:
        orders.place_order(tree.star, sku=product.sku, payment_method="epay", coupon="guest1",
                           contact="ME@example.com", lookup_password="pw-1234")
    assert err.value.code == "coupon_used_up"
    orders.place_order(tree.star, sku=product.sku, payment_method="epay", coupon="GUEST1",
                       contact="you@example.com", lookup_password="pw-1234")
    assert uses(coupon.id) == 2
    # the unpaid order expires: its use comes back, and the buyer may use it again
    assert orders.expire_orders(now=utcnow() + timedelta(hours=2)) == 2
    assert uses(coupon.id) == 0
    with all_tenants():
        statuses = set(db.session.scalars(select(CouponRedemption.status)))
    assert statuses == {"released"}
    again = orders.place_order(tree.star, sku=product.sku, payment_method="epay",
                               coupon="GUEST1", **GUEST).order
    assert uses(coupon.id) == 1 and again.discount == first.discount


def test_own_gateway_order_owes_the_same_upward_with_a_coupon(app, tree):
    product = card_product(codes=5)
    funding.fund_shop(tree.master, tree.star, 100_00)
    make(tree.star, code="OWN", value="50")
    dues = []
    for coupon in (None, "OWN"):
        order = orders.place_order(tree.star, sku=product.sku, quantity=2,
                                   payment_method="epay", coupon=coupon, **GUEST).order
        assert orders.record_payment(tree.star, PaymentNotice(
            "epay", order.order_no, order.amount, "CNY", f"T-{coupon}", True))
        db.session.commit()
        order = db.session.scalar(select(Order).where(Order.order_no == order.order_no))
        assert order.status == "paid"
        dues.append(order.funded_amount)
        assert fulfil(order.id).status == "delivered"
        assert clearing_for(order.order_no) == 0
    assert dues[0] == dues[1] == 2 * 900
    assert funding.funded_balance(tree.star) == 100_00 - 2 * 1800
    assert ledger.check_ledger().ok


def test_twenty_parallel_checkouts_use_a_single_use_code_once(app, tree):
    product = card_product(codes=30)
    coupon = make(tree.star, code="ONE", max_uses="1")
    star_id, sku = tree.star.id, product.sku

    def buy(i):
        shop = db.session.get(Tenant, star_id)
        return orders.place_order(shop, sku=sku, payment_method="epay", coupon="ONE",
                                  contact=f"b{i}@example.com", lookup_password="pw-1234").order.id

    results = run_concurrently(app, 20, buy)
    won = [r for r in results if isinstance(r, int)]
    lost = [r for r in results if not isinstance(r, int)]
    assert len(won) == 1, results
    assert all(isinstance(r, coupons.CouponRefused) and r.code == "coupon_used_up"
               for r in lost), lost
    assert uses(coupon.id) == 1
    with all_tenants():
        assert db.session.scalar(select(func.count()).select_from(CouponRedemption)) == 1
        assert db.session.scalar(select(func.count()).select_from(Order)) == 1


def test_per_buyer_limit_holds_under_parallel_checkouts(app, tree):
    product = card_product(codes=30)
    customer_id = tree.star_customer.id
    fund(tree.star_customer, 1000_00)
    coupon = make(tree.star, code="MINE", per_buyer="2")
    star_id, sku = tree.star.id, product.sku

    def buy(i):
        from kameng.tenants.models import User

        shop = db.session.get(Tenant, star_id)
        return orders.place_order(shop, sku=sku, coupon="MINE",
                                  customer=db.session.get(User, customer_id)).order.id

    results = run_concurrently(app, 10, buy)
    assert len([r for r in results if isinstance(r, int)]) == 2, results
    assert uses(coupon.id) == 2


def test_a_late_payment_of_an_expired_order_takes_its_use_again(app, tree):
    product = card_product(codes=5)
    coupon = make(tree.master, code="LATE", max_uses="1")
    order = orders.place_order(tree.master, sku=product.sku, payment_method="stripe",
                               coupon="LATE", **GUEST).order
    assert orders.expire_orders(now=utcnow() + timedelta(hours=2)) == 1
    assert uses(coupon.id) == 0
    assert orders.record_payment(tree.master, PaymentNotice(
        "stripe", order.order_no, order.amount, "CNY", "pi_late", True))
    db.session.commit()
    assert uses(coupon.id) == 1
    assert db.session.get(Order, order.id).status == "paid"
    assert ledger.check_ledger().ok
