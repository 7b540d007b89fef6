"""Customer wallets: a prepaid balance per user account on a shop.

A wallet is a ledger account (owner: the user, kind ``wallet``) that may never
go below zero. Shops put money in by crediting it (``credit_wallet``: a balanced
transaction against the master's ``credits_issued`` account, or — for a shop
below the master — against its own ``funded`` account); orders take money
out with ``spend_from_wallet_in_txn`` inside the order's own transaction.
"""
from __future__ import annotations

import re
import uuid

from sqlalchemy import select

from kameng.billing.ledger import services as ledger
from kameng.billing.ledger.models import Account, Transaction
from kameng.core.errors import InvalidInput, NotFound
from kameng.core.extensions import db
from kameng.core.i18n import lazy_gettext as _l
from kameng.core.money import MoneyError, parse_amount
from kameng.core.scoping import all_tenants
from kameng.core.txn import in_own_txn, owning
from kameng.tenants.models import Tenant, User
from kameng.tenants.services import tenant_by_slug

NOTE_LIMIT = 500
AMOUNT_RE = re.compile(r"^[0-9]{1,13}(\.[0-9]{1,6})?$")  # plain decimal, no sign or exponent


def _positive(amount) -> int:
    if isinstance(amount, bool) or not isinstance(amount, int):
        raise InvalidInput(_l("amounts are integers in minor units, not %(amount)r", amount=amount),
                           field="amount")
    if amount <= 0:
        raise InvalidInput(_l("the amount must be greater than zero"), field="amount")
    if amount > ledger.MAX_AMOUNT:
        raise InvalidInput(_l("the amount is too large"), field="amount")
    return amount


def parse_credit_amount(text: str, currency: str) -> int:
    """'100.00' in the shop's currency -> 10000, refusing anything not a positive amount."""
    plain = str(text or "").strip()
    if not AMOUNT_RE.match(plain.replace(",", "")):
        raise InvalidInput(_l("bad amount %(text)r: give a positive amount like 100.00", text=text),
                           field="amount")
    try:
        amount = parse_amount(plain, currency)
    except MoneyError as err:
        raise InvalidInput(_l("bad amount %(text)r: %(err)s",
                              text=text, err=err), field="amount") from None
    return _positive(amount)


def find_user(tenant: Tenant, email: str) -> User:
    """The account with this e-mail on exactly this shop."""
    email = (email or "").strip().lower()
    with all_tenants():
        user = db.session.scalar(select(User).where(User.tenant_id == tenant.id,
                                                    User.email == email))
    if user is None:
        raise NotFound(_l("no account %(email)r on %(slug)s",
                          email=email, slug=tenant.slug), field="email")
    return user


def wallet_balance(user: User) -> int:
    account = ledger.find_user_account(user, "wallet")
    return account.balance if account is not None else 0


def wallet_history(user: User, limit: int = 50, before_id: int | None = None
                   ) -> list[ledger.HistoryRow]:
    account = ledger.find_user_account(user, "wallet")
    return ledger.account_history(account, limit, before_id) if account else []


class NotEnoughFunds(ledger.InsufficientBalance):
    """A shop below the master grants wallet credit only from its funded account."""


def credit_wallet(user: User, amount: int, *, note: str | None = None,
                  created_by: User | None = None,
                  idempotency_key: str | None = None,
                  granted_by: Tenant | None = None) -> Transaction:
    """``credit_wallet_in_txn`` as a transaction of its own."""
    return in_own_txn(credit_wallet_in_txn, user, amount, note=note, created_by=created_by,
                      idempotency_key=idempotency_key, granted_by=granted_by)


def credit_wallet_in_txn(user: User, amount: int, *, note: str | None = None,
                         created_by: User | None = None,
                         idempotency_key: str | None = None,
                         granted_by: Tenant | None = None) -> Transaction:
    """Credit ``amount`` minor units to the user's wallet.

    ``granted_by``: the shop granting it from its back office. A shop below the
    master pays it out of its own ``funded`` account (预存款; transaction kind
    ``wallet_credit_funded``), guarded: ``NotEnoughFunds`` when it does not cover
    the amount. The master — and the operator (``kameng balance credit``, no
    ``granted_by``) — credit from ``credits_issued`` (the
    platform's own money, kind ``wallet_credit``; the account is the user's shop's,
    so reports show whose customers were credited).

    Pass an ``idempotency_key`` when the request may be repeated (a form's
    one-time token): the second credit with it changes nothing.
    """
    amount = _positive(amount)
    note = (note or "").strip() or None
    if note and len(note) > NOTE_LIMIT:
        raise InvalidInput(_l("the note is longer than %(note_limit)s characters",
                              note_limit=NOTE_LIMIT), field="note")
    tenant = db.session.get(Tenant, user.tenant_id)
    wallet = ledger.wallet_account(user)
    key = idempotency_key or f"wallet_credit:{uuid.uuid4().hex}"
    if granted_by is not None and not granted_by.is_master:
        if granted_by.id != user.tenant_id:
            raise NotFound(_l("no such account on this shop"), field="user")
        source = ledger.shop_account(granted_by, "funded", wallet.currency)
        try:
            return ledger.post_in_txn(key, "wallet_credit_funded",
                                      [(source, -amount), (wallet, amount)],
                                      reference=f"shop:{granted_by.slug}"[:80],
                                      memo=note, created_by=created_by)
        except ledger.InsufficientBalance:
            raise NotEnoughFunds(_l(
                "not enough money in your shop's funded account (预存款) for this credit; "
                "top it up with your parent shop first")) from None
    source = ledger.shop_account(tenant, "credits_issued", wallet.currency)
    return ledger.post_in_txn(key, "wallet_credit", [(source, -amount), (wallet, amount)],
                              memo=note, created_by=created_by)


def credit_by_email(slug: str, email: str, amount_text: str, note: str | None = None
                    ) -> tuple[User, int, Transaction]:
    """``kameng balance credit``: every input checked before anything is written."""
    tenant = tenant_by_slug(slug)
    user = find_user(tenant, email)
    amount = parse_credit_amount(amount_text, tenant.currency)
    tx = credit_wallet(user, amount, note=note)
    return user, amount, tx


def spend_from_wallet_in_txn(user: User, amount: int, idempotency_key: str,
                             reference: str | None, counter_account: Account,
                             memo: str | None = None) -> Transaction:
    """Take ``amount`` from the user's wallet into ``counter_account``.

    In the caller's transaction: pay the order, write the outbox row, then
    commit once. Raises ``InsufficientBalance``
    (402) when the wallet cannot cover it — also against concurrent spends,
    which the guarded UPDATE serialises. The same ``idempotency_key`` again
    returns the first transaction and charges nothing.
    """
    amount = _positive(amount)
    wallet = ledger.find_user_account(user, "wallet")
    if wallet is None:
        raise ledger.InsufficientBalance(account_id=None)
    return _move_in_txn(wallet, -amount, counter_account, "wallet_spend", idempotency_key,
                        reference, memo)


spend_from_wallet = owning(spend_from_wallet_in_txn)


def topup_wallet_in_txn(user: User, amount: int, idempotency_key: str, reference: str | None,
                        clearing_account: Account, memo: str | None = None) -> Transaction:
    """Money paid in by card (or another provider) lands in the wallet.

    ``clearing_account`` is the provider's ``platform_account("clearing_<provider>", …)``;
    use the provider's payment id in the key so a repeated webhook credits once.
    """
    return _into_wallet(user, amount, "wallet_topup", idempotency_key, reference,
                        clearing_account, memo)


topup_wallet = owning(topup_wallet_in_txn)


def refund_to_wallet_in_txn(user: User, amount: int, idempotency_key: str,
                            reference: str | None, counter_account: Account,
                            memo: str | None = None) -> Transaction:
    """Refund an order paid some other way into the wallet (an order paid from the
    wallet is refunded with ``ledger.reverse`` of its spend instead)."""
    return _into_wallet(user, amount, "wallet_refund", idempotency_key, reference,
                        counter_account, memo)


refund_to_wallet = owning(refund_to_wallet_in_txn)


def _into_wallet(user, amount, kind, idempotency_key, reference, counter_account,
                 memo) -> Transaction:
    return _move_in_txn(ledger.wallet_account(user), _positive(amount), counter_account, kind,
                        idempotency_key, reference, memo)


def _move_in_txn(wallet: Account, amount: int, counter_account: Account, kind: str,
                 idempotency_key: str, reference: str | None, memo: str | None) -> Transaction:
    """Post ``amount`` into the wallet (negative: out of it) against ``counter_account``."""
    if wallet.currency != counter_account.currency:
        raise InvalidInput(_l("the wallet holds %(currency)s, the counter account "
                              "%(counter_currency)s",
                              currency=wallet.currency, counter_currency=counter_account.currency),
                           field="currency")
    # the side that gives is posted first (its guarded debit is applied first)
    lines = [(wallet, amount), (counter_account, -amount)]
    return ledger.post_in_txn(idempotency_key, kind, lines if amount < 0 else lines[::-1],
                              reference=reference, memo=memo)


def list_wallets(tenant: Tenant, limit: int = 100) -> list[tuple[User, Account]]:
    """The shop's wallets, largest balance first."""
    with all_tenants():
        rows = db.session.execute(
            select(User, Account).join(Account, Account.user_id == User.id)
            .where(Account.tenant_id == tenant.id, Account.kind == "wallet")
            .order_by(Account.balance.desc(), User.email).limit(limit)).all()
    return [(user, account) for user, account in rows]


def wallet_transaction(user: User, transaction_id: int) -> tuple[Transaction, int] | None:
    """A transaction as seen from this user's wallet (its net effect there), or None
    when it does not touch the wallet — other people's postings stay invisible."""
    account = ledger.find_user_account(user, "wallet")
    if account is None:
        return None
    tx = db.session.get(Transaction, transaction_id)
    if tx is None:
        return None
    amounts = [e.amount for e in ledger.transaction_entries(tx) if e.account_id == account.id]
    if not amounts:
        return None
    return tx, sum(amounts)
