"""Reports: balances CLI, per-day numbers and chart, statement CSV, back-office pages."""
from __future__ import annotations

import json
import re
from datetime import timedelta

import pytest

from kameng.billing import reports
from kameng.billing.commissions import services as commissions
from kameng.billing.plans import services as plans
from kameng.billing.withdrawals import services as withdrawals
from kameng.core.extensions import db
from kameng.core.models import utcnow
from kameng.sales import services as orders
from kameng.tenants.models import Tenant
from tests.billing.commissions.helpers import card_product, chain, deliver, fund
from tests.helpers import login

pytestmark = pytest.mark.both


@pytest.fixture
def sold(app):
    c = chain(depth=2)
    product = card_product(codes=10)
    fund(c.buyers[2], 100_000)
    first = deliver(c.shops[2], c.buyers[2], product, quantity=2)
    commissions.mature_commissions(now=utcnow() + timedelta(days=10))
    second = deliver(c.shops[2], c.buyers[2], product)
    c.orders = [first, second]
    return c


def test_ledger_balances_json(sold, cli):
    result = cli("ledger", "balances", "--json")
    assert result.exit_code == 0, result.output
    rows = {r["slug"]: r for r in json.loads(result.output)}
    assert rows["s2"] == {"slug": "s2", "currency": "CNY", "pending": 200,
                          "available": 400, "withdrawal_hold": 0, "earned_total": 600}
    assert rows["s1"]["pending"] == 100 and rows["s1"]["available"] == 200
    assert rows["master"]["earned_total"] == 300
    one = cli("ledger", "balances", "--tenant", "s1", "--json")
    assert [r["slug"] for r in json.loads(one.output)] == ["s1"]
    text = cli("ledger", "balances")
    assert text.exit_code == 0 and "s2" in text.output and "¥6.00" in text.output
    missing = cli("ledger", "balances", "--tenant", "nope")
    assert missing.exit_code != 0 and "Error" in missing.output + (missing.stderr or "")


def test_daily_numbers_chart_and_statement(sold):
    s2 = sold.shops[2]
    today = reports.daily(s2, 7)[-1]
    assert (today.orders, today.sales, today.cost, today.margin, today.earnings) == (
        2, 3 * 1200, 3 * 1000, 600, 600)
    chart = reports.chart(reports.daily(s2, 7), "CNY")
    assert len(chart.bars) == 7 and chart.points.count(",") == 7
    assert chart.top_label.endswith("36.00") and chart.bars[-1].title.endswith(chart.top_label)
    orders.refund_order(sold.orders[1], "refund", from_statuses=("delivered",))
    assert reports.daily(s2, 7)[-1].sales == 2 * 1200
    rows = reports.statement(s2)
    assert rows[0].kind == "commission_reversal" and rows[0].reference == sold.orders[1].order_no
    body = reports.statement_csv(s2)
    assert body.splitlines()[0].startswith("entry,time_utc,account,kind")
    assert sold.orders[0].order_no in body and "-2.00" in body


def test_the_statement_is_newest_first_across_the_shops_accounts(sold):
    """A limited statement is the head of the whole one, whichever accounts the
    postings are on, and ``before_id`` continues it."""
    s2 = sold.shops[2]
    orders.refund_order(sold.orders[1], "refund", from_statuses=("delivered",))
    everything = reports.statement(s2, limit=None)
    assert len({row.account for row in everything}) >= 2 and len(everything) >= 4
    assert [r.entry_id for r in everything] == sorted((r.entry_id for r in everything),
                                                      reverse=True)
    head = reports.statement(s2, limit=3)
    assert [r.entry_id for r in head] == [r.entry_id for r in everything[:3]]
    rest = reports.statement(s2, limit=100, before_id=head[-1].entry_id)
    assert [r.entry_id for r in head + rest] == [r.entry_id for r in everything]
    assert reports.statement(s2, limit=5, before_id=everything[-1].entry_id) == []


def test_back_office_pages(sold, client_for):
    s2_client = client_for("s2.localhost")
    login(s2_client, "owner@s2.test")
    page = s2_client.get("/admin/earnings")
    assert page.status_code == 200 and "<svg" in page.text and "¥4.00" in page.text
    assert "<polyline" in page.text
    csv_resp = s2_client.get("/admin/earnings/statement.csv")
    assert csv_resp.status_code == 200 and csv_resp.mimetype == "text/csv"
    assert s2_client.get("/admin/reports/tree").status_code == 403
    resp = s2_client.post("/admin/withdrawals/methods", data={
        "kind": "alipay", "account": "13800138000", "holder": "张三"})
    assert resp.status_code == 302
    method = withdrawals.payout_methods(sold.shops[2])[0]
    resp = s2_client.post("/admin/withdrawals/request", data={"amount": "3.00",
                                                              "method": method.id})
    assert resp.status_code == 302
    too_much = s2_client.post("/admin/withdrawals/request", data={"amount": "3.00",
                                                                  "method": method.id})
    assert too_much.status_code == 402
    assert s2_client.get("/admin/withdrawals").status_code == 200
    assert s2_client.get("/admin/plans").status_code == 200

    master = client_for("master.localhost")
    login(master, "owner@master.test")
    tree = master.get("/admin/reports/tree")
    assert tree.status_code == 200 and "s2" in tree.text
    review = master.get("/admin/withdrawals")
    assert review.status_code == 200 and "¥3.00" in review.text
    [w] = withdrawals.reviewable(sold.master)
    shop = db.session.get(Tenant, w.tenant_id)
    # the review list names the shop, never shows its id
    assert f"<td>W{w.id}</td><td>{shop.name}</td>" in review.text
    assert master.post(f"/admin/withdrawals/{w.id}/approve").status_code == 302
    assert master.post(f"/admin/withdrawals/{w.id}/pay",
                       data={"reference": "SLIP-1"}).status_code == 302
    assert withdrawals.get_withdrawal(w.id).status == "paid"
    assert master.post("/admin/plans/create", data={
        "code": "basic", "name": "普及版", "price": "30.00", "interval": "month"}
    ).status_code == 302
    assert plans.plans_of(sold.master)[0].price == 3000
    settings_page = master.post("/admin/earnings/settings", data={
        "promoter_percent": "5", "hold_days": "7", "withdraw_min": "100",
        "withdraw_fee_fixed": "0", "withdraw_fee_percent": "1", "withdraw_approver": "parent",
        "plan_grace_days": "5", "fee_stripe_percent": "2.9", "fee_stripe_fixed": "0.30",
        "fee_stripe_payer": "master"})
    assert settings_page.status_code == 302
    from kameng.billing.commissions import settings as billing_settings

    assert billing_settings.hold_days() == 7
    assert billing_settings.fee_rule("stripe") == {"bp": 290, "fixed": 30, "payer": "master"}


def test_the_tree_report_is_paginated_in_tree_order(sold, client_for, monkeypatch):
    monkeypatch.setattr(reports, "TREE_PAGE", 2)
    master = client_for("master.localhost")
    login(master, "owner@master.test")
    shops = list(db.session.scalars(db.select(Tenant).order_by(Tenant.path)))
    seen, url = [], "/admin/reports/tree"
    for _ in range(len(shops)):
        page = master.get(url)
        assert page.status_code == 200
        rows = re.findall(r'<tr data-shop="([^"]+)">', page.text)
        assert 0 < len(rows) <= 2
        seen += rows
        more = re.search(r'href="([^"]+)" rel="next"', page.text)
        if not more:
            break
        url = more.group(1).replace("&amp;", "&")
    assert seen == [s.slug for s in shops]
    # every page's sums are its shops' own: the same as the whole tree's
    whole = {b.slug: b for b in reports.tree()}
    for after in (None, shops[1].path):
        rows, _ = reports.tree_page(after)
        assert all(whole[r.slug] == r for r in rows)
    assert master.get("/admin/reports/tree?after=%00%27<x>").status_code == 200
