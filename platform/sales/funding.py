"""Orders a shop collected on its own gateway: the parent's price out of its funded account.

A sub-shop's own 易支付 gateway takes the buyer's money where the platform never
sees it. When such a verified notice pays an order, the platform must still pay
everyone above the shop (the parent's price for the goods, and the shop's
promoter share): that amount — the order amount minus what the shop keeps —
moves from the shop's ``funded`` account (预存款) into ``sales_clearing`` in the
transaction that marks the order paid (ledger kind ``order_funding``, under the
order's payment key ``order:<no>:pay``, so a refund reverses it like any
payment). The order records ``collected_by_tenant_id`` and ``funded_amount``;
the commission at delivery then credits the shop nothing of its own share (it
holds it already) and charges no payment fee, so ``sales_clearing`` nets to
zero for the order.

When the funded account cannot cover it, nothing is posted and nothing leaves
stock: the order waits as ``awaiting_funds`` (its reserved codes stay held, the
expiry sweep does not touch it), the owner sees it in the back office and the
buyer on the order page. Money put into the funded account
(``kameng.billing.funding``) enqueues ``fill_waiting_orders`` after its commit,
which retries the shop's waiting orders, oldest first (the periodic order sweep
retries them too: ``fill_all_waiting``).
"""
from __future__ import annotations

import logging

from sqlalchemy import func, select

from kameng.billing import reports
from kameng.billing.commissions import services as billing_commissions
from kameng.billing.ledger import services as ledger
from kameng.core.extensions import db
from kameng.core.mail import mail_configured, send_to_each
from kameng.core.models import utcnow
from kameng.core.scoping import all_tenants
from kameng.sales import outbox
from kameng.sales.commissions import order_snapshot
from kameng.sales.models import Order
from kameng.shop.stock import allocation
from kameng.tenants.models import Tenant, User
from kameng.tenants.services import subtree_page

log = logging.getLogger(__name__)

WAITING = "awaiting_funds"


def pay_key(order: Order) -> str:
    return f"order:{order.order_no}:pay"


def funding_due(order: Order) -> int:
    """What the platform must pay out for an order its shop collected itself: the
    amount minus the selling shop's own net share (its margin less its promoter's part)."""
    return int(order.amount) - billing_commissions.seller_keeps(order_snapshot(order))


def _post_funding_in_txn(order: Order, due: int) -> None:
    if due <= 0:
        return  # the shop keeps it all: nothing is owed above it
    funded = ledger.shop_account_of(order.tenant_id, "funded", order.currency)
    sales = ledger.platform_account("sales_clearing", order.currency)
    ledger.post_in_txn(pay_key(order), "order_funding", [(funded, -due), (sales, due)],
                       reference=order.order_no,
                       memo=f"own {order.payment_method or 'gateway'} payment, paid from funds")


def record_own_payment_in_txn(order: Order, method: str, provider_ref: str | None
                              ) -> str:
    """Book a verified own-gateway payment of a pending (or expired) order.

    Returns ``"paid"`` (funded account charged, order paid, fulfilment queued),
    ``"waiting"`` (not enough funds: the order waits) or ``"seen"`` (another
    writer moved the order first). Nothing is committed here.
    """
    from kameng.sales import coupons
    from kameng.sales.services import transition_in_txn

    due = funding_due(order)
    collected = {"payment_method": method, "payment_ref": provider_ref,
                 "collected_by_tenant_id": order.tenant_id, "funded_amount": due}
    try:
        _post_funding_in_txn(order, due)
    except ledger.InsufficientBalance:
        if not transition_in_txn(order, ("pending", "expired"), WAITING, **collected):
            return "seen"
        coupons.rehold_in_txn(order)
        for line in order.lines:
            allocation.hold_codes_in_txn(line.id)
        if mail_configured():  # the owner is told by e-mail too (the back office shows it)
            outbox.add("order.awaiting_funds", order.tenant_id, order.id)
        log.info("order %s waits for funds: %s owed by shop %s", order.order_no, due,
                 order.tenant_id)
        return "waiting"
    if not transition_in_txn(order, ("pending", "expired"), "paid", paid_at=utcnow(),
                             **collected):
        return "seen"
    coupons.rehold_in_txn(order)  # paid after it expired: its coupon's use again
    outbox.add("order.paid", order.tenant_id, order.id)
    return "paid"


def fill_waiting_orders(tenant_id: int, limit: int = 200) -> int:
    """Retry the shop's orders awaiting funds, oldest first; stops at the first one
    its funded account still cannot pay. Each order is its own transaction."""
    with all_tenants():
        ids = list(db.session.scalars(
            select(Order.id).where(Order.tenant_id == tenant_id, Order.status == WAITING)
            .order_by(Order.id).limit(limit)))
        db.session.rollback()
        filled = 0
        for order_id in ids:
            outcome = _fill_one(order_id)
            if outcome == "short":
                break
            filled += outcome == "paid"
    return filled


def _fill_one(order_id: int) -> str:
    from kameng.sales.services import transition_in_txn

    order = db.session.scalar(select(Order).where(Order.id == order_id).with_for_update()
                              .execution_options(populate_existing=True))
    if order is None or order.status != WAITING:
        db.session.rollback()
        return "gone"
    due = order.funded_amount if order.funded_amount is not None else funding_due(order)
    try:
        _post_funding_in_txn(order, due)
    except ledger.InsufficientBalance:
        db.session.rollback()
        return "short"
    if not transition_in_txn(order, (WAITING,), "paid", paid_at=utcnow(), funded_amount=due):
        db.session.rollback()
        return "gone"
    outbox.add("order.paid", order.tenant_id, order.id)
    db.session.commit()
    return "paid"


def fill_all_waiting(limit: int = 100) -> int:
    """The periodic safety net: every shop with waiting orders gets a retry (a
    retry lost to a crash between commit and enqueue)."""
    with all_tenants():
        tenant_ids = list(db.session.scalars(
            select(Order.tenant_id).where(Order.status == WAITING).distinct().limit(limit)))
    db.session.rollback()
    return sum(fill_waiting_orders(tid) for tid in tenant_ids)


def waiting_orders(tenant: Tenant, limit: int = 50) -> list[Order]:
    """The shop's orders awaiting funds, oldest first."""
    with all_tenants():
        return list(db.session.scalars(
            select(Order).where(Order.tenant_id == tenant.id, Order.status == WAITING)
            .order_by(Order.id).limit(limit)))


def waiting_totals(tenant_ids) -> dict[int, tuple[int, int]]:
    """``{tenant_id: (orders awaiting funds, amount owed for them)}``."""
    ids = list(tenant_ids)
    if not ids:
        return {}
    with all_tenants():
        rows = db.session.execute(
            select(Order.tenant_id, func.count(Order.id),
                   func.coalesce(func.sum(Order.funded_amount), 0))
            .where(Order.status == WAITING, Order.tenant_id.in_(ids))
            .group_by(Order.tenant_id))
        return {tid: (int(n), int(owed)) for tid, n, owed in rows}


def collected_totals(tenant_ids) -> dict[int, tuple[int, int]]:
    """``{tenant_id: (orders collected on its own gateway, their amount)}`` (not refunded)."""
    ids = list(tenant_ids)
    if not ids:
        return {}
    with all_tenants():
        rows = db.session.execute(
            select(Order.collected_by_tenant_id, func.count(Order.id),
                   func.coalesce(func.sum(Order.amount), 0))
            .where(Order.collected_by_tenant_id.in_(ids), Order.status != "refunded")
            .group_by(Order.collected_by_tenant_id))
        return {tid: (int(n), int(total)) for tid, n, total in rows}


OWNER_SUBJECT = "【{shop}】订单 {order_no} 等待预存款 / {shop}: order {order_no} waits for funds"
OWNER_TEXT = """订单 {order_no}（{amount}）的买家已通过你的自有支付通道付款，但你的预存款不足以支付
上级的货款 {owed}。请向上级站点充值预存款（后台 → 预存款），订单会自动发货。

The buyer of order {order_no} ({amount}) paid on your own payment gateway, but your
funded account cannot pay your parent's price of {owed}. Top it up with your parent
shop (back office → Funded account); the order is then delivered by itself.
"""


def tell_owners(order_id: int) -> str:
    """The e-mail to the shop's owners about an order waiting for funds (a job)."""
    from kameng.core.money import format_money

    with all_tenants():
        order = db.session.get(Order, order_id)
        if order is None or order.status != WAITING:
            db.session.rollback()
            return "skipped"
        tenant = db.session.get(Tenant, order.tenant_id)
        owners = list(db.session.scalars(select(User.email).where(
            User.tenant_id == tenant.id, User.role == "owner")))
        values = {"shop": tenant.name, "order_no": order.order_no,
                  "amount": format_money(order.amount, order.currency),
                  "owed": format_money(order.funded_amount or 0, order.currency)}
    db.session.commit()  # ends the read: no transaction is open during the SMTP call
    return send_to_each(owners, OWNER_SUBJECT.format(**values), OWNER_TEXT.format(**values))


SUBTREE_PAGE = 50


def subtree_rows(root: Tenant, after: str | None = None, size: int | None = None
                 ) -> tuple[list, str | None]:
    """One page of the shops below ``root``, in tree order after the path ``after``,
    with their balances, what each owes and collected itself — (balances row, waiting
    (count, amount), collected (count, amount), is a direct child) — and the ``after``
    of the next page (None on the last one).

    A page costs the same however big the subtree (the master's is every shop): the
    shops come from the path index (keyset, no OFFSET) and every sum is read for the
    page's shops only."""
    page = subtree_page(root, after, size or SUBTREE_PAGE)
    shops = page.rows
    rows = reports.balances(shops)
    ids = [s.id for s in shops]
    waiting, collected = waiting_totals(ids), collected_totals(ids)
    direct = {s.id for s in shops if s.parent_id == root.id}
    return [(row, waiting.get(row.tenant_id, (0, 0)), collected.get(row.tenant_id, (0, 0)),
             row.tenant_id in direct) for row in rows], page.after
