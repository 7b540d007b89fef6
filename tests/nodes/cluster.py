"""Real processes for the several-nodes tests: ``kameng serve`` nodes, ``kameng worker``s,
``kameng scheduler``s and an nginx that round-robins between the web nodes.

Every process runs in a session of its own, so a SIGKILL of its group takes its children
with it (gunicorn's workers, RQ's scheduler child) as a crashed machine would; every file
(logs, nginx's pid and temp folders) is under the test's tmp folder.
"""
from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import requests


def nginx_binary() -> str | None:
    # Debian puts it in /usr/sbin, which is not on a non-root user's PATH
    return shutil.which("nginx") or shutil.which("nginx", path="/usr/sbin:/usr/local/sbin")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


NGINX_CONF = """\
daemon off;
worker_processes 1;
pid {tmp}/nginx.pid;
error_log {tmp}/nginx-error.log warn;
{user}
events {{ worker_connections 512; }}

http {{
    client_body_temp_path {tmp}/nginx-body;
    proxy_temp_path {tmp}/nginx-proxy;
    fastcgi_temp_path {tmp}/nginx-fastcgi;
    uwsgi_temp_path {tmp}/nginx-uwsgi;
    scgi_temp_path {tmp}/nginx-scgi;
    # which node answered each request: the test reads it to see the round-robin
    log_format nodes '$upstream_addr $status $request_method $uri';
    access_log {tmp}/nginx-access.log nodes;

    upstream kameng {{
        # round-robin (nginx's default); a node that refuses a connection is passed over
        # for a few seconds, and the request goes to the next one
{servers}
    }}

    server {{
        listen 127.0.0.1:{port};
        location / {{
            proxy_pass http://kameng;
            proxy_set_header Host $host;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            proxy_set_header X-Forwarded-Proto $scheme;
            # a node that is down (connection refused) is skipped; a POST that reached a
            # node which then died is NOT replayed elsewhere (nginx never retries a
            # non-idempotent request once sent): the client retries it with its
            # Idempotency-Key
            proxy_next_upstream error timeout;
            proxy_connect_timeout 2s;
            proxy_read_timeout 60s;
        }}
    }}
}}
"""


@dataclass
class Proc:
    name: str
    popen: subprocess.Popen
    log: Path
    port: int | None = None

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def alive(self) -> bool:
        return self.popen.poll() is None

    def tail(self, chars: int = 3000) -> str:
        try:
            return self.log.read_text(errors="replace")[-chars:]
        except OSError:
            return ""


@dataclass
class Cluster:
    tmp: Path
    env: dict
    procs: dict[str, Proc] = field(default_factory=dict)

    # ----- starting ---------------------------------------------------------------------

    def _popen(self, name: str, argv: list[str], port: int | None = None) -> Proc:
        log = self.tmp / f"{name}.log"
        with open(log, "wb") as out:
            popen = subprocess.Popen(argv, env=self.env, stdout=out, stderr=subprocess.STDOUT,
                                     start_new_session=True)
        proc = Proc(name, popen, log, port)
        self.procs[name] = proc
        return proc

    def kameng(self, name: str, *args: str, port: int | None = None) -> Proc:
        return self._popen(name, [sys.executable, "-m", "kameng.cli", *args], port)

    def web(self, name: str) -> Proc:
        port = free_port()
        # one gunicorn worker per node: a node is one process with its own caches
        return self.kameng(name, "serve", "--host", "127.0.0.1", "--port", str(port),
                           "--workers", "1", "--threads", "4", port=port)

    def proxy(self, upstreams: list[Proc]) -> Proc:
        port = free_port()
        servers = "\n".join(f"        server 127.0.0.1:{p.port} max_fails=1 fail_timeout=3s;"
                            for p in upstreams)
        # as root, nginx's worker would drop to "nobody", who cannot enter the test's
        # private tmp folder; it stays root here (nothing but loopback is served)
        user = "user root;" if os.geteuid() == 0 else ""
        conf = self.tmp / "nginx.conf"
        conf.write_text(NGINX_CONF.format(tmp=self.tmp, port=port, servers=servers, user=user))
        # -e: the error log before the configuration is read (the default is under /var/log)
        return self._popen("nginx", [nginx_binary(), "-p", str(self.tmp), "-c", str(conf),
                                     "-e", str(self.tmp / "nginx-error.log")], port)

    # ----- waiting ----------------------------------------------------------------------

    def wait_http(self, proc: Proc, timeout: float = 90.0) -> None:
        deadline = time.time() + timeout
        while time.time() < deadline:
            if not proc.alive():
                raise AssertionError(f"{proc.name} exited while starting:\n{proc.tail()}")
            try:
                if requests.get(proc.base + "/healthz", timeout=2).status_code == 200:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.2)
        raise AssertionError(f"{proc.name} did not answer in {timeout:.0f} s:\n{proc.tail()}")

    def wait_workers(self, redis_client, count: int, timeout: float = 90.0) -> None:
        from rq import Worker

        deadline = time.time() + timeout
        while time.time() < deadline:
            if len(Worker.all(connection=redis_client)) >= count:
                return
            time.sleep(0.2)
        logs = "\n".join(p.tail(1000) for p in self.procs.values() if "worker" in p.name)
        raise AssertionError(f"{count} worker(s) did not register:\n{logs}")

    # ----- stopping ---------------------------------------------------------------------

    def kill(self, name: str) -> None:
        """SIGKILL the process and its children: no clean-up of any kind runs."""
        proc = self.procs[name]
        os.killpg(proc.popen.pid, signal.SIGKILL)
        proc.popen.wait(timeout=10)

    def stop(self) -> None:
        for proc in self.procs.values():
            if proc.alive():
                try:
                    os.killpg(proc.popen.pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass
        deadline = time.time() + 15
        for proc in self.procs.values():
            try:
                proc.popen.wait(timeout=max(0.1, deadline - time.time()))
            except subprocess.TimeoutExpired:
                pass
        for proc in self.procs.values():
            try:  # whatever is left of the group (an orphaned child), and a stuck leader
                os.killpg(proc.popen.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            if proc.popen.poll() is None:
                proc.popen.wait(timeout=10)

    # ----- sizing -----------------------------------------------------------------------

    def memory_mb(self, name: str) -> tuple[float, float]:
        """(RSS, PSS) of the process and its children (gunicorn's worker, RQ's scheduler
        child …), in MB. RSS counts the pages a forked child shares with its parent once
        per process; PSS splits them, so PSS sums to what the group really costs."""
        pids = _tree(self.procs[name].popen.pid)
        return (sum(_status_kb(p, "VmRSS:") for p in pids) / 1024,
                sum(_rollup_kb(p, "Pss:") for p in pids) / 1024)


def _tree(root: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as fh:
                    ppid = int(fh.read().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(entry))
    found = [root]
    for pid in found:  # grows while it is walked: breadth first
        found.extend(children.get(pid, ()))
    return found


def _status_kb(pid: int, field: str) -> int:
    return _field_kb(f"/proc/{pid}/status", field)


def _rollup_kb(pid: int, field: str) -> int:
    return _field_kb(f"/proc/{pid}/smaps_rollup", field)


def _field_kb(path: str, field: str) -> int:
    try:
        with open(path) as fh:
            for line in fh:
                if line.startswith(field):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0
