"""``kameng doctor``: every check passes on a healthy installation and each can fail."""
from __future__ import annotations

from datetime import timedelta

import pytest
from flask_migrate import stamp
from rq import Worker

from kameng.core.extensions import db
from kameng.core.jobs import QUEUES, enqueue
from kameng.core.models import utcnow
from kameng.ops import doctor

LONG_SECRET = "s" * 48
pytestmark = pytest.mark.usefixtures("no_alembic_version")


def _by_name(findings):
    return {f.name: f for f in findings}


def _healthy(app, redis_client):
    app.config.update(SECRET_KEY=LONG_SECRET, BASE_DOMAIN="shops.example.com")
    stamp(directory=app.extensions["migrate"].directory, revision="head")
    worker = Worker(list(QUEUES), connection=redis_client, name="doctor-test")
    worker.register_birth()
    redis_client.set(doctor.HEARTBEAT_KEY, utcnow().isoformat())
    return worker


def test_a_healthy_installation_passes(app, cli, redis_client):
    worker = _healthy(app, redis_client)
    try:
        result = cli("doctor")
        assert result.exit_code == 0, result.output + str(result.stderr)
        assert "all checks passed" in result.output
        for name in ("config.secret_key", "config.base_domain", "database", "redis", "keys",
                     "workers", "scheduler", "queues", "orders"):
            assert f"ok   {name}:" in result.output, name
    finally:
        worker.register_death()


def test_the_command_prints_the_fixes_and_fails(app, cli):
    result = cli("doctor")  # the test app: a weak secret, no migration recorded, no worker
    assert result.exit_code != 0 and "problem(s) found" in result.stderr
    assert "FAIL config.secret_key" in result.output and "fix: " in result.output


def test_an_unreachable_database_fails(app, tmp_path, redis_url):
    from kameng.webapp import create_app

    dead = create_app({"TESTING": True, "INSTANCE_PATH": str(tmp_path / "dead"),
                       "DATABASE_URL": "postgresql://postgres@127.0.0.1:1/nothing",
                       "REDIS_URL": redis_url, "SECRET_KEY": LONG_SECRET})
    with dead.app_context():
        (finding,) = doctor.check_database()
        db.session.remove()
    assert not finding.ok and "not reachable" in finding.detail
    assert "KAMENG_DATABASE_URL" in finding.fix


def test_configuration_checks_fail(app):
    app.config.update(SECRET_KEY="test-secret", BASE_DOMAIN="localhost")
    found = _by_name(doctor.check_config())
    assert not found["config.secret_key"].ok and "KAMENG_SECRET_KEY" in \
        found["config.secret_key"].fix
    assert not found["config.base_domain"].ok


def test_database_not_at_head_fails(app):
    # the fixture built the schema from the models: no migration is recorded
    (finding,) = doctor.check_database()
    assert not finding.ok and "kameng db upgrade" in finding.fix
    stamp(directory=app.extensions["migrate"].directory, revision="02f2032b2059")
    (finding,) = doctor.check_database()
    assert not finding.ok and "02f2032b2059" in finding.detail


def test_redis_checks_fail(app, redis_client):
    class EvictingRedis:  # CONFIG is server-wide on the shared Redis: not set for real
        def ping(self):
            return True

        def config_get(self, name):
            return {"maxmemory-policy": "allkeys-lru"}

    (finding,) = doctor.check_redis(EvictingRedis())
    assert not finding.ok and "allkeys-lru" in finding.detail and "noeviction" in finding.fix
    import redis

    (finding,) = doctor.check_redis(redis.Redis(port=1, socket_connect_timeout=0.5))
    assert not finding.ok and "not reachable" in finding.detail
    (finding,) = doctor.check_redis()  # the real server is set up right
    assert finding.ok, finding.detail


def test_a_row_under_a_key_the_ring_lacks_fails(app):
    from kameng.shop.suppliers import services as suppliers
    from kameng.shop.suppliers.models import Supplier

    supplier = suppliers.create_supplier("up", "http_topup", base_url="https://up.example.com",
                                         key_id="acct", secret="s3cret")
    assert doctor.check_keys()[0].ok
    db.session.execute(Supplier.__table__.update().where(Supplier.id == supplier.id)
                       .values(secret_ciphertext="k9:AAAA"))
    db.session.commit()
    (finding,) = doctor.check_keys()
    assert not finding.ok and "k9 (1 rows)" in finding.detail


def test_workers_and_scheduler_checks_fail(app, redis_client):
    found = _by_name(doctor.check_workers())
    assert not found["workers"].ok and not found["scheduler"].ok
    worker = Worker(["fulfilment"], connection=redis_client, name="doctor-half")
    worker.register_birth()
    redis_client.set(doctor.HEARTBEAT_KEY, (utcnow() - timedelta(minutes=10)).isoformat())
    try:
        found = _by_name(doctor.check_workers())
        assert not found["workers"].ok and "mail" in found["workers"].detail
        assert not found["scheduler"].ok and "600 s ago" in found["scheduler"].detail
    finally:
        worker.register_death()


def test_a_deep_queue_fails(app, redis_client):
    for _ in range(3):
        enqueue("mail", "kameng.workers.jobs.heartbeat")
    (finding,) = doctor.check_queues(max_depth=2)
    assert not finding.ok and "mail 3" in finding.detail
    assert doctor.check_queues(max_depth=3)[0].ok


@pytest.mark.both
def test_an_order_paid_long_ago_and_not_delivered_fails(app, tree):
    from kameng.sales.models import Order

    order = Order(tenant_id=tree.star.id, order_no="KSTUCK1", status="paid", currency="CNY",
                  amount=100, paid_at=utcnow() - timedelta(minutes=30))
    db.session.add(order)
    db.session.commit()
    (finding,) = doctor.check_stuck_orders(minutes=15)
    assert not finding.ok and "KSTUCK1" in finding.detail
    assert doctor.check_stuck_orders(minutes=60)[0].ok
