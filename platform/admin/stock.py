"""The master's back office for card-code stock: levels, batches, imports, void, export.

Imports run as a background job in the "imports" queue; the batch page polls
its progress. Exporting codes is for the owner only and is audited.
"""
from __future__ import annotations

import io
import tempfile

from flask import (
    abort,
    flash,
    g,
    jsonify,
    make_response,
    redirect,
    render_template,
    request,
    send_file,
    url_for,
)
from flask_babel import gettext as _
from flask_login import current_user

from kameng.admin.catalog import show_error as _show_error
from kameng.admin.routes import Routes
from kameng.admin.views import CsrfForm, master_owner_required, master_staff_required
from kameng.core.errors import ServiceError
from kameng.core.labels import label
from kameng.core.security import no_store
from kameng.shop.catalog.services import get_product
from kameng.shop.stock import jobs, services
from kameng.shop.stock.forms import ImportForm, VoidCodeForm, VoidCodesForm

bp = Routes()


@bp.route("/stock/")
@master_staff_required
def stock_overview():
    return render_template("admin/stock_overview.html", rows=services.stock_report())


@bp.route("/stock/products/<int:product_id>", methods=["GET", "POST"])
@master_staff_required
def stock_product(product_id):
    product = get_product(product_id)
    form = ImportForm()
    if form.validate_on_submit():
        upload = form.upload.data if form.upload.data and form.upload.data.filename else None
        try:
            batch = jobs.start_import(g.tenant, product, current_user._get_current_object(),
                                      text=form.codes.data, upload=upload,
                                      separator=form.separator.data or None,
                                      cost_note=form.cost_note.data or "")
        except ServiceError as err:
            _show_error(form, err, {"file": "codes"})
        else:
            return redirect(url_for("admin.stock_batch", batch_id=batch.id))
    report = next((r for r in services.stock_report() if r["product"].id == product.id), None)
    return render_template("admin/stock_product.html", product=product, form=form,
                           batches=services.batches_for(product.id), report=report,
                           action=CsrfForm(), void_form=VoidCodeForm(),
                           refund_voided=services.refund_voided(product.id),
                           days_left=report["days_left"] if report else None)


@bp.route("/stock/batches/<int:batch_id>")
@master_staff_required
def stock_batch(batch_id):
    batch = services.get_batch(batch_id)
    return render_template("admin/stock_batch.html", batch=batch,
                           progress=jobs.get_progress(g.tenant.id, batch), action=CsrfForm())


@bp.route("/stock/batches/<int:batch_id>/progress")
@master_staff_required
def stock_batch_progress(batch_id):
    progress = dict(jobs.get_progress(g.tenant.id, services.get_batch(batch_id)))
    progress["status_label"] = str(label(progress.get("status"), "batch"))
    return jsonify(progress)


@bp.route("/stock/batches/<int:batch_id>/void", methods=["POST"])
@master_staff_required
def stock_batch_void(batch_id):
    if not CsrfForm().validate_on_submit():
        abort(400)
    n = services.void_batch(batch_id, actor=current_user._get_current_object())
    flash(_("%(n)d code(s) voided.", n=n), "success")
    return redirect(url_for("admin.stock_batch", batch_id=batch_id))


@bp.route("/stock/products/<int:product_id>/void-code", methods=["POST"])
@master_staff_required
def stock_code_void(product_id):
    form = VoidCodeForm()
    if not form.validate_on_submit():
        flash(_("Give the id of the code to void."), "error")
    else:
        try:
            code = services.void_code(form.code_id.data, actor=current_user._get_current_object(),
                                      product_id=product_id)
            flash(_("Code %(id)d voided.", id=code.id), "success")
        except ServiceError as err:
            flash(err.message, "error")
    return redirect(url_for("admin.stock_product", product_id=product_id))


@bp.route("/stock/products/<int:product_id>/export", methods=["POST"])
@master_owner_required
def stock_export(product_id):
    if not CsrfForm().validate_on_submit():
        abort(400)
    product = get_product(product_id)
    # spooled: small exports stay in memory, big ones go to a private temp file
    buffer = tempfile.SpooledTemporaryFile(max_size=8 * 1024 * 1024, mode="w+b")
    text = io.TextIOWrapper(buffer, encoding="utf-8", newline="\n", write_through=True)
    services.export_codes(product, text, actor=current_user._get_current_object())
    text.detach()
    buffer.seek(0)
    response = send_file(buffer, mimetype="text/plain; charset=utf-8", as_attachment=True,
                         download_name=f"{product.sku}-unsold.txt", max_age=0)
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.route("/stock/products/<int:product_id>/codes", methods=["GET", "POST"])
@master_staff_required
def stock_codes(product_id):
    """The product's codes: filter by status, search, page, void selected available ones.

    The codes themselves are shown to the owner only; staff see ids."""
    product = get_product(product_id)
    status = request.args.get("status", "")
    status = status if status in services.CODE_STATUSES else ""
    search = (request.args.get("q") or "").strip()[:200]
    before = request.args.get("before", type=int) or None
    form = VoidCodesForm()
    answer = 200
    if request.method == "POST":
        if not form.validate_on_submit():
            abort(400)
        try:
            n = services.void_codes(product, request.form.getlist("code"), form.reason.data,
                                    actor=current_user._get_current_object())
        except ServiceError as err:
            form.form_errors.append(err.message)
            answer = err.status
        else:
            flash(_("%(n)d code(s) voided.", n=n), "success")
            return redirect(url_for("admin.stock_codes", product_id=product.id, status=status,
                                    q=search))
    try:
        rows, older = services.list_codes(product, status=status or None, search=search,
                                          before=before, reveal=current_user.role == "owner")
    except ServiceError as err:
        abort(err.status)
    if current_user.role == "owner" and rows:   # plain codes shown: recorded, as an export is
        services.record_code_view(product, [r.id for r in rows],
                                  actor=current_user._get_current_object())
    response = render_template("admin/stock_codes.html", product=product, rows=rows,
                               older=older, status=status, search=search, form=form,
                               statuses=services.CODE_STATUS_LABELS,
                               reveal=current_user.role == "owner"), answer
    return no_store(make_response(*response))
