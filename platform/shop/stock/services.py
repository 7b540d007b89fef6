"""Card-code stock: import, void, export, counts and the low-stock estimate.

``Product.stock_available`` always equals the number of the product's
``available`` codes: every change of a code's status updates it in the same
transaction (codes first, then the product row, so writers never deadlock).
The allocation primitives used by orders live in ``kameng.shop.stock.allocation``
and are re-exported here.
"""
from __future__ import annotations

import logging
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta

from sqlalchemy import func, select, text, update

from kameng.core import audit
from kameng.core.crypto import keyring
from kameng.core.errors import Conflict, InvalidInput, NotFound, ServiceError
from kameng.core.extensions import db
from kameng.core.i18n import lazy_gettext as _l
from kameng.core.models import utcnow
from kameng.core.txn import in_own_txn
from kameng.shop.catalog.models import Product
from kameng.shop.stock import parsing
from kameng.shop.stock.allocation import (  # noqa: F401  (re-exported contract)
    adjust_counter,
    code_aad,
    codes_for_line,
    mark_sold,
    mark_sold_in_txn,
    release_codes,
    release_codes_in_txn,
    reserve_codes,
    reserve_codes_in_txn,
)
from kameng.shop.stock.models import AVAILABLE, CODE_STATUSES, CardCode, LoopDelivery, StockBatch

log = logging.getLogger(__name__)

CHUNK = 5000
SALES_WINDOW_DAYS = 14
_codes = CardCode.__table__


class Forbidden(ServiceError):
    code = "forbidden"
    status = 403


class MalformedFile(InvalidInput):
    code = "malformed_file"

    def __init__(self, validation: parsing.Validation):
        super().__init__(validation.message(), field="file")
        self.bad_lines = validation.bad_lines
        self.bad_count = validation.bad_count


@dataclass
class ImportResult:
    batch_id: int
    lines: int
    imported: int
    duplicates: int
    duplicates_in_file: int = 0
    duplicates_in_stock: int = 0
    duplicate_lines: list[int] = field(default_factory=list)   # the first few

    def summary(self) -> str:
        return f"imported {self.imported}, duplicates {self.duplicates}"


# ------------------------------------------------------------------- import

def card_product(product_or_sku) -> Product:
    from kameng.shop.catalog.services import product_by_sku

    product = product_or_sku if isinstance(product_or_sku, Product) else \
        product_by_sku(product_or_sku)
    if product.kind != "card":
        raise InvalidInput(_l("product %(sku)s is a %(product_kind)s product; only card "
                              "products hold codes",
                              sku=product.sku, product_kind=product.kind), field="product")
    return product


def create_batch(product: Product, *, actor=None, cost_note: str = "", source_name: str = "",
                 separator: str | None = None) -> StockBatch:
    """An import batch waiting for its codes (the back office makes one, then a job fills it)."""
    return in_own_txn(create_batch_in_txn, product, actor=actor, cost_note=cost_note,
                      source_name=source_name, separator=separator)


def create_batch_in_txn(product: Product, *, actor=None, cost_note: str = "",
                        source_name: str = "", separator: str | None = None) -> StockBatch:
    """``create_batch`` in the caller's transaction (flushed: the batch has its id)."""
    cost_note = (cost_note or "").strip()
    if len(cost_note) > 255:
        raise InvalidInput(_l("the cost note is at most 255 characters"), field="cost_note")
    batch = StockBatch(product_id=product.id, actor=audit.actor_label(actor),
                       user_id=getattr(actor, "id", None), cost_note=cost_note,
                       source_name=(source_name or "")[:255],
                       separator=parsing.normalise_separator(separator), status="queued")
    db.session.add(batch)
    db.session.flush()
    return batch


def import_codes(product, *, path=None, text: str | None = None, separator: str | None = None,
                 actor=None, cost_note: str = "", batch: StockBatch | None = None,
                 progress: Callable[[int, int], None] | None = None) -> ImportResult:
    """Import codes from a file ``path`` or pasted ``text`` into a new (or the given) batch.

    Two streaming passes: validate every line (a malformed file raises
    ``MalformedFile`` with the line numbers and nothing is written), then
    encrypt and insert in one transaction. Duplicates — within the file or
    already in the product's stock — are skipped and counted. ``progress(done,
    total)`` is called every few thousand codes.
    """
    product = card_product(product)
    source = parsing.Source(path=path, text=text)
    sep = parsing.normalise_separator(separator if batch is None else batch.separator)
    checked = parsing.validate(source, sep)
    if not checked.ok:
        raise MalformedFile(checked)
    if checked.codes == 0:
        raise InvalidInput(_l("the file holds no codes"), field="file")

    if batch is None:
        batch = create_batch_in_txn(product, actor=actor, cost_note=cost_note,
                                    source_name=source.name, separator=sep)
    batch_id, product_id = batch.id, product.id
    try:
        staged = _stage(source, sep, product_id, checked.codes, progress)
        result = _insert_from_stage(product_id, batch_id, staged)
        adjust_counter({product_id: result.imported})
        db.session.execute(update(StockBatch).where(StockBatch.id == batch_id).values(
            status="done", total_lines=staged, imported=result.imported,
            duplicates=result.duplicates, finished_at=utcnow(), error=None))
        audit.record(actor, "stock.import", product_id=product_id, batch_id=batch_id,
                     imported=result.imported, duplicates=result.duplicates)
        _drop_stage()
        db.session.commit()
    except BaseException:
        db.session.rollback()
        raise
    db.session.expire_all()
    return result


def _stage_table_sql(dialect: str) -> str:
    if dialect == "postgresql":
        return ("CREATE TEMP TABLE stock_stage (line_no bigint, fingerprint bytea, "
                "secret bytea) ON COMMIT DROP")
    return "CREATE TEMP TABLE stock_stage (line_no INTEGER, fingerprint BLOB, secret BLOB)"


def _drop_stage() -> None:
    db.session.execute(text("DROP TABLE IF EXISTS stock_stage"))


def _stage(source, sep, product_id: int, total: int, progress) -> int:
    """Encrypt every code into a temporary table (COPY on PostgreSQL); returns rows staged."""
    ring = keyring()
    seal = ring.sealer()
    aad = code_aad(product_id)
    conn = db.session.connection()
    dialect = conn.dialect.name
    conn.execute(text("DROP TABLE IF EXISTS stock_stage"))
    conn.execute(text(_stage_table_sql(dialect)))
    done = 0
    if dialect == "postgresql":
        raw = conn.connection.driver_connection
        with raw.cursor() as cur, cur.copy(
                "COPY stock_stage (line_no, fingerprint, secret) FROM STDIN (FORMAT BINARY)"
        ) as copy:
            copy.set_types(["int8", "bytea", "bytea"])
            write = copy.write_row
            for lineno, code in parsing.iter_codes(source, sep):
                write((lineno, *seal(code, aad)))
                done += 1
                if progress and done % CHUNK == 0:
                    progress(done, total)
    else:
        cursor = conn.connection.driver_connection.cursor()
        rows = []
        for lineno, code in parsing.iter_codes(source, sep):
            rows.append((lineno, *seal(code, aad)))
            if len(rows) >= CHUNK:
                cursor.executemany("INSERT INTO stock_stage VALUES (?, ?, ?)", rows)
                done += len(rows)
                rows.clear()
                if progress:
                    progress(done, total)
        if rows:
            cursor.executemany("INSERT INTO stock_stage VALUES (?, ?, ?)", rows)
            done += len(rows)
        cursor.close()
    if progress:
        progress(done, total)
    return done


def _insert_from_stage(product_id: int, batch_id: int, staged: int) -> ImportResult:
    params = {"pid": product_id, "bid": batch_id, "kid": keyring().primary_id}
    # rows go in in fingerprint order: the unique index then fills page by page instead
    # of at random, which makes a big import much faster. So ids (allocation order) follow
    # batches — oldest batch first — but not the line order within one batch.
    sql = ("INSERT INTO card_codes (product_id, batch_id, secret_ciphertext, key_id,"
           " fingerprint, status) SELECT :pid, :bid, secret, :kid, fingerprint, 'available'"
           " FROM stock_stage WHERE true ORDER BY fingerprint"
           " ON CONFLICT (product_id, fingerprint) DO NOTHING")
    inserted = db.session.execute(text(sql), params).rowcount
    result = ImportResult(batch_id=batch_id, lines=staged, imported=inserted,
                          duplicates=staged - inserted)
    if result.duplicates:
        # which lines were skipped: those whose code was already in stock, and every
        # repeat of a code after its first line
        dup = ("SELECT t.line_no AS line_no, CASE WHEN c.batch_id <> :bid THEN 1 ELSE 0 END"
               " AS in_stock FROM (SELECT line_no, fingerprint, row_number() OVER"
               " (PARTITION BY fingerprint ORDER BY line_no) AS rn FROM stock_stage) t"
               " JOIN card_codes c ON c.product_id = :pid AND c.fingerprint = t.fingerprint"
               " WHERE c.batch_id <> :bid OR t.rn > 1")
        row = db.session.execute(text(
            f"SELECT count(*), coalesce(sum(in_stock), 0) FROM ({dup}) d"), params).one()
        result.duplicates_in_stock = int(row[1])
        result.duplicates_in_file = int(row[0]) - int(row[1])
        result.duplicate_lines = list(db.session.scalars(text(
            f"SELECT line_no FROM ({dup}) d ORDER BY line_no LIMIT {parsing.MAX_REPORTED}"),
            params))
    return result


def fail_batch(batch_id: int, message: str) -> None:
    """Mark a queued/running batch failed (its codes were never written)."""
    db.session.rollback()
    db.session.execute(update(StockBatch).where(StockBatch.id == batch_id).values(
        status="failed", error=message[:2000], finished_at=utcnow()))
    db.session.commit()


# ------------------------------------------------------------- void, export

def get_batch(batch_id: int) -> StockBatch:
    batch = db.session.get(StockBatch, batch_id)
    if batch is None:
        raise NotFound(_l("no stock batch %(batch_id)s", batch_id=batch_id))
    return batch


def void_code(code_id: int, actor=None, product_id: int | None = None) -> CardCode:
    """Void one available code (a reserved or sold one is the order's to settle)."""
    code = db.session.get(CardCode, code_id)
    if code is None or (product_id is not None and code.product_id != product_id):
        raise NotFound(_l("no code %(code_id)s", code_id=code_id))
    changed = db.session.execute(
        update(_codes).where(_codes.c.id == code_id, _codes.c.status == AVAILABLE)
        .values(status="void")).rowcount
    if not changed:
        db.session.rollback()
        raise Conflict(_l("code %(code_id)s is %(code_status)s; only an available code can be "
                          "voided", code_id=code_id, code_status=code.status))
    adjust_counter({code.product_id: -1})
    db.session.execute(update(StockBatch).where(StockBatch.id == code.batch_id)
                       .values(voided=StockBatch.voided + 1))
    audit.record(actor, "stock.void_code", code_id=code_id, product_id=code.product_id,
                 batch_id=code.batch_id)
    db.session.commit()
    db.session.refresh(code)
    return code


CODE_PAGE = 50
MAX_VOID_REASON = 255
CODE_STATUS_LABELS = {"available": _l("available"), "reserved": _l("reserved"),
                      "sold": _l("sold"), "void": _l("void")}


@dataclass(frozen=True)
class CodeRow:
    id: int
    batch_id: int
    status: str
    sold_at: object
    voided_at: object
    void_reason: str | None
    void_ref: str | None
    code: str | None        # the plaintext, for an owner only


def list_codes(product: Product, *, status: str | None = None, search: str = "",
               before: int | None = None, size: int = CODE_PAGE,
               reveal: bool = False) -> tuple[list[CodeRow], int | None]:
    """One page of a product's codes, newest first (keyset on id, below ``before``).

    ``search`` is an exact code (found by its keyed fingerprint, never by decrypting
    the table), ``#<id>`` / a number (a code id) or ``batch:<id>``. Only the page's
    rows are decrypted, and only with ``reveal`` (the owner). Returns (rows, older).
    """
    product = card_product(product)
    stmt = select(_codes.c.id, _codes.c.batch_id, _codes.c.status, _codes.c.sold_at,
                  _codes.c.voided_at, _codes.c.void_reason, _codes.c.void_ref,
                  _codes.c.key_id, _codes.c.secret_ciphertext) \
        .where(_codes.c.product_id == product.id)
    if status:
        if status not in CODE_STATUSES:
            raise InvalidInput(_l("unknown status %(status)r", status=status), field="status")
        stmt = stmt.where(_codes.c.status == status)
    search = (search or "").strip()
    if search:
        lowered = search.lower()
        if lowered.startswith("batch:") and lowered[6:].strip().isdigit():
            stmt = stmt.where(_codes.c.batch_id == int(lowered[6:].strip()))
        elif search.startswith("#") and search[1:].isdigit():
            stmt = stmt.where(_codes.c.id == int(search[1:]))
        else:
            by_code = _codes.c.fingerprint == keyring().fingerprint(search)
            if search.isdigit() and len(search) < 19:
                by_code = by_code | (_codes.c.id == int(search))
            stmt = stmt.where(by_code)
    if before:
        stmt = stmt.where(_codes.c.id < before)
    rows = db.session.execute(stmt.order_by(_codes.c.id.desc()).limit(size + 1)).all()
    older = rows[size - 1].id if len(rows) > size else None
    ring = keyring() if reveal else None
    aad = code_aad(product.id)
    out = [CodeRow(r.id, r.batch_id, r.status, r.sold_at, r.voided_at, r.void_reason,
                   r.void_ref, ring.decrypt(r.key_id, r.secret_ciphertext, aad) if ring else None)
           for r in rows[:size]]
    return out, older


def record_code_view(product: Product, code_ids: list[int], *, actor) -> None:
    """Audit that ``actor`` saw these codes in plain text (the owner's codes list)."""
    _require_owner(actor)
    in_own_txn(audit.record, actor, "stock.view_codes", product_id=product.id,
               code_ids=list(code_ids), count=len(code_ids))


def void_codes_in_txn(product: Product, code_ids, reason: str, *, actor=None) -> int:
    """Void the given available codes of a product, with a reason; all or none.

    A reserved or sold code is the order's to settle: any such code (or a code of
    another product) in the selection refuses the whole request.
    """
    reason = (reason or "").strip()
    if not reason:
        raise InvalidInput(_l("give a reason for voiding"), field="reason")
    if len(reason) > MAX_VOID_REASON:
        raise InvalidInput(_l("the reason is at most %(n)s characters", n=MAX_VOID_REASON),
                           field="reason")
    try:
        ids = sorted({int(i) for i in code_ids or ()})
    except (TypeError, ValueError):
        raise InvalidInput(_l("select the codes to void"), field="codes") from None
    if not ids:
        raise InvalidInput(_l("select the codes to void"), field="codes")
    if len(ids) > CHUNK:
        raise InvalidInput(_l("at most %(n)s codes at a time", n=CHUNK), field="codes")
    product = card_product(product)
    found = dict(db.session.execute(
        select(_codes.c.id, _codes.c.status)
        .where(_codes.c.product_id == product.id, _codes.c.id.in_(ids))
        .with_for_update()).all())
    missing = [i for i in ids if i not in found]
    if missing:
        raise NotFound(_l("no code %(code_id)s", code_id=missing[0]), field="codes")
    taken = [i for i in ids if found[i] != "available"]
    if taken:
        raise Conflict(_l("code %(code_id)s is %(code_status)s; only an available code can be "
                          "voided", code_id=taken[0], code_status=CODE_STATUS_LABELS[found[taken[0]]]),
                       field="codes")
    now = utcnow()
    n = db.session.execute(
        update(_codes).where(_codes.c.id.in_(ids), _codes.c.status == AVAILABLE)
        .values(status="void", voided_at=now, void_reason=reason)).rowcount
    if n != len(ids):   # changed under us: refuse the whole request
        raise Conflict(_l("the selection changed meanwhile; try again"), field="codes")
    adjust_counter({product.id: -n})
    per_batch: dict[int, int] = {}
    for batch_id in db.session.scalars(select(_codes.c.batch_id).where(_codes.c.id.in_(ids))):
        per_batch[batch_id] = per_batch.get(batch_id, 0) + 1
    for batch_id, count in sorted(per_batch.items()):
        db.session.execute(update(StockBatch).where(StockBatch.id == batch_id)
                           .values(voided=StockBatch.voided + count))
    audit.record(actor, "stock.void_codes", product_id=product.id, code_ids=ids, count=n,
                 reason=reason)
    return n


def void_codes(product: Product, code_ids, reason: str, *, actor=None) -> int:
    return in_own_txn(void_codes_in_txn, product, code_ids, reason, actor=actor)


def void_batch(batch_id: int, actor=None) -> int:
    """Void every still-available code of a batch; returns how many."""
    batch = get_batch(batch_id)
    n = db.session.execute(
        update(_codes).where(_codes.c.batch_id == batch_id, _codes.c.status == AVAILABLE)
        .values(status="void")).rowcount
    if n:
        adjust_counter({batch.product_id: -n})
        db.session.execute(update(StockBatch).where(StockBatch.id == batch_id)
                           .values(voided=StockBatch.voided + n))
    audit.record(actor, "stock.void_batch", batch_id=batch_id, product_id=batch.product_id,
                 voided=n)
    db.session.commit()
    return n


def _require_owner(actor) -> None:
    # the CLI acts as the operator (a string actor); a staff account must be an owner
    role = getattr(actor, "role", None)
    if not isinstance(actor, str) and role != "owner":
        raise Forbidden(_l("only the shop owner may export codes"))


def export_codes(product, out, *, actor, batch_id: int | None = None) -> int:
    """Write the product's unsold (available) codes, one per line, to the text stream
    ``out``. Owner only; audited in the same transaction. Returns how many."""
    _require_owner(actor)
    product = card_product(product)
    ring = keyring()
    aad = code_aad(product.id)
    stmt = (select(_codes.c.id, _codes.c.key_id, _codes.c.secret_ciphertext)
            .where(_codes.c.product_id == product.id, _codes.c.status == AVAILABLE)
            .order_by(_codes.c.id))
    if batch_id is not None:
        stmt = stmt.where(_codes.c.batch_id == batch_id)
    n = 0
    last_id = 0
    while True:  # keyset pages: constant memory whatever the stock size
        rows = db.session.execute(stmt.where(_codes.c.id > last_id).limit(CHUNK)).all()
        if not rows:
            break
        for row in rows:
            out.write(ring.decrypt(row.key_id, row.secret_ciphertext, aad))
            out.write("\n")
        n += len(rows)
        last_id = rows[-1].id
    audit.record(actor, "stock.export", product_id=product.id, batch_id=batch_id, count=n)
    db.session.commit()
    return n


def rekey_codes(limit: int | None = None) -> int:
    """Re-encrypt codes made under an older key with the current first key."""
    ring = keyring()
    done = 0
    while limit is None or done < limit:
        rows = db.session.execute(
            select(_codes.c.id, _codes.c.product_id, _codes.c.key_id, _codes.c.secret_ciphertext)
            .where(_codes.c.key_id != ring.primary_id).order_by(_codes.c.id).limit(1000)).all()
        if not rows:
            break
        for row in rows:
            aad = code_aad(row.product_id)
            kid, blob = ring.encrypt(ring.decrypt(row.key_id, row.secret_ciphertext, aad), aad)
            db.session.execute(update(_codes).where(_codes.c.id == row.id)
                               .values(key_id=kid, secret_ciphertext=blob))
        db.session.commit()
        done += len(rows)
    return done


# ------------------------------------------------------ counts and estimates

def count_available(product_id: int) -> int:
    """The true count (a scan of the product's index); the counter should equal it."""
    return db.session.scalar(select(func.count()).select_from(_codes).where(
        _codes.c.product_id == product_id, _codes.c.status == AVAILABLE)) or 0


def recount(product_id: int) -> int:
    """Repair the counter from the rows (an operator tool, never needed in normal runs)."""
    n = count_available(product_id)
    db.session.execute(update(Product).where(Product.id == product_id)
                       .values(stock_available=n))
    db.session.commit()
    return n


def available_quantity(product: Product) -> int | None:
    """How many a buyer may take now; None means unlimited (topup, manual, a loop code)."""
    if product.kind != "card":
        return None
    if product.loop_code:
        return None if product.stock_available > 0 else 0
    return product.stock_available


def sales_in_window(product_ids: list[int], days: int = SALES_WINDOW_DAYS,
                    now=None) -> dict[int, int]:
    """Codes sold per product in the last ``days`` days (loop deliveries count their quantity)."""
    if not product_ids:
        return {}
    since = (now or utcnow()) - timedelta(days=days)
    sold: dict[int, int] = dict.fromkeys(product_ids, 0)
    for pid, n in db.session.execute(
            select(_codes.c.product_id, func.count()).where(
                _codes.c.product_id.in_(product_ids), _codes.c.sold_at.is_not(None),
                _codes.c.sold_at >= since).group_by(_codes.c.product_id)):
        sold[pid] += n
    for pid, n in db.session.execute(
            select(LoopDelivery.product_id, func.sum(LoopDelivery.quantity)).where(
                LoopDelivery.product_id.in_(product_ids), LoopDelivery.sold_at >= since)
            .group_by(LoopDelivery.product_id)):
        sold[pid] += int(n or 0)
    return sold


def days_left(available: int, sold_in_window: int, days: int = SALES_WINDOW_DAYS) -> int | None:
    """Whole days of stock left at the recent sales rate; None when nothing sold."""
    if sold_in_window <= 0:
        return None
    return available * days // sold_in_window


def stock_report(only_low: bool = False, now=None) -> list[dict]:
    """Per card product: available, threshold, low?, sold in 14 days, days left."""
    products = db.session.scalars(select(Product).where(Product.kind == "card")
                                  .order_by(Product.position, Product.id)).all()
    sold = sales_in_window([p.id for p in products], now=now)
    rows = []
    for p in products:
        unlimited = p.loop_code and p.stock_available > 0
        low = not unlimited and p.stock_available <= p.low_stock_threshold
        if only_low and not low:
            continue
        rows.append({
            "product": p, "sku": p.sku, "name": p.name, "available": p.stock_available,
            "threshold": p.low_stock_threshold, "low": low, "loop": p.loop_code,
            "sold_14d": sold.get(p.id, 0),
            "days_left": None if unlimited else days_left(p.stock_available, sold.get(p.id, 0)),
        })
    return rows


def batches_for(product_id: int, limit: int = 100) -> list[StockBatch]:
    return list(db.session.scalars(select(StockBatch).where(StockBatch.product_id == product_id)
                                   .order_by(StockBatch.id.desc()).limit(limit)))


def refund_voided(product_id: int, limit: int = 50) -> list[CardCode]:
    """The product's sold codes voided by a full refund, newest first (the stock page)."""
    return list(db.session.scalars(
        select(CardCode).where(CardCode.product_id == product_id, CardCode.status == "void",
                               CardCode.voided_at.is_not(None))
        .order_by(CardCode.voided_at.desc(), CardCode.id.desc()).limit(limit)))


def remove_file_quietly(path) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass
