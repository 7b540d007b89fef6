"""Withdrawing available earnings: request (held at once), approve/reject, pay.

Requesting moves the amount ``earnings_available → withdrawal_hold`` in the
same transaction that records the request, with the available account
*guarded* (``ledger.post(guard=…)``): the guarded UPDATE only succeeds while
the balance covers it, so N racing requests for the whole balance leave
exactly one standing — on PostgreSQL by the row lock, on SQLite because
writers are serialised. Approving changes no money; rejecting reverses the
hold; paying moves ``withdrawal_hold → payouts`` (the fee to the platform's
``revenue``). A Stripe Connect payout creates a transfer with the idempotency
key ``withdrawal-<id>`` first, so a retried "pay" never transfers twice.

Who decides: the master, or — when the master's setting ``withdraw_approver``
is ``parent`` — also the requesting shop's parent.
"""
from __future__ import annotations

import re

from flask import current_app
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from kameng.billing.commissions import settings as billing_settings
from kameng.billing.ledger import services as ledger
from kameng.billing.withdrawals.models import METHOD_KINDS, PayoutMethod, Withdrawal
from kameng.core.addresses import is_address
from kameng.core.errors import Conflict, InvalidInput, NotFound, ServiceError
from kameng.core.extensions import db
from kameng.core.i18n import lazy_gettext as _l
from kameng.core.labels import label
from kameng.core.models import utcnow
from kameng.core.percent import percent_of
from kameng.core.scoping import all_tenants
from kameng.tenants.models import Tenant, User

PHONE_RE = re.compile(r"^1[3-9][0-9]{9}$")
CARD_RE = re.compile(r"^[0-9]{12,19}$")
TRC20_RE = re.compile(r"^T[1-9A-HJ-NP-Za-km-z]{33}$")
ERC20_RE = re.compile(r"^0x[0-9a-fA-F]{40}$")
CONNECT_RE = re.compile(r"^acct_[A-Za-z0-9]{6,40}$")
REFERENCE_RE = re.compile(r"^[\x21-\x7e][\x20-\x7e]{0,127}$")


# ----- payout methods -------------------------------------------------------------

def _clean_method(kind: str, account: str, holder: str, bank_name: str) -> dict:
    account = (account or "").strip().replace(" ", "") if kind in ("bank",) else \
        (account or "").strip()
    holder, bank_name = (holder or "").strip(), (bank_name or "").strip()
    if kind not in METHOD_KINDS:
        raise InvalidInput(_l("payout method must be one of %(choices)s",
                              choices=', '.join(METHOD_KINDS)),
                           field="kind")
    network = ""
    if kind == "alipay":
        if not (PHONE_RE.match(account) or is_address(account)):
            raise InvalidInput(_l("an Alipay account is a mobile number or an e-mail address"),
                               field="account")
        if not holder:
            raise InvalidInput(_l("give the account holder's real name"), field="holder")
    elif kind == "bank":
        if not CARD_RE.match(account) or not _luhn(account):
            raise InvalidInput(_l("not a valid bank card number"), field="account")
        if not holder or not bank_name:
            raise InvalidInput(_l("give the card holder's name and the bank"), field="holder")
    elif kind == "usdt":
        if TRC20_RE.match(account):
            network = "TRC20"
        elif ERC20_RE.match(account):
            network = "ERC20"
        else:
            raise InvalidInput(_l("not a USDT address (TRC20 T… or ERC20 0x…)"), field="account")
    elif kind == "stripe_connect" and not CONNECT_RE.match(account):
        raise InvalidInput(_l("a Stripe Connect account id looks like acct_…"), field="account")
    if len(holder) > 120 or len(bank_name) > 120:
        raise InvalidInput(_l("names are at most 120 characters"), field="holder")
    return {"kind": kind, "account": account, "holder": holder, "bank_name": bank_name,
            "network": network}


def _luhn(number: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(number)):
        d = int(ch)
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def add_payout_method(tenant: Tenant, kind: str, account: str, holder: str = "",
                      bank_name: str = "") -> PayoutMethod:
    clean = _clean_method(kind, account, holder, bank_name)
    method = PayoutMethod(tenant_id=tenant.id, **clean)
    db.session.add(method)
    db.session.commit()
    return method


def payout_methods(tenant: Tenant) -> list[PayoutMethod]:
    with all_tenants():
        return list(db.session.scalars(select(PayoutMethod).where(
            PayoutMethod.tenant_id == tenant.id, PayoutMethod.active.is_(True))
            .order_by(PayoutMethod.id)))


def remove_payout_method(tenant: Tenant, method_id: int) -> None:
    method = _method(tenant, method_id)
    method.active = False  # kept: past withdrawals point at it
    db.session.commit()


def _method(tenant: Tenant, method_id) -> PayoutMethod:
    with all_tenants():
        method = db.session.get(PayoutMethod, int(method_id))
    if method is None or method.tenant_id != tenant.id or not method.active:
        raise NotFound(_l("no such payout method"), field="payout_method")
    return method


# ----- requesting -------------------------------------------------------------------

def withdrawal_fee(amount: int) -> int:
    rules = billing_settings.platform_settings()
    return rules.withdraw_fee_fixed + percent_of(amount, rules.withdraw_fee_bp)


def available_balance(tenant: Tenant) -> int:
    account = ledger.shop_account(tenant, "earnings_available")
    return ledger.balance_of(account)


def request_withdrawal(tenant: Tenant, user: User | None, payout_method_id: int, amount: int,
                       *, request_key: str | None = None, note: str | None = None
                       ) -> Withdrawal:
    """Hold ``amount`` of the shop's available earnings for a payout; commits.

    Raises ``InsufficientBalance`` (402) when the available balance does not
    cover it (also against a racing request), ``InvalidInput`` for an amount
    below the master's minimum or not above the fee; nothing is written then.
    The same ``request_key`` again returns the first request.
    """
    if user is not None and (user.tenant_id != tenant.id or user.role != "owner"):
        raise InvalidInput(_l("only the shop's owner can withdraw its earnings"), field="user")
    if isinstance(amount, bool) or not isinstance(amount, int) or amount <= 0:
        raise InvalidInput(_l("the amount must be a positive whole number of minor units"),
                           field="amount")
    method = _method(tenant, payout_method_id)
    rules = billing_settings.platform_settings()
    if amount < rules.withdraw_min:
        raise InvalidInput(_l("the minimum withdrawal is %(withdraw_min)s (minor units)",
                              withdraw_min=rules.withdraw_min),
                           field="amount")
    fee = withdrawal_fee(amount)
    if fee >= amount:
        raise InvalidInput(_l("the amount does not cover the withdrawal fee"), field="amount")
    note = (note or "").strip()[:500] or None
    if request_key is not None:
        earlier = _by_key(tenant, request_key)
        if earlier is not None:
            return earlier

    available = ledger.shop_account(tenant, "earnings_available")
    hold = ledger.shop_account(tenant, "withdrawal_hold")
    withdrawal = Withdrawal(tenant_id=tenant.id, payout_method_id=method.id,
                            currency=available.currency, amount=amount, fee=fee,
                            net=amount - fee, status="requested", request_key=request_key,
                            requested_by_id=user.id if user is not None else None, note=note)
    try:
        db.session.add(withdrawal)
        db.session.flush()
        ledger.post_in_txn(f"withdrawal:{withdrawal.id}:hold", "withdrawal_hold",
                           [(available, -amount), (hold, amount)], guard=[available],
                           reference=f"W{withdrawal.id}", memo=f"withdrawal to {method.label}",
                           created_by=user)
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        earlier = _by_key(tenant, request_key) if request_key else None
        if earlier is None:
            raise
        return earlier
    except ServiceError:
        db.session.rollback()
        raise
    return withdrawal


def _by_key(tenant: Tenant, key: str) -> Withdrawal | None:
    with all_tenants():
        return db.session.scalar(select(Withdrawal).where(Withdrawal.tenant_id == tenant.id,
                                                          Withdrawal.request_key == key))


# ----- deciding -----------------------------------------------------------------------

def get_withdrawal(withdrawal_id: int) -> Withdrawal:
    with all_tenants():
        found = db.session.get(Withdrawal, int(withdrawal_id))
    if found is None:
        raise NotFound(_l("no such withdrawal"))
    return found


def can_decide(actor_tenant: Tenant, withdrawal: Withdrawal) -> bool:
    if actor_tenant.is_master:
        return True
    shop = db.session.get(Tenant, withdrawal.tenant_id)
    return (billing_settings.platform_settings().withdraw_approver == "parent"
            and shop is not None and shop.parent_id == actor_tenant.id)


def reviewable(actor_tenant: Tenant, status: str | None = None, limit: int = 200
               ) -> list[Withdrawal]:
    """The withdrawals this shop may decide on."""
    stmt = select(Withdrawal).join(Tenant, Tenant.id == Withdrawal.tenant_id)
    if not actor_tenant.is_master:
        if billing_settings.platform_settings().withdraw_approver != "parent":
            return []
        stmt = stmt.where(Tenant.parent_id == actor_tenant.id)
    if status:
        stmt = stmt.where(Withdrawal.status == status)
    with all_tenants():
        return list(db.session.scalars(stmt.order_by(Withdrawal.id.desc()).limit(limit)))


def shop_withdrawals(tenant: Tenant, limit: int = 100) -> list[Withdrawal]:
    with all_tenants():
        return list(db.session.scalars(select(Withdrawal)
                                       .where(Withdrawal.tenant_id == tenant.id)
                                       .order_by(Withdrawal.id.desc()).limit(limit)))


def _decide(withdrawal: Withdrawal, actor_tenant: Tenant, actor: User | None,
            expected: tuple[str, ...], new: str, **values) -> None:
    if not can_decide(actor_tenant, withdrawal):
        raise NotFound(_l("no such withdrawal"))  # another shop's request stays invisible
    result = db.session.execute(
        update(Withdrawal).where(Withdrawal.id == withdrawal.id,
                                 Withdrawal.status.in_(expected))
        .values(status=new, decided_by_id=actor.id if actor is not None else None,
                decided_by_tenant_id=actor_tenant.id, decided_at=utcnow(), **values)
        .execution_options(synchronize_session=False, all_tenants=True))
    if result.rowcount != 1:
        db.session.rollback()
        raise Conflict(_l("withdrawal %(withdrawal_id)s is %(withdrawal_status)s, not "
                          "%(expected)s", withdrawal_id=withdrawal.id,
                          withdrawal_status=label(withdrawal.status, "withdrawal"),
                          expected=" / ".join(str(label(s, "withdrawal")) for s in expected)))


def approve(withdrawal_id: int, actor_tenant: Tenant, actor: User | None = None
            ) -> Withdrawal:
    withdrawal = get_withdrawal(withdrawal_id)
    _decide(withdrawal, actor_tenant, actor, ("requested",), "approved")
    db.session.commit()
    db.session.refresh(withdrawal)
    return withdrawal


def reject(withdrawal_id: int, actor_tenant: Tenant, actor: User | None = None,
           note: str | None = None) -> Withdrawal:
    """Refuse the request: the held amount goes back to available earnings."""
    withdrawal = get_withdrawal(withdrawal_id)
    values = {"note": (note or "").strip()[:500]} if note else {}
    _decide(withdrawal, actor_tenant, actor, ("requested", "approved"), "rejected", **values)
    hold_tx = ledger.transaction_by_key(f"withdrawal:{withdrawal.id}:hold")
    ledger.reverse_in_txn(hold_tx, f"withdrawal:{withdrawal.id}:reject", kind="withdrawal_reject",
                          memo="withdrawal rejected", created_by=actor)
    db.session.commit()
    db.session.refresh(withdrawal)
    return withdrawal


def mark_paid(withdrawal_id: int, actor_tenant: Tenant, actor: User | None = None,
              reference: str | None = None) -> Withdrawal:
    """Record the payout (hold → payouts). A Stripe Connect method is paid by a
    transfer created here (idempotency key ``withdrawal-<id>``); other methods
    need the reference of the manual payment (bank slip, tx hash …)."""
    withdrawal = get_withdrawal(withdrawal_id)
    if not can_decide(actor_tenant, withdrawal):
        raise NotFound(_l("no such withdrawal"))
    if withdrawal.status != "approved":
        raise Conflict(_l("withdrawal %(withdrawal_id)s is %(withdrawal_status)s, not approved",
                          withdrawal_id=withdrawal.id,
                          withdrawal_status=label(withdrawal.status, "withdrawal")))
    reference = (reference or "").strip() or None
    if reference is not None and not REFERENCE_RE.match(reference):
        raise InvalidInput(_l("the reference is 1–128 printable characters"), field="reference")
    method = withdrawal.payout_method
    if method.kind == "stripe_connect" and reference is None:
        params, options = transfer_params(withdrawal, method)
        # no transaction is open during the Stripe call; its idempotency key is the
        # withdrawal's, so marking it paid again after a crash reuses the transfer
        db.session.commit()
        reference = stripe_transfer(withdrawal_id, params, options)
    if reference is None:
        raise InvalidInput(_l("give the payment's reference (bank slip, transaction hash …)"),
                           field="reference")
    _decide(withdrawal, actor_tenant, actor, ("approved",), "paid", paid_at=utcnow(),
            reference=reference)
    shop = db.session.get(Tenant, withdrawal.tenant_id)
    cur = withdrawal.currency
    ledger.post_in_txn(f"withdrawal:{withdrawal.id}:paid", "withdrawal_payout",
                       [(ledger.shop_account(shop, "withdrawal_hold", cur), -withdrawal.amount),
                 (ledger.platform_account("payouts", cur), withdrawal.net),
                 (ledger.platform_account("revenue", cur), withdrawal.fee)],
                       reference=f"W{withdrawal.id}", memo=f"paid: {reference}",
                       created_by=actor)
    db.session.commit()
    db.session.refresh(withdrawal)
    return withdrawal


def transfer_params(withdrawal: Withdrawal, method: PayoutMethod) -> tuple[dict, dict]:
    """The Stripe transfer request: (params, options with the idempotency key)."""
    params = {"amount": withdrawal.net, "currency": withdrawal.currency.lower(),
              "destination": method.account, "transfer_group": f"withdrawal-{withdrawal.id}",
              "metadata": {"withdrawal_id": str(withdrawal.id),
                           "tenant_id": str(withdrawal.tenant_id)}}
    return params, {"idempotency_key": f"withdrawal-{withdrawal.id}"}


def stripe_transfer(withdrawal_id: int, params: dict, options: dict) -> str:
    """Create the transfer (``transfer_params``); called with no transaction open."""
    import stripe

    from kameng.billing.payments.stripe_provider import client

    try:
        transfer = client().v1.transfers.create(params=params, options=options)
    except stripe.StripeError as err:
        current_app.logger.warning("stripe transfer for withdrawal %s failed: %s",
                                   withdrawal_id, err)
        raise Conflict(_l("Stripe refused the transfer: "
                          "%(reason)s",
                          reason=getattr(err, 'user_message', None) or err.__class__.__name__),
                       status=502) from None
    return transfer.id
