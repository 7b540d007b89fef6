"""``kameng scheduler``: periodic sweeps, declared as data.

Each entry is enqueued at most once per period across any number of scheduler
processes, on one machine or several: a Redis ``SET NX`` claims the period's slot,
and the claim outlives its period by ``CLOCK_SKEW_SECONDS``, so schedulers whose clocks
differ by less than that still never both claim one period (keep the clocks in NTP).
"""
from __future__ import annotations

import logging
import signal
import time
from dataclasses import dataclass

from kameng.core.extensions import redis_conn
from kameng.core.jobs import enqueue

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Periodic:
    func: str
    every: int  # seconds
    queue: str = "default"


# later issues add their sweeps here (outbox, stuck orders, holds, reconciliation …)
PERIODIC: list[Periodic] = [
    Periodic("kameng.workers.jobs.heartbeat", every=60),
    Periodic("kameng.workers.jobs.dispatch_outbox", every=2, queue="fulfilment"),
    Periodic("kameng.workers.jobs.sweep_orders", every=15),
    Periodic("kameng.workers.jobs.check_supplier_balances", every=600),
    Periodic("kameng.workers.jobs.mature_commissions", every=300),
    Periodic("kameng.workers.jobs.sweep_subscriptions", every=900),
    Periodic("kameng.workers.jobs.reconcile_unpaid", every=60),
    # a key rotation whose job died with its worker carries on from its last batch
    Periodic("kameng.ops.rotation.resume_rotations", every=300),
    # hourly, but each custom domain is looked up about once a day (sales.domain_checks)
    Periodic("kameng.workers.jobs.recheck_domains", every=3600),
    # the reports' per-shop running sums (billing.commissions.rollup): the open part a
    # page adds stays within LAG plus this period
    Periodic("kameng.billing.commissions.rollup.roll_up_job", every=300),
]


# a scheduler whose clock is ahead claims a slot early; the claim must still be there
# when one whose clock is behind reaches the end of that slot
CLOCK_SKEW_SECONDS = 60


def claim_key(entry: Periodic, slot: int) -> str:
    return f"kameng:schedule:{entry.func}:{slot}"


def due(entries: list[Periodic], now: float, connection) -> list[Periodic]:
    """The entries whose current period this scheduler claimed (and must enqueue)."""
    claimed = []
    for entry in entries:
        slot = int(now // entry.every)
        if connection.set(claim_key(entry, slot), "1", nx=True,
                          ex=entry.every + CLOCK_SKEW_SECONDS):
            claimed.append(entry)
    return claimed


def tick(app, entries: list[Periodic] | None = None, now: float | None = None) -> list[str]:
    connection = redis_conn.get(app)
    fired = []
    with app.app_context():
        for entry in due(entries if entries is not None else PERIODIC,
                         now if now is not None else time.time(), connection):
            enqueue(entry.queue, entry.func, connection=connection)
            fired.append(entry.func)
    return fired


def run_scheduler(app, interval: float = 1.0) -> None:
    stopping = []
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stopping.append(True))
    log.info("scheduler started with %d periodic jobs", len(PERIODIC))
    while not stopping:
        for func in tick(app):
            log.info("enqueued %s", func)
        time.sleep(interval)
