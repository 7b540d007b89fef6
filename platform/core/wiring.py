"""core's part of the app: the Flask extensions and the session listeners every package relies on."""
from __future__ import annotations


def init_app(app) -> None:
    from kameng.core import hotrows, labels, outbound, scoping, security, txn
    from kameng.core.database import init_database
    from kameng.core.extensions import csrf, db, limiter, migrate, redis_conn

    outbound.parse_allow(app.config.get("OUTBOUND_ALLOW"))  # a bad entry stops the start
    db.init_app(app)
    init_database(app)
    migrate.init_app(app, db, directory=_migrations_dir(), render_as_batch=True,
                     compare_type=True)
    redis_conn.init_app(app)
    csrf.init_app(app)
    limiter.init_app(app)
    security.init_app(app)  # the real client address (trusted proxies), security headers
    scoping.install()  # the tenant filter of every ORM query
    hotrows.install()
    txn.install()
    labels.init_app(app)  # |label: what a page shows for a status, kind, role …


def register_cli(group) -> None:
    from flask_migrate.cli import db as db_cli

    group.add_command(db_cli)


def _migrations_dir() -> str:
    from importlib.resources import files

    return str(files("kameng.migrations"))
