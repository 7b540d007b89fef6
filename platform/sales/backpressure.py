"""Back-pressure: refuse new paid orders while the workers are far behind.

Accepting an order the workers will only reach in a minute makes every buyer wait
a minute for the code, and the backlog (and everyone's wait) keeps growing as long
as orders arrive faster than they are delivered. So a balance-paid order — the one
that goes straight to the fulfilment queue — is refused with 503 and ``Retry-After``
while the queue holds more than ``MAX_FULFILMENT_BACKLOG_SECONDS`` of work
(``0``: never refused). Nothing is written or charged then.

The work waiting is estimated from the fulfilment lists (``batches``: one batch job
drains each shard, so the longest list decides; it is drained ``FULFIL_BATCH`` orders
at a time) and the fulfilment RQ queue (single jobs, shared by all workers). A batch
of n orders takes ``fixed + n × per order``: both measured by the workers (``record``,
moving averages kept in Redis), else 0 and ``FULFILMENT_ORDER_SECONDS``. The two
parts are kept apart because a batch's fixed cost (its job, its transaction, the
commit) carried by a batch of one order says nothing about how fast a deep backlog
drains in full batches: one average per order made a trickle of single orders look
like 90 ms an order and refused a rush whose orders were delivered in 10 ms each.
One Redis round trip, cached per process for ``CACHE_SECONDS``.
"""
from __future__ import annotations

import math
import threading
import time

from flask import current_app

from kameng.core.errors import ServiceError
from kameng.core.extensions import redis_conn
from kameng.core.i18n import lazy_gettext as _l
from kameng.sales import batches

ORDER_SECONDS_KEY = "kameng:fulfil:order-seconds"
# a fifth of a second: an estimate of seconds of work needs no fresher reading, and
# at most five Redis calls a second per process are spent on it
CACHE_SECONDS = 0.2
# the measured times follow the last batches, not one odd one
SMOOTHING = 0.2
# a batch this small measures the fixed part (its orders' part taken out), a larger
# one the part per order (the fixed part taken out)
SMALL_BATCH = 3
MEASURE_TTL = 3600

_lock = threading.Lock()
_cache: dict[int, tuple[float, float]] = {}     # id(app) -> (read at, backlog seconds)
_measured: dict[str, float] = {}                # this worker process's moving average


class Busy(ServiceError):
    """503: the workers are behind; ``retry_after`` is in whole seconds."""

    code, status = "busy", 503

    def __init__(self, retry_after: int):
        super().__init__(_l("The shop is delivering a rush of orders right now: please try "
                            "again in %(seconds)s seconds. Nothing was charged.",
                            seconds=retry_after))
        self.retry_after = retry_after


def limit_seconds() -> float:
    return float(current_app.config.get("MAX_FULFILMENT_BACKLOG_SECONDS") or 0)


def backlog_seconds(connection=None, *, fresh: bool = False) -> float:
    """Seconds of fulfilment work waiting (an estimate), read at most every
    ``CACHE_SECONDS`` per process and app."""
    app = current_app._get_current_object()
    now = time.monotonic()
    cached = _cache.get(id(app))
    if cached is not None and not fresh and now - cached[0] < CACHE_SECONDS:
        return cached[1]
    value = _read(connection or redis_conn.get())
    with _lock:
        _cache[id(app)] = (now, value)
    return value


def _read(r) -> float:
    shards = batches.shard_count()
    with r.pipeline(transaction=False) as pipe:
        for shard in range(shards):
            pipe.llen(batches.list_key(shard))
        pipe.llen("rq:queue:fulfilment")
        pipe.get(ORDER_SECONDS_KEY)
        *lists, jobs, measured = pipe.execute()
    per_order, fixed = _parse(measured)
    longest = max(lists, default=0)
    size = batches.batch_size()
    # the longest list in full batches, and the single jobs shared by the workers
    return (math.ceil(longest / size) * fixed + longest * per_order
            + jobs / shards * (fixed + per_order))


def _parse(measured) -> tuple[float, float]:
    """(seconds per order, seconds per batch) as ``record`` stored them, else the
    configured time per order and no fixed part."""
    if measured:
        text = measured.decode() if isinstance(measured, bytes) else measured
        per_order, _, fixed = text.partition(":")
        return float(per_order), float(fixed or 0)
    return _configured_per_order(), 0.0


def _configured_per_order() -> float:
    return float(current_app.config.get("FULFILMENT_ORDER_SECONDS") or 0.01)


def check() -> None:
    """Raise ``Busy`` when more than the allowed seconds of work are waiting."""
    limit = limit_seconds()
    if limit <= 0:
        return
    waiting = backlog_seconds()
    if waiting > limit:
        # by then the workers should have brought it back under the limit
        raise Busy(max(1, min(60, math.ceil(waiting - limit))))


def record(orders: int, seconds: float, connection=None) -> None:
    """A worker delivered a batch of ``orders`` in ``seconds``: update the measured
    time per order and per batch."""
    if orders <= 0:
        return
    if not _measured.get("warm"):
        # a fresh worker's first batch carries its warm-up (imports, connections): it
        # read as 1.5 s an order in the bench and refused orders for a minute
        _measured["warm"] = True
        return
    per_order = _measured.get("per_order", _configured_per_order())
    fixed = _measured.get("fixed", 0.0)
    if orders <= SMALL_BATCH:
        sample = max(0.0, seconds - orders * per_order)
        fixed += SMOOTHING * (sample - fixed)
    else:
        sample = max(0.0, seconds - fixed) / orders
        per_order += SMOOTHING * (sample - per_order)
    _measured["per_order"], _measured["fixed"] = per_order, fixed
    (connection or redis_conn.get()).set(ORDER_SECONDS_KEY, f"{per_order:.6f}:{fixed:.6f}",
                                         ex=MEASURE_TTL)


def forget() -> None:
    """Drop the cached readings and this process's measurements (tests)."""
    forget_reading()
    _measured.clear()


def forget_reading() -> None:
    """Drop the cached backlog readings: the next check reads Redis (tests)."""
    with _lock:
        _cache.clear()
