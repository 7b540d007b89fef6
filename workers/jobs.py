"""Job entry points: thin functions that take ids and call services."""
from __future__ import annotations

from kameng.core.extensions import redis_conn
from kameng.core.models import utcnow


def heartbeat() -> str:
    """Proves the worker and scheduler are alive (shown in the back office)."""
    stamp = utcnow().isoformat()
    redis_conn.get().set("kameng:heartbeat", stamp, ex=600)
    return stamp
