"""The customer's own API keys on the storefront: ``/account/api-keys`` (login required).

A new key's plaintext is rendered in the answer to the POST that made it (never
put in the session or a redirect), so it is seen exactly once.
"""
from __future__ import annotations

from flask import Blueprint, flash, redirect, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required

from kameng.tenants import api_keys as services
from kameng.tenants.forms import CreateKeyForm, RevokeKeyForm, create_key_from_form
from kameng.tenants.themes import render

bp = Blueprint("api_keys", __name__)


def _page(form: CreateKeyForm, new_key: str | None = None, status: int = 200):
    # the session is bound to this host's shop, so current_user is a user of g.tenant
    response = render("api_keys.html", form=form, revoke_form=RevokeKeyForm(),
                      keys=services.list_keys(current_user), new_key=new_key)
    return response, status, {"Cache-Control": "no-store"}


@bp.route("/account/api-keys")
@login_required
def index():
    return _page(CreateKeyForm(formdata=None))


@bp.route("/account/api-keys", methods=["POST"])
@login_required
def create():
    form = CreateKeyForm()
    new_key, status = create_key_from_form(form)
    return _page(CreateKeyForm(formdata=None) if new_key else form, new_key, status)


@bp.route("/account/api-keys/<int:key_id>/revoke", methods=["POST"])
@login_required
def revoke(key_id: int):
    form = RevokeKeyForm()
    if form.validate_on_submit():
        key = services.revoke_key(current_user, key_id)   # another user's key: 404
        flash(_("Key %(prefix)s… revoked.", prefix=key.prefix), "success")
    return redirect(url_for("api_keys.index"))
