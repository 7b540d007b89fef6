"""HMAC-SHA256 signatures of the ``http_topup`` protocol.

Every request we send carries three headers::

    X-Key-Id:    the key id the supplier gave us
    X-Timestamp: unix seconds, as an integer
    X-Signature: hex(HMAC-SHA256(secret, f"{timestamp}\\n{METHOD}\\n{path}\\n" + body))

``path`` is the request path as sent, with the query string if any (for a base
URL ``https://up.example/v1`` the path of the orders call is ``/v1/orders``);
``body`` is the raw request body (empty for GET).

A webhook the supplier sends us carries the same headers, signed over
``f"{timestamp}\\n" + body`` (the receiver's URL may be rewritten by proxies,
so it is not signed). Either side rejects a timestamp more than
``MAX_SKEW`` seconds away from its own clock, in the past or in the future.
"""
from __future__ import annotations

import hashlib
import hmac

MAX_SKEW = 300


def request_signature(secret: str, timestamp: int | str, method: str, path: str,
                      body: bytes) -> str:
    message = f"{timestamp}\n{method.upper()}\n{path}\n".encode() + (body or b"")
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def webhook_signature(secret: str, timestamp: int | str, body: bytes) -> str:
    message = f"{timestamp}\n".encode() + (body or b"")
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def fresh(timestamp: int, now: float, max_skew: int = MAX_SKEW) -> bool:
    return abs(now - timestamp) <= max_skew


def same(expected: str, given: str) -> bool:
    return hmac.compare_digest(expected.encode(), (given or "").encode())
