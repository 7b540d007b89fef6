"""Locale selection: the visitor's choice, then the account's, then the shop's default."""
from __future__ import annotations

from functools import cache

from babel import Locale
from flask import g, has_request_context, request
from flask_login import current_user

SUPPORTED = ("zh_CN", "en")
LANGUAGE_NAMES = {"zh_CN": "简体中文", "en": "English"}
COOKIE = "lang"


def normalise(code: str | None) -> str | None:
    if not code:
        return None
    code = code.replace("-", "_")
    for supported in SUPPORTED:
        if code.lower() == supported.lower() or code.lower().split("_")[0] == supported.lower():
            return supported
    if code.lower().startswith("zh"):
        return "zh_CN"
    return None


@cache
def _babel_locale(code: str) -> Locale:
    # Babel's Locale.parse scans its locale list on every call; parse each code once
    return Locale.parse(code)


def select_locale() -> Locale | None:
    if not has_request_context():
        return None   # the CLI, a worker: Flask-Babel's default (BABEL_DEFAULT_LOCALE)
    return _babel_locale(_select_code())


def _select_code() -> str:
    chosen = normalise(request.cookies.get(COOKIE))
    if chosen:
        return chosen
    if getattr(current_user, "is_authenticated", False) and current_user.locale:
        return normalise(current_user.locale) or SUPPORTED[0]
    tenant = g.get("tenant")
    if tenant is not None and normalise(tenant.locale):
        return normalise(tenant.locale)
    best = request.accept_languages.best_match(["zh-CN", "zh", "en"])
    return normalise(best) or SUPPORTED[0]


def current_locale() -> str:
    """The request's locale as one of SUPPORTED ("zh_CN", not Babel's "zh_Hans_CN")."""
    from flask_babel import get_locale

    return normalise(str(get_locale() or "")) or SUPPORTED[0]
