"""A gateway that never answers: a TCP listener on loopback that accepts every connection,
reads what the client sends and never replies, until the client gives up.

    gw = SilentGateway()
    gw.apiurl                   # "http://127.0.0.1:PORT/"
    gw.wait_for_connection()    # a client has connected (and is being ignored)
    gw.holding()                # connections whose client has not hung up yet
    gw.closed                   # how many clients hung up
"""
from __future__ import annotations

import socket
import threading

import pytest


class SilentGateway:
    def __init__(self):
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(16)
        self.port = self._sock.getsockname()[1]
        self._cond = threading.Condition()
        self._open: list[socket.socket] = []
        self.accepted = 0
        self.closed = 0
        self.received = b""
        self._stopping = False
        threading.Thread(target=self._accept, daemon=True, name=f"silent-{self.port}").start()

    @property
    def apiurl(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    def _accept(self) -> None:
        while not self._stopping:
            try:
                conn, _ = self._sock.accept()
            except OSError:
                return
            with self._cond:
                self.accepted += 1
                self._open.append(conn)
                self._cond.notify_all()
            threading.Thread(target=self._drain, args=(conn,), daemon=True).start()

    def _drain(self, conn: socket.socket) -> None:
        # read the request and say nothing; recv returns b"" when the client hangs up
        try:
            while True:
                data = conn.recv(4096)
                if not data:
                    break
                with self._cond:
                    self.received += data
        except OSError:
            pass
        with self._cond:
            if conn in self._open:
                self._open.remove(conn)
                self.closed += 1
            self._cond.notify_all()
        conn.close()

    def holding(self) -> int:
        with self._cond:
            return len(self._open)

    def wait_for_connection(self, timeout: float = 30) -> None:
        with self._cond:
            if not self._cond.wait_for(lambda: self.accepted >= 1, timeout=timeout):
                raise AssertionError("nobody connected to the silent gateway")

    def wait_until_hung_up(self, count: int = 1, timeout: float = 60) -> None:
        with self._cond:
            if not self._cond.wait_for(lambda: self.closed >= count, timeout=timeout):
                raise AssertionError(f"the client did not hang up ({self.closed} closed)")

    def close(self) -> None:
        self._stopping = True
        self._sock.close()
        with self._cond:
            for conn in self._open:
                try:
                    conn.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass


@pytest.fixture
def silent_gateway():
    gateway = SilentGateway()
    yield gateway
    gateway.close()
