"""Configuration from ``KAMENG_*`` environment variables.

Defaults need no setup: a SQLite file and an embedded Redis in the instance
folder, a secret key generated on first start and kept there.
"""
from __future__ import annotations

import os
import secrets
from pathlib import Path

ENV_PREFIX = "KAMENG_"

# name -> (default, parser); documented in README.md ("Configuration")
SETTINGS: dict[str, tuple[object, type | str]] = {
    "DATABASE_URL": (None, str),
    "REDIS_URL": (None, str),
    "SECRET_KEY": (None, str),
    "BASE_DOMAIN": ("localhost", str),
    # custom domains (tenants.domains): what owners point their DNS at, and whom we ask
    "CNAME_TARGET": (None, str),
    "PUBLIC_IP": (None, str),
    "DNS_NAMESERVERS": ("", str),
    "DNS_TIMEOUT": (3.0, float),
    "DEFAULT_LOCALE": ("zh_CN", str),
    "DEFAULT_CURRENCY": ("CNY", str),
    "CODE_KEYS": (None, str),
    "CODE_FINGERPRINT_KEY": (None, str),
    "LOGIN_RATE_LIMIT": ("10 per minute", str),
    "LOOKUP_RATE_LIMIT": ("10 per minute", str),
    "SLUG_CHECK_RATE_LIMIT": ("60 per minute", str),
    "CHECKOUT_RATE_LIMIT": ("10 per minute; 60 per hour", str),
    "MAX_UNPAID_ORDERS": (3, int),
    "MAX_UNPAID_UNITS": (100, int),
    "SMTP_URL": (None, str),
    "MAIL_FROM": ("kameng@localhost", str),
    "OUTBOUND_ALLOW": ("", str),
    "STRIPE_SECRET_KEY": (None, str),
    "STRIPE_PUBLISHABLE_KEY": (None, str),
    "STRIPE_WEBHOOK_SECRET": (None, str),
    "STRIPE_API_BASE": (None, str),
    "STRIPE_JS_URL": ("https://js.stripe.com/v3/", str),
    "RESERVATION_MINUTES": (15, int),
    "REDELIVER_AFTER_SECONDS": (60, int),
    "GATEWAY_CONNECT_TIMEOUT": (3.0, float),
    "GATEWAY_READ_TIMEOUT": (5.0, float),
    "RECONCILE_JOB_TIMEOUT": (30, int),
    "OUTBOX_GRACE_SECONDS": (30, int),
    "FULFIL_SHARDS": (2, int),
    "FULFIL_BATCH": (50, int),
    # a fulfilment job that took a short batch waits this long, once, for more orders
    "FULFIL_LINGER_SECONDS": (0.2, float),
    # back-pressure (sales.backpressure): refuse balance-paid orders with 503 while
    # more than this many seconds of fulfilment work wait (0: never)
    "MAX_FULFILMENT_BACKLOG_SECONDS": (5.0, float),
    "FULFILMENT_ORDER_SECONDS": (0.01, float),
    "HOLD_DAYS": (3, int),
    "CLAIM_STALE_SECONDS": (120, int),
    "PAGE_CACHE_SECONDS": (5, int),
    "FRAGMENT_CACHE_SECONDS": (5, int),
    # core.generations: a request without a session may reuse the counters another
    # request of its host read this long ago (0: every request reads them)
    "GENERATION_REUSE_MS": (100, int),
    "PREFERRED_URL_SCHEME": ("http", str),
    "SERVER_PORT": (None, int),
    "ARGON2_PROFILE": ("RFC_9106_LOW_MEMORY", str),
    "TRUSTED_PROXIES": (0, int),
    "SECURE_COOKIES": (None, "bool"),
    "MEDIA_DIR": (None, str),
    "MAX_IMAGE_BYTES": (5 * 1024 * 1024, int),
    # the built-in demo 易支付 gateway on a database other than the embedded default
    "DEMO_GATEWAY": (False, "bool"),
}


def instance_path_from_env() -> str:
    return os.path.abspath(os.environ.get(ENV_PREFIX + "INSTANCE_PATH", "instance"))


def default_database_url(instance: str | os.PathLike) -> str:
    """The embedded default: a SQLite file in the instance folder."""
    return f"sqlite:///{Path(instance).absolute() / 'kameng.db'}"


def _persisted_secret(instance: Path, name: str, make) -> str:
    """A random secret generated once and kept in the instance folder."""
    path = instance / name
    if path.exists():
        return path.read_text().strip()
    instance.mkdir(parents=True, exist_ok=True)
    value = make()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(value)
    return value


def load_config(overrides: dict | None = None, environ: dict | None = None) -> dict:
    """Build the Flask config mapping: defaults, then environment, then overrides."""
    env = os.environ if environ is None else environ
    overrides = dict(overrides or {})
    instance = Path(overrides.get("INSTANCE_PATH") or env.get(ENV_PREFIX + "INSTANCE_PATH")
                    or "instance").absolute()
    cfg: dict = {"INSTANCE_PATH": str(instance)}
    for name, (default, parser) in SETTINGS.items():
        raw = env.get(ENV_PREFIX + name)
        if raw in (None, ""):
            cfg[name] = default
        elif parser == "bool":
            cfg[name] = raw.strip().lower() in ("1", "true", "yes", "on")
        else:
            cfg[name] = parser(raw)
    cfg.update(overrides)

    if not cfg["DATABASE_URL"]:
        cfg["DATABASE_URL"] = default_database_url(instance)
    if not cfg["SECRET_KEY"]:
        cfg["SECRET_KEY"] = _persisted_secret(instance, "secret_key",
                                              lambda: secrets.token_urlsafe(48))
    # "kid:base64key[,kid:base64key…]": the first key encrypts, every key decrypts; the
    # ring file in the instance folder (made on first start), extended by the setting
    from kameng.core.keyfile import effective, stamp

    cfg["CODE_KEYS_STAMP"] = stamp(instance)  # before reading: a change after it reloads
    cfg["CODE_KEYS_CONFIGURED"] = cfg["CODE_KEYS"]
    cfg["CODE_FINGERPRINT_KEY_CONFIGURED"] = cfg["CODE_FINGERPRINT_KEY"]
    cfg["CODE_KEYS"], cfg["CODE_FINGERPRINT_KEY"] = effective(
        instance, cfg["CODE_KEYS"], cfg["CODE_FINGERPRINT_KEY"])

    cfg["SQLALCHEMY_DATABASE_URI"] = normalise_db_url(cfg["DATABASE_URL"])
    cfg["SQLALCHEMY_ENGINE_OPTIONS"] = engine_options(cfg["SQLALCHEMY_DATABASE_URI"])
    cfg.setdefault("SQLALCHEMY_TRACK_MODIFICATIONS", False)
    if cfg["SECURE_COOKIES"] is None:
        cfg["SECURE_COOKIES"] = str(cfg["PREFERRED_URL_SCHEME"]).lower() == "https"
    cfg.setdefault("SESSION_COOKIE_SECURE", bool(cfg["SECURE_COOKIES"]))
    cfg.setdefault("REMEMBER_COOKIE_SECURE", bool(cfg["SECURE_COOKIES"]))
    cfg.setdefault("SESSION_COOKIE_HTTPONLY", True)
    cfg.setdefault("SESSION_COOKIE_SAMESITE", "Lax")
    cfg.setdefault("REMEMBER_COOKIE_HTTPONLY", True)
    cfg.setdefault("WTF_CSRF_TIME_LIMIT", None)
    cfg.setdefault("BABEL_DEFAULT_LOCALE", cfg["DEFAULT_LOCALE"])
    cfg.setdefault("MAX_CONTENT_LENGTH", 256 * 1024 * 1024)
    return cfg


def normalise_db_url(url: str) -> str:
    """Use psycopg 3 for PostgreSQL whatever spelling the operator used."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix):]
    return url


def engine_options(url: str) -> dict:
    if url.startswith("sqlite"):
        return {"connect_args": {"timeout": 30, "check_same_thread": False}}
    # no pool_pre_ping (a round trip per request): core.database replaces a connection
    # the server closed at checkout; recycled before any idle timeout of a proxy cuts it
    return {"pool_recycle": 1800, "pool_size": 10, "max_overflow": 10}
