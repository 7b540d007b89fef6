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


def also_requires(check, base):
    """An access decorator: ``base``'s checks first, then 403 unless ``check()`` holds."""
    def decorator(view):
        @wraps(view)
        @base
        def wrapper(*args, **kwargs):
            if not check():
                abort(403)
            return view(*args, **kwargs)
        return wrapper
    return decorator


def _is_owner() -> bool:
    return current_user.role == "owner"


def _is_master() -> bool:
    return g.tenant.is_master


owner_required = also_requires(_is_owner, staff_required)
# the master's staff only: the catalog, stock and suppliers are the master's
master_staff_required = also_requires(_is_master, staff_required)
master_owner_required = also_requires(_is_owner, master_staff_required)


@bp.route("/")
@staff_required
def dashboard():
    from kameng.sales.dashboard import dashboard as figures

    board = figures(g.tenant, owner=current_user.role == "owner")
    g.manual_queue_count = board.manual_waiting   # the nav badge's count: read once
    return render_template("admin/dashboard.html", board=board)


def manual_queue_count() -> int:
    """The shop's subtree's orders waiting for manual delivery, counted once per request
    (a page that shows the count and the nav badge ask the same question)."""
    if "manual_queue_count" not in g:
        from kameng.sales import oversight

        g.manual_queue_count = oversight.manual_queue_count(g.tenant)
    return g.manual_queue_count


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


class ActionPage:
    """A back-office page whose buttons post guarded actions (see ``guarded_action``).

    Adds the page's own view at ``rule`` (endpoint ``endpoint``) to ``bp``; every view
    is behind ``access``; ``page(status=200)`` renders the page.
    """

    def __init__(self, bp: Routes, rule: str, endpoint: str, access, page):
        self.bp, self.endpoint, self.access, self.page = bp, endpoint, access, page
        bp.route(rule, endpoint=endpoint)(access(page))

    def guarded(self, action):
        return guarded_action(action, self.page, f"admin.{self.endpoint}")

    def action(self, rule: str):
        """Decorator of a POST view that returns the success message of its service call."""
        def decorator(run):
            @wraps(run)
            def view(*args, **kwargs):
                return self.guarded(lambda: run(*args, **kwargs))
            self.bp.route(rule, methods=["POST"])(self.access(view))
            return run
        return decorator
