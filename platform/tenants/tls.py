"""``GET /_tls/ask?domain=HOST``: Caddy's on-demand TLS ``ask``.

Caddy asks before it obtains a certificate for a host it has not seen: 200 lets it,
anything else refuses. Answered on every host (Caddy asks on its own, with whatever
Host it likes; the resolver lets ``any_host`` views through), with an empty body: it
says only whether the host is a verified domain of an active shop, nothing about the
shop.
"""
from __future__ import annotations

from flask import Blueprint, request

from kameng.tenants.domains import serves_tls
from kameng.tenants.resolver import any_host

bp = Blueprint("tls", __name__)


@bp.route("/_tls/ask")
@any_host
def ask():
    host = request.args.get("domain", "")
    status = 200 if serves_tls(host) else 404
    return "", status, {"Content-Type": "text/plain; charset=utf-8",
                        "Cache-Control": "no-store"}
