"""Paid orders reach the workers in batches, not one RQ job each.

An RQ job costs a few milliseconds of bookkeeping in Redis and in the worker
(dequeue, start and finish records, the result) — as much as delivering a card
order. So a paid order is pushed onto a Redis list (one of ``FULFIL_SHARDS``,
by order id), and a ``fulfil_batch`` job is enqueued only if none is already
waiting for or draining that list (its flag); the job takes up to
``FULFIL_BATCH`` orders at a time and delivers them together until the list is
empty, and gives the flag up only then (``finish``). With one order at a time
this is one job per order, as before; under a rush one job carries many, and
never two drain one list while the other list's job waits for a worker.

Nothing is lost if a batch is: the outbox row of each order stays unmarked
until its delivery commits, and the periodic dispatcher sends unmarked rows
again after the grace period (as single ``fulfil_order`` jobs).
"""
from __future__ import annotations

import time
from dataclasses import dataclass

from flask import current_app

from kameng.core.extensions import redis_conn
from kameng.core.jobs import queue

BATCH_JOB = "kameng.workers.jobs.fulfil_batch"
# the flag lives a minute at most: a lost job holds up nothing for longer
FLAG_SECONDS = 60
# while a job drains, it renews the flag after each batch for this long: a job that dies
# mid-drain holds its list up no longer (a batch that outlasts it lets a second job drain
# the same list meanwhile, which is safe: delivery is idempotent)
HOLD_SECONDS = 10


@dataclass(frozen=True)
class Item:
    tenant_id: int
    order_id: int
    outbox_id: int | None

    def encode(self) -> str:
        return f"{self.tenant_id}:{self.order_id}:{self.outbox_id or ''}"

    @classmethod
    def decode(cls, raw: bytes | str) -> Item:
        text = raw.decode() if isinstance(raw, bytes) else raw
        tenant_id, order_id, outbox_id = text.split(":")
        return cls(int(tenant_id), int(order_id), int(outbox_id) if outbox_id else None)


def shard_count() -> int:
    return max(1, int(current_app.config.get("FULFIL_SHARDS", 2)))


def batch_size() -> int:
    """How many orders a batch job takes from its list at a time."""
    return max(1, int(current_app.config.get("FULFIL_BATCH", 50)))


def list_key(shard: int) -> str:
    return f"kameng:fulfil:{shard}"


def flag_key(shard: int) -> str:
    return f"kameng:fulfil:{shard}:queued"


def hand_over(items: list[Item], connection=None) -> None:
    """Push paid orders to the workers; raises if Redis cannot be reached."""
    r = connection or redis_conn.get()
    shards = shard_count()
    by_shard: dict[int, list[str]] = {}
    for item in items:
        by_shard.setdefault(item.order_id % shards, []).append(item.encode())
    for shard, encoded in sorted(by_shard.items()):
        with r.pipeline(transaction=False) as pipe:
            pipe.rpush(list_key(shard), *encoded)
            pipe.set(flag_key(shard), 1, nx=True, ex=FLAG_SECONDS)
            _pushed, flag_was_free = pipe.execute()
        if flag_was_free:
            try:
                queue("fulfilment", r).enqueue(BATCH_JOB, args=(shard,), result_ttl=0,
                                               failure_ttl=7 * 86400)
            except BaseException:
                r.delete(flag_key(shard))  # let the next order try again
                raise


def linger_seconds() -> float:
    """How long a job that took fewer than ``batch_size`` orders waits, once, for more
    to join them (0: never waits)."""
    return max(0.0, float(current_app.config.get("FULFIL_LINGER_SECONDS", 0) or 0))


def take(shard: int, connection=None, limit: int | None = None) -> list[Item]:
    """The next batch of a shard (removed from its list), oldest first: up to
    ``batch_size`` orders, or ``limit``."""
    r = connection or redis_conn.get()
    raw = r.lpop(list_key(shard), batch_size() if limit is None else limit) or []
    return [Item.decode(x) for x in raw]


def take_lingering(shard: int, connection=None, sleep=time.sleep) -> list[Item]:
    """``take``; a batch short of ``batch_size`` waits ``linger_seconds`` once, then
    takes what joined it meanwhile. An order's transaction, its commit and its
    statements cost a worker nearly as much for one order as for twenty: during a
    rush a short wait makes batches several orders large for the same CPU, and alone
    an order is delivered that much later."""
    r = connection or redis_conn.get()
    items = take(shard, r)
    size, linger = batch_size(), linger_seconds()
    if items and len(items) < size and linger:
        sleep(linger)
        items += take(shard, r, limit=size - len(items))
    return items


def hold(shard: int, connection=None) -> None:
    """Called by the job as it starts and after each batch: the flag is its own while
    it drains (an order pushed meanwhile joins this job, enqueues none), and lapses
    ``HOLD_SECONDS`` after a job that died."""
    (connection or redis_conn.get()).set(flag_key(shard), 1, ex=HOLD_SECONDS)


# atomic, so an order pushed after the job's last take either is seen here or finds
# the flag free and enqueues the next job: none is left waiting without one
_FINISH = """
if redis.call('llen', KEYS[1]) > 0 then
  redis.call('set', KEYS[2], 1, 'EX', ARGV[1])
  return 1
end
redis.call('del', KEYS[2])
return 0
"""


def finish(shard: int, connection=None) -> bool:
    """Called by the job when its list was empty: gives the flag up and answers False,
    unless orders arrived since the last take — then it keeps the flag and answers
    True (drain on)."""
    r = connection or redis_conn.get()
    return bool(r.eval(_FINISH, 2, list_key(shard), flag_key(shard), HOLD_SECONDS))
