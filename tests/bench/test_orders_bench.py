"""``kameng bench orders`` runs end to end (a tiny N: this checks the harness, not speed)."""
from __future__ import annotations

import os

import click
import pytest
import redis as redis_lib
from rq import Worker

from kameng.benchmarks import orders as bench


@pytest.fixture
def bench_redis(redis_url):
    if redis_url.startswith("unix://"):
        pytest.skip("bench orders needs a Redis server URL (KAMENG_TEST_REDIS_URL)")
    client = redis_lib.Redis.from_url(redis_url)
    client.flushdb()
    yield redis_url
    client.flushdb()
    client.close()


def test_bench_orders_smoke(pg, bench_redis):
    lines = []
    stats = bench.run(pg.url, bench_redis, orders=12, concurrency=4, workers=1, noop_jobs=20,
                      web_workers=1, web_threads=4, echo=lambda msg, **_: lines.append(msg))
    assert stats["accepted"] == 12 and not stats["refused"]
    assert stats["double_sold"] == 0 and stats["orders_without_their_code"] == 0
    assert stats["ledger_ok"] and stats["wallets_not_zero"] == 0
    assert stats["orders_per_second"] > 0 and stats["noop_jobs_per_second"] > 0
    # the denominator is measured before and after the orders; the ratio is to their mean
    before, after = stats["noop_before"], stats["noop_after"]
    assert before > 0 and after > 0
    assert stats["noop_jobs_per_second"] == pytest.approx((before + after) / 2)
    assert stats["ratio_to_noop"] == pytest.approx(
        stats["orders_per_second"] / stats["noop_jobs_per_second"])
    assert any(line.startswith("double-sold") for line in lines)
    # the latency split into the API's answer and the wait for the workers
    api, rest = stats["answer_ms"], stats["answer_to_delivered_ms"]
    assert 0 < api["p50"] <= api["p99"] and 0 < rest["p50"] <= rest["p99"]
    assert api["p99"] <= stats["p99_latency_ms"] + 1
    assert any("of which the API's answer" in line for line in lines)
    if os.path.exists("/proc/self/stat"):   # where the CPU went, per role
        split = stats["cpu_ms_per_order"]
        assert split["web"] > 0 and split["workers"] > 0 and "postgres" in split
        assert any(line.startswith("cpu/order") for line in lines)
    # everything it started is stopped: no worker left registered, its database gone
    conn = redis_lib.Redis.from_url(bench_redis)
    assert Worker.all(connection=conn) == []
    assert list(conn.scan_iter(match="kameng:*")) == []   # the bench shops' caches too
    conn.close()
    from sqlalchemy import create_engine, text

    engine = create_engine(pg.url.replace("postgresql://", "postgresql+psycopg://", 1)
                           if pg.url.startswith("postgresql://") else pg.url)
    with engine.connect() as db:
        left = db.execute(text("SELECT count(*) FROM pg_database WHERE datname = :name"),
                          {"name": stats["database"]}).scalar()
    engine.dispose()
    assert left == 0


def test_bench_orders_refuses_sqlite(bench_redis):
    with pytest.raises(click.ClickException, match="PostgreSQL"):
        bench.run("sqlite:///x.db", bench_redis, orders=1)


def test_bench_orders_open_loop_smoke(pg, bench_redis):
    """``--rate``: orders sent on a schedule; the report names the mode and back-pressure."""
    lines = []
    stats = bench.run(pg.url, bench_redis, orders=10, concurrency=2, workers=1, noop_jobs=10,
                      web_workers=1, web_threads=4, rate=20, max_backlog=5, warmup=0.2,
                      echo=lambda msg, **_: lines.append(msg))
    assert stats["accepted"] == 10 and stats["rate"] == 20
    # four warm-up orders first (0.2 s at 20/s), delivered, left out of the figures
    assert stats["warmup"]["orders"] == 4 and stats["warmup"]["accepted"] == 4
    assert any(line.startswith("warm-up") and "not counted" in line for line in lines)
    assert stats["double_sold"] == 0 and stats["ledger_ok"]
    assert stats["backpressure"]["limit_seconds"] == 5
    assert any(line.startswith("mode") and "open loop" in line for line in lines)
    assert any(line.startswith("back-pressure") for line in lines)
