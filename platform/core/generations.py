"""Generation counters in Redis, read together: one round trip a request.

Per-process caches (the host cache, the price tables, the storefront's page cache
and fragments, the API key cache) stay valid while a counter in Redis has not
moved. Each consumer used to read its own counters, one or two Redis round trips
per request before the request did any work of its own. Here every counter a
request asks for is read from one snapshot, filled by ONE ``MGET``:

- the first read of a request fetches, with the key asked, every key that
  earlier requests of the same *group* asked for (the group is the Host: the
  tenant resolution names it first thing, ``begin``); so the shop's price-chain
  counters, the catalog's, the API keys' … come in the same round trip as the
  host cache's, and every later read of the request is answered from memory;
- a key the group never asked before costs one more round trip, once (it is
  learned for the group's next requests). A group keeps at most ``MAX_KEYS``
  keys (the oldest learned is dropped) and a process ``MAX_GROUPS`` groups.

Values are as fresh as the request's first read: a change committed by any
process is seen by every process's next request (no time window), and a bump
made by this process mid-request drops its key from the snapshot (``forget``),
so the rest of the request reads it again. Outside a request (CLI, workers,
tests in an app context) every read goes to Redis.

Redis errors propagate to the caller (each consumer decides what "no Redis"
means); once a request's fetch failed, its later reads fail at once instead of
waiting for Redis again.
"""
from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Iterable, Sequence

from flask import current_app, has_request_context, request

from kameng.core.extensions import redis_conn

ENVIRON_KEY = "kameng.generations"
MAX_GROUPS = 4096
MAX_KEYS = 64
_lock = threading.Lock()


class Snapshot:
    """One request's counters: key → raw value (None: the key does not exist)."""

    def __init__(self, group: str = ""):
        self.group = group
        self.values: dict[str, bytes | None] = {}
        self.round_trips = 0
        self.failed: Exception | None = None


def _snapshot() -> Snapshot | None:
    if not has_request_context():
        return None
    environ = request.environ   # per request (``g`` may outlive one, e.g. in tests)
    snap = environ.get(ENVIRON_KEY)
    if snap is None:
        snap = environ[ENVIRON_KEY] = Snapshot()
    return snap


def current() -> Snapshot | None:
    """This request's snapshot (None outside a request): for tests and diagnostics."""
    return _snapshot()


def begin(group: str) -> None:
    """Name the request's group (its Host) before its first read, so that read fetches
    every counter the group's requests use. Later calls change nothing."""
    snap = _snapshot()
    if snap is not None and not snap.values and snap.round_trips == 0:
        snap.group = group


def _groups() -> OrderedDict:
    return current_app.extensions.setdefault("kameng.generations", OrderedDict())


def _learn(group: str, keys: Sequence[str]) -> list[str]:
    """Add ``keys`` to the group's list; the group's whole list."""
    groups = _groups()
    with _lock:
        known = groups.get(group)
        if known is None:
            known = groups[group] = OrderedDict()
            while len(groups) > MAX_GROUPS:
                groups.popitem(last=False)
        else:
            groups.move_to_end(group)
        for key in keys:
            known[key] = None
            known.move_to_end(key)
        while len(known) > MAX_KEYS:
            known.popitem(last=False)
        return list(known)


def read(key: str) -> bytes | None:
    """The counter's raw value (None if the key does not exist)."""
    return read_many([key])[0]


def read_many(keys: Sequence[str]) -> list[bytes | None]:
    """The counters' raw values, from the request's snapshot: at most one round trip."""
    snap = _snapshot()
    if snap is None:
        return list(redis_conn.get().mget(keys)) if keys else []
    missing = [k for k in keys if k not in snap.values]
    if missing:
        if snap.failed is not None:
            raise snap.failed
        group_keys = _learn(snap.group, keys)
        fetch = list(dict.fromkeys(k for k in (*missing, *group_keys)
                                   if k not in snap.values))
        snap.round_trips += 1
        try:
            values = redis_conn.get().mget(fetch)
        except Exception as exc:
            snap.failed = exc
            raise
        snap.values.update(zip(fetch, values, strict=True))
    return [snap.values[k] for k in keys]


def forget(keys: Iterable[str] | None = None) -> None:
    """Drop these keys (None: all) from the request's snapshot: this process changed
    them, the rest of the request must read them again."""
    snap = _snapshot()
    if snap is None:
        return
    if keys is None:
        snap.values.clear()
    else:
        for key in keys:
            snap.values.pop(key, None)
