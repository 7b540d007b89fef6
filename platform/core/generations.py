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

Values are as fresh as the request's first read — with one exception for
requests that carry no session cookie (anonymous visitors, API clients): they may
take the counters another request of the same host read in this process less than
``GENERATION_REUSE_MS`` (default 100 ms) ago, and then make no round trip at all.
So a change committed by another process reaches those caches within that time
(a visitor cannot tell a 100 ms-old page from one fetched 100 ms earlier), while a
request with a session — an owner or staff member who may just have saved the
change, a signed-in buyer — always reads afresh and sees it on the next page.
A bump made by this process drops its keys from the request's snapshot and every
reusable one (``forget``), so this process sees its own changes at once. Outside a
request (CLI, workers, tests in an app context) every read goes to Redis.

Redis errors propagate to the caller (each consumer decides what "no Redis"
means); once a request's fetch failed, its later reads fail at once instead of
waiting for Redis again.
"""
from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Iterable, Sequence

from flask import current_app, has_app_context, has_request_context, request

from kameng.core.extensions import redis_conn

ENVIRON_KEY = "kameng.generations"
MAX_GROUPS = 4096
MAX_KEYS = 64
DEFAULT_REUSE_MS = 100
_lock = threading.Lock()


class Snapshot:
    """One request's counters: key → raw value (None: the key does not exist)."""

    def __init__(self, group: str = ""):
        self.group = group
        self.values: dict[str, bytes | None] = {}
        self.round_trips = 0
        self.failed: Exception | None = None
        self.since = float("inf")   # when its oldest value was read (monotonic)
        self.reused = False


class _Shared:
    """What the process's requests read lately, per group, for requests that may reuse
    it; ``epoch`` moves with every ``forget`` (a read begun before it is not kept)."""

    def __init__(self):
        self.epoch = 0
        self.recent: dict[str, tuple[float, dict[str, bytes | None]]] = {}


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


def _shared() -> _Shared:
    return current_app.extensions.setdefault("kameng.generations.shared", _Shared())


def _reuse_seconds() -> float:
    """How old counters this request may reuse: 0 for a request with a session."""
    ms = current_app.config.get("GENERATION_REUSE_MS", DEFAULT_REUSE_MS) or 0
    if ms <= 0 or current_app.config.get("SESSION_COOKIE_NAME", "session") in request.cookies:
        return 0.0
    return ms / 1000.0


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
    if missing and not snap.reused and snap.failed is None:
        snap.reused = True   # once a request: later reads are of keys it lacked
        _reuse(snap)
        missing = [k for k in keys if k not in snap.values]
    if missing:
        if snap.failed is not None:
            raise snap.failed
        group_keys = _learn(snap.group, keys)
        fetch = list(dict.fromkeys(k for k in (*missing, *group_keys)
                                   if k not in snap.values))
        shared = _shared()
        epoch, started = shared.epoch, time.monotonic()
        snap.round_trips += 1
        try:
            values = redis_conn.get().mget(fetch)
        except Exception as exc:
            snap.failed = exc
            raise
        snap.values.update(zip(fetch, values, strict=True))
        snap.since = min(snap.since, started)
        with _lock:
            if shared.epoch == epoch:   # no change of this process's meanwhile
                shared.recent[snap.group] = (snap.since, dict(snap.values))
                if len(shared.recent) > MAX_GROUPS:
                    shared.recent.pop(next(iter(shared.recent)))
    return [snap.values[k] for k in keys]


def _reuse(snap: Snapshot) -> None:
    """Take the group's recent counters, if this request may and they are young enough."""
    window = _reuse_seconds()
    if window <= 0:
        return
    recent = _shared().recent.get(snap.group)
    if recent is None or time.monotonic() - recent[0] >= window:
        return
    for key, value in recent[1].items():
        snap.values.setdefault(key, value)
    snap.since = min(snap.since, recent[0])


def forget(keys: Iterable[str] | None = None) -> None:
    """Drop these keys (None: all) from the request's snapshot: this process changed
    them, the rest of the request must read them again."""
    if has_app_context():
        shared = _shared()
        with _lock:
            shared.epoch += 1
            shared.recent.clear()
    snap = _snapshot()
    if snap is None:
        return
    if keys is None:
        snap.values.clear()
    else:
        for key in keys:
            snap.values.pop(key, None)
