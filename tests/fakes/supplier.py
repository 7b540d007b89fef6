"""A fake top-up supplier speaking the ``http_topup`` protocol on loopback.

A real HTTP server (werkzeug, threaded) that checks every request's signature,
keeps orders by idempotency key and counts the top-ups it really performed, so
a test can assert "exactly one top-up" whatever the client saw.

Switch ``fake.mode`` per test:

``success``               POST tops up and answers ``success``.
``duplicate``             same as success; a repeated POST with the same key answers the
                          original order (every mode dedupes by key — this name reads well
                          in tests that send the same order twice).
``failure``               POST answers ``failed`` (permanent), nothing topped up.
``reject``                POST answers HTTP 422 (refused), nothing topped up.
``slow``                  POST tops up, then sleeps ``slow_seconds`` (past the client's read
                          timeout) before answering: the client sees a timeout, the order
                          is processed.
``error_then_success``    the first POST of a key tops up but answers HTTP 500; the status
                          query (and any repeated POST) then says ``success``.
``pending_then_success``  POST answers ``pending``; the order completes (and is topped up)
                          on the ``pending_polls``-th status query, or by ``complete(key)``.
``garbled``               POST tops up but answers 200 with a body that is not JSON (a
                          proxy error page); the status query then says ``success``.
``down``                  every call answers HTTP 503 and nothing is processed.
``hang``                  POST tops up, sets ``entered`` and waits for ``release`` (an
                          Event the test sets) before answering ``success``.

Use it from any test module or conftest::

    from tests.fakes.supplier import fake_supplier  # noqa: F401  (the fixture)

    def test_x(app, fake_supplier):
        supplier = fake_supplier.create_supplier()     # a Supplier row pointing here
        fake_supplier.mode = "slow"
        ...
        assert fake_supplier.topups_for(key) == 1
"""
from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from collections import Counter

import pytest
import requests
from werkzeug.serving import WSGIRequestHandler, make_server
from werkzeug.wrappers import Request, Response

MODES = ("success", "duplicate", "failure", "reject", "slow", "error_then_success",
         "pending_then_success", "garbled", "down", "hang")

DEFAULT_PRODUCTS = [
    {"sku": "CMCC-50", "name": "China Mobile ¥50", "currency": "CNY", "face_value": 5000,
     "min_amount": None, "max_amount": None, "price": 4900, "account_regex": r"1\d{10}",
     "available": True, "kind": "topup"},
    {"sku": "CMCC-ANY", "name": "China Mobile, any amount", "currency": "CNY",
     "face_value": None, "min_amount": 1000, "max_amount": 50000, "price": None,
     "account_regex": r"1\d{10}", "available": True, "kind": "topup"},
    {"sku": "GAME-UID", "name": "Game diamonds 60", "currency": "CNY", "face_value": 600,
     "min_amount": None, "max_amount": None, "price": 580, "account_regex": r"[0-9]{6,12}",
     "available": True, "kind": "topup"},
    {"sku": "STEAM-100", "name": "Steam wallet code ¥100", "currency": "CNY",
     "face_value": 10000, "min_amount": None, "max_amount": None, "price": 9500,
     "account_regex": None, "available": True, "kind": "card"},
]


class _QuietHandler(WSGIRequestHandler):
    def log(self, type, message, *args):  # noqa: A002  keep test output clean
        pass


class FakeSupplier:
    def __init__(self, key_id: str = "fake-key", secret: str = "fake-secret-7c1f9e",
                 base_path: str = "/api", connect_timeout: float = 1.0,
                 read_timeout: float = 2.0):
        self.key_id = key_id
        self.secret = secret
        self.base_path = base_path
        self.connect_timeout = connect_timeout
        self.read_timeout = read_timeout
        self.mode = "success"
        self.slow_seconds = read_timeout * 3
        self.pending_polls = 1
        self.balance = 1_000_000
        self.products = [dict(p) for p in DEFAULT_PRODUCTS]
        self.orders: dict[str, dict] = {}
        self.topups: Counter = Counter()        # key -> top-ups really performed
        self.posts: Counter = Counter()         # key -> POST /orders received (signed)
        self.rejected_signatures = 0
        self.log: list[tuple[str, str, int]] = []   # (method, path, status)
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self.entered = threading.Event()    # mode "hang": a POST is being held
        self.release = threading.Event()    # mode "hang": let it answer
        self._server = None
        self._thread = None
        self._seq = 0

    # ----- lifecycle --------------------------------------------------------

    def __setattr__(self, name, value):
        if name == "mode" and value not in MODES:
            raise ValueError(f"unknown fake supplier mode {value!r}; one of {MODES}")
        super().__setattr__(name, value)

    def start(self) -> FakeSupplier:
        self._server = make_server("127.0.0.1", 0, self.wsgi, threaded=True,
                                   request_handler=_QuietHandler)
        self._thread = threading.Thread(target=self._server.serve_forever,
                                        kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()       # wakes slow answers
        self.release.set()         # and held ones
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._thread.join(timeout=5)
            self._server = None

    @property
    def port(self) -> int:
        return self._server.socket.getsockname()[1]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}{self.base_path}"

    # ----- what tests look at ----------------------------------------------

    def topups_for(self, key: str) -> int:
        return self.topups[key]

    @property
    def total_topups(self) -> int:
        return sum(self.topups.values())

    def order(self, key: str) -> dict | None:
        with self._lock:
            found = self.orders.get(key)
            return dict(found) if found else None

    def complete(self, key: str, status: str = "success") -> dict:
        """Finish a pending order now (as the upstream would, asynchronously)."""
        with self._lock:
            order = self.orders[key]
            self._finish(order, status)
            return dict(order)

    def supplier_config(self) -> dict:
        return {"base_url": self.url, "key_id": self.key_id, "secret": self.secret,
                "connect_timeout": self.connect_timeout, "read_timeout": self.read_timeout}

    def create_supplier(self, name: str = "Fake Topup", **overrides):
        """A ``Supplier`` row (adapter ``http_topup``) pointing at this fake."""
        from kameng.shop.suppliers import services

        settings = {**self.supplier_config(), **overrides}
        return services.create_supplier(name, "http_topup", **settings)

    # ----- webhooks ----------------------------------------------------------

    def webhook(self, key: str, *, timestamp: int | None = None, secret: str | None = None,
                key_id: str | None = None) -> tuple[dict, bytes]:
        """The headers and body of a signed webhook for the order ``key``."""
        order = self.order(key)
        if order is None:
            raise KeyError(key)
        body = json.dumps(_public(order), separators=(",", ":")).encode()
        stamp = str(int(time.time()) if timestamp is None else timestamp)
        signature = hmac.new((secret or self.secret).encode(), f"{stamp}\n".encode() + body,
                             hashlib.sha256).hexdigest()
        headers = {"Content-Type": "application/json", "X-Key-Id": key_id or self.key_id,
                   "X-Timestamp": stamp, "X-Signature": signature}
        return headers, body

    def send_webhook(self, url: str, key: str, **kwargs) -> requests.Response:
        headers, body = self.webhook(key, **kwargs)
        return requests.post(url, data=body, headers=headers, timeout=5)

    # ----- the server -------------------------------------------------------

    def wsgi(self, environ, start_response):
        request = Request(environ)
        response = self._handle(request)
        self.log.append((request.method, request.path, response.status_code))
        return response(environ, start_response)

    def _handle(self, request: Request) -> Response:
        if not self._signed(request):
            self.rejected_signatures += 1
            return _json({"message": "bad signature"}, 401)
        if self.mode == "down":
            return _json({"message": "service unavailable"}, 503)
        path = request.path
        if not path.startswith(self.base_path + "/"):
            return _json({"message": "no such endpoint"}, 404)
        path = path[len(self.base_path):]
        if request.method == "POST" and path == "/orders":
            return self._post_order(request)
        if request.method == "GET" and path.startswith("/orders/"):
            return self._get_order(path[len("/orders/"):])
        if request.method == "GET" and path == "/balance":
            return _json({"balance": self.balance, "currency": "CNY"})
        if request.method == "GET" and path == "/products":
            return _json({"products": [{k: v for k, v in p.items() if k != "kind"}
                                       for p in self.products]})
        return _json({"message": "no such endpoint"}, 404)

    def _signed(self, request: Request) -> bool:
        stamp = request.headers.get("X-Timestamp", "")
        if request.headers.get("X-Key-Id") != self.key_id or not stamp.isdigit():
            return False
        if abs(time.time() - int(stamp)) > 300:
            return False
        path = request.path + (f"?{request.query_string.decode()}"
                               if request.query_string else "")
        message = f"{stamp}\n{request.method}\n{path}\n".encode() + request.get_data()
        expected = hmac.new(self.secret.encode(), message, hashlib.sha256).hexdigest()
        return hmac.compare_digest(expected, request.headers.get("X-Signature", ""))

    def _post_order(self, request: Request) -> Response:
        try:
            data = json.loads(request.get_data() or b"{}")
            key = str(data["idempotency_key"])
            sku = str(data["sku"])
            quantity = int(data.get("quantity") or 1)
        except (ValueError, KeyError, TypeError):
            return _json({"message": "bad request"}, 400)
        product = next((p for p in self.products if p["sku"] == sku), None)
        mode = self.mode
        with self._lock:
            self.posts[key] += 1
            existing = self.orders.get(key)
            if existing is not None:   # idempotent: the original order, never a second top-up
                return _json(_public(existing))
            if product is None:
                return _json({"message": f"unknown product {sku}"}, 404)
            if mode == "reject":
                return _json({"message": "account blocked"}, 422)
            self._seq += 1
            order = {"id": f"UP{self._seq:06d}", "idempotency_key": key, "sku": sku,
                     "quantity": quantity, "account": data.get("account"),
                     "amount": data.get("amount"), "status": "pending", "codes": [],
                     "message": "", "polls": 0, "kind": product["kind"],
                     "price": product["price"] or data.get("amount") or 0}
            self.orders[key] = order
            if mode == "failure":
                self._finish(order, "failed")
            elif mode != "pending_then_success":
                self._finish(order, "success")
            answer = _public(order)
        if mode == "slow":
            self._stopping.wait(self.slow_seconds)
        if mode == "hang":
            self.entered.set()
            self.release.wait(30)
        if mode == "error_then_success":
            return _json({"message": "internal server error"}, 500)
        if mode == "garbled":
            return Response("<html>502 Bad Gateway</html>", status=200, mimetype="text/html")
        return _json(answer, 201)

    def _get_order(self, key: str) -> Response:
        with self._lock:
            order = self.orders.get(key)
            if order is None:
                return _json({"message": "no such order"}, 404)
            if order["status"] == "pending":
                order["polls"] += 1
                if order["polls"] >= self.pending_polls:
                    self._finish(order, "success")
            return _json(_public(order))

    def _finish(self, order: dict, status: str) -> None:
        """Called with the lock held; performs the top-up once."""
        if order["status"] != "pending":
            return
        order["status"] = status
        if status == "success":
            self.topups[order["idempotency_key"]] += 1
            self.balance -= order["price"] * order["quantity"]
            if order["kind"] == "card":
                order["codes"] = [f"{order['id']}-CODE-{i + 1}" for i in range(order["quantity"])]
            order["message"] = "done"
        else:
            order["message"] = "the recipient account does not exist"


def _public(order: dict) -> dict:
    return {k: order[k] for k in ("id", "idempotency_key", "status", "codes", "message")}


def _json(body: dict, status: int = 200) -> Response:
    return Response(json.dumps(body), status=status, mimetype="application/json")


@pytest.fixture
def fake_supplier():
    """A running ``FakeSupplier`` (fresh state per test), stopped afterwards."""
    fake = FakeSupplier().start()
    try:
        yield fake
    finally:
        fake.stop()
