"""The README's first command: ``kameng run`` brings up web + worker + scheduler
on the embedded default (SQLite + embedded Redis) with demo data."""
from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time

import pytest
import requests

pytestmark = [pytest.mark.smoke, pytest.mark.slow]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(predicate, timeout=60.0, interval=0.25):
    deadline = time.time() + timeout
    while time.time() < deadline:
        result = predicate()
        if result:
            return result
        time.sleep(interval)
    raise AssertionError("timed out")


def test_run_serves_demo_shops_and_stops_cleanly(tmp_path):
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("KAMENG_")}
    env["KAMENG_INSTANCE_PATH"] = str(tmp_path / "instance")
    log = open(tmp_path / "run.log", "w+")
    proc = subprocess.Popen([sys.executable, "-m", "kameng.cli", "run", "--port", str(port)],
                            env=env, stdout=log, stderr=subprocess.STDOUT, cwd=tmp_path,
                            start_new_session=True)
    try:
        def ready():
            log.seek(0)
            text = log.read()
            return text if "Ctrl-C stops everything" in text else None

        try:
            output = wait_for(ready, timeout=120)
        except AssertionError:
            log.seek(0)
            raise AssertionError(log.read()[-4000:]) from None
        hosts = re.findall(rf"http://([a-z0-9.-]+):{port}/", output)
        assert {"master.localhost", "star.localhost", "rocket.localhost"} <= set(hosts), output
        assert "owner@star.localhost" in output and "kameng-demo" in output

        def get(host, path="/"):
            return requests.get(f"http://127.0.0.1:{port}{path}", headers={"Host": host},
                                timeout=10)

        wait_for(lambda: _ok(lambda: get("master.localhost")), timeout=60)
        names = {"master.localhost": "卡盟总站", "star.localhost": "星光卡铺",
                 "rocket.localhost": "Rocket Top-ups"}
        themes = set()
        for host, name in names.items():
            resp = get(host)
            assert resp.status_code == 200
            assert name in resp.text
            themes.add(re.search(r'<body class="[^"]*\btheme-([a-z0-9_-]+)', resp.text).group(1))
        assert len(themes) == 3
        assert get("unknown.localhost").status_code == 404
        assert "卡盟总站" not in get("unknown.localhost").text

        # the worker and scheduler are alive: the scheduler's heartbeat job ran
        import redis

        redis_url = re.search(r"kameng: redis (\S+)", output).group(1)
        r = redis.Redis.from_url(redis_url)
        wait_for(lambda: r.get("kameng:heartbeat"), timeout=90)
        r.close()
    finally:
        os.killpg(proc.pid, signal.SIGINT) if proc.poll() is None else None
        try:
            proc.wait(timeout=40)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            raise
        log.seek(0)
        tail = log.read()[-3000:]
    assert proc.returncode == 0, tail
    assert "stopped" in tail
    # nothing left listening
    with pytest.raises(requests.ConnectionError):
        requests.get(f"http://127.0.0.1:{port}/healthz", timeout=2)


def _ok(call):
    try:
        return call().status_code in (200, 404)
    except requests.RequestException:
        return False
