"""The master's back office for its catalog: categories and products.

Only the master shop's staff reach these pages; a sub-shop's staff get 403.
"""
from __future__ import annotations

import json

from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import BooleanField, IntegerField, SelectField, StringField, TextAreaField
from wtforms.validators import InputRequired, Optional

from kameng.admin.routes import Routes
from kameng.admin.views import master_staff_required
from kameng.core.errors import ServiceError
from kameng.core.money import MoneyError, format_plain, parse_amount
from kameng.shop.catalog import services
from kameng.shop.catalog.models import KINDS, STATUSES

bp = Routes()


def show_error(form, err: ServiceError, aliases: dict | None = None) -> None:
    """Put a service error next to the form field it names (else at the top)."""
    name = (aliases or {}).get(err.field, err.field)
    target = getattr(form, name, None) if name else None
    if target is not None and hasattr(target, "errors"):
        target.errors = [*target.errors, err.message]
    else:
        form.form_errors.append(err.message)


class ActionForm(FlaskForm):
    """An empty form: just the CSRF token for a POST button."""


class CategoryForm(FlaskForm):
    name = StringField(_l("Name"), validators=[InputRequired()])
    name_en = StringField(_l("Name (English)"), validators=[Optional()])
    icon = StringField(_l("Icon (URL or emoji)"), validators=[Optional()])
    parent = SelectField(_l("Parent"), choices=[], validate_choice=False)
    position = IntegerField(_l("Position"), validators=[Optional()])


def _category_choices():
    return [("", _("— top level —"))] + [
        (str(c.id), "\u2003" * depth + c.name) for depth, c in services.category_tree()]


@bp.route("/catalog/categories", methods=["GET", "POST"])
@master_staff_required
def catalog_categories():
    form = CategoryForm()
    form.parent.choices = _category_choices()
    if form.validate_on_submit():
        try:
            services.create_category(form.name.data, form.name_en.data, form.parent.data or None,
                                     form.icon.data, form.position.data)
        except ServiceError as err:
            show_error(form, err)
        else:
            flash(_("Category created."), "success")
            return redirect(url_for("admin.catalog_categories"))
    return render_template("admin/catalog_categories.html", form=form,
                           tree=services.category_tree(), action=ActionForm())


@bp.route("/catalog/categories/<int:category_id>", methods=["GET", "POST"])
@master_staff_required
def catalog_category_edit(category_id):
    category = services.get_category(category_id)
    form = CategoryForm(obj=None if request.method == "POST" else category)
    form.parent.choices = [c for c in _category_choices() if c[0] != str(category.id)]
    if request.method == "GET":
        form.parent.data = str(category.parent_id or "")
    if form.validate_on_submit():
        try:
            services.update_category(category, name=form.name.data, name_en=form.name_en.data,
                                     icon=form.icon.data, parent=form.parent.data or None,
                                     position=form.position.data or 0)
        except ServiceError as err:
            show_error(form, err)
        else:
            flash(_("Category saved."), "success")
            return redirect(url_for("admin.catalog_categories"))
    return render_template("admin/catalog_category_form.html", form=form, category=category)


@bp.route("/catalog/categories/<int:category_id>/delete", methods=["POST"])
@master_staff_required
def catalog_category_delete(category_id):
    if not ActionForm().validate_on_submit():
        abort(400)
    try:
        services.delete_category(services.get_category(category_id))
    except ServiceError as err:
        flash(err.message, "error")
    else:
        flash(_("Category deleted."), "success")
    return redirect(url_for("admin.catalog_categories"))


class ProductForm(FlaskForm):
    sku = StringField("SKU", validators=[InputRequired()])
    name = StringField(_l("Name"), validators=[InputRequired()])
    name_en = StringField(_l("Name (English)"), validators=[Optional()])
    kind = SelectField(_l("Kind"), choices=[(k, k) for k in KINDS])
    status = SelectField(_l("Status"), choices=[(s, s) for s in STATUSES])
    category = SelectField(_l("Category"), choices=[], validate_choice=False)
    supplier_cost = StringField(_l("Supplier cost"), validators=[InputRequired()])
    wholesale_price = StringField(_l("Wholesale price (to sub-shops)"),
                                  validators=[InputRequired()])
    retail_price = StringField(_l("Retail price (own storefront)"), validators=[InputRequired()])
    min_quantity = IntegerField(_l("Minimum per order"), default=1)
    max_quantity = IntegerField(_l("Maximum per order"), default=100)
    description = TextAreaField(_l("Description"), validators=[Optional()])
    description_en = TextAreaField(_l("Description (English)"), validators=[Optional()])
    images = TextAreaField(_l("Image URLs, one per line"), validators=[Optional()])
    fields = TextAreaField(_l("Buyer input fields (JSON)"), validators=[Optional()])
    loop_code = BooleanField(_l("Loop code: deliver the same code to every buyer"))
    low_stock_threshold = IntegerField(_l("Low-stock threshold"), default=10)
    position = IntegerField(_l("Position"), validators=[Optional()])


AMOUNT_FIELDS = ("supplier_cost", "wholesale_price", "retail_price")


def _product_values(form: ProductForm, currency: str) -> dict | None:
    """Form -> service arguments; amount/JSON problems go onto the form (None returned)."""
    values = {k: getattr(form, k).data for k in (
        "sku", "name", "name_en", "kind", "status", "min_quantity", "max_quantity",
        "description", "description_en", "images", "loop_code", "low_stock_threshold",
        "position")}
    values["category"] = int(form.category.data) if form.category.data else None
    values["description"] = values["description"] or ""
    values["description_en"] = values["description_en"] or ""
    values["position"] = values["position"] or 0
    ok = True
    for key in AMOUNT_FIELDS:
        try:
            values[key] = parse_amount(getattr(form, key).data or "", currency)
        except MoneyError as err:
            getattr(form, key).errors = [*getattr(form, key).errors, str(err)]
            ok = False
    raw = (form.fields.data or "").strip()
    try:
        values["fields"] = json.loads(raw) if raw else []
    except ValueError as err:
        form.fields.errors = [*form.fields.errors, _("not valid JSON: %(e)s", e=str(err))]
        ok = False
    return values if ok else None


def _fill_product_form(form: ProductForm, product) -> None:
    for key in AMOUNT_FIELDS:
        getattr(form, key).data = format_plain(getattr(product, key), product.currency)
    form.category.data = str(product.category_id or "")
    form.images.data = "\n".join(product.images or [])
    form.fields.data = json.dumps(product.fields or [], ensure_ascii=False, indent=1) \
        if product.fields else ""


@bp.route("/catalog/products")
@master_staff_required
def catalog_products():
    return render_template("admin/catalog_products.html", products=services.list_products(),
                           tree=services.category_tree())


@bp.route("/catalog/products/new", methods=["GET", "POST"])
@bp.route("/catalog/products/<int:product_id>", methods=["GET", "POST"])
@master_staff_required
def catalog_product_edit(product_id=None):
    product = services.get_product(product_id) if product_id else None
    form = ProductForm(obj=product if request.method == "GET" else None)
    form.category.choices = [("", _("— none —"))] + [
        (str(c.id), "\u2003" * depth + c.name) for depth, c in services.category_tree()]
    currency = product.currency if product else services.catalog_currency()
    if request.method == "GET" and product is not None:
        _fill_product_form(form, product)
    if form.validate_on_submit():
        values = _product_values(form, currency)
        if values is not None:
            try:
                if product is None:
                    product = services.create_product(**values)
                else:
                    services.update_product(product, **values)
            except ServiceError as err:
                show_error(form, err)
            else:
                flash(_("Product saved."), "success")
                return redirect(url_for("admin.catalog_product_edit", product_id=product.id))
    return render_template("admin/catalog_product_form.html", form=form, product=product,
                           currency=currency)
