"""``kameng bench orders``: API orders end to end against RQ's own no-op rate.

On PostgreSQL + Redis it builds, in a fresh database of its own, a master and
a sub-shop, one card product with a code per order, and funded API accounts;
serves the real app under gunicorn, starts W ``kameng worker`` processes
(SimpleWorker) and then, in the same run and with the same workers:

1. enqueues M no-op jobs and times them to the last one's end (RQ's own rate);
2. warms up: ``--warmup`` seconds' worth of orders placed the same way and delivered,
   left out of the figures (the report gives their latency on its own line: the
   first second of freshly started processes is slow — a key's first request, every
   statement's first compile — and at --rate 100 it would be the whole p99);
3. fires N concurrent ``POST /api/v1/orders`` (or, with ``--rate R``, sends them
   at R a second on a fixed schedule: an open loop) and waits until every order
   is delivered (paid from the wallet, dispatched through the outbox, fulfilled
   by the workers). An order refused by back-pressure (503) is sent again after
   its Retry-After; the report says how many were.

It prints orders/second end to end, p50/p99 latency from sending the order to
its delivery (``delivered_at``), the double-sold count (codes the API handed to
more than one order; read back through ``GET /api/v1/orders/<no>``), and the
ratio of the order rate to the no-op job rate. Everything it starts it stops;
the database is dropped and the Redis keys it added are deleted at the end.
"""
from __future__ import annotations

import math
import os
import secrets
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC

import click

from kameng.benchmarks.common import RedisFootprint, create_database, drop_database, free_port

HOST = "bench-shop.localhost"
SKU = "BENCH-CARD"
PRICE = 200  # the sub-shop's price: wholesale 150 + no markup rule → retail
# a client gives up on an order after this many 503 answers in a row
MAX_REFUSALS = 30
# the application_name prefix of the processes' PostgreSQL connections
APP_NAME = "kameng-bench-"


def noop() -> None:
    """The job RQ's own throughput is measured with."""


@dataclass
class Stack:
    """Every process and resource the bench started, so ``stop`` can undo them all."""

    tmpdir: str
    db_name: str | None = None
    admin_url: str | None = None
    procs: list[subprocess.Popen] = field(default_factory=list)
    logs: list = field(default_factory=list)

    def stop(self, echo) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        deadline = time.time() + 15
        for proc in self.procs:
            try:
                proc.wait(timeout=max(0.1, deadline - time.time()))
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=5)
        for fh in self.logs:
            fh.close()
        if self.db_name and self.admin_url:
            drop_database(self.admin_url, self.db_name)
        shutil.rmtree(self.tmpdir, ignore_errors=True)


def _check_redis_is_free(redis_url: str) -> None:
    import redis
    from rq import Queue, Worker

    from kameng.core.jobs import QUEUES

    conn = redis.Redis.from_url(redis_url)
    try:
        workers = Worker.all(connection=conn)
        waiting = {q: Queue(q, connection=conn).count for q in QUEUES}
        # a shop's caches (prices …) live here too, keyed by tenant id: never mix them
        caches = next(conn.scan_iter(match="kameng:*", count=1000), None) is not None
    finally:
        conn.close()
    if workers or any(waiting.values()) or caches:
        raise click.ClickException(
            f"this Redis is in use ({len(workers)} worker(s), queued jobs {waiting}, kameng "
            f"cache keys: {'yes' if caches else 'no'}); the bench shares its queues and "
            "caches, so point KAMENG_REDIS_URL at a Redis database of its own "
            "(e.g. redis://127.0.0.1:6379/15)")


# ----- set-up ----------------------------------------------------------------------

def seed(app, orders: int, accounts: int) -> list[str]:
    """The shops, the product with one code per order, funded accounts; returns the keys."""
    from kameng.billing import wallets
    from kameng.core.extensions import db
    from kameng.core.scoping import all_tenants
    from kameng.shop.catalog.services import create_product
    from kameng.shop.pricing.services import price_for
    from kameng.shop.stock.services import import_codes
    from kameng.tenants import services as tenants
    from kameng.tenants.api_keys import create_key_in_txn

    with app.app_context(), all_tenants():
        db.create_all()
        tenants.create_tenant("bench-master", "Bench Master", domains=["bench-master.localhost"])
        shop = tenants.create_tenant("bench-shop", "Bench Shop", "bench-master",
                                     domains=[HOST])
        product = create_product(sku=SKU, name="Bench card", kind="card", supplier_cost=100,
                                 wholesale_price=150, retail_price=PRICE, max_quantity=10)
        salt = secrets.token_hex(4)
        import_codes(product, text="\n".join(f"BENCH-{salt}-{i:08d}" for i in range(orders)),
                     actor="bench")
        price = price_for(shop, product)
        keys = []
        for i in range(accounts):
            # order j is placed with key j % accounts: exactly enough money for those
            per_account = orders // accounts + (1 if i < orders % accounts else 0)
            user = tenants.create_user_in_txn(shop, f"buyer{i}@bench.test", "customer")
            db.session.flush()
            keys.append(create_key_in_txn(user, "bench").plaintext)
            wallets.credit_wallet_in_txn(user, price * per_account, note="bench")
        db.session.commit()
    return keys


def _start(stack: Stack, args: list[str], env: dict, name: str,
           role: str | None = None) -> subprocess.Popen:
    log = open(os.path.join(stack.tmpdir, f"{name}.log"), "wb")  # noqa: SIM115
    stack.logs.append(log)
    if role:
        # libpq names the role's connections: the PostgreSQL CPU is split by it
        env = {**env, "PGAPPNAME": f"{APP_NAME}{role}"}
    proc = subprocess.Popen([sys.executable, "-m", "kameng.cli", *args], env=env,
                            stdout=log, stderr=subprocess.STDOUT)
    stack.procs.append(proc)
    return proc


def _wait_http(base: str, proc: subprocess.Popen, timeout: float = 60) -> None:
    import requests

    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc.poll() is not None:
            raise click.ClickException("the web server exited while starting (see its log)")
        try:
            if requests.get(base + "/healthz", timeout=1).status_code == 200:
                return
        except requests.RequestException:
            pass
        time.sleep(0.2)
    raise click.ClickException("the web server did not answer within a minute")


def _wait_workers(redis_url: str, count: int, timeout: float = 60) -> None:
    import redis
    from rq import Worker

    conn = redis.Redis.from_url(redis_url)
    try:
        deadline = time.time() + timeout
        while time.time() < deadline:
            if len(Worker.all(connection=conn)) >= count:
                return
            time.sleep(0.2)
    finally:
        conn.close()
    raise click.ClickException(f"{count} worker(s) did not register within a minute")


# ----- the two measurements ---------------------------------------------------------

def _noop_rate(redis_url: str, jobs: int, timeout: float) -> tuple[float, float]:
    """M no-op jobs, from the start of enqueueing to the end of the last one."""
    import redis
    from rq import Queue
    from rq.job import Job

    conn = redis.Redis.from_url(redis_url)
    try:
        queue = Queue("default", connection=conn)
        done_before = queue.finished_job_registry.count + queue.failed_job_registry.count
        started = time.time()
        ids = []
        for start in range(0, jobs, 500):
            batch = [Queue.prepare_data("kameng.benchmarks.orders.noop", result_ttl=120,
                                        failure_ttl=120)
                     for _ in range(start, min(jobs, start + 500))]
            ids += [j.id for j in queue.enqueue_many(batch)]
        # poll two counters (cheap), not the jobs: the poller must not slow the workers
        deadline = time.time() + timeout
        while (queue.finished_job_registry.count + queue.failed_job_registry.count
               < done_before + jobs):
            if time.time() > deadline:
                raise click.ClickException("the no-op jobs did not finish in time")
            time.sleep(0.05)
        fetched = [j for j in Job.fetch_many(ids, connection=conn) if j is not None]
        ended = max(_ts(j.ended_at) for j in fetched if j.ended_at is not None)
        for job in fetched:
            job.delete()
    finally:
        conn.close()
    return jobs / (ended - started), ended - started


def _drain(redis_url: str, timeout: float) -> None:
    """Let the workers finish what the orders queued after delivery (the delivery mails)."""
    import redis
    from rq import Queue

    from kameng.core.jobs import QUEUES

    conn = redis.Redis.from_url(redis_url)
    try:
        deadline = time.time() + timeout
        while time.time() < deadline and any(Queue(q, connection=conn).count for q in QUEUES):
            time.sleep(0.2)
    finally:
        conn.close()


def _ts(moment) -> float:
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


def _fire_orders(base: str, keys: list[str], orders: int, concurrency: int,
                 rate: float | None = None, started: float | None = None, first: int = 0):
    """N API orders; returns [(sent_at, status, order_no, key, refusals, answered_at)].

    Closed loop (``rate`` None): ``concurrency`` orders in flight, the next sent as
    soon as one is answered. Open loop: order i is due at ``started + i / rate``,
    whenever the earlier ones are answered, and ``sent_at`` is that due time — a
    slow answer delays no measurement (no coordinated omission).

    The orders are numbered from ``first`` (the warm-up's come before the measured
    ones): order i is placed with key ``i % len(keys)`` and Idempotency-Key ``bench-i``.

    An order refused with 503 (back-pressure) is sent again, with the same
    Idempotency-Key, after the Retry-After the API asked for, as a client would;
    its latency still runs from the first send, and ``refusals`` counts the 503s.

    A plain keep-alive ``http.client`` connection per thread: the client shares
    the machine with what it measures, so it should cost as little as it can.
    """
    import http.client
    import json
    from urllib.parse import urlsplit

    where = urlsplit(base)
    local = threading.local()
    started = time.time() if started is None else started

    def connection(fresh: bool = False):
        conn = getattr(local, "conn", None)
        if conn is None or fresh:
            if conn is not None:
                conn.close()
            conn = local.conn = http.client.HTTPConnection(where.hostname, where.port,
                                                           timeout=60)
        return conn

    def send(body, headers):
        for attempt in range(2):  # a kept-alive connection the server closed: once more
            try:
                conn = connection(fresh=attempt > 0)
                conn.request("POST", "/api/v1/orders", body=body, headers=headers)
                resp = conn.getresponse()
                return resp, resp.read()
            except (OSError, http.client.HTTPException) as err:
                if attempt:
                    return f"error: {type(err).__name__}", None
        raise AssertionError("unreachable")

    def one(i: int):
        key = keys[i % len(keys)]
        body = json.dumps({"sku": SKU, "quantity": 1})
        headers = {"Host": HOST, "Authorization": f"Bearer {key}",
                   "Idempotency-Key": f"bench-{i}", "Content-Type": "application/json"}
        if rate:
            sent = started + (i - first) / rate
            time.sleep(max(0.0, sent - time.time()))
        else:
            sent = time.time()
        refusals = 0
        while True:
            resp, raw = send(body, headers)
            if isinstance(resp, str):
                return sent, resp, None, key, refusals, time.time()
            if resp.status != 503 or refusals >= MAX_REFUSALS:
                break
            refusals += 1
            time.sleep(float(resp.getheader("Retry-After") or 1))
        answer = json.loads(raw) if resp.getheader("Content-Type", "").endswith("json") \
            else {}
        return sent, resp.status, answer.get("order_no"), key, refusals, time.time()

    with ThreadPoolExecutor(concurrency) as pool:
        return list(pool.map(one, range(first, first + orders)))


def _wait_delivered(app, expected: int, timeout: float) -> dict[str, float]:
    """Poll the database until ``expected`` orders are delivered; order_no → delivered_at."""
    from sqlalchemy import func, select

    from kameng.core.extensions import db
    from kameng.core.scoping import all_tenants
    from kameng.sales.models import Order

    deadline = time.time() + timeout
    with app.app_context(), all_tenants():
        while True:
            counts = dict(db.session.execute(
                select(Order.status, func.count()).group_by(Order.status)).all())
            db.session.commit()
            settled = sum(counts.get(s, 0) for s in ("delivered", "failed", "refunded"))
            if settled >= expected or time.time() > deadline:
                break
            time.sleep(0.1)
        rows = db.session.execute(select(Order.order_no, Order.delivered_at)
                                  .where(Order.status == "delivered")).all()
    if len(rows) < expected:
        raise click.ClickException(f"only {len(rows)} of {expected} orders were delivered "
                                   f"(statuses {counts})")
    return {no: _ts(at) for no, at in rows}


def _codes_by_order(base: str, placed: list, concurrency: int) -> dict[str, list[str]]:
    import requests

    local = threading.local()

    def one(item):
        _sent, _status, order_no, key, *_rest = item
        session = getattr(local, "session", None)
        if session is None:
            session = local.session = requests.Session()
        resp = session.get(f"{base}/api/v1/orders/{order_no}", timeout=60,
                           headers={"Host": HOST, "Authorization": f"Bearer {key}"})
        return order_no, resp.json().get("codes", []) if resp.status_code == 200 else []

    with ThreadPoolExecutor(concurrency) as pool:
        return dict(pool.map(one, placed))


def _books(app) -> tuple[bool, int]:
    """The ledger checks out, and how many wallets are not at exactly zero."""
    from sqlalchemy import func, select

    from kameng.billing.ledger.models import Account
    from kameng.billing.ledger.services import check_ledger
    from kameng.core.extensions import db
    from kameng.core.scoping import all_tenants

    with app.app_context(), all_tenants():
        ok = check_ledger().ok
        nonzero = db.session.scalar(select(func.count()).select_from(Account).where(
            Account.kind == "wallet", Account.balance != 0))
        db.session.remove()
        for engine in db.engines.values():
            engine.dispose()
    return ok, nonzero


def _cpu_split(app, roles: dict[str, list[int]]) -> dict[str, float]:
    """CPU seconds used so far by each role's processes (with their children), the
    bench database's PostgreSQL backends (in all, and those serving each role) and this
    process; {} without /proc."""
    if not os.path.exists("/proc/self/stat"):
        return {}
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        stat = _stat(int(entry)) if entry.isdigit() else None
        if stat:
            children.setdefault(int(stat[1]), []).append(int(entry))

    def tree(root: int) -> list[int]:
        found = [root]
        for pid in found:  # grows while it is walked: breadth first
            found.extend(children.get(pid, ()))
        return found

    split = {role: sum(_cpu_seconds(p) for root in pids for p in tree(root))
             for role, pids in roles.items()}
    from sqlalchemy import text

    from kameng.core.extensions import db

    with app.app_context():
        local = db.engine.url.host in (None, "", "127.0.0.1", "localhost", "::1")
        backends = db.session.execute(text(
            "SELECT pid, application_name FROM pg_stat_activity "
            "WHERE datname = current_database()")).all()
        db.session.remove()
    if local:  # a server elsewhere: its process ids mean nothing here
        split["postgres"] = 0.0
        for pid, app_name in backends:
            seconds = _cpu_seconds(pid)
            split["postgres"] += seconds
            role = (app_name or "").removeprefix(APP_NAME)
            if app_name and app_name.startswith(APP_NAME) and role in roles:
                split[f"pg:{role}"] = split.get(f"pg:{role}", 0.0) + seconds
    split["bench client"] = time.process_time()
    return split


def _stat(pid: int) -> list[str] | None:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None


def _cpu_seconds(pid: int) -> float:
    stat = _stat(pid)
    return (int(stat[11]) + int(stat[12])) / os.sysconf("SC_CLK_TCK") if stat else 0.0


def _percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(pct / 100 * len(ordered)) - 1))]


# ----- the run ------------------------------------------------------------------------

def _spread(seconds: list[float]) -> dict[str, float] | None:
    if not seconds:
        return None
    return {"p50": 1000 * statistics.median(seconds), "p99": 1000 * _percentile(seconds, 99)}


def run(db_url: str, redis_url: str, *, orders: int = 2000, concurrency: int = 32,
        workers: int = 2, accounts: int | None = None, noop_jobs: int | None = None,
        web_workers: int = 2, web_threads: int = 4, rate: float | None = None,
        max_backlog: float | None = None, warmup: float = 0.0, echo=click.echo) -> dict:
    from kameng.webapp import create_app

    if not (db_url or "").startswith(("postgres://", "postgresql")):
        raise click.ClickException("bench orders needs PostgreSQL and Redis: set "
                                   "KAMENG_DATABASE_URL=postgresql://… and KAMENG_REDIS_URL="
                                   "redis://… (the embedded defaults are not measured)")
    if not redis_url or redis_url.startswith("unix://"):
        raise click.ClickException("bench orders needs a Redis server: set KAMENG_REDIS_URL="
                                   "redis://host:port/db (a database the bench may use)")
    _check_redis_is_free(redis_url)
    redis_before = RedisFootprint(redis_url)
    accounts = accounts or max(1, min(orders, concurrency * 2))
    # the warm-up: as many orders as the run sends in ``warmup`` seconds (at the rate, or
    # at a guess of 100/s in a closed loop), placed and delivered before the measurement
    warm = math.ceil(warmup * (rate or 100)) if warmup else 0
    noop_jobs = noop_jobs or orders
    stack = Stack(tmpdir=tempfile.mkdtemp(prefix="kameng-bench-orders-"))
    app = None
    try:
        stack.admin_url = db_url
        name = f"kameng_bench_{secrets.token_hex(4)}"
        bench_url = create_database(db_url, name)
        stack.db_name = name
        config = {
            "KAMENG_DATABASE_URL": bench_url, "KAMENG_REDIS_URL": redis_url,
            "KAMENG_INSTANCE_PATH": os.path.join(stack.tmpdir, "instance"),
            "KAMENG_SECRET_KEY": secrets.token_urlsafe(32),
            "KAMENG_BASE_DOMAIN": "localhost",
        }
        if max_backlog is not None:
            config["KAMENG_MAX_FULFILMENT_BACKLOG_SECONDS"] = str(max_backlog)
        app = create_app({k[len("KAMENG_"):]: v for k, v in config.items()})
        config["KAMENG_CODE_KEYS"] = app.config["CODE_KEYS"]
        echo(f"seeding {warm + orders} codes and {accounts} funded API accounts in {name} …",
             err=True)
        keys = seed(app, warm + orders, accounts)

        env = {k: v for k, v in os.environ.items()
               if not k.startswith("KAMENG_")}  # no SMTP, no other database: only ours
        env.update(config)
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        web = _start(stack, ["serve", "--host", "127.0.0.1", "--port", str(port),
                             "--workers", str(web_workers), "--threads", str(web_threads)],
                     env, "web", role="web")
        rq_workers = [_start(stack, ["worker"], env, f"worker{i}", role="workers")
                      for i in range(workers)]
        _wait_http(base, web)
        _wait_workers(redis_url, workers)

        echo(f"no-op jobs: {noop_jobs} on {workers} SimpleWorker(s) …", err=True)
        noop_rate, noop_s = _noop_rate(redis_url, noop_jobs, timeout=120 + noop_jobs / 10)

        backlog_limit = float(app.config.get("MAX_FULFILMENT_BACKLOG_SECONDS") or 0)
        if rate:
            concurrency = max(concurrency, int(rate * 2))
        warmed = {}
        if warm:
            echo(f"warm-up: {warm} orders, the same way, not measured …", err=True)
            warm_started = time.time()
            warm_placed = _fire_orders(base, keys, warm, concurrency, rate=rate,
                                       started=warm_started)
            warm_ok = [p for p in warm_placed if p[1] == 201 and p[2]]
            warm_delivered = _wait_delivered(app, len(warm_ok), timeout=120 + warm / 5)
            warm_latencies = [warm_delivered[p[2]] - p[0] for p in warm_ok
                              if p[2] in warm_delivered]
            warmed = {"orders": warm, "accepted": len(warm_ok), "placed": warm_ok,
                      "latency_ms": _spread(warm_latencies)}
        if rate:
            # enough threads that a slow answer never holds up the next order's send
            echo(f"orders: {orders} through the API, open loop at {rate:g}/s …", err=True)
        else:
            echo(f"orders: {orders} through the API, {concurrency} at a time …", err=True)
        roles = {"web": [web.pid], "workers": [w.pid for w in rq_workers]}
        cpu_before = _cpu_split(app, roles)
        started = time.time()
        placed = _fire_orders(base, keys, orders, concurrency, rate=rate, started=started,
                              first=warm)
        answered = time.time()
        refused = Counter(str(s) for _t, s, no, *_rest in placed if s != 201 or not no)
        ok = [p for p in placed if p[1] == 201 and p[2]]
        backpressure = {"answers_503": sum(p[4] for p in placed),
                        "orders_refused_at_least_once": sum(1 for p in placed if p[4]),
                        "limit_seconds": backlog_limit}
        delivered = _wait_delivered(app, len(ok) + warmed.get("accepted", 0),
                                    timeout=120 + orders / 5)
        measured = {p[2] for p in ok}
        delivered = {no: at for no, at in delivered.items() if no in measured}
        finished = max(delivered.values()) if delivered else answered
        cpu_used = {role: seconds - cpu_before.get(role, 0.0)
                    for role, seconds in _cpu_split(app, roles).items()}
        latencies = [delivered[no] - sent for sent, _s, no, *_rest in ok if no in delivered]
        # where an order's time went: the API's answer, then the queue and the workers
        answering = [p[5] - p[0] for p in ok]
        fulfilling = [delivered[p[2]] - p[5] for p in ok if p[2] in delivered]

        # every code handed out, the warm-up's too, for the double-sold count
        codes = _codes_by_order(base, ok + warmed.pop("placed", []), concurrency)
        seen = Counter(code for order_codes in codes.values() for code in set(order_codes))
        double_sold = sum(1 for n in seen.values() if n > 1)
        short = sum(1 for order_codes in codes.values() if len(order_codes) != 1)
        ledger_ok, nonzero_wallets = _books(app)
        _drain(redis_url, timeout=30 + orders / 50)
        # the machine's speed drifts (a VM's neighbours): the denominator measured on
        # both sides of the orders, the ratio taken to their mean
        echo(f"no-op jobs again: {noop_jobs} …", err=True)
        noop_after, _after_s = _noop_rate(redis_url, noop_jobs, timeout=120 + noop_jobs / 10)
    finally:
        if app is not None:
            from kameng.core.extensions import db

            with app.app_context():
                db.session.remove()
                for engine in db.engines.values():
                    engine.dispose()
        stack.stop(echo)
        # after the workers stopped: queued jobs name orders of the dropped database, the
        # bench shops' caches carry its tenant ids; the Redis held none of them before
        redis_before.clean()

    elapsed = finished - started
    stats = {
        "orders": orders, "accepted": len(ok), "refused": dict(refused),
        "concurrency": concurrency, "workers": workers, "rate": rate, "warmup": warmed,
        "backpressure": backpressure,
        "orders_per_second": len(ok) / elapsed if elapsed > 0 else 0.0,
        "requests_per_second": orders / (answered - started),
        "p50_latency_ms": 1000 * statistics.median(latencies) if latencies else None,
        "p99_latency_ms": 1000 * _percentile(latencies, 99) if latencies else None,
        "answer_ms": _spread(answering), "answer_to_delivered_ms": _spread(fulfilling),
        "double_sold": double_sold, "orders_without_their_code": short,
        "noop_jobs": noop_jobs, "noop_jobs_per_second": (noop_rate + noop_after) / 2,
        "noop_before": noop_rate, "noop_after": noop_after, "noop_seconds": noop_s,
        "ledger_ok": ledger_ok, "wallets_not_zero": nonzero_wallets, "database": name,
        "cpu_ms_per_order": {role: 1000 * seconds / max(1, len(ok))
                             for role, seconds in cpu_used.items()},
    }
    stats["ratio_to_noop"] = stats["orders_per_second"] / stats["noop_jobs_per_second"]
    _report(stats, echo)
    return stats


def _report(s: dict, echo) -> None:
    echo(f"orders       {s['accepted']:,} of {s['orders']:,} accepted"
         + (f", refused {s['refused']}" if s["refused"] else ""))
    echo(f"end to end   {s['orders_per_second']:8.1f} orders/s  (order sent → code delivered; "
         f"API alone {s['requests_per_second']:.1f} req/s)")
    mode = (f"open loop, {s['rate']:g} orders/s on a schedule (latency from each order's "
            "due time)" if s["rate"] else f"closed loop, {s['concurrency']} in flight")
    echo(f"mode         {mode}")
    warm = s.get("warmup") or {}
    if warm.get("orders"):
        lat = warm.get("latency_ms") or {"p50": float("nan"), "p99": float("nan")}
        echo(f"warm-up      {warm['orders']:,} orders first, the same way, not counted below "
             f"(freshly started processes: p50 {lat['p50']:.0f} ms, p99 {lat['p99']:.0f} ms)")
    if s["p50_latency_ms"] is not None:
        echo(f"latency      p50 {s['p50_latency_ms']:.0f} ms, p99 {s['p99_latency_ms']:.0f} ms "
             "(order sent → delivered)")
    if s["answer_ms"] and s["answer_to_delivered_ms"]:
        api, rest = s["answer_ms"], s["answer_to_delivered_ms"]
        echo(f"             of which the API's answer p50 {api['p50']:.0f} ms, p99 "
             f"{api['p99']:.0f} ms; answer → delivered p50 {rest['p50']:.0f} ms, p99 "
             f"{rest['p99']:.0f} ms")
    bp = s["backpressure"]
    limit = (f"503 + Retry-After beyond {bp['limit_seconds']:g} s of fulfilment work"
             if bp["limit_seconds"] else "none (the API accepts whatever comes)")
    echo(f"back-pressure {limit}: {bp['answers_503']} answers 503, "
         f"{bp['orders_refused_at_least_once']} orders refused at least once (sent again "
         "after Retry-After; their latency counts from the first send)")
    echo(f"double-sold  {s['double_sold']} (must be 0); orders without exactly their code: "
         f"{s['orders_without_their_code']}")
    echo(f"RQ no-op     {s['noop_jobs_per_second']:8.1f} jobs/s with {s['workers']} "
         f"SimpleWorker(s) (the mean of {s['noop_before']:.1f} before the orders and "
         f"{s['noop_after']:.1f} after)")
    # a peer's rate is only comparable when measured side by side in the same run
    # (docs/peers.md), so no peer figure is printed here
    echo(f"ratio        {s['ratio_to_noop']:.0%} of the no-op job rate (target >= 40%)")
    echo(f"books        ledger {'ok' if s['ledger_ok'] else 'NOT OK'}, wallets not at zero: "
         f"{s['wallets_not_zero']}")
    cpu = dict(s["cpu_ms_per_order"])
    if cpu:
        parts = {role: ms for role, ms in cpu.items() if not role.startswith("pg:")}
        echo("cpu/order    " + ", ".join(f"{role} {ms:.1f} ms" for role, ms in parts.items())
             + "  (where the 2 cores went, order sent → delivered)")
        served = [f"{role[3:]} {ms:.1f} ms" for role, ms in cpu.items() if role.startswith("pg:")]
        if served:
            echo("             postgres serving " + ", ".join(served)
                 + f"; all told (web + workers + postgres) "
                 f"{sum(cpu.get(r, 0.0) for r in ('web', 'workers', 'postgres')):.1f} ms")


@click.command("orders")
@click.option("--orders", default=2000, show_default=True, type=click.IntRange(1),
              help="API orders to place.")
@click.option("--concurrency", default=32, show_default=True, type=click.IntRange(1),
              help="Orders in flight at once.")
@click.option("--workers", default=2, show_default=True, type=click.IntRange(1),
              help="`kameng worker` processes (SimpleWorker).")
@click.option("--accounts", type=click.IntRange(1), help="API accounts (default 2 × concurrency).")
@click.option("--noop-jobs", type=click.IntRange(1), help="No-op jobs (default: --orders).")
@click.option("--web-workers", default=2, show_default=True, type=click.IntRange(1))
@click.option("--web-threads", default=4, show_default=True, type=click.IntRange(1),
              help="Threads per gunicorn worker (kameng serve's default).")
@click.option("--rate", type=click.FloatRange(min=0.1),
              help="Open loop: send R orders/s on a fixed schedule (latency from each "
                   "order's due time) instead of --concurrency in flight.")
@click.option("--warmup", default=3.0, show_default=True, type=click.FloatRange(min=0),
              help="Seconds of orders (at --rate, or ~100/s) placed and delivered first and "
                   "left out of the figures: the processes have just started (0: none).")
@click.option("--max-backlog", type=click.FloatRange(min=0),
              help="KAMENG_MAX_FULFILMENT_BACKLOG_SECONDS for the served app (default: "
                   "the setting's default; 0: no back-pressure).")
def bench_orders(orders, concurrency, workers, accounts, noop_jobs, web_workers, web_threads,
                 rate, warmup, max_backlog):
    """N concurrent API orders through payment and fulfilment vs RQ's no-op job rate."""
    db_url = os.environ.get("KAMENG_DATABASE_URL", "")
    redis_url = os.environ.get("KAMENG_REDIS_URL", "")
    stats = run(db_url, redis_url, orders=orders, concurrency=concurrency, workers=workers,
                accounts=accounts, noop_jobs=noop_jobs, web_workers=web_workers,
                web_threads=web_threads, rate=rate, max_backlog=max_backlog, warmup=warmup)
    if stats["double_sold"] or stats["orders_without_their_code"] or not stats["ledger_ok"]:
        raise click.ClickException("the run sold a code twice or lost one, or the books "
                                   "do not balance")
