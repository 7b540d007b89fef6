"""Sub-shop plans: paying, reselling, limits, expiry closing the shop and renewal reopening it."""
from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from kameng.billing.commissions import services as commissions
from kameng.billing.ledger import services as ledger
from kameng.billing.ledger.services import InsufficientBalance
from kameng.billing.plans import services as plans
from kameng.billing.plans.services import PlanLimit
from kameng.core.extensions import db
from kameng.core.models import utcnow
from kameng.sales.models import Order
from kameng.shop.pricing import services as pricing
from kameng.tenants import services as tenants
from kameng.tenants.models import Domain, Tenant
from tests.billing.commissions.helpers import balance, card_product, chain, deliver, fund
from tests.fakes.stripe import localstripe, stripe_fake  # noqa: F401  (fixtures)

pytestmark = pytest.mark.both


def earn(shop, buyer, orders=3, sku="PLAN-EARN"):
    product = card_product(sku=sku, codes=orders)
    fund(buyer, 100_000)
    for _ in range(orders):
        deliver(shop, buyer, product)
    commissions.mature_commissions(now=utcnow() + timedelta(days=30))


def revenue():
    return ledger.balance_of(ledger.platform_account("revenue", "CNY"))


def test_pay_from_balance_and_a_reseller_earns_its_difference(app):
    c = chain(depth=2, step=1000)
    s1, s2 = c.shops[1], c.shops[2]
    pro = plans.create_plan(c.master, "pro", "专业版", 3000, sub_shops=True,
                            custom_domain=True, max_staff=3)
    plans.grant_plan(s1, pro.id)
    resold = plans.create_plan(s1, "pro", "专业版 (s1)", 4500, base_plan_id=pro.id)
    assert resold.sub_shops and resold.max_staff == 3      # features come from the master's
    with pytest.raises(Exception, match="below"):
        plans.create_plan(s1, "cheap", "cheap", 100, base_plan_id=pro.id)
    earn(s2, c.buyers[2], orders=3)                         # s2: 3 × 2000, s1: 3 × 1000
    payment = plans.pay_plan(s2, resold.id, "balance", actor=c.owners[2])
    assert payment.amount == 4500 and payment.method == "balance"
    assert balance(s2, "earnings_available") == 6000 - 4500
    assert balance(s1, "earnings_available") == 3000 + 1500
    assert revenue() == 3000
    sub = plans.subscription_of(s2)
    assert sub.status == "active" and sub.plan_id == resold.id
    # renewing extends from the end of the current period
    end = sub.current_period_end
    earn(s2, c.buyers[2], orders=2, sku="MORE")
    again = plans.pay_plan(s2, resold.id, "balance")
    assert again.period_start == end and plans.subscription_of(s2).current_period_end > end
    assert ledger.check_ledger().ok
    from kameng.billing import reports

    assert reports.shop_balances(s1).earned_total == 5 * 1000 + 2 * 1500


def test_balance_payment_is_guarded(app):
    c = chain(depth=1, step=1000)
    s1 = c.shops[1]
    basic = plans.create_plan(c.master, "basic", "普及版", 5000)
    earn(s1, c.buyers[1], orders=2)
    assert balance(s1, "earnings_available") == 2000
    with pytest.raises(InsufficientBalance):
        plans.pay_plan(s1, basic.id, "balance")
    assert plans.subscription_of(s1) is None and balance(s1, "earnings_available") == 2000


def test_expiry_closes_the_storefront_and_renewal_reopens_it(app, client_for):
    c = chain(depth=1, step=1000)
    s1 = c.shops[1]
    basic = plans.create_plan(c.master, "basic", "普及版", 1000)
    earn(s1, c.buyers[1], orders=2)
    orders_before = db.session.scalar(select(func.count()).select_from(Order))
    payment = plans.pay_plan(s1, basic.id, "balance")
    plans.set_auto_renew(s1, False)
    end = payment.period_end
    assert client_for("s1.localhost").get("/").status_code == 200

    counts = plans.sweep_subscriptions(end + timedelta(minutes=1))
    assert counts["grace"] == 1 and plans.subscription_of(s1).status == "grace"
    assert plans.renewal_notice(s1)["status"] == "grace"
    assert db.session.get(Tenant, s1.id).status == "active"       # grace: still open
    counts = plans.sweep_subscriptions(end + timedelta(days=3, minutes=2))
    assert counts["expired"] == 1
    db.session.expire_all()
    assert db.session.get(Tenant, s1.id).status == "suspended"
    closed = client_for("s1.localhost").get("/")
    assert closed.status_code == 503
    assert not plans.plan_allows(s1, "custom_domain")

    plans.pay_plan(db.session.get(Tenant, s1.id), basic.id, "balance")
    db.session.expire_all()
    assert db.session.get(Tenant, s1.id).status == "active"
    assert client_for("s1.localhost").get("/").status_code == 200
    # nothing was deleted: orders, users, earnings all still there
    assert db.session.scalar(select(func.count()).select_from(Order)) == orders_before
    assert tenants.tenant_by_slug("s1").slug == "s1"
    assert balance(s1, "earnings_available") == 2000 - 2 * 1000
    assert ledger.check_ledger().ok


def test_auto_renewal_from_the_balance(app):
    c = chain(depth=1, step=1000)
    s1 = c.shops[1]
    basic = plans.create_plan(c.master, "basic", "普及版", 1000)
    earn(s1, c.buyers[1], orders=3)
    first = plans.pay_plan(s1, basic.id, "balance")
    counts = plans.sweep_subscriptions(first.period_end + timedelta(minutes=1))
    assert counts["renewed"] == 1
    assert plans.subscription_of(s1).current_period_end == plans.period_end(first.period_end,
                                                                            "month")
    assert balance(s1, "earnings_available") == 1000


def test_a_shop_closed_by_the_operator_is_not_reopened_by_paying(app):
    c = chain(depth=1, step=1000)
    s1 = c.shops[1]
    basic = plans.create_plan(c.master, "basic", "普及版", 0)
    s1.status = "suspended"
    db.session.commit()
    plans.pay_plan(s1, basic.id, "balance")
    assert db.session.get(Tenant, s1.id).status == "suspended"


def test_plan_limits_are_enforced_where_the_writes_happen(app):
    c = chain(depth=1)
    s1 = c.shops[1]
    basic = plans.create_plan(c.master, "basic", "普及版", 0, max_markup_bp=2000, max_staff=1)
    plans.grant_plan(s1, basic.id)
    assert not plans.plan_allows(s1, "sub_shops")
    with pytest.raises(PlanLimit):
        tenants.create_tenant("s2", "Shop 2", "s1")
    db.session.rollback()
    assert db.session.scalar(select(func.count()).select_from(Tenant)) == 2
    with pytest.raises(PlanLimit):
        tenants.add_domain("s1", "shop.example.com")
    db.session.rollback()
    assert db.session.scalar(select(Domain.id).where(Domain.hostname == "shop.example.com")) \
        is None
    tenants.create_user(s1, "staff1@s1.test", "staff", "correct-horse")
    with pytest.raises(PlanLimit):
        tenants.create_user(s1, "staff2@s1.test", "staff", "correct-horse")
    db.session.rollback()
    pricing.set_markup(s1, kind="percent", value=2000)
    with pytest.raises(PlanLimit):
        pricing.set_markup(s1, kind="percent", value=2500)
    db.session.rollback()
    # the master and shops without a plan are not limited
    assert plans.plan_allows(c.master, "sub_shops")
    tenants.create_tenant("free", "Free shop", "master")
    tenants.create_tenant("free2", "Free shop 2", "free")


def test_a_fixed_markup_is_held_to_the_plans_cap_on_the_cheapest_product_it_covers(app):
    """A plan capping markups at 20 % of cost cannot be bypassed with a fixed amount."""
    from kameng.shop.catalog import services as catalog
    from kameng.shop.pricing.models import MarkupRule

    c = chain(depth=1, step=100)
    s1 = c.shops[1]
    card = card_product(sku="CAP-900", codes=0)                  # s1's cost: 900
    basic = plans.create_plan(c.master, "basic", "普及版", 0, max_markup_bp=2000)
    plans.grant_plan(s1, basic.id)
    # on the product: 20 % of 900 is 180
    pricing.set_markup(s1, kind="fixed", value=180, level="product", product_id=card.id)
    with pytest.raises(PlanLimit, match=r"fixed 1\.81 is 20\.12% of the cost of CAP-900 \(9\.00\)"
                                        r".*at most 20% of a product's cost"):
        pricing.set_markup(s1, kind="fixed", value=181, level="product", product_id=card.id)
    db.session.rollback()
    assert pricing.price_for(s1, card) == 900 + 180
    # a shop-wide fixed markup is measured against the cheapest product it covers
    cheap = catalog.create_product(sku="CAP-100", name="cheap", kind="card", supplier_cost=50,
                                   wholesale_price=100, retail_price=120)
    with pytest.raises(PlanLimit, match="CAP-100"):
        pricing.set_markup(s1, kind="fixed", value=100)
    db.session.rollback()
    with pytest.raises(PlanLimit):
        pricing.set_markup(s1, kind="fixed", value=101, wholesale=True)
    db.session.rollback()
    pricing.set_markup(s1, kind="fixed", value=20)
    assert pricing.price_for(s1, cheap) == 120
    rules = db.session.scalars(select(MarkupRule).where(MarkupRule.tenant_id == s1.id)
                               .execution_options(all_tenants=True)).all()
    assert sorted((r.level, r.kind, r.value, r.wholesale) for r in rules) == [
        ("product", "fixed", 180, False), ("shop", "fixed", 20, False),
        ("shop", "fixed", 100, True)]   # the wholesale rule chain() set before the plan


def test_pay_by_card_against_localstripe(app, stripe_fake):
    app.config.update(stripe_fake.app_config())
    c = chain(depth=1)
    s1 = c.shops[1]
    basic = plans.create_plan(c.master, "basic", "普及版", 2900, interval="year")
    payment = plans.pay_plan(s1, basic.id, "card",
                             payment_method=stripe_fake.card_payment_method())
    assert payment.provider_ref.startswith("pi_") and payment.method == "card"
    assert payment.period_end == plans.period_end(payment.period_start, "year")
    assert revenue() == 2900
    assert ledger.balance_of(ledger.platform_account("clearing_stripe", "CNY")) == -2900
    intent = stripe_fake.client().v1.payment_intents.retrieve(payment.provider_ref)
    assert intent.status == "succeeded" and intent.amount == 2900
    assert ledger.check_ledger().ok


def test_renewal_falls_back_to_the_saved_card(app, stripe_fake):
    """No balance at renewal: the card the owner paid with is charged off-session."""
    from datetime import timedelta

    app.config.update(stripe_fake.app_config())
    c = chain(depth=1)
    s1 = c.shops[1]
    basic = plans.create_plan(c.master, "basic", "普及版", 2900)
    first = plans.pay_plan(s1, basic.id, "card",
                           payment_method=stripe_fake.card_payment_method())
    sub = plans.subscription_of(s1)
    assert sub.stripe_customer and sub.card_payment_method
    counts = plans.sweep_subscriptions(now=first.period_end + timedelta(minutes=1))
    assert counts["renewed"] == 1
    renewal = plans.payments_of(s1)[0]
    assert renewal.id != first.id and renewal.method == "card"
    assert renewal.period_start == first.period_end
    intent = stripe_fake.client().v1.payment_intents.retrieve(renewal.provider_ref)
    assert intent.status == "succeeded" and intent.customer == sub.stripe_customer
    assert plans.subscription_of(s1).status == "active"
    assert ledger.check_ledger().ok
