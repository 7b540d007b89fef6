"""``kameng ledger check``: verify the books, incrementally.

A full check re-sums every entry of every account: at ten million entries that is
a minute of PostgreSQL's time. So a check remembers how far it got
(``CheckMark``: every entry up to ``entry_id`` summed per account in ``CheckSum``,
every transaction up to ``transaction_id`` found balanced) and the next one reads
only what came after:

- each account's cached balance must equal its remembered sum plus the entries
  after the mark (one statement, so one snapshot: a posting moves the balance and
  writes its entries in the same transaction);
- every transaction with an entry after the mark balances per currency (all of its
  entries, old ones included: an entry added to an old transaction is after the
  mark);
- every transaction after the mark has two or more entries;
- no account is negative that may not be (all accounts: a row read, no sums).

This relies on the ledger being append-only — PostgreSQL's triggers refuse any
UPDATE or DELETE of entries; on SQLite nothing enforces it, and ``--full`` is the
check that trusts nothing. The cost of an incremental check is one pass over the
accounts plus the entries since the last check (``kameng bench scale``, 10,000 shops,
3 million entries, 2 busy cores: 40 ms; ``--full`` 6.6 s).

Moving the mark needs a point below which no entry can still appear: on PostgreSQL
ids are handed out before commit, so an entry with a lower id can become visible
after one with a higher id. The mark is therefore read under a SHARE lock of the
ledger tables in a short transaction of its own (it waits for the postings in
flight to commit, holds new ones for the one ``max(id)`` read, then lets go): every
id at or below it is committed. If the lock cannot be had within
``LOCK_TIMEOUT`` the check still runs, it only does not move the mark. On SQLite
every transaction starts with ``BEGIN IMMEDIATE``: writers are serialised already.

The mark moves only when the check found nothing wrong, so a problem is reported
again by every check until it is mended.
"""
from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select, text
from sqlalchemy.exc import OperationalError

from kameng.billing.ledger.models import (
    Account,
    CheckMark,
    Entry,
    Transaction,
    kind_allows_negative,
)
from kameng.core.extensions import db
from kameng.core.models import utcnow

# while the lock is queued, new postings wait behind it: keep the wait short
LOCK_TIMEOUT = "1s"
MARK_ID = 1


@dataclass
class CheckResult:
    transactions: int
    accounts: int
    problems: list[str]
    funded_accounts: int = 0   # shops' funded accounts (预存款) checked, none may be negative
    full: bool = True          # every entry re-summed (else only those after the mark)
    entries_checked: int = 0   # entries read and summed by this check
    after: int = 0             # the entries after this id were summed
    mark: int = 0              # every entry up to this id is now summed (0: none)
    mark_moved: bool = False

    @property
    def ok(self) -> bool:
        return not self.problems


def _settled_ids() -> tuple[int, int] | None:
    """(entry id, transaction id) at or below which every row is committed, or None
    when the ledger's tables could not be locked in time."""
    if db.session.get_bind().dialect.name != "postgresql":
        return (db.session.scalar(select(func.coalesce(func.max(Entry.id), 0))),
                db.session.scalar(select(func.coalesce(func.max(Transaction.id), 0))))
    try:
        with db.engine.connect() as conn:   # a short transaction of its own
            conn.execute(text(f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT}'"))
            # SHARE conflicts with the inserts' ROW EXCLUSIVE: granted once every
            # posting in flight has ended, and no new one starts until we commit
            conn.execute(text("LOCK TABLE ledger_transactions, ledger_entries IN SHARE MODE"))
            ids = (conn.scalar(text("SELECT coalesce(max(id), 0) FROM ledger_entries")),
                   conn.scalar(text("SELECT coalesce(max(id), 0) FROM ledger_transactions")))
            conn.commit()
            return ids
    except OperationalError:
        return None


def settled_ids() -> tuple[int, int] | None:
    """(entry id, transaction id) at or below which every row is committed (None: the
    tables could not be locked in time): a point other running sums may move to."""
    return _settled_ids()


def _mark() -> CheckMark | None:
    stmt = select(CheckMark).where(CheckMark.id == MARK_ID)
    if db.session.get_bind().dialect.name == "postgresql":
        stmt = stmt.with_for_update()   # one check moves the mark at a time
    return db.session.scalar(stmt)


def check_ledger(full: bool = False) -> CheckResult:
    """Every transaction balances per currency with ≥2 entries; every cached
    balance equals the sum of its entries; no account is negative that may not be
    (by its row's flag and by its kind: no shop's ``funded`` account, no wallet).

    Incremental unless ``full`` or no check has run yet (module docstring). Owns its
    transaction: it records how far it got.
    """
    settled = _settled_ids()
    try:
        result = _check_in_txn(full, settled)
    except BaseException:
        db.session.rollback()
        raise
    db.session.commit()
    return result


def _check_in_txn(full: bool, settled: tuple[int, int] | None) -> CheckResult:
    mark = _mark()
    if mark is None:
        full = True
    after_entry = 0 if full else mark.entry_id
    after_tx = 0 if full else mark.transaction_id
    problems: list[str] = []
    params = {"after": after_entry, "after_tx": after_tx}

    delta_tx = "" if full else \
        " WHERE e.transaction_id IN (SELECT transaction_id FROM ledger_entries WHERE id > :after)"
    unbalanced = db.session.execute(text(
        "SELECT e.transaction_id, a.currency, sum(e.amount) FROM ledger_entries e"
        " JOIN ledger_accounts a ON a.id = e.account_id" + delta_tx +
        " GROUP BY e.transaction_id, a.currency HAVING sum(e.amount) <> 0"
        " ORDER BY e.transaction_id"), params)
    for tx_id, currency, amount in unbalanced:
        problems.append(f"transaction {tx_id} does not balance: {currency} {int(amount):+d}")

    thin = db.session.execute(text(
        "SELECT t.id, count(e.id) FROM ledger_transactions t"
        " LEFT JOIN ledger_entries e ON e.transaction_id = t.id WHERE t.id > :after_tx"
        " GROUP BY t.id HAVING count(e.id) < 2 ORDER BY t.id"), params)
    for tx_id, n in thin:
        problems.append(f"transaction {tx_id} has {n} entr{'y' if n == 1 else 'ies'}")

    # balance vs remembered sum + entries after the mark, in one statement (one snapshot)
    remembered = "0" if full else "coalesce(s.amount, 0)"
    sums_join = "" if full else " LEFT JOIN ledger_check_sums s ON s.account_id = a.id"
    drift = db.session.execute(text(
        f"SELECT a.id, a.balance, {remembered} + coalesce(d.amount, 0) AS summed"
        " FROM ledger_accounts a" + sums_join +
        " LEFT JOIN (SELECT account_id, sum(amount) AS amount FROM ledger_entries"
        "            WHERE id > :after GROUP BY account_id) d ON d.account_id = a.id"
        f" WHERE a.balance <> {remembered} + coalesce(d.amount, 0) ORDER BY a.id"),
        params).all()
    for account_id, balance, summed in drift:
        account = db.session.get(Account, account_id)
        problems.append(f"{account.label}: cached balance {balance} "
                        f"!= sum of entries {int(summed)}")

    # one pass over the negative accounts: those whose row forbids it, then those whose
    # kind does whatever the row says (no shop's funded account (预存款), wallet or
    # pending earnings is ever below zero)
    negative = list(db.session.scalars(select(Account).where(Account.balance < 0)
                                       .order_by(Account.id)))
    for account in negative:
        if not account.allow_negative:
            problems.append(f"{account.label}: negative balance {account.balance} not allowed")
    for account in negative:
        if account.allow_negative and \
                kind_allows_negative(account.owner_type, account.kind) is False:
            problems.append(f"{account.label}: negative balance {account.balance} not allowed "
                            f"for a {account.kind} account")

    counts = db.session.execute(text(
        "SELECT (SELECT count(*) FROM ledger_entries WHERE id > :after),"
        " (SELECT count(*) FROM ledger_transactions WHERE id > :after_tx),"
        " (SELECT count(*) FROM ledger_accounts),"
        " (SELECT count(*) FROM ledger_accounts"
        "  WHERE owner_type = 'tenant' AND kind = 'funded')"), params).one()
    entries_checked, since, accounts, funded = counts
    before = 0 if full or mark is None else mark.transactions
    result = CheckResult(
        transactions=before + since, accounts=accounts, problems=problems,
        funded_accounts=funded, full=full, entries_checked=entries_checked, after=after_entry,
        mark=0 if mark is None or full else mark.entry_id)
    if not problems and settled is not None:
        _move_mark(mark, full, settled, after_entry, after_tx, before)
        result.mark, result.mark_moved = settled[0], True
    return result


def _move_mark(mark: CheckMark | None, full: bool, settled: tuple[int, int],
               after_entry: int, after_tx: int, before: int) -> None:
    entry_id, tx_id = settled
    entry_id, tx_id = max(entry_id, after_entry), max(tx_id, after_tx)
    params = {"after": after_entry, "upto": entry_id}
    if full:
        db.session.execute(text("DELETE FROM ledger_check_sums"))
    # sums of the settled entries after the old mark, added to the remembered ones
    db.session.execute(text(
        "INSERT INTO ledger_check_sums (account_id, amount)"
        " SELECT account_id, sum(amount) FROM ledger_entries"
        " WHERE id > :after AND id <= :upto GROUP BY account_id"
        " ON CONFLICT (account_id) DO UPDATE"
        " SET amount = ledger_check_sums.amount + excluded.amount"), params)
    counted = before + db.session.scalar(text(
        "SELECT count(*) FROM ledger_transactions WHERE id > :a AND id <= :b"),
        {"a": after_tx, "b": tx_id})
    now = utcnow()
    if mark is None:
        mark = CheckMark(id=MARK_ID)
        db.session.add(mark)
    mark.entry_id, mark.transaction_id, mark.transactions = entry_id, tx_id, counted
    mark.checked_at = now
    if full:
        mark.full_at = now
