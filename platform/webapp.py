"""The application factory: wiring only."""
from __future__ import annotations

import os

from flask import Flask, g, jsonify, request
from flask_babel import format_decimal
from jinja2 import ChoiceLoader

from kameng.core.config import load_config
from kameng.core.extensions import db
from kameng.core.http import problem
from kameng.core.money import format_money
from kameng.core.redis import limiter_storage_uri


class KamengFlask(Flask):
    def __init__(self, *args, **kwargs):
        from kameng.tenants.themes import ThemedEnvironment

        self.jinja_environment = ThemedEnvironment
        super().__init__(*args, **kwargs)

    def create_global_jinja_loader(self):
        from kameng.tenants.themes import ThemeLoader

        return ChoiceLoader([ThemeLoader(), super().create_global_jinja_loader()])


def create_app(config: dict | None = None) -> Flask:
    cfg = load_config(config)
    app = KamengFlask(__name__, instance_path=cfg["INSTANCE_PATH"], instance_relative_config=True,
                      static_folder=None)
    app.config.update(cfg)
    app.config.setdefault("RATELIMIT_STORAGE_URI", limiter_storage_uri(cfg.get("REDIS_URL")))
    app.config.setdefault("RATELIMIT_HEADERS_ENABLED", True)
    # explicit: Flask-Limiter's one Limiter keeps the last app's "enabled" as the default
    # of the next app it is bound to (an app made with limits off would switch them off
    # for every app made after it in the process)
    app.config.setdefault("RATELIMIT_ENABLED", True)
    app.config.setdefault("BABEL_TRANSLATION_DIRECTORIES",
                          os.path.join(os.path.dirname(__file__), "core", "translations"))
    os.makedirs(app.instance_path, exist_ok=True)

    _init_packages(app)
    _register_template_helpers(app)
    _register_errors(app)

    @app.route("/healthz", endpoint="health")
    def health():
        return jsonify(status="ok")

    return app


# in dependency order: each package's init_app registers its blueprints, session
# listeners, providers and signal receivers (its wiring.py)
PACKAGES = ("core", "tenants", "shop", "billing", "sales", "api", "admin", "ops")

# every package's models, so metadata (and Alembic) sees all tables
MODEL_MODULES = (
    "kameng.tenants.models",
    "kameng.shop.suppliers.models",
    "kameng.shop.catalog.models",
    "kameng.core.audit",
    "kameng.shop.stock.models",
    "kameng.billing.ledger.models",
    "kameng.shop.pricing.models",
    "kameng.billing.payments.models",
    "kameng.sales.models",
    "kameng.billing.topups.models",
    "kameng.billing.commissions.models",
    "kameng.billing.withdrawals.models",
    "kameng.billing.plans.models",
    "kameng.ops.models",
    "kameng.tenants.signup_models",
)


def _import_models() -> None:
    import importlib

    for name in MODEL_MODULES:
        importlib.import_module(name)


def _init_packages(app: Flask) -> None:
    import importlib

    _import_models()
    for name in PACKAGES:
        importlib.import_module(f"kameng.{name}.wiring").init_app(app)


def _register_template_helpers(app: Flask) -> None:
    from kameng.tenants.i18n import LANGUAGE_NAMES, SUPPORTED, current_locale
    from kameng.tenants.themes import shown_settings

    @app.context_processor
    def shop_context():
        tenant = g.get("tenant")
        return {
            "tenant": tenant,
            "theme_settings": shown_settings() if tenant is not None else {},
            "languages": [(code, LANGUAGE_NAMES[code]) for code in SUPPORTED],
            "current_locale": current_locale(),  # "zh_CN" / "en", as in SUPPORTED
        }

    @app.template_filter("money")
    def money_filter(minor: int, currency: str | None = None):
        tenant = g.get("tenant")
        return format_money(int(minor), currency or (tenant.currency if tenant else "CNY"))

    app.jinja_env.globals["format_decimal"] = format_decimal


def _register_errors(app: Flask) -> None:
    from kameng.core.errors import ServiceError
    from kameng.tenants.themes import render

    def wants_json() -> bool:
        return request.path.startswith("/api/")

    def page(status: int, title: str):
        def handler(err):
            if wants_json():
                return problem(status, title, code=_CODES.get(status, "error"))
            return render("error.html", status=status, title=title), status
        return handler

    _CODES = {401: "unauthorized", 403: "forbidden", 404: "not_found", 429: "rate_limited"}
    app.register_error_handler(403, page(403, "Forbidden"))
    app.register_error_handler(404, page(404, "Not found"))
    app.register_error_handler(429, page(429, "Too many requests"))

    @app.errorhandler(500)
    def server_error(_err):
        # nothing half-written: whatever the failed request did is rolled back
        db.session.rollback()
        if wants_json():
            return problem(500, "Internal error", code="internal_error")
        return render("error.html", status=500, title="Something went wrong"), 500

    @app.errorhandler(ServiceError)
    def service_error(err: ServiceError):
        if wants_json():
            return problem(err.status, err.message, code=err.code)
        return render("error.html", status=err.status, title=err.message), err.status

