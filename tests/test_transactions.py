"""The transaction rule (docs/architecture.md, Transactions), checked at run time and in the source.

At run time: while a supplier call hangs, no transaction of the fulfilling
worker is open — on SQLite another writer gets through, on PostgreSQL the
worker holds no lock and is not "idle in transaction".
In the source: no ``commit`` parameter, no ``…_in_txn`` helper that commits, no
route module that commits.
"""
from __future__ import annotations

import ast
import json
import sqlite3
import threading
from pathlib import Path

import pytest
from sqlalchemy import text
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

from kameng.billing.plans import services as plans
from kameng.billing.withdrawals import services as withdrawals
from kameng.core.extensions import db
from kameng.core.scoping import tenant_scope
from kameng.sales import services
from kameng.sales.fulfilment import fulfil
from kameng.sales.models import Order
from kameng.shop.catalog import services as catalog
from tests.billing.commissions.helpers import chain
from tests.billing.withdrawals.test_withdrawals import approved_connect_withdrawal
from tests.fakes.supplier import fake_supplier  # noqa: F401  (fixture)
from tests.orders.helpers import fund

PLATFORM = Path(__file__).resolve().parent.parent / "platform"
ROUTE_DECORATORS = {"route", "get", "post", "put", "patch", "delete"}


# ----- at run time -------------------------------------------------------------------

def _hanging_topup(app, tree, fake_supplier):
    """A paid top-up order whose supplier call is held open; returns (order id, thread,
    outcome) once the call has started. The test's session must stay unused meanwhile."""
    fake_supplier.mode = "hang"
    supplier = fake_supplier.create_supplier(read_timeout=30)
    product = catalog.create_product(
        sku="CMCC-50", name="China Mobile ¥50", kind="topup", supplier_cost=4900,
        wholesale_price=4950, retail_price=5000, supplier_id=supplier.id,
        supplier_sku="CMCC-50",
        fields=[{"name": "account", "label": "Phone", "type": "phone", "required": True}])
    fund(tree.star_customer, 100_000)
    order = services.place_order(tree.star, sku=product.sku, customer=tree.star_customer,
                                 fields={"account": "13800138000"}).order
    tenant_id, order_id = order.tenant_id, order.id
    # this test's own session holds nothing (on SQLite: no write lock) while the worker runs
    db.session.commit()
    outcome = {}

    def work():
        with app.app_context(), tenant_scope(tenant_id):
            try:
                outcome["status"] = fulfil(order_id).status
            finally:
                db.session.remove()

    worker = threading.Thread(target=work, daemon=True)
    worker.start()
    assert fake_supplier.entered.wait(30), "the supplier was never called"
    return order_id, tenant_id, worker, outcome


def _finish(fake_supplier, worker, outcome, order_id):
    fake_supplier.release.set()
    worker.join(30)
    assert outcome.get("status") == "delivered"
    assert db.session.get(Order, order_id).status == "delivered"
    assert fake_supplier.total_topups == 1


@pytest.mark.both
def test_no_transaction_is_open_during_a_supplier_call(app, backend, tree, fake_supplier):
    order_id, tenant_id, worker, outcome = _hanging_topup(app, tree, fake_supplier)
    try:
        if backend == "sqlite":
            _another_writer_gets_through(tenant_id)
        else:
            _no_lock_is_held()
    finally:
        _finish(fake_supplier, worker, outcome, order_id)


def _another_writer_gets_through(tenant_id: int | None, path: str | None = None) -> None:
    other = sqlite3.connect(path or db.engine.url.database, timeout=2, isolation_level=None)
    try:
        other.execute("BEGIN IMMEDIATE")  # "database is locked" if the worker held it
        other.execute("UPDATE tenants SET name = name WHERE id = ?", (tenant_id,))
        other.execute("COMMIT")
    finally:
        other.close()


def _no_lock_is_held() -> None:
    with db.engine.connect() as conn:
        busy = conn.execute(text(
            "SELECT pid, state FROM pg_stat_activity WHERE datname = current_database() "
            "AND pid <> pg_backend_pid() AND state LIKE 'idle in transaction%'")).all()
        locks = conn.execute(text(
            "SELECT l.pid, l.locktype, l.mode FROM pg_locks l "
            "JOIN pg_stat_activity a ON a.pid = l.pid "
            "WHERE a.datname = current_database() AND l.pid <> pg_backend_pid() "
            "AND l.locktype IN ('relation', 'tuple', 'transactionid')")).all()
    assert busy == [], busy
    assert locks == [], locks


class ProbingStripe:
    """A loopback server answering like Stripe that, on every request, looks at the
    database from another connection: is any transaction open meanwhile?"""

    def __init__(self, app, backend: str):
        self.engine, self.backend = db.engine, backend
        self.seen: list[tuple[str, list]] = []    # (path, what was open)
        self.server = make_server("127.0.0.1", 0, self.wsgi)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        app.config.update(STRIPE_SECRET_KEY="sk_test_kameng", STRIPE_PUBLISHABLE_KEY="pk_test",
                          STRIPE_API_BASE=f"http://127.0.0.1:{self.server.server_port}")

    def wsgi(self, environ, start_response):
        req = Request(environ)
        self.seen.append((req.path, self._open_transactions()))
        if req.path == "/v1/transfers":
            body = {"id": "tr_probe", "object": "transfer"}
        elif req.path == "/v1/customers":
            body = {"id": "cus_probe", "object": "customer"}
        elif req.path.startswith("/v1/payment_methods/"):
            body = {"id": req.path.split("/")[3], "object": "payment_method"}
        else:
            body = {"id": "pi_probe", "object": "payment_intent", "status": "succeeded"}
        return Response(json.dumps(body), content_type="application/json")(environ,
                                                                            start_response)

    def _open_transactions(self) -> list:
        if self.backend == "sqlite":
            try:
                _another_writer_gets_through(None, self.engine.url.database)
            except sqlite3.OperationalError as err:
                return [str(err)]
            return []
        with self.engine.connect() as conn:
            return conn.execute(text(
                "SELECT pid, state FROM pg_stat_activity WHERE datname = current_database() "
                "AND pid <> pg_backend_pid() AND state LIKE 'idle in transaction%'")).all()

    def close(self):
        self.server.shutdown()
        self.thread.join(timeout=5)


@pytest.fixture
def probing_stripe(app, backend):
    server = ProbingStripe(app, backend)
    yield server
    server.close()


@pytest.mark.both
def test_no_transaction_is_open_during_the_plan_card_charge(app, probing_stripe):
    c = chain(depth=1)
    basic = plans.create_plan(c.master, "basic", "basic", 2900)
    payment = plans.pay_plan(c.shops[1], basic.id, "card", payment_method="pm_probe")
    assert payment.provider_ref == "pi_probe"
    paths = [path for path, _open in probing_stripe.seen]
    assert paths == ["/v1/customers", "/v1/payment_methods/pm_probe/attach",
                     "/v1/payment_intents"]
    assert all(not still_open for _path, still_open in probing_stripe.seen), \
        probing_stripe.seen


@pytest.mark.both
def test_no_transaction_is_open_during_the_withdrawal_transfer(app, probing_stripe):
    c = chain(depth=1)
    w = approved_connect_withdrawal(c)
    assert withdrawals.mark_paid(w.id, c.master).reference == "tr_probe"
    assert probing_stripe.seen == [("/v1/transfers", [])]


# ----- in the source -----------------------------------------------------------------

def _functions(tree: ast.AST):
    return [n for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))]


def _commits(node: ast.AST) -> bool:
    return any(isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute)
               and n.func.attr == "commit" for n in ast.walk(node))


def commit_parameters(source: str) -> list[str]:
    """Functions with a parameter named ``commit``."""
    found = []
    for fn in _functions(ast.parse(source)):
        args = fn.args
        names = [a.arg for a in args.posonlyargs + args.args + args.kwonlyargs]
        if "commit" in names:
            found.append(fn.name)
    return found


def committing_in_txn_helpers(source: str) -> list[str]:
    """``…_in_txn`` functions that call ``.commit(``."""
    return [fn.name for fn in _functions(ast.parse(source))
            if fn.name.endswith("_in_txn") and _commits(fn)]


def route_commits(source: str) -> list[int]:
    """Lines of a route module that call ``db.session.commit()``."""
    return [n.lineno for n in ast.walk(ast.parse(source))
            if isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute)
            and n.func.attr == "commit" and ast.unparse(n.func.value) == "db.session"]


def is_route_module(rel: str, source: str) -> bool:
    """A ``views.py``, anything in the back office, or a module defining a route."""
    if rel.endswith("views.py") or rel.startswith("admin/"):
        return True
    return any(isinstance(d, ast.Call) and isinstance(d.func, ast.Attribute)
               and d.func.attr in ROUTE_DECORATORS
               for fn in _functions(ast.parse(source)) for d in fn.decorator_list)


def _sources():
    for path in sorted(PLATFORM.rglob("*.py")):
        rel = path.relative_to(PLATFORM).as_posix()
        yield rel, path.read_text(encoding="utf-8")


def test_no_function_takes_a_commit_flag():
    found = [f"{rel}: {name}" for rel, src in _sources() for name in commit_parameters(src)]
    assert found == []


def test_in_txn_helpers_never_commit():
    found = [f"{rel}: {name}" for rel, src in _sources()
             for name in committing_in_txn_helpers(src)]
    assert found == []


def test_routes_never_commit():
    found = [f"{rel}:{line}" for rel, src in _sources() if is_route_module(rel, src)
             for line in route_commits(src)]
    assert found == []


def test_the_static_checks_can_fail():
    bad = '''
def pay(order, *, commit=True):
    pass

def pay_in_txn(order):
    db.session.commit()

@bp.post("/x")
def view():
    db.session.commit()
'''
    assert commit_parameters(bad) == ["pay"]
    assert committing_in_txn_helpers(bad) == ["pay_in_txn"]
    assert route_commits(bad) == [6, 10]
    assert is_route_module("x/helpers.py", bad) and is_route_module("sales/views.py", "")
    assert is_route_module("admin/orders.py", "") and not is_route_module("sales/x.py", "")
