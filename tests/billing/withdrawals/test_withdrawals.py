"""Withdrawals: held at request time (no double spend), approved or rejected, paid."""
from __future__ import annotations

import json
import threading
from datetime import timedelta

import pytest
from sqlalchemy import func, select
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

from kameng.billing.commissions import services as commissions
from kameng.billing.commissions import settings as billing_settings
from kameng.billing.ledger import services as ledger
from kameng.billing.ledger.services import InsufficientBalance
from kameng.billing.withdrawals import services as withdrawals
from kameng.billing.withdrawals.models import Withdrawal
from kameng.core.errors import Conflict, InvalidInput, NotFound
from kameng.core.extensions import db
from kameng.core.models import utcnow
from kameng.core.scoping import tenant_scope
from kameng.tenants.models import Tenant, User
from tests.billing.commissions.helpers import balance, card_product, chain, deliver, fund

pytestmark = pytest.mark.both


def earn(c, shop_index=1, orders=3):
    """``orders`` delivered orders at shop s<i>, matured: 100 fen available each (depth 1)."""
    shop, buyer = c.shops[shop_index], c.buyers[shop_index]
    product = card_product(sku=f"W-{shop.slug}", codes=orders)
    fund(buyer, 100_000)
    for _ in range(orders):
        deliver(shop, buyer, product)
    commissions.mature_commissions(now=utcnow() + timedelta(days=30))
    return balance(shop, "earnings_available")


def approved_connect_withdrawal(c, amount=200):
    """s1 has earned, asked for ``amount`` to its Stripe Connect account, and the master approved."""
    earn(c, orders=2)
    method = withdrawals.add_payout_method(c.shops[1], "stripe_connect", "acct_1Kameng123")
    w = withdrawals.request_withdrawal(c.shops[1], c.owners[1], method.id, amount)
    withdrawals.approve(w.id, c.master)
    return w


def platform(kind):
    return ledger.balance_of(ledger.platform_account(kind, "CNY"))


def test_concurrent_requests_for_the_whole_balance_one_succeeds(app):
    c = chain(depth=1)
    s1, owner = c.shops[1], c.owners[1]
    whole = earn(c, orders=3)
    assert whole == 300
    method = withdrawals.add_payout_method(s1, "alipay", "owner@example.com", "李四")
    # plain ids: the threads must not touch this session's objects (nor its SQLite lock)
    shop_id, owner_id, method_id = s1.id, owner.id, method.id
    db.session.commit()
    n = 8
    barrier = threading.Barrier(n)
    results: list[str] = []

    def request(i):
        with app.app_context(), tenant_scope(shop_id):
            shop = db.session.get(Tenant, shop_id)
            user = db.session.get(User, owner_id)
            db.session.commit()
            barrier.wait()
            try:
                withdrawals.request_withdrawal(shop, user, method_id, whole)
                results.append("ok")
            except InsufficientBalance:
                results.append("insufficient")

    threads = [threading.Thread(target=request, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert sorted(results) == ["insufficient"] * (n - 1) + ["ok"]
    assert balance(s1, "earnings_available") == 0
    assert balance(s1, "withdrawal_hold") == whole
    assert db.session.scalar(select(func.count()).select_from(Withdrawal)) == 1
    assert ledger.check_ledger().ok


def test_request_rules_minimum_fee_and_balance(app):
    c = chain(depth=1)
    s1, owner = c.shops[1], c.owners[1]
    earn(c, orders=3)
    billing_settings.update_settings(c.master, withdraw_min=150, withdraw_fee_fixed=10,
                                     withdraw_fee_bp=100)
    method = withdrawals.add_payout_method(s1, "usdt", "T" + "A" * 33)
    assert method.network == "TRC20"
    with pytest.raises(InvalidInput, match="minimum"):
        withdrawals.request_withdrawal(s1, owner, method.id, 100)
    with pytest.raises(InsufficientBalance):
        withdrawals.request_withdrawal(s1, owner, method.id, 301)
    with pytest.raises(InvalidInput, match="owner"):
        withdrawals.request_withdrawal(s1, c.buyers[1], method.id, 200)
    assert db.session.scalar(select(func.count()).select_from(Withdrawal)) == 0
    w = withdrawals.request_withdrawal(s1, owner, method.id, 200, request_key="form-1")
    assert (w.amount, w.fee, w.net) == (200, 12, 188)
    again = withdrawals.request_withdrawal(s1, owner, method.id, 200, request_key="form-1")
    assert again.id == w.id
    assert balance(s1, "earnings_available") == 100


def test_approve_then_pay_moves_the_hold_to_payouts(app):
    c = chain(depth=1)
    s1 = c.shops[1]
    earn(c, orders=2)
    billing_settings.update_settings(c.master, withdraw_fee_fixed=5)
    method = withdrawals.add_payout_method(s1, "bank", "6222 0200 0000 0000 08"[:0] +
                                           "4111111111111111", "王五", "ICBC")
    w = withdrawals.request_withdrawal(s1, c.owners[1], method.id, 200)
    with pytest.raises(Conflict):
        withdrawals.mark_paid(w.id, c.master, reference="slip-1")   # not approved yet
    withdrawals.approve(w.id, c.master, c.owners[0])
    with pytest.raises(Conflict):
        withdrawals.approve(w.id, c.master)
    with pytest.raises(InvalidInput, match="reference"):
        withdrawals.mark_paid(w.id, c.master)
    paid = withdrawals.mark_paid(w.id, c.master, reference="BANK-SLIP-42")
    assert paid.status == "paid" and paid.reference == "BANK-SLIP-42"
    assert balance(s1, "withdrawal_hold") == 0
    assert platform("payouts") == 195 and platform("revenue") == 5
    with pytest.raises(Conflict):
        withdrawals.reject(w.id, c.master)
    assert ledger.check_ledger().ok


def test_rejection_returns_the_hold(app):
    c = chain(depth=1)
    s1 = c.shops[1]
    earn(c, orders=2)
    method = withdrawals.add_payout_method(s1, "alipay", "13912345678", "赵六")
    w = withdrawals.request_withdrawal(s1, c.owners[1], method.id, 150)
    assert balance(s1, "earnings_available") == 50
    rejected = withdrawals.reject(w.id, c.master, note="account name does not match")
    assert rejected.status == "rejected"
    assert balance(s1, "earnings_available") == 200 and balance(s1, "withdrawal_hold") == 0
    assert ledger.check_ledger().ok


def test_only_the_master_decides_unless_it_delegates_to_the_parent(app):
    c = chain(depth=2)
    s2 = c.shops[2]
    earn(c, shop_index=2, orders=1)
    method = withdrawals.add_payout_method(s2, "alipay", "13912345678", "赵六")
    w = withdrawals.request_withdrawal(s2, c.owners[2], method.id, 100)
    with pytest.raises(NotFound):
        withdrawals.approve(w.id, c.shops[1])
    assert withdrawals.reviewable(c.shops[1]) == []
    billing_settings.update_settings(c.master, withdraw_approver="parent")
    assert [x.id for x in withdrawals.reviewable(c.shops[1])] == [w.id]
    assert withdrawals.approve(w.id, c.shops[1]).status == "approved"
    with pytest.raises(NotFound):      # a shop never decides its own or a sibling's
        withdrawals.reject(w.id, s2)


@pytest.mark.parametrize("kind,account,holder,bank", [
    ("alipay", "not-an-account", "x", ""), ("bank", "4111111111111112", "x", "ICBC"),
    ("usdt", "0x123", "", ""), ("stripe_connect", "acct", "", ""), ("paypal", "a@b.c", "", "")])
def test_bad_payout_methods_are_refused(app, kind, account, holder, bank):
    c = chain(depth=1)
    with pytest.raises(InvalidInput):
        withdrawals.add_payout_method(c.shops[1], kind, account, holder, bank)


class RecordingStripe:
    """A loopback HTTP server that answers like Stripe's /v1/transfers and keeps the requests.

    localstripe implements no transfers (Stripe Connect), so the real stripe client
    is pointed here instead; the assertion is on the request it sends.
    """

    def __init__(self):
        self.requests = []
        self.server = make_server("127.0.0.1", 0, self.wsgi)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def wsgi(self, environ, start_response):
        req = Request(environ)
        self.requests.append({"path": req.path, "method": req.method,
                              "headers": dict(req.headers), "form": req.form.to_dict()})
        body = {"id": "tr_test_1", "object": "transfer",
                "amount": int(req.form.get("amount", 0)),
                "currency": req.form.get("currency"), "destination": req.form.get("destination")}
        return Response(json.dumps(body), content_type="application/json")(environ,
                                                                            start_response)

    def close(self):
        self.server.shutdown()
        self.thread.join(timeout=5)


@pytest.fixture
def recording_stripe(app):
    server = RecordingStripe()
    app.config.update(STRIPE_SECRET_KEY="sk_test_kameng", STRIPE_PUBLISHABLE_KEY="pk_test",
                      STRIPE_API_BASE=server.url)
    yield server
    server.close()


def test_stripe_connect_payout_creates_a_transfer_with_an_idempotency_key(app, recording_stripe):
    c = chain(depth=1)
    s1 = c.shops[1]
    w = approved_connect_withdrawal(c)
    paid = withdrawals.mark_paid(w.id, c.master)
    assert paid.status == "paid" and paid.reference == "tr_test_1"
    [sent] = recording_stripe.requests
    assert sent["method"] == "POST" and sent["path"] == "/v1/transfers"
    assert sent["headers"]["Idempotency-Key"] == f"withdrawal-{w.id}"
    assert sent["headers"]["Authorization"] == "Bearer sk_test_kameng"
    assert sent["form"]["amount"] == "200" and sent["form"]["currency"] == "cny"
    assert sent["form"]["destination"] == "acct_1Kameng123"
    assert sent["form"]["metadata[withdrawal_id]"] == str(w.id)
    assert balance(s1, "withdrawal_hold") == 0 and platform("payouts") == 200
