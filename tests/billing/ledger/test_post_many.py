"""Many postings at once (a delivery batch's commissions): each its own transaction,
exactly as ``post_in_txn`` would write it, in one statement on PostgreSQL."""
from __future__ import annotations

import pytest
from sqlalchemy import event, func, select

from kameng.billing.ledger import services as ledger
from kameng.billing.ledger.models import Entry, Transaction
from kameng.core.errors import InvalidInput
from kameng.core.extensions import db

pytestmark = pytest.mark.both


@pytest.fixture
def accounts(app, tree):
    wallet = ledger.wallet_account(tree.star_customer)
    clearing = ledger.platform_account("sales_clearing", "CNY")
    payable = ledger.platform_account("supplier_payable", "CNY")
    earnings = ledger.shop_account(tree.star, "earnings_pending")
    db.session.commit()
    return wallet, clearing, payable, earnings


def _entries(tx_id) -> list[tuple[int, int]]:
    return [(e.account_id, e.amount) for e in db.session.scalars(
        select(Entry).where(Entry.transaction_id == tx_id).order_by(Entry.id))]


def test_each_posting_is_its_own_transaction_with_its_entries_in_order(app, accounts):
    _wallet, clearing, payable, earnings = accounts
    postings = [ledger.Posting(f"c-{n}", "commission",
                               [(clearing, -(100 + n)), (payable, 60), (earnings, 40 + n)],
                               reference=f"R{n}", memo="up the chain") for n in range(3)]
    assert all(a.id for a in (clearing, payable, earnings))   # loaded again after the commit
    statements = []
    engine = db.engine

    def listen(_conn, _cursor, statement, *_args):
        statements.append(statement)

    event.listen(engine, "before_cursor_execute", listen)
    try:
        ids = ledger.post_many_in_txn(postings)
    finally:
        event.remove(engine, "before_cursor_execute", listen)
    db.session.commit()
    assert len(set(ids)) == 3
    for n, tx_id in enumerate(ids):
        tx = db.session.get(Transaction, tx_id)
        assert (tx.idempotency_key, tx.kind, tx.reference, tx.memo) == \
            (f"c-{n}", "commission", f"R{n}", "up the chain")
        assert _entries(tx_id) == [(clearing.id, -(100 + n)), (payable.id, 60),
                                   (earnings.id, 40 + n)]
    if db.engine.dialect.name == "postgresql":
        assert len(statements) == 1   # all three, transactions and entries
    # the balances moved (at commit) by the three postings together
    assert ledger.balance_of(clearing) == -303 and ledger.balance_of(earnings) == 123
    assert ledger.check_ledger().ok


def test_a_key_posted_before_is_a_repeat_and_a_different_posting_under_it_refused(
        app, accounts):
    _wallet, clearing, payable, earnings = accounts
    first = ledger.post("c-0", "commission", [(clearing, -100), (payable, 100)])
    again = ledger.post_many_in_txn([
        ledger.Posting("c-0", "commission", [(clearing, -100), (payable, 100)]),
        ledger.Posting("c-1", "commission", [(clearing, -50), (earnings, 50)]),
        ledger.Posting("c-1", "commission", [(clearing, -50), (earnings, 50)]),  # twice
    ])
    db.session.commit()
    assert again[0] == first.id and again[1] == again[2] != first.id
    assert db.session.scalar(select(func.count()).select_from(Transaction)) == 2
    assert ledger.balance_of(clearing) == -150     # nothing moved twice
    with pytest.raises(ledger.IdempotencyConflict):
        ledger.post_many_in_txn([ledger.Posting("c-0", "commission",
                                                [(clearing, -1), (payable, 1)])])
    db.session.rollback()
    assert ledger.check_ledger().ok


def test_a_guarded_posting_goes_alone_and_an_invalid_one_writes_nothing(app, accounts):
    wallet, clearing, payable, _earnings = accounts
    with pytest.raises(ledger.InsufficientBalance):
        ledger.post_many_in_txn([
            ledger.Posting("c-0", "commission", [(clearing, -100), (payable, 100)]),
            ledger.Posting("spend", "wallet_spend", [(wallet, -10), (clearing, 10)]),
        ])
    db.session.rollback()
    with pytest.raises(InvalidInput):
        ledger.post_many_in_txn([
            ledger.Posting("c-0", "commission", [(clearing, -100), (payable, 100)]),
            ledger.Posting("c-1", "commission", [(clearing, -100), (payable, 99)]),
        ])
    db.session.rollback()
    assert db.session.scalar(select(func.count()).select_from(Transaction)) == 0
