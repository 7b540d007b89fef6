"""Back office (owner): the shop's staff accounts — add, change role, disable, remove —
and what each role may do (admin/permissions.py)."""
from __future__ import annotations

from flask import g, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from kameng.admin import permissions
from kameng.admin.routes import Routes
from kameng.admin.views import ActionPage, CsrfForm, owner_required
from kameng.tenants import staff

bp = Routes()


def _page(status=200):
    return render_template("admin/staff.html", form=CsrfForm(), users=staff.list_staff(g.tenant),
                           roles=staff.BACK_OFFICE_ROLES, matrix=permissions.matrix(),
                           owner_only=permissions.OWNER_ONLY, values=request.form), status


page = ActionPage(bp, "/staff", "staff_index", owner_required, _page)


@page.action("/staff/add")
def staff_add():
    form = request.form
    user = staff.add_staff(
        g.tenant, current_user, form.get("email", ""), form.get("role", ""),
        form.get("password") or None,
        invite_url=lambda token: url_for("auth.reset_password", token=token, _external=True))
    if form.get("password"):
        return _("%(email)s can sign in now.", email=user.email)
    return _("%(email)s was sent a link to choose a password.", email=user.email)


@page.action("/staff/<int:user_id>/role")
def staff_role(user_id: int):
    before = staff.get_staff(g.tenant, user_id).back_office_role
    user = staff.change_role(g.tenant, current_user, user_id, request.form.get("role", ""))
    if user.back_office_role == before:
        return _("%(email)s keeps the same role.", email=user.email)
    return _("%(email)s has a new role; their sessions ended.", email=user.email)


@page.action("/staff/<int:user_id>/disable")
def staff_disable(user_id: int):
    user = staff.set_disabled(g.tenant, current_user, user_id, True)
    return _("%(email)s is disabled and signed out.", email=user.email)


@page.action("/staff/<int:user_id>/enable")
def staff_enable(user_id: int):
    user = staff.set_disabled(g.tenant, current_user, user_id, False)
    return _("%(email)s can sign in again.", email=user.email)


@page.action("/staff/<int:user_id>/remove")
def staff_remove(user_id: int):
    email = staff.remove_staff(g.tenant, current_user, user_id)
    return _("%(email)s was removed.", email=email)
