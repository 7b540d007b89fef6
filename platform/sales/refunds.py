"""Who may refund an order, from whose money, and refund requests that travel up the tree.

Three paths (docs/refunds.md):

- **Full reversal** (``refund_directly``): every posting of the order is reversed —
  the buyer's payment, the chain's commissions, the supplier cost — and delivered codes
  are voided. A sub-shop may do it only while the order is undelivered (paid,
  fulfilling, failed): the money is still in ``sales_clearing`` and nobody above it has
  been paid. A delivered order is reversed only by the master (its own orders, or on
  its approval of a refund request).
- **Goodwill** (``goodwill_refund``): a sub-shop refunds its own buyer of a delivered
  order from its own funds — its ``funded`` account (预存款) pays the buyer's wallet,
  guarded by the ledger (never below zero). Commissions and the supplier cost stand;
  the code stays the buyer's. A guest has no wallet: the shop pays the guest back
  outside the platform and the order records that, with nothing moved in the ledger.
- **Refund request** (``file_request`` …): the sub-shop asks for the full reversal of a
  delivered order; its parent rejects it or forwards it up, the master rejects or
  approves it, and approving performs the full reversal once.

Every operation owns its transaction; each status change is a conditional UPDATE, so
a double click or two racing approvals refund once.
"""
from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import or_, select, update
from sqlalchemy.exc import IntegrityError

from kameng.billing import wallets
from kameng.billing.ledger import services as ledger
from kameng.billing.ledger.models import Account
from kameng.core import audit
from kameng.core.errors import Conflict, InvalidInput, NotFound, ServiceError
from kameng.core.extensions import db
from kameng.core.i18n import lazy_gettext as _l
from kameng.core.models import utcnow
from kameng.core.money import format_money
from kameng.core.scoping import all_tenants
from kameng.sales.models import Order, RefundRequest, RefundStep
from kameng.sales.services import refund_order_in_txn, transition_in_txn
from kameng.tenants.models import Tenant, User
from kameng.tenants.services import shops_by_id

# a sub-shop reverses these itself: the order's money has not left sales_clearing
UNDELIVERED = ("paid", "fulfilling", "failed", "awaiting_funds")
# the master reverses a delivered order too (its money is the platform's)
MASTER_REFUNDABLE = (*UNDELIVERED, "delivered")
REASON_MAX = 500


class RefundForbidden(ServiceError):
    code, status = "refund_needs_approval", 403


class FundedShort(ledger.InsufficientBalance):
    code = "funded_balance_short"


# ----- helpers ------------------------------------------------------------------------

def _require_owner(tenant: Tenant, actor: User | None) -> None:
    if actor is None or actor.tenant_id != tenant.id or actor.role != "owner":
        raise RefundForbidden(_l("only the shop's owner decides refunds"))


def _own_order(tenant: Tenant, order: Order) -> None:
    if order is None or order.tenant_id != tenant.id:
        raise NotFound(_l("no such order"))


def _clean(text: str | None, *, required: bool, limit: int = REASON_MAX) -> str | None:
    text = (text or "").strip()
    if required and not text:
        raise InvalidInput(_l("give a reason"), field="reason")
    if len(text) > limit:
        raise InvalidInput(_l("at most %(limit)s characters", limit=limit), field="reason")
    return text or None


def open_request_for(order: Order) -> RefundRequest | None:
    return db.session.scalar(select(RefundRequest).where(RefundRequest.order_id == order.id,
                                                         RefundRequest.status == "open"))


def funded_balance(tenant: Tenant) -> int:
    """The shop's committed funded balance (0 before its first top-up); creates nothing."""
    balance = db.session.scalar(select(Account.balance).where(
        Account.owner_key == f"tenant:{tenant.id}", Account.kind == "funded",
        Account.currency == tenant.currency))
    return int(balance or 0)


# ----- what the order page offers -------------------------------------------------------

@dataclass
class RefundChoices:
    reverse: bool                 # the full reversal, here and now
    goodwill: bool                # from the shop's own funds
    request: bool                 # ask the parent shop
    to_wallet: bool               # goodwill goes to the buyer's wallet (else: outside)
    open_request: RefundRequest | None
    funded: int | None            # the shop's funded balance (sub-shops)

    @property
    def any(self) -> bool:
        return self.reverse or self.goodwill or self.request


def refund_choices(tenant: Tenant, order: Order) -> RefundChoices:
    """What this shop may do about refunding ``order`` (its own)."""
    delivered = order.status == "delivered"
    if tenant.is_master:
        return RefundChoices(reverse=order.status in MASTER_REFUNDABLE, goodwill=False,
                             request=False, to_wallet=order.customer_id is not None,
                             open_request=None, funded=None)
    pending = open_request_for(order) if delivered else None
    return RefundChoices(reverse=order.status in UNDELIVERED,
                         goodwill=delivered and pending is None,
                         request=delivered and pending is None,
                         to_wallet=order.customer_id is not None, open_request=pending,
                         funded=funded_balance(tenant) if delivered else None)


# ----- the full reversal by the shop itself -------------------------------------------------

def refund_directly(tenant: Tenant, order: Order, reason: str, *, actor: User) -> bool:
    """The shop's owner reverses ``order`` in full: any refundable order of the master's,
    an undelivered one of a sub-shop's. False when the order changed meanwhile."""
    _require_owner(tenant, actor)
    _own_order(tenant, order)
    reason = _clean(reason, required=True, limit=255)
    if order.status == "delivered" and not tenant.is_master:
        raise RefundForbidden(_l(
            "A delivered order's full refund takes back your parent shop's margin and the "
            "supplier's cost: refund it from your own funds, or send your parent shop a "
            "refund request."))
    allowed = MASTER_REFUNDABLE if tenant.is_master else UNDELIVERED
    if order.status not in allowed:
        raise Conflict(_l("Only paid, undelivered or failed orders can be refunded here."))
    try:
        done = refund_order_in_txn(order, reason, actor=actor, from_statuses=allowed)
        if not done:
            db.session.rollback()
            return False
        db.session.commit()
    except ServiceError:
        db.session.rollback()
        raise
    return True


# ----- goodwill: from the shop's own funds ------------------------------------------------

def goodwill_refund(tenant: Tenant, order: Order, reason: str, *, actor: User) -> str:
    """A sub-shop refunds its buyer of a delivered order from its ``funded`` account.

    Returns ``"goodwill"`` (the buyer's wallet was credited) or ``"outside"`` (a guest
    order: the shop pays the guest back itself; recorded, nothing moves). Raises
    ``FundedShort`` (402) when the funded account does not cover the amount; nothing
    is written then. Commissions and the supplier cost are not touched.
    """
    _require_owner(tenant, actor)
    _own_order(tenant, order)
    reason = _clean(reason, required=True, limit=255)
    if tenant.is_master:
        raise Conflict(_l("The master shop refunds in full; there are no own funds to use."))
    if order.status != "delivered":
        raise Conflict(_l("Only a delivered order is refunded from your own funds; an "
                          "undelivered one is refunded in full."))
    if open_request_for(order) is not None:
        raise Conflict(_l("A refund request for this order is open; wait for its decision."))
    buyer = db.session.get(User, order.customer_id) if order.customer_id else None
    kind = "goodwill" if buyer is not None else "outside"
    try:
        if not transition_in_txn(order, ("delivered",), "refunded", refunded_at=utcnow(),
                                 failure_reason=reason, refund_kind=kind):
            db.session.rollback()
            raise Conflict(_l("The order changed meanwhile; nothing was refunded."))
        if buyer is not None and order.amount > 0:
            funded = ledger.shop_account(tenant, "funded", order.currency)
            try:
                wallets.refund_to_wallet_in_txn(
                    buyer, int(order.amount), f"order:{order.order_no}:goodwill",
                    order.order_no, funded, memo=f"goodwill refund by {tenant.slug}")
            except ledger.InsufficientBalance:
                db.session.rollback()
                raise FundedShort(_l(
                    "Your funded balance (%(balance)s) does not cover this refund "
                    "(%(amount)s); top it up first.",
                    balance=_money(funded_balance(tenant), order.currency),
                    amount=_money(order.amount, order.currency))) from None
        audit.record(actor, "order.goodwill_refund", tenant_id=tenant.id,
                     order_no=order.order_no, reason=reason, kind=kind,
                     amount=int(order.amount))
        db.session.commit()
    except ServiceError:
        db.session.rollback()
        raise
    return kind


def _money(amount: int, currency: str) -> str:
    return format_money(int(amount), currency)


# ----- refund requests ----------------------------------------------------------------------

def file_request(tenant: Tenant, order: Order, reason: str, *, actor: User) -> RefundRequest:
    """A sub-shop asks its parent for the full reversal of a delivered order."""
    _require_owner(tenant, actor)
    _own_order(tenant, order)
    reason = _clean(reason, required=True)
    if tenant.is_master:
        raise Conflict(_l("The master shop refunds its orders itself."))
    if order.status != "delivered":
        raise Conflict(_l("Only a delivered order needs a refund request."))
    if open_request_for(order) is not None:
        raise Conflict(_l("A refund request for this order is already open."))
    request = RefundRequest(tenant_id=tenant.id, order_id=order.id, order_no=order.order_no,
                            currency=order.currency, amount=int(order.amount), reason=reason,
                            status="open", holder_tenant_id=tenant.parent_id,
                            requested_by_id=actor.id)
    try:
        db.session.add(request)
        db.session.flush()
        _step(request, "filed", tenant, actor, note=reason, to_tenant_id=tenant.parent_id)
        audit.record(actor, "refund_request.file", tenant_id=tenant.id,
                     order_no=order.order_no, request_id=request.id)
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        raise Conflict(_l("A refund request for this order is already open.")) from None
    return request


def _step(request: RefundRequest, action: str, tenant: Tenant, actor: User | None, *,
          note: str | None = None, to_tenant_id: int | None = None) -> RefundStep:
    step = RefundStep(request_id=request.id, action=action, tenant_id=tenant.id,
                      user_id=actor.id if actor is not None else None,
                      actor=(actor.email if actor is not None else "")[:255],
                      to_tenant_id=to_tenant_id, note=note)
    db.session.add(step)
    return step


def _held_by(tenant: Tenant):
    """Requests this shop holds now or has held (filed to it or forwarded to it)."""
    return RefundRequest.id.in_(select(RefundStep.request_id)
                                .where(RefundStep.to_tenant_id == tenant.id))


def get_request(tenant: Tenant, request_id: int) -> RefundRequest:
    """A request this shop filed, holds or has held; anything else is not found."""
    found = db.session.scalar(select(RefundRequest).where(
        RefundRequest.id == int(request_id),
        or_(RefundRequest.tenant_id == tenant.id, _held_by(tenant))))
    if found is None:
        raise NotFound(_l("no such refund request"))
    return found


def incoming(tenant: Tenant, limit: int = 200) -> list[RefundRequest]:
    """Requests that came to this shop from below (open ones it must decide first)."""
    return list(db.session.scalars(
        select(RefundRequest).where(_held_by(tenant))
        .order_by((RefundRequest.status == "open").desc(), RefundRequest.id.desc())
        .limit(limit)))


def outgoing(tenant: Tenant, limit: int = 200) -> list[RefundRequest]:
    """Requests this shop filed."""
    return list(db.session.scalars(
        select(RefundRequest).where(RefundRequest.tenant_id == tenant.id)
        .order_by(RefundRequest.id.desc()).limit(limit)))


def requests_for_order(order: Order) -> list[RefundRequest]:
    """Every request filed for this order, newest first (the order's own shop reads them)."""
    return list(db.session.scalars(select(RefundRequest).where(
        RefundRequest.order_id == order.id, RefundRequest.tenant_id == order.tenant_id)
        .order_by(RefundRequest.id.desc())))


def shop_names(ids) -> dict[int, Tenant]:
    """The shops a request page names (requester, holders), by id."""
    return shops_by_id(ids)


def can_decide(tenant: Tenant, request: RefundRequest) -> bool:
    return request.status == "open" and request.holder_tenant_id == tenant.id


def request_order(request: RefundRequest) -> Order:
    """The order a request is about, whichever shop is reading (not tenant-scoped)."""
    with all_tenants():
        order = db.session.get(Order, request.order_id)
        order.lines  # noqa: B018  (loaded now, inside the cross-tenant scope)
    return order


def _move(request_id: int, tenant: Tenant, **values) -> bool:
    """The conditional UPDATE of every decision: only an open request held by ``tenant``."""
    result = db.session.execute(
        update(RefundRequest).where(RefundRequest.id == request_id,
                                    RefundRequest.status == "open",
                                    RefundRequest.holder_tenant_id == tenant.id)
        .values(**values).execution_options(synchronize_session=False))
    return result.rowcount == 1


def _decide(tenant: Tenant, request_id: int, actor: User):
    _require_owner(tenant, actor)
    request = get_request(tenant, request_id)
    if not can_decide(tenant, request):
        raise Conflict(_l("This refund request is no longer waiting for your decision."))
    return request


def _changed() -> Conflict:
    db.session.rollback()
    return Conflict(_l("This refund request is no longer waiting for your decision."))


def forward_request(tenant: Tenant, request_id: int, *, actor: User,
                    note: str | None = None) -> RefundRequest:
    """An intermediate shop sends the request on to its own parent."""
    request = _decide(tenant, request_id, actor)
    note = _clean(note, required=False)
    if tenant.is_master:
        raise Conflict(_l("The master shop approves or rejects; there is nobody above it."))
    if not _move(request.id, tenant, holder_tenant_id=tenant.parent_id):
        raise _changed()
    _step(request, "forwarded", tenant, actor, note=note, to_tenant_id=tenant.parent_id)
    db.session.commit()
    db.session.refresh(request)
    return request


def reject_request(tenant: Tenant, request_id: int, *, actor: User,
                   note: str | None = None) -> RefundRequest:
    """The holder refuses the request (a reason is required); nothing is refunded."""
    request = _decide(tenant, request_id, actor)
    note = _clean(note, required=True)
    if not _move(request.id, tenant, status="rejected", decided_at=utcnow()):
        raise _changed()
    _step(request, "rejected", tenant, actor, note=note)
    db.session.commit()
    db.session.refresh(request)
    return request


def approve_request(tenant: Tenant, request_id: int, *, actor: User,
                    note: str | None = None) -> RefundRequest:
    """The master approves: the order is reversed in full (codes voided), once — the
    request's conditional UPDATE and the order's both decide a race, in one transaction."""
    request = _decide(tenant, request_id, actor)
    note = _clean(note, required=False)
    if not tenant.is_master:
        raise RefundForbidden(_l("Only the master shop approves a refund request; "
                                 "forward it to your parent shop."))
    try:
        if not _move(request.id, tenant, status="approved", decided_at=utcnow()):
            raise _changed()
        with all_tenants():
            order = db.session.get(Order, request.order_id)
            reason = f"refund request #{request.id}: {request.reason}"[:255]
            if not refund_order_in_txn(order, reason, actor=actor,
                                       from_statuses=("delivered",)):
                db.session.rollback()
                raise Conflict(_l("The order is no longer delivered; reject the request."))
        _step(request, "approved", tenant, actor, note=note)
        db.session.commit()
    except ServiceError:
        db.session.rollback()
        raise
    db.session.refresh(request)
    return request
