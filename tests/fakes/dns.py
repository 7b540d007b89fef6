"""A real DNS server on loopback (dnslib), UDP and TCP on one free port, whose TXT records
a test sets: the ``dns_server`` fixture (registered in tests/conftest.py).

    dns_server.set_txt("_kameng.shop.example.com", token)   # one or more values
    dns_server.remove("_kameng.shop.example.com")
    dns_server.clear()                                       # no records at all
    dns_server.fail("servfail")  # or "timeout"; fail(None) answers again
    dns_server.nameservers       # "127.0.0.1:PORT", for KAMENG_DNS_NAMESERVERS
    dns_server.queries           # the names asked, in order

A name with no record is NXDOMAIN; a known name asked for another type is an empty
answer. When the test also uses the ``app`` fixture, the app's ``DNS_NAMESERVERS``
points here (and a short ``DNS_TIMEOUT``).
"""
from __future__ import annotations

import socket
import threading

import pytest
from dnslib import QTYPE, RCODE, RR, TXT, DNSError
from dnslib.server import BaseResolver, DNSLogger, DNSServer


class Zone(BaseResolver):
    def __init__(self):
        self.txt: dict[str, tuple[str, ...]] = {}
        self.mode: str | None = None
        self.queries: list[str] = []
        self.on_query = None  # called with the name, in the server's thread, before answering
        self.lock = threading.Lock()

    def resolve(self, request, handler):
        name = str(request.q.qname).rstrip(".").lower()
        with self.lock:
            self.queries.append(name)
            values, mode = self.txt.get(name), self.mode
        if self.on_query is not None:
            self.on_query(name)
        reply = request.reply()
        if mode == "timeout":
            raise DNSError("dropped")  # dnslib sends nothing: the client times out
        if mode == "servfail":
            reply.header.rcode = RCODE.SERVFAIL
            return reply
        if values is None:
            reply.header.rcode = RCODE.NXDOMAIN
            return reply
        if request.q.qtype == QTYPE.TXT:
            for value in values:
                reply.add_answer(RR(request.q.qname, QTYPE.TXT, rdata=TXT(value), ttl=60))
        return reply


class FakeDNS:
    def __init__(self):
        self.zone = Zone()
        self.port = 0
        self._servers: list[DNSServer] = []

    @property
    def nameservers(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def queries(self) -> list[str]:
        return self.zone.queries

    def set_txt(self, name: str, *values: str) -> None:
        with self.zone.lock:
            self.zone.txt[name.rstrip(".").lower()] = tuple(values)

    def remove(self, name: str) -> None:
        with self.zone.lock:
            self.zone.txt.pop(name.rstrip(".").lower(), None)

    def clear(self) -> None:
        with self.zone.lock:
            self.zone.txt.clear()
            self.zone.mode = None

    def fail(self, mode: str | None) -> None:
        assert mode in (None, "servfail", "timeout")
        self.zone.mode = mode

    def start(self) -> FakeDNS:
        quiet = DNSLogger(log="-request,-reply,-truncated,-error,-recv,-send,-data",
                          prefix=False)
        for _ in range(20):  # a port free for both UDP and TCP
            port = _free_port()
            try:
                udp = DNSServer(self.zone, port=port, address="127.0.0.1", logger=quiet)
                tcp = DNSServer(self.zone, port=port, address="127.0.0.1", tcp=True,
                                logger=quiet)
            except OSError:
                continue
            self.port, self._servers = port, [udp, tcp]
            for server in self._servers:
                server.start_thread()
            return self
        raise RuntimeError("no free port for the fake DNS server")

    def stop(self) -> None:
        for server in self._servers:
            server.stop()
            server.server.server_close()
        self._servers = []


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def dns_server(request):
    server = FakeDNS().start()
    if "app" in request.fixturenames:
        app = request.getfixturevalue("app")
        app.config["DNS_NAMESERVERS"] = server.nameservers
        app.config["DNS_TIMEOUT"] = 1.0
    yield server
    server.stop()
