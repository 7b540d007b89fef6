"""Delivering a ``manual`` line by hand: staff paste the codes (or the note) from the back office.

The line moves to ``delivered`` with a conditional UPDATE, so two people
delivering the same line at once deliver it once; the order is then settled
exactly as the fulfilment job settles it (delivered when every line is,
with the ``order.delivered`` outbox row that sends the e-mail).

Only the shop that owns the product's stock or supplier — the master — delivers
or fails a manual line, whichever shop's site took the order
(``kameng.sales.oversight.fulfiller_id``); the work runs in the order's own
tenant scope, as the fulfilment job does.
"""
from __future__ import annotations

from sqlalchemy import update

from kameng.core import audit
from kameng.core.errors import Conflict, InvalidInput, NotFound, ServiceError
from kameng.core.extensions import db
from kameng.core.i18n import lazy_gettext as _l
from kameng.core.labels import label
from kameng.core.scoping import tenant_scope
from kameng.sales.delivery import store_delivered
from kameng.sales.fulfilment import settle
from kameng.sales.models import Order, OrderLine
from kameng.sales.oversight import may_deliver
from kameng.sales.services import transition_in_txn

MAX_CODES = 500
MAX_CODE_LENGTH = 500


def parse_codes(text: str) -> list[str]:
    """One code per line; blank lines dropped; order kept."""
    codes = [line.strip() for line in (text or "").splitlines()]
    codes = [c for c in codes if c]
    if not codes:
        raise InvalidInput(_l("enter at least one code (one per line)"), field="codes")
    if len(codes) > MAX_CODES:
        raise InvalidInput(_l("at most %(max_codes)s codes at once",
                              max_codes=MAX_CODES), field="codes")
    for code in codes:
        if len(code) > MAX_CODE_LENGTH or any(ord(c) < 32 or ord(c) == 127 for c in code):
            raise InvalidInput(_l("a code is longer than %(max_code_length)s characters or has "
                                  "control characters",
                                  max_code_length=MAX_CODE_LENGTH), field="codes")
    return codes


def _manual_line(order: Order, line_id, actor) -> OrderLine:
    if not may_deliver(actor, order):
        raise ServiceError(_l("manual orders are delivered by the shop that owns the "
                              "product's stock"), code="not_fulfiller", status=403)
    line = next((ln for ln in order.lines if ln.id == int(line_id)), None)
    if line is None:
        raise NotFound(_l("no such line on this order"), field="line")
    if line.kind != "manual":
        raise InvalidInput(_l("only manual lines are delivered by hand"), field="line")
    return line


def _claim_in_txn(order: Order, line: OrderLine, new: str) -> None:
    if order.status not in ("paid", "fulfilling"):
        raise Conflict(_l("the order is %(order_status)s; only paid orders are delivered",
                          order_status=label(order.status, "order")),
                       code="wrong_status")
    claimed = db.session.execute(
        update(OrderLine)
        .where(OrderLine.id == line.id, OrderLine.status.in_(("pending", "processing")))
        .values(status=new).execution_options(synchronize_session=False))
    if claimed.rowcount != 1:
        db.session.rollback()
        raise Conflict(_l("this line was delivered already"), code="already_delivered")
    line.status = new


def deliver_manual(order: Order, line_id: int, codes_text: str, actor) -> list[str]:
    """Hand over a manual line's codes and complete the order if nothing else is open.

    Raises ServiceError 403 (``actor`` is not staff of the fulfilling shop), NotFound
    (no such line on this order), InvalidInput (no codes, not a manual line) or
    Conflict (not paid, or the line was delivered already); nothing is written then.
    """
    with tenant_scope(order.tenant_id):
        line = _manual_line(order, line_id, actor)
        codes = parse_codes(codes_text)
        _claim_in_txn(order, line, "delivered")
        store_delivered(line, codes)
        audit.record(actor, "order.deliver_manual", tenant_id=order.tenant_id,
                     order_no=order.order_no, line_id=line.id, count=len(codes))
        # the job may not have picked the order up yet
        transition_in_txn(order, ("paid",), "fulfilling")
        db.session.commit()
        db.session.refresh(order)
        settle(order, None)
    return codes


REASON_MAX = 500


def fail_manual(order: Order, line_id: int, reason: str, actor) -> str:
    """The fulfilling shop cannot deliver a manual line: the line fails with ``reason``
    and the order settles as failed — refunded in full, as a failed job leaves it.

    Same refusals as ``deliver_manual`` (a reason is required); returns the order's status.
    """
    note = (reason or "").strip()
    with tenant_scope(order.tenant_id):
        line = _manual_line(order, line_id, actor)
        if not note:
            raise InvalidInput(_l("say why the order cannot be delivered"), field="reason")
        if len(note) > REASON_MAX or any(ord(c) < 32 and c not in "\n\t" for c in note):
            raise InvalidInput(_l("the reason is longer than %(limit)s characters or has "
                                  "control characters", limit=REASON_MAX), field="reason")
        _claim_in_txn(order, line, "failed")
        line.note = note
        audit.record(actor, "order.fail_manual", tenant_id=order.tenant_id,
                     order_no=order.order_no, line_id=line.id)
        transition_in_txn(order, ("paid",), "fulfilling")
        db.session.commit()
        db.session.refresh(order)
        settle(order, None)
        db.session.refresh(order)
        return order.status
