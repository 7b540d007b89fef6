"""Back office of any shop (the master included): its prices and its markup rules.

/admin/prices          its catalog with cost, wholesale, price and margin per product
/admin/markup          list, add (with a preview) and delete markup rules; the sub-shop cap
/admin/markup/preview  JSON: the price table with a proposed rule, nothing saved
"""
from __future__ import annotations

from flask import flash, g, jsonify, redirect, render_template, request, url_for
from flask_babel import gettext as _

from kameng.admin.routes import Routes
from kameng.admin.views import owner_required
from kameng.core.errors import ServiceError
from kameng.core.http import problem
from kameng.core.percent import format_percent, parse_percent
from kameng.shop.pricing import services
from kameng.shop.pricing.forms import CapForm, MarkupForm, rule_args

bp = Routes()


@bp.route("/prices")
@owner_required
def prices():
    return render_template("admin/pricing_prices.html", rows=services.price_rows(g.tenant),
                           cap=services.cap_on(g.tenant), child_cap=services.child_cap(g.tenant),
                           format_percent=format_percent)


def _markup_page(form: MarkupForm, preview=None, status: int = 200):
    cap_form = CapForm(prefix="cap")
    own = services.child_cap(g.tenant)
    if own is not None and not cap_form.max_percent.data:
        cap_form.max_percent.data = format_percent(own)
    rules = services.list_markups(g.tenant)
    return render_template(
        "admin/pricing_markup.html", form=form, cap_form=cap_form, preview=preview,
        rules=[(r, services.rule_target_label(r), services.describe_rule(r)) for r in rules],
        cap=services.cap_on(g.tenant), child_cap=own, format_percent=format_percent,
        is_master=g.tenant.parent_id is None), status


@bp.route("/markup", methods=["GET", "POST"])
@owner_required
def markup():
    form = MarkupForm()
    if request.method == "GET":
        return _markup_page(form)
    if not form.validate_on_submit():
        return _markup_page(form, status=422)
    try:
        kwargs = rule_args(request.form, g.tenant.currency)
        if request.form.get("action") == "preview":
            return _markup_page(form, preview=services.preview_rule(g.tenant, **kwargs))
        services.set_markup(g.tenant, **kwargs)
    except ServiceError as err:
        field = getattr(form, err.field, None) if err.field else None
        (field.errors if field is not None and hasattr(field, "errors") else
         form.form_errors).append(err.message)
        return _markup_page(form, status=422)
    flash(_("Markup rule saved."), "success")
    return redirect(url_for("admin.markup"))


@bp.route("/markup/preview")
@owner_required
def markup_preview():
    try:
        rows = services.preview_rule(g.tenant, **rule_args(request.args, g.tenant.currency))
    except ServiceError as err:
        return problem(err.status, err.message, code=err.code, field=err.field)
    return jsonify(rows=rows)


@bp.route("/markup/<int:rule_id>/delete", methods=["POST"])
@owner_required
def markup_delete(rule_id: int):
    form = CapForm()  # only for its CSRF check
    if not form.validate_on_submit():
        flash(_("The form expired; try again."), "error")
        return redirect(url_for("admin.markup"))
    services.delete_markup(g.tenant, rule_id)
    flash(_("Markup rule deleted."), "success")
    return redirect(url_for("admin.markup"))


@bp.route("/markup/cap", methods=["POST"])
@owner_required
def markup_cap():
    form = CapForm(prefix="cap")
    if not form.validate_on_submit():
        flash(_("The form expired; try again."), "error")
        return redirect(url_for("admin.markup"))
    raw = (form.max_percent.data or "").strip()
    try:
        cap = (parse_percent(raw, "max_percent", maximum_bp=services.MAX_MARKUP_BP)
               if raw else None)
        services.set_child_cap(g.tenant, cap)
    except ServiceError as err:
        flash(err.message, "error")
        return redirect(url_for("admin.markup"))
    flash(_("Cap on sub-shops saved.") if raw else _("Cap on sub-shops removed."), "success")
    return redirect(url_for("admin.markup"))
