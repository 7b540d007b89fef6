"""Back office of any shop (owner only; staff get 403): its coupons (优惠券).

/admin/coupons                          the list with usage, and the form for a new code
/admin/coupons/<id>                     edit a code; its latest uses
/admin/coupons/<id>/disable|enable      POST: switch a code off or on again

Validity times are entered and shown in the shop's time zone and stored in UTC. A
coupon's discount comes out of this shop's own margin only (``kameng.sales.coupons``).
"""
from __future__ import annotations

from flask import abort, flash, g, redirect, render_template, request, url_for
from flask_babel import gettext as _

from kameng.admin.routes import Routes
from kameng.admin.views import CsrfForm, owner_required
from kameng.core.errors import ServiceError
from kameng.core.extensions import db
from kameng.sales import coupons
from kameng.shop.pricing.forms import target_choices
from kameng.tenants.shop_settings import time_zone_of

bp = Routes()

FIELDS = ("code", "kind", "value", "target", "starts_at", "ends_at", "max_uses", "per_buyer",
          "min_amount")
EMPTY = {"kind": "percent", "target": "shop"}


def _form() -> dict:
    return {key: request.form.get(key, "") for key in FIELDS}


def _targets() -> dict[str, str]:
    return {choice.value: str(choice.label) for choice in target_choices()}


def _list_page(values: dict, errors: dict, status: int = 200):
    return render_template("admin/coupons.html", coupons=coupons.list_coupons(g.tenant),
                           targets=_targets(), values=values, errors=errors,
                           time_zone=time_zone_of(g.tenant)), status


def _edit_page(coupon, values: dict, errors: dict, status: int = 200):
    return render_template("admin/coupon_edit.html", coupon=coupon, targets=_targets(),
                           values=values, errors=errors, time_zone=time_zone_of(g.tenant),
                           uses=coupons.redemptions(coupon)), status


def _check_csrf() -> None:
    if not CsrfForm().validate_on_submit():
        abort(400)


@bp.route("/coupons", methods=["GET", "POST"])
@owner_required
def coupons_list():
    if request.method == "GET":
        return _list_page(dict(EMPTY), {})
    _check_csrf()
    values = _form()
    try:
        coupon = coupons.create_coupon(g.tenant, values)
    except ServiceError as err:
        db.session.rollback()
        return _list_page(values, {err.field or "form": err.message}, 422)
    flash(_("Coupon %(code)s created.", code=coupon.code), "success")
    return redirect(url_for("admin.coupons_list"))


@bp.route("/coupons/<int:coupon_id>", methods=["GET", "POST"])
@owner_required
def coupon_edit(coupon_id: int):
    try:
        coupon = coupons.get_coupon(g.tenant, coupon_id)
    except ServiceError:
        abort(404)
    if request.method == "GET":
        return _edit_page(coupon, coupons.form_values(coupon, g.tenant), {})
    _check_csrf()
    values = _form()
    try:
        coupons.update_coupon(g.tenant, coupon_id, values)
    except ServiceError as err:
        db.session.rollback()
        coupon = coupons.get_coupon(g.tenant, coupon_id)
        return _edit_page(coupon, values, {err.field or "form": err.message}, 422)
    flash(_("Coupon %(code)s saved.", code=values["code"].strip().upper()), "success")
    return redirect(url_for("admin.coupons_list"))


def _switch(coupon_id: int, active: bool):
    _check_csrf()
    try:
        coupon = coupons.set_active(g.tenant, coupon_id, active)
    except ServiceError:
        abort(404)
    flash(_("Coupon %(code)s enabled.", code=coupon.code) if active
          else _("Coupon %(code)s disabled.", code=coupon.code), "success")
    return redirect(url_for("admin.coupons_list"))


@bp.route("/coupons/<int:coupon_id>/disable", methods=["POST"])
@owner_required
def coupon_disable(coupon_id: int):
    return _switch(coupon_id, False)


@bp.route("/coupons/<int:coupon_id>/enable", methods=["POST"])
@owner_required
def coupon_enable(coupon_id: int):
    return _switch(coupon_id, True)
