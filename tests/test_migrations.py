"""Alembic migrations: one head, and they build exactly the schema the models declare."""
from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from flask_migrate import upgrade

from kameng.core.extensions import db

pytestmark = pytest.mark.smoke


def test_single_head():
    from importlib.resources import files

    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(files("kameng.migrations")))
    assert len(ScriptDirectory.from_config(cfg).get_heads()) == 1


@pytest.fixture
def migrated_app(pg, tmp_path, redis_url):
    from kameng.webapp import create_app

    url = pg.new_database("migrations")
    app = create_app({"TESTING": True, "INSTANCE_PATH": str(tmp_path), "DATABASE_URL": url,
                      "REDIS_URL": redis_url, "SECRET_KEY": "x"})
    with app.app_context():
        upgrade(directory=app.extensions["migrate"].directory)
        yield app
        db.session.remove()
        db.engine.dispose()


def test_models_and_migrations_agree_on_postgresql(migrated_app):
    with db.engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"compare_type": True})
        diff = compare_metadata(ctx, db.metadata)
    assert diff == [], "models differ from migrations; run `kameng db migrate`:\n" + \
        "\n".join(map(str, diff))


def test_the_index_migrations_step_down_and_up_again_on_postgresql(migrated_app):
    """The two index drops (f3, f4) undo and redo cleanly: their downgrades build the
    indexes again (concurrently, outside a transaction) and the schema ends as it began."""
    from flask_migrate import downgrade
    from sqlalchemy import text

    directory = migrated_app.extensions["migrate"].directory
    names = ("ix_ledger_entries_account_id", "ix_orders_tenant_id")

    def present():
        found = set(db.session.scalars(text(
            "SELECT indexname FROM pg_indexes WHERE indexname = ANY(:names)"),
            {"names": list(names)}))
        # no transaction left open: a concurrent index build waits for every one
        db.session.rollback()
        return found

    assert present() == set()
    downgrade(directory=directory, revision="3e8b5f1c9d42")
    assert present() == set(names)
    valid = db.session.scalars(text(
        "SELECT bool_and(indisvalid) FROM pg_index WHERE indexrelid::regclass::text"
        " = ANY(:names)"), {"names": list(names)}).one()
    db.session.rollback()
    assert valid
    upgrade(directory=directory)
    assert present() == set()


def test_migrations_run_on_sqlite(tmp_path, redis_url):
    from kameng.webapp import create_app

    app = create_app({"TESTING": True, "INSTANCE_PATH": str(tmp_path), "REDIS_URL": redis_url,
                      "DATABASE_URL": f"sqlite:///{tmp_path / 'm.db'}", "SECRET_KEY": "x"})
    with app.app_context():
        upgrade(directory=app.extensions["migrate"].directory)
        with db.engine.connect() as conn:
            ctx = MigrationContext.configure(conn, opts={"compare_type": False})
            diff = [d for d in compare_metadata(ctx, db.metadata)]
        db.engine.dispose()
    assert diff == []


def test_migrations_install_the_ledger_triggers(migrated_app):
    from sqlalchemy import text

    names = set(db.session.scalars(text(
        "SELECT tgname FROM pg_trigger WHERE NOT tgisinternal")))
    assert names, "the ledger's PostgreSQL triggers are missing"
    assert any("ledger" in n or "entr" in n for n in names), names


def _sealed_the_old_way(secret_key: str, plaintext: str, aad: bytes) -> str:
    """How payment secrets were sealed before b68e3d75e380: a key derived from SECRET_KEY."""
    import base64
    import os

    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM
    from cryptography.hazmat.primitives.kdf.hkdf import HKDF

    key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None,
               info=b"kameng:payment-secret:v1").derive(secret_key.encode())
    nonce = os.urandom(12)
    return "v1:" + base64.urlsafe_b64encode(nonce + AESGCM(key).encrypt(
        nonce, plaintext.encode(), aad)).decode()


@pytest.mark.both
def test_old_payment_secrets_are_resealed_on_the_key_ring(request, backend, tmp_path,
                                                           redis_url):
    from datetime import UTC, datetime

    import sqlalchemy as sa

    from kameng.billing.payments import secrets
    from kameng.core.crypto import new_key
    from kameng.webapp import create_app

    url = (request.getfixturevalue("pg").new_database("reseal") if backend == "postgresql"
           else f"sqlite:///{tmp_path / 'm.db'}")
    app = create_app({"TESTING": True, "INSTANCE_PATH": str(tmp_path), "DATABASE_URL": url,
                      "REDIS_URL": redis_url, "SECRET_KEY": "old-session-key",
                      "CODE_KEYS": f"k1:{new_key()}"})
    directory = app.extensions["migrate"].directory
    now = datetime.now(UTC)
    tenants = sa.table("tenants", *(sa.column(c) for c in (
        "id", "path", "depth", "slug", "name", "status", "theme", "settings", "currency",
        "locale", "created_at")))
    configs = sa.table("payment_method_configs", *(sa.column(c) for c in (
        "id", "tenant_id", "provider", "enabled", "settings", "updated_at", "created_at")),
        sa.column("secrets", sa.JSON))
    with app.app_context():
        upgrade(directory=directory, revision="02f2032b2059")
        old = _sealed_the_old_way("old-session-key", "merchant-key",
                                  secrets.aad(1, "epay", "key"))
        with db.engine.begin() as conn:
            conn.execute(tenants.insert().values(
                id=1, path="1", depth=0, slug="master", name="Master", status="active",
                theme="default", settings="{}", currency="CNY", locale="zh_CN", created_at=now))
            conn.execute(configs.insert().values(
                id=1, tenant_id=1, provider="epay", enabled=True, settings="{}",
                secrets={"key": old}, updated_at=now, created_at=now))
        upgrade(directory=directory)
        with db.engine.connect() as conn:
            token = conn.execute(sa.select(configs.c.secrets)).scalar_one()["key"]
        assert token.startswith("k1:")
        assert secrets.unseal(token, tenant_id=1, provider="epay", name="key") == "merchant-key"
        # rotating the session key no longer loses it
        app.config["SECRET_KEY"] = "rotated"
        assert secrets.unseal(token, tenant_id=1, provider="epay", name="key") == "merchant-key"
        db.engine.dispose()
