"""Back office: the signed-in owner's or staff member's own API keys."""
from __future__ import annotations

from functools import partial

from flask import render_template

from kameng.admin.routes import Routes
from kameng.admin.views import staff_required
from kameng.tenants.key_pages import add_key_routes

bp = Routes()
add_key_routes(bp, "/api-keys", staff_required,
               partial(render_template, "admin/api_keys.html"),
               endpoints=("api_keys", "api_key_create", "api_key_revoke"))
