"""The master's back office for suppliers: settings, connection test, catalog sync, margins.

Only the master shop's staff see these pages (a sub-shop has no suppliers);
changing settings, mapping products and syncing is for the master's owner.
"""
from __future__ import annotations

from functools import wraps

from flask import flash, g, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_login import current_user

from kameng.admin.routes import Routes
from kameng.admin.views import master_owner_required, master_staff_required
from kameng.core.errors import ServiceError
from kameng.core.money import format_money
from kameng.shop.suppliers import services
from kameng.shop.suppliers.forms import ActionForm, MapForm, SupplierForm, SyncForm

bp = Routes()


def _settings_from(form: SupplierForm) -> dict:
    return {"base_url": form.base_url.data, "key_id": form.key_id.data,
            "secret": form.secret.data or None,
            "connect_timeout": form.connect_timeout.data,
            "read_timeout": form.read_timeout.data, "enabled": form.enabled.data}


def _show_error(form, err: ServiceError) -> None:
    target = getattr(form, err.field, None) if err.field else None
    if target is not None and hasattr(target, "errors"):
        target.errors = [*target.errors, err.message]
    else:
        form.form_errors.append(err.message)


def _back_to(supplier):
    return redirect(url_for("admin.supplier_detail", supplier_id=supplier.id))


def _settings_page(form: SupplierForm, supplier, save, saved_message):
    """The settings form of a new (``supplier`` None) or an existing supplier: a valid
    POST ``save()``s (which returns the supplier) and goes to its page; a refused
    one shows the form again with the error."""
    if form.validate_on_submit():
        try:
            supplier = save()
        except ServiceError as err:
            _show_error(form, err)
        else:
            flash(saved_message(supplier), "success")
            return _back_to(supplier)
    return render_template("admin/suppliers_form.html", form=form, supplier=supplier)


@bp.route("/suppliers")
@master_staff_required
def suppliers():
    return render_template("admin/suppliers.html", suppliers=services.list_suppliers(),
                           action=ActionForm())


@bp.route("/suppliers/new", methods=["GET", "POST"])
@master_owner_required
def supplier_new():
    form = SupplierForm()
    return _settings_page(
        form, None,
        lambda: services.create_supplier(form.name.data, form.adapter.data,
                                         **_settings_from(form)),
        lambda created: _("Supplier %(name)s created.", name=created.name))


@bp.route("/suppliers/<int:supplier_id>/edit", methods=["GET", "POST"])
@master_owner_required
def supplier_edit(supplier_id: int):
    supplier = services.get_supplier(supplier_id)
    cfg = supplier.config or {}
    form = SupplierForm(data={
        "name": supplier.name, "adapter": supplier.adapter, "base_url": cfg.get("base_url"),
        "key_id": cfg.get("key_id"), "connect_timeout": cfg.get("connect_timeout"),
        "read_timeout": cfg.get("read_timeout"), "enabled": supplier.enabled,
    })

    def save():
        services.update_supplier(supplier.id, name=form.name.data,
                                 adapter=form.adapter.data, **_settings_from(form))
        return supplier
    return _settings_page(form, supplier, save,
                          lambda saved: _("Supplier %(name)s saved.", name=saved.name))


@bp.route("/suppliers/<int:supplier_id>")
@master_staff_required
def supplier_detail(supplier_id: int):
    supplier = services.get_supplier(supplier_id)
    return render_template("admin/suppliers_detail.html", supplier=supplier,
                           rows=services.catalog(supplier.id), action=ActionForm(),
                           sync_form=SyncForm(), map_form=MapForm(),
                           is_owner=current_user.role == "owner")


def _button(rule: str, access, form_class, refused=None, invalid=None):
    """A POST button on a supplier's page, back to that page whatever happens.

    The decorated function gets the supplier and the validated form, calls the service
    and returns the message of its success. A refused call is flashed as
    ``refused(supplier, err)`` (default: the error's own message); ``invalid()`` is
    flashed when the form does not validate.
    """
    def decorator(run):
        @wraps(run)
        def view(supplier_id: int):
            supplier = services.get_supplier(supplier_id)
            form = form_class()
            if form.validate_on_submit():
                try:
                    message = run(supplier, form)
                except ServiceError as err:
                    flash(refused(supplier, err) if refused else err.message, "error")
                else:
                    flash(message, "success")
            elif invalid is not None:
                flash(invalid(), "error")
            return _back_to(supplier)
        bp.route(rule, methods=["POST"])(access(view))
        return run
    return decorator


@_button("/suppliers/<int:supplier_id>/test", master_staff_required, ActionForm,
         refused=lambda supplier, err: _("Connection to %(name)s failed: %(error)s",
                                         name=supplier.name, error=err.message))
def supplier_test(supplier, form):
    balance = services.check_balance(supplier.id)
    return _("Connected to %(name)s. Balance: %(balance)s", name=supplier.name,
             balance=format_money(balance, g.tenant.currency))


@_button("/suppliers/<int:supplier_id>/sync", master_owner_required, SyncForm,
         refused=lambda supplier, err: _("Sync of %(name)s failed: %(error)s",
                                         name=supplier.name, error=err.message))
def supplier_sync(supplier, form):
    report = services.sync_catalog(supplier.id, update_costs=form.update_costs.data)
    return _("Synced %(total)d upstream products: %(added)d new, %(gone)d gone, "
             "%(costs)d costs updated.", total=report.total, added=len(report.added),
             gone=len(report.gone), costs=len(report.costs_updated))


@_button("/suppliers/<int:supplier_id>/map", master_owner_required, MapForm,
         invalid=lambda: _("Give our product's SKU."))
def supplier_map(supplier, form):
    product = services.map_product(supplier.id, form.supplier_sku.data,
                                   form.product_sku.data, take_cost=form.take_cost.data)
    return _("%(sku)s now comes from %(name)s (%(upstream)s).", sku=product.sku,
             name=supplier.name, upstream=product.supplier_sku)


@bp.route("/suppliers/margins")
@master_staff_required
def supplier_margins():
    return render_template("admin/suppliers_margins.html",
                           rows=services.supplier_margin_report())
