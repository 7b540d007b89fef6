"""The application factory: wiring only."""
from __future__ import annotations

import os

from flask import Flask, g, jsonify, request
from flask_babel import format_decimal
from jinja2 import ChoiceLoader

from kameng.core.config import load_config
from kameng.core.extensions import babel, csrf, db, limiter, login_manager, migrate, redis_conn
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
    app.config.setdefault("BABEL_TRANSLATION_DIRECTORIES",
                          os.path.join(os.path.dirname(__file__), "core", "translations"))
    os.makedirs(app.instance_path, exist_ok=True)

    _init_extensions(app)
    _register_blueprints(app)
    _register_template_helpers(app)
    _register_errors(app)

    @app.route("/healthz", endpoint="health")
    def health():
        return jsonify(status="ok")

    return app


def _route_payment(tenant, notice) -> bool:
    from kameng.billing.topups.services import is_topup_number, record_topup_payment
    from kameng.sales.services import record_payment

    if is_topup_number(notice.order_no):
        return record_topup_payment(tenant, notice)
    return record_payment(tenant, notice)


def _bind_referral(user) -> None:
    from flask import session

    from kameng.billing.commissions.services import bind_referral

    code = session.pop("ref", None)
    if code:
        bind_referral(user, code)


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
    "kameng.api.models",
    "kameng.billing.commissions.models",
    "kameng.billing.withdrawals.models",
    "kameng.billing.plans.models",
)


def _import_models() -> None:
    import importlib

    for name in MODEL_MODULES:
        importlib.import_module(name)


def _init_extensions(app: Flask) -> None:
    _import_models()
    from kameng.core import scoping  # noqa: F401  (installs the tenant filter)
    from kameng.core.database import init_database
    from kameng.tenants import resolver
    from kameng.tenants.i18n import select_locale
    from kameng.tenants.services import load_session_user

    db.init_app(app)
    init_database(app)
    migrate.init_app(app, db, directory=_migrations_dir(), render_as_batch=True,
                     compare_type=True)
    redis_conn.init_app(app)
    csrf.init_app(app)
    limiter.init_app(app)
    babel.init_app(app, locale_selector=select_locale)
    resolver.init_app(app)  # before Flask-Login loads a user: it needs g.tenant
    login_manager.init_app(app)
    login_manager.login_view = "auth.login"
    login_manager.user_loader(lambda sid: load_session_user(g.get("tenant"), sid))

    # verified payment notices (billing) are booked by the service they pay for
    app.extensions["kameng.payment_handler"] = _route_payment
    # a customer who signs up through a promoter's link (?ref=…) is bound to the promoter
    app.extensions["kameng.signup_hooks"] = [_bind_referral]


def _migrations_dir() -> str:
    from importlib.resources import files

    return str(files("kameng.migrations"))


def _register_blueprints(app: Flask) -> None:
    from kameng.admin import api_keys as _admin_api_keys  # noqa: F401  (routes on admin bp)
    from kameng.admin import appearance as _admin_appearance  # noqa: F401  (routes on admin bp)
    from kameng.admin import catalog as _admin_catalog  # noqa: F401  (routes on admin bp)
    from kameng.admin import earnings as _admin_earnings  # noqa: F401  (routes on admin bp)
    from kameng.admin import orders as _admin_orders  # noqa: F401  (routes on admin bp)
    from kameng.admin import payments as _admin_payments  # noqa: F401  (routes on admin bp)
    from kameng.admin import plans as _admin_plans  # noqa: F401  (routes on admin bp)
    from kameng.admin import pricing as _admin_pricing  # noqa: F401  (routes on admin bp)
    from kameng.admin import reports as _admin_reports  # noqa: F401  (routes on admin bp)
    from kameng.admin import stock as _admin_stock  # noqa: F401  (routes on admin bp)
    from kameng.admin import suppliers as _admin_suppliers  # noqa: F401  (routes on admin bp)
    from kameng.admin import wallets as _admin_wallets  # noqa: F401  (routes on admin bp)
    from kameng.admin import withdrawals as _admin_withdrawals  # noqa: F401  (routes on admin bp)
    from kameng.admin.views import bp as admin_bp
    from kameng.billing.payments.views import bp as payments_bp
    from kameng.billing.views import bp as billing_bp
    from kameng.shop.storefront.views import bp as shop_bp
    from kameng.tenants.views import bp as auth_bp

    for bp in (auth_bp, shop_bp, admin_bp, billing_bp, payments_bp):
        app.register_blueprint(bp)

    from kameng.sales.hooks import bp as supplier_hooks_bp
    from kameng.sales.views import bp as orders_bp

    app.register_blueprint(orders_bp)
    app.register_blueprint(supplier_hooks_bp)

    from kameng.api.account import bp as api_keys_bp
    from kameng.api.views import bp as api_bp

    app.register_blueprint(api_bp)
    app.register_blueprint(api_keys_bp)


def _register_template_helpers(app: Flask) -> None:
    from kameng.tenants.i18n import LANGUAGE_NAMES, SUPPORTED, current_locale
    from kameng.tenants.themes import effective_settings

    @app.context_processor
    def shop_context():
        tenant = g.get("tenant")
        return {
            "tenant": tenant,
            "theme_settings": effective_settings(tenant.theme, tenant.theme_settings)
            if tenant is not None else {},
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

