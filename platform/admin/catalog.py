"""The master's back office for its catalog: categories and products.

Only the master shop's staff reach these pages; a sub-shop's staff get 403.
"""
from __future__ import annotations

from flask import abort, flash, g, redirect, render_template, request, url_for
from flask_babel import gettext as _
from werkzeug.exceptions import RequestEntityTooLarge

from kameng.admin.routes import Routes
from kameng.admin.views import CsrfForm, master_staff_required
from kameng.core.errors import ServiceError
from kameng.core.extensions import db
from kameng.shop.catalog import images, services
from kameng.shop.catalog.forms import FIELD_TYPE_LABELS, CategoryForm, ProductForm

bp = Routes()
# room for the product form's other fields beside one image at its size limit
FORM_ALLOWANCE = 256 * 1024


def show_error(form, err: ServiceError, aliases: dict | None = None) -> None:
    """Put a service error next to the form field it names (else at the top)."""
    name = (aliases or {}).get(err.field, err.field)
    target = getattr(form, name, None) if name else None
    if target is not None and hasattr(target, "errors"):
        target.errors = [*target.errors, err.message]
    else:
        form.form_errors.append(err.message)


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
                           tree=services.category_tree(), action=CsrfForm())


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
    if not CsrfForm().validate_on_submit():
        abort(400)
    try:
        services.delete_category(services.get_category(category_id))
    except ServiceError as err:
        flash(err.message, "error")
    else:
        flash(_("Category deleted."), "success")
    return redirect(url_for("admin.catalog_categories"))


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
    currency = product.currency if product else services.catalog_currency()
    # the form carries at most one image: a bigger body is refused before it is read
    request.max_content_length = images.max_image_bytes() + FORM_ALLOWANCE
    try:
        form = ProductForm(obj=product if request.method == "GET" else None)
    except RequestEntityTooLarge:
        form = ProductForm(formdata=None, obj=product)
        if product is not None:
            form.fill(product)
        form.upload.errors = [_("The file is too large: at most %(mb)s MB.",
                                mb=images.max_image_megabytes())]
        return _product_page(form, product, currency, 413)
    if request.method == "GET" and product is not None:
        form.fill(product)
    if request.method == "POST" and "add_field" in request.form:
        form.validate()          # only to show the values back; nothing is saved
        form.with_blank_row()
        return _product_page(form, product, currency)
    if form.validate_on_submit():
        values = form.values(currency)
        upload = form.upload.data if form.upload.data and form.upload.data.filename else None
        stored = None
        if values is not None and upload is not None:
            try:   # the URLs first: a refused form stores no file
                urls = services.validate_images(values["images"])
                stored = images.store_image(upload, g.tenant.id)
                values["images"] = [*urls, stored]
            except ServiceError as err:
                show_error(form, err)
                values = None
        if values is not None:
            try:
                if product is None:
                    product = services.create_product(**values)
                else:
                    services.update_product(product, **values)
            except ServiceError as err:
                db.session.rollback()
                if stored is not None:   # the product was not saved: neither is its image
                    images.remove_image(stored, g.tenant.id)
                show_error(form, err)
            else:
                flash(_("Product saved."), "success")
                return redirect(url_for("admin.catalog_product_edit", product_id=product.id))
    return _product_page(form.with_blank_row(), product, currency)


def _product_page(form, product, currency, status=200):
    form.category.choices = [("", _("— none —"))] + [
        (str(c.id), "\u2003" * depth + c.name) for depth, c in services.category_tree()]
    return render_template("admin/catalog_product_form.html", form=form, product=product,
                           currency=currency, thumb=images.thumb_url, max_mb=images.max_image_megabytes(),
                           type_labels=FIELD_TYPE_LABELS), status
