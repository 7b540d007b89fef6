"""What every bench needs: a free port, a scratch database, and Redis left as it was."""
from __future__ import annotations

import socket


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def admin_engine(url: str):
    """An AUTOCOMMIT engine on ``url`` (CREATE/DROP DATABASE run outside a transaction)."""
    from sqlalchemy import create_engine

    from kameng.core.config import normalise_db_url

    return create_engine(normalise_db_url(url), isolation_level="AUTOCOMMIT")


def create_database(server_url: str, name: str, *, replace: bool = False) -> str:
    """Create database ``name``, connected through ``server_url``; returns its URL."""
    from sqlalchemy import text
    from sqlalchemy.engine import make_url

    from kameng.core.config import normalise_db_url

    engine = admin_engine(server_url)
    try:
        with engine.connect() as conn:
            if replace:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    finally:
        engine.dispose()
    return make_url(normalise_db_url(server_url)).set(database=name).render_as_string(
        hide_password=False)


def drop_database(server_url: str, name: str) -> None:
    from sqlalchemy import text

    engine = admin_engine(server_url)
    try:
        with engine.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        engine.dispose()


class RedisFootprint:
    """The keys (matching ``match``) a Redis database held before a bench; ``clean``
    deletes every such key added since.

    Keys that were there are left alone, even if the bench bumped them: the
    generation counters it bumps only make other processes reload, while
    writing an old value back could resurrect a stale cached table.
    """

    def __init__(self, url: str, match: str = "*"):
        self.url = url
        self.match = match
        self.before = self._keys()

    def _connect(self):
        import redis

        return redis.Redis.from_url(self.url)

    def _keys(self) -> set[bytes]:
        conn = self._connect()
        try:
            return set(conn.scan_iter(match=self.match, count=1000))
        finally:
            conn.close()

    def added(self) -> set[bytes]:
        return self._keys() - self.before

    def clean(self) -> int:
        """Delete the keys added since the start; returns how many."""
        added = sorted(self.added())
        conn = self._connect()
        try:
            for start in range(0, len(added), 500):
                conn.delete(*added[start:start + 500])
        finally:
            conn.close()
        return len(added)


def report_run(statements: list[str], count: int, last: int, *, show: int, sql: bool,
               profile=None, sort: str = "cumulative", top: int = 40) -> None:
    """The profiling tools' report: the kinds of SQL statement per unit of work, the
    statements of the last unit (``sql``, from index ``last``), and the cProfile stats
    (``profile``; ``KAMENG_PROFILE_DUMP`` also writes them to that file)."""
    import io
    import os
    import pstats
    from collections import Counter

    import click

    kinds = Counter(" ".join(s.split()[:3])[:60] for s in statements)
    for kind, n in kinds.most_common(show):
        click.echo(f"  {n / count:6.3f}  {kind}")
    if sql:
        for stmt in statements[last:]:
            click.echo("---\n" + stmt)
    if profile is not None:
        out = io.StringIO()
        pstats.Stats(profile, stream=out).sort_stats(sort).print_stats(top)
        if os.environ.get("KAMENG_PROFILE_DUMP"):
            profile.dump_stats(os.environ["KAMENG_PROFILE_DUMP"])
        click.echo(out.getvalue())


def dispose(app) -> None:
    """Close the app's sessions and pooled connections (before its database is dropped)."""
    from kameng.core.extensions import db

    with app.app_context():
        db.session.remove()
        for engine in db.engines.values():
            engine.dispose()
