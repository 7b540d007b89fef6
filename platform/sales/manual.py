"""Delivering a ``manual`` line by hand: staff paste the codes (or the note) from the back office.

The line moves to ``delivered`` with a conditional UPDATE, so two people
delivering the same line at once deliver it once; the order is then settled
exactly as the fulfilment job settles it (delivered when every line is,
with the ``order.delivered`` outbox row that sends the e-mail).
"""
from __future__ import annotations

from sqlalchemy import update

from kameng.core import audit
from kameng.core.errors import Conflict, InvalidInput, NotFound
from kameng.core.extensions import db
from kameng.core.i18n import lazy_gettext as _l
from kameng.core.labels import label
from kameng.sales.delivery import store_delivered
from kameng.sales.fulfilment import settle
from kameng.sales.models import Order, OrderLine
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


def deliver_manual(order: Order, line_id: int, codes_text: str, actor) -> list[str]:
    """Hand over a manual line's codes and complete the order if nothing else is open.

    Raises NotFound (no such line on this order), InvalidInput (no codes, not a
    manual line) or Conflict (not paid, or the line was delivered already);
    nothing is written then.
    """
    line = next((ln for ln in order.lines if ln.id == int(line_id)), None)
    if line is None:
        raise NotFound(_l("no such line on this order"), field="line")
    if line.kind != "manual":
        raise InvalidInput(_l("only manual lines are delivered by hand"), field="line")
    codes = parse_codes(codes_text)
    if order.status not in ("paid", "fulfilling"):
        raise Conflict(_l("the order is %(order_status)s; only paid orders are delivered",
                          order_status=label(order.status, "order")),
                       code="wrong_status")
    claimed = db.session.execute(
        update(OrderLine)
        .where(OrderLine.id == line.id, OrderLine.status.in_(("pending", "processing")))
        .values(status="delivered").execution_options(synchronize_session=False))
    if claimed.rowcount != 1:
        db.session.rollback()
        raise Conflict(_l("this line was delivered already"), code="already_delivered")
    line.status = "delivered"
    store_delivered(line, codes)
    audit.record(actor, "order.deliver_manual", tenant_id=order.tenant_id,
                 order_no=order.order_no, line_id=line.id, count=len(codes))
    # the job may not have picked the order up yet
    transition_in_txn(order, ("paid",), "fulfilling")
    db.session.commit()
    db.session.refresh(order)
    settle(order, None)
    return codes
