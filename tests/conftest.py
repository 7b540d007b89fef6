"""Fixtures: a real app on real PostgreSQL (and SQLite), a real Redis."""
from __future__ import annotations

import contextvars
import os

import pytest
import redis as redis_lib
from flask.globals import _cv_app
from flask.testing import FlaskClient
from sqlalchemy import text

from kameng.core.extensions import db
from kameng.core.scoping import ALL, reset_scope, set_scope
from tests.fakes.dns import dns_server  # noqa: F401  (fixture: a loopback DNS server)
from tests.services import PostgresForTests, RedisForTests

BACKENDS = ("postgresql", "sqlite")


def pytest_generate_tests(metafunc):
    if "backend" in metafunc.fixturenames:
        wanted = BACKENDS if metafunc.definition.get_closest_marker("both") else ("postgresql",)
        only = os.environ.get("KAMENG_TEST_BACKENDS")
        if only:
            wanted = tuple(b for b in wanted if b in only.split(","))
        metafunc.parametrize("backend", wanted or ("sqlite",), scope="function")


@pytest.fixture(scope="session")
def pg():
    server = PostgresForTests()
    yield server
    server.close()


@pytest.fixture(scope="session")
def redis_url():
    server = RedisForTests()
    yield server.url
    server.close()


@pytest.fixture
def redis_client(redis_url):
    client = redis_lib.Redis.from_url(redis_url)
    client.flushdb()
    yield client
    client.flushdb()
    client.close()


_pg_schema_ready: set[str] = set()


@pytest.fixture
def app(request, backend, tmp_path, redis_client, redis_url):
    from kameng.webapp import create_app

    if backend == "postgresql":
        url = request.getfixturevalue("pg").url
    else:
        url = f"sqlite:///{tmp_path / 'kameng.db'}"
    application = create_app({
        "TESTING": True,
        "INSTANCE_PATH": str(tmp_path / "instance"),
        "DATABASE_URL": url,
        "REDIS_URL": redis_url,
        "SECRET_KEY": "test-secret",
        "ARGON2_PROFILE": "CHEAPEST",
        # pages must show each change at once in tests; the cache has its own test
        "PAGE_CACHE_SECONDS": 0,
        "WTF_CSRF_ENABLED": False,
        "BASE_DOMAIN": "localhost",
        # the fake gateways and suppliers listen on loopback: allowed by the operator's
        # setting, as a deployment would allow an upstream on its own network
        "OUTBOUND_ALLOW": "127.0.0.1",
        "SERVER_NAME": None,
        # service messages raised outside a request (CLI, direct service calls) read in
        # English, the source language the assertions are written in
        "BABEL_DEFAULT_LOCALE": "en",
        **_marker_config(request),
    })
    token = set_scope(ALL)
    with application.app_context():
        if backend == "sqlite" or url not in _pg_schema_ready:
            db.drop_all()
            db.create_all()
            _pg_schema_ready.add(url)
        else:
            _truncate_all()
        yield application
        db.session.remove()
        for engine in db.engines.values():
            engine.dispose()
    reset_scope(token)


def _marker_config(request) -> dict:
    marker = request.node.get_closest_marker("app_config")
    return dict(marker.kwargs) if marker else {}


def _truncate_all():
    from kameng.billing.ledger.services import forget_accounts

    tables = ", ".join(f'"{t.name}"' for t in db.metadata.sorted_tables)
    if tables:
        db.session.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
        db.session.commit()
    forget_accounts()  # the ids it remembered name rows that are gone


@pytest.fixture
def cli(app):
    """Invoke the real ``kameng`` command group against the test app."""
    from kameng.cli import cli as kameng_cli

    runner = app.test_cli_runner(mix_stderr=False) if _mix_stderr_supported() \
        else app.test_cli_runner()

    def invoke(*args, **kwargs):
        return runner.invoke(kameng_cli, [str(a) for a in args], **kwargs)

    return invoke


def _mix_stderr_supported() -> bool:
    import inspect

    from click.testing import CliRunner

    return "mix_stderr" in inspect.signature(CliRunner.__init__).parameters


class HostClient(FlaskClient):
    """A test client whose every request goes to one Host.

    Each request runs as in production: in its own app context (so its own
    ``g``, DB session and tenant scope), after the test's own session has
    committed — otherwise the test's open SQLite write transaction would block
    the request, and ``g`` would leak between requests.
    """

    host = "localhost"

    def open(self, *args, **kwargs):
        if not (args and not isinstance(args[0], str)):
            kwargs.setdefault("base_url", f"http://{self.host}")
        db.session.commit()
        return contextvars.copy_context().run(self._open_fresh, *args, **kwargs)

    def _open_fresh(self, *args, **kwargs):
        _cv_app.set(None)
        return super().open(*args, **kwargs)


def host_client(app, host: str) -> HostClient:
    client = HostClient(app, app.response_class, use_cookies=True)
    client.host = host
    return client


@pytest.fixture
def client_for(app):
    return lambda host: host_client(app, host)


@pytest.fixture
def second_app(app):
    """Another instance of the platform (another process in production): same database
    and Redis, its own caches."""
    from kameng.webapp import create_app

    other = create_app({k: app.config[k] for k in (
        "TESTING", "INSTANCE_PATH", "DATABASE_URL", "REDIS_URL", "SECRET_KEY",
        "ARGON2_PROFILE", "PAGE_CACHE_SECONDS", "FRAGMENT_CACHE_SECONDS", "BASE_DOMAIN",
        "SERVER_NAME", "BABEL_DEFAULT_LOCALE")})
    yield other
    with other.app_context():
        db.session.remove()
        for engine in db.engines.values():
            engine.dispose()


@pytest.fixture
def tree(app):
    """master → star → rocket, each with an owner and a customer (the demo shape)."""
    from tests.helpers import make_tree

    return make_tree()
