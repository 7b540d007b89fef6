"""api's part of the app: the REST API and the customer's API-key page."""
from __future__ import annotations

_filtered = []   # the limiter is one object per process; its filter is added once


def init_app(app) -> None:
    from kameng.api.account import bp as api_keys_bp
    from kameng.api.views import bp as api_bp
    from kameng.api.views import counted_per_key
    from kameng.core.extensions import limiter

    app.register_blueprint(api_bp)
    app.register_blueprint(api_keys_bp)
    if not _filtered:
        limiter.request_filter(counted_per_key)
        _filtered.append(counted_per_key)
