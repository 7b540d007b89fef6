"""``kameng bench import``: a million-code import against a plain PostgreSQL COPY.

Imports N generated codes through the real service (validate pass, encrypt,
COPY into a stage, INSERT … ON CONFLICT, counter) into a throw-away product,
then COPYs the very same rows (already encrypted, read back in binary) into a
fresh table of the same shape and indexes, and prints both rates and the
ratio. It runs in the configured database; everything it creates there is
removed at the end, and so is the catalog price counter if it created it.
"""
from __future__ import annotations

import os
import resource
import secrets
import tempfile
import time

import click
from flask.cli import with_appcontext
from sqlalchemy import delete, text

from kameng.benchmarks.common import RedisFootprint
from kameng.core.extensions import db, redis_conn

COLUMNS = "product_id, batch_id, secret_ciphertext, key_id, fingerprint, status"


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def write_codes(path: str, count: int) -> None:
    """N distinct codes shaped like real ones (16 hex + 8 digits), one per line."""
    salt = secrets.token_hex(4)
    with open(path, "w", buffering=1024 * 1024) as fh:
        step = 10000
        for start in range(0, count, step):
            fh.write("".join(f"{salt}{i:08X}----{(i * 7919) % 100000000:08d}\n"
                             for i in range(start, min(count, start + step))))


def run(count: int, echo=click.echo) -> dict:
    from kameng.core.audit import AuditEvent
    from kameng.shop.catalog.models import Product
    from kameng.shop.catalog.services import create_product
    from kameng.shop.stock.models import CardCode, StockBatch
    from kameng.shop.stock.services import import_codes

    if db.engine.dialect.name != "postgresql":
        raise click.ClickException("bench import needs PostgreSQL: set KAMENG_DATABASE_URL="
                                   "postgresql://… (the default SQLite database is not measured)")
    # the throw-away product bumps the catalog's price counter; other keys of this
    # Redis may belong to a live system, so only that namespace is cleaned
    redis_before = RedisFootprint(redis_conn.url(), match="kameng:prices:*")
    tag = secrets.token_hex(4)
    workdir = tempfile.mkdtemp(prefix="kameng-bench-")
    codes_path = os.path.join(workdir, "codes.txt")
    rows_path = os.path.join(workdir, "rows.bin")
    table = f"bench_copy_{tag}"
    product = None
    try:
        echo(f"generating {count:,} codes …", err=True)
        write_codes(codes_path, count)
        product = create_product(sku=f"bench-import-{tag}", name="bench import", kind="card",
                                 supplier_cost=0, wholesale_price=0, retail_price=0,
                                 status="hidden")
        rss_before = _peak_rss_mb()
        started = time.perf_counter()
        result = import_codes(product, path=codes_path, separator="----", actor="bench")
        import_s = time.perf_counter() - started
        rss_peak = _peak_rss_mb()
        if result.imported != count:
            raise click.ClickException(f"imported {result.imported} of {count}")

        # the same rows, as PostgreSQL itself would take them with nothing in between
        conn = db.session.connection()
        raw = conn.connection.driver_connection
        with raw.cursor() as cur:
            with open(rows_path, "wb") as fh, cur.copy(
                    f"COPY (SELECT {COLUMNS} FROM card_codes WHERE product_id = {product.id}) "
                    "TO STDOUT (FORMAT BINARY)") as copy:
                for block in copy:
                    fh.write(block)
            cur.execute(f"CREATE TABLE {table} (LIKE card_codes INCLUDING ALL)")
        db.session.commit()
        conn = db.session.connection()
        raw = conn.connection.driver_connection
        started = time.perf_counter()
        with raw.cursor() as cur, open(rows_path, "rb") as fh, cur.copy(
                f"COPY {table} ({COLUMNS}) FROM STDIN (FORMAT BINARY)") as copy:
            while block := fh.read(1024 * 1024):
                copy.write(block)
        db.session.commit()
        copy_s = time.perf_counter() - started
    finally:
        db.session.rollback()
        db.session.execute(text(f"DROP TABLE IF EXISTS {table}"))
        if product is not None:
            pid = product.id
            db.session.execute(delete(CardCode).where(CardCode.product_id == pid))
            db.session.execute(delete(StockBatch).where(StockBatch.product_id == pid))
            db.session.execute(delete(AuditEvent).where(AuditEvent.actor == "bench"))
            db.session.execute(delete(Product).where(Product.id == pid))
        db.session.commit()
        for path in (codes_path, rows_path):
            if os.path.exists(path):
                os.unlink(path)
        os.rmdir(workdir)
        redis_before.clean()

    stats = {"count": count, "import_seconds": import_s, "import_rate": count / import_s,
             "copy_seconds": copy_s, "copy_rate": count / copy_s,
             "ratio": copy_s / import_s, "peak_rss_mb": rss_peak,
             "rss_before_mb": rss_before}
    echo(f"import   {count:>10,} codes in {import_s:6.2f} s = {stats['import_rate']:>10,.0f} "
         "codes/s")
    echo(f"COPY     {count:>10,} rows  in {copy_s:6.2f} s = {stats['copy_rate']:>10,.0f} rows/s")
    echo(f"ratio    {stats['ratio']:.1%} of plain COPY (target >= 25%)")
    echo(f"memory   peak RSS {rss_peak:.0f} MB (before the import {rss_before:.0f} MB; "
         "target < 300 MB)")
    return stats


@click.command("import")
@click.option("--count", default=1_000_000, show_default=True, type=click.IntRange(1))
@with_appcontext
def bench_import(count):
    """Import N generated codes into PostgreSQL; compare with a plain COPY."""
    run(count)
