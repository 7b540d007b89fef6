"""Funded accounts (预存款), as a sub-shop owner meets them: its own 易支付 gateway,
a signed notice, the back office's forms, and the ledger check.

No code leaves stock unless the price of everything above the selling shop has
been paid, from real (platform-collected) or funded money.
"""
from __future__ import annotations

import re
from datetime import timedelta

import pytest
import requests
from sqlalchemy import func, select

from kameng.billing.commissions.models import Commission, CommissionShare
from kameng.billing.funding import services as funding
from kameng.billing.ledger import services as ledger
from kameng.billing.ledger.models import Account, Entry, Transaction
from kameng.billing.payments.base import PaymentNotice
from kameng.core.extensions import db
from kameng.core.models import utcnow
from kameng.core.scoping import all_tenants
from kameng.sales import services as orders
from kameng.shop.pricing import services as pricing
from kameng.shop.stock.models import CardCode
from tests.fakes.epay_gateway import epay_gateway, live_server  # noqa: F401  (fixture)
from tests.fakes.smtp import smtp  # noqa: F401  (fixture)
from tests.helpers import login
from tests.orders.helpers import card_product
from tests.orders.web_helpers import (
    GUEST,
    checkout,
    enable_epay,
    get_order,
    html_form,
    order_no_from,
    run_jobs,
)


@pytest.fixture(autouse=True)
def star_margin(tree):
    """Star sells ¥2.00 above its cost: the margin it keeps of what it collects itself."""
    pricing.set_markup(tree.star, kind="fixed", value=200)


def _signed_in(client_for, host, email, lang="en"):
    client = client_for(host)
    client.get(f"/lang/{lang}")
    assert login(client, email).status_code == 302
    return client


def _token(body: str) -> str:
    return re.search(r'name="token" type="hidden" value="([^"]+)"', body).group(1)


def _major(minor: int) -> str:
    return f"{minor // 100}.{minor % 100:02d}"


def _codes(line_id, status) -> int:
    return db.session.scalar(select(func.count()).select_from(CardCode).where(
        CardCode.order_line_id == line_id, CardCode.status == status))


def _sold(product_id) -> int:
    return db.session.scalar(select(func.count()).select_from(CardCode).where(
        CardCode.product_id == product_id, CardCode.status == "sold"))


def _clearing_for(order_no: str, kind: str = "sales_clearing") -> int:
    """What the order's postings left on a platform account (0: it nets out)."""
    return int(db.session.scalar(
        select(func.coalesce(func.sum(Entry.amount), 0))
        .join(Transaction, Transaction.id == Entry.transaction_id)
        .join(Account, Account.id == Entry.account_id)
        .where(Transaction.reference == order_no, Account.owner_type == "platform",
               Account.kind == kind)))


def _platform_balance(kind: str) -> int:
    return int(db.session.scalar(select(func.coalesce(func.sum(Account.balance), 0)).where(
        Account.owner_type == "platform", Account.kind == kind)))


def _due(order) -> int:
    """The parent's price of the order (no promoter here): the seller's unit cost × qty."""
    line = order.lines[0]
    return line.chain[-1]["cost"] * line.quantity


def _pay_on_own_gateway(client, gateway, sku, quantity=2) -> str:
    """A guest buys on the shop's storefront and pays at the shop's own gateway,
    which sends its signed notice to the shop's notify URL."""
    order_no = order_no_from(checkout(client, sku, "epay:alipay", quantity=quantity, **GUEST))
    page = client.get(f"/o/{order_no}/pay?method=epay:alipay")
    form = html_form(page.text, "epay-form")
    requests.post(form["action"], data=form["fields"], timeout=10).raise_for_status()
    db.session.commit()
    [result] = gateway.pay(order_no)
    assert (result.status, result.body) == (200, "success")
    return order_no


@pytest.mark.both
def test_an_own_gateway_order_waits_for_funds_and_is_filled_once_funded(
        app, tree, client_for, epay_gateway):
    product = card_product(codes=5)
    enable_epay(tree.star, epay_gateway, funds=0)
    server = live_server(app)
    try:
        buyer = client_for(f"star.localhost:{server.port}")
        order_no = _pay_on_own_gateway(buyer, epay_gateway, product.sku)
    finally:
        server.close()

    order = get_order(order_no)
    due = _due(order)
    assert 0 < due < order.amount
    assert order.status == "awaiting_funds"
    assert order.collected_by_tenant_id == tree.star.id and order.funded_amount == due
    # the platform booked nothing: no payment posting, its epay clearing untouched
    assert ledger.transaction_by_key(f"order:{order_no}:pay") is None
    assert _platform_balance("clearing_epay") == 0
    line_id = order.lines[0].id

    # nothing leaves stock, however often the worker and the sweeps run
    run_jobs(app)
    later = utcnow() + timedelta(days=2)
    orders.expire_orders(now=later)
    db.session.commit()
    assert get_order(order_no).status == "awaiting_funds"
    assert _codes(line_id, "reserved") == 2 and _sold(product.id) == 0

    # the buyer sees the payment arrived and the order waiting for the shop
    page = buyer.get(f"/o/{order_no}")
    assert 'data-waiting="funds"' in page.text and "CODE-" not in page.text

    # the owner sees it in its back office, in both languages
    for lang in ("en", "zh_CN"):
        owner = _signed_in(client_for, "star.localhost", "owner@star.test", lang)
        assert 'id="awaiting-funds"' in owner.get("/admin/orders").text
        body = owner.get("/admin/funding").text
        assert 'id="awaiting-funds"' in body and order_no in body

    # the master funds star through its back office: one fen short first
    master = _signed_in(client_for, "master.localhost", "owner@master.test")
    url = f"/admin/funding/shops/{tree.star.id}"
    form = {"amount": _major(due - 1), "note": "bank transfer",
            "token": _token(master.get(url).text)}
    assert master.post(url, data=form).status_code == 302
    run_jobs(app)
    assert get_order(order_no).status == "awaiting_funds" and _sold(product.id) == 0

    form = {"amount": "0.01", "note": "", "token": _token(master.get(url).text)}
    assert master.post(url, data=form).status_code == 302
    run_jobs(app)
    order = get_order(order_no)
    assert order.status == "delivered" and _sold(product.id) == 2
    assert funding.funded_balance(tree.star) == 0

    # the money: funded → sales_clearing → the chain above star; star gets nothing
    # more (it holds its margin already), no payment fee; sales_clearing nets to zero
    kinds = sorted(db.session.scalars(select(Transaction.kind)
                                      .where(Transaction.reference == order_no)))
    assert kinds == ["commission", "order_funding"]
    assert _clearing_for(order_no) == 0
    with all_tenants():
        commission = db.session.scalar(select(Commission).where(
            Commission.order_no == order_no))
        star_share = db.session.scalar(select(CommissionShare).where(
            CommissionShare.commission_id == commission.id,
            CommissionShare.tenant_id == tree.star.id, CommissionShare.user_id.is_(None)))
    assert commission.fee == 0 and star_share.net == 0
    assert _platform_balance("clearing_epay") == 0
    assert _platform_balance("clearing_manual") == -due
    assert ledger.check_ledger().ok


@pytest.mark.both
def test_a_funded_shop_pays_at_once_and_a_refund_gives_the_funds_back(app, tree):
    product = card_product(codes=5)
    funding.fund_shop(tree.master, tree.star, 100_00)
    placed = orders.place_order(tree.star, sku=product.sku, quantity=2,
                                payment_method="epay", **GUEST)
    order = placed.order
    assert orders.record_payment(tree.star, PaymentNotice(
        "epay", order.order_no, order.amount, "CNY", "T-1", True))
    order = get_order(order.order_no)
    due = _due(order)
    assert order.status == "paid" and order.funded_amount == due
    assert funding.funded_balance(tree.star) == 100_00 - due
    run_jobs(app)
    order = get_order(order.order_no)
    assert order.status == "delivered" and _clearing_for(order.order_no) == 0
    star_earnings = ledger.shop_account(tree.star, "earnings_pending")
    assert ledger.balance_of(star_earnings) == 0
    assert ledger.check_ledger().ok

    # a refund reverses the funding: the parent's price goes back to the shop
    with all_tenants():
        assert orders.refund_order(get_order(order.order_no), "test",
                                   from_statuses=("delivered",))
    db.session.commit()
    assert funding.funded_balance(tree.star) == 100_00
    assert ledger.transaction_by_key(f"order:{order.order_no}:refund").kind == \
        "order_funding_refund"
    assert _clearing_for(order.order_no) == 0
    assert ledger.check_ledger().ok


@pytest.mark.both
def test_waiting_orders_are_filled_oldest_first_and_never_overdraw(app, tree):
    product = card_product(codes=10)
    numbers = []
    for ref in ("T-1", "T-2"):
        order = orders.place_order(tree.star, sku=product.sku, quantity=2,
                                   payment_method="epay", **GUEST).order
        assert orders.record_payment(tree.star, PaymentNotice(
            "epay", order.order_no, order.amount, "CNY", ref, True))
        numbers.append(order.order_no)
    first, second = (get_order(n) for n in numbers)
    assert first.status == second.status == "awaiting_funds"
    due = first.funded_amount

    # enough for one and a half: the oldest is filled, the other keeps waiting
    funding.fund_shop(tree.master, tree.star, due + due // 2)
    run_jobs(app)
    assert get_order(numbers[0]).status == "delivered"
    assert get_order(numbers[1]).status == "awaiting_funds"
    assert funding.funded_balance(tree.star) == due // 2
    assert _sold(product.id) == 2

    # the sweep's safety net fills it once money arrives, even without the job
    funding.fund_shop(tree.master, tree.star, due)
    from kameng.sales.funding import fill_all_waiting

    assert fill_all_waiting() == 1
    run_jobs(app)
    assert get_order(numbers[1]).status == "delivered"
    assert funding.funded_balance(tree.star) == due // 2
    assert ledger.check_ledger().ok


@pytest.mark.both
def test_earnings_move_into_the_funded_account_guarded(app, tree, client_for):
    revenue = ledger.platform_account("revenue", "CNY")
    ledger.post("test:earnings", "test_setup",
                [(revenue, -500), (ledger.shop_account(tree.star, "earnings_available"), 500)])
    owner = _signed_in(client_for, "star.localhost", "owner@star.test")
    page = owner.get("/admin/funding")
    assert page.status_code == 200
    token = _token(page.text)
    refused = owner.post("/admin/funding/from-earnings",
                         data={"amount": "5.01", "token": token})
    assert refused.status_code == 422 and "not enough" in refused.text
    assert funding.funded_balance(tree.star) == 0
    form = {"amount": "5.00", "token": token}
    assert owner.post("/admin/funding/from-earnings", data=form).status_code == 302
    assert owner.post("/admin/funding/from-earnings", data=form).status_code == 302  # twice
    assert funding.funded_balance(tree.star) == 500
    assert ledger.balance_of(ledger.shop_account(tree.star, "earnings_available")) == 0
    assert "funding_from_earnings" in owner.get("/admin/funding").text
    # the master has no funded account of its own
    master = _signed_in(client_for, "master.localhost", "owner@master.test")
    assert master.post("/admin/funding/from-earnings",
                       data={"amount": "1", "token": token}).status_code == 404
    assert ledger.check_ledger().ok


@pytest.mark.both
def test_a_parent_below_the_master_funds_its_sub_shop_from_its_own_money(
        app, tree, client_for):
    star = _signed_in(client_for, "star.localhost", "owner@star.test")
    url = f"/admin/funding/shops/{tree.rocket.id}"
    token = _token(star.get(url).text)
    refused = star.post(url, data={"amount": "1.00", "source": "funded", "token": token})
    assert refused.status_code == 422 and funding.funded_balance(tree.rocket) == 0
    refused = star.post(url, data={"amount": "1.00", "source": "earnings", "token": token})
    assert refused.status_code == 422

    funding.fund_shop(tree.master, tree.star, 10_00)
    assert star.post(url, data={"amount": "4.00", "source": "funded",
                                "token": token}).status_code == 302
    assert funding.funded_balance(tree.star) == 6_00
    assert funding.funded_balance(tree.rocket) == 4_00
    # the parent sees its sub-shop's funds
    assert "¥4.00" in star.get("/admin/funding").text

    # only a direct sub-shop, only by its parent
    assert star.get(f"/admin/funding/shops/{tree.master.id}").status_code == 404
    assert star.get(f"/admin/funding/shops/{tree.star.id}").status_code == 404
    rocket = _signed_in(client_for, "rocket.localhost", "owner@rocket.test")
    assert rocket.get(f"/admin/funding/shops/{tree.star.id}").status_code == 404
    assert rocket.post(f"/admin/funding/shops/{tree.star.id}",
                       data={"amount": "1.00", "token": "t" * 24}).status_code == 404
    master = _signed_in(client_for, "master.localhost", "owner@master.test")
    assert master.get(f"/admin/funding/shops/{tree.rocket.id}").status_code == 404
    buyer = _signed_in(client_for, "star.localhost", "buyer@star.test")
    assert buyer.get("/admin/funding").status_code == 403
    assert ledger.check_ledger().ok


def test_pages_in_both_languages(app, tree, client_for):
    funding.fund_shop(tree.master, tree.star, 10_00)
    for lang in ("en", "zh_CN"):
        for host, email in (("master.localhost", "owner@master.test"),
                            ("star.localhost", "owner@star.test"),
                            ("rocket.localhost", "owner@rocket.test")):
            client = _signed_in(client_for, host, email, lang)
            assert client.get("/admin/funding").status_code == 200
        master = _signed_in(client_for, "master.localhost", "owner@master.test", lang)
        body = master.get(f"/admin/funding/shops/{tree.star.id}").text
        assert "¥10.00" in body
        assert ("预存款" in body) == (lang == "zh_CN")
        report = master.get("/admin/reports/tree").text
        assert re.search(r'data-shop="star">.*?class="num funded">[^<]*¥10\.00', report)


def test_the_sub_shops_list_pages_in_tree_order(app, tree, client_for, monkeypatch):
    """The master's list is every shop: it comes a page at a time, in tree order."""
    from kameng.sales import funding as order_funding

    monkeypatch.setattr(order_funding, "SUBTREE_PAGE", 1)
    funding.fund_shop(tree.master, tree.star, 3_00)
    for lang in ("en", "zh_CN"):
        master = _signed_in(client_for, "master.localhost", "owner@master.test", lang)
        first = master.get("/admin/funding").text
        assert "star" in first and "rocket" not in first and "¥3.00" in first
        after = re.search(r'href="/admin/funding\?after=([^"]+)" rel="next"', first).group(1)
        second = master.get(f"/admin/funding?after={after}").text
        assert "rocket" in second and ">star<" not in second
        assert 'rel="next"' not in second and 'href="/admin/funding">' in second


def test_ledger_check_names_a_negative_funded_account(app, tree):
    funding.fund_shop(tree.master, tree.star, 1_00)
    assert ledger.check_ledger().ok
    account = ledger.shop_account(tree.star, "funded")
    # as if the guard had been bypassed: the check must say so
    db.session.execute(Account.__table__.update().where(Account.id == account.id)
                       .values(allow_negative=True))
    db.session.execute(Account.__table__.update().where(Account.id == account.id)
                       .values(balance=-5))
    db.session.commit()
    problems = ledger.check_ledger().problems
    assert any("funded" in p and "negative" in p for p in problems)


def test_the_cli_funds_a_sub_shop_and_the_check_counts_funded_accounts(app, tree, cli):
    done = cli("ledger", "fund", "--tenant", "star", "--amount", "12.50", "--note", "wire")
    assert done.exit_code == 0, done.output
    assert funding.funded_balance(tree.star) == 12_50
    # below the master, the parent pays: star has 12.50, not 20
    short = cli("ledger", "fund", "--tenant", "rocket", "--amount", "20")
    assert short.exit_code != 0 and funding.funded_balance(tree.rocket) == 0
    assert cli("ledger", "fund", "--tenant", "rocket", "--amount", "2.50").exit_code == 0
    assert funding.funded_balance(tree.star) == 10_00
    assert funding.funded_balance(tree.rocket) == 2_50
    assert cli("ledger", "fund", "--tenant", "master", "--amount", "1").exit_code != 0
    assert cli("ledger", "fund", "--tenant", "star", "--amount", "-1").exit_code != 0
    check = cli("ledger", "check")
    assert check.exit_code == 0 and "2 funded accounts (none negative)" in check.output


def test_a_notice_from_the_shops_own_gateway_cannot_pay_a_platform_top_up(app, tree):
    """A top-up started at the platform's Stripe is paid by Stripe only: a notice the
    shop signed on its own 易支付 gateway for that number credits no wallet."""
    from kameng.billing import wallets
    from kameng.billing.topups.models import WalletTopup

    topup = WalletTopup(tenant_id=tree.star.id, topup_no="W261129TESTTOPUP0001",
                        user_id=tree.star_customer.id, amount=50_00, currency="CNY",
                        provider="stripe")
    db.session.add(topup)
    db.session.commit()
    handler = app.extensions["kameng.payment_handler"]
    forged = PaymentNotice("epay", topup.topup_no, 50_00, "CNY", "T-9", True)
    assert handler(tree.star, forged) is False
    assert wallets.wallet_balance(tree.star_customer) == 0
    genuine = PaymentNotice("stripe", topup.topup_no, 50_00, "CNY", "pi_1", True)
    assert handler(tree.star, genuine) is True
    assert wallets.wallet_balance(tree.star_customer) == 50_00
    assert ledger.check_ledger().ok


@pytest.mark.both
def test_racing_own_gateway_notices_never_overdraw_the_funded_account(app, tree):
    """Five notices at once, funds for two orders: exactly two are paid, three wait."""
    from tests.billing.ledger.threads import run_concurrently

    product = card_product(codes=10)
    placed = [orders.place_order(tree.star, sku=product.sku, payment_method="epay",
                                 client_ip=f"198.51.100.{i}", **GUEST).order
              for i in range(5)]   # five buyers: one may hold only a few unpaid orders
    due = _due(placed[0])
    funding.fund_shop(tree.master, tree.star, 2 * due + due // 2)
    notices = [PaymentNotice("epay", o.order_no, o.amount, "CNY", f"T-{i}", True)
               for i, o in enumerate(placed)]
    star_id = tree.star.id  # read here: the threads must not touch this session's objects

    def pay(i):
        from kameng.tenants.models import Tenant

        return orders.record_payment(db.session.get(Tenant, star_id), notices[i])

    assert run_concurrently(app, 5, pay) == [True] * 5
    statuses = sorted(get_order(o.order_no).status for o in placed)
    assert statuses == ["awaiting_funds"] * 3 + ["paid"] * 2
    assert funding.funded_balance(tree.star) == due // 2
    assert ledger.check_ledger().ok


@pytest.mark.both
def test_racing_wallet_credits_from_funds_never_overdraw(app, tree):
    from kameng.billing import wallets
    from tests.billing.ledger.threads import run_concurrently

    funding.fund_shop(tree.master, tree.star, 10_00)
    star_id, buyer_id = tree.star.id, tree.star_customer.id

    def credit(i):
        from kameng.tenants.models import Tenant, User

        return wallets.credit_wallet(db.session.get(User, buyer_id), 4_00,
                                     granted_by=db.session.get(Tenant, star_id))

    results = run_concurrently(app, 4, credit)
    refused = [r for r in results if isinstance(r, wallets.NotEnoughFunds)]
    assert len(refused) == 2
    assert wallets.wallet_balance(tree.star_customer) == 8_00
    assert funding.funded_balance(tree.star) == 2_00
    assert ledger.check_ledger().ok


def test_the_owner_is_told_by_mail_when_an_order_waits_for_funds(app, tree, smtp):
    product = card_product(codes=3)
    order = orders.place_order(tree.star, sku=product.sku, payment_method="epay",
                               **GUEST).order
    assert orders.record_payment(tree.star, PaymentNotice(
        "epay", order.order_no, order.amount, "CNY", "T-1", True))
    run_jobs(app, "mail")
    [(rcpt, msg)] = smtp.messages
    assert rcpt == ["owner@star.test"]
    assert order.order_no in str(msg["Subject"]) and "waits for funds" in str(msg["Subject"])
    assert "预存款" in msg.get_body(("plain",)).get_content()


def test_an_own_gateway_order_with_a_promoter_funds_the_promoters_share(app, tree):
    """The shop pays the parent's price plus its promoter's share from its funds; the
    promoter is paid by the commission, the shop keeps the rest, sales_clearing nets out."""
    from kameng.billing.commissions import services as commissions
    from kameng.billing.commissions.settings import update_settings
    from kameng.tenants.services import create_user

    update_settings(tree.star, promoter_bp=1000)   # 10 % of star's own margin
    promoter = tree.star_customer
    friend = create_user(tree.star, "friend@star.test", "customer", "correct-horse")
    assert commissions.bind_referral(friend, commissions.promoter_code(promoter).code)
    product = card_product(codes=5)
    funding.fund_shop(tree.master, tree.star, 100_00)
    order = orders.place_order(tree.star, sku=product.sku, quantity=2, customer=friend,
                               payment_method="epay").order
    assert orders.record_payment(tree.star, PaymentNotice(
        "epay", order.order_no, order.amount, "CNY", "T-1", True))
    order = get_order(order.order_no)
    margin = order.amount - _due(order)           # star's own margin: 2 × ¥2.00
    share = margin // 10
    assert order.funded_amount == _due(order) + share
    run_jobs(app)
    assert get_order(order.order_no).status == "delivered"
    assert commissions.promoter_balances(promoter)["earnings_pending"] == share
    assert ledger.balance_of(ledger.shop_account(tree.star, "earnings_pending")) == 0
    assert funding.funded_balance(tree.star) == 100_00 - _due(order) - share
    assert _clearing_for(order.order_no) == 0
    assert ledger.check_ledger().ok
