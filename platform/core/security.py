"""What every answer carries: the client's real address behind trusted proxies, and the
security headers (CSP, frame protection, nosniff, Referrer-Policy, HSTS over https).

Pages that can show a card code also say ``Cache-Control: no-store`` (``no_store``); a
page that loads a payment provider's script (Stripe.js) widens its own CSP for that
script's origin only (``allow_payment_script``).
"""
from __future__ import annotations

from urllib.parse import urlsplit

from flask import g, request

# the payment element of Stripe.js runs in frames of these origins and calls its API
STRIPE_FRAMES = ("https://*.js.stripe.com", "https://hooks.stripe.com")
STRIPE_CONNECT = ("https://api.stripe.com",)
HSTS = "max-age=31536000"


def init_app(app) -> None:
    hops = int(app.config.get("TRUSTED_PROXIES") or 0)
    if hops > 0:
        from werkzeug.middleware.proxy_fix import ProxyFix

        # the proxy passes the Host header through; X-Forwarded-For and -Proto are its own,
        # the rightmost ``hops`` values of each (a client's own X-Forwarded-For is ignored)
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops)
    app.after_request(_security_headers)


def no_store(response):
    """As an ``after_request`` function: nothing of the answer may be kept by a cache
    (unless the view chose its own caching: a static file)."""
    response.headers.setdefault("Cache-Control", "no-store")
    return response


def allow_payment_script(url: str) -> None:
    """The page of this request loads a payment script from ``url`` (Stripe.js)."""
    parts = urlsplit(url)
    if parts.scheme in ("http", "https") and parts.netloc:
        g.csp_payment_origin = f"{parts.scheme}://{parts.netloc}"


def content_security_policy() -> str:
    script = ["'self'"]
    frame = ["'none'"]
    connect = ["'self'"]
    origin = g.get("csp_payment_origin")
    if origin:
        script += [origin, STRIPE_FRAMES[0]]
        frame = [origin, *STRIPE_FRAMES]
        connect += [origin, *STRIPE_CONNECT]
    return "; ".join((
        "default-src 'self'",
        f"script-src {' '.join(script)}",
        # themes set their colours in a <style> block and style="" attributes
        "style-src 'self' 'unsafe-inline'",
        # a shop's logo and its product pictures may be any http(s) address
        "img-src * data:",
        "font-src 'self' data:",
        f"connect-src {' '.join(connect)}",
        f"frame-src {' '.join(frame)}",
        "frame-ancestors 'none'",
        "object-src 'none'",
        "base-uri 'self'",
    ))


_STATIC_HEADERS = (("X-Frame-Options", "DENY"), ("X-Content-Type-Options", "nosniff"),
                   ("Referrer-Policy", "strict-origin-when-cross-origin"))


def _security_headers(response):
    headers = response.headers
    # one pass over the answer's headers (each ``setdefault`` scans them all again)
    present = {name.lower() for name in headers.keys()}
    if "content-security-policy" not in present:
        headers.add("Content-Security-Policy", content_security_policy())
    for name, value in _STATIC_HEADERS:
        if name.lower() not in present:
            headers.add(name, value)
    if request.is_secure and "strict-transport-security" not in present:
        headers.add("Strict-Transport-Security", HSTS)
    return response
