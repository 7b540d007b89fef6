"""Putting money into a shop's funded account (预存款), and reading it.

A shop below the master holds a ``funded`` ledger account with its parent
(``allow_negative=False``: the ledger's guarded UPDATE keeps it at or above zero).
Money enters it two ways, each one balanced transaction:

- ``fund_shop``: the parent credits a direct sub-shop after being paid. The
  master (the platform) books the money it received offline against the
  platform's ``clearing_manual`` account (transaction kind ``funding_offline``);
  a parent below the master pays out of its own ``funded`` account
  (``funding_transfer``) or its ``earnings_available`` (``funding_from_earnings``),
  guarded: never below zero.
- ``earnings_to_funded``: a shop moves its own ``earnings_available`` into its
  ``funded`` account (``funding_from_earnings``), guarded.

Money leaves it when the shop's own hands took money the platform never saw:
an order paid on its own gateway (``kameng.sales.funding``, kind
``order_funding``) or a wallet credit it grants (``wallet_credit_funded``).

After a commit that put money in, the job ``fill_waiting_orders`` is enqueued
for the shop (by dotted path), so its orders waiting for funds are filled; the
periodic order sweep retries them too, should the enqueue be lost.
"""
from __future__ import annotations

import logging
import uuid
from functools import partial

from sqlalchemy import select

from kameng.billing.ledger import services as ledger
from kameng.billing.ledger.models import Account, Transaction
from kameng.core import audit, txn
from kameng.core.errors import InvalidInput, NotFound
from kameng.core.extensions import db
from kameng.core.i18n import lazy_gettext as _l
from kameng.core.jobs import enqueue
from kameng.core.scoping import all_tenants
from kameng.tenants.models import Tenant, User

log = logging.getLogger(__name__)

FUNDING_KINDS = ("funding_offline", "funding_transfer", "funding_from_earnings")
# where a parent below the master takes the money from
SOURCES = ("funded", "earnings")
NOTE_LIMIT = 500


class NotEnoughFunds(ledger.InsufficientBalance):
    """A funded (or earnings) account cannot cover the amount."""


def _positive(amount) -> int:
    if isinstance(amount, bool) or not isinstance(amount, int):
        raise InvalidInput(_l("amounts are integers in minor units, not %(amount)r",
                              amount=amount), field="amount")
    if amount <= 0:
        raise InvalidInput(_l("the amount must be greater than zero"), field="amount")
    if amount > ledger.MAX_AMOUNT:
        raise InvalidInput(_l("the amount is too large"), field="amount")
    return amount


def _note(note: str | None) -> str | None:
    note = (note or "").strip() or None
    if note and len(note) > NOTE_LIMIT:
        raise InvalidInput(_l("the note is longer than %(note_limit)s characters",
                              note_limit=NOTE_LIMIT), field="note")
    return note


def funded_account(tenant: Tenant, currency: str | None = None) -> Account:
    """The shop's funded account (created on first use, never committed here)."""
    if tenant.is_master:
        raise InvalidInput(_l("the master shop has no funded account: its money is the "
                              "platform's"), field="tenant")
    return ledger.shop_account(tenant, "funded", currency)


def funded_balance(tenant: Tenant) -> int:
    """The committed balance of the shop's funded account (0 if it has none)."""
    if tenant.is_master:
        return 0
    return balances_of([tenant.id], "funded").get(tenant.id, 0)


def balances_of(tenant_ids, kind: str) -> dict[int, int]:
    """``{tenant_id: balance}`` of one tenant account kind for many shops (no rows created)."""
    ids = list(tenant_ids)
    if not ids:
        return {}
    rows = db.session.execute(select(Account.tenant_id, Account.balance).where(
        Account.owner_type == "tenant", Account.kind == kind, Account.tenant_id.in_(ids)))
    out: dict[int, int] = {}
    for tenant_id, balance in rows:
        out[tenant_id] = out.get(tenant_id, 0) + int(balance)
    return out


def funded_history(tenant: Tenant, limit: int = 50, before_id: int | None = None
                   ) -> list[ledger.HistoryRow]:
    if tenant.is_master:
        return []
    account = db.session.scalar(select(Account).where(
        Account.owner_key == f"tenant:{tenant.id}", Account.kind == "funded",
        Account.currency == tenant.currency))
    return ledger.account_history(account, limit, before_id) if account is not None else []


def direct_children(parent: Tenant) -> list[Tenant]:
    with all_tenants():
        return list(db.session.scalars(select(Tenant).where(Tenant.parent_id == parent.id)
                                       .order_by(Tenant.slug)))


def child_of(parent: Tenant, child_id: int) -> Tenant:
    """A direct sub-shop of ``parent`` (anything else is not found)."""
    with all_tenants():
        child = db.session.get(Tenant, child_id)
    if child is None or child.parent_id != parent.id:
        raise NotFound(_l("no such sub-shop"), field="shop")
    return child


def _enqueue_fill(tenant_id: int) -> None:
    try:
        enqueue("fulfilment", "kameng.workers.jobs.fill_waiting_orders", tenant_id,
                job_id=f"fill-waiting-{tenant_id}-{uuid.uuid4().hex[:8]}")
    except Exception:  # the funding is committed; the periodic sweep fills the orders
        log.exception("could not enqueue filling the waiting orders of shop %s", tenant_id)


def _after_funding(tenant_id: int) -> None:
    txn.after_commit(partial(_enqueue_fill, tenant_id), key=("fill_waiting", tenant_id))


def fund_shop_in_txn(parent: Tenant, child: Tenant, amount: int, *, source: str | None = None,
                     actor: User | None = None, note: str | None = None,
                     idempotency_key: str | None = None) -> Transaction:
    """``parent`` credits ``amount`` to its direct sub-shop ``child``'s funded account.

    The master books money it received offline (``clearing_manual``); any other
    parent pays from its own ``funded`` (``source="funded"``, the default) or
    ``earnings_available`` (``source="earnings"``) account, guarded: refused with
    ``NotEnoughFunds`` when it does not cover the amount. Audited when ``actor``.
    """
    amount = _positive(amount)
    note = _note(note)
    if child.parent_id != parent.id:
        raise NotFound(_l("no such sub-shop"), field="shop")
    if child.currency != parent.currency:
        raise InvalidInput(_l("the sub-shop keeps its books in another currency"),
                           field="shop")
    target = funded_account(child)
    key = idempotency_key or f"funding:{uuid.uuid4().hex}"
    if parent.is_master:
        kind = "funding_offline"
        source_account = ledger.platform_account("clearing_manual", child.currency)
        guard: tuple = ()
    else:
        source = source or "funded"
        if source not in SOURCES:
            raise InvalidInput(_l("pay from the funded account or from earnings"),
                               field="source")
        if source == "funded":
            kind, source_account = "funding_transfer", funded_account(parent)
        else:
            kind = "funding_from_earnings"
            source_account = ledger.shop_account(parent, "earnings_available")
        guard = (source_account,)
    try:
        tx = ledger.post_in_txn(key, kind, [(source_account, -amount), (target, amount)],
                                reference=f"shop:{child.slug}"[:80], memo=note,
                                created_by=actor if isinstance(actor, User) else None,
                                guard=guard)
    except ledger.InsufficientBalance:
        raise NotEnoughFunds(
            _l("not enough money in your funded account or earnings to fund this "
               "sub-shop")) from None
    if actor is not None and not tx.replayed:
        audit.record(actor, "funding.credit", tenant_id=parent.id, shop=child.slug,
                     amount=amount, kind=kind)
    _after_funding(child.id)
    return tx


fund_shop = txn.owning(fund_shop_in_txn)


def earnings_to_funded_in_txn(tenant: Tenant, amount: int, *, actor: User | None = None,
                              idempotency_key: str | None = None) -> Transaction:
    """The shop moves ``amount`` of its withdrawable earnings into its funded account."""
    amount = _positive(amount)
    target = funded_account(tenant)
    source = ledger.shop_account(tenant, "earnings_available")
    try:
        tx = ledger.post_in_txn(idempotency_key or f"funding:{uuid.uuid4().hex}",
                                "funding_from_earnings", [(source, -amount), (target, amount)],
                                reference=f"shop:{tenant.slug}"[:80],
                                memo="earnings into the funded account",
                                created_by=actor if isinstance(actor, User) else None,
                                guard=(source,))
    except ledger.InsufficientBalance:
        raise NotEnoughFunds(_l("not enough withdrawable earnings")) from None
    if actor is not None and not tx.replayed:
        audit.record(actor, "funding.from_earnings", tenant_id=tenant.id, amount=amount)
    _after_funding(tenant.id)
    return tx


earnings_to_funded = txn.owning(earnings_to_funded_in_txn)


def fund_by_slug(parent_slug: str | None, child_slug: str, amount_text: str, *,
                 source: str | None = None, note: str | None = None) -> Transaction:
    """``kameng ledger fund``: every input checked before anything is written.
    Without ``parent_slug`` the child's own parent funds it."""
    from kameng.billing.wallets import parse_credit_amount
    from kameng.tenants.services import tenant_by_slug

    child = tenant_by_slug(child_slug)
    if child.is_master:
        raise InvalidInput(_l("the master shop has no funded account: its money is the "
                              "platform's"), field="shop")
    parent = tenant_by_slug(parent_slug) if parent_slug else db.session.get(Tenant,
                                                                             child.parent_id)
    amount = parse_credit_amount(amount_text, child.currency)
    return fund_shop(parent, child, amount, source=source, actor="cli", note=note)
