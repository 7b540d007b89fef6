"""The signed-in account's own API keys page, for the storefront and the back office alike.

Create (the plaintext is rendered in the answer to the POST that made it, never
put in the session or a redirect, so it is seen exactly once), list, revoke.
Each person manages only their own keys; a key buys on its own shop only.
"""
from __future__ import annotations

from flask import flash, redirect, url_for
from flask_babel import gettext as _
from flask_login import current_user

from kameng.tenants import api_keys
from kameng.tenants.forms import CreateKeyForm, RevokeKeyForm, create_key_from_form


def add_key_routes(bp, rule: str, guard, render_page,
                   endpoints: tuple[str, str, str]) -> None:
    """Add the list, create and revoke views under ``rule`` to ``bp``, each behind ``guard``.

    ``render_page(**context)`` renders the page; ``endpoints`` names the three views.
    """
    index, create, revoke = endpoints

    def page(form: CreateKeyForm, new_key: str | None = None, status: int = 200):
        # the session is bound to this host's shop, so current_user is a user of g.tenant
        html = render_page(form=form, revoke_form=RevokeKeyForm(),
                           keys=api_keys.list_keys(current_user), new_key=new_key)
        return html, status, {"Cache-Control": "no-store"}

    def list_view():
        return page(CreateKeyForm(formdata=None))

    def create_view():
        form = CreateKeyForm()
        new_key, status = create_key_from_form(form)
        return page(CreateKeyForm(formdata=None) if new_key else form, new_key, status)

    def revoke_view(key_id: int):
        if RevokeKeyForm().validate_on_submit():
            key = api_keys.revoke_key(current_user, key_id)   # another user's key: 404
            flash(_("Key %(prefix)s… revoked.", prefix=key.prefix), "success")
        return redirect(url_for(f".{index}"))

    bp.route(rule, endpoint=index)(guard(list_view))
    bp.route(rule, endpoint=create, methods=["POST"])(guard(create_view))
    bp.route(f"{rule}/<int:key_id>/revoke", endpoint=revoke, methods=["POST"])(guard(revoke_view))
