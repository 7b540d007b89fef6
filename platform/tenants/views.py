"""Signing in and out, signing up as a customer, language switch, theme assets."""
from __future__ import annotations

import time
from functools import lru_cache
from urllib.parse import urlsplit

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    g,
    redirect,
    request,
    send_file,
    session,
    url_for,
)
from flask_babel import gettext as _
from flask_login import current_user, login_user, logout_user

from kameng.core.errors import ServiceError
from kameng.core.events import user_signed_up
from kameng.core.extensions import limiter
from kameng.tenants import appearance, services, twofactor
from kameng.tenants.custom_css import clean_css
from kameng.tenants.forms import (
    ForgotPasswordForm,
    LoginForm,
    RegisterForm,
    ResetPasswordForm,
    TwoFactorForm,
)
from kameng.tenants.i18n import COOKIE, SUPPORTED
from kameng.tenants.openshop import spend_handover
from kameng.tenants.themes import available_themes, current_theme, find_static, render

bp = Blueprint("auth", __name__)


def _login_limit() -> str:
    return current_app.config["LOGIN_RATE_LIMIT"]


def _per_host_ip() -> str:
    return f"{g.tenant.id}:{request.remote_addr}"


def _safe_next(default: str) -> str:
    target = request.args.get("next") or request.form.get("next") or ""
    parts = urlsplit(target)
    if target.startswith("/") and not target.startswith("//") and not parts.netloc:
        return target
    return default


# the password and the second step share one limit: failed codes count like passwords
_login_limited = limiter.shared_limit(_login_limit, scope="login", methods=["POST"],
                                      key_func=_per_host_ip)
_PENDING = "2fa_pending"
PENDING_SECONDS = 300


@bp.route("/login", methods=["GET", "POST"])
@_login_limited
def login():
    form = LoginForm()
    if form.validate_on_submit():
        user = services.authenticate(g.tenant, form.email.data, form.password.data)
        if user is not None:
            default = url_for("admin.dashboard") if user.is_staff else url_for("shop.index")
            if twofactor.enabled(user):
                # not signed in yet: the second step asks for a code
                session[_PENDING] = {"user": user.get_id(), "next": _safe_next(default),
                                     "at": int(time.time())}
                return redirect(url_for("auth.login_2fa"))
            login_user(user)
            return redirect(_safe_next(default))
        form.password.errors.append(_("Wrong e-mail or password."))
    return render("login.html", form=form)


@bp.route("/login/2fa", methods=["GET", "POST"])
@_login_limited
def login_2fa():
    """The second step of signing in: a code of the user's authenticator app, or one of
    its recovery codes. The password step's note lasts five minutes."""
    pending = session.get(_PENDING) or {}
    user = None
    if int(time.time()) - int(pending.get("at") or 0) <= PENDING_SECONDS:
        user = services.load_session_user(g.tenant, str(pending.get("user") or ""))
    if user is None or not twofactor.enabled(user):
        session.pop(_PENDING, None)
        return redirect(url_for("auth.login"))
    form = TwoFactorForm()
    if form.validate_on_submit():
        if twofactor.verify(user, form.code.data):
            session.pop(_PENDING, None)
            login_user(user)
            return redirect(pending.get("next") or url_for("admin.dashboard"))
        form.code.errors.append(_("Wrong or already used code."))
        form.code.data = ""
    return render("login_2fa.html", form=form)


@bp.route("/_handover/<token>")
def handover(token: str):
    """A one-time login link made when a shop was opened on its parent's site (sessions
    are per host): good once, for two minutes; anything else → the login page, saying so."""
    spent = spend_handover(g.tenant, token)
    if spent is None:
        flash(_("This sign-in link has expired or was used already: sign in with your "
                "e-mail and password."), "error")
        return redirect(url_for("auth.login"), code=303)
    user, next_path = spent
    session.pop(_PENDING, None)
    login_user(user)
    return redirect(next_path if next_path.startswith("/") and not next_path.startswith("//")
                    else url_for("admin.dashboard"), code=303)


@bp.route("/logout", methods=["POST"])
def logout():
    if current_user.is_authenticated:
        # every session of this user ends, a copied cookie and a remember-me cookie too
        services.end_sessions(current_user._get_current_object())
    logout_user()
    return redirect(url_for("shop.index"))


@bp.route("/register", methods=["GET", "POST"])
@limiter.limit(_login_limit, methods=["POST"], key_func=_per_host_ip)
def register():
    """Sign up: the same answer whether or not the address has an account here (a mail
    to that address tells its owner which, with a confirmation link for a new one)."""
    if not g.tenant.serves_buyers:
        # a pending or suspended shop takes no new customers (its owner still signs in)
        return render("closed.html"), 503
    form = RegisterForm()
    if form.validate_on_submit():
        try:
            services.sign_up(
                g.tenant, form.email.data, form.password.data, form.display_name.data or None,
                confirm_url=lambda token: url_for("auth.confirm_sign_up", token=token,
                                                  _external=True),
                login_url=url_for("auth.login", _external=True))
        except ServiceError as err:
            getattr(form, err.field or "email").errors.append(err.message)
        else:
            return render("register.html", form=None, sent=True, error=None)
    return render("register.html", form=form, sent=False, error=None)


@bp.route("/register/confirm/<token>")
def confirm_sign_up(token: str):
    try:
        user = services.confirm_sign_up(g.tenant, token)
    except ServiceError as err:
        return render("register.html", form=None, sent=False, error=err.message), 400
    login_user(user)
    user_signed_up.send(user)
    return redirect(url_for("shop.index"))


@bp.route("/password/forgot", methods=["GET", "POST"])
@limiter.limit(_login_limit, methods=["POST"], key_func=_per_host_ip)
def forgot_password():
    """Ask for a reset link: the same answer whether or not the address has an account."""
    form = ForgotPasswordForm()
    if form.validate_on_submit():
        services.request_password_reset(
            g.tenant, form.email.data,
            reset_url=lambda token: url_for("auth.reset_password", token=token, _external=True))
        return render("password_reset.html", mode="sent", form=None)
    return render("password_reset.html", mode="ask", form=form)


@bp.route("/password/reset/<token>", methods=["GET", "POST"])
@limiter.limit(_login_limit, methods=["POST"], key_func=_per_host_ip)
def reset_password(token: str):
    form = ResetPasswordForm()
    try:
        services.password_reset_user(g.tenant, token)
        if form.validate_on_submit():
            services.reset_password(g.tenant, token, form.password.data)
            return render("password_reset.html", mode="done", form=None)
    except ServiceError as err:
        if err.field != "password":
            return render("password_reset.html", mode="invalid", form=None,
                          error=err.message), 400
        form.password.errors.append(err.message)
    return render("password_reset.html", mode="choose", form=form)


@bp.route("/lang/<code>", methods=["GET", "POST"])
def set_language(code: str):
    if code not in SUPPORTED:
        abort(404)
    response = redirect(_safe_next(url_for("shop.index")))
    response.set_cookie(COOKIE, code, max_age=365 * 86400, samesite="Lax", httponly=True,
                        secure=current_app.config["SESSION_COOKIE_SECURE"])
    if current_user.is_authenticated:
        services.set_user_locale(current_user, code)
    return response


@bp.route("/_theme/<path:filename>")
def theme_static(filename: str):
    # ?t= names the theme (a previewed draft's, a theme card's picture); theme files
    # are the same for every shop, so any installed theme may be asked for
    asked = request.args.get("t")
    path = find_static(asked if asked in available_themes() else current_theme(), filename)
    if path is None:
        abort(404)
    # theme_asset() URLs carry the theme and file version, so they may be cached long
    return send_file(path, max_age=7 * 86400 if request.args.get("v") else 3600)


@lru_cache(maxsize=512)
def _asset_version(theme: str, filename: str) -> str:
    path = find_static(theme, filename)
    return f"{theme}.{int(path.stat().st_mtime)}" if path is not None else theme


@bp.app_template_global()
def theme_asset(filename: str) -> str:
    """URL of a theme static file; it changes with the shop's theme and the file itself,
    so a browser never keeps using the previous theme's stylesheet after a switch."""
    theme = current_theme()
    return url_for("auth.theme_static", filename=filename, t=theme,
                   v=_asset_version(theme, filename))


def _is_owner_here() -> bool:
    return bool(current_user.is_authenticated and g.get("tenant") is not None
                and current_user.tenant_id == g.tenant.id and current_user.role == "owner")


@bp.route("/_theme/custom.css")
def custom_css():
    """The shop's custom CSS (checked when saved, re-serialised here), as a stylesheet
    of its own: the CSP keeps pages free of owner-written style blocks. Only the shop's
    own CSS on its own hosts; a draft's (``?preview=<id>``) only for its owner."""
    tenant = g.get("tenant")
    if tenant is None:
        abort(404)
    if request.args.get("preview"):
        version = appearance.version_for_preview(tenant, request.args["preview"]) \
            if _is_owner_here() else None
        if version is None:
            abort(404)
        body, cache = clean_css(version.custom_css), "private, no-store"
    else:
        body = clean_css(appearance.custom_css_of(tenant))
        current = str(appearance.live_number(tenant))
        # ?v= is the live version's number: that URL's content never changes
        cache = ("public, max-age=31536000, immutable" if request.args.get("v") == current
                 else "public, max-age=300")
    if not body:
        abort(404)
    response = current_app.response_class(body, mimetype="text/css")
    response.headers["Cache-Control"] = cache
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


@bp.app_template_global()
def custom_css_url() -> str | None:
    """The link to the shop's custom stylesheet (the previewed draft's), or None."""
    preview = g.get("appearance_preview")
    if preview is not None:
        return url_for("auth.custom_css", preview=preview.id) if preview.custom_css else None
    tenant = g.get("tenant")
    if tenant is None or not appearance.has_custom_css(tenant):
        return None
    return url_for("auth.custom_css", v=appearance.live_number(tenant))
