"""Back office (owner of a shop that may have sub-shops, and the master): the shops below
mine — plan, status, funded balance, sales, my earnings from each — with approve /
suspend / resume; the sign-up setting of my site's ``/open-shop``; invite links.

/admin/subshops                       the page
/admin/subshops/settings              POST: closed / with approval / open, plans, markup
/admin/subshops/invites               POST: a new invite link (shown once)
/admin/subshops/invites/<id>/revoke   POST
/admin/subshops/<id>/approve|suspend|resume   POST, a shop below mine only
"""
from __future__ import annotations

from flask import g, render_template, request, url_for
from flask_babel import gettext as _

from kameng.admin.routes import Routes
from kameng.admin.views import ActionPage, also_requires, owner_required
from kameng.billing.plans.services import plans_of
from kameng.core.errors import InvalidInput
from kameng.core.pagination import requested_after
from kameng.core.percent import format_percent, parse_percent
from kameng.sales import openshop
from kameng.tenants import openshop as signups
from kameng.tenants.services import primary_host

bp = Routes()


def _may_have_sub_shops() -> bool:
    return openshop.may_have_sub_shops(g.tenant)


subshops_required = also_requires(_may_have_sub_shops, owner_required)


def _page(status=200):
    settings = signups.signup_settings(g.tenant)
    invites = openshop.invites_of(g.tenant)
    after = requested_after()
    rows, next_after = openshop.subshop_rows(g.tenant, after)
    return render_template(
        "admin/subshops.html", rows=rows, after=after, next_after=next_after, settings=settings,
        modes=signups.SIGNUP_MODES, own_plans=plans_of(g.tenant, active_only=True),
        invites=invites, invite_state=openshop.invite_state, percent=format_percent,
        host_of=primary_host,
        open_url=url_for("openshop.open_shop", _external=True)), status


page = ActionPage(bp, "/subshops", "subshops", subshops_required, _page)


def _int_or_none(name: str, field: str):
    raw = (request.form.get(name) or "").strip()
    if not raw:
        return None
    if not raw.isdigit() or len(raw) > 9:
        raise InvalidInput(_("Give a whole number."), field=field)
    return int(raw)


def _percent_or_none(name: str):
    raw = (request.form.get(name) or "").strip()
    return parse_percent(raw, field=name, maximum_bp=openshop.MAX_MARKUP_BP) if raw else None


@page.action("/subshops/settings")
def subshops_settings():
    plan_ids = []
    for raw in request.form.getlist("plans"):
        if not raw.isdigit():
            raise InvalidInput(_("Choose plans you sell."), field="plans")
        plan_ids.append(int(raw))
    openshop.set_signup_settings(g.tenant, request.form.get("mode", ""), plan_ids,
                                 _percent_or_none("markup") or 0)
    return _("Sign-up setting saved.")


@page.action("/subshops/invites")
def subshops_invite():
    token = openshop.create_invite(
        g.tenant, plan_id=_int_or_none("plan", "plan"), markup_bp=_percent_or_none("markup"),
        days=_int_or_none("days", "days") or 0, max_uses=_int_or_none("max_uses", "max_uses"),
        note=request.form.get("note", ""))
    link = url_for("openshop.open_shop", invite=token, _external=True)
    return _("Invite link (copy it now, it is shown once): %(link)s", link=link)


@page.action("/subshops/invites/<int:invite_id>/revoke")
def subshops_invite_revoke(invite_id):
    openshop.revoke_invite(g.tenant, invite_id)
    return _("Invite link withdrawn.")


@page.action("/subshops/<int:shop_id>/approve")
def subshops_approve(shop_id):
    shop = openshop.approve(g.tenant, shop_id)
    if shop.status == "active":
        return _("%(shop)s approved: it is open.", shop=shop.name)
    return _("%(shop)s approved: it opens once its plan is paid.", shop=shop.name)


@page.action("/subshops/<int:shop_id>/suspend")
def subshops_suspend(shop_id):
    shop = openshop.suspend(g.tenant, shop_id)
    return _("%(shop)s suspended: its site is closed to buyers and the API; its owner can "
             "still sign in.", shop=shop.name)


@page.action("/subshops/<int:shop_id>/resume")
def subshops_resume(shop_id):
    shop = openshop.resume(g.tenant, shop_id)
    return _("%(shop)s reopened.", shop=shop.name)
