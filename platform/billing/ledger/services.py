"""Posting to the ledger, finding accounts, and checking the books.

``post()`` is the only way money moves. It validates everything first (at least
two non-zero integer entries, summing to zero per currency), then moves each
guarded account's cached balance with one UPDATE::

    UPDATE ledger_accounts SET balance = balance + :amount
     WHERE id = :id AND (allow_negative OR balance + :amount >= 0)

inserts the transaction row with ``ON CONFLICT DO NOTHING`` (its unique
``idempotency_key`` decides races and repeats) and the entries in one
statement. An UPDATE that matches no row means the account would go below
zero: the posting's own moves are undone and ``InsufficientBalance`` (HTTP 402,
code ``insufficient_balance``) raised. Moves that cannot fail (credits,
accounts that may run negative) are applied just before COMMIT
(``kameng.core.hotrows``).

Using it inside the caller's transaction
----------------------------------------
Every writing function comes in two forms (docs/architecture.md, Transactions):

- ``post``/``reverse``: the posting owns the transaction. It commits on
  success; on an error it rolls the whole session back.
- ``post_in_txn``/``reverse_in_txn``: the posting is written in the caller's
  transaction, not committed. The caller's other writes (the order's status
  change, an outbox row) and these postings then commit — or roll back — together with the
  caller's ``db.session.commit()``. A refused posting (insufficient balance)
  undoes its own moves, without a SAVEPOINT (its rows are locked by then), and
  leaves the caller's work as it was; the caller decides about the rest.

Account rows are updated in ascending id order, so two postings touching the
same accounts cannot deadlock on PostgreSQL; on SQLite every transaction starts
with ``BEGIN IMMEDIATE`` and writers are serialised. An account's entries are
inserted while its row is locked, so entry ids of one account follow the order
of its balance changes (the running balance in ``account_history`` relies on it).

The account helpers (``wallet_account``, ``shop_account``, ``user_account``,
``platform_account``) get or create, race-safely, and never commit: a new
account is committed with the posting (or the caller's transaction) that uses it.
"""
from __future__ import annotations

import functools
import re
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

from flask import current_app
from sqlalchemy import bindparam, func, or_, select, true, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import make_transient_to_detached
from sqlalchemy.orm.util import identity_key

from kameng.billing.ledger.models import Account, Entry, Transaction, kind_allows_negative
from kameng.core import hotrows, txn
from kameng.core.database import insert_on_conflict
from kameng.core.errors import Conflict, InvalidInput, ServiceError
from kameng.core.extensions import db
from kameng.core.hotrows import defer_increment, take_pending
from kameng.core.i18n import lazy_gettext as _l
from kameng.core.models import utcnow
from kameng.core.money import MoneyError, exponent
from kameng.core.txn import in_own_txn
from kameng.tenants.models import Tenant, User

# far beyond any real amount, far inside a signed 64-bit integer
MAX_AMOUNT = 10**15
KEY_RE = re.compile(r"^[\x21-\x7e]{1,160}$")   # printable ASCII, no spaces
TX_KIND_RE = re.compile(r"^[a-z][a-z0-9_.]{0,47}$")


class InsufficientBalance(ServiceError):
    code = "insufficient_balance"
    status = 402

    def __init__(self, message: str = _l("insufficient balance"), *,
                 account_id: int | None = None):
        super().__init__(message)
        self.account_id = account_id


class IdempotencyConflict(Conflict):
    """The key was already used for a different posting (a caller bug, never retried away)."""

    code = "idempotency_conflict"


# ----- accounts --------------------------------------------------------------

def _currency(code: str | None) -> str:
    code = (code or "").strip().upper()
    try:
        exponent(code)
    except MoneyError:
        raise InvalidInput(_l("unknown currency %(code)r", code=code), field="currency") from None
    return code


def _allow_negative(owner_type: str, kind: str) -> bool:
    allowed = kind_allows_negative(owner_type, kind)
    if allowed is None:
        raise InvalidInput(_l("unknown %(owner_type)s account kind %(kind)r",
                              owner_type=owner_type, kind=kind), field="kind")
    return allowed


# (owner_key, kind, currency) -> the account's fixed columns. Accounts are never
# deleted and none of these columns ever changes, so a process may remember them;
# only committed accounts are remembered (see _remember), and the memory lives on
# the app, so a test's fresh database starts with a fresh one.
_FIXED = ("id", "owner_type", "owner_key", "tenant_id", "user_id", "kind", "currency",
          "allow_negative")
_SEEN = "kameng_ledger_accounts_seen"


def _known_accounts() -> dict:
    return current_app.extensions.setdefault("kameng.ledger_accounts", {})


def forget_accounts() -> None:
    """Forget the remembered accounts: only for a database emptied under a running
    app (the tests' reset; production never deletes an account)."""
    _known_accounts().clear()


class _Seen(dict):
    """Accounts met in this transaction, remembered once it commits."""

    def __init__(self, known: dict):
        super().__init__()
        self.known = known

    def __call__(self) -> None:
        self.known.update(self)


def _remember(account: Account) -> None:
    seen = txn.after_commit(_Seen(_known_accounts()), key=_SEEN)
    seen[(account.owner_key, account.kind, account.currency)] = tuple(
        getattr(account, name) for name in _FIXED)


def _known(owner_key: str, kind: str, currency: str) -> Account | None:
    """The remembered account, in this session, without a query."""
    fixed = _known_accounts().get((owner_key, kind, currency))
    if fixed is None:
        # met earlier in this transaction (a batch of deliveries posts to the same
        # accounts): remembered for good only once it commits
        seen = txn.waiting(_SEEN)
        fixed = seen.get((owner_key, kind, currency)) if seen is not None else None
    if fixed is None:
        return None
    values = dict(zip(_FIXED, fixed, strict=True))
    present = db.session.identity_map.get(identity_key(Account, values["id"]))
    if present is not None:
        return present
    account = Account(**values)
    make_transient_to_detached(account)  # balance and created_at load if read
    db.session.add(account)
    return account


def _get_or_create(owner_type: str, owner_key: str, kind: str, currency: str, *,
                   tenant_id: int | None = None, user_id: int | None = None) -> Account:
    allow_negative = _allow_negative(owner_type, kind)
    currency = _currency(currency)
    account = _known(owner_key, kind, currency)
    if account is not None:
        return account
    stmt = select(Account).where(Account.owner_key == owner_key, Account.kind == kind,
                                 Account.currency == currency)
    account = db.session.scalar(stmt)
    if account is None:
        account = Account(owner_type=owner_type, owner_key=owner_key, tenant_id=tenant_id,
                          user_id=user_id, kind=kind, currency=currency, balance=0,
                          allow_negative=allow_negative)
        try:
            with db.session.begin_nested():
                db.session.add(account)
        except IntegrityError:
            # someone else created it first (unique owner_key/kind/currency): use theirs
            account = db.session.scalar(stmt)
            if account is None:
                raise
    _remember(account)
    return account


def _tenant_of(user: User) -> Tenant:
    return db.session.get(Tenant, user.tenant_id)


def wallet_account(user: User, currency: str | None = None) -> Account:
    """The user's prepaid wallet on their shop (in the shop's currency by default)."""
    return user_account(user, "wallet", currency)


def user_account(user: User, kind: str, currency: str | None = None) -> Account:
    """An account a user owns on their shop: ``wallet``, promoter ``earnings_*`` …"""
    if user is None or user.id is None:
        raise InvalidInput(_l("no such user"), field="user")
    return _get_or_create("user", f"user:{user.id}", kind,
                          currency or _tenant_of(user).currency,
                          tenant_id=user.tenant_id, user_id=user.id)


def shop_account(tenant: Tenant, kind: str, currency: str | None = None) -> Account:
    """A shop's own account: ``earnings_pending``, ``earnings_available``, ``credits_issued`` …"""
    if tenant is None or tenant.id is None:
        raise InvalidInput(_l("no such shop"), field="tenant")
    return shop_account_of(tenant.id, kind, currency or tenant.currency)


def shop_account_of(tenant_id: int, kind: str, currency: str) -> Account:
    """``shop_account`` by the shop's id, when the currency is known (no shop row read)."""
    return _get_or_create("tenant", f"tenant:{tenant_id}", kind, currency, tenant_id=tenant_id)


def platform_account(kind: str, currency: str) -> Account:
    """A system account of the platform: ``sales_clearing``, ``clearing_stripe``, ``fees`` …"""
    return _get_or_create("platform", "platform", kind, currency)


def find_user_account(user: User, kind: str = "wallet", currency: str | None = None
                      ) -> Account | None:
    """The account if it exists (reading pages should not create rows)."""
    owner_key, currency = f"user:{user.id}", currency or _tenant_of(user).currency
    account = _known(owner_key, kind, currency)
    if account is None:
        account = db.session.scalar(select(Account).where(
            Account.owner_key == owner_key, Account.kind == kind,
            Account.currency == currency))
        if account is not None:
            _remember(account)
    return account


def balance_of(account: Account) -> int:
    """The committed cached balance, read fresh from the database."""
    return db.session.scalar(select(Account.balance).where(Account.id == account.id))


# ----- posting ---------------------------------------------------------------

def _clean_text(value: str | None, name: str, limit: int) -> str | None:
    if value is None:
        return None
    value = str(value).strip()
    if len(value) > limit:
        raise InvalidInput(_l("%(name)s is longer than %(limit)s characters",
                              name=name, limit=limit), field=name)
    return value or None


def _clean_entries(entries) -> list[tuple[Account, int]]:
    lines: list[tuple[Account, int]] = []
    for item in entries:
        try:
            account, amount = item
        except (TypeError, ValueError):
            raise InvalidInput(_l("each entry is an (account, amount) pair")) from None
        if not isinstance(account, Account) or account.id is None:
            raise InvalidInput(_l("entries need saved ledger accounts"), field="entries")
        if isinstance(amount, bool) or not isinstance(amount, int):
            raise InvalidInput(_l("amounts are integers in minor units, not %(amount)r",
                                  amount=amount),
                               field="amount")
        if abs(amount) > MAX_AMOUNT:
            raise InvalidInput(_l("amount out of range"), field="amount")
        if amount:  # a zero line moves nothing; it is left out
            lines.append((account, amount))
    if len(lines) < 2:
        raise InvalidInput(_l("a ledger transaction needs at least two non-zero entries"),
                           field="entries")
    totals: dict[str, int] = defaultdict(int)
    for account, amount in lines:
        totals[account.currency] += amount
    off = {cur: total for cur, total in totals.items() if total}
    if off:
        detail = ", ".join(f"{cur} {total:+d}" for cur, total in sorted(off.items()))
        raise InvalidInput(_l("entries do not balance (%(detail)s)",
                              detail=detail), field="entries")
    return lines


def transaction_by_key(idempotency_key: str) -> Transaction | None:
    return db.session.scalar(select(Transaction)
                             .where(Transaction.idempotency_key == idempotency_key))


def _same_postings(tx: Transaction, kind: str, lines) -> bool:
    posted = sorted((e.account_id, e.amount) for e in tx.entries)
    return tx.kind == kind and posted == sorted((a.id, amt) for a, amt in lines)


def _replay(tx: Transaction, kind: str, lines) -> Transaction:
    if not _same_postings(tx, kind, lines):
        raise IdempotencyConflict(
            _l("idempotency key %(idempotency_key)r was already used for other postings",
               idempotency_key=tx.idempotency_key))
    tx.replayed = True
    return tx


def _guarded_moves(lines, guard_ids: set[int]) -> tuple[list, list]:
    """Split the net moves into (guarded, deferred), each ``[(account_id, amount)]``.

    A move that could take a balance below zero is checked by its UPDATE at once.
    Every other move (a credit, or a debit of an account that may go negative and
    is not guarded) cannot fail, so it is deferred to just before COMMIT
    (kameng.core.hotrows): platform clearing accounts are touched by every order,
    and holding their row lock for the whole order transaction would serialise
    all orders.
    """
    net: dict[int, int] = defaultdict(int)
    may_go_negative: dict[int, bool] = {}
    for account, amount in lines:
        net[account.id] += amount
        may_go_negative[account.id] = bool(account.allow_negative)
    guarded, deferred = [], []
    for account_id in sorted(net):  # one lock order for everyone: no deadlocks
        amount = net[account_id]
        if not amount:
            continue
        if amount > 0 or (may_go_negative[account_id] and account_id not in guard_ids):
            deferred.append((account_id, amount))
        else:
            guarded.append((account_id, amount))
    return guarded, deferred


def _apply_guarded(guarded, guard_ids: set[int]) -> list[tuple[int, int]]:
    """Apply the guarded moves; on the first refused one undo the others and raise.

    Returns this posting's own moves, so a caller that must give up afterwards can
    undo exactly those (a deferred credit folded into a row's UPDATE stays applied).
    """
    session = db.session()
    applied: list[tuple[int, int]] = []
    for account_id, amount in guarded:
        # a credit to this account deferred earlier in the transaction counts here
        pending = take_pending(session, Account.__table__, account_id, "balance")
        total = amount + pending
        stmt = _guarded_statement(account_id in guard_ids)
        if db.session.execute(stmt, {"account_id": account_id, "total": total}).rowcount != 1:
            if pending:
                defer_increment(session, Account.__table__, account_id, "balance", pending)
            _undo(applied)
            raise InsufficientBalance(account_id=account_id)
        applied.append((account_id, amount))  # the folded-in credit stays applied
    return applied


@functools.cache
def _guarded_statement(strict: bool):
    """``balance += :total`` unless that takes it below zero (``strict``: even for an
    account that may run negative); built once, as every order runs it."""
    table = Account.__table__
    total = bindparam("total", type_=table.c.balance.type)
    covered = table.c.balance + total >= 0
    return (update(table).where(table.c.id == bindparam("account_id"))
            .values(balance=table.c.balance + total)
            .where(covered if strict else or_(table.c.allow_negative, covered)))


def _undo(applied: list[tuple[int, int]]) -> None:
    # these rows are locked by this transaction since their UPDATE: undoing is exact
    for account_id, amount in applied:
        db.session.execute(update(Account).where(Account.id == account_id)
                           .values(balance=Account.balance - amount)
                           .execution_options(synchronize_session=False))


def _debit_and_insert(move: tuple[int, int], guard_ids: set[int], values: dict, lines,
                      deferred: list[tuple[int, int]]
                      ) -> tuple[list[tuple[int, int]], int | None, bool]:
    """PostgreSQL, one guarded move: the guarded UPDATE, the transaction and its entries
    in ONE statement — the transaction only if the UPDATE took (its row is inserted
    from the UPDATE's RETURNING). Returns (applied moves, transaction id or None) like
    ``_apply_guarded`` and ``_insert_transaction``, and whether the statement also
    applied the posting's ``deferred`` moves; raises ``InsufficientBalance``.

    The same statement applies, once the transaction is in, the increments deferred so
    far in the caller's transaction and the posting's own (``kameng.core.hotrows``):
    a payment is an order's last statement, and the hot rows are then locked from
    here to COMMIT as they would have been from the UPDATE just before it, one round
    trip fewer."""
    account_id, amount = move
    session = db.session()
    pending = take_pending(session, Account.__table__, account_id, "balance")
    taken = hotrows.take_all(session)
    hot = hotrows.in_lock_order([*taken, *((Account.__table__, other, "balance", delta)
                                           for other, delta in deferred)])
    shape, hot_params = hotrows.statement_shape(hot)
    row = session.execute(_posting_statement(account_id in guard_ids, shape), {
        **{f"tx_{k}": v for k, v in values.items()}, **hot_params,
        "account_id": account_id, "total": amount + pending,
        "account_ids": [account.id for account, _amount in lines],
        "amounts": [line_amount for _account, line_amount in lines]}).one()
    if row.tx_id is None:
        hotrows.restore(session, taken)   # none of them applied
    if not row.debited:
        if pending:
            defer_increment(session, Account.__table__, account_id, "balance", pending)
        raise InsufficientBalance(account_id=account_id)
    return [(account_id, amount)], row.tx_id, row.tx_id is not None


def _insert_transaction(values: dict, lines) -> int | None:
    """INSERT … ON CONFLICT DO NOTHING, then the entries: the new id, or None (and no
    entries) when the key (or the reversal) is taken — a concurrent insert of the same
    key is waited for. On PostgreSQL one statement (the entries in a CTE that reads the
    transaction's RETURNING: every order posts one), on SQLite two."""
    table, entries = Transaction.__table__, Entry.__table__
    rows = [{"account_id": account.id, "amount": amount} for account, amount in lines]
    if db.session.get_bind().dialect.name == "postgresql":
        return db.session.execute(_posting_statement(), {
            **{f"tx_{k}": v for k, v in values.items()},
            "account_ids": [row["account_id"] for row in rows],
            "amounts": [row["amount"] for row in rows]}).scalar()
    tx = (insert_on_conflict(table).values(**values).on_conflict_do_nothing()
          .returning(table.c.id))
    tx_id = db.session.execute(tx).scalar()
    if tx_id is not None:
        db.session.execute(entries.insert(), [{"transaction_id": tx_id, **row} for row in rows])
    return tx_id


@functools.cache
def _posting_statement(strict: bool | None = None, hot: tuple = ()):
    """PostgreSQL: the transaction (``tx_<column>`` parameters, ON CONFLICT DO NOTHING)
    and its entries (``unnest(:account_ids, :amounts)`` in their order) in one
    statement, built once; the entries' CTE inserts nothing when the key was taken.

    With ``strict`` True or False the statement starts with the guarded UPDATE of
    ``_guarded_statement(strict)`` (``account_id``, ``total``) and inserts the
    transaction only if that UPDATE took; it answers (debited, tx_id). ``hot``: the
    shape of increments (``kameng.core.hotrows.statement_shape``: parameters ``id<n>``,
    ``delta<n>_<k>``) applied after the transaction, and only if it was inserted."""
    from sqlalchemy import BigInteger
    from sqlalchemy.dialects.postgresql import ARRAY, insert

    table, entries = Transaction.__table__, Entry.__table__
    columns = ("idempotency_key", "kind", "reference", "memo", "created_by_id",
               "reversal_of_id", "created_at")
    params = {table.c[k]: bindparam(f"tx_{k}", type_=table.c[k].type) for k in columns}
    ctes = []
    if strict is None:
        posted = insert(table).values(params)
    else:
        debit = _guarded_statement(strict).returning(Account.__table__.c.id).cte("debit")
        ctes.append(debit)
        posted = insert(table).from_select(list(columns),
                                           select(*params.values()).select_from(debit))
    posted = posted.on_conflict_do_nothing().returning(table.c.id).cte("tx")
    moves = func.unnest(bindparam("account_ids", type_=ARRAY(BigInteger)),
                        bindparam("amounts", type_=ARRAY(BigInteger))
                        ).table_valued("account_id", "amount", with_ordinality="n"
                                       ).render_derived(name="moves")
    written = (insert(entries)
               .from_select(["transaction_id", "account_id", "amount"],
                            select(posted.c.id, moves.c.account_id, moves.c.amount)
                            .select_from(posted).join(moves, true()).order_by(moves.c.n))
               .returning(entries.c.id).cte("entries"))
    ctes += [posted, written, *hotrows.chain(hot, after=posted)]
    if strict is None:
        return select(posted.c.id).add_cte(*ctes)
    debited = select(func.count()).select_from(ctes[0]).scalar_subquery()
    return select(debited.label("debited"),
                  select(posted.c.id).scalar_subquery().label("tx_id")).add_cte(*ctes)


def post(idempotency_key: str, kind: str, entries: Iterable[tuple[Account, int]], *,
         reference: str | None = None, memo: str | None = None,
         created_by: User | None = None, guard: Iterable[Account] = ()) -> Transaction:
    """``post_in_txn`` as a transaction of its own (commits; rolls back on an error)."""
    return in_own_txn(post_in_txn, idempotency_key, kind, entries, reference=reference,
                      memo=memo, created_by=created_by, guard=guard)


def post_in_txn(idempotency_key: str, kind: str, entries: Iterable[tuple[Account, int]], *,
                reference: str | None = None, memo: str | None = None,
                created_by: User | None = None, guard: Iterable[Account] = (),
                _reversal_of: Transaction | None = None) -> Transaction:
    """Post one balanced transaction; the same key again returns it and changes nothing.

    ``entries``: ``[(account, amount), …]``, amounts signed integers in minor
    units (positive raises the owner's balance); zero lines are dropped; at
    least two must remain, summing to zero per currency.
    ``guard``: accounts that must stay at or above zero in this posting even if
    they may go negative otherwise (a withdrawal request from earnings that a
    late refund is allowed to overdraw).
    Written in the caller's transaction (see the module docstring). The returned transaction has a
    non-persistent attribute ``replayed`` (True when the key had been posted).

    Raises ``InvalidInput`` before writing anything, ``InsufficientBalance``
    when a guarded account would go below zero, ``IdempotencyConflict`` when the
    key was used for different postings.
    """
    key = (idempotency_key or "").strip()
    if not KEY_RE.match(key):
        raise InvalidInput(_l("idempotency key must be 1–160 printable ASCII characters"),
                           field="idempotency_key")
    if not TX_KIND_RE.match(kind or ""):
        raise InvalidInput(_l("bad transaction kind %(kind)r", kind=kind), field="kind")
    lines = _clean_entries(entries)
    reference = _clean_text(reference, "reference", 80)
    memo = _clean_text(memo, "memo", 500)
    guard_ids = {a.id for a in guard}
    guarded, deferred = _guarded_moves(lines, guard_ids)

    # No SAVEPOINT and no look-up first (this is every order's hot path): the
    # guarded moves go first, the key's unique index decides a repeat, and a
    # posting that cannot complete undoes its own moves, leaving the caller's
    # transaction as it was.
    values = {"idempotency_key": key, "kind": kind, "reference": reference, "memo": memo,
              "created_by_id": created_by.id if created_by is not None else None,
              "reversal_of_id": _reversal_of.id if _reversal_of is not None else None,
              "created_at": utcnow()}
    try:
        if len(guarded) == 1 and db.session.get_bind().dialect.name == "postgresql":
            # a payment's usual shape (one account paying): all in one statement
            applied, tx_id, folded = _debit_and_insert(guarded[0], guard_ids, values, lines,
                                                       deferred)
            if folded:
                deferred = []
        else:
            applied = _apply_guarded(guarded, guard_ids)
            tx_id = _insert_transaction(values, lines)
    except InsufficientBalance:
        existing = _posted_before(key, _reversal_of)
        if existing is None:
            raise
        return _replay(existing, kind, lines)
    if tx_id is None:
        _undo(applied)
        existing = _posted_before(key, _reversal_of)
        if existing is None:
            raise IdempotencyConflict(_l("idempotency key %(key)r could not be posted",
                                         key=key))
        return _replay(existing, kind, lines)
    for account_id, amount in deferred:
        defer_increment(db.session(), Account.__table__, account_id, "balance", amount)
    for account, _amount in lines:
        if account in db.session:
            db.session.expire(account, ["balance"])  # the UPDATE bypassed the identity map
    tx = Transaction(id=tx_id, **values)
    make_transient_to_detached(tx)   # the row exists: known to the session without a SELECT
    db.session.add(tx)
    tx.replayed = False
    return tx


@dataclass(frozen=True)
class Posting:
    """One posting of ``post_many_in_txn`` (``post_in_txn``'s arguments)."""

    idempotency_key: str
    kind: str
    entries: list[tuple[Account, int]]
    reference: str | None = None
    memo: str | None = None


def post_many_in_txn(postings: Iterable[Posting]) -> list[int]:
    """``post_in_txn`` for several postings, in the caller's transaction; returns their
    transaction ids in order (a key posted before: its transaction, checked as
    ``post_in_txn`` checks a repeat). Every posting is validated before anything is
    written; the first invalid one raises ``InvalidInput`` and nothing is written.

    On PostgreSQL the postings that move no guarded account (only credits and debits
    of accounts that may run negative: a delivery batch's commissions) are written
    together, transactions and entries, in ONE statement; the others, and every
    posting on SQLite, go through ``post_in_txn`` one by one.
    """
    checked = []
    for posting in postings:
        key = (posting.idempotency_key or "").strip()
        if not KEY_RE.match(key):
            raise InvalidInput(_l("idempotency key must be 1–160 printable ASCII characters"),
                               field="idempotency_key")
        if not TX_KIND_RE.match(posting.kind or ""):
            raise InvalidInput(_l("bad transaction kind %(kind)r", kind=posting.kind),
                               field="kind")
        lines = _clean_entries(posting.entries)
        checked.append((key, posting.kind, lines,
                        _clean_text(posting.reference, "reference", 80),
                        _clean_text(posting.memo, "memo", 500)))
    ids: list[int | None] = [None] * len(checked)
    together: dict[str, int] = {}   # key -> index, for the one statement
    if db.session.get_bind().dialect.name == "postgresql":
        for n, (key, _kind, lines, _ref, _memo) in enumerate(checked):
            if key not in together and not _guarded_moves(lines, set())[0]:
                together[key] = n
    if together:
        now = utcnow()
        order = list(together.values())
        entry_keys, account_ids, amounts = [], [], []
        for n in order:
            key, _kind, lines, _ref, _memo = checked[n]
            for account, amount in lines:
                entry_keys.append(key)
                account_ids.append(account.id)
                amounts.append(amount)
        posted = dict((row.idempotency_key, row.id) for row in db.session.execute(
            _many_statement(), {
                "keys": [checked[n][0] for n in order], "kinds": [checked[n][1] for n in order],
                "references": [checked[n][3] for n in order],
                "memos": [checked[n][4] for n in order], "created_at": now,
                "entry_keys": entry_keys, "account_ids": account_ids, "amounts": amounts}))
        session, moved = db.session(), set()
        for key, n in together.items():
            _key, kind, lines, _ref, _memo = checked[n]
            if key not in posted:
                continue  # posted before: checked as a repeat below
            ids[n] = posted[key]
            for account_id, amount in _guarded_moves(lines, set())[1]:
                defer_increment(session, Account.__table__, account_id, "balance", amount)
            moved.update(account for account, _amount in lines)
        for account in moved:
            if account in db.session:
                db.session.expire(account, ["balance"])  # moved outside the identity map
    for n, (key, kind, lines, reference, memo) in enumerate(checked):
        if ids[n] is not None:
            continue
        if together.get(key) == n:  # its key was taken: the same postings, or a conflict
            existing = transaction_by_key(key)
            if existing is None:
                raise IdempotencyConflict(_l("idempotency key %(key)r could not be posted",
                                             key=key))
            ids[n] = _replay(existing, kind, lines).id
        else:
            ids[n] = post_in_txn(key, kind, lines, reference=reference, memo=memo).id
    return ids


@functools.cache
def _many_statement():
    """PostgreSQL: many transactions (``keys``, ``kinds``, ``references``, ``memos``,
    one ``created_at``; ON CONFLICT DO NOTHING) and their entries (``entry_keys``,
    ``account_ids``, ``amounts``, joined to their transaction by key, in their order)
    in one statement, built once; answers (id, idempotency_key) of the rows inserted."""
    from sqlalchemy import BigInteger, String
    from sqlalchemy.dialects.postgresql import ARRAY, insert

    table, entries = Transaction.__table__, Entry.__table__
    txs = func.unnest(bindparam("keys", type_=ARRAY(String)),
                      bindparam("kinds", type_=ARRAY(String)),
                      bindparam("references", type_=ARRAY(String)),
                      bindparam("memos", type_=ARRAY(String))
                      ).table_valued("idempotency_key", "kind", "reference", "memo",
                                     with_ordinality="n").render_derived(name="txs")
    posted = (insert(table)
              .from_select(["idempotency_key", "kind", "reference", "memo", "created_at"],
                           select(txs.c.idempotency_key, txs.c.kind, txs.c.reference,
                                  txs.c.memo,
                                  bindparam("created_at", type_=table.c.created_at.type))
                           .order_by(txs.c.n))
              .on_conflict_do_nothing()
              .returning(table.c.id, table.c.idempotency_key).cte("tx"))
    moves = func.unnest(bindparam("entry_keys", type_=ARRAY(String)),
                        bindparam("account_ids", type_=ARRAY(BigInteger)),
                        bindparam("amounts", type_=ARRAY(BigInteger))
                        ).table_valued("idempotency_key", "account_id", "amount",
                                       with_ordinality="n").render_derived(name="moves")
    written = (insert(entries)
               .from_select(["transaction_id", "account_id", "amount"],
                            select(posted.c.id, moves.c.account_id, moves.c.amount)
                            .select_from(posted)
                            .join(moves, moves.c.idempotency_key == posted.c.idempotency_key)
                            .order_by(moves.c.n))
               .returning(entries.c.id).cte("entries"))
    return select(posted.c.id, posted.c.idempotency_key).add_cte(posted, written)


def _posted_before(key: str, reversal: Transaction | None) -> Transaction | None:
    existing = transaction_by_key(key)
    if existing is None and reversal is not None:
        existing = reversal_of(reversal)
    return existing


def reversal_of(tx: Transaction) -> Transaction | None:
    return db.session.scalar(select(Transaction).where(Transaction.reversal_of_id == tx.id))


def reverse(tx: Transaction, idempotency_key: str, *, kind: str = "reversal",
            memo: str | None = None, created_by: User | None = None,
            guard: Iterable[Account] = ()) -> Transaction:
    """``reverse_in_txn`` as a transaction of its own (commits; rolls back on an error)."""
    return in_own_txn(reverse_in_txn, tx, idempotency_key, kind=kind, memo=memo,
                      created_by=created_by, guard=guard)


def reverse_in_txn(tx: Transaction, idempotency_key: str, *, kind: str = "reversal",
                   memo: str | None = None, created_by: User | None = None,
                   guard: Iterable[Account] = ()) -> Transaction:
    """Post the exact opposite of ``tx`` (a refund). A transaction is reversed once:
    a second call, with any key, returns the first reversal.

    The reversal is guarded like any posting: taking back a wallet credit the
    customer has already spent raises ``InsufficientBalance``, while accounts
    that may run negative (earnings after the hold) simply do.
    """
    if tx.reversal_of_id is not None:
        raise Conflict(_l("transaction %(tx_id)s is itself a reversal; post a new transaction",
                          tx_id=tx.id))
    done = reversal_of(tx)
    if done is not None:
        done.replayed = True
        return done
    lines = [(e.account, -e.amount) for e in tx.entries]
    return post_in_txn(idempotency_key, kind, lines, reference=tx.reference,
                       memo=memo or f"reversal of transaction {tx.id}",
                       created_by=created_by, guard=guard, _reversal_of=tx)


# ----- reading ---------------------------------------------------------------

@dataclass
class HistoryRow:
    entry: Entry
    transaction: Transaction
    balance_after: int


def account_history(account: Account, limit: int = 50, before_id: int | None = None
                    ) -> list[HistoryRow]:
    """An account's entries, newest first, with the balance after each."""
    stmt = (select(Entry, Transaction).join(Transaction, Entry.transaction_id == Transaction.id)
            .where(Entry.account_id == account.id))
    if before_id is not None:
        stmt = stmt.where(Entry.id < before_id)
    rows = db.session.execute(stmt.order_by(Entry.id.desc()).limit(limit)).all()
    if not rows:
        return []
    running = db.session.scalar(select(func.coalesce(func.sum(Entry.amount), 0)).where(
        Entry.account_id == account.id, Entry.id <= rows[0][0].id))
    history = []
    for entry, tx in rows:
        history.append(HistoryRow(entry, tx, int(running)))
        running -= entry.amount
    return history


def transaction_entries(tx: Transaction) -> list[Entry]:
    return list(db.session.scalars(select(Entry).where(Entry.transaction_id == tx.id)
                                   .order_by(Entry.id)))


# ----- checking --------------------------------------------------------------
# kameng ledger check lives in ``check`` (incremental, with ``full=True`` for a re-sum)
from kameng.billing.ledger.check import CheckResult, check_ledger  # noqa: E402, F401
