"""The reports' running sums (billing.commissions.rollup): the figures a page shows are
the same whether the job has run or not, after refunds before and after it ran."""
from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import and_, func, or_, select

from kameng.billing import reports
from kameng.billing.commissions import rollup
from kameng.billing.commissions import services as commissions
from kameng.billing.commissions.models import (
    Commission,
    CommissionRollup,
    CommissionShare,
    RollupMark,
    SellerEarnedTotal,
)
from kameng.billing.ledger.models import Account, Entry, Transaction
from kameng.core.extensions import db
from kameng.core.models import utcnow
from kameng.core.scoping import all_tenants
from kameng.sales import dashboard, openshop
from kameng.sales import services as orders
from kameng.tenants import shop_settings
from tests.billing.commissions.helpers import card_product, chain, deliver, fund
from tests.helpers import login

pytestmark = pytest.mark.both


def _recomputed_days(tenant, start, end):
    """Every day's (orders, sales, cost, margin, net) straight from the shares."""
    with all_tenants():
        rows = db.session.execute(
            select(Commission.day, func.count(CommissionShare.id),
                   func.sum(CommissionShare.sales), func.sum(CommissionShare.cost),
                   func.sum(CommissionShare.margin), func.sum(CommissionShare.net))
            .join(Commission, Commission.id == CommissionShare.commission_id)
            .where(CommissionShare.tenant_id == tenant.id, CommissionShare.user_id.is_(None),
                   Commission.status != "reversed", Commission.day >= start,
                   Commission.day <= end)
            .group_by(Commission.day))
        return {day: tuple(int(v or 0) for v in vals) for day, *vals in rows}


def _recomputed_earned(tenant):
    return int(db.session.scalar(
        select(func.coalesce(func.sum(Entry.amount), 0))
        .join(Account, Account.id == Entry.account_id)
        .join(Transaction, Transaction.id == Entry.transaction_id)
        .where(Account.owner_type == "tenant", Account.tenant_id == tenant.id,
               Account.kind.in_(("earnings_pending", "earnings_available")),
               or_(Transaction.kind.in_(commissions.EARNING_KINDS),
                   and_(Transaction.kind == "plan_payment", Entry.amount > 0)))))


def _shown(tenant):
    days = {r.day: (r.orders, r.sales, r.cost, r.margin, r.earnings)
            for r in reports.daily(tenant, 7) if r.orders or r.sales}
    return days, reports.shop_balances(tenant).earned_total


def _recomputed_from(earner, seller_ids):
    """What ``earner`` earned on each seller's sales, straight from the shares."""
    with all_tenants():
        rows = db.session.execute(
            select(Commission.tenant_id, func.sum(CommissionShare.net))
            .join(CommissionShare, CommissionShare.commission_id == Commission.id)
            .where(CommissionShare.tenant_id == earner.id, CommissionShare.user_id.is_(None),
                   Commission.tenant_id.in_(seller_ids), Commission.status != "reversed")
            .group_by(Commission.tenant_id))
        return {tid: int(v) for tid, v in rows if int(v or 0)}


def _assert_same(c):
    today = utcnow().date()
    for earner in c.shops:   # the sub-shops page's "my earnings from it"
        below = [s.id for s in c.shops if s.path.startswith(earner.path)]
        assert rollup.earned_from(earner.id, below) == _recomputed_from(earner, below)
    master, s1, s2 = c.shops
    page = {r.tenant.id: r.my_earnings for r in openshop.subshop_rows(master)[0]}
    from_each = _recomputed_from(master, [s1.id, s2.id])
    assert page == {s1.id: from_each.get(s1.id, 0) + from_each.get(s2.id, 0),
                    s2.id: from_each.get(s2.id, 0)}
    for shop in c.shops:
        days, earned = _shown(shop)
        assert days == _recomputed_days(shop, today - timedelta(days=6), today)
        assert earned == _recomputed_earned(shop)
        # the home page's days (the shop's zone) hold the same orders
        board = dashboard.daily(shop, 7)
        assert sum(r.orders for r in board) == sum(v[0] for v in days.values())
        assert sum(r.earnings for r in board) == sum(v[4] for v in days.values())


@pytest.fixture
def sold(app):
    c = chain(depth=2)
    product = card_product(codes=20)
    fund(c.buyers[2], 100_000)
    c.orders = [deliver(c.shops[2], c.buyers[2], product, quantity=q) for q in (1, 2, 1)]
    commissions.mature_commissions(now=utcnow() + timedelta(days=10))
    c.orders.append(deliver(c.shops[2], c.buyers[2], product))
    c.product = product
    return c


def _age(hours: int) -> None:
    """The commissions so far were written ``hours`` earlier (the mark stays behind
    the clock: only an older commission can be rolled up)."""
    with all_tenants():
        for commission in db.session.scalars(select(Commission)):
            commission.created_at -= timedelta(hours=hours)
    db.session.commit()


def test_figures_equal_a_recomputation_before_and_after_the_job(sold):
    c = sold
    master = c.shops[0]
    before = _shown(master)
    assert before[0] and before[1] > 0
    _assert_same(c)                                     # no run yet: all live
    # a refund inside the hold, before the job ran
    orders.refund_order(c.orders[2], "refund", from_statuses=("delivered",))
    _assert_same(c)
    _age(2)
    done = rollup.roll_up()
    assert done["rolled_to"] is not None and done["entry_id"] > 0
    assert db.session.scalar(select(func.count()).select_from(CommissionRollup)) > 0
    _assert_same(c)
    # rolled up, then refunded after the hold (a clawback) and a new order: the live part
    orders.refund_order(c.orders[0], "refund", from_statuses=("delivered",))
    deliver(c.shops[2], c.buyers[2], c.product, quantity=3)
    _assert_same(c)
    assert _shown(master) != before
    rollup.roll_up()
    _assert_same(c)
    # a run past everything takes the correction in; once more changes nothing
    rollup.roll_up(now=utcnow() + timedelta(hours=1))
    _assert_same(c)
    rows = db.session.scalar(select(func.count()).select_from(CommissionRollup))
    totals = db.session.execute(select(SellerEarnedTotal.earner_id, SellerEarnedTotal.seller_id,
                                       SellerEarnedTotal.net)).all()
    assert totals and db.session.scalar(select(RollupMark.sellers_rolled_to)) is not None
    rollup.roll_up(now=utcnow() + timedelta(hours=1))
    assert db.session.scalar(select(func.count()).select_from(CommissionRollup)) == rows
    assert sorted(db.session.execute(select(SellerEarnedTotal.earner_id,
                                            SellerEarnedTotal.seller_id,
                                            SellerEarnedTotal.net)).all()) == sorted(totals)
    _assert_same(c)


def test_the_home_page_days_in_a_half_hour_zone(sold):
    shop = sold.shops[2]
    shop_settings.update_shop_settings(shop, time_zone="Asia/Kolkata")
    db.session.commit()
    _age(2)
    live = [(r.day, r.orders, r.sales, r.earnings) for r in dashboard.daily(shop, 7)]
    assert rollup.roll_up()["rolled_to"] is not None
    assert [(r.day, r.orders, r.sales, r.earnings) for r in dashboard.daily(shop, 7)] == live


def test_pages_after_a_run(sold, client_for):
    rollup.roll_up(now=utcnow() + timedelta(hours=1))
    master = client_for("master.localhost")
    login(master, "owner@master.test")
    for path in ("/admin/", "/admin/reports/tree", "/admin/earnings"):
        assert master.get(path).status_code == 200, path
