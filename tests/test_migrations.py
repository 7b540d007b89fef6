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
