"""``kameng bench storefront`` runs end to end (one second each: the harness, not speed)."""
from __future__ import annotations

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from kameng.benchmarks import storefront as bench


def test_bench_storefront_smoke(app, pg):
    lines = []
    stats = bench.run(seconds=1, connections=2, workers=1, threads=1,
                      echo=lambda msg, **_: lines.append(msg))
    assert stats["shop"]["rps"] > 0 and stats["hello"]["rps"] > 0
    assert stats["shop"]["errors"] == 0
    assert any(line.startswith("ratio to bare route") for line in lines)
    # its database is dropped again
    url = make_url(pg.url)
    engine = create_engine(url.set(drivername="postgresql+psycopg", database="postgres"))
    with engine.connect() as conn:
        names = set(conn.scalars(text("SELECT datname FROM pg_database")))
    engine.dispose()
    assert f"{url.database}_bench_storefront" not in names
