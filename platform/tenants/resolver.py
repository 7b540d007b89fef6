"""Resolve the request's Host to exactly one tenant, once, before any view runs."""
from __future__ import annotations

from flask import abort, current_app, g, request

from kameng.core.scoping import reset_scope, set_scope
from kameng.tenants.services import resolve_host

# endpoints served on any host (no tenant data): health checks
HOSTLESS_ENDPOINTS = {"health"}


def any_host(view):
    """Serve this view on every host, with no tenant (it must read no tenant data)."""
    view.any_host = True
    return view


def resolve_tenant():
    if request.endpoint in HOSTLESS_ENDPOINTS or getattr(
            current_app.view_functions.get(request.endpoint), "any_host", False):
        return None
    tenant = resolve_host(request.host)
    if tenant is None:
        # an unknown or unverified host never falls back to another shop
        abort(404)
    g.tenant = tenant
    g.scope_token = set_scope(tenant.id)
    return None


def clear_scope(_exc=None):
    token = g.pop("scope_token", None)
    if token is not None:
        reset_scope(token)


def init_app(app):
    app.before_request(resolve_tenant)
    app.teardown_request(clear_scope)
