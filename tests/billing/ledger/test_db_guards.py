"""PostgreSQL refuses unbalanced or edited ledger rows even when code goes around post()."""
from __future__ import annotations

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import DBAPIError

from kameng.billing.ledger import services as ledger
from kameng.billing.ledger.models import PG_LEDGER_DDL, Transaction
from kameng.core.extensions import db


@pytest.fixture
def accounts(app, tree):
    wallet = ledger.wallet_account(tree.star_customer)
    credits = ledger.shop_account(tree.star, "credits_issued")
    db.session.commit()
    return wallet.id, credits.id


def _raw_transaction(key: str) -> int:
    return db.session.execute(text(
        "INSERT INTO ledger_transactions (idempotency_key, kind, created_at) "
        "VALUES (:k, 'raw', now()) RETURNING id"), {"k": key}).scalar_one()


def _raw_entry(tx_id: int, account_id: int, amount: int) -> None:
    db.session.execute(text(
        "INSERT INTO ledger_entries (transaction_id, account_id, amount) VALUES (:t, :a, :n)"),
        {"t": tx_id, "a": account_id, "n": amount})


def _committed_balanced(key: str, wallet: int, credits: int) -> int:
    tx = _raw_transaction(key)
    _raw_entry(tx, wallet, 100)
    _raw_entry(tx, credits, -100)
    db.session.commit()
    return tx


def _refused_at_commit(message: str) -> None:
    with pytest.raises(DBAPIError) as info:
        db.session.commit()
    db.session.rollback()
    assert message in str(info.value)
    assert db.session.scalar(select(func.count(Transaction.id))) == 0


def test_unbalanced_insert_is_refused_at_commit(app, accounts):
    wallet, credits = accounts
    tx = _raw_transaction("raw-1")
    _raw_entry(tx, wallet, 100)
    _raw_entry(tx, credits, -99)
    _refused_at_commit("does not balance in CNY")


def test_single_entry_or_empty_transaction_is_refused(app, accounts):
    wallet, _ = accounts
    tx = _raw_transaction("raw-1")
    _raw_entry(tx, wallet, 100)
    _refused_at_commit("fewer than two entries")
    _raw_transaction("raw-2")
    _refused_at_commit("fewer than two entries")


def test_an_entry_added_to_an_older_transaction_is_refused(app, accounts):
    # entries of a transaction written in the same database transaction are checked
    # once, by the transaction row's trigger; a later addition is checked by its own
    wallet, credits = accounts
    tx = _committed_balanced("raw-1", wallet, credits)
    _raw_entry(tx, wallet, 5)
    with pytest.raises(DBAPIError) as info:
        db.session.commit()
    db.session.rollback()
    assert "does not balance in CNY" in str(info.value)


def test_balanced_raw_insert_is_accepted(app, accounts):
    # the trigger refuses what is wrong, not everything written by hand
    wallet, credits = accounts
    _committed_balanced("raw-1", wallet, credits)
    assert ledger.transaction_by_key("raw-1") is not None
    # the balances were not moved, and the check says so
    assert any("cached balance 0 != sum of entries 100" in p
               for p in ledger.check_ledger().problems)


def test_posted_rows_cannot_be_edited_or_deleted(app, accounts):
    wallet, credits = accounts
    from kameng.billing.ledger.models import Account

    w, c = db.session.get(Account, wallet), db.session.get(Account, credits)
    tx = ledger.post("c", "wallet_credit", [(c, -500), (w, 500)])
    for stmt in ("UPDATE ledger_entries SET amount = amount * 2",
                 "DELETE FROM ledger_entries",
                 "UPDATE ledger_transactions SET kind = 'other'",
                 f"DELETE FROM ledger_transactions WHERE id = {tx.id}"):
        with pytest.raises(DBAPIError, match="append-only"):
            db.session.execute(text(stmt))
        db.session.rollback()
    assert ledger.check_ledger().ok


def test_ddl_constant_has_no_percent_signs():
    # DDL() %-formats its text; the migration reuses the same strings
    assert not any("%" in stmt for stmt in PG_LEDGER_DDL)
