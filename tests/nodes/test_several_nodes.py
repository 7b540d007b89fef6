"""Several nodes on one PostgreSQL and one Redis: two ``kameng serve`` processes (each with
its own host and price caches), ``kameng worker``s and ``kameng scheduler``s as real
processes, behind an nginx that round-robins between the web nodes.

- A theme, price or domain change made through one node is served by the other within a
  second (each is polled on the other node directly, for at most a second).
- One web node and one worker are SIGKILLed in the middle of a 30-second API order load
  through the proxy: every order the clients placed ends delivered, none twice (no code in
  two orders, no wallet charged twice), and ``kameng ledger check`` passes.
- Two schedulers run side by side during that load: each periodic job is enqueued once
  per period.

Select them with ``-m nodes``; they skip (saying why) where nginx is not installed
(``.ci/run`` installs Debian's). ``-s`` prints the processes' memory, idle and under load.
"""
from __future__ import annotations

import http.client
import io
import json
import math
import os
import re
import subprocess
import sys
import threading
import time
from collections import Counter

import pytest
import requests
from PIL import Image
from sqlalchemy import select

from kameng.billing import wallets
from kameng.core.extensions import db
from kameng.core.money import format_money
from kameng.sales import services as orders
from kameng.sales.models import Order
from kameng.shop.pricing.services import price_for
from kameng.shop.stock.models import CardCode
from kameng.tenants.models import Domain
from kameng.workers.schedule import PERIODIC
from tests.api.helpers import api_account
from tests.helpers import PASSWORD
from tests.nodes.cluster import Cluster, nginx_binary
from tests.orders.helpers import card_product

pytestmark = [
    pytest.mark.nodes,
    pytest.mark.skipif(nginx_binary() is None,
                       reason="nginx is not installed (the reverse proxy of the several-nodes "
                              "tests; Debian: apt-get install nginx, as .ci/run does)"),
]

SHOP = "star.localhost"


@pytest.fixture
def cluster(app, backend, pg, redis_url, redis_client, tmp_path, dns_server):
    if backend != "postgresql":
        pytest.skip("several nodes share one PostgreSQL")
    env = {k: v for k, v in os.environ.items() if not k.startswith("KAMENG_")}
    env.update({
        "KAMENG_DATABASE_URL": pg.url,
        "KAMENG_REDIS_URL": redis_url,
        # the key ring and the secret key: the same on every node, as a deployment's are
        "KAMENG_INSTANCE_PATH": app.config["INSTANCE_PATH"],
        "KAMENG_SECRET_KEY": app.config["SECRET_KEY"],
        "KAMENG_BASE_DOMAIN": "localhost",
        "KAMENG_DEFAULT_LOCALE": "en",
        "KAMENG_ARGON2_PROFILE": "CHEAPEST",
        "KAMENG_TRUSTED_PROXIES": "1",
        "KAMENG_DNS_NAMESERVERS": dns_server.nameservers,
        "KAMENG_DNS_TIMEOUT": "2",
        # a killed worker's orders come back within seconds, not the production minute
        "KAMENG_OUTBOX_GRACE_SECONDS": "2",
        "KAMENG_REDELIVER_AFTER_SECONDS": "5",
    })
    db.session.commit()  # the test's data is visible to the processes
    nodes = Cluster(tmp_path, env)
    yield nodes
    nodes.stop()
    db.session.rollback()


def within_a_second(check, what: str) -> float:
    """Poll ``check`` for at most a second; how long it took."""
    started = time.monotonic()
    while True:
        if check():
            return time.monotonic() - started
        if time.monotonic() - started > 1.0:
            raise AssertionError(f"{what}: not served by the other node within a second")
        time.sleep(0.05)


def get(node, path: str = "/", host: str = SHOP) -> requests.Response:
    return requests.get(node.base + path, headers={"Host": host}, timeout=10)


class BackOffice:
    """A signed-in owner talking to one node only, forms with their CSRF tokens."""

    def __init__(self, node, host: str, email: str):
        self.node, self.host = node, host
        self.session = requests.Session()
        resp = self.post("/login", {"email": email, "password": PASSWORD}, token_from="/login")
        assert resp.status_code == 302, resp.text[-2000:]

    def token(self, path: str) -> str:
        page = self.session.get(self.node.base + path, headers={"Host": self.host}, timeout=10)
        found = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page.text)
        assert found, f"no CSRF token on {path}"
        return found.group(1)

    def post(self, path: str, data: dict, token_from: str, files=None) -> requests.Response:
        return self.session.post(self.node.base + path, headers={"Host": self.host},
                                 data={**data, "csrf_token": self.token(token_from)},
                                 files=files, allow_redirects=False, timeout=30)


def shown_price(app, tenant_id: int, product_id: int) -> str:
    """The shop's price as its pages show it, computed afresh (the test's own app context
    memoises prices in ``g``)."""
    from kameng.shop.catalog.models import Product
    from kameng.tenants.models import Tenant

    with app.app_context():
        price = price_for(db.session.get(Tenant, tenant_id), db.session.get(Product, product_id))
        db.session.remove()
    return format_money(price, "CNY", "zh_CN")


def upstreams_seen(cluster) -> Counter:
    log = (cluster.tmp / "nginx-access.log").read_text()
    return Counter(line.split()[0] for line in log.splitlines() if line)


# ----- a change through one node, served by the other -----------------------------------------

def test_a_change_through_one_node_is_served_by_the_other_within_a_second(app, tree, cluster,
                                                                          dns_server):
    product = card_product("NODE-CARD", codes=3)
    a, b = cluster.web("web-a"), cluster.web("web-b")
    proxy = cluster.proxy([a, b])
    for proc in (a, b, proxy):
        cluster.wait_http(proc)

    # the proxy round-robins: both nodes answer the shop
    for _ in range(6):
        assert get(proxy).status_code == 200
    seen = upstreams_seen(cluster)
    assert {f"127.0.0.1:{a.port}", f"127.0.0.1:{b.port}"} <= set(seen), seen

    owner = BackOffice(a, SHOP, "owner@star.test")
    took = {}

    # a theme published on A: B's anonymous page (page cache on, 5 s) shows it
    banner = "NODES-BANNER-1"
    for _ in range(2):  # B has the page in its caches
        assert banner not in get(b).text
    resp = owner.post("/admin/appearance", {"theme": "classic", "banner_text": banner,
                                            "action": "publish"}, token_from="/admin/appearance")
    assert resp.status_code == 302, resp.text[-2000:]
    took["theme"] = within_a_second(lambda: banner in get(b).text, "the published theme")

    # a logo uploaded through A is shown and served by B: the media folder is the one
    # every web node mounts (here both nodes' instance folder; docs/deploy.md)
    picture = io.BytesIO()
    Image.new("RGB", (120, 60), (10, 120, 200)).save(picture, "PNG")
    resp = owner.post("/admin/appearance", {"action": "publish"}, token_from="/admin/appearance",
                      files={"logo": ("logo.png", picture.getvalue(), "image/png")})
    assert resp.status_code == 302, resp.text[-2000:]

    def logo_on_b() -> bool:
        found = re.search(r'src="(/media/[0-9a-f]{32}\.webp)"', get(b).text)
        return bool(found) and get(b, found.group(1)).headers.get("Content-Type") == "image/webp"

    took["logo"] = within_a_second(logo_on_b, "the uploaded logo")

    # a markup saved on A: B's list page (in the shop's language) shows the new price
    before = shown_price(app, tree.star.id, product.id)
    assert before in get(b).text
    resp = owner.post("/admin/markup", {"target": f"product:{product.id}", "purpose": "retail",
                                        "kind": "percent", "value": "23.1", "rounding": "x9",
                                        "action": "save"}, token_from="/admin/markup")
    assert resp.status_code == 302, resp.text[-2000:]
    after = shown_price(app, tree.star.id, product.id)
    assert after != before
    took["price"] = within_a_second(lambda: after in get(b).text, "the new price")

    # a custom domain added and verified on A serves on B; removed on A, B stops serving it
    host = "shop.nodes.example"
    resp = owner.post("/admin/domains", {"hostname": host}, token_from="/admin/domains")
    assert resp.status_code == 302, resp.text[-2000:]
    for _ in range(2):  # B remembers that the host is nobody's
        assert get(b, host=host).status_code == 404
    domain = db.session.scalar(select(Domain).where(Domain.hostname == host))
    dns_server.set_txt(f"_kameng.{host}", domain.token)
    resp = owner.post(f"/admin/domains/{domain.id}/verify", {}, token_from="/admin/domains")
    assert resp.status_code == 302, resp.text[-2000:]
    took["domain verified"] = within_a_second(
        lambda: get(b, host=host).status_code == 200, "the verified domain")
    assert "Star Cards" in get(b, host=host).text
    resp = owner.post(f"/admin/domains/{domain.id}/remove", {}, token_from="/admin/domains")
    assert resp.status_code == 302, resp.text[-2000:]
    took["domain removed"] = within_a_second(
        lambda: get(b, host=host).status_code == 404, "the removed domain")
    print("\nchange on A → served by B after: "
          + ", ".join(f"{k} {1000 * v:.0f} ms" for k, v in took.items()))


# ----- nodes killed under load --------------------------------------------------------------------

LOAD_SECONDS = 30
KILL_AT = 12
BUYERS = 6
RATE_PER_BUYER = 3  # orders per second at most: a modest load for two shared cores


class Buyer(threading.Thread):
    """Places balance-paid API orders through the proxy, one at a time, until told to stop.

    A 502/503/504 (the node died with the request; the API pushing back), a 429 or a
    broken connection is retried with the same Idempotency-Key, as a client should:
    at most one order per key, whatever the retries."""

    def __init__(self, index: int, key: str, proxy_port: int, stop: threading.Event):
        super().__init__(daemon=True)
        self.index, self.key, self.port, self.stop = index, key, proxy_port, stop
        self.placed: list[tuple[str, str, float]] = []  # (idempotency key, order no, when)
        self.retries = Counter()
        self.errors: list[str] = []

    def run(self) -> None:
        n = 0
        while not self.stop.is_set():
            started = time.monotonic()
            n += 1
            self.place(f"load-{self.index}-{n}")
            time.sleep(max(0.0, 1 / RATE_PER_BUYER - (time.monotonic() - started)))

    def place(self, idem: str) -> None:
        body = json.dumps({"sku": "LOAD-CARD", "quantity": 1})
        headers = {"Host": SHOP, "Authorization": f"Bearer {self.key}",
                   "Idempotency-Key": idem, "Content-Type": "application/json"}
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
            try:
                conn.request("POST", "/api/v1/orders", body=body, headers=headers)
                resp = conn.getresponse()
                raw, status = resp.read(), resp.status
                retry_after = resp.getheader("Retry-After")
            except (OSError, http.client.HTTPException) as err:
                self.retries[type(err).__name__] += 1
                time.sleep(0.2)
                continue
            finally:
                conn.close()
            if status == 201:
                self.placed.append((idem, json.loads(raw)["order_no"], time.time()))
                return
            if status in (429, 502, 503, 504):
                self.retries[status] += 1
                time.sleep(min(2.0, float(retry_after)) if retry_after else 0.2)
                continue
            self.errors.append(f"{idem}: {status} {raw[:300]!r}")
            return
        self.errors.append(f"{idem}: no answer within a minute")


def wait_delivered(order_nos: set[str], timeout: float = 120.0) -> Counter:
    deadline = time.time() + timeout
    while True:
        db.session.expire_all()
        statuses = Counter(db.session.scalars(select(Order.status)).all())
        db.session.commit()
        if statuses.get("delivered", 0) >= len(order_nos) or time.time() > deadline:
            return statuses
        time.sleep(0.5)


def periodic_jobs(redis_client) -> Counter:
    """How many jobs of each periodic function Redis holds: queued, running, finished
    (kept result_ttl = 5 minutes) or failed."""
    from rq.job import Job

    funcs = {entry.func for entry in PERIODIC}
    ids = [key.decode().split(":", 2)[2] for key in redis_client.scan_iter("rq:job:*", count=1000)
           if key.count(b":") == 2]
    return Counter(job.func_name for job in Job.fetch_many(ids, connection=redis_client)
                   if job is not None and job.func_name in funcs)


def sizing(cluster, names: list[str], redis_client) -> str:
    """Each process's memory (RSS/PSS MB), the PostgreSQL backends on the test's
    database, the Redis clients on its db, and the machine's load average."""
    from sqlalchemy import text

    memory = {n: cluster.memory_mb(n) for n in names}
    backends = db.session.scalar(text(
        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"))
    db.session.commit()
    index = redis_client.connection_pool.connection_kwargs.get("db", 0)
    clients = sum(1 for c in redis_client.client_list() if int(c.get("db", -1)) == index)
    with open("/proc/loadavg") as fh:
        load = " ".join(fh.read().split()[:3])
    return (", ".join(f"{n} {rss:.0f}/{pss:.0f}" for n, (rss, pss) in memory.items())
            + f" MB RSS/PSS; PostgreSQL backends {backends} (this test's 1 included), "
            f"Redis clients {clients} (this test's included); load average {load}")


def test_a_web_node_and_a_worker_killed_mid_load_lose_no_order(app, tree, cluster,
                                                               redis_client):
    most = LOAD_SECONDS * RATE_PER_BUYER + 10  # orders one buyer can place at most
    product = card_product("LOAD-CARD", codes=BUYERS * most)
    price = price_for(tree.star, product)
    buyers = [api_account(tree.star, f"load{i}@nodes.test", funds=price * most)
              for i in range(BUYERS)]

    a, b = cluster.web("web-a"), cluster.web("web-b")
    cluster.kameng("worker-1", "worker")
    cluster.kameng("worker-2", "worker")
    schedulers_from = time.time()
    cluster.kameng("scheduler-1", "scheduler")
    cluster.kameng("scheduler-2", "scheduler")
    proxy = cluster.proxy([a, b])
    for proc in (a, b, proxy):
        cluster.wait_http(proc)
    cluster.wait_workers(redis_client, 2)
    names = ["web-a", "web-b", "worker-1", "worker-2", "scheduler-1", "scheduler-2", "nginx"]
    idle = sizing(cluster, names, redis_client)

    stop = threading.Event()
    clients = [Buyer(i, key, proxy.port, stop) for i, (_user, key) in enumerate(buyers)]
    load_from = time.time()
    for client in clients:
        client.start()
    time.sleep(KILL_AT)
    busy = sizing(cluster, names, redis_client)
    killed_at = time.time()
    cluster.kill("web-b")
    cluster.kill("worker-1")
    time.sleep(LOAD_SECONDS - KILL_AT)
    stop.set()
    for client in clients:
        client.join(timeout=90)
    load_seconds = time.time() - load_from

    assert not [e for c in clients for e in c.errors], [e for c in clients for e in c.errors]
    placed = [p for c in clients for p in c.placed]
    order_nos = {no for _idem, no, _at in placed}
    assert len(order_nos) == len(placed)  # one order per Idempotency-Key
    assert any(at < killed_at for *_x, at in placed) and any(at > killed_at for *_x, at in placed)
    posted = Counter(line.split()[0] for line in
                     (cluster.tmp / "nginx-access.log").read_text().splitlines()
                     if " 201 POST " in line)
    assert {f"127.0.0.1:{a.port}", f"127.0.0.1:{b.port}"} <= set(posted), posted

    statuses = wait_delivered(order_nos)
    for name in ("web-a", "worker-2", "scheduler-1", "scheduler-2", "nginx"):
        assert cluster.procs[name].alive(), cluster.procs[name].tail()

    # no order lost: every order a client was given is in the database, delivered, and
    # there is no other
    rows = db.session.scalars(select(Order).where(Order.tenant_id == tree.star.id)).all()
    assert {o.order_no for o in rows} == order_nos, statuses
    assert Counter(o.status for o in rows) == {"delivered": len(order_nos)}
    # none delivered twice: one code each, no code in two orders, one code sold per order
    codes = [code for o in rows for code in orders.order_codes(o)]
    assert len(codes) == len(order_nos) == len(set(codes))
    sold = db.session.scalars(select(CardCode.status).where(
        CardCode.product_id == product.id)).all()
    assert Counter(sold)["sold"] == len(order_nos)
    # and no wallet charged twice
    by_buyer = Counter(o.customer_id for o in rows)
    for user, _key in buyers:
        assert wallets.wallet_balance(user) == price * (most - by_buyer[user.id])
    db.session.commit()

    check = subprocess.run([sys.executable, "-m", "kameng.cli", "ledger", "check"],
                           env=cluster.env, capture_output=True, text=True, timeout=120)
    assert check.returncode == 0, check.stdout + check.stderr

    # two schedulers side by side: each periodic job at most once per period, and each ran
    per_func = periodic_jobs(redis_client)
    now = time.time()
    for entry in PERIODIC:
        periods = math.floor(now / entry.every) - math.floor(schedulers_from / entry.every) + 1
        assert 1 <= per_func[entry.func] <= periods, (entry.func, per_func[entry.func], periods)

    retries = sum((c.retries for c in clients), Counter())
    print(f"\n{len(order_nos)} orders in {load_seconds:.0f} s through the proxy "
          f"({len(order_nos) / load_seconds:.1f}/s), web-b and worker-1 killed at "
          f"{killed_at - load_from:.0f} s; client retries {dict(retries)}; "
          f"dispatch_outbox enqueued {per_func['kameng.workers.jobs.dispatch_outbox']}×")
    for when, figures in (("idle", idle), ("under load", busy)):
        print(f"{when}: " + figures)
