"""``/open-shop`` on a shop's site: a visitor opens a sub-shop of it (开通分站).

POST /open-shop → 303 to the new host's one-time login link (``/_handover/<token>``,
served by ``tenants.views``) → 303 to its back office (or its plan page, to pay).
"""
from __future__ import annotations

import secrets

from flask import Blueprint, current_app, g, jsonify, redirect, request
from flask_babel import gettext as _

from kameng.core.errors import ServiceError
from kameng.core.extensions import limiter
from kameng.sales import openshop
from kameng.tenants import openshop as slugs
from kameng.tenants.themes import available_themes, render

bp = Blueprint("openshop", __name__)
FIELDS = ("email", "password", "shop_name", "slug", "plan", "theme")


def _limit() -> str:
    return current_app.config["LOGIN_RATE_LIMIT"]


def _per_host_ip() -> str:
    return f"open-shop:{g.tenant.id}:{request.remote_addr}"


def _invite():
    """(the invite token, the invite or None, the invite's problem or None)."""
    token = request.values.get("invite") or None
    if token is None:
        return None, None, None
    try:
        return token, openshop.invite_for(g.tenant, token), None
    except ServiceError as err:
        return token, None, err.message


def _page(status: int, *, values: dict, errors: dict, invite_token, invite,
          form_id: str):
    return render("open_shop.html", values=values, errors=errors, invite=invite,
                  invite_token=invite_token, form_id=form_id,
                  plans=openshop.form_plans(g.tenant, invite),
                  themes=available_themes(), closed=False, problem=None), status


def _closed(problem: str | None = None):
    # sign-ups closed (or a bad invite): a page that says so, nothing to fill in
    return render("open_shop.html", closed=True, problem=problem, values={}, errors={},
                  plans=[], themes={}, invite=None, invite_token=None, form_id=""), \
        (200 if problem is None else 410)


@bp.route("/open-shop", methods=["GET", "POST"])
@limiter.limit(_limit, methods=["POST"], key_func=_per_host_ip)
def open_shop():
    invite_token, invite, problem = _invite()
    if problem is not None:
        return _closed(problem)
    if invite is None and not openshop.takes_signups(g.tenant):
        return _closed()
    if request.method == "GET":
        return _page(200, values={"theme": g.tenant.theme}, errors={},
                     invite_token=invite_token, invite=invite,
                     form_id=secrets.token_urlsafe(24))
    values = {name: request.form.get(name, "") for name in FIELDS}
    form_id = request.form.get("form_id") or None
    req = openshop.SignupRequest(
        email=values["email"], password=values["password"], shop_name=values["shop_name"],
        slug=values["slug"], plan=values["plan"] or None, theme=values["theme"] or None,
        form_id=form_id, invite=invite_token)
    try:
        opened = openshop.open_shop(g.tenant, req)
    except ServiceError as err:
        # the service stops at the first problem: the form shows every one at once
        errors = openshop.validate(g.tenant, req, invite) or {err.field or "form": err.message}
    else:
        _host, _sep, port = request.host.rpartition(":")
        return redirect(opened.handover_url(
            scheme=request.scheme, port=int(port) if port.isdigit() else None), code=303)
    values["password"] = ""  # never sent back
    return _page(422, values=values, errors=errors, invite_token=invite_token, invite=invite,
                 form_id=form_id or secrets.token_urlsafe(24))


def _slug_limit() -> str:
    return current_app.config["SLUG_CHECK_RATE_LIMIT"]


@bp.route("/open-shop/slug")
# it is asked while typing, so more often than the form is sent, but not without end:
# each answer costs queries and tells which names are taken
@limiter.limit(_slug_limit, key_func=_per_host_ip)
def check_slug():
    """``{"slug", "available", "message"}``: the form's live check (``kameng.js``)."""
    slug = (request.args.get("slug") or "").strip().lower()[:64]
    problem = slugs.slug_problem(slug)
    return jsonify(slug=slug, available=problem is None,
                   message=problem.message if problem else _("This name is free."))
