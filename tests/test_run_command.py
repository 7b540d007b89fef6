"""The README's first command: ``kameng run`` brings up web + worker + scheduler
on the embedded default (SQLite + embedded Redis) with demo data — and seeds the
demo's published logins nowhere else unless asked."""
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


def kameng_env(tmp_path, **settings) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("KAMENG_")}
    env["KAMENG_INSTANCE_PATH"] = str(tmp_path / "instance")
    env.update({f"KAMENG_{k}": v for k, v in settings.items()})
    return env


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
    env = kameng_env(tmp_path)
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
        assert "demo data seeded into the empty embedded default database" in output

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
        # a newcomer can open a shop on the master's site
        assert f"open a shop  http://master.localhost:{port}/open-shop" in output
        form = get("master.localhost", "/open-shop")
        assert form.status_code == 200 and 'name="slug"' in form.text
        assert "卡盟总站" not in get("unknown.localhost").text

        # the worker and scheduler are alive: the scheduler's heartbeat job ran
        import redis

        redis_url = re.search(r"kameng: redis (\S+)", output).group(1)
        r = redis.Redis.from_url(redis_url)
        wait_for(lambda: r.get("kameng:heartbeat"), timeout=90)
        r.close()

        # the worker's per-job lines go to the log file the banner names, not here
        worker_log = tmp_path / "instance" / "logs" / "worker.log"
        assert f"worker and scheduler log: {worker_log}" in output
        wait_for(lambda: worker_log.exists()
                 and "kameng.workers.jobs.heartbeat" in worker_log.read_text(), timeout=30)
    finally:
        _stop(proc)
        log.seek(0)
        everything = log.read()
        tail = everything[-3000:]
    assert proc.returncode == 0, tail
    assert "stopped" in tail
    assert "kameng.workers.jobs.heartbeat" not in everything, tail

    # every later start prints the shops and the logins again, and --verbose shows the
    # workers' lines in the terminal
    code, again = _start_run(tmp_path, env, "--verbose", name="again")
    assert code == 0, again[-3000:]
    assert "the database has shops: no demo data seeded" in again, again[-3000:]
    for host in ("master.localhost", "star.localhost", "rocket.localhost"):
        assert f"http://{host}:" in again, again[-3000:]
    assert "owner@star.localhost / kameng-demo" in again
    assert "buyer@rocket.localhost / kameng-demo" in again
    assert "/open-shop" in again
    assert "worker and scheduler log: this terminal" in again
    # nothing left listening
    with pytest.raises(requests.ConnectionError):
        requests.get(f"http://127.0.0.1:{port}/healthz", timeout=2)


def _stop(proc) -> None:
    """SIGINT to the run's process group; SIGKILL if it has not stopped within 40 s."""
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGINT)
    try:
        proc.wait(timeout=40)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        raise


def _ok(call):
    try:
        return call().status_code in (200, 404)
    except requests.RequestException:
        return False


def _config(tmp_path, url=None) -> dict:
    from kameng.core.config import load_config

    instance = tmp_path / "instance"
    environ = {"KAMENG_INSTANCE_PATH": str(instance)}
    if url:
        environ["KAMENG_DATABASE_URL"] = url
    return load_config(environ=environ)


def test_run_seeds_the_demo_only_into_an_empty_embedded_default_unless_asked(tmp_path):
    from kameng.demo import run_seeding

    default = _config(tmp_path)
    postgres = _config(tmp_path, "postgresql://kameng@db.internal/kameng")
    elsewhere = _config(tmp_path, f"sqlite:///{tmp_path / 'shop.db'}")
    assert run_seeding(default, asked=None, empty=True)[0] is True
    for config in (postgres, elsewhere):
        seed, said = run_seeding(config, asked=None, empty=True)
        assert seed is False and "not the embedded default" in said and "kameng demo seed" in said
    for config in (default, postgres):
        seed, said = run_seeding(config, asked=None, empty=False)
        assert seed is False and "no demo data seeded" in said
        assert run_seeding(config, asked=False, empty=True)[0] is False
        assert run_seeding(config, asked=True, empty=True)[0] is True
        with pytest.raises(ValueError, match="--demo needs an empty one"):
            run_seeding(config, asked=True, empty=False)


def _start_run(tmp_path, env, *args, name="run"):
    port = free_port()
    log = open(tmp_path / f"{name}.log", "w+")
    proc = subprocess.Popen([sys.executable, "-m", "kameng.cli", "run", "--port", str(port),
                             *args], env=env, stdout=log, stderr=subprocess.STDOUT,
                            cwd=tmp_path, start_new_session=True)

    def ready():
        log.seek(0)
        text = log.read()
        return text if "Ctrl-C stops everything" in text or proc.poll() is not None else None

    try:
        wait_for(ready, timeout=120)
    finally:
        _stop(proc)
    log.seek(0)
    return proc.returncode, log.read()


def _shops(url: str) -> list[str]:
    import sqlite3

    with sqlite3.connect(url.removeprefix("sqlite:///")) as conn:
        return [row[0] for row in conn.execute("SELECT slug FROM tenants ORDER BY id")]


def test_run_on_a_configured_database_seeds_no_demo_logins(tmp_path):
    """An empty database named by KAMENG_DATABASE_URL (production's case) gets no demo
    logins from ``kameng run``: it says so; ``kameng demo seed`` adds them when asked, and
    ``kameng run --demo`` refuses a database that has shops."""
    url = f"sqlite:///{tmp_path / 'production.db'}"
    env = kameng_env(tmp_path, DATABASE_URL=url)
    code, output = _start_run(tmp_path, env)
    assert code == 0, output[-3000:]
    assert "not the embedded default: no demo data seeded" in output, output[-3000:]
    assert "kameng-demo" not in output and "owner@" not in output
    assert _shops(url) == []

    seeded = subprocess.run([sys.executable, "-m", "kameng.cli", "demo", "seed"], env=env,
                            cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert seeded.returncode == 0, seeded.stderr[-3000:]
    assert _shops(url) == ["master", "star", "rocket"]

    code, output = _start_run(tmp_path, env, "--demo", name="again")
    assert code != 0 and "--demo needs an empty one" in output, output[-3000:]
    assert _shops(url) == ["master", "star", "rocket"]
