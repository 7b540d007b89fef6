"""api's part of the app: the REST API and the customer's API-key page."""
from __future__ import annotations


def init_app(app) -> None:
    from kameng.api.account import bp as api_keys_bp
    from kameng.api.views import bp as api_bp

    app.register_blueprint(api_bp)
    app.register_blueprint(api_keys_bp)
