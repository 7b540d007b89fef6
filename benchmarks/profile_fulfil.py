"""Profile the worker side of paid card orders in-process (no server, no RQ worker).

    python -m kameng.benchmarks.profile_fulfil --orders 400 --batch 10 [--top 40] [--sql]

Seeds a throw-away PostgreSQL database (``KAMENG_DATABASE_URL``, the server the bench
uses) with the bench's shop, product and funded keys, then in rounds places ``--batch``
orders through the Flask test client (the web side, not measured) and delivers them
with the fulfilment job's own function (``kameng.workers.jobs.fulfil_batch``, one
fulfilment list so a round is one batch). It prints, per order delivered, the
worker's CPU time, the CPU time of the database's PostgreSQL backends during the
deliveries (local server only), the SQL statements, and the cProfile of the
deliveries (CPU clock). A developer's tool, not a test: nothing here asserts a time.
"""
from __future__ import annotations

import cProfile
import json
import os
import secrets
import tempfile
import time

import click
from sqlalchemy import event, text

from kameng.benchmarks.common import (
    RedisFootprint,
    create_database,
    dispose,
    drop_database,
    report_run,
)
from kameng.benchmarks.orders import HOST, SKU, _cpu_seconds, seed

WARM_ROUNDS = 3


def _backend_cpu(app) -> float:
    from kameng.core.extensions import db

    with app.app_context():
        pids = db.session.scalars(text(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database()")).all()
        db.session.remove()
    return sum(_cpu_seconds(pid) for pid in pids)


@click.command()
@click.option("--orders", default=400, show_default=True)
@click.option("--batch", default=10, show_default=True, help="orders per fulfilment batch")
@click.option("--top", default=40, show_default=True)
@click.option("--sql", is_flag=True, help="print each statement of the last batch")
@click.option("--sort", default="cumulative", show_default=True)
@click.option("--timed", is_flag=True, help="no profiler: CPU time per order only")
def main(orders: int, batch: int, top: int, sql: bool, sort: str, timed: bool) -> None:
    from kameng.core.extensions import db
    from kameng.core.scoping import all_tenants
    from kameng.webapp import create_app
    from kameng.workers.jobs import fulfil_batch

    server = os.environ.get("KAMENG_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
    redis_url = os.environ.get("KAMENG_REDIS_URL", "redis://127.0.0.1:6379/14")
    name = f"kameng_profile_{secrets.token_hex(4)}"
    url = create_database(server, name)
    redis_before = RedisFootprint(redis_url)  # the queued jobs name orders of a dropped database
    rounds = max(1, orders // batch)
    try:
        app = create_app({"DATABASE_URL": url, "REDIS_URL": redis_url,
                          "INSTANCE_PATH": tempfile.mkdtemp(prefix="kameng-profile-"),
                          "SECRET_KEY": secrets.token_urlsafe(32), "BASE_DOMAIN": "localhost",
                          "FULFIL_SHARDS": 1, "FULFIL_BATCH": batch,
                          "MAX_FULFILMENT_BACKLOG_SECONDS": 0})
        keys = seed(app, (rounds + WARM_ROUNDS) * batch, 64)
        statements: list[str] = []
        recording = [False]
        with app.app_context():
            engine = db.engine
        event.listen(engine, "before_cursor_execute",
                     lambda _c, _cur, stmt, *_a: recording[0] and statements.append(stmt))
        client = app.test_client()

        def order(i: int) -> None:
            key = keys[i % len(keys)]
            resp = client.post("/api/v1/orders", data=json.dumps({"sku": SKU, "quantity": 1}),
                               headers={"Host": HOST, "Authorization": f"Bearer {key}",
                                        "Idempotency-Key": f"profile-{i}",
                                        "Content-Type": "application/json"})
            if resp.status_code != 201:
                raise click.ClickException(f"order {i}: {resp.status_code} {resp.data[:300]!r}")

        profile = cProfile.Profile(time.process_time)
        cpu = pg = 0.0
        n = 0
        for r in range(rounds + WARM_ROUNDS):
            for i in range(r * batch, (r + 1) * batch):
                order(i)
            measured = r >= WARM_ROUNDS
            if measured:
                last = len(statements)
                pg_before = _backend_cpu(app)
                recording[0] = True
                started = time.process_time()
                if not timed:
                    profile.enable()
            with app.app_context():
                fulfil_batch(0)
            if measured:
                profile.disable()
                cpu += time.process_time() - started
                recording[0] = False
                pg += _backend_cpu(app) - pg_before
                n += batch
        with app.app_context(), all_tenants():
            delivered = db.session.scalar(text("SELECT count(*) FROM orders "
                                               "WHERE status = 'delivered'"))
            db.session.remove()
        click.echo(f"delivered {delivered} of {(rounds + WARM_ROUNDS) * batch}; measured {n} "
                   f"in batches of {batch}")
        click.echo(f"per order: worker {1000 * cpu / n:.2f} ms CPU"
                   f"{' (under cProfile)' if not timed else ''}, PostgreSQL {1000 * pg / n:.2f} ms"
                   f"; SQL statements {len(statements) / n:.2f}")
        report_run(statements, n, last, show=25, sql=sql,
                   profile=None if timed else profile, sort=sort, top=top)
        dispose(app)
    finally:
        drop_database(server, name)
        redis_before.clean()


if __name__ == "__main__":
    main()
