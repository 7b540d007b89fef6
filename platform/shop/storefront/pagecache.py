"""A short-lived cache of storefront pages for anonymous visitors.

Most storefront traffic is anonymous browsing of the same few list pages. A
page is kept per process for ``PAGE_CACHE_SECONDS`` (0 turns it off), keyed by
shop, path and query, language, and the versions of the shop's settings, of its
price table and of its published appearance — so a change of price, markup or
theme shows at once, while stock states (and an announcement's scheduled start
or end) may lag by at most the TTL (checkout always checks real stock).
Only responses that set no cookie and visitors who send no session are cached:
nothing personal is ever stored or served from here.
"""
from __future__ import annotations

import threading
import time
from collections import OrderedDict
from functools import wraps

from flask import current_app, g, request
from flask_login import current_user

from kameng.tenants.appearance import live_number
from kameng.tenants.hostcache import generation
from kameng.tenants.i18n import current_locale

MAX_PAGES = 512
_lock = threading.Lock()


def _store() -> OrderedDict:
    return current_app.extensions.setdefault("kameng.pagecache", OrderedDict())


def _cacheable_request() -> bool:
    return (request.method == "GET"
            and current_app.config.get("PAGE_CACHE_SECONDS", 0) > 0
            and current_app.config.get("SESSION_COOKIE_NAME", "session") not in request.cookies
            and not current_user.is_authenticated)


def _key() -> tuple | None:
    from kameng.shop.pricing.cache import table_version

    tenant_gen = generation()
    if tenant_gen is None:  # Redis unavailable: no safe key, render every time
        return None
    # the published appearance's number: a publish or roll-back changes every key
    return (g.tenant.id, request.full_path, current_locale(), tenant_gen,
            table_version(g.tenant), live_number(g.tenant))


def cached_page(view):
    @wraps(view)
    def wrapper(*args, **kwargs):
        if not _cacheable_request():
            return view(*args, **kwargs)
        key = _key()
        if key is None:
            return view(*args, **kwargs)
        now = time.monotonic()
        store = _store()
        with _lock:
            hit = store.get(key)
        if hit is not None and hit[0] > now:
            return current_app.response_class(hit[1], status=200, mimetype="text/html")
        response = current_app.make_response(view(*args, **kwargs))
        if response.status_code == 200 and "Set-Cookie" not in response.headers \
                and not response.direct_passthrough:
            ttl = current_app.config["PAGE_CACHE_SECONDS"]
            with _lock:
                store[key] = (now + ttl, response.get_data())
                store.move_to_end(key)
                while len(store) > MAX_PAGES:
                    store.popitem(last=False)
        return response
    return wrapper
