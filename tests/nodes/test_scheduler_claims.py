"""Two schedulers, one Redis: each periodic job is claimed once per period — when both tick
at the same moment, and when their clocks differ (schedulers on two machines).

The real processes side by side are in test_several_nodes.py (under load); these pin the
claim itself, on a real Redis, with the clock given."""
from __future__ import annotations

import threading
from collections import Counter

import pytest
import redis as redis_lib

from kameng.workers.schedule import CLOCK_SKEW_SECONDS, Periodic, claim_key, due

pytestmark = pytest.mark.nodes

ENTRIES = [Periodic("kameng.workers.jobs.dispatch_outbox", every=2),
           Periodic("kameng.workers.jobs.sweep_orders", every=15),
           Periodic("kameng.workers.jobs.heartbeat", every=60)]


@pytest.fixture
def two_connections(redis_url, redis_client):
    first, second = redis_lib.Redis.from_url(redis_url), redis_lib.Redis.from_url(redis_url)
    yield first, second
    first.close()
    second.close()


def test_two_schedulers_ticking_together_claim_each_period_once(two_connections):
    start = 1_700_000_000.0
    fired: Counter = Counter()
    lock = threading.Lock()
    barrier = threading.Barrier(2)

    def scheduler(connection):
        for second in range(0, 120):  # two minutes of one-second ticks, in step
            now = start + second
            barrier.wait()
            for entry in due(ENTRIES, now, connection):
                with lock:
                    fired[(entry.func, int(now // entry.every))] += 1

    threads = [threading.Thread(target=scheduler, args=(c,)) for c in two_connections]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert set(fired.values()) == {1}
    per_func = Counter(func for func, _slot in fired)
    assert per_func == {"kameng.workers.jobs.dispatch_outbox": 60,
                        "kameng.workers.jobs.sweep_orders": 120 // 15 + 1,  # 1.7e9 is not a
                        "kameng.workers.jobs.heartbeat": 3}                 # multiple of 15


@pytest.mark.parametrize("skew", [1.5, 10.0, CLOCK_SKEW_SECONDS - 1])
def test_schedulers_whose_clocks_differ_still_claim_each_period_once(two_connections, skew):
    # "ahead" reads skew seconds more than "behind" at every tick. Redis expires a claim in
    # real time, which this test does not wait for: so each claim's time to live is
    # checked to outlast the period on the clock that is behind, however short the period
    # is next to the skew (the claim gone, "behind" would claim that period again)
    ahead, behind = two_connections
    start = 1_700_000_000.0
    fired: Counter = Counter()
    for tick in range(0, 200):
        true_time = start + tick * 0.5
        for connection, offset in ((ahead, skew), (behind, 0.0)):
            now = true_time + offset
            for entry in due(ENTRIES, now, connection):
                slot = int(now // entry.every)
                fired[(entry.func, slot)] += 1
                lives = connection.ttl(claim_key(entry, slot))
                period_ends_behind = (slot + 1) * entry.every + skew - now
                assert lives >= period_ends_behind, (entry.func, lives, period_ends_behind)
    assert set(fired.values()) == {1}
    slots = {func: sorted(s for f, s in fired if f == func) for func, _ in fired}
    for entry in ENTRIES:  # and no period was skipped
        claimed = slots[entry.func]
        assert claimed == list(range(claimed[0], claimed[-1] + 1))
