"""HTTP helpers shared by the API and the error pages."""
from __future__ import annotations

from flask import jsonify


def problem(status: int, title: str, code: str, **extra):
    """An ``application/problem+json`` response with a stable machine ``code``."""
    body = {"type": "about:blank", "title": title, "status": status, "code": code, **extra}
    response = jsonify(body)
    response.status_code = status
    response.mimetype = "application/problem+json"
    return response
