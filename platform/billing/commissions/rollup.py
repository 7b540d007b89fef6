"""Running sums of the commissions per shop, so that a shop's figures cost the same
however long its history: the master's share history is every order on the platform.

``roll_up`` (periodic, ``workers/schedule.py``) moves one mark forward:

- ``CommissionRollup``: the shares of every commission written before ``rolled_to``,
  by shop, quarter hour written (UTC; every zone's midnight falls on one) and day
  delivered, less those reversed before ``rolled_to``; a commission reversed later
  comes off in a correction row when the mark passes its reversal;
- ``EarnedTotal``: each shop's earnings entries (``reports``' earned total) with an
  id up to ``entry_id``, a point below which every entry is committed (the ledger
  check's ``settled_ids``);
- ``SellerEarnedTotal``: each shop's shares by the shop that made the sale (a parent's
  earnings from each sub-shop), for the commissions written before
  ``sellers_rolled_to`` (the same point as ``rolled_to`` once it has run), less those
  reversed before it.

A reader adds what came after the mark, read through the indexes on the commissions'
``created_at`` and ``reversed_at`` and the entries' (account, id): the open part is
at most ``LAG`` plus one run's period. With no run yet everything is the open part
(the figures are the same, only slower). The commissions' mark stays ``LAG`` behind
the clock: a commission written just before it may not be committed yet.

Idempotent and resumable: one transaction moves the sums and the mark together, the
mark row locked, so a second run at the same time waits and then finds nothing to do.
"""
from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import (
    Integer,
    and_,
    bindparam,
    cast,
    func,
    insert,
    literal_column,
    or_,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError

from kameng.billing.commissions.models import (
    Commission,
    CommissionRollup,
    CommissionShare,
    EarnedTotal,
    RollupMark,
    SellerEarnedTotal,
)
from kameng.billing.commissions.services import EARNING_KINDS
from kameng.billing.ledger.check import settled_ids
from kameng.billing.ledger.models import Account, Entry, Transaction
from kameng.core.database import insert_on_conflict
from kameng.core.extensions import db
from kameng.core.models import utcnow
from kameng.core.scoping import all_tenants

MARK_ID = 1
SLOT_SECONDS = 900
LAG = timedelta(minutes=10)
EARNING_ACCOUNTS = ("earnings_pending", "earnings_available")


def _floor(at: datetime) -> datetime:
    seconds = int(at.timestamp()) // SLOT_SECONDS * SLOT_SECONDS
    return datetime.fromtimestamp(seconds, UTC)


def _slot_of(column):
    """The start of the quarter hour of ``column`` (UTC), in SQL."""
    n = literal_column(str(SLOT_SECONDS))
    if db.session.get_bind().dialect.name == "postgresql":
        return func.to_timestamp(func.floor(func.extract("epoch", column) / n) * n)
    # SQLite keeps the text SQLAlchemy writes: the same shape, so that it compares
    epoch = cast(func.strftime("%s", column), Integer) / n * n
    return func.strftime("%Y-%m-%d %H:%M:%S", epoch, "unixepoch").concat(".000000")


def _sums(sign: int = 1):
    k = literal_column(str(sign))
    return (func.count(CommissionShare.id) * k, func.sum(CommissionShare.sales) * k,
            func.sum(CommissionShare.cost) * k, func.sum(CommissionShare.margin) * k,
            func.sum(CommissionShare.net) * k)


def current_mark() -> RollupMark | None:
    return db.session.scalar(select(RollupMark).where(RollupMark.id == MARK_ID)
                             .execution_options(populate_existing=True))


# ----- the job ------------------------------------------------------------------------

def roll_up(now: datetime | None = None) -> dict:
    """Move the mark to ``now - LAG`` (a quarter hour) and the settled ledger entries."""
    now = now or utcnow()
    to = _floor(now - LAG)
    with all_tenants():
        settled = settled_ids()
        stmt = select(RollupMark).where(RollupMark.id == MARK_ID)
        if db.session.get_bind().dialect.name == "postgresql":
            stmt = stmt.with_for_update()
        mark = db.session.scalar(stmt.execution_options(populate_existing=True))
        if mark is None:
            mark = RollupMark(id=MARK_ID, entry_id=0)
            db.session.add(mark)
        done = {"rolled_to": mark.rolled_to, "entry_id": mark.entry_id}
        if mark.rolled_to is None or to > mark.rolled_to:
            _roll_commissions(mark.rolled_to, to)
            mark.rolled_to = done["rolled_to"] = to
        if mark.sellers_rolled_to is None or to > mark.sellers_rolled_to:
            _roll_sellers(mark.sellers_rolled_to, to)
            mark.sellers_rolled_to = to
        if settled is not None and settled[0] > (mark.entry_id or 0):
            _roll_earned(mark.entry_id or 0, settled[0])
            mark.entry_id = done["entry_id"] = settled[0]
        mark.rolled_at = now
        try:
            db.session.commit()
        except IntegrityError:   # a first run at the same time wrote the mark
            db.session.rollback()
            return {"skipped": True}
    return done


def _roll_commissions(after: datetime | None, to: datetime) -> None:
    slot = _slot_of(Commission.created_at)
    cols = ["tenant_id", "slot", "day", "orders", "sales", "cost", "margin", "net"]
    added = (select(CommissionShare.tenant_id, slot, Commission.day, *_sums())
             .join(Commission, Commission.id == CommissionShare.commission_id)
             .where(CommissionShare.user_id.is_(None), Commission.created_at < to,
                    or_(Commission.status != "reversed", Commission.reversed_at >= to))
             .group_by(CommissionShare.tenant_id, slot, Commission.day))
    if after is not None:
        added = added.where(Commission.created_at >= after)
    db.session.execute(insert(CommissionRollup).from_select(cols, added))
    if after is None:
        return
    # rolled up earlier, reversed since: a correction row
    taken = (select(CommissionShare.tenant_id, slot, Commission.day, *_sums(-1))
             .join(Commission, Commission.id == CommissionShare.commission_id)
             .where(CommissionShare.user_id.is_(None), Commission.created_at < after,
                    Commission.status == "reversed", Commission.reversed_at >= after,
                    Commission.reversed_at < to)
             .group_by(CommissionShare.tenant_id, slot, Commission.day))
    db.session.execute(insert(CommissionRollup).from_select(cols, taken))


def _seller_shares(sign: int, *where):
    """``(earner, seller, net)`` of the shops' commission shares, grouped, times ``sign``."""
    return db.session.execute(
        select(CommissionShare.tenant_id, Commission.tenant_id,
               func.sum(CommissionShare.net) * literal_column(str(sign)))
        .join(Commission, Commission.id == CommissionShare.commission_id)
        .where(CommissionShare.user_id.is_(None), *where)
        .group_by(CommissionShare.tenant_id, Commission.tenant_id)).all()


def _roll_sellers(after: datetime | None, to: datetime) -> None:
    """Add the commissions written in [after, to) to ``SellerEarnedTotal`` (all before
    ``to`` on the first run), less those rolled up before ``after`` and reversed since."""
    rows = _seller_shares(1, Commission.created_at < to,
                          or_(Commission.status != "reversed", Commission.reversed_at >= to),
                          *((Commission.created_at >= after,) if after is not None else ()))
    if after is not None:
        rows += _seller_shares(-1, Commission.created_at < after,
                               Commission.status == "reversed",
                               Commission.reversed_at >= after, Commission.reversed_at < to)
    deltas: dict[tuple[int, int], int] = {}
    for earner, seller, net in rows:
        deltas[earner, seller] = deltas.get((earner, seller), 0) + int(net or 0)
    values = [{"earner_id": e, "seller_id": s, "net": n}
              for (e, s), n in sorted(deltas.items()) if n]
    if not values:
        return
    table = SellerEarnedTotal.__table__
    stmt = insert_on_conflict(table)
    db.session.execute(stmt.on_conflict_do_update(
        index_elements=[table.c.earner_id, table.c.seller_id],
        set_={"net": table.c.net + stmt.excluded.net}), values)


def _earned_stmt():
    return (select(Account.tenant_id, func.coalesce(func.sum(Entry.amount), 0))
            .join(Entry, Entry.account_id == Account.id)
            .join(Transaction, Transaction.id == Entry.transaction_id)
            .where(Account.owner_type == "tenant", Account.kind.in_(EARNING_ACCOUNTS),
                   or_(Transaction.kind.in_(EARNING_KINDS),
                       and_(Transaction.kind == "plan_payment", Entry.amount > 0)))
            .group_by(Account.tenant_id))


def _roll_earned(after: int, upto: int) -> None:
    deltas = {tid: int(total) for tid, total in db.session.execute(
        _earned_stmt().where(Entry.id > after, Entry.id <= upto)) if tid is not None}
    if not deltas:
        return
    known = set(db.session.scalars(select(EarnedTotal.tenant_id)))
    table = EarnedTotal.__table__
    old = [{"tid": t, "delta": d} for t, d in deltas.items() if t in known]
    new = [{"tenant_id": t, "amount": d} for t, d in deltas.items() if t not in known]
    if old:
        db.session.execute(update(table).where(table.c.tenant_id == bindparam("tid"))
                           .values(amount=table.c.amount + bindparam("delta")), old)
    if new:
        db.session.execute(insert(table), new)


def roll_up_job() -> dict:
    """Periodic (workers/schedule.py)."""
    return roll_up()


# ----- reading ------------------------------------------------------------------------

def shop_figures(tenant_id: int, *, rolled_key, rolled_where: tuple, live_key,
                 live_where: tuple) -> list[tuple]:
    """``(key, orders, sales, cost, margin, net)`` rows of one shop's commissions not
    reversed, several per key (sum them): the rolled-up rows grouped by ``rolled_key``
    (a ``CommissionRollup`` column), the rest by ``live_key`` (over ``Commission``)."""
    mark = current_mark()
    rolled_to = mark.rolled_to if mark is not None else None
    out: list[tuple] = []
    with all_tenants():
        if rolled_to is not None:
            r = CommissionRollup
            out += db.session.execute(
                select(rolled_key, func.sum(r.orders), func.sum(r.sales), func.sum(r.cost),
                       func.sum(r.margin), func.sum(r.net))
                .where(r.tenant_id == tenant_id, *rolled_where).group_by(rolled_key)).all()

        def part(sign: int, *where):
            return db.session.execute(
                select(live_key, *_sums(sign))
                .join(Commission, Commission.id == CommissionShare.commission_id)
                .where(CommissionShare.tenant_id == tenant_id,
                       CommissionShare.user_id.is_(None), *live_where, *where)
                .group_by(live_key).execution_options(all_tenants=True)).all()

        if rolled_to is None:
            return part(1, Commission.status != "reversed")
        out += part(1, Commission.created_at >= rolled_to, Commission.status != "reversed")
        out += part(-1, Commission.created_at < rolled_to, Commission.status == "reversed",
                    Commission.reversed_at >= rolled_to)
    return out


def earned(tenant_ids: list[int]) -> dict[int, int]:
    """What each shop has earned in all: commissions net of reversals, plan resale
    margins (the running total plus the entries after its mark)."""
    if not tenant_ids:
        return {}
    mark = current_mark()
    after = (mark.entry_id or 0) if mark is not None else 0
    out: dict[int, int] = {}
    if after:
        out = {tid: int(amount) for tid, amount in db.session.execute(
            select(EarnedTotal.tenant_id, EarnedTotal.amount)
            .where(EarnedTotal.tenant_id.in_(tenant_ids)))}
    for tid, total in db.session.execute(
            _earned_stmt().where(Account.tenant_id.in_(tenant_ids), Entry.id > after)):
        out[tid] = out.get(tid, 0) + int(total)
    return out


def earned_from(earner_id: int, seller_ids) -> dict[int, int]:
    """What the shop ``earner_id`` earned on each of ``seller_ids``' sales (its commission
    shares, net of reversals): the running totals plus the commissions written or
    reversed after their mark, read for those sellers only."""
    ids = sorted({int(i) for i in seller_ids})
    if not ids:
        return {}
    mark = current_mark()
    rolled_to = mark.sellers_rolled_to if mark is not None else None
    out: dict[int, int] = {}
    with all_tenants():
        if rolled_to is not None:
            out = {sid: int(net) for sid, net in db.session.execute(
                select(SellerEarnedTotal.seller_id, SellerEarnedTotal.net).where(
                    SellerEarnedTotal.earner_id == earner_id,
                    SellerEarnedTotal.seller_id.in_(ids)))}

        def part(sign: int, *where) -> None:
            for _earner, sid, net in _seller_shares(
                    sign, CommissionShare.tenant_id == earner_id,
                    Commission.tenant_id.in_(ids), *where):
                out[sid] = out.get(sid, 0) + int(net or 0)

        if rolled_to is None:
            part(1, Commission.status != "reversed")
        else:
            part(1, Commission.created_at >= rolled_to, Commission.status != "reversed")
            part(-1, Commission.created_at < rolled_to, Commission.status == "reversed",
                 Commission.reversed_at >= rolled_to)
    return {sid: net for sid, net in out.items() if net}
