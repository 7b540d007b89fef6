"""``kameng ledger check`` names whatever is off and exits non-zero."""
from __future__ import annotations

import pytest
from sqlalchemy import text

from kameng.billing import wallets
from kameng.billing.ledger import services as ledger
from kameng.core.extensions import db

pytestmark = pytest.mark.both


@pytest.fixture
def credited(app, tree):
    wallets.credit_wallet(tree.star_customer, 1000, note="start")
    clearing = ledger.platform_account("sales_clearing", "CNY")
    wallets.spend_from_wallet_in_txn(tree.star_customer, 300, "spend-1", "ORD-1", clearing)
    db.session.commit()
    return ledger.find_user_account(tree.star_customer)


def test_a_sound_ledger_passes(cli, credited):
    result = cli("ledger", "check")
    assert result.exit_code == 0, result.output
    assert "ledger ok: 2 transactions, 3 accounts" in result.output


def test_a_corrupted_cached_balance_is_named(cli, credited):
    db.session.execute(text("UPDATE ledger_accounts SET balance = balance + 1 WHERE id = :id"),
                       {"id": credited.id})
    db.session.commit()
    result = cli("ledger", "check")
    assert result.exit_code != 0
    assert f"account {credited.id} (wallet of user {credited.user_id}, CNY): " \
           "cached balance 701 != sum of entries 700" in result.output
    assert "Error: ledger check failed: 1 problem(s)" in result.output


def test_an_unbalanced_transaction_is_named(app, cli, credited, backend):
    if backend == "postgresql":
        pytest.skip("PostgreSQL refuses the row itself (test_db_guards)")
    tx = ledger.transaction_by_key("spend-1")
    db.session.execute(text("INSERT INTO ledger_entries (transaction_id, account_id, amount) "
                            "VALUES (:t, :a, 5)"), {"t": tx.id, "a": credited.id})
    db.session.commit()
    result = cli("ledger", "check")
    assert result.exit_code != 0
    assert f"transaction {tx.id} does not balance: CNY +5" in result.output
    # the cached balance no longer matches either
    assert "cached balance 700 != sum of entries 705" in result.output


def test_the_check_is_incremental_and_still_sees_a_changed_balance(app, cli, tree, credited):
    first = ledger.check_ledger()
    assert first.ok and first.full and first.mark_moved  # no mark yet: a full check
    wallets.credit_wallet(tree.star_customer, 50, note="more")
    second = ledger.check_ledger()
    assert second.ok and not second.full
    assert second.entries_checked == 2 and second.after == first.mark
    assert second.transactions == 3
    # an account untouched since the mark: its remembered sum is compared all the same
    clearing = ledger.platform_account("sales_clearing", "CNY")
    db.session.commit()
    db.session.execute(text("UPDATE ledger_accounts SET balance = balance - 7 WHERE id = :id"),
                       {"id": clearing.id})
    db.session.commit()
    third = ledger.check_ledger()
    assert not third.ok and not third.mark_moved
    assert any("cached balance 293 != sum of entries 300" in p for p in third.problems)
    result = cli("ledger", "check", "--full")
    assert result.exit_code != 0 and "sum of entries 300" in result.output


def test_an_entry_added_to_an_old_transaction_is_found_after_the_mark(app, credited, backend):
    if backend == "postgresql":
        pytest.skip("PostgreSQL refuses the row itself (test_db_guards)")
    assert ledger.check_ledger().ok
    tx = ledger.transaction_by_key("spend-1")
    db.session.execute(text("INSERT INTO ledger_entries (transaction_id, account_id, amount) "
                            "VALUES (:t, :a, 5)"), {"t": tx.id, "a": credited.id})
    db.session.commit()
    result = ledger.check_ledger()
    assert not result.full
    assert f"transaction {tx.id} does not balance: CNY +5" in result.problems


def test_the_cli_says_how_much_it_read(cli, credited):
    assert "every entry" in cli("ledger", "check").output
    out = cli("ledger", "check").output
    assert "checked 0 entries (those after entry #" in out


def test_a_posting_in_flight_holds_the_mark_back(app, credited, backend, monkeypatch):
    """Ids are handed out before commit: while a posting is in flight the mark does
    not move past it, and once it commits the next check sums its entries."""
    if backend != "postgresql":
        pytest.skip("SQLite serialises writers")
    from kameng.billing.ledger import check

    monkeypatch.setattr(check, "LOCK_TIMEOUT", "200ms")
    assert ledger.check_ledger().ok
    clearing = ledger.platform_account("sales_clearing", "CNY")
    db.session.commit()
    other = db.engine.connect()   # another process's posting, not yet committed
    tx_id = other.execute(text(
        "INSERT INTO ledger_transactions (idempotency_key, kind, created_at)"
        " VALUES ('in-flight', 'test', now()) RETURNING id")).scalar()
    for account_id, amount in ((credited.id, 5), (clearing.id, -5)):
        other.execute(text("INSERT INTO ledger_entries (transaction_id, account_id, amount)"
                           " VALUES (:t, :a, :n)"), {"t": tx_id, "a": account_id, "n": amount})
        other.execute(text("UPDATE ledger_accounts SET balance = balance + :n WHERE id = :a"),
                      {"a": account_id, "n": amount})
    try:
        held = ledger.check_ledger()
        assert held.ok and not held.mark_moved
    finally:
        other.commit()
        other.close()
    after = ledger.check_ledger()
    assert after.ok and after.mark_moved and after.entries_checked == 2
    assert after.transactions == 3


def test_a_rolled_back_savepoint_keeps_the_postings_made_before_it(app, cli, tree):
    """Credits to busy accounts are applied at COMMIT (core.hotrows). A SAVEPOINT that
    rolls back later in the same transaction (a refused first INSERT: a delivery batch
    creating a buyer's spend row another worker created first) takes back only what
    was deferred inside it, not the batch's postings before it."""
    clearing = ledger.platform_account("sales_clearing", "CNY")
    payable = ledger.platform_account("supplier_payable", "CNY")
    db.session.commit()
    ledger.post_in_txn("before-the-savepoint", "test", [(clearing, -500), (payable, 500)])
    savepoint = db.session.begin_nested()
    ledger.post_in_txn("inside-the-savepoint", "test", [(clearing, -70), (payable, 70)])
    savepoint.rollback()
    db.session.commit()
    assert ledger.balance_of(payable) == 500 and ledger.balance_of(clearing) == -500
    result = cli("ledger", "check")
    assert result.exit_code == 0, result.output
