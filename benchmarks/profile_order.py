"""Profile the web side of balance-paid API orders in-process (no server, no workers).

    python -m kameng.benchmarks.profile_order --orders 300 [--top 40] [--sql]

Seeds a throw-away PostgreSQL database (``KAMENG_DATABASE_URL``, the server the bench
uses) with the bench's shop, product and funded keys, places ``--orders`` orders
through the Flask test client, and prints the SQL statements per order and the
cProfile of the requests (the first few orders, which warm caches, are left out).
A developer's tool, not a test: nothing here asserts a time.

``--instructions`` runs the same orders under valgrind's callgrind, instrumenting only
the measured loop, and prints the web side's instructions per order: a count that
does not move with the machine's speed (a VM's neighbours move every timing here by
a third), so two versions of the order path can be compared in one run each.
"""
from __future__ import annotations

import cProfile
import json
import os
import re
import secrets
import shutil
import subprocess
import sys
import tempfile
import time

import click
from sqlalchemy import event

from kameng.benchmarks.common import (
    RedisFootprint,
    create_database,
    dispose,
    drop_database,
    report_run,
)
from kameng.benchmarks.orders import HOST, SKU, _cpu_seconds, seed

WARM = 20


@click.command()
@click.option("--orders", default=300, show_default=True)
@click.option("--top", default=40, show_default=True)
@click.option("--sql", is_flag=True, help="print each statement of the last order")
@click.option("--sort", default="cumulative", show_default=True)
@click.option("--cpu-clock", is_flag=True,
              help="profile CPU time (time.process_time), not wall time: waits drop out")
@click.option("--timed", is_flag=True,
              help="no profiler: the process's CPU time per order (web side, in-process)")
@click.option("--instructions", is_flag=True,
              help="the web side's instructions per order, counted by valgrind's callgrind")
def main(orders: int, top: int, sql: bool, sort: str, timed: bool, cpu_clock: bool,
         instructions: bool) -> None:
    if instructions and not os.environ.get(_UNDER_CALLGRIND):
        _count_instructions(orders)
        return
    counting = bool(os.environ.get(_UNDER_CALLGRIND))
    timed = timed or counting
    from kameng.core.extensions import db
    from kameng.webapp import create_app

    server = os.environ.get("KAMENG_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
    redis_url = os.environ.get("KAMENG_REDIS_URL", "redis://127.0.0.1:6379/14")
    name = f"kameng_profile_{secrets.token_hex(4)}"
    url = create_database(server, name)
    redis_before = RedisFootprint(redis_url)  # the queued jobs name orders of a dropped database
    try:
        app = create_app({"DATABASE_URL": url, "REDIS_URL": redis_url,
                          "INSTANCE_PATH": tempfile.mkdtemp(prefix="kameng-profile-"),
                          "SECRET_KEY": secrets.token_urlsafe(32), "BASE_DOMAIN": "localhost"})
        keys = seed(app, orders + WARM, 8)
        statements: list[str] = []
        with app.app_context():
            engine = db.engine
        event.listen(engine, "before_cursor_execute",
                     lambda _c, _cur, stmt, *_a: statements.append(stmt))
        client = app.test_client()

        def order(i: int) -> None:
            key = keys[i % len(keys)]
            resp = client.post("/api/v1/orders", data=json.dumps({"sku": SKU, "quantity": 1}),
                               headers={"Host": HOST, "Authorization": f"Bearer {key}",
                                        "Idempotency-Key": f"profile-{i}",
                                        "Content-Type": "application/json"})
            if resp.status_code != 201:
                raise click.ClickException(f"order {i}: {resp.status_code} {resp.data[:300]!r}")

        for i in range(WARM):
            order(i)
        backend = _backend_pid(app)
        backend_cpu = _cpu_seconds(backend)
        statements.clear()
        profile = cProfile.Profile(time.process_time) if cpu_clock else cProfile.Profile()
        cpu, wall = time.process_time(), time.perf_counter()
        if not timed:
            profile.enable()
        if counting:
            _callgrind("on")
        for i in range(WARM, WARM + orders):
            last = len(statements)
            order(i)
        if counting:
            _callgrind("off")
        profile.disable()
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
        backend_cpu = _cpu_seconds(backend) - backend_cpu
        per_order = len(statements) / orders
        click.echo(f"SQL statements per order: {per_order:.2f} (and BEGIN, COMMIT)")
        click.echo(f"per order: {1000 * cpu / orders:.2f} ms CPU, {1000 * wall / orders:.2f} ms "
                   f"wall{' (under cProfile)' if not timed else ''}; PostgreSQL (its one "
                   f"connection) {1000 * backend_cpu / orders:.2f} ms CPU"
                   f"{'' if _backend_pid(app) == backend else ' (the connection changed!)'}")
        report_run(statements, orders, last, show=20, sql=sql,
                   profile=None if timed else profile, sort=sort, top=top)
        dispose(app)
    finally:
        drop_database(server, name)
        redis_before.clean()


_UNDER_CALLGRIND = "KAMENG_PROFILE_UNDER_CALLGRIND"


def _callgrind(state: str) -> None:
    subprocess.run(["callgrind_control", "--instr=" + state, str(os.getpid())], check=True,
                   stdout=subprocess.DEVNULL)


def _count_instructions(orders: int) -> None:
    """Run this command again under callgrind (instrumentation off until the measured
    loop) and print the instructions it counted per order."""
    if shutil.which("valgrind") is None or shutil.which("callgrind_control") is None:
        raise click.ClickException("--instructions needs valgrind (apt-get install valgrind)")
    with tempfile.TemporaryDirectory(prefix="kameng-callgrind-") as tmp:
        out = os.path.join(tmp, "callgrind.out")
        run = subprocess.run(["valgrind", "--tool=callgrind", "--instr-atstart=no",
                              f"--callgrind-out-file={out}", sys.executable, "-m",
                              "kameng.benchmarks.profile_order", "--orders", str(orders)],
                             env={**os.environ, _UNDER_CALLGRIND: "1"})
        if run.returncode != 0:
            raise click.ClickException(f"the orders under callgrind failed (exit "
                                       f"{run.returncode}); their output is above")
        with open(out) as f:
            total = next((int(m.group(1)) for line in f
                          if (m := re.match(r"totals: (\d+)", line))), None)
    if total is None:
        raise click.ClickException("callgrind wrote no totals")
    click.echo(f"web side: {total / orders / 1e6:.3f} M instructions per order "
               f"(callgrind, {orders} orders)")


def _backend_pid(app) -> int:
    """The pid of the PostgreSQL backend serving the serial orders (the pool's one
    connection: each order checks it out again)."""
    from sqlalchemy import text

    from kameng.core.extensions import db

    with app.app_context():
        pid = db.session.scalar(text("SELECT pg_backend_pid()"))
        db.session.rollback()
    return pid


if __name__ == "__main__":
    main()
