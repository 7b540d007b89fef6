"""The docking API (``/api/v1``): downstream resellers buy with ``Authorization: Bearer``.

Thin views: authenticate the key on this host's shop, parse, call the order
and pricing services, answer JSON. Every error is ``application/problem+json``
with a stable ``code`` (see ``openapi.py`` for the whole contract).
"""
from __future__ import annotations

import time
from functools import lru_cache, wraps

from flask import Blueprint, abort, current_app, g, jsonify, request, url_for
from limits import parse_many

from kameng.api import schemas
from kameng.core.errors import InvalidInput, NotFound, ServiceError
from kameng.core.extensions import csrf, db, limiter, redis_conn
from kameng.core.http import problem
from kameng.core.i18n import lazy_gettext as _l
from kameng.tenants import api_keys

bp = Blueprint("api", __name__, url_prefix="/api/v1")
csrf.exempt(bp)  # no cookies, no sessions: the bearer key is the credential

DEFAULT_RATE_LIMIT = "60 per second"


def _rate_limit() -> str:
    return current_app.config.get("API_RATE_LIMIT") or DEFAULT_RATE_LIMIT


@lru_cache(maxsize=16)
def _parsed(setting: str):
    return tuple(parse_many(setting))


def _count_request(key_id: int) -> dict[str, str]:
    """Count this request against the key's limits (fixed windows, as Flask-Limiter's
    default) in ONE Redis round trip; aborts with 429 past a limit, else gives the
    rate-limit headers. Flask-Limiter itself spent a second round trip on every
    request just to read back the window for its headers."""
    limits = _parsed(_rate_limit())
    now = int(time.time())
    names = []
    with redis_conn.get().pipeline(transaction=False) as pipe:
        for limit in limits:
            window = limit.get_expiry()
            name = f"kameng:api-rate:{key_id}:{limit.amount}/{window}:{now - now % window}"
            names.append((limit, window, now - now % window + window))
            pipe.incr(name)
            pipe.expire(name, window + 1)
        counts = pipe.execute()[0::2]
    tightest = None
    for (limit, _window, reset), count in zip(names, counts, strict=True):
        if count > limit.amount:
            g.api_retry_after = max(1, reset - now)
            abort(429)
        left = limit.amount - count
        if tightest is None or left < tightest[1]:
            tightest = (limit.amount, left, reset)
    if tightest is None:
        return {}
    return {"X-RateLimit-Limit": str(tightest[0]), "X-RateLimit-Remaining": str(tightest[1]),
            "X-RateLimit-Reset": str(tightest[2])}


def counted_per_key() -> bool:
    """Flask-Limiter's request filter: this API's requests are counted per key
    (``_count_request``), never per address, so its before-request check is skipped
    for them (it cost every API order more than the count itself)."""
    return request.blueprint == bp.name


def _bearer() -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer":
        return None
    return token.strip() or None


def unauthorized():
    response = problem(401, "A valid API key is required: Authorization: Bearer <key>",
                       code="unauthorized")
    response.headers["WWW-Authenticate"] = 'Bearer realm="api"'
    return response


def require_key(view):
    """Authenticate, then count the request against the key's rate limit."""
    @wraps(view)
    def wrapper(*args, **kwargs):
        found = api_keys.authenticate(g.tenant, _bearer())
        if found is None:
            return unauthorized()
        g.api_key, g.api_user = found
        g.api_rate_headers = _count_request(g.api_key.id)
        return view(*args, **kwargs)
    return limiter.exempt(wrapper)   # counted per key above, not per address


@bp.before_request
def closed_shop():
    # a suspended or pending shop takes no orders and lists nothing through the API either
    if g.get("tenant") is not None and not g.tenant.serves_buyers:
        return problem(503, str(_l("This shop is temporarily closed.")), code="shop_closed")
    return None


@bp.errorhandler(429)
def too_many_requests(_err):
    # the key's limit (API_RATE_LIMIT): said in the shop's language, like every problem
    response = problem(429, str(_l("Too many requests for this API key: slow down and try "
                                   "again in a moment.")), code="rate_limited")
    response.headers["Retry-After"] = str(g.pop("api_retry_after", 1))
    return response


@bp.errorhandler(ServiceError)
def service_error(err: ServiceError):
    extra = {"field": err.field} if err.field else {}
    response = problem(err.status, err.message, code=err.code, **extra)
    if getattr(err, "retry_after", None):   # 503 busy (sales.backpressure)
        response.headers["Retry-After"] = str(err.retry_after)
    return response


@bp.after_request
def no_store(response):
    # order bodies carry codes; nothing of the API belongs in a shared cache
    response.headers.setdefault("Cache-Control", "no-store")
    response.headers.extend(g.pop("api_rate_headers", None) or {})
    return response


@bp.route("/products")
@require_key
def products():
    from kameng.shop.catalog.services import display_name, shop_catalog
    from kameng.shop.pricing.services import price_list
    from kameng.tenants.i18n import SUPPORTED, current_locale, normalise

    tenant, user = g.tenant, g.api_user
    prices = price_list(tenant, user)
    rows = [(p, o) for p, o in shop_catalog(tenant) if p.id in prices]
    looped = _loop_codes_left([p.id for p, _o in rows if p.kind == "card" and p.loop_code])
    # ?lang=en or ?lang=zh_CN picks the language of name and description (else the
    # request's); names and descriptions give both, each falling back to the other
    locale = normalise(request.args.get("lang")) or current_locale()

    def texts(p):
        return {code: (p.description_en if code == "en" else p.description) or
                p.description or p.description_en or "" for code in SUPPORTED}

    out = []
    for p, o in rows:
        names = {code: display_name(p, o, code) for code in SUPPORTED}
        descriptions = texts(p)
        out.append(schemas.product_json(
            p, names[locale], prices[p.id], tenant.currency, _in_stock(p, looped),
            names=names, description=descriptions[locale], descriptions=descriptions))
    return jsonify(out)


def _in_stock(product, looped: set[int]) -> bool:
    if product.status != "on_sale":
        return False
    if product.kind == "card":
        return product.stock_available > 0 or product.id in looped
    return True  # top-ups and manual goods: on sale is in stock


def _loop_codes_left(product_ids: list[int]) -> set[int]:
    if not product_ids:
        return set()
    from sqlalchemy import select

    from kameng.shop.stock.models import AVAILABLE, CardCode

    return set(db.session.scalars(
        select(CardCode.product_id).where(CardCode.product_id.in_(product_ids),
                                          CardCode.status == AVAILABLE).distinct()))


@bp.route("/orders", methods=["POST"])
@require_key
def create_order():
    # place_order commits; the outbox row goes to the queue right after (after_commit)
    from kameng.sales.services import place_order

    key = (request.headers.get("Idempotency-Key") or "").strip()
    if not key:
        raise InvalidInput(_l("the Idempotency-Key header is required (any unique text per "
                              "order, at most 128 characters)"), field="idempotency_key")
    body = schemas.parse_order(request.get_json(force=True, silent=True))
    placed = place_order(g.tenant, sku=body.sku, quantity=body.quantity, fields=body.fields,
                         customer=g.api_user, payment_method="balance", idempotency_key=key,
                         source="api", client_ip=request.remote_addr, coupon=body.coupon)
    order = placed.order
    response = jsonify(schemas.order_json(order))
    # a repeat answers like the first time (201, same order) and charges nothing
    response.status_code = 201
    response.headers["Location"] = url_for("api.get_order", order_no=order.order_no)
    if not placed.created:
        response.headers["Idempotent-Replayed"] = "true"
    return response


@bp.route("/orders/<order_no>")
@require_key
def get_order(order_no: str):
    from kameng.sales import services as orders

    order = orders.get_order(order_no)   # this shop's orders only
    if order.customer_id != g.api_user.id:
        raise NotFound(_l("no such order"))  # someone else's: as if it did not exist
    return jsonify(schemas.order_json(order, orders.order_codes(order)))


@bp.route("/balance")
@require_key
def balance():
    from kameng.billing.ledger.services import find_user_account

    account = find_user_account(g.api_user, "wallet")
    return jsonify({"balance": account.balance if account else 0,
                    "currency": account.currency if account else g.tenant.currency})


@bp.route("/openapi.json")
def openapi():
    from kameng.api.openapi import document

    return jsonify(document(request.host_url.rstrip("/") + bp.url_prefix))
