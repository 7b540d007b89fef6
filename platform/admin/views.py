"""The back office of the current shop (the master's is the root shop's)."""
from __future__ import annotations

from functools import wraps

from flask import abort, flash, g, redirect, render_template, request, url_for
from flask_login import current_user
from flask_wtf import FlaskForm

from kameng.admin.routes import Routes
from kameng.core.errors import ServiceError
from kameng.core.extensions import db

bp = Routes()


def staff_required(view):
    @wraps(view)
    def wrapper(*args, **kwargs):
        if not current_user.is_authenticated:
            return redirect(url_for("auth.login", next=request.full_path))
        if not current_user.is_staff or current_user.tenant_id != g.tenant.id:
            abort(403)
        return view(*args, **kwargs)
    return wrapper


def owner_required(view):
    @wraps(view)
    @staff_required
    def wrapper(*args, **kwargs):
        if current_user.role != "owner":
            abort(403)
        return view(*args, **kwargs)
    return wrapper


def master_staff_required(view):
    """The master's staff only: the catalog, stock and suppliers are the master's."""
    @wraps(view)
    @staff_required
    def wrapper(*args, **kwargs):
        if not g.tenant.is_master:
            abort(403)
        return view(*args, **kwargs)
    return wrapper


def master_owner_required(view):
    @wraps(view)
    @master_staff_required
    def wrapper(*args, **kwargs):
        if current_user.role != "owner":
            abort(403)
        return view(*args, **kwargs)
    return wrapper


@bp.route("/")
@staff_required
def dashboard():
    return render_template("admin/dashboard.html")


class CsrfForm(FlaskForm):
    """A form with nothing but its CSRF token (buttons that post an action)."""


def guarded_action(action, page, endpoint: str):
    """Run a back-office button's service call: CSRF first; a refused operation is
    rolled back and shown on ``page(status)``; success flashes and redirects."""
    if not CsrfForm().validate_on_submit():
        abort(400)
    try:
        message = action()
    except ServiceError as err:
        db.session.rollback()
        flash(err.message, "error")
        return page(err.status if err.status < 500 else 422)
    flash(message, "success")
    return redirect(url_for(endpoint))
