"""Re-encrypting every stored code and secret under the ring's first key, in the background.

``kameng keys rotate`` writes a new first key into the ring file and a ``key_rotations``
row, then enqueues ``run_rotation`` on the ``imports`` queue. The job walks each store
below by keyed ranges of ids (``id > last_id ORDER BY id LIMIT BATCH``):

- the rows of a batch are read and re-encrypted OUTSIDE any transaction, then written in
  one short transaction by compare-and-set (``WHERE id = … AND key_id = old``): no row
  is locked while we compute, a sale never waits for us (its ``FOR UPDATE SKIP LOCKED``
  skips at most a row being written at that instant), and a row that changed meanwhile
  is left for the next pass;
- the batch's progress (``last_id``, ``moved``) commits in the SAME transaction as its
  rows: a job killed at any point resumes exactly after the last batch it committed
  (``kameng keys reencrypt``, or the scheduler's ``resume_rotations`` every few minutes);
- when every store has been walked, the rows still on an old key are counted; some left
  (written by a process that had not yet re-read the ring, or changed mid-batch) → one
  more pass, at most ``MAX_PASSES``.

The old key is retired by ``kameng keys retire`` only when ``count_using`` finds no row
that still needs it. Which keys rows use is one probe per key of the key-id indexes of
the big tables (``keys_in_use``, for ``kameng doctor``); counting every row per key
(``key_ids_in_use``, ``kameng keys status --count``) reads all their key ids.
"""
from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

import sqlalchemy as sa

from kameng.billing.payments.secrets import aad as payment_aad
from kameng.core import crypto
from kameng.core.extensions import db
from kameng.core.jobs import enqueue_unless_waiting, forget_abandoned
from kameng.core.models import utcnow
from kameng.ops.models import KeyRotation
from kameng.sales.delivery import line_aad
from kameng.shop.stock.allocation import code_aad
from kameng.shop.suppliers.secretbox import AAD as SUPPLIER_AAD
from kameng.tenants.twofactor import totp_aad

log = logging.getLogger(__name__)

BATCH = 500
MAX_PASSES = 3
QUEUE = "imports"
JOB = "kameng.ops.rotation.run_rotation"
JOB_TIMEOUT = 24 * 3600


def job_id(rotation_id: int) -> str:
    return f"key-rotation-{rotation_id}"


# ----- the stores -----------------------------------------------------------------

def _token_kid(token: str | None) -> str | None:
    return token.partition(":")[0] if token else None


@dataclass(frozen=True)
class BinaryStore:
    """A ciphertext column with its key id beside it (card codes, delivered codes)."""

    name: str
    table: sa.Table
    kid: str
    blob: str
    aad: Callable[[sa.Row], bytes]
    extra: tuple[str, ...] = ()

    def pending(self, primary: str):
        # "not NULL and not primary", as two ranges of the key-id index: the rows left
        # after a pass (``count_pending``) are found without reading the others
        col = self.table.c[self.kid]
        return sa.or_(col < primary, col > primary)

    def read(self, conn, after: int, primary: str, limit: int):
        t = self.table
        cols = [t.c.id, t.c[self.kid], t.c[self.blob], *(t.c[c] for c in self.extra)]
        return conn.execute(sa.select(*cols).where(t.c.id > after, self.pending(primary))
                            .order_by(t.c.id).limit(limit)).all()

    def reencrypt(self, ring, row) -> dict:
        aad = self.aad(row)
        kid, blob = ring.encrypt(ring.decrypt(row[1], row[2], aad), aad)
        return {"b_id": row.id, "b_old": row[1], "b_kid": kid, "b_blob": blob}

    def write(self, conn, changes: list[dict]) -> int:
        t = self.table
        stmt = (sa.update(t).where(t.c.id == sa.bindparam("b_id"),
                                   t.c[self.kid] == sa.bindparam("b_old"))
                .values({self.kid: sa.bindparam("b_kid"), self.blob: sa.bindparam("b_blob")}))
        conn.execute(stmt, changes)
        return len(changes)

    def count_using(self, conn, kid: str | None = None, primary: str | None = None,
                    limit: int | None = None) -> int:
        t = self.table
        where = t.c[self.kid] == kid if kid is not None else self.pending(primary)
        return _count(conn, t, where, limit)

    def key_ids(self, conn) -> set[str]:
        """The key ids its rows use, one probe of the key-id index per key (a "loose
        index scan": a handful of index reads however many rows there are)."""
        col = self.table.c[self.kid]
        found: set[str] = set()
        kid = conn.scalar(sa.select(col).where(col.is_not(None)).order_by(col).limit(1))
        while kid is not None:
            found.add(kid)
            kid = conn.scalar(sa.select(col).where(col.is_not(None), col > kid)
                              .order_by(col).limit(1))
        return found


def _count(conn, table: sa.Table, where, limit: int | None) -> int:
    """Rows of ``table`` where ``where`` holds; at most ``limit`` (the reads stop there)."""
    if limit is None:
        return conn.scalar(sa.select(sa.func.count()).select_from(table).where(where)) or 0
    some = sa.select(sa.literal(1)).select_from(table).where(where).limit(limit).subquery()
    return conn.scalar(sa.select(sa.func.count()).select_from(some)) or 0


@dataclass(frozen=True)
class TokenStore:
    """A ``kid:base64`` sealed secret in one text column (suppliers, TOTP secrets)."""

    name: str
    table: sa.Table
    column: str
    aad: Callable[[sa.Row], bytes]
    extra: tuple[str, ...] = ()

    def pending(self, primary: str):
        c = self.table.c[self.column]
        return sa.and_(c.is_not(None), c != "", ~c.startswith(f"{primary}:", autoescape=True))

    def read(self, conn, after: int, primary: str, limit: int):
        t = self.table
        return conn.execute(sa.select(t.c.id, t.c[self.column], *(t.c[c] for c in self.extra))
                            .where(t.c.id > after, self.pending(primary))
                            .order_by(t.c.id).limit(limit)).all()

    def reencrypt(self, ring, row) -> dict:
        return {"b_id": row.id, "b_old": row[1],
                "b_new": crypto.reseal(ring, row[1], self.aad(row))}

    def write(self, conn, changes: list[dict]) -> int:
        t = self.table
        conn.execute(sa.update(t).where(t.c.id == sa.bindparam("b_id"),
                                        t.c[self.column] == sa.bindparam("b_old"))
                     .values({self.column: sa.bindparam("b_new")}), changes)
        return len(changes)

    def count_using(self, conn, kid: str | None = None, primary: str | None = None,
                    limit: int | None = None) -> int:
        c = self.table.c[self.column]
        where = (c.startswith(f"{kid}:", autoescape=True) if kid is not None
                 else self.pending(primary))
        return _count(conn, self.table, where, limit)

    def key_ids(self, conn) -> set[str]:
        c = self.table.c[self.column]   # a small table (suppliers, staff with TOTP)
        return {kid for (token,) in conn.execute(sa.select(c).where(c.is_not(None)))
                if (kid := _token_kid(token))}


@dataclass(frozen=True)
class JsonTokenStore:
    """A JSON map of field → sealed secret (a shop's payment-provider secrets). Few rows:
    each is re-read under a row lock before it is written."""

    name: str
    table: sa.Table

    def _kids(self, secrets) -> set[str]:
        return {_token_kid(v) for v in (secrets or {}).values() if isinstance(v, str) and v}

    def read(self, conn, after: int, primary: str, limit: int):
        t = self.table
        out = []
        last = after
        while len(out) < limit:
            rows = conn.execute(sa.select(t.c.id, t.c.secrets, t.c.tenant_id, t.c.provider)
                                .where(t.c.id > last).order_by(t.c.id).limit(limit)).all()
            if not rows:
                break
            last = rows[-1].id
            out += [r for r in rows if self._kids(_as_dict(r.secrets)) - {primary}]
        return out[:limit]

    def reencrypt(self, ring, row) -> dict:
        old = _as_dict(row.secrets)
        new = {field: (crypto.reseal(ring, token,
                                     payment_aad(row.tenant_id, row.provider, field))
                       if isinstance(token, str) and token else token)
               for field, token in old.items()}
        return {"b_id": row.id, "old": old, "new": new}

    def write(self, conn, changes: list[dict]) -> int:
        t = self.table
        n = 0
        for change in changes:
            current = conn.execute(sa.select(t.c.secrets).where(t.c.id == change["b_id"])
                                   .with_for_update()).scalar()
            if _as_dict(current) != change["old"]:
                continue  # changed meanwhile: the next pass takes it
            conn.execute(sa.update(t).where(t.c.id == change["b_id"])
                         .values(secrets=change["new"]))
            n += 1
        return n

    def count_using(self, conn, kid: str | None = None, primary: str | None = None,
                    limit: int | None = None) -> int:
        t = self.table   # a few rows per shop: read whole, ``limit`` needs no shortcut
        n = 0
        for (secrets,) in conn.execute(sa.select(t.c.secrets)):
            kids = self._kids(_as_dict(secrets))
            n += bool(kid in kids) if kid is not None else bool(kids - {primary})
        return n if limit is None else min(n, limit)

    def key_ids(self, conn) -> set[str]:
        return {kid for (secrets,) in conn.execute(sa.select(self.table.c.secrets))
                for kid in self._kids(_as_dict(secrets))}


def _as_dict(value) -> dict:
    if isinstance(value, str):
        return json.loads(value)
    return dict(value or {})


def stores() -> list:
    meta = db.metadata.tables
    return [
        BinaryStore("card_codes", meta["card_codes"], "key_id", "secret_ciphertext",
                    lambda r: code_aad(r.product_id), extra=("product_id",)),
        BinaryStore("order_lines", meta["order_lines"], "delivery_key_id",
                    "delivery_ciphertext", lambda r: line_aad(r.id)),
        TokenStore("suppliers", meta["suppliers"], "secret_ciphertext",
                   lambda r: SUPPLIER_AAD),
        TokenStore("users", meta["users"], "totp_secret", lambda r: totp_aad(r.id)),
        JsonTokenStore("payment_method_configs", meta["payment_method_configs"]),
    ]


# ----- counting -----------------------------------------------------------------

def count_using(kid: str, limit: int | None = None) -> dict[str, int]:
    """Rows per store whose ciphertext needs key ``kid`` (at most ``limit`` per store: the
    count stops there). On the big tables an index range of that key only."""
    return {s.name: s.count_using(db.session, kid=kid, limit=limit) for s in stores()}


def keys_in_use() -> set[str]:
    """Every key id some row needs, without counting rows: on the big tables a few
    probes of their key-id indexes (the doctor runs it; cheap at any size)."""
    return set().union(*(s.key_ids(db.session) for s in stores()))


def count_pending(primary: str) -> dict[str, int]:
    """Rows per store not yet under the key ``primary``."""
    return {s.name: s.count_using(db.session, primary=primary) for s in stores()}


def key_ids_in_use() -> dict[str, int]:
    """Every key id some row needs → how many rows (``kameng keys status --count``).
    Counted by GROUP BY on the two binary stores — it reads every row's key id, so it
    takes time at millions of codes (``keys_in_use`` only asks which); the secret stores
    are small."""
    used: dict[str, int] = {}
    conn = db.session
    for s in stores():
        if isinstance(s, BinaryStore):
            col = s.table.c[s.kid]
            for kid, n in conn.execute(sa.select(col, sa.func.count()).where(
                    col.is_not(None)).group_by(col)):
                used[kid] = used.get(kid, 0) + n
        elif isinstance(s, TokenStore):
            for (token,) in conn.execute(sa.select(s.table.c[s.column]).where(
                    s.table.c[s.column].is_not(None))):
                kid = _token_kid(token)
                if kid:
                    used[kid] = used.get(kid, 0) + 1
        else:
            for (secrets,) in conn.execute(sa.select(s.table.c.secrets)):
                for kid in s._kids(_as_dict(secrets)):
                    used[kid] = used.get(kid, 0) + 1
    return used


# ----- the job ------------------------------------------------------------------

def start(key_id: str, *, settle_seconds: float, enqueue: bool = True) -> KeyRotation:
    """Record a rotation to ``key_id`` and (unless told not to) enqueue its job."""
    from datetime import timedelta

    now = utcnow()
    rotation = KeyRotation(key_id=key_id, status="running", progress={}, passes=0,
                           not_before=now + timedelta(seconds=settle_seconds),
                           created_at=now, updated_at=now)
    db.session.add(rotation)
    db.session.commit()
    if enqueue:
        resume(rotation.id)
    return rotation


def running() -> KeyRotation | None:
    return db.session.scalar(sa.select(KeyRotation).where(KeyRotation.status == "running")
                             .order_by(KeyRotation.id.desc()).limit(1))


def resume(rotation_id: int):
    """Enqueue the rotation's job unless it is queued or running already."""
    forget_abandoned(QUEUE)
    return enqueue_unless_waiting(QUEUE, JOB, rotation_id, job_id=job_id(rotation_id),
                                  job_timeout=JOB_TIMEOUT)


def resume_rotations() -> int:
    """Periodic: re-enqueue an unfinished rotation whose job died with its worker. One
    stopped by a row no key opens (``error``) waits for the operator instead:
    ``kameng keys reencrypt`` once it is fixed."""
    rotation = running()
    if rotation is None or rotation.error:
        return 0
    return int(resume(rotation.id) is not None)


def clear_error(rotation_id: int) -> None:
    table = KeyRotation.__table__
    db.session.execute(sa.update(table).where(table.c.id == rotation_id)
                       .values(error=None, updated_at=utcnow()))
    db.session.commit()


def run_rotation(rotation_id: int, batch: int = BATCH) -> dict:
    """The job: move every row to the rotation's key, batch by batch (resumable)."""
    rotation = db.session.get(KeyRotation, rotation_id)
    if rotation is None or rotation.status != "running":
        return {"skipped": True}
    wait = (rotation.not_before - utcnow()).total_seconds()
    db.session.rollback()
    if wait > 0:
        time.sleep(min(wait, 60))
    ring = crypto.reload_now()
    if ring.primary_id != rotation.key_id:
        return _finish(rotation_id, "failed",
                       error=f"the ring's first key is {ring.primary_id!r}, not "
                             f"{rotation.key_id!r}: a newer rotation took over")
    table = KeyRotation.__table__
    try:
        while True:
            for store in stores():
                _walk(store, rotation_id, ring, table, batch)
            pending = sum(count_pending(ring.primary_id).values())
            passes = db.session.scalar(sa.select(table.c.passes)
                                       .where(table.c.id == rotation_id)) + 1
            values = {"passes": passes, "remaining": pending, "updated_at": utcnow()}
            if pending and passes < MAX_PASSES:
                values["progress"] = {}  # walk every store again from the start
            db.session.execute(sa.update(table).where(table.c.id == rotation_id)
                               .values(**values))
            db.session.commit()
            if not pending or passes >= MAX_PASSES:
                break
        return _finish(rotation_id, "done")
    except crypto.CryptoError as err:
        # a row that no key of the ring opens: stop and say so (nothing is lost, the
        # rows done stay done; `kameng keys reencrypt` resumes once it is fixed)
        log.error("key rotation %s: %s", rotation_id, err)
        db.session.rollback()
        db.session.execute(sa.update(table).where(table.c.id == rotation_id)
                           .values(error=str(err), updated_at=utcnow()))
        db.session.commit()
        raise
    except BaseException:
        db.session.rollback()
        raise


def _walk(store, rotation_id: int, ring, table, batch: int) -> None:
    progress = _as_dict(db.session.scalar(sa.select(table.c.progress)
                                          .where(table.c.id == rotation_id)))
    max_id = db.session.scalar(sa.select(sa.func.max(store.table.c.id))) or 0
    db.session.commit()
    mine = progress.get(store.name) or {"last_id": 0, "moved": 0}
    if mine.get("complete"):
        return
    mine["max_id"] = max_id
    while True:
        # read: no lock, and no transaction kept open while we compute
        rows = store.read(db.session, mine["last_id"], ring.primary_id, batch)
        db.session.commit()
        if not rows:
            mine["complete"] = True
        changes = [store.reencrypt(ring, row) for row in rows]
        # one short transaction: the batch's rows and the progress that records them
        moved = store.write(db.session, changes) if changes else 0
        if rows:
            mine["last_id"] = rows[-1].id
        mine["moved"] = mine.get("moved", 0) + moved
        current = _as_dict(db.session.scalar(sa.select(table.c.progress)
                                             .where(table.c.id == rotation_id)))
        current[store.name] = dict(mine)
        db.session.execute(sa.update(table).where(table.c.id == rotation_id)
                           .values(progress=current, updated_at=utcnow()))
        db.session.commit()
        if not rows:
            return


def _finish(rotation_id: int, status: str, error: str | None = None) -> dict:
    table = KeyRotation.__table__
    now = utcnow()
    db.session.execute(sa.update(table).where(table.c.id == rotation_id).values(
        status=status, error=error, finished_at=now, updated_at=now))
    db.session.commit()
    return {"status": status, "error": error}


def status_rows(limit: int = 5) -> list[KeyRotation]:
    return list(db.session.scalars(sa.select(KeyRotation).order_by(KeyRotation.id.desc())
                                   .limit(limit)))


def finish_superseded(rotation_id: int, primary: str) -> None:
    _finish(rotation_id, "failed", error=f"superseded: the ring's first key is now {primary!r}")
