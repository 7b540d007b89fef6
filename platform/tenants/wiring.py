"""tenants' part of the app: locale, host → tenant resolution, login, the auth pages."""
from __future__ import annotations


def init_app(app) -> None:
    from flask import g

    from kameng.core.extensions import babel, login_manager
    from kameng.tenants import hostcache, resolver
    from kameng.tenants.i18n import select_locale
    from kameng.tenants.services import load_session_user
    from kameng.tenants.views import bp

    babel.init_app(app, locale_selector=select_locale)
    resolver.init_app(app)  # before Flask-Login loads a user: it needs g.tenant
    login_manager.init_app(app)
    login_manager.login_view = "auth.login"
    login_manager.user_loader(lambda sid: load_session_user(g.get("tenant"), sid))
    hostcache.install()
    app.register_blueprint(bp)


def register_cli(group) -> None:
    from kameng.tenants.cli import tenants_cli

    group.add_command(tenants_cli)
