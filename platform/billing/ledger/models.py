"""The double-entry ledger: accounts, transactions and their entries.

Every movement of money is one ``Transaction`` whose ``Entry`` rows sum to zero
per currency. Amounts are signed integers in the currency's minor unit; a
positive amount raises the account's balance as its owner sees it (a wallet
credit, earnings), a negative one lowers it. ``Account.balance`` is a cache of
the sum of its entries, kept by guarded UPDATEs in ``services.post`` and
verified by ``kameng ledger check``.

Accounts are not ``TenantScoped``: one transaction routinely touches several
shops (a commission pays every level of the chain) and platform accounts that
belong to no shop. Code that shows ledger data in a shop's pages filters by
``tenant_id`` / ``user_id`` explicitly.

The ledger is append-only: corrections are reversals, never edits. On
PostgreSQL, triggers (``PG_LEDGER_DDL``) refuse an unbalanced transaction at
commit and any UPDATE or DELETE of posted rows.
"""
from __future__ import annotations

import re
from datetime import datetime

from sqlalchemy import (
    DDL,
    BigInteger,
    CheckConstraint,
    ForeignKey,
    Index,
    String,
    UniqueConstraint,
    event,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from kameng.core.extensions import db
from kameng.core.models import BigId, IdMixin, TimestampMixin, UTCDateTime

OWNER_TYPES = ("tenant", "user", "platform")

# kind -> allow_negative, per owner type. Money someone owns (a wallet, earnings,
# a withdrawal hold) may never go below zero; system accounts are the other side
# of those postings and run negative by design (e.g. credits_issued falls as a
# shop credits its customers' wallets).
USER_KINDS = {
    "wallet": False,               # the customer's prepaid balance on a shop
    "earnings_pending": False,     # promoter (推广) earnings inside the hold period
    "earnings_available": True,    # promoter earnings after the hold (a late refund may claw back)
    "withdrawal_hold": False,      # requested, not yet paid out
}
TENANT_KINDS = {
    "earnings_pending": False,     # the shop's margin inside the hold period
    "earnings_available": True,    # withdrawable; a post-hold refund may take it below zero
    "withdrawal_hold": False,      # requested withdrawals awaiting approval/payout
    "credits_issued": True,        # source of the wallet credits the shop grants
    "fees": True,                  # payment fees the shop bears
    "funded": False,               # 预存款: the shop's prepaid balance with its parent
}
PLATFORM_KINDS = {
    "revenue": True,               # the platform's own income (plans, fees charged)
    "sales_clearing": True,        # order money taken, not yet split up the chain
    "supplier_payable": True,      # owed to upstream suppliers
    "fees": True,                  # payment provider fees
    "refunds": True,               # money returned outside the wallet (card refunds)
    "payouts": True,               # withdrawals paid out
    "rounding": True,              # where rounding remainders are declared to go
    "suspense": True,              # unexplained money awaiting investigation
}
# payment clearing per provider: "clearing_stripe", "clearing_epay", …
CLEARING_RE = re.compile(r"^clearing_[a-z0-9_]{1,40}$")
KINDS = {"user": USER_KINDS, "tenant": TENANT_KINDS, "platform": PLATFORM_KINDS}


def kind_allows_negative(owner_type: str, kind: str) -> bool | None:
    """The default ``allow_negative`` of a kind, or None if the kind is unknown."""
    if owner_type == "platform" and CLEARING_RE.match(kind):
        return True
    return KINDS.get(owner_type, {}).get(kind)


class Account(IdMixin, TimestampMixin, db.Model):
    __tablename__ = "ledger_accounts"
    __table_args__ = (
        # owner_key ("user:42", "tenant:7", "platform") makes get-or-create race-safe:
        # NULLs would not collide in a unique constraint, a string does
        UniqueConstraint("owner_key", "kind", "currency"),
        CheckConstraint("owner_type IN ('tenant', 'user', 'platform')", name="owner_type"),
        CheckConstraint(
            "(owner_type = 'platform' AND tenant_id IS NULL AND user_id IS NULL)"
            " OR (owner_type = 'tenant' AND tenant_id IS NOT NULL AND user_id IS NULL)"
            " OR (owner_type = 'user' AND tenant_id IS NOT NULL AND user_id IS NOT NULL)",
            name="owner"),
        # the last line of defence behind the guarded UPDATE
        CheckConstraint("allow_negative OR balance >= 0", name="balance_not_negative"),
    )

    owner_type: Mapped[str] = mapped_column(String(16))
    owner_key: Mapped[str] = mapped_column(String(40))
    tenant_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("tenants.id"), index=True)
    user_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("users.id"), index=True)
    kind: Mapped[str] = mapped_column(String(48))
    currency: Mapped[str] = mapped_column(String(3))
    balance: Mapped[int] = mapped_column(BigInteger, default=0)
    allow_negative: Mapped[bool] = mapped_column(default=False)

    @property
    def label(self) -> str:
        owner = self.owner_key.replace(":", " ")
        return f"account {self.id} ({self.kind} of {owner}, {self.currency})"

    def __repr__(self) -> str:
        return f"<Account {self.id} {self.owner_key} {self.kind} {self.currency}>"


class Transaction(IdMixin, TimestampMixin, db.Model):
    __tablename__ = "ledger_transactions"

    # the caller's name for this movement: posting it twice changes nothing
    idempotency_key: Mapped[str] = mapped_column(String(160), unique=True)
    kind: Mapped[str] = mapped_column(String(48), index=True)
    reference: Mapped[str | None] = mapped_column(String(80), index=True)  # e.g. an order_no
    memo: Mapped[str | None] = mapped_column(String(500))
    created_by_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("users.id"))
    # unique: a transaction is reversed at most once, whatever key the second try uses
    reversal_of_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("ledger_transactions.id"), unique=True)

    entries: Mapped[list[Entry]] = relationship(back_populates="transaction",
                                                order_by="Entry.id")

    def __repr__(self) -> str:
        return f"<Transaction {self.id} {self.kind} {self.idempotency_key!r}>"


class Entry(IdMixin, db.Model):
    __tablename__ = "ledger_entries"
    __table_args__ = (
        CheckConstraint("amount <> 0", name="amount_not_zero"),
        # an account's latest entries (histories, statements) without sorting them all
        Index("ix_ledger_entries_account_id_id", "account_id", "id"),
    )

    transaction_id: Mapped[int] = mapped_column(BigId, ForeignKey("ledger_transactions.id"),
                                                index=True)
    # indexed by ix_ledger_entries_account_id_id (account, id) above
    account_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("ledger_accounts.id", deferrable=True, initially="DEFERRED"))
    amount: Mapped[int] = mapped_column(BigInteger)

    transaction: Mapped[Transaction] = relationship(back_populates="entries")
    account: Mapped[Account] = relationship(lazy="joined")


class CheckMark(db.Model):
    """How far ``kameng ledger check`` has verified the ledger (one row, id 1).

    Every entry with ``id <= entry_id`` is summed per account in ``CheckSum``, and
    every transaction with ``id <= transaction_id`` was found balanced with two or
    more entries (``transactions`` of them). The next check re-sums only what came
    after: entries are append-only (PostgreSQL's triggers refuse UPDATE and DELETE),
    so what was summed stays summed. ``kameng ledger check --full`` re-sums all.
    """

    __tablename__ = "ledger_check_marks"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    entry_id: Mapped[int] = mapped_column(BigInteger, default=0)
    transaction_id: Mapped[int] = mapped_column(BigInteger, default=0)
    transactions: Mapped[int] = mapped_column(BigInteger, default=0)
    checked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    full_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class CheckSum(db.Model):
    """An account's entries summed up to ``CheckMark.entry_id``."""

    __tablename__ = "ledger_check_sums"

    account_id: Mapped[int] = mapped_column(BigId, ForeignKey("ledger_accounts.id"),
                                            primary_key=True)
    amount: Mapped[int] = mapped_column(BigInteger, default=0)


# --- PostgreSQL guards ---------------------------------------------------------
# Reused verbatim by the Alembic migration: op.execute(stmt) for each, in order.
# (No percent signs: SQLAlchemy's DDL() applies %-formatting to its text.)
PG_LEDGER_DDL: tuple[str, ...] = (
    """
CREATE OR REPLACE FUNCTION ledger_check_balanced() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    tid bigint;
    n integer;
    off_currency text;
BEGIN
    IF TG_TABLE_NAME = 'ledger_transactions' THEN
        tid := NEW.id;
    ELSE
        tid := NEW.transaction_id;
        -- an entry of a transaction row written by this same database transaction
        -- is checked once, by that row's own trigger at COMMIT; only entries added
        -- to an older transaction need the check here (a row written inside a
        -- SAVEPOINT carries the subtransaction's id and is simply checked twice)
        IF EXISTS (SELECT 1 FROM ledger_transactions t
                    WHERE t.id = tid AND t.xmin = pg_current_xact_id()::xid) THEN
            RETURN NULL;
        END IF;
    END IF;
    -- one pass: how many entries, and which currencies do not sum to zero
    SELECT coalesce(sum(x.c), 0), string_agg(x.currency, ', ') FILTER (WHERE x.s <> 0)
      INTO n, off_currency
      FROM (SELECT a.currency, sum(e.amount) AS s, count(*) AS c
              FROM ledger_entries e JOIN ledger_accounts a ON a.id = e.account_id
             WHERE e.transaction_id = tid
             GROUP BY a.currency) x;
    IF n < 2 THEN
        RAISE EXCEPTION USING ERRCODE = 'check_violation',
            MESSAGE = 'ledger transaction ' || tid || ' has fewer than two entries';
    END IF;
    IF off_currency IS NOT NULL THEN
        RAISE EXCEPTION USING ERRCODE = 'check_violation',
            MESSAGE = 'ledger transaction ' || tid || ' does not balance in ' || off_currency;
    END IF;
    RETURN NULL;
END
$$
""",
    """
CREATE OR REPLACE FUNCTION ledger_refuse_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION USING ERRCODE = 'restrict_violation',
        MESSAGE = 'the ledger is append-only: ' || TG_OP || ' on ' || TG_TABLE_NAME
                  || ' refused; post a reversal instead';
END
$$
""",
    # checked at COMMIT, when every entry of the transaction has been written
    """
CREATE CONSTRAINT TRIGGER ledger_entries_balanced
    AFTER INSERT ON ledger_entries
    DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW EXECUTE FUNCTION ledger_check_balanced()
""",
    """
CREATE CONSTRAINT TRIGGER ledger_transactions_balanced
    AFTER INSERT ON ledger_transactions
    DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW EXECUTE FUNCTION ledger_check_balanced()
""",
    """
CREATE TRIGGER ledger_entries_append_only
    BEFORE UPDATE OR DELETE ON ledger_entries
    FOR EACH ROW EXECUTE FUNCTION ledger_refuse_change()
""",
    """
CREATE TRIGGER ledger_transactions_append_only
    BEFORE UPDATE OR DELETE ON ledger_transactions
    FOR EACH ROW EXECUTE FUNCTION ledger_refuse_change()
""",
)

# for the migration's downgrade
PG_LEDGER_DROP_DDL: tuple[str, ...] = (
    "DROP TRIGGER IF EXISTS ledger_transactions_append_only ON ledger_transactions",
    "DROP TRIGGER IF EXISTS ledger_entries_append_only ON ledger_entries",
    "DROP TRIGGER IF EXISTS ledger_transactions_balanced ON ledger_transactions",
    "DROP TRIGGER IF EXISTS ledger_entries_balanced ON ledger_entries",
    "DROP FUNCTION IF EXISTS ledger_refuse_change()",
    "DROP FUNCTION IF EXISTS ledger_check_balanced()",
)

# ledger_entries is created after ledger_transactions and ledger_accounts (its
# foreign keys), so every table the triggers name exists by then.
for _stmt in PG_LEDGER_DDL:
    event.listen(Entry.__table__, "after_create", DDL(_stmt).execute_if(dialect="postgresql"))
