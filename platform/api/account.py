"""The customer's own API keys on the storefront: ``/account/api-keys`` (login required)."""
from __future__ import annotations

from functools import partial

from flask import Blueprint
from flask_login import login_required

from kameng.tenants.key_pages import add_key_routes
from kameng.tenants.themes import render

bp = Blueprint("api_keys", __name__)
add_key_routes(bp, "/account/api-keys", login_required,
               partial(render, "api_keys.html"),
               endpoints=("index", "create", "revoke"))
