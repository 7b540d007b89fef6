"""A shop's view of its subtree's orders, the manual queue at the stock's owner, the CSV
export and the dashboard's figures — in English and Chinese, for the master's owner, a
depth-1 owner, a depth-2 owner and staff."""
from __future__ import annotations

import csv
import io
import re
from datetime import timedelta
from decimal import Decimal
from types import SimpleNamespace

import pytest
from sqlalchemy import select, update

from kameng.billing.commissions.models import Commission
from kameng.billing.wallets import wallet_balance
from kameng.core.extensions import db
from kameng.core.models import utcnow
from kameng.sales import oversight, services
from kameng.sales.dashboard import dashboard
from kameng.sales.models import Order
from kameng.shop.catalog import services as catalog
from kameng.shop.pricing import services as pricing
from kameng.tenants.services import create_tenant, create_user
from kameng.tenants.shop_settings import format_shop_time
from tests.billing.commissions.helpers import deliver
from tests.helpers import PASSWORD, login
from tests.orders.helpers import card_product, fund
from tests.orders.web_helpers import checkout, enable_balance, get_order, order_no_from, run_jobs

TEXT = {
    "en": {"orders": "Orders", "dashboard": "Dashboard", "today": "Today",
           "last7": "Last 7 days", "queue": "waiting for manual delivery",
           "readonly": "Waiting for manual delivery by the master shop",
           "below": "a shop below yours", "shop": "Shop", "stock": "Stock alerts",
           "withdrawals": "Withdrawals"},
    "zh_CN": {"orders": "订单", "dashboard": "概览", "today": "今天", "last7": "最近 7 天",
              "queue": "等待人工发货", "readonly": "等待总站人工发货",
              "below": "下级分站", "shop": "店铺", "stock": "库存预警",
              "withdrawals": "提现"},
}
LANGS = tuple(TEXT)
FIELDS = [{"name": "account", "label": "Game account", "type": "text", "required": True}]


def client(client_for, shop, email, lang="en"):
    c = client_for(f"{shop.slug}.localhost")
    assert login(c, email).status_code in (200, 302)
    c.get(f"/lang/{lang}")
    return c


def manual_product(sku="VIP-MONTH"):
    return catalog.create_product(sku=sku, name="VIP membership", kind="manual",
                                  supplier_cost=1000, wholesale_price=1500, retail_price=2000,
                                  fields=FIELDS)


def manual_order_on(app, shop, buyer, product, client_for, account="player-42"):
    """A manual order placed and paid through the shop's own pages; the job has run."""
    enable_balance(shop)
    fund(buyer, 100_000)
    c = client_for(f"{shop.slug}.localhost")
    login(c, buyer.email)
    order_no = order_no_from(checkout(c, product.sku, "balance", field_account=account))
    run_jobs(app)
    order = get_order(order_no)
    assert order.status == "fulfilling" and order.lines[0].status == "pending"
    return c, order


@pytest.fixture
def world(app, tree):
    """Delivered card orders at each shop, a staff user at each shop, a low-stock card
    product. Prices: the master sells at 900 to the star, which adds 100 (to its buyers and
    to the rocket alike); the rocket adds 50."""
    pricing.set_markup(tree.star, kind="fixed", value=100, wholesale=True)
    pricing.set_markup(tree.star, kind="fixed", value=100)
    pricing.set_markup(tree.rocket, kind="fixed", value=50)
    product = card_product(codes=12, low_stock_threshold=20)
    other = card_product(sku="GAME-200", codes=5)
    for buyer in (tree.master_customer, tree.star_customer, tree.rocket_customer):
        fund(buyer, 100_000)
    w = SimpleNamespace(tree=tree, product=product, other=other)
    w.master_order = deliver(tree.master, tree.master_customer, product)
    w.star_order = deliver(tree.star, tree.star_customer, product, quantity=2)
    w.star_other = deliver(tree.star, tree.star_customer, other)
    w.rocket_order = deliver(tree.rocket, tree.rocket_customer, product)
    w.staff = {t.slug: create_user(t, f"staff@{t.slug}.test", "staff", PASSWORD)
               for t in (tree.master, tree.star, tree.rocket)}
    db.session.commit()
    return w


def listed(page_text) -> set[str]:
    return set(re.findall(r'data-order="(K[0-9A-Z]+)"', page_text))


# ----- who sees which orders ------------------------------------------------------------

def test_each_shop_sees_its_subtree_and_never_above_or_beside(world, client_for):
    t, w = world.tree, world
    sibling = create_tenant("comet", "Comet Cards", "master")
    comet_buyer = create_user(sibling, "buyer@comet.test", "customer", PASSWORD)
    fund(comet_buyer, 10_000)
    comet_order = deliver(sibling, comet_buyer, w.product)
    everything = {o.order_no for o in (w.master_order, w.star_order, w.star_other,
                                        w.rocket_order, comet_order)}
    master = client(client_for, t.master, "owner@master.test")
    assert listed(master.get("/admin/orders").text) == everything
    star = client(client_for, t.star, "owner@star.test")
    assert listed(star.get("/admin/orders").text) == {
        w.star_order.order_no, w.star_other.order_no, w.rocket_order.order_no}
    rocket = client(client_for, t.rocket, "owner@rocket.test")
    assert listed(rocket.get("/admin/orders").text) == {w.rocket_order.order_no}
    # a parent's, a sibling's order: not found, whatever the filter says
    for order in (w.master_order, comet_order):
        assert star.get(f"/admin/orders/{order.order_no}").status_code == 404
    assert rocket.get(f"/admin/orders/{w.star_order.order_no}").status_code == 404
    assert listed(rocket.get(f"/admin/orders?shop={t.star.id}").text) == set()
    assert listed(star.get(f"/admin/orders?shop={t.master.id}").text) == set()
    # the shop column names shops, never ids
    page = master.get("/admin/orders").text
    assert "Rocket Topups" in page and "Star Cards" in page and "Comet Cards" in page


def test_an_ancestor_opens_a_subtree_order_read_only(world, client_for):
    t, w = world.tree, world
    master = client(client_for, t.master, "owner@master.test")
    page = master.get(f"/admin/orders/{w.rocket_order.order_no}")
    assert page.status_code == 200 and "Rocket Topups" in page.text
    assert "subtree-note" in page.text and "refund-form" not in page.text
    assert "goodwill-form" not in page.text
    # its own order keeps the refund button
    own = master.get(f"/admin/orders/{w.master_order.order_no}")
    assert 'class="card refund-form"' in own.text and "subtree-note" not in own.text
    # a POST at a sub-shop's order refunds nothing (the refund-request flow is the way)
    resp = master.post(f"/admin/orders/{w.rocket_order.order_no}/refund",
                       data={"reason": "no"})
    assert resp.status_code == 404
    assert get_order(w.rocket_order.order_no).status == "delivered"


# ----- filters and CSV --------------------------------------------------------------------

@pytest.mark.both
def test_filters_by_shop_status_product_date_and_contact(world, client_for):
    t, w = world.tree, world
    master = client(client_for, t.master, "owner@master.test")
    assert listed(master.get(f"/admin/orders?shop={t.star.id}").text) == {
        w.star_order.order_no, w.star_other.order_no}
    assert listed(master.get(f"/admin/orders?product={w.other.id}").text) == {
        w.star_other.order_no}
    assert listed(master.get("/admin/orders?status=refunded").text) == set()
    assert len(listed(master.get("/admin/orders?status=delivered").text)) == 4
    assert listed(master.get("/admin/orders?q=buyer@rocket").text) == {w.rocket_order.order_no}
    assert listed(master.get(f"/admin/orders?q={w.star_other.order_no.lower()}").text) == {
        w.star_other.order_no}
    # dates are the viewing shop's calendar days; move one order to 10 days ago
    db.session.execute(update(Order).where(Order.id == w.master_order.id)
                       .values(created_at=utcnow() - timedelta(days=10)))
    db.session.commit()
    today = format_shop_time(utcnow(), t.master, "%Y-%m-%d")
    old = format_shop_time(utcnow() - timedelta(days=10), t.master, "%Y-%m-%d")
    recent = listed(master.get(f"/admin/orders?from={today}&to={today}").text)
    assert w.master_order.order_no not in recent and len(recent) == 3
    assert listed(master.get(f"/admin/orders?from={old}&to={old}").text) == {
        w.master_order.order_no}
    assert listed(master.get(f"/admin/orders?to={old}").text) == {w.master_order.order_no}
    # nonsense is ignored, never a 500
    assert master.get("/admin/orders?from=yesterday&shop=abc&status=nope").status_code == 200


def test_the_shop_filter_is_a_search_by_slug_name_or_old_id(world, client_for):
    """The shop filter is a text field (a <select> of every shop did not scale): a slug,
    an exact name, or the id old links carry; never a shop outside the subtree."""
    t, w = world.tree, world
    star_orders = {w.star_order.order_no, w.star_other.order_no}
    master = client(client_for, t.master, "owner@master.test")
    page = master.get("/admin/orders").text
    assert 'id="shop" type="search" name="shop"' in page and '<select id="shop"' not in page
    for value in ("star", "STAR", "Star Cards", str(t.star.id)):
        found = master.get("/admin/orders", query_string={"shop": value}).text
        assert listed(found) == star_orders, value
        assert 'name="shop" value="star"' in found       # the field shows the slug
    more = master.get("/admin/orders.csv", query_string={"shop": "Star Cards"})
    assert {r["order"] for r in read_csv(more)} == star_orders
    # nobody, or several shops, by that name: no orders, and the field says why
    unknown = master.get("/admin/orders", query_string={"shop": "nobody"}).text
    assert listed(unknown) == set() and 'id="shop-problem"' in unknown
    create_tenant("star2", "Star Cards", "master")
    twice = master.get("/admin/orders", query_string={"shop": "Star Cards"}).text
    assert listed(twice) == set() and "Several shops have this name" in twice
    # a shop above or beside: not found from below
    star = client(client_for, t.star, "owner@star.test")
    for value in ("master", str(t.master.id), "star2"):
        assert listed(star.get("/admin/orders", query_string={"shop": value}).text) == set()
    assert listed(star.get("/admin/orders?shop=rocket").text) == {w.rocket_order.order_no}
    # a shop with no shop below it has neither the field nor the column
    rocket = client(client_for, t.rocket, "owner@rocket.test")
    assert 'id="shop"' not in rocket.get("/admin/orders").text


def test_pages_are_keyset_paginated_with_the_filters_kept(world, client_for, monkeypatch):
    t, w = world.tree, world
    from kameng.admin import orders as admin_orders

    monkeypatch.setattr(admin_orders, "PAGE", 2)
    master = client(client_for, t.master, "owner@master.test")
    first = master.get(f"/admin/orders?product={w.product.id}").text
    more = re.search(r'href="(/admin/orders\?[^"]*before=\d+[^"]*)"', first)
    assert more and f"product={w.product.id}" in more.group(1).replace("&amp;", "&")
    second = master.get(more.group(1).replace("&amp;", "&")).text
    assert len(listed(first)) == 2 and len(listed(second)) == 1
    assert listed(first) | listed(second) == {
        w.master_order.order_no, w.star_order.order_no, w.rocket_order.order_no}


def read_csv(resp) -> list[dict]:
    assert resp.status_code == 200 and resp.mimetype == "text/csv"
    raw = resp.get_data()
    assert raw.startswith("\ufeff".encode())       # Excel reads the UTF-8 then
    return list(csv.DictReader(io.StringIO(raw.decode("utf-8-sig"))))


@pytest.mark.both
def test_csv_export_of_the_filtered_list(world, client_for, monkeypatch):
    t, w = world.tree, world
    db.session.execute(update(Order).where(Order.id == w.star_order.id)
                       .values(contact="=HYPERLINK(\"x\") 张三"))
    db.session.commit()
    master = client(client_for, t.master, "owner@master.test")
    rows = read_csv(master.get(f"/admin/orders.csv?shop={t.star.id}"))
    assert {r["order"] for r in rows} == {w.star_order.order_no, w.star_other.order_no}
    row = next(r for r in rows if r["order"] == w.star_order.order_no)
    star_order = get_order(w.star_order.order_no)
    assert row["shop"] == "Star Cards"
    assert Decimal(row["amount"]) == Decimal(star_order.amount) / 100
    assert row["currency"] == "CNY" and row["status"] == "delivered"
    assert row["contact"] == "'=HYPERLINK(\"x\") 张三"   # neutralised, Chinese intact
    assert row["placed"] == format_shop_time(star_order.created_at, t.master,
                                             "%Y-%m-%d %H:%M:%S")
    assert "Card GAME-100 x 2" in row["items"]
    everything = read_csv(master.get("/admin/orders.csv"))
    assert len(everything) == 4
    monkeypatch.setattr(oversight, "BATCH", 3)     # streamed in batches: the same rows
    assert read_csv(master.get("/admin/orders.csv")) == everything
    monkeypatch.setattr(oversight, "BATCH", 2)
    assert read_csv(master.get("/admin/orders.csv")) == everything
    # a sub-shop's export holds its subtree only; staff do not export
    star = client(client_for, t.star, "owner@star.test")
    assert {r["order"] for r in read_csv(star.get("/admin/orders.csv"))} == {
        w.star_order.order_no, w.star_other.order_no, w.rocket_order.order_no}
    rocket = client(client_for, t.rocket, "owner@rocket.test")
    assert {r["order"] for r in read_csv(rocket.get("/admin/orders.csv"))} == {
        w.rocket_order.order_no}
    staff = client(client_for, t.star, "staff@star.test")
    assert staff.get("/admin/orders.csv").status_code == 403


def test_csv_times_follow_the_shop_time_zone(world, client_for):
    t, w = world.tree, world
    from kameng.tenants.shop_settings import update_shop_settings

    update_shop_settings(t.rocket, time_zone="America/New_York")
    rocket = client(client_for, t.rocket, "owner@rocket.test")
    row = read_csv(rocket.get("/admin/orders.csv"))[0]
    order = get_order(w.rocket_order.order_no)
    assert row["placed"] == format_shop_time(order.created_at, t.rocket, "%Y-%m-%d %H:%M:%S")
    assert row["placed"] != format_shop_time(order.created_at, t.master, "%Y-%m-%d %H:%M:%S")


# ----- the manual queue ---------------------------------------------------------------------

@pytest.mark.app_config(SMTP_URL="smtp://127.0.0.1:9")
def test_a_depth2_manual_order_is_delivered_by_the_master(app, tree, client_for):
    product = manual_product()
    buyer, order = manual_order_on(app, tree.rocket, tree.rocket_customer, product, client_for)
    line = order.lines[0]
    deliver_url = f"/admin/orders/{order.order_no}/lines/{line.id}/deliver"
    # the reseller chain sees the status, read-only, and may not deliver
    for shop, email in ((tree.rocket, "owner@rocket.test"), (tree.star, "owner@star.test")):
        c = client(client_for, shop, email)
        queue = c.get("/admin/orders?status=queue").text
        assert order.order_no in queue
        detail = c.get(f"/admin/orders/{order.order_no}").text
        assert "manual-readonly" in detail and 'class="manual-form"' not in detail
        assert "manual-fail-form" not in detail
        assert c.post(deliver_url, data={"codes": "X"}).status_code == 403
        assert c.post(f"/admin/orders/{order.order_no}/lines/{line.id}/fail",
                      data={"reason": "x"}).status_code == 403
    # the master's staff: the queue with the buyer's fields, the badge agreeing
    staff_user = create_user(tree.master, "staff@master.test", "staff", PASSWORD)
    staff = client(client_for, tree.master, staff_user.email)
    queue = staff.get("/admin/orders?status=queue").text
    assert listed(queue) == {order.order_no} and "Rocket Topups" in queue
    assert "account: player-42" in queue   # the buyer's fields, in the list
    badge = re.search(r'data-nav-count="(\d+)"', queue)
    assert badge and int(badge.group(1)) == 1 == oversight.manual_queue_count(tree.master)
    assert 'data-queue-count="1"' in queue
    detail = staff.get(f"/admin/orders/{order.order_no}").text
    assert 'class="manual-form"' in detail and "player-42" in detail
    resp = staff.post(deliver_url, data={"codes": "VIP-CODE-1"})
    assert resp.status_code == 302
    done = get_order(order.order_no)
    assert done.status == "delivered" and services.order_codes(done) == ["VIP-CODE-1"]
    # the buyer sees it on the rocket's site
    page = buyer.get(f"/o/{order.order_no}")
    assert re.findall(r'<code class="code">([^<]+)</code>', page.text) == ["VIP-CODE-1"]
    # the queue and the badge are empty again
    queue = staff.get("/admin/orders?status=queue").text
    assert listed(queue) == set() and "data-nav-count" not in queue
    # the chain earned on the delivery
    with_commission = db.session.scalar(select(Commission).where(
        Commission.order_id == done.id).execution_options(all_tenants=True))
    assert with_commission is not None and with_commission.tenant_id == tree.rocket.id


def test_the_master_fails_a_manual_order_and_the_buyer_is_refunded(app, tree, client_for):
    product = manual_product()
    _, order = manual_order_on(app, tree.rocket, tree.rocket_customer, product, client_for)
    before = wallet_balance(tree.rocket_customer)
    master = client(client_for, tree.master, "owner@master.test")
    url = f"/admin/orders/{order.order_no}/lines/{order.lines[0].id}/fail"
    assert master.post(url, data={"reason": ""}).status_code == 422
    resp = master.post(url, data={"reason": "account banned"})
    assert resp.status_code == 302
    failed = get_order(order.order_no)
    assert failed.status == "refunded" and failed.failure_reason == "account banned"
    assert wallet_balance(tree.rocket_customer) == before + order.amount
    assert oversight.manual_queue_count(tree.master) == 0


# ----- the dashboard ------------------------------------------------------------------------

def figures(text) -> dict[int, dict[str, int]]:
    out = {}
    for days, body in re.findall(r'data-period="(\d+)">(.*?)</div>\s*</div>', text, re.S):
        out[int(days)] = {k: int(v) for k, v in
                          re.findall(r'data-(sales|orders|earnings)="(-?\d+)"', body)}
    return out


@pytest.mark.both
def test_dashboard_figures_match_known_orders(world, client_for):
    t, w = world.tree, world
    star_today = [get_order(o.order_no) for o in (w.star_order, w.star_other)]
    # one more star order, delivered 3 days ago (in the shop's days): in 7 and 30, not today
    older = deliver(t.star, t.star_customer, w.product)
    db.session.execute(update(Commission).where(Commission.order_id == older.id)
                       .values(created_at=utcnow() - timedelta(days=3))
                       .execution_options(all_tenants=True))
    # and one 40 days ago: in none
    oldest = deliver(t.star, t.star_customer, w.product)
    db.session.execute(update(Commission).where(Commission.order_id == oldest.id)
                       .values(created_at=utcnow() - timedelta(days=40))
                       .execution_options(all_tenants=True))
    db.session.commit()
    board = dashboard(t.star, owner=True)
    today, week, month = board.periods
    # today: its two orders (1000 × 2 and 1000, margins 200 and 100) and the rocket's,
    # which the star sold to the rocket at 1000 (margin 100)
    assert sum(o.amount for o in star_today) == 3000
    assert (today.orders, today.sales, today.earnings) == (3, 4000, 400)
    assert (week.orders, week.sales, week.earnings) == (4, 5000, 500)
    assert (month.orders, month.sales, month.earnings) == (4, 5000, 500)
    assert sum(r.sales for r in board.days) == month.sales and len(board.days) == 30
    # the page shows the same numbers
    page = client(client_for, t.star, "owner@star.test").get("/admin/")
    shown = figures(page.text)
    assert shown[1] == {"sales": 4000, "orders": 3, "earnings": 400}
    assert shown[7] == shown[30] == {"sales": 5000, "orders": 4, "earnings": 500}
    assert "<svg" in page.text and page.text.count("<rect") == 30
    # the master sold to the star at its price: its own figures count its shares
    master_board = dashboard(t.master, owner=True)
    # every delivered order of the tree but the one 40 days old
    assert master_board.periods[2].orders == 5
    assert master_board.stock_alerts and master_board.owns_stock
    assert not board.owns_stock and board.stock_alerts == []


@pytest.mark.both
def test_dashboard_days_are_the_shop_calendar_days(world):
    """Asia/Shanghai is UTC+8: 15:30 UTC is 23:30 there, 16:30 UTC is 00:30 the next day."""
    t, w = world.tree, world
    from datetime import UTC, datetime

    now = datetime(2026, 11, 20, 4, 0, tzinfo=UTC)            # 12:00 on the 20th there
    late = deliver(t.star, t.star_customer, w.product)        # 23:30 on the 19th there
    early = deliver(t.star, t.star_customer, w.product)       # 00:30 on the 20th there
    for order, at in ((late, datetime(2026, 11, 19, 15, 30, tzinfo=UTC)),
                      (early, datetime(2026, 11, 19, 16, 30, tzinfo=UTC))):
        db.session.execute(update(Commission).where(Commission.order_id == order.id)
                           .values(created_at=at).execution_options(all_tenants=True))
    db.session.commit()
    today, week, _ = dashboard(t.star, owner=True, now=now).periods
    assert (today.orders, today.sales) == (1, 1000)
    assert (week.orders, week.sales) == (2, 2000)
    from kameng.tenants.shop_settings import update_shop_settings

    update_shop_settings(t.star, time_zone="UTC")             # both on the 19th in UTC
    today, week, _ = dashboard(db.session.get(type(t.star), t.star.id), owner=True,
                               now=now).periods
    assert today.orders == 0 and week.orders == 2


@pytest.mark.both
def test_dashboard_counts_withdrawals_and_manual_orders(app, tree, client_for):
    product = manual_product()
    manual_order_on(app, tree.rocket, tree.rocket_customer, product, client_for)
    assert dashboard(tree.master, owner=True).manual_waiting == 1
    assert dashboard(tree.star, owner=True).manual_waiting == 1
    assert dashboard(tree.rocket, owner=True).manual_waiting == 1
    master_page = client(client_for, tree.master, "owner@master.test").get("/admin/").text
    assert 'data-manual-waiting="1"' in master_page and "manual-oldest" in master_page
    assert "Rocket Topups" in master_page


# ----- every page, both languages, every role -------------------------------------------

ROLES = (("master", "owner"), ("star", "owner"), ("rocket", "owner"),
         ("master", "staff"), ("star", "staff"), ("rocket", "staff"))


@pytest.mark.parametrize("lang", LANGS)
@pytest.mark.parametrize("slug, role", ROLES)
def test_pages_in_both_languages_for_every_role(world, client_for, lang, slug, role):
    t, w, words = world.tree, world, TEXT[lang]
    shop = getattr(t, slug)
    c = client(client_for, shop, f"{role}@{slug}.test", lang)
    home = c.get("/admin/")
    assert home.status_code == 200
    assert words["today"] in home.text and words["last7"] in home.text
    assert (words["stock"] in home.text) == (slug == "master")
    # a staff account here is a manager: it handles withdrawals too (admin/permissions.py)
    assert words["withdrawals"] in home.text
    listing = c.get("/admin/orders")
    assert listing.status_code == 200 and words["orders"] in listing.text
    own = {"master": w.master_order, "star": w.star_order, "rocket": w.rocket_order}[slug]
    assert own.order_no in listing.text
    detail = c.get(f"/admin/orders/{own.order_no}")
    assert detail.status_code == 200 and words["shop"] in detail.text
    if slug != "rocket":
        below = c.get(f"/admin/orders/{w.rocket_order.order_no}")
        assert below.status_code == 200 and words["below"] in below.text
    assert c.get("/admin/orders?status=queue").status_code == 200
    csv_resp = c.get("/admin/orders.csv")
    assert csv_resp.status_code == (200 if role == "owner" else 403)
    if lang == "zh_CN":
        assert 'lang="zh-CN"' in home.text


@pytest.mark.both
def test_dashboard_counts_withdrawals_to_decide_and_in_progress(world, client_for):
    t = world.tree
    from kameng.billing.commissions import services as commissions
    from kameng.billing.withdrawals import services as withdrawals

    commissions.mature_commissions(now=utcnow() + timedelta(days=30))
    method = withdrawals.add_payout_method(t.star, "stripe_connect", "acct_1Kameng123")
    withdrawals.request_withdrawal(t.star, t.star_owner, method.id, 200)
    db.session.commit()
    master, star = dashboard(t.master, owner=True), dashboard(t.star, owner=True)
    assert (master.to_approve, master.own_pending) == (1, 0)
    assert (star.to_approve, star.own_pending) == (0, 1)
    page = client(client_for, t.master, "owner@master.test").get("/admin/").text
    assert 'data-to-approve="1"' in page
    page = client(client_for, t.star, "owner@star.test").get("/admin/").text
    assert 'data-own-pending="1"' in page and 'data-to-approve="0"' in page
    staff = client(client_for, t.master, "staff@master.test").get("/admin/").text
    assert "data-to-approve" not in staff   # withdrawals are the owner's


def test_a_page_and_its_nav_badge_count_the_manual_queue_once(app, tree, client_for):
    from sqlalchemy import event

    product = manual_product()
    manual_order_on(app, tree.rocket, tree.rocket_customer, product, client_for)
    staff = client(client_for, tree.master, "owner@master.test")
    counted = []

    def note(_conn, _cursor, statement, *_args):
        if statement.lstrip().upper().startswith("SELECT COUNT(*)") \
                and "order_lines.kind" in statement:
            counted.append(statement)

    event.listen(db.engine, "before_cursor_execute", note)
    try:
        for path, shown in (("/admin/orders", 'data-queue-count="1"'),
                            ("/admin/", 'data-manual-waiting="1"')):
            counted.clear()
            page = staff.get(path).text
            assert shown in page
            assert re.search(r'data-nav-count="1"', page)
            assert len(counted) == 1, path
    finally:
        event.remove(db.engine, "before_cursor_execute", note)
