"""Handing codes to order lines so that no code ever goes to two lines.

PostgreSQL: one ``UPDATE … WHERE id IN (SELECT … FOR UPDATE SKIP LOCKED)``
claims the rows, and the number of rows it changed must equal the quantity
asked for. SQLite: every transaction begins with ``BEGIN IMMEDIATE`` (see
``kameng.core.database``), so writers are serialised and the same statement
cannot interleave with another.

Each function owns its transaction; its ``…_in_txn`` twin is part of the
caller's (a refusal undoes only its own work and leaves the caller's
transaction usable).
A loop-code product hands the same code to every line: the code row stays
``available`` and a ``LoopDelivery`` row records the line.
"""
from __future__ import annotations

import functools
from collections import Counter
from datetime import datetime

from sqlalchemy import Integer, bindparam, delete, select, update

from kameng.core.crypto import keyring
from kameng.core.errors import Conflict, InvalidInput, NotFound
from kameng.core.extensions import db
from kameng.core.hotrows import defer_increment
from kameng.core.i18n import lazy_gettext as _l
from kameng.core.models import utcnow
from kameng.core.txn import in_own_txn
from kameng.shop.catalog.models import Product
from kameng.shop.stock.models import AVAILABLE, CardCode, LoopDelivery, StockBatch

_codes = CardCode.__table__
_loops = LoopDelivery.__table__
_batches = StockBatch.__table__
_products = Product.__table__


class _Short(Exception):
    def __init__(self, got: int):
        self.got = got


def code_aad(product_id: int) -> bytes:
    """Associated data binding a ciphertext to its product."""
    return b"kameng-code:%d" % product_id


def adjust_counter(deltas: dict[int, int]) -> None:
    """Move ``Product.stock_available`` by the given deltas, in the same transaction.

    The UPDATE is issued just before COMMIT (kameng.core.hotrows): every order of a
    product touches this row, and a lock held for the whole order transaction would
    make all buyers of the product queue behind each other.
    """
    for pid in sorted(deltas):
        defer_increment(db.session(), _products, pid, "stock_available", deltas[pid])


def reserve_codes(product_id: int, quantity: int, order_line_id: int, until: datetime, *,
                  fresh: bool = False, loop_code: bool | None = None) -> list[int]:
    """``reserve_codes_in_txn`` as a transaction of its own."""
    return in_own_txn(reserve_codes_in_txn, product_id, quantity, order_line_id, until,
                      fresh=fresh, loop_code=loop_code)


def reserve_codes_in_txn(product_id: int, quantity: int, order_line_id: int,
                         until: datetime, *, fresh: bool = False,
                         loop_code: bool | None = None) -> list[int]:
    """Reserve ``quantity`` codes of a product for an order line until ``until``.

    Returns the code ids (for a loop product: the loop code's id, ``quantity``
    times). Raises ``Conflict(code="out_of_stock")`` and reserves nothing when
    fewer are available. Calling it again for a line that already holds codes
    returns those codes (``fresh=True``: the caller just created the line).
    ``loop_code``: the product's flag when the caller has the (card) product at
    hand, which spares reading it here.
    """
    if not isinstance(quantity, int) or quantity < 1:
        raise InvalidInput(_l("quantity must be a positive whole number"), field="quantity")
    if loop_code is None:
        row = db.session.execute(select(_products.c.kind, _products.c.loop_code)
                                 .where(_products.c.id == product_id)).first()
        if row is None:
            raise NotFound(_l("no product %(product_id)s", product_id=product_id))
        if row.kind != "card":
            raise InvalidInput(_l("only card products hold codes"), field="product")
        loop_code = row.loop_code

    # a line created in this very transaction cannot hold codes yet: skip the lookup
    held = [] if fresh else _held_by_line(order_line_id)
    if held:
        if len(held) != quantity:
            raise Conflict(_l("order line %(order_line_id)s already holds %(count)s code(s)",
                              order_line_id=order_line_id, count=len(held)),
                           code="already_reserved")
        return held
    try:
        # each way is one statement that either reserves them all or writes nothing
        if loop_code:
            ids = _reserve_loop(product_id, quantity, order_line_id, until)
        else:
            ids = _reserve_rows(product_id, quantity, order_line_id, until)
    except _Short as short:
        raise Conflict(_l("out of stock: %(quantity)s wanted, %(got)s available",
                          quantity=quantity, got=short.got),
                       code="out_of_stock") from None
    return ids


def _reserve_rows(product_id, quantity, order_line_id, until) -> list[int]:
    claimed = db.session.execute(_claim_statement(), {
        "pick_product": product_id, "pick_quantity": quantity, "claim_line": order_line_id,
        "claim_until": until}).scalars().all()
    if len(claimed) != quantity:
        if claimed:  # too few: put back the ones taken (their rows are ours, locked)
            db.session.execute(update(_codes).where(_codes.c.id.in_(claimed))
                               .values(status="available", order_line_id=None,
                                       reserved_until=None))
        raise _Short(len(claimed))
    adjust_counter({product_id: -quantity})
    return sorted(claimed)


@functools.cache
def _claim_statement():
    """Built once (every card order runs it): parameters pick_product, pick_quantity,
    claim_line, claim_until."""
    return claim_update(bindparam("claim_line"))


def claim_update(line_id):
    """The UPDATE that reserves ``:pick_quantity`` available codes of ``:pick_product``
    for the line ``line_id`` (a value or an SQL expression) until ``:claim_until``,
    RETURNING their ids: all of them, or fewer when short (the caller then puts them
    back or rolls back). For a caller that runs it inside a statement of its own, which
    then owes ``claimed_in_txn``."""
    # a MATERIALIZED CTE runs the pick once: as a plain ``IN (subquery)`` PostgreSQL may
    # plan a nested-loop semi join that rescans the subquery for every outer row, and
    # each rescan's LIMIT … SKIP LOCKED adds rows (it claimed all 5 codes for 2 wanted)
    pick = (select(_codes.c.id)
            .where(_codes.c.product_id == bindparam("pick_product"), _codes.c.status == AVAILABLE)
            .order_by(_codes.c.id).limit(bindparam("pick_quantity", type_=Integer))
            .with_for_update(skip_locked=True)
            .cte("pick").prefix_with("MATERIALIZED", dialect="postgresql"))
    return (update(_codes)
            .where(_codes.c.id.in_(select(pick.c.id)), _codes.c.status == AVAILABLE)
            .values(status="reserved", order_line_id=line_id,
                    reserved_until=bindparam("claim_until", type_=_codes.c.reserved_until.type))
            .returning(_codes.c.id))


def claimed_in_txn(product_id: int, quantity: int) -> None:
    """What ``reserve_codes_in_txn`` does after a full ``claim_update``: the counter."""
    adjust_counter({product_id: -quantity})


def _reserve_loop(product_id, quantity, order_line_id, until) -> list[int]:
    code_id = db.session.scalar(
        select(_codes.c.id).where(_codes.c.product_id == product_id,
                                  _codes.c.status == AVAILABLE)
        .order_by(_codes.c.id.desc()).limit(1))
    if code_id is None:
        raise _Short(0)
    db.session.execute(_loops.insert().values(
        code_id=code_id, product_id=product_id, order_line_id=order_line_id,
        quantity=quantity, status="reserved", reserved_until=until, created_at=utcnow()))
    return [code_id] * quantity


def _held_by_line(order_line_id: int) -> list[int]:
    ids = list(db.session.scalars(
        select(_codes.c.id).where(_codes.c.order_line_id == order_line_id,
                                  _codes.c.status.in_(("reserved", "sold")))
        .order_by(_codes.c.id)))
    loop = db.session.execute(select(_loops.c.code_id, _loops.c.quantity)
                              .where(_loops.c.order_line_id == order_line_id)).first()
    if loop is not None:
        ids.extend([loop.code_id] * loop.quantity)
    return ids


def release_codes(order_line_id: int) -> int:
    """``release_codes_in_txn`` as a transaction of its own."""
    return in_own_txn(release_codes_in_txn, order_line_id)


def release_codes_in_txn(order_line_id: int) -> int:
    """Put a line's reserved (unsold) codes back on sale; returns how many."""
    product_ids = db.session.execute(
        update(_codes).where(_codes.c.order_line_id == order_line_id,
                             _codes.c.status == "reserved")
        .values(status="available", order_line_id=None, reserved_until=None)
        .returning(_codes.c.product_id)).scalars().all()
    adjust_counter(Counter(product_ids))
    loops = db.session.execute(
        delete(_loops).where(_loops.c.order_line_id == order_line_id,
                             _loops.c.status == "reserved")
        .returning(_loops.c.quantity)).scalars().all()
    return len(product_ids) + sum(loops)


def hold_codes_in_txn(order_line_id: int) -> int:
    """Keep a line's reserved codes reserved with no time limit (an order the buyer paid
    that waits for its shop's funds): ``reserved_until`` no longer says when they end.
    Reservations end with their orders (``release_codes_in_txn`` when an unpaid order
    expires or an undelivered one is refunded, ``mark_sold_in_txn`` on delivery), never
    by their time alone: a paid order keeps its codes however long delivery takes."""
    n = db.session.execute(
        update(_codes).where(_codes.c.order_line_id == order_line_id,
                             _codes.c.status == "reserved")
        .values(reserved_until=None)).rowcount
    loops = db.session.execute(
        update(_loops).where(_loops.c.order_line_id == order_line_id,
                             _loops.c.status == "reserved")
        .values(reserved_until=None)).rowcount
    return n + loops


def mark_sold(order_line_id: int) -> int:
    """``mark_sold_in_txn`` as a transaction of its own."""
    return in_own_txn(mark_sold_in_txn, order_line_id)


def mark_sold_in_txn(order_line_id: int) -> int:
    """The line's reserved codes become sold; returns how many changed (0 on a re-run)."""
    now = utcnow()
    n = db.session.execute(
        update(_codes).where(_codes.c.order_line_id == order_line_id,
                             _codes.c.status == "reserved")
        .values(status="sold", sold_at=now, reserved_until=None)).rowcount
    loops = db.session.execute(
        update(_loops).where(_loops.c.order_line_id == order_line_id,
                             _loops.c.status == "reserved")
        .values(status="sold", sold_at=now, reserved_until=None)
        .returning(_loops.c.quantity)).scalars().all()
    return n + sum(loops)


def sold_update(line_ids, now):
    """The UPDATE that marks the reserved codes of the lines ``line_ids`` (a list, or an
    SQL expression such as a subquery) sold at ``now``, RETURNING each code's line id:
    ``mark_sold_many``'s first statement, for a caller that runs it inside a statement
    of its own (then ``mark_loops_sold_many`` for a line it left short)."""
    return (update(_codes).where(_codes.c.order_line_id.in_(line_ids),
                                 _codes.c.status == "reserved")
            .values(status="sold", sold_at=now, reserved_until=None)
            .returning(_codes.c.order_line_id))


def mark_sold_many(line_ids: list[int], quantities: dict[int, int] | None = None) -> Counter:
    """``mark_sold`` for many lines in two statements; line id → codes sold now.

    With ``quantities`` (line id → units), a line whose codes already make up its
    quantity has no loop reservation to look for: when every line is such, one
    statement."""
    now = utcnow()
    sold = Counter(db.session.execute(sold_update(line_ids, now)).scalars())
    if quantities is not None:
        line_ids = [i for i in line_ids if sold[i] < quantities.get(i, 0)]
        if not line_ids:
            return sold
    sold.update(mark_loops_sold_many(line_ids, now))
    return sold


def mark_loops_sold_many(line_ids: list[int], now=None) -> Counter:
    """The loop-code reservations of the lines become sold; line id → units sold now."""
    sold: Counter = Counter()
    for line_id, quantity in db.session.execute(
            update(_loops).where(_loops.c.order_line_id.in_(line_ids),
                                 _loops.c.status == "reserved")
            .values(status="sold", sold_at=now or utcnow(), reserved_until=None)
            .returning(_loops.c.order_line_id, _loops.c.quantity)):
        sold[line_id] += quantity
    return sold


def void_sold_codes_in_txn(order_line_id: int, reason: str, ref: str) -> int:
    """The line's sold codes become ``void`` (a full refund took the sale back): they are
    recorded with ``reason`` and ``ref`` (the order's number) and never go on sale again
    (nothing moves a void code). Returns how many; 0 on a re-run. A loop code is shared
    by every buyer by design: its row stays available and its delivery stays recorded."""
    now = utcnow()
    batches = Counter(db.session.execute(
        update(_codes).where(_codes.c.order_line_id == order_line_id,
                             _codes.c.status == "sold")
        .values(status="void", voided_at=now, void_reason=(reason or "")[:255] or None,
                void_ref=(ref or "")[:80] or None)
        .returning(_codes.c.batch_id)).scalars())
    for batch_id in sorted(batches):
        db.session.execute(update(_batches).where(_batches.c.id == batch_id)
                           .values(voided=_batches.c.voided + batches[batch_id]))
    return sum(batches.values())


def voided_codes_for_line(order_line_id: int) -> list[dict]:
    """The line's codes voided by a refund: id, the code, when and why."""
    ring = keyring()
    return [{"id": r.id, "code": ring.decrypt(r.key_id, r.secret_ciphertext,
                                              code_aad(r.product_id)),
             "voided_at": r.voided_at, "reason": r.void_reason}
            for r in db.session.execute(
                select(_codes.c.id, _codes.c.product_id, _codes.c.key_id,
                       _codes.c.secret_ciphertext, _codes.c.voided_at, _codes.c.void_reason)
                .where(_codes.c.order_line_id == order_line_id, _codes.c.status == "void")
                .order_by(_codes.c.id))]


def codes_for_line(order_line_id: int, *, include_reserved: bool = False) -> list[str]:
    """The decrypted codes a line bought (sold ones; reserved too when asked)."""
    statuses = ("sold", "reserved") if include_reserved else ("sold",)
    ring = keyring()
    out = [ring.decrypt(r.key_id, r.secret_ciphertext, code_aad(r.product_id))
           for r in db.session.execute(
               select(_codes.c.product_id, _codes.c.key_id, _codes.c.secret_ciphertext)
               .where(_codes.c.order_line_id == order_line_id,
                      _codes.c.status.in_(statuses)).order_by(_codes.c.id))]
    loop = db.session.execute(
        select(_loops.c.quantity, _codes.c.product_id, _codes.c.key_id,
               _codes.c.secret_ciphertext)
        .join(_codes, _codes.c.id == _loops.c.code_id)
        .where(_loops.c.order_line_id == order_line_id, _loops.c.status.in_(statuses))).first()
    if loop is not None:
        code = ring.decrypt(loop.key_id, loop.secret_ciphertext, code_aad(loop.product_id))
        out.extend([code] * loop.quantity)
    return out
