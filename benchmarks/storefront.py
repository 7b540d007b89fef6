"""``kameng bench storefront``: the product list and product pages under gunicorn vs a
bare route.

Builds a depth-2 shop (master → agent → shop) with 50 products in a fresh
PostgreSQL database next to the configured one, serves the app with gunicorn
(``kameng.benchmarks.server``: the product app plus a bare "hello" route),
loads the hello route, the shop's home page (its product list) and a product
page on the same server, and prints requests/second, p50/p99 latency and each
page's ratio to the bare route.

``--no-page-cache`` starts the server with the 5-second anonymous page cache off
(``KAMENG_PAGE_CACHE_SECONDS=0``): every request renders its page, as for a
signed-in buyer or any visitor with a session (the storefront's fragments —
``KAMENG_FRAGMENT_CACHE_SECONDS`` — stay on: they serve every visitor). The
product page is never page-cached (its buy form carries the visitor's CSRF
token), so it is measured the same way in both modes. Load comes from ``wrk`` when installed (``apt-get install wrk``),
else from a small multi-process Python client (slower: it competes for the
same two cores, so the ratio is the number to compare). The database is
dropped and the Redis keys the run added are deleted at the end.
"""
from __future__ import annotations

import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor

import click
from flask import current_app
from flask.cli import with_appcontext
from sqlalchemy.engine import make_url

from kameng.benchmarks.common import RedisFootprint, create_database, drop_database, free_port
from kameng.benchmarks.server import HELLO_PATH

HOST = "shop.bench.localhost"
PRODUCT_PATH = "/p/BENCH-2-3"


def _maintenance_url(base_url: str) -> str:
    """The server's ``postgres`` database: CREATE/DROP DATABASE connect there."""
    return make_url(base_url).set(database="postgres").render_as_string(hide_password=False)


def _seed(db_url: str, redis_url: str, instance: str) -> None:
    from kameng.core.extensions import db
    from kameng.core.scoping import ALL, set_scope
    from kameng.shop.catalog import services as catalog
    from kameng.shop.pricing import services as pricing
    from kameng.tenants import services as tenants
    from kameng.webapp import create_app

    app = create_app({"DATABASE_URL": db_url, "REDIS_URL": redis_url,
                      "INSTANCE_PATH": instance})
    set_scope(ALL)
    with app.app_context():
        db.create_all()
        tenants.create_tenant("hq", "Bench HQ", domains=["hq.bench.localhost"])
        agent = tenants.create_tenant("agent", "Bench Agent", "hq",
                                      domains=["agent.bench.localhost"], theme="classic")
        shop = tenants.create_tenant("shop", "Bench Shop", "agent", domains=[HOST])
        for c in range(5):
            category = catalog.create_category(f"分类 {c}", name_en=f"Category {c}")
            for i in range(10):
                catalog.create_product(
                    sku=f"BENCH-{c}-{i}", name=f"游戏点卡 {c}-{i}", name_en=f"Game card {c}-{i}",
                    kind="card", supplier_cost=900 + i, wholesale_price=1000 + i,
                    retail_price=1200 + i, category=category)
        pricing.set_markup(agent, kind="percent", value=500, level="shop", wholesale=True)
        pricing.set_markup(shop, kind="percent", value=800, level="shop")
        db.session.remove()
        db.engine.dispose()


def _wrk(url: str, host: str, seconds: int, connections: int) -> dict:
    out = subprocess.run(["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--latency",
                          "-H", f"Host: {host}", url], capture_output=True, text=True,
                         check=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))

    def pct(label):
        m = re.search(rf"\s{label}%\s+([\d.]+)(us|ms|s)", out)
        value, unit = float(m.group(1)), m.group(2)
        return value / 1000 if unit == "us" else value * 1000 if unit == "s" else value

    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return {"rps": rps, "p50_ms": pct("50"), "p99_ms": pct("99"),
            "errors": int(errors.group(1)) if errors else 0, "tool": "wrk"}


def _py_worker(args) -> list[float]:
    import http.client

    port, host, path, deadline = args
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    latencies = []
    while time.time() < deadline:
        start = time.perf_counter()
        conn.request("GET", path, headers={"Host": host})
        resp = conn.getresponse()
        resp.read()
        if resp.status != 200:
            raise RuntimeError(f"HTTP {resp.status}")
        latencies.append((time.perf_counter() - start) * 1000)
    return latencies


def _python_load(port: int, host: str, path: str, seconds: int, connections: int) -> dict:
    deadline = time.time() + seconds
    with ProcessPoolExecutor(max_workers=connections) as pool:
        results = list(pool.map(_py_worker, [(port, host, path, deadline)] * connections))
    latencies = sorted(x for r in results for x in r)
    q = statistics.quantiles(latencies, n=100)
    return {"rps": len(latencies) / seconds, "p50_ms": q[49], "p99_ms": q[98], "errors": 0,
            "tool": "python"}


def _load(port, host, path, seconds, connections) -> dict:
    if shutil.which("wrk"):
        return _wrk(f"http://127.0.0.1:{port}{path}", host, seconds, connections)
    return _python_load(port, host, path, seconds, connections)


def run(seconds: int = 10, connections: int = 16, workers: int = 2, threads: int = 1,
        echo=click.echo, page_cache: bool = True) -> dict:
    base = current_app.config["SQLALCHEMY_DATABASE_URI"]
    if not base.startswith("postgresql"):
        raise click.ClickException("bench storefront needs PostgreSQL: set "
                                   "KAMENG_DATABASE_URL=postgresql+psycopg://…")
    from kameng.core.extensions import redis_conn

    redis_url = redis_conn.url()
    redis_before = RedisFootprint(redis_url)
    instance = tempfile.mkdtemp(prefix="kameng-bench-sf-")
    admin_url = _maintenance_url(base)
    name = f"{make_url(base).database}_bench_storefront"
    db_url = create_database(admin_url, name, replace=True)
    port = free_port()
    server = None
    try:
        echo(f"seeding 50 products, depth-2 shop, database {make_url(db_url).database} …")
        _seed(db_url, redis_url, instance)
        env = {**os.environ, "KAMENG_DATABASE_URL": db_url, "KAMENG_REDIS_URL": redis_url,
               "KAMENG_INSTANCE_PATH": instance}
        if not page_cache:
            env["KAMENG_PAGE_CACHE_SECONDS"] = "0"
        server = subprocess.Popen(
            [sys.executable, "-m", "kameng.benchmarks.server", "--port", str(port),
             "--workers", str(workers), "--threads", str(threads)],
            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            start_new_session=True)
        _wait_up(port)
        page = _check(port, HOST, "/")
        if "Bench Shop" not in page or "4-9" not in page:
            raise click.ClickException("the bench shop's product list did not render")
        if "BENCH-2-3" not in _check(port, HOST, PRODUCT_PATH):
            raise click.ClickException("the bench shop's product page did not render")
        _load(port, HOST, "/", 2, connections)            # warm caches and workers
        _load(port, HOST, PRODUCT_PATH, 2, connections)
        _load(port, HOST, HELLO_PATH, 2, connections)
        hello = _load(port, HOST, HELLO_PATH, seconds, connections)
        shop = _load(port, HOST, "/", seconds, connections)
        product = _load(port, HOST, PRODUCT_PATH, seconds, connections)
    finally:
        if server is not None:
            os.killpg(server.pid, signal.SIGTERM)
            server.wait(timeout=30)
        drop_database(admin_url, name)
        shutil.rmtree(instance, ignore_errors=True)
        redis_before.clean()  # after the server stopped: nothing writes any more
    ratio = shop["rps"] / hello["rps"] if hello["rps"] else 0.0
    product_ratio = product["rps"] / hello["rps"] if hello["rps"] else 0.0
    mode = "on" if page_cache else "off (--no-page-cache)"
    echo(f"load: {shop['tool']}, {connections} connections, {seconds}s each; gunicorn "
         f"{workers} worker(s) × {threads} thread(s); anonymous page cache {mode}")
    echo(f"bare hello route : {hello['rps']:8.1f} req/s  p50 {hello['p50_ms']:.2f} ms  "
         f"p99 {hello['p99_ms']:.2f} ms")
    for label, stats, share in (("product list page", shop, ratio),
                                ("product page     ", product, product_ratio)):
        echo(f"{label}: {stats['rps']:8.1f} req/s  p50 {stats['p50_ms']:.2f} ms  "
             f"p99 {stats['p99_ms']:.2f} ms  {share:6.1%} of bare  "
             f"(non-2xx: {stats['errors']})")
    # peers are compared only on figures measured in the same run (docs/peers.md)
    target = "35%" if page_cache else "25%"
    echo(f"ratio to bare route: {ratio:.1%} (list page; target ≥ {target}), "
         f"product page {product_ratio:.1%}")
    return {"hello": hello, "shop": shop, "ratio": ratio, "product": product,
            "product_ratio": product_ratio, "page_cache": page_cache}


def _wait_up(port: int, timeout: float = 60) -> None:
    import urllib.request

    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2)
            return
        except OSError:
            time.sleep(0.3)
    raise click.ClickException("the server did not come up")


def _check(port: int, host: str, path: str) -> str:
    import urllib.request

    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", headers={"Host": host})
    with urllib.request.urlopen(req, timeout=10) as resp:
        return resp.read().decode()


@click.command("storefront")
@with_appcontext
@click.option("--seconds", default=10, show_default=True, type=click.IntRange(1, 600))
@click.option("--connections", default=16, show_default=True, type=click.IntRange(1, 256))
@click.option("--workers", "nworkers", default=2, show_default=True, type=click.IntRange(1, 32))
@click.option("--threads", default=1, show_default=True, type=click.IntRange(1, 64))
@click.option("--no-page-cache", "no_page_cache", is_flag=True,
              help="Serve with the anonymous page cache off (KAMENG_PAGE_CACHE_SECONDS=0): "
                   "every request renders, as a signed-in buyer's does.")
def bench_storefront(seconds, connections, nworkers, threads, no_page_cache):
    """Product list and product page (50 products, depth-2 shop, PostgreSQL) vs a bare
    route."""
    run(seconds, connections, nworkers, threads, page_cache=not no_page_cache)
