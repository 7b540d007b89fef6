"""The storefront, rendered through the tenant's theme."""
from __future__ import annotations

from flask import Blueprint

from kameng.tenants.themes import render

bp = Blueprint("shop", __name__)


@bp.route("/")
def index():
    return render("index.html")
