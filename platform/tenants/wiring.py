"""tenants' part of the app: locale, host → tenant resolution, login, the auth pages."""
from __future__ import annotations


def init_app(app) -> None:
    from flask import g

    from kameng.core.extensions import babel, login_manager
    from kameng.tenants import api_keys, hostcache, resolver, tls
    from kameng.tenants.i18n import select_locale
    from kameng.tenants.services import load_session_user
    from kameng.tenants.views import bp

    babel.init_app(app, locale_selector=select_locale)
    resolver.init_app(app)  # before Flask-Login loads a user: it needs g.tenant
    login_manager.init_app(app)
    login_manager.login_view = "auth.login"
    login_manager.user_loader(lambda sid: load_session_user(g.get("tenant"), sid))
    hostcache.install()
    api_keys.install()   # a changed key or account drops every process's cached keys
    app.register_blueprint(bp)
    app.register_blueprint(tls.bp)  # /_tls/ask, answered on any host
    _template_helpers(app)


def _template_helpers(app) -> None:
    """``|shoptime`` (a stored UTC time in the shop's zone), ``|percent`` (basis points
    as a percentage) and ``shop_contacts(tenant)`` for every template."""
    from flask import g

    from kameng.core.percent import format_percent
    from kameng.tenants.shop_settings import TIME_FORMAT, contacts_of, format_shop_time

    def shoptime(value, fmt: str = TIME_FORMAT) -> str:
        return format_shop_time(value, g.get("tenant"), fmt)

    app.add_template_filter(shoptime, "shoptime")
    app.add_template_filter(format_percent, "percent")
    app.add_template_global(contacts_of, "shop_contacts")


def register_cli(group) -> None:
    from kameng.tenants.cli import tenants_cli

    group.add_command(tenants_cli)
