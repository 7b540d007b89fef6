"""``kameng bench storefront`` runs end to end (one second each: the harness, not speed)."""
from __future__ import annotations

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from kameng.benchmarks import storefront as bench


def test_bench_storefront_smoke(app, pg):
    lines = []
    stats = bench.run(seconds=1, connections=2, workers=1, threads=1,
                      echo=lambda msg, **_: lines.append(msg), page_cache=False)
    assert stats["shop"]["rps"] > 0 and stats["hello"]["rps"] > 0
    assert stats["shop"]["errors"] == 0
    # the product page is measured beside the list page, with its own ratio
    assert stats["product"]["rps"] > 0 and stats["product"]["errors"] == 0
    assert stats["product_ratio"] > 0 and stats["page_cache"] is False
    assert any(line.startswith("ratio to bare route") for line in lines)
    assert any("product page" in line and "of bare" in line for line in lines)
    assert any("page cache off" in line for line in lines)
    # its database is dropped again
    url = make_url(pg.url)
    engine = create_engine(url.set(drivername="postgresql+psycopg", database="postgres"))
    with engine.connect() as conn:
        names = set(conn.scalars(text("SELECT datname FROM pg_database")))
    engine.dispose()
    assert f"{url.database}_bench_storefront" not in names


def test_no_page_cache_is_an_option():
    assert "no_page_cache" in {p.name for p in bench.bench_storefront.params}
