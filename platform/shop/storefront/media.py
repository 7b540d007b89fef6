"""``/media/<name>``: the uploaded product images, served with headers we set.

A shop's images are served on its own hosts and on its sub-shops' (they sell its
catalog), never on another tree's. The name is checked against a fixed pattern
before it touches the file system, and the content type is always ours.
"""
from __future__ import annotations

from flask import Blueprint, abort, g, send_file

from kameng.shop.catalog.images import find_image

bp = Blueprint("media", __name__)


@bp.route("/media/<media_name>")
def media_file(media_name):
    tenant = g.get("tenant")
    if tenant is None:
        abort(404)
    # the shop itself first, then its parents up to the master (who owns the catalog)
    path = find_image(media_name, [tenant.id, *reversed(tenant.ancestor_ids)])
    if path is None:
        abort(404)
    response = send_file(path, mimetype="image/webp", max_age=365 * 24 * 3600,
                         conditional=True, etag=True)
    response.headers["Cache-Control"] = "public, max-age=31536000, immutable"
    response.headers["Content-Disposition"] = "inline"
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Content-Security-Policy"] = "default-src 'none'; sandbox"
    return response
