"""Back-office imports through the "imports" queue, with progress kept in Redis.

The upload (or pasted text) is written to ``<instance>/imports/<batch>.txt``
(mode 600) and deleted as soon as the job is done with it, success or not.
Progress lives at ``kameng:import:<tenant id>:<batch id>`` (a hash, one day).
"""
from __future__ import annotations

import os

from flask import current_app

from kameng.core.errors import ServiceError
from kameng.core.extensions import db, redis_conn
from kameng.core.i18n import lazy_gettext as _l
from kameng.core.jobs import queue
from kameng.shop.stock import services
from kameng.shop.stock.models import StockBatch

PROGRESS_TTL = 86400
JOB_PATH = "kameng.workers.jobs.import_stock_batch"


def progress_key(tenant_id: int, batch_id: int) -> str:
    return f"kameng:import:{tenant_id}:{batch_id}"


def set_progress(tenant_id: int, batch_id: int, **fields) -> None:
    key = progress_key(tenant_id, batch_id)
    conn = redis_conn.get()
    conn.hset(key, mapping={k: "" if v is None else str(v) for k, v in fields.items()})
    conn.expire(key, PROGRESS_TTL)


def get_progress(tenant_id: int, batch: StockBatch) -> dict:
    """Live progress from Redis, falling back to the batch row once Redis has forgotten."""
    raw = redis_conn.get().hgetall(progress_key(tenant_id, batch.id))
    data = {k.decode(): v.decode() for k, v in raw.items()}
    out = {"batch_id": batch.id, "status": data.get("status") or batch.status,
           "done": int(data.get("done") or (batch.total_lines if batch.status == "done" else 0)),
           "total": int(data.get("total") or batch.total_lines or 0),
           "imported": int(data.get("imported") or batch.imported or 0),
           "duplicates": int(data.get("duplicates") or batch.duplicates or 0),
           "error": data.get("error") or batch.error or None}
    if batch.status in ("done", "failed"):  # the row is the final word
        out.update(status=batch.status, imported=batch.imported, duplicates=batch.duplicates,
                   error=batch.error)
    return out


def import_path(batch_id: int) -> str:
    folder = os.path.join(current_app.instance_path, "imports")
    os.makedirs(folder, mode=0o700, exist_ok=True)
    return os.path.join(folder, f"{batch_id}.txt")


def start_import(tenant, product, actor, *, text: str | None = None, upload=None,
                 separator: str | None = None, cost_note: str = "") -> StockBatch:
    """Create the batch, keep the codes on disk for the job, enqueue it. Returns the batch."""
    product = services.card_product(product)
    if (text is None or not text.strip()) and upload is None:
        from kameng.core.errors import InvalidInput

        raise InvalidInput(_l("paste codes or choose a file"), field="file")
    name = getattr(upload, "filename", None) or "pasted text"
    batch = services.create_batch(product, actor=actor, cost_note=cost_note, source_name=name,
                                  separator=separator)
    path = import_path(batch.id)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        if upload is not None:
            upload.save(fh)
        else:
            fh.write(text.encode("utf-8"))
    set_progress(tenant.id, batch.id, status="queued", done=0, total=0)
    try:
        # enqueue_call, not kameng.core.jobs.enqueue: RQ 3 refuses positional args next
        # to an explicit kwargs=None, which that helper passes (reported to the lead)
        queue("imports").enqueue_call(JOB_PATH, args=(tenant.id, batch.id),
                                      job_id=f"stock-import-{batch.id}", result_ttl=300,
                                      failure_ttl=7 * 86400, timeout=3600)
    except Exception:
        services.remove_file_quietly(path)
        services.fail_batch(batch.id, "could not queue the import")
        raise
    return batch


def run_import(tenant_id: int, batch_id: int) -> dict:
    """The job body: import the batch's file; idempotent (a finished batch is left alone)."""
    batch = db.session.get(StockBatch, batch_id)
    if batch is None or batch.status in ("done", "failed"):
        return {"skipped": True}
    path = import_path(batch_id)
    if not os.path.exists(path):
        services.fail_batch(batch_id, "the uploaded file is gone; import it again")
        set_progress(tenant_id, batch_id, status="failed", error="file missing")
        return {"failed": True}
    batch.status = "running"
    db.session.commit()
    set_progress(tenant_id, batch_id, status="running", done=0)

    def progress(done: int, total: int) -> None:
        set_progress(tenant_id, batch_id, status="running", done=done, total=total)

    try:
        result = services.import_codes(batch.product, path=path, batch=batch,
                                       actor=batch.actor, progress=progress)
    except ServiceError as err:
        services.fail_batch(batch_id, err.message)
        set_progress(tenant_id, batch_id, status="failed", error=err.message)
        return {"failed": True, "error": err.message}
    except Exception as err:
        # the message of a driver error is not shown: it is logged by RQ with the traceback
        message = f"the import failed ({type(err).__name__}); nothing was imported"
        services.fail_batch(batch_id, message)
        set_progress(tenant_id, batch_id, status="failed", error=message)
        raise
    finally:
        services.remove_file_quietly(path)
    set_progress(tenant_id, batch_id, status="done", done=result.lines, total=result.lines,
                 imported=result.imported, duplicates=result.duplicates)
    return {"imported": result.imported, "duplicates": result.duplicates}
