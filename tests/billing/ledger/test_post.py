"""Posting: balanced or refused, idempotent (also under a race), reversible, guarded."""
from __future__ import annotations

import pytest
from sqlalchemy import event, func, select

from kameng.billing.ledger import services as ledger
from kameng.billing.ledger.models import Account, Entry, Transaction
from kameng.core.errors import Conflict, InvalidInput
from kameng.core.extensions import db
from kameng.tenants.models import User
from tests.billing.ledger.threads import run_concurrently

pytestmark = pytest.mark.both


def _count(model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


@pytest.fixture
def accounts(app, tree):
    wallet = ledger.wallet_account(tree.star_customer)
    credits = ledger.shop_account(tree.star, "credits_issued")
    clearing = ledger.platform_account("sales_clearing", "CNY")
    db.session.commit()
    return wallet, credits, clearing


def test_balanced_posting_moves_cached_balances(app, tree, accounts):
    wallet, credits, clearing = accounts
    tx = ledger.post("credit-1", "wallet_credit", [(credits, -500), (wallet, 500)],
                     reference="R1", memo="welcome", created_by=tree.star_owner)
    assert tx.id and not tx.replayed
    assert ledger.balance_of(wallet) == 500 and ledger.balance_of(credits) == -500
    assert wallet.balance == 500  # the ORM object is refreshed, not stale
    assert sorted(e.amount for e in tx.entries) == [-500, 500]
    assert tx.created_by_id == tree.star_owner.id and tx.reference == "R1"
    ledger.post("spend-1", "wallet_spend", [(wallet, -200), (clearing, 200)])
    assert ledger.balance_of(wallet) == 300
    assert ledger.check_ledger().ok


@pytest.mark.parametrize("entries, message", [
    (lambda w, c: [(w, 100), (c, -99)], "do not balance"),
    (lambda w, c: [(w, 100)], "at least two"),
    (lambda w, c: [(w, 0), (c, 0)], "at least two"),
    (lambda w, c: [], "at least two"),
    (lambda w, c: [(w, 1.5), (c, -1.5)], "integers"),
    (lambda w, c: [(w, True), (c, -1)], "integers"),
    (lambda w, c: [(w, "100"), (c, -100)], "integers"),
    (lambda w, c: [(w, 10**17), (c, -10**17)], "out of range"),
])
def test_bad_postings_are_refused_and_write_nothing(app, accounts, entries, message):
    wallet, credits, _ = accounts
    with pytest.raises(InvalidInput, match=message):
        ledger.post("bad", "wallet_credit", entries(wallet, credits))
    assert _count(Transaction) == 0 and _count(Entry) == 0
    assert ledger.balance_of(wallet) == 0 and ledger.balance_of(credits) == 0


def test_currencies_balance_separately(app, tree, accounts):
    wallet, credits, _ = accounts
    usd = ledger.platform_account("clearing_stripe", "USD")
    # sums to zero overall but not per currency
    with pytest.raises(InvalidInput, match="CNY \\+100.*USD -100"):
        ledger.post("fx", "wallet_topup", [(wallet, 100), (usd, -100)])
    assert _count(Transaction) == 0


def test_bad_keys_and_kinds_are_refused(app, accounts):
    wallet, credits, _ = accounts
    for key in ("", "has space", "x" * 161):
        with pytest.raises(InvalidInput):
            ledger.post(key, "wallet_credit", [(credits, -1), (wallet, 1)])
    with pytest.raises(InvalidInput):
        ledger.post("k", "Bad Kind", [(credits, -1), (wallet, 1)])
    assert _count(Transaction) == 0


def test_same_key_again_returns_the_first_and_changes_nothing(app, accounts):
    wallet, credits, _ = accounts
    first = ledger.post("once", "wallet_credit", [(credits, -700), (wallet, 700)])
    again = ledger.post("once", "wallet_credit", [(credits, -700), (wallet, 700)])
    assert again.id == first.id and again.replayed
    assert ledger.balance_of(wallet) == 700
    assert _count(Transaction) == 1 and _count(Entry) == 2


def test_same_key_with_other_postings_is_a_conflict(app, accounts):
    wallet, credits, _ = accounts
    ledger.post("once", "wallet_credit", [(credits, -700), (wallet, 700)])
    with pytest.raises(ledger.IdempotencyConflict):
        ledger.post("once", "wallet_credit", [(credits, -800), (wallet, 800)])
    assert ledger.balance_of(wallet) == 700 and _count(Transaction) == 1


def test_concurrent_posts_with_one_key_make_one_transaction(app, tree, accounts):
    wallet, credits, _ = accounts
    wallet_id, credits_id = wallet.id, credits.id

    def credit(_i):
        w = db.session.get(Account, wallet_id)
        c = db.session.get(Account, credits_id)
        return ledger.post("race-key", "wallet_credit", [(c, -1000), (w, 1000)]).id

    results = run_concurrently(app, 8, credit)
    assert all(isinstance(r, int) for r in results), results
    assert len(set(results)) == 1
    assert _count(Transaction) == 1 and _count(Entry) == 2
    assert ledger.balance_of(wallet) == 1000
    assert ledger.check_ledger().ok


def test_concurrent_get_or_create_makes_one_account(app, tree):
    user_id = tree.rocket_customer.id

    def create(_i):
        account = ledger.wallet_account(db.session.get(User, user_id))
        db.session.commit()
        return account.id

    results = run_concurrently(app, 8, create)
    assert all(isinstance(r, int) for r in results), results
    assert len(set(results)) == 1
    assert _count(Account) == 1


def test_an_account_of_a_rolled_back_transaction_is_not_remembered(app, tree):
    # accounts are remembered per process to spare a query per posting; one whose
    # creating transaction rolled back must be created again, not used by its old id
    first = ledger.shop_account(tree.star, "earnings_pending")
    assert first.id is not None
    db.session.rollback()
    again = ledger.shop_account(tree.star, "earnings_pending")
    clearing = ledger.platform_account("sales_clearing", "CNY")
    ledger.post("after-rollback", "test", [(clearing, -5), (again, 5)])
    assert db.session.get(Account, again.id).balance == 5
    assert _count(Account) == 2


def test_remembered_accounts_post_without_looking_them_up(app, tree, accounts):
    wallet, credits, clearing = accounts
    user_id, wallet_id, clearing_id = tree.star_customer.id, wallet.id, clearing.id
    db.session.remove()                       # a fresh session: nothing in its identity map
    statements = []
    with app.app_context():
        def listener(_conn, _cursor, stmt, *_rest):
            statements.append(stmt)

        event.listen(db.engine, "before_cursor_execute", listener)
        try:
            wallet2 = ledger.wallet_account(db.session.get(User, user_id))
            clearing2 = ledger.platform_account("sales_clearing", "CNY")
            statements.clear()
            ledger.post("no-lookups", "test", [(clearing2, -7), (wallet2, 7)])
        finally:
            event.remove(db.engine, "before_cursor_execute", listener)
        assert (wallet2.id, clearing2.id) == (wallet_id, clearing_id)
        assert not [s for s in statements if "FROM ledger_accounts" in s], statements
        assert ledger.balance_of(wallet2) == 7


def test_insufficient_balance_rolls_back_the_whole_posting(app, accounts):
    wallet, credits, clearing = accounts
    ledger.post("c", "wallet_credit", [(credits, -300), (wallet, 300)])
    with pytest.raises(ledger.InsufficientBalance) as info:
        # the clearing line comes first and succeeds before the wallet line fails
        ledger.post("s", "wallet_spend", [(clearing, 301), (wallet, -301)])
    assert info.value.code == "insufficient_balance" and info.value.status == 402
    assert ledger.balance_of(wallet) == 300 and ledger.balance_of(clearing) == 0
    assert _count(Transaction) == 1
    # the key was not used up by the refused attempt
    ledger.post("s", "wallet_spend", [(clearing, 300), (wallet, -300)])
    assert ledger.balance_of(wallet) == 0


def test_the_database_refuses_a_negative_wallet_too(app, accounts):
    from sqlalchemy import update
    from sqlalchemy.exc import IntegrityError

    wallet, _, _ = accounts
    with pytest.raises(IntegrityError):
        db.session.execute(update(Account).where(Account.id == wallet.id).values(balance=-1))
        db.session.commit()
    db.session.rollback()


def test_guard_keeps_an_overdrawable_account_covered(app, tree):
    available = ledger.shop_account(tree.star, "earnings_available")
    held = ledger.shop_account(tree.star, "withdrawal_hold")
    clearing = ledger.platform_account("sales_clearing", "CNY")
    db.session.commit()
    ledger.post("earn", "commission", [(clearing, -100), (available, 100)])
    with pytest.raises(ledger.InsufficientBalance):
        ledger.post("wd", "withdrawal_request", [(available, -150), (held, 150)],
                    guard=[available])
    # without the guard, earnings may run negative (a refund after the hold)
    ledger.post("claw", "refund", [(available, -150), (clearing, 150)])
    assert ledger.balance_of(available) == -50
    # and a negative account still receives money
    ledger.post("earn2", "commission", [(clearing, -20), (available, 20)])
    assert ledger.balance_of(available) == -30


def test_unknown_account_kinds_are_refused(app, tree):
    with pytest.raises(InvalidInput):
        ledger.shop_account(tree.star, "walet")
    with pytest.raises(InvalidInput):
        ledger.platform_account("clearing stripe", "CNY")
    with pytest.raises(InvalidInput):
        ledger.platform_account("fees", "XYZ")
    assert ledger.platform_account("clearing_epay", "CNY").allow_negative


def test_reverse_posts_the_exact_opposite_once(app, accounts):
    wallet, credits, clearing = accounts
    ledger.post("c", "wallet_credit", [(credits, -1000), (wallet, 1000)])
    spend = ledger.post("s", "wallet_spend", [(wallet, -400), (clearing, 400)],
                        reference="ORD-1")
    back = ledger.reverse(spend, "refund:s")
    assert back.reversal_of_id == spend.id and back.reference == "ORD-1"
    assert sorted((e.account_id, e.amount) for e in back.entries) == \
        sorted((e.account_id, -e.amount) for e in spend.entries)
    assert ledger.balance_of(wallet) == 1000 and ledger.balance_of(clearing) == 0
    # again, with the same or another key: the first reversal, nothing moves
    assert ledger.reverse(spend, "refund:s").id == back.id
    assert ledger.reverse(spend, "refund:other").id == back.id
    assert ledger.balance_of(wallet) == 1000
    with pytest.raises(Conflict):
        ledger.reverse(back, "refund:refund")
    assert ledger.check_ledger().ok


def test_reversing_a_credit_already_spent_is_refused(app, accounts):
    wallet, credits, clearing = accounts
    credit = ledger.post("c", "wallet_credit", [(credits, -1000), (wallet, 1000)])
    ledger.post("s", "wallet_spend", [(wallet, -400), (clearing, 400)])
    with pytest.raises(ledger.InsufficientBalance):
        ledger.reverse(credit, "undo:c")
    assert ledger.balance_of(wallet) == 600
    assert ledger.reversal_of(credit) is None


def test_commit_false_joins_the_callers_transaction(app, tree, accounts):
    wallet, credits, clearing = accounts
    ledger.post("c", "wallet_credit", [(credits, -1000), (wallet, 1000)])

    # the caller changes something of its own, posts without committing, then rolls back
    tree.star_customer.display_name = "changed"
    ledger.post_in_txn("pay-1", "wallet_spend", [(wallet, -300), (clearing, 300)])
    db.session.rollback()
    assert ledger.balance_of(wallet) == 1000 and ledger.transaction_by_key("pay-1") is None
    assert db.session.get(User, tree.star_customer.id).display_name is None

    # … or commits both together
    tree.star_customer.display_name = "paid"
    ledger.post_in_txn("pay-1", "wallet_spend", [(wallet, -300), (clearing, 300)])
    db.session.commit()
    assert ledger.balance_of(wallet) == 700 and ledger.transaction_by_key("pay-1")
    assert db.session.get(User, tree.star_customer.id).display_name == "paid"


def test_refused_posting_inside_callers_transaction_keeps_the_callers_work(app, tree,
                                                                            accounts):
    wallet, _, clearing = accounts
    tree.star_customer.display_name = "kept"
    with pytest.raises(ledger.InsufficientBalance):
        ledger.post_in_txn("pay", "wallet_spend", [(wallet, -1), (clearing, 1)])
    db.session.commit()  # the caller may still commit its own work
    assert db.session.get(User, tree.star_customer.id).display_name == "kept"
    assert _count(Transaction) == 0 and ledger.balance_of(clearing) == 0


def test_account_history_has_running_balances(app, accounts):
    wallet, credits, clearing = accounts
    ledger.post("c1", "wallet_credit", [(credits, -1000), (wallet, 1000)])
    ledger.post("s1", "wallet_spend", [(wallet, -250), (clearing, 250)])
    ledger.post("c2", "wallet_credit", [(credits, -50), (wallet, 50)])
    rows = ledger.account_history(wallet)
    assert [(r.entry.amount, r.balance_after) for r in rows] == \
        [(50, 800), (-250, 750), (1000, 1000)]
    older = ledger.account_history(wallet, limit=1, before_id=rows[0].entry.id)
    assert [(r.entry.amount, r.balance_after) for r in older] == [(-250, 750)]


@pytest.mark.both
def test_a_credit_earlier_in_the_transaction_covers_a_later_spend(app, tree):
    """Credits are applied at commit (hot rows); a guarded spend in the same
    transaction must still see them."""
    from kameng.billing import wallets as w
    from kameng.billing.ledger import services as ledger_services

    user = tree.star_customer
    clearing = ledger_services.platform_account("sales_clearing", "CNY")
    w.credit_wallet_in_txn(user, 500)
    w.spend_from_wallet_in_txn(user, 400, "same-txn-spend", "T1", clearing)
    db.session.commit()
    assert w.wallet_balance(user) == 100
    assert ledger_services.check_ledger().ok


def _statements_during(run) -> list[str]:
    seen = []

    def note(_conn, _cursor, statement, *_args):
        seen.append(" ".join(statement.split())[:60])

    event.listen(db.engine, "before_cursor_execute", note)
    try:
        run()
    finally:
        event.remove(db.engine, "before_cursor_execute", note)
    return seen


def test_a_payment_applies_the_deferred_increments_itself(app, tree, accounts):
    """A payment (one guarded debit) is an order's last statement: it applies the credits
    deferred so far (``kameng.core.hotrows``) and its own, and COMMIT has none left."""
    wallet, credits, clearing = accounts
    earnings = ledger.shop_account(tree.star, "earnings_pending")
    ledger.post("credit", "wallet_credit", [(credits, -500), (wallet, 500)])

    def pay():
        ledger.post_in_txn("deferred", "test", [(clearing, -30), (earnings, 30)])
        ledger.post_in_txn("spend", "wallet_spend", [(wallet, -200), (clearing, 200)])
        db.session.commit()

    seen = [s for s in _statements_during(pay) if not s.startswith("SELECT")]
    assert ledger.balance_of(clearing) == 170 and ledger.balance_of(earnings) == 30
    assert ledger.balance_of(wallet) == 300 and ledger.check_ledger().ok
    if db.engine.dialect.name == "postgresql":
        # the first posting's, then the payment with every increment: none before COMMIT
        assert len(seen) == 2 and not seen[-1].startswith("WITH hot0"), seen


def test_a_refused_payment_leaves_the_deferred_increments_for_commit(app, tree, accounts):
    wallet, credits, clearing = accounts
    earnings = ledger.shop_account(tree.star, "earnings_pending")
    ledger.post("credit", "wallet_credit", [(credits, -100), (wallet, 100)])
    ledger.post_in_txn("deferred", "test", [(clearing, -30), (earnings, 30)])
    with pytest.raises(ledger.InsufficientBalance):
        ledger.post_in_txn("spend", "wallet_spend", [(wallet, -200), (clearing, 200)])
    db.session.commit()
    assert ledger.balance_of(earnings) == 30 and ledger.balance_of(clearing) == -30
    assert ledger.balance_of(wallet) == 100 and ledger.check_ledger().ok
