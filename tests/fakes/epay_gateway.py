"""A fake 易支付 (epay V1) gateway on loopback, following /work/shared/protocols/epay.md.

It signs and checks signatures with its own few lines of MD5 (not kameng's),
so it tests our implementation rather than echoing it.

    gw = EpayGateway(pid="1001", key="k")          # or the ``epay_gateway`` fixture
    gw.apiurl                                        # "http://127.0.0.1:PORT/"
    # the browser posts our signed form to {apiurl}submit.php → gw.orders[out_trade_no]
    gw.pay("K123")                                   # buyer pays: signed GET to notify_url
    gw.pay("K123", notify=False)                     # paid, but the notify is lost (补单)
    gw.notify("K123", times=5)                       # repeat it
    gw.notify("K123", money="0.01")                  # … or tamper: money / pid / bad_sign /
    gw.notify("K123", trade_status="WAIT_BUYER_PAY") #   trade_status / out_trade_no / key
    gw.replay(["K1", "K2"], times=3, seed=7)         # several orders' notifies, shuffled

Endpoints: ``submit.php`` (GET or POST, validates pid, fields and signature,
shows a cashier page whose button POSTs ``pay.php``), ``pay.php`` (pays, sends
the notify, redirects to ``return_url`` with signed fields), ``api.php?act=order``
(query by pid + key). Notify URLs on ``*.localhost`` are sent to 127.0.0.1 with
the Host header kept, as a browser would resolve them.

``LoopbackServer`` (serve any WSGI app, e.g. the Flask app, on a free port in a
thread) is reusable on its own; so is the ``live_server`` helper.
"""
from __future__ import annotations

import hashlib
import html
import random
import re
import threading
import time
from dataclasses import dataclass, field
from urllib.parse import urlencode, urlsplit, urlunsplit

import pytest
import requests
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

CHANNELS = ("alipay", "wxpay", "qqpay")
_MONEY = re.compile(r"^\d+(\.\d{1,2})?$")


def epay_md5(params: dict, key: str) -> str:
    """The protocol's signature, written independently of kameng."""
    pairs = [f"{k}={params[k]}" for k in sorted(params)
             if k not in ("sign", "sign_type") and params[k] not in (None, "")]
    return hashlib.md5(("&".join(pairs) + key).encode("utf-8")).hexdigest()


class LoopbackServer:
    """A threaded WSGI server on 127.0.0.1 and a free port."""

    def __init__(self, wsgi_app, host: str = "127.0.0.1"):
        self._server = make_server(host, 0, wsgi_app, threaded=True)
        self.host = host
        self.port = self._server.server_port
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True,
                                        name=f"loopback-{self.port}")
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


def loopback_get(url: str, params: dict | None = None, **kwargs) -> requests.Response:
    """GET ``url``; a ``*.localhost`` host is reached on 127.0.0.1 with its Host header kept."""
    parts = urlsplit(url)
    headers = dict(kwargs.pop("headers", {}) or {})
    host = parts.hostname or ""
    if host == "localhost" or host.endswith(".localhost"):
        headers["Host"] = parts.netloc
        netloc = f"127.0.0.1:{parts.port}" if parts.port else "127.0.0.1"
        url = urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))
    return requests.get(url, params=params, headers=headers, timeout=10,
                        allow_redirects=False, **kwargs)


@dataclass
class FakeOrder:
    trade_no: str
    out_trade_no: str
    pid: str
    type: str
    name: str
    money: str
    notify_url: str
    return_url: str = ""
    param: str = ""
    status: int = 0                     # 1 = paid
    addtime: str = ""
    endtime: str = ""
    notifies: list = field(default_factory=list)   # [(http status, body), …]


@dataclass
class NotifyResult:
    status: int
    body: str
    params: dict


class EpayGateway:
    def __init__(self, pid: str = "1001", key: str = "fake-epay-key",
                 merchants: dict[str, str] | None = None):
        self.merchants = dict(merchants or {pid: key})
        self.pid, self.key = pid, key
        self.orders: dict[str, FakeOrder] = {}
        self.submissions: list[dict] = []
        self.refusals: list[str] = []
        self._lock = threading.Lock()
        self._seq = 0
        self._server = LoopbackServer(self._wsgi)

    @property
    def apiurl(self) -> str:
        return self._server.url + "/"

    def close(self) -> None:
        self._server.close()

    # ----- what a test drives ------------------------------------------------

    def pay(self, out_trade_no: str, *, notify: bool = True, **tamper) -> list[NotifyResult]:
        """The buyer pays; the gateway sends the notify (unless ``notify=False``)."""
        order = self.orders[out_trade_no]
        with self._lock:
            order.status = 1
            order.endtime = _now()
        return self.notify(out_trade_no, **tamper) if notify else []

    def notify_params(self, out_trade_no: str, *, trade_status: str = "TRADE_SUCCESS",
                      money: str | None = None, pid: str | None = None,
                      bad_sign: bool = False, key: str | None = None,
                      as_out_trade_no: str | None = None) -> dict:
        """The signed notify fields, tampered as asked (a wrong key or pid is still signed)."""
        order = self.orders[out_trade_no]
        params = {"pid": pid or order.pid, "trade_no": order.trade_no,
                  "out_trade_no": as_out_trade_no or order.out_trade_no, "type": order.type,
                  "name": order.name, "money": money or order.money,
                  "trade_status": trade_status, "param": order.param}
        params = {k: v for k, v in params.items() if v != ""}
        params["sign"] = epay_md5(params, key or self.merchants.get(order.pid, self.key))
        if bad_sign:
            params["sign"] = params["sign"][::-1]
        params["sign_type"] = "MD5"
        return params

    def notify(self, out_trade_no: str, *, times: int = 1, **tamper) -> list[NotifyResult]:
        order = self.orders[out_trade_no]
        params = self.notify_params(out_trade_no, **tamper)
        results = []
        for _ in range(times):
            resp = loopback_get(order.notify_url, params)
            result = NotifyResult(resp.status_code, resp.text, params)
            order.notifies.append((resp.status_code, resp.text))
            results.append(result)
        return results

    def replay(self, out_trade_nos: list[str], *, times: int = 2, seed: int = 0,
               **tamper) -> list[tuple[str, NotifyResult]]:
        """Each order's notify ``times`` times, all shuffled together (out of order)."""
        sequence = [n for n in out_trade_nos for _ in range(times)]
        random.Random(seed).shuffle(sequence)
        return [(n, self.notify(n, **tamper)[0]) for n in sequence]

    # ----- the gateway's HTTP side ------------------------------------------

    def _wsgi(self, environ, start_response):
        request = Request(environ)
        handler = {"/submit.php": self._submit, "/pay.php": self._pay_page,
                   "/api.php": self._api}.get(request.path)
        response = handler(request) if handler else Response("not found", 404)
        return response(environ, start_response)

    def _refuse(self, message: str, status: int = 400) -> Response:
        self.refusals.append(message)
        return Response(f"<h1>错误</h1><p>{html.escape(message)}</p>", status,
                        content_type="text/html; charset=utf-8")

    def _submit(self, request: Request) -> Response:
        params = {**request.args.to_dict(), **request.form.to_dict()}
        self.submissions.append(params)
        for name in ("pid", "type", "out_trade_no", "notify_url", "name", "money", "sign"):
            if not params.get(name):
                return self._refuse(f"missing {name}")
        if params.get("sign_type", "MD5") != "MD5":
            return self._refuse("sign_type must be MD5")
        key = self.merchants.get(params["pid"])
        if key is None:
            return self._refuse("商户不存在")
        if params["sign"] != epay_md5(params, key):
            return self._refuse("签名校验失败")
        if params["type"] not in CHANNELS:
            return self._refuse("支付方式不存在")
        if not _MONEY.match(params["money"]) or float(params["money"]) <= 0:
            return self._refuse("金额不合法")
        if len(params["name"].encode("utf-8")) > 127:
            return self._refuse("商品名称过长")
        with self._lock:
            existing = self.orders.get(params["out_trade_no"])
            if existing and (existing.money != params["money"] or existing.pid != params["pid"]):
                return self._refuse("订单号已存在")
            if existing is None:
                self._seq += 1
                existing = FakeOrder(
                    trade_no=f"{time.strftime('%Y%m%d%H%M%S')}{self._seq:06d}",
                    out_trade_no=params["out_trade_no"], pid=params["pid"], type=params["type"],
                    name=params["name"], money=params["money"], notify_url=params["notify_url"],
                    return_url=params.get("return_url", ""), param=params.get("param", ""),
                    addtime=_now())
                self.orders[existing.out_trade_no] = existing
        page = (f"<h1>收银台</h1><p>{html.escape(existing.name)} ¥{existing.money}</p>"
                f'<form method="post" action="pay.php"><input type="hidden" name="trade_no" '
                f'value="{existing.trade_no}"><button>确认支付</button></form>')
        return Response(page, 200, content_type="text/html; charset=utf-8")

    def _pay_page(self, request: Request) -> Response:
        trade_no = request.values.get("trade_no", "")
        order = next((o for o in self.orders.values() if o.trade_no == trade_no), None)
        if order is None:
            return self._refuse("订单不存在", 404)
        self.pay(order.out_trade_no)
        if not order.return_url:
            return Response("支付成功", 200, content_type="text/plain; charset=utf-8")
        query = urlencode(self.notify_params(order.out_trade_no))
        sep = "&" if "?" in order.return_url else "?"
        return Response("", 302, headers={"Location": f"{order.return_url}{sep}{query}"})

    def _api(self, request: Request) -> Response:
        args = request.values
        if args.get("act") != "order":
            return _json({"code": -5, "msg": "不支持的操作"})  # refunds are gateway-specific
        pid, key = args.get("pid", ""), args.get("key", "")
        if pid not in self.merchants:
            return _json({"code": -2, "msg": "商户不存在"})
        if key != self.merchants[pid]:
            return _json({"code": -3, "msg": "KEY校验失败"})
        order = self.orders.get(args.get("out_trade_no", ""))
        if order is None or order.pid != pid:
            return _json({"code": -1, "msg": "订单号不存在"})
        return _json({"code": 1, "msg": "查询订单号成功！", "trade_no": order.trade_no,
                      "out_trade_no": order.out_trade_no, "type": order.type, "pid": order.pid,
                      "addtime": order.addtime, "endtime": order.endtime, "name": order.name,
                      "money": order.money, "status": order.status, "param": order.param})


def _now() -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S")


def _json(data: dict) -> Response:
    import json

    return Response(json.dumps(data, ensure_ascii=False), 200,
                    content_type="application/json; charset=utf-8")


@pytest.fixture
def epay_gateway():
    gateway = EpayGateway()
    yield gateway
    gateway.close()


def live_server(app) -> LoopbackServer:
    """Serve the Flask ``app`` on loopback (close it when done).

    On SQLite, commit in the test before calling it: the server's requests run in
    their own thread and session, and every transaction there is ``BEGIN IMMEDIATE``.
    """
    return LoopbackServer(app)
