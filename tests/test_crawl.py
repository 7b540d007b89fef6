"""Every page reachable from the demo, as every role, in both languages: no 5xx, no
internal identifier (a status, kind, role, account … as stored) in a Chinese page, and
no snake_case identifier in an English one.

The crawl discovers the pages: it starts at the storefront (and the back office for
owners and staff) and follows every same-host link (GET only), so a page added later is
crawled without being listed here. Each route is visited a few times at most (an order
list links every order; a few of them show what the rest would).
"""
from __future__ import annotations

import re
from collections import deque
from html.parser import HTMLParser
from urllib.parse import urldefrag, urljoin, urlsplit

import pytest
from werkzeug.exceptions import HTTPException

from kameng.core.extensions import db
from kameng.core.labels import identifiers
from tests.conftest import host_client

PER_ROUTE = 6          # visits per route (endpoint); with a query string it is a route of its own
MAX_PAGES = 400        # per role and language: a bound, not a target
SKIP = re.compile(r"^/(logout|lang/|static/|_theme/|api/|healthz)|\.(csv|json|js|css|png|svg)$"
                  r"|/(progress|status|export)(/|$)")
HIDDEN_TAGS = {"script", "style", "code", "pre", "textarea", "template", "noscript"}
VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source",
        "track", "wbr"}
# a snake_case identifier (two or more lowercase words joined by "_")
SNAKE = re.compile(r"(?<![\w@./\"-])[a-z][a-z0-9]*(?:_[a-z0-9]+)+(?![\w@/\"-])")


class Page(HTMLParser):
    """The links and the visible text of a page (no tags, attributes, scripts, styles,
    and no code/pre blocks: codes and order numbers live there)."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.links: list[str] = []
        self.text: list[str] = []
        self._hidden: list[str] = []

    def handle_starttag(self, tag, attrs):
        if tag == "a":
            href = dict(attrs).get("href")
            if href:
                self.links.append(href)
        if tag in HIDDEN_TAGS:
            self._hidden.append(tag)

    def handle_endtag(self, tag):
        if tag in HIDDEN_TAGS and tag in self._hidden:
            while self._hidden and self._hidden.pop() != tag:
                pass

    def handle_data(self, data):
        if not self._hidden and data.strip():
            self.text.append(data)


def raw_identifiers(nodes: list[str], vocabulary: set[str]) -> set[str]:
    """snake_case anywhere in the text; a one-word identifier (``delivered``) where it
    is all of an element's text, as a template prints a status (a product name that
    holds the English word "card" is data, not an identifier)."""
    found = set()
    for node in nodes:
        found |= set(SNAKE.findall(node))
        word = node.strip(" \t\r\n·:：,()（）[]|/-")
        if word in vocabulary:
            found.add(word)
    return found


def test_the_identifier_check_can_fail():
    vocabulary = identifiers()
    assert raw_identifiers(["状态 earnings_pending ¥1.00"], vocabulary) == {"earnings_pending"}
    assert raw_identifiers(["状态：", " delivered "], vocabulary) == {"delivered"}
    assert raw_identifiers(["on_sale"], vocabulary) == {"on_sale"}
    assert raw_identifiers(["owner@star.localhost", "Steam Wallet card ¥100"], vocabulary) == set()
    page = Page()
    page.feed('<p title="wallet_credit">充值 <code>K123_ABC</code><script>a_b</script></p>')
    assert "".join(page.text) == "充值 "


def crawl(client, starts: list[str], endpoint_of, per_route: int = PER_ROUTE
          ) -> tuple[dict, list]:
    """Visit every same-host page reachable from ``starts``; returns {path: text nodes} of the
    pages that answered 200 and the list of (path, status) that answered 5xx."""
    seen_routes: dict[str, int] = {}
    visited: set[str] = set()
    texts: dict[str, str] = {}
    errors: list = []
    queue = deque(starts)
    while queue and len(visited) < MAX_PAGES:
        path = queue.popleft()
        if path in visited:
            continue
        visited.add(path)
        endpoint = endpoint_of(path)
        if endpoint is None:
            continue
        if seen_routes.get(endpoint, 0) >= per_route:
            continue
        seen_routes[endpoint] = seen_routes.get(endpoint, 0) + 1
        resp = client.get(path)
        if resp.status_code >= 500:
            errors.append((path, resp.status_code))
            continue
        if resp.status_code in (301, 302, 303, 307, 308):
            target = urlsplit(urljoin(f"http://{client.host}{path}", resp.headers["Location"]))
            if target.hostname == client.host.split(":")[0]:
                queue.append(target.path + (f"?{target.query}" if target.query else ""))
            continue
        if resp.status_code != 200 or not resp.mimetype == "text/html":
            continue
        page = Page()
        page.feed(resp.get_data(as_text=True))
        texts[path] = page.text
        for href in page.links:
            url = urlsplit(urldefrag(urljoin(f"http://{client.host}{path}", href))[0])
            if url.scheme not in ("http", "https") or url.hostname != client.host:
                continue
            target = url.path + (f"?{url.query}" if url.query else "")
            if not SKIP.search(url.path) and target not in visited:
                queue.append(target)
    return texts, errors


def build_world(app):
    """The demo (with a staff member per role), and orders in the states a page can show."""
    from kameng import demo
    from kameng.sales import refunds
    from kameng.sales import services as orders
    from kameng.sales.fulfilment import fulfil
    from kameng.sales.notify import after_delivery
    from kameng.tenants.models import Tenant, User

    demo.seed()
    shops = {t.slug: t for t in db.session.scalars(db.select(Tenant))}
    users = {u.email: u for u in db.session.scalars(db.select(User))}
    # delivered card orders at every level; one of them refunded by the master
    delivered = {}
    for slug in ("master", "star", "rocket"):
        buyer = users[f"buyer@{slug}.localhost"]
        placed = orders.place_order(shops[slug], sku="NETEASE-50", customer=buyer)
        assert fulfil(placed.order.id).status == "delivered"
        after_delivery(placed.order.id)
        delivered[slug] = placed.order
    orders.refund_order(delivered["master"], "demo refund",
                        actor=users["owner@master.localhost"])
    # a manual order placed on the depth-2 shop waits for the master
    manual = orders.place_order(shops["rocket"], sku="KOG-60",
                                customer=users["buyer@rocket.localhost"],
                                fields={"account": "player0042"})
    fulfil(manual.order.id)
    # a refund request from the depth-1 shop waits at the master
    refunds.file_request(shops["star"], delivered["star"], "code did not work",
                         actor=users["owner@star.localhost"])
    # plans: one the depth-1 shop holds, one retired
    from kameng.billing.plans import services as plans

    pro = plans.create_plan(shops["master"], "pro", "专业版", 9900, sub_shops=True,
                            custom_domain=True)
    plans.grant_plan(shops["star"], pro.id)
    plans.set_plan_active(plans.create_plan(shops["master"], "old_basic", "旧版", 1900,
                                            interval="year"), False)
    # a guest's unpaid order that expired, and one still awaiting payment
    from datetime import timedelta

    from kameng.billing.commissions.services import mature_commissions
    from kameng.billing.withdrawals import services as withdrawals
    from kameng.core.models import utcnow

    guest = {"contact": "guest@example.com", "lookup_password": "pw-123456",
             "payment_method": "epay"}
    orders.place_order(shops["star"], sku="QQVIP-1M", **guest)
    assert orders.expire_orders(now=utcnow() + timedelta(days=1)) == 1
    orders.place_order(shops["star"], sku="QQVIP-1M", **guest)
    # the depth-1 shop's earnings matured; it asks for a payout of part of them

    mature_commissions(now=utcnow() + timedelta(days=60))
    method = withdrawals.add_payout_method(shops["star"], "alipay", "13800138000", "张三")
    withdrawals.add_payout_method(shops["star"], "stripe_connect", "acct_1DemoShop0000")
    available = withdrawals.available_balance(shops["star"])
    assert available > 200, available
    withdrawals.request_withdrawal(shops["star"], users["owner@star.localhost"],
                                   method.id, available // 2)
    # a shop opened on the master's site waits for approval; an invite link
    from kameng.sales import openshop

    free = plans.plan_by_code(shops["master"], "free")
    openshop.set_signup_settings(shops["master"], "approval", [free.id], 1000)
    openshop.open_shop(shops["master"], openshop.SignupRequest(
        email="founder@example.com", password="Green-tea-2026!", shop_name="新店",
        slug="newshop"))
    openshop.set_signup_settings(shops["master"], "open", [free.id], 1000)
    openshop.create_invite(shops["master"], plan_id=free.id, markup_bp=500, days=7,
                           max_uses=3, note="朋友")
    db.session.commit()


ROLES = (
    ("master owner", "master.localhost", "owner@master.localhost", True),
    ("depth-1 owner", "star.localhost", "owner@star.localhost", True),
    ("depth-2 owner", "rocket.localhost", "owner@rocket.localhost", True),
    ("manager", "master.localhost", "staff@master.localhost", True),
    ("support", "master.localhost", "support@master.localhost", True),
    ("finance", "master.localhost", "finance@master.localhost", True),
    ("buyer", "rocket.localhost", "buyer@rocket.localhost", False),
    ("guest", "star.localhost", None, False),
    ("guest on the master", "master.localhost", None, False),
)


@pytest.mark.timeout(900)
def test_every_page_reachable_from_the_demo_as_every_role_in_both_languages(app):
    from kameng.demo import DEMO_PASSWORD

    app.config["RATELIMIT_ENABLED"] = False
    build_world(app)
    # shop slugs are data ("master" is also an approver's identifier)
    vocabulary = identifiers() - {"master", "star", "rocket"}
    adapter_cache = {}

    def endpoint_of_for(host):
        adapter = adapter_cache.setdefault(host, app.url_map.bind(host))

        def endpoint_of(path):
            try:
                endpoint, _ = adapter.match(urlsplit(path).path, method="GET")
            except HTTPException:
                return None
            return endpoint + ("?" if "?" in path else "")
        return endpoint_of

    failures = []
    crawled, reached = {}, {}
    for role, host, email, back_office in ROLES:
        for lang in ("en", "zh_CN"):
            client = host_client(app, host)
            client.get(f"/lang/{lang}")
            if email:
                resp = client.post("/login", data={"email": email, "password": DEMO_PASSWORD})
                assert resp.status_code == 302, (role, resp.status_code)
            starts = ["/"] + (["/admin/"] if back_office else [])
            texts, errors = crawl(client, starts, endpoint_of_for(host))
            crawled[(role, lang)] = len(texts)
            reached[(role, lang)] = set(texts)
            failures += [f"{role} {lang}: {path} answered {status}" for path, status in errors]
            for path, text in texts.items():
                # Chinese pages: any identifier; English ones: no snake_case at least
                raw = (raw_identifiers(text, vocabulary) if lang == "zh_CN"
                       else {t for node in text for t in SNAKE.findall(node)})
                if raw:
                    failures.append(f"{role} {lang}: {path} shows {sorted(raw)}")
    assert not failures, "\n".join(failures)
    # the crawl really went somewhere: the back office has many pages, the shop a few
    assert crawled[("master owner", "zh_CN")] > 30, crawled
    assert crawled[("guest", "zh_CN")] >= 5, crawled
    assert crawled[("buyer", "en")] >= 8, crawled
    # the new pages: the sign-up form for guests, the sub-shops page for owners above others
    for key in (("guest on the master", "en"), ("guest on the master", "zh_CN")):
        assert "/open-shop" in reached[key], reached[key]
    for role in ("master owner", "depth-1 owner"):
        assert "/admin/subshops" in reached[(role, "zh_CN")], role
