"""Back office of any shop (owner only): its customer-service contacts and its time zone.

/admin/shop-settings    the form; every field is checked and all errors shown at once,
                        nothing is written unless all are good
"""
from __future__ import annotations

from flask import flash, g, redirect, render_template, request, url_for
from flask_babel import gettext as _

from kameng.admin.routes import Routes
from kameng.admin.views import CsrfForm, owner_required
from kameng.core.errors import ServiceError
from kameng.core.extensions import db
from kameng.core.i18n import lazy_gettext as _l
from kameng.tenants.shop_settings import (
    CONTACT_KEYS,
    clean_time_zone,
    contact_errors,
    contacts_of,
    time_zone_of,
    time_zones,
    update_shop_settings,
)

bp = Routes()

CONTACT_LABELS = {"qq": _l("QQ"), "wechat": _l("WeChat"), "telegram": _l("Telegram"),
                  "email": _l("E-mail"), "url": _l("Customer service link")}
CONTACT_HINTS = {"qq": _l("5 to 12 digits."),
                 "wechat": _l("Your WeChat ID or the phone number bound to it."),
                 "telegram": _l("Your username, with or without @."),
                 "email": _l("Where buyers can write to you."),
                 "url": _l("An http:// or https:// address, e.g. your online chat page.")}


def _page(values: dict, time_zone: str, errors: dict, status: int = 200):
    fields = [{"key": key, "label": str(CONTACT_LABELS[key]), "help": str(CONTACT_HINTS[key]),
               "value": values.get(key, ""), "error": errors.get(key)}
              for key in CONTACT_KEYS]
    return render_template("admin/shop_settings.html", fields=fields, time_zone=time_zone,
                           time_zones=time_zones(), errors=errors), status


@bp.route("/shop-settings", methods=["GET", "POST"])
@owner_required
def shop_settings():
    tenant = g.tenant
    if request.method == "GET":
        return _page(contacts_of(tenant), time_zone_of(tenant), {})
    if not CsrfForm().validate_on_submit():
        flash(_("The form expired; try again."), "error")
        return _page(contacts_of(tenant), time_zone_of(tenant), {}, 400)
    values = {key: request.form.get(key, "") for key in CONTACT_KEYS}
    zone = request.form.get("time_zone", "")
    errors = contact_errors(values)
    try:
        clean_time_zone(zone)
    except ServiceError as err:
        errors["time_zone"] = err.message
    if not errors:
        try:
            update_shop_settings(tenant, contacts=values, time_zone=zone)
        except ServiceError as err:
            db.session.rollback()
            errors[err.field or "form"] = err.message
        else:
            flash(_("Shop settings saved."), "success")
            return redirect(url_for("admin.shop_settings"))
    return _page(values, zone, errors, 422)
