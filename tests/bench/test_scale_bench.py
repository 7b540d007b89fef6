"""``kameng bench scale`` runs end to end at tiny sizes (the harness, not speed): it
prints the table of ratios and drops both of its databases."""
from __future__ import annotations

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from kameng.benchmarks import scale as bench


def _databases(pg_url: str) -> set[str]:
    url = make_url(pg_url)
    engine = create_engine(url.set(drivername="postgresql+psycopg", database="postgres"))
    with engine.connect() as conn:
        names = set(conn.scalars(text("SELECT datname FROM pg_database")))
    engine.dispose()
    return names


def test_bench_scale_tiny(app, pg):
    lines = []
    results = bench.run(shops=12, codes=600, orders=120, requests=3, order_count=2,
                        echo=lambda msg, **_: lines.append(msg), page_seconds=0)
    out = "\n".join(lines)
    assert "p99 ratio" in out and "worst page p99 ratio (scale / small)" in out
    for row in ("storefront home (uncached)", "storefront product (cached)",
                "host resolution cold", "master order list (status filter)",
                "ledger check (incremental)", "order placed → delivered"):
        assert row in out
    assert results["scale"]["pages"]["host resolution warm"]["hosts"] == 12
    stem = make_url(pg.url).database
    names = _databases(pg.url)
    assert f"{stem}_bench_scale" not in names and f"{stem}_bench_scale_small" not in names


@pytest.mark.both
def test_bench_scale_refuses_sqlite(app, cli, backend):
    if backend != "sqlite":
        pytest.skip("the refusal is SQLite's")
    result = cli("bench", "scale", "--shops", "5")
    assert result.exit_code != 0 and "needs PostgreSQL" in result.output


def test_bench_scale_reuse_measures_the_kept_databases(app, pg):
    """``--keep`` leaves both databases; ``--reuse`` measures them again without building
    (and keeps them), ``--page`` only the pages named (no hosts, orders, ledger check)."""
    stem = make_url(pg.url).database
    names = {f"{stem}_bench_scale", f"{stem}_bench_scale_small"}
    try:
        first = bench.run(shops=12, codes=600, orders=120, requests=3, order_count=2,
                          keep=True, echo=lambda msg, **_: None, page_seconds=0)
        assert names <= _databases(pg.url)
        lines = []
        again = bench.run(requests=3, reuse=True, only=("subtree order list", "earnings"),
                          echo=lambda msg, **_: lines.append(msg), page_seconds=0)
        out = "\n".join(lines)
        assert "building" not in out and "reusing" in out
        assert set(again["scale"]["pages"]) == {"depth-1 subtree order list",
                                                "depth-1 earnings dashboard"}
        assert "host resolution" not in out and "ledger check" not in out
        for label in ("small", "scale"):
            info, built = again[label]["info"], first[label]["info"]
            for key in ("master_id", "depth1", "depth3", "last_shop", "product_ids"):
                assert info[key] == built[key], (label, key)
        assert names <= _databases(pg.url)
    finally:
        from kameng.benchmarks.common import drop_database

        for name in names:
            drop_database(pg.url, name)
    assert not names & _databases(pg.url)


def test_each_pages_requests_are_spread_over_passes_and_interleaved():
    """A page's samples come from every pass over all the pages, each round one request
    on each database, so that a stretch of the machine's slowness weighs on both
    databases and on no single page's whole sample."""
    log: list[tuple[str, str]] = []

    def call(db, page):
        return lambda: log.append((db, page))

    names = ["small", "scale"]
    calls = {db: [(page, call(db, page)) for page in ("a", "b")] for db in names}
    out: dict = {db: {} for db in names}
    bench._interleave(calls, names, out, requests=6, page_seconds=0, passes=3)
    measured = log[8:]   # after each page's two warm-up requests on each database
    assert [page for _db, page in measured[::4]] == ["a", "b"] * 3   # 3 passes of a, b
    for i in range(0, len(measured), 2):   # a round: the same page once on each
        assert {db for db, _page in measured[i:i + 2]} == set(names)
        assert measured[i][1] == measured[i + 1][1]
    for db in names:
        assert out[db]["a"]["n"] == out[db]["b"]["n"] == 6


def test_a_periodic_disturbance_does_not_always_land_on_the_same_database():
    """Which database a round asks first is drawn at random: with the order alternated,
    a disturbance that recurs every even number of rounds (seen: every 22, ~0.9 s) hit
    the same database every time and made one side's p99 alone."""
    log: list[str] = []
    names = ["small", "scale"]
    calls = {db: [("a", lambda db=db: log.append(db))] for db in names}
    bench._interleave(calls, names, {db: {} for db in names}, requests=400,
                      page_seconds=0, passes=1)
    first = log[4::2]   # who went first in each measured round
    assert len(first) == 400
    for period in range(2, 41, 2):
        assert set(first[::period]) == set(names), period
        share = first[::period].count("small") / len(first[::period])
        assert 0.2 < share < 0.8, (period, share)
