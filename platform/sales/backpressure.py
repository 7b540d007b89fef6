"""Back-pressure: refuse new paid orders while the workers are far behind.

Accepting an order the workers will only reach in a minute makes every buyer wait
a minute for the code, and the backlog (and everyone's wait) keeps growing as long
as orders arrive faster than they are delivered. So a balance-paid order — the one
that goes straight to the fulfilment queue — is refused with 503 and ``Retry-After``
while the queue holds more than ``MAX_FULFILMENT_BACKLOG_SECONDS`` of work
(``0``: never refused). Nothing is written or charged then.

The work waiting is estimated from the fulfilment lists (``batches``: one batch job
drains each shard, so the longest list decides) and the fulfilment RQ queue (single
jobs, shared by all workers), times the time one order takes: measured by the
workers (``record``, a moving average kept in Redis), else ``FULFILMENT_ORDER_SECONDS``.
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
# the measured time per order follows the last batches, not one odd one
SMOOTHING = 0.2
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
    per_order = float(measured) if measured else \
        float(current_app.config.get("FULFILMENT_ORDER_SECONDS") or 0.01)
    return (max(lists, default=0) + jobs / shards) * per_order


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
    """A worker delivered ``orders`` in ``seconds``: update the measured time per order."""
    if orders <= 0:
        return
    sample = seconds / orders
    previous = _measured.get("per_order")
    average = sample if previous is None else previous + SMOOTHING * (sample - previous)
    _measured["per_order"] = average
    (connection or redis_conn.get()).set(ORDER_SECONDS_KEY, f"{average:.6f}", ex=MEASURE_TTL)


def forget() -> None:
    """Drop the cached readings (tests)."""
    with _lock:
        _cache.clear()
    _measured.clear()
