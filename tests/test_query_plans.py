"""No request-path query scans a table that grows with all shops, codes or orders.

Seeds a modest platform with ``kameng bench scale``'s builder (enough rows that the
planner prefers an index where one fits, then ANALYZE), runs the request paths —
host resolution, the product list and product page (uncached), the stock
reservation of an order and its delivery, an order looked up by number, a parent
shop's subtree order list, its subtree report (the funding page), earnings page
and back-office home, the master's tree report, funding page and sub-shops page
(a page of every shop), back-office home and earnings page (after the reports' rollup job: the
master's figures cover every order) — captures every
statement they send (SQLAlchemy's ``before_cursor_execute``) and asks PostgreSQL for
each one's plan (``EXPLAIN (FORMAT JSON)``, not executed): a Seq Scan of one of the
big tables fails the test, naming the statement.
"""
from __future__ import annotations

import json

import pytest
from sqlalchemy import event

from kameng.benchmarks import scale

BIG = {"tenants", "domains", "card_codes", "orders", "order_lines", "ledger_entries",
       "commission_shares", "commissions"}
SIZES = {"shops": 2000, "codes": 30_000, "orders": 20_000}


def _seq_scans(plan: dict, limited: bool = False) -> list[str]:
    """The big tables a plan reads whole: a Seq Scan, or an index walked end to end
    with no Index Cond and no LIMIT above it to stop the walk early (a keyset page
    under a LIMIT stops after a page of matches, which is what the planner weighs)."""
    found = []
    table = plan.get("Relation Name")
    limited = limited or plan.get("Node Type") == "Limit"
    if table in BIG:
        if plan.get("Node Type") == "Seq Scan":
            found.append(table)
        elif plan.get("Node Type") in ("Index Scan", "Index Only Scan") \
                and "Index Cond" not in plan and not limited:
            found.append(f"{table} (whole index {plan.get('Index Name')})")
    for child in plan.get("Plans", ()):
        # a sort or an aggregate below the LIMIT reads all of its input first
        below = limited and plan.get("Node Type") not in ("Sort", "Aggregate", "Hash")
        found.extend(_seq_scans(child, below))
    return found


# steps whose statements must read a table's rows off an index in order, never sort them
# all: an account's latest entries (the statement, a history) grow with its whole life
NO_SORT = {"earnings dashboard": "ledger_entries", "subtree report (funding)": "ledger_entries"}


def _sorted_tables(plan: dict, under_sort: bool = False) -> set[str]:
    """The tables a Sort node of the plan reads (directly or through joins)."""
    found = set()
    if under_sort and plan.get("Relation Name"):
        found.add(plan["Relation Name"])
    under_sort = under_sort or plan.get("Node Type") == "Sort"
    for child in plan.get("Plans", ()):
        found |= _sorted_tables(child, under_sort)
    return found


# steps whose page must read only its own rows: under the LIMIT, the table is read from
# an index alone (the matches' keys, sorted) or its rows fetched by key. A subtree's
# orders are spread over the whole table: fetching every match's row to sort them (a
# heap page each), or walking the newest orders of the platform until a page of the
# subtree's turned up, reads a share of the table that grows with the platform
NO_ROWS_FOR_PAGE = {"subtree order list": "orders"}


def _rows_read_for_page(plan: dict, table: str, limited: bool = False) -> bool:
    """Does the plan read ``table``'s rows, below a Limit, other than by key?"""
    node = plan.get("Node Type")
    if limited and plan.get("Relation Name") == table and node != "Index Only Scan" \
            and not (node == "Index Scan" and "(id = " in plan.get("Index Cond", "")):
        return True
    limited = limited or node == "Limit"
    return any(_rows_read_for_page(child, table, limited) for child in plan.get("Plans", ()))


# the tables that grow with the platform (every shop's accounts, every order's
# transaction) which a page of one shop's statement must not read whole to join
NO_WHOLE = {"earnings dashboard": {"ledger_accounts", "ledger_transactions"}}


def _whole_tables(plan: dict) -> set[str]:
    """The tables a plan reads with a Seq Scan."""
    found = {plan["Relation Name"]} if plan.get("Node Type") == "Seq Scan" else set()
    for child in plan.get("Plans", ()):
        found |= _whole_tables(child)
    return found


class Captured:
    def __init__(self, engines):
        self.engines = engines
        self.statements: list[tuple[str, object, str]] = []
        self.step = ""

    def _before(self, conn, cursor, statement, parameters, context, executemany):
        if not executemany:
            self.statements.append((statement, parameters, self.step))

    def __enter__(self):
        for engine in self.engines:
            event.listen(engine, "before_cursor_execute", self._before)
        return self

    def __exit__(self, *exc):
        for engine in self.engines:
            event.remove(engine, "before_cursor_execute", self._before)


def _explainable(sql: str) -> bool:
    head = sql.lstrip().split(None, 1)[0].upper() if sql.strip() else ""
    return head in ("SELECT", "WITH", "UPDATE", "DELETE")


@pytest.fixture
def seeded(app, pg, redis_url, tmp_path, backend):
    if backend != "postgresql":
        pytest.skip("plans are PostgreSQL's")
    url = pg.new_database("plans")
    info = scale.build(url, redis_url, str(tmp_path / "inst"), **SIZES,
                       echo=lambda *a, **k: None)
    return url, info, str(tmp_path / "inst")


def _signed_in(web, captured, email: str, host: str):
    """A test client signed in as ``email`` on ``host`` (its queries: step "sign in")."""
    client = web.test_client()
    captured.step = "sign in"
    client.post("/login", data={"email": email, "password": scale.PASSWORD},
                headers={"Host": host})
    return client


def test_request_paths_use_indexes(seeded, redis_url):
    from kameng.billing import wallets
    from kameng.core.extensions import db
    from kameng.sales import services as sales
    from kameng.sales.fulfilment import fulfil
    from kameng.tenants import hostcache
    from kameng.tenants.models import Tenant, User
    from kameng.tenants.services import resolve_host

    url, info, instance = seeded
    web = scale.bench_app(url, redis_url, instance, page_cache=False)
    with web.app_context():
        engine = db.engine
    shop_host = f"s{info['depth3']}.{scale.BASE}"
    d1_host = f"s{info['depth1']}.{scale.BASE}"
    captured = Captured([engine])
    with captured:
        client = web.test_client()
        for step, path in (("product list", "/"), ("product page", "/p/SCALE-0-0")):
            captured.step = step
            assert client.get(path, headers={"Host": shop_host}).status_code == 200
        owner = _signed_in(web, captured, "owner@d1.example", d1_host)
        for step, path in (("subtree order list", "/admin/orders"),
                           ("subtree order list, filtered", "/admin/orders?status=delivered"),
                           ("earnings dashboard", "/admin/earnings"),
                           ("subtree report (funding)", "/admin/funding"),
                           ("back-office home", "/admin/")):
            captured.step = step
            assert owner.get(path, headers={"Host": d1_host}).status_code == 200, step
        leaf_host = f"s{info['last_shop']}.{scale.BASE}"
        leaf = _signed_in(web, captured, "owner@leaf.example", leaf_host)
        hq = f"hq.{scale.BASE}"
        with web.app_context():
            # the reports' running sums, as the scheduler keeps them: the master's share
            # history is every order on the platform, its pages read the rollups and
            # what came after their mark
            from kameng.billing.commissions import rollup

            captured.step = "rollup job"
            rollup.roll_up()
            db.session.remove()
        master = _signed_in(web, captured, "owner@hq.example", hq)
        for step, path in (("the master's back-office home", "/admin/"),
                           ("the master's earnings page", "/admin/earnings"),
                           ("the master's tree report", "/admin/reports/tree"),
                           ("the master's tree report, a later page",
                            f"/admin/reports/tree?after=/{info['master_id']}/"
                            f"{info['depth1']}/"),
                           ("the master's funding page (every shop below it)",
                            "/admin/funding"),
                           ("the master's funding page, a later page",
                            f"/admin/funding?after=/{info['master_id']}/{info['depth1']}/"),
                           ("the master's sub-shops page (every shop below it)",
                            "/admin/subshops"),
                           ("the master's sub-shops page, a later page",
                            f"/admin/subshops?after=/{info['master_id']}/{info['depth1']}/"),
                           ("the master's order list, filtered",
                            "/admin/orders?status=delivered"),
                           ("the master's order list, a shop searched",
                            f"/admin/orders?shop=s{info['depth3']}")):
            captured.step = step
            assert master.get(path, headers={"Host": hq}).status_code == 200, step
        captured.step = "a leaf shop's order list"
        assert leaf.get("/admin/orders", headers={"Host": leaf_host}).status_code == 200
        with web.app_context():
            captured.step = "host resolution"
            hostcache.bump()
            assert resolve_host(f"s{info['last_shop']}.{scale.BASE}") is not None
            db.session.rollback()
            shop = db.session.get(Tenant, info["depth3"])
            buyer = db.session.scalar(db.select(User).where(User.tenant_id == shop.id))
            wallets.credit_wallet(buyer, 100_000, note="plans")
            captured.step = "order: stock reservation and delivery"
            placed = sales.place_order(db.session.get(Tenant, info["depth3"]), sku="SCALE-0-0",
                                       quantity=1, customer=db.session.get(User, buyer.id))
            order_id, order_no = placed.order.id, placed.order.order_no
            assert fulfil(order_id).status == "delivered"
            captured.step = "order lookup by number"
            assert sales.get_order(order_no).id == order_id
            db.session.remove()

    problems, explained = [], 0
    raw = engine.raw_connection()
    try:
        cur = raw.cursor()
        for sql, params, step in captured.statements:
            if not _explainable(sql) or step == "rollup job":
                continue
            cur.execute("EXPLAIN (FORMAT JSON) " + sql, params or None)
            plan = cur.fetchone()[0]
            plan = json.loads(plan) if isinstance(plan, str) else plan
            explained += 1
            scans = _seq_scans(plan[0]["Plan"])
            if scans:
                problems.append(f"[{step}] Seq Scan on {', '.join(sorted(set(scans)))}: "
                                f"{' '.join(sql.split())[:300]}")
            if NO_SORT.get(step) in _sorted_tables(plan[0]["Plan"]) \
                    and " LIMIT " in sql.upper():
                problems.append(f"[{step}] sorts all of {NO_SORT[step]}: "
                                f"{' '.join(sql.split())[:300]}")
            if step in NO_ROWS_FOR_PAGE \
                    and _rows_read_for_page(plan[0]["Plan"], NO_ROWS_FOR_PAGE[step]):
                problems.append(f"[{step}] reads rows of {NO_ROWS_FOR_PAGE[step]} that are "
                                f"not the page's: {' '.join(sql.split())[:300]}\n"
                                f"{json.dumps(plan[0]['Plan'])[:3000]}")
            whole = NO_WHOLE.get(step, set()) & _whole_tables(plan[0]["Plan"])
            if whole:
                problems.append(f"[{step}] Seq Scan on {', '.join(sorted(whole))}: "
                                f"{' '.join(sql.split())[:300]}")
        raw.rollback()
    finally:
        raw.close()
        with web.app_context():
            db.engine.dispose()
    assert explained > 20
    assert not problems, "\n".join(dict.fromkeys(problems))
