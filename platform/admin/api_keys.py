"""Back office: the signed-in owner's or staff member's own API keys.

Create (the plaintext is shown once, in the answer to the POST), list, revoke.
Each person manages only their own keys; a key buys on this shop only.
"""
from __future__ import annotations

from flask import flash, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_login import current_user

from kameng.admin.routes import Routes
from kameng.admin.views import staff_required
from kameng.tenants import api_keys as services
from kameng.tenants.forms import CreateKeyForm, RevokeKeyForm, create_key_from_form

bp = Routes()


def _page(form: CreateKeyForm, new_key: str | None = None, status: int = 200):
    html = render_template("admin/api_keys.html", form=form, revoke_form=RevokeKeyForm(),
                           keys=services.list_keys(current_user), new_key=new_key)
    return html, status, {"Cache-Control": "no-store"}


@bp.route("/api-keys")
@staff_required
def api_keys():
    return _page(CreateKeyForm(formdata=None))


@bp.route("/api-keys", methods=["POST"])
@staff_required
def api_key_create():
    form = CreateKeyForm()
    new_key, status = create_key_from_form(form)
    return _page(CreateKeyForm(formdata=None) if new_key else form, new_key, status)


@bp.route("/api-keys/<int:key_id>/revoke", methods=["POST"])
@staff_required
def api_key_revoke(key_id: int):
    if RevokeKeyForm().validate_on_submit():
        key = services.revoke_key(current_user, key_id)   # not one's own key: 404
        flash(_("Key %(prefix)s… revoked.", prefix=key.prefix), "success")
    return redirect(url_for("admin.api_keys"))
