"""The benches leave Redis and PostgreSQL as they found them: ``bench storefront`` then
``bench orders`` on the same Redis database and the same database URL both succeed."""
from __future__ import annotations

import pytest
import redis as redis_lib
from sqlalchemy import create_engine, inspect, text
from sqlalchemy.engine import make_url

from kameng.benchmarks import orders, stock_import, storefront


def _database_state(url: str) -> tuple[set[str], set[str]]:
    """(the tables of the database at ``url``, the bench databases of its server).

    Other test runs share the server and come and go: only names with "bench" count."""
    engine = create_engine(make_url(url).set(drivername="postgresql+psycopg"))
    try:
        with engine.connect() as conn:
            tables = set(inspect(conn).get_table_names())
            databases = set(conn.scalars(text(
                "SELECT datname FROM pg_database WHERE datname LIKE '%bench%'")))
    finally:
        engine.dispose()
    return tables, databases


def test_storefront_then_orders_on_the_same_redis_and_database(app, pg, redis_url):
    if redis_url.startswith("unix://"):
        pytest.skip("bench orders needs a Redis server URL (KAMENG_TEST_REDIS_URL)")
    conn = redis_lib.Redis.from_url(redis_url)
    conn.set("someone:else", "kept")  # a key that is not the bench's own
    keys_before = set(conn.scan_iter())
    db_before = _database_state(pg.url)

    lines = []
    sf = storefront.run(seconds=1, connections=2, workers=1, threads=1,
                        echo=lambda msg, **_: lines.append(msg))
    assert sf["shop"]["rps"] > 0 and sf["shop"]["errors"] == 0
    assert set(conn.scan_iter()) == keys_before
    assert _database_state(pg.url) == db_before

    stats = orders.run(pg.url, redis_url, orders=8, concurrency=4, workers=1, noop_jobs=10,
                       web_workers=1, web_threads=4, echo=lambda msg, **_: lines.append(msg))
    assert stats["accepted"] == 8 and stats["double_sold"] == 0 and stats["ledger_ok"]
    assert set(conn.scan_iter()) == keys_before
    assert conn.get("someone:else") == b"kept"
    assert _database_state(pg.url) == db_before
    conn.close()


def test_bench_import_leaves_the_database_and_redis_as_they_were(app, redis_url):
    from kameng.core.extensions import db

    conn = redis_lib.Redis.from_url(redis_url)
    keys_before = set(conn.scan_iter())
    tables = ("products", "card_codes", "stock_batches", "audit_events")

    def counts():
        return {t: db.session.scalar(text(f"SELECT count(*) FROM {t}")) for t in tables}

    before = counts()
    db.session.commit()
    stats = stock_import.run(500, echo=lambda *_a, **_k: None)
    assert stats["count"] == 500 and stats["import_rate"] > 0
    assert counts() == before
    assert set(conn.scan_iter()) == keys_before
    conn.close()
