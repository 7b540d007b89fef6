"""Back office of any shop (owner only): the shop's domains (绑定域名).

/admin/domains                        the shop's hosts, the DNS records each custom one
                                      needs, and the form to add one
/admin/domains/<id>/verify     POST   look the TXT record up (tenants.domains.check_domain):
                                      a match serves at once; a miss is shown on the row
/admin/domains/<id>/primary    POST   make a verified domain the shop's primary address
/admin/domains/<id>/remove     POST   unbind it (with its www alias): it stops at once

Another shop's domain id is 404. A shop whose plan has no custom domains sees why and no
form (the plan guard refuses the write anyway).
"""
from __future__ import annotations

from flask import abort, flash, g, redirect, render_template, request, url_for
from flask_babel import gettext as _

from kameng.admin.routes import Routes
from kameng.admin.views import CsrfForm, owner_required
from kameng.billing.plans.services import plan_allows
from kameng.core.errors import NotFound, ServiceError
from kameng.core.extensions import db
from kameng.tenants import domains

bp = Routes()


def _page(status: int = 200, value: str = "", error: str | None = None,
          row_errors: dict | None = None):
    return render_template(
        "admin/domains.html", rows=domains.domains_of(g.tenant),
        allowed=plan_allows(g.tenant, "custom_domain"), value=value, error=error,
        row_errors=row_errors or {}, public_ip=domains.public_ip()), status


@bp.route("/domains", methods=["GET", "POST"])
@owner_required
def domains_index():
    if request.method == "GET":
        return _page()
    value = request.form.get("hostname", "")
    if not CsrfForm().validate_on_submit():
        return _page(400, value, _("The form expired; try again."))
    try:
        domain = domains.add_custom_domain(g.tenant, value)
    except ServiceError as err:
        db.session.rollback()
        return _page(err.status if err.status < 500 else 422, value, err.message)
    flash(_("%(host)s was added. Create the DNS records shown below, then press Verify.",
            host=domain.hostname), "success")
    return redirect(url_for("admin.domains_index"))


def _row_action(verb: str):
    """A row's button at ``/domains/<id>/<verb>`` (endpoint ``domain_<verb>``): CSRF, then
    ``run(domain_id)``, which returns the success message; another shop's id is 404, a
    refusal is shown on the row."""
    def decorator(run):
        @owner_required
        def view(domain_id: int):
            if not CsrfForm().validate_on_submit():
                abort(400)
            try:
                message = run(domain_id)
            except NotFound:
                db.session.rollback()
                abort(404)
            except ServiceError as err:
                db.session.rollback()
                return _page(err.status if err.status < 500 else 422,
                             row_errors={domain_id: err.message})
            flash(message, "success")
            return redirect(url_for("admin.domains_index"))
        bp.route(f"/domains/<int:domain_id>/{verb}", methods=["POST"],
                 endpoint=f"domain_{verb}")(view)
        return run
    return decorator


@_row_action("verify")
def domain_verify(domain_id: int) -> str:
    domain = domains.check_domain(g.tenant, domain_id)
    return _("%(host)s is verified: it serves your shop now.", host=domain.hostname)


@_row_action("primary")
def domain_primary(domain_id: int) -> str:
    domain = domains.make_primary(g.tenant, domain_id)
    return _("%(host)s is now your shop's primary address.", host=domain.hostname)


@_row_action("remove")
def domain_remove(domain_id: int) -> str:
    host = domains.remove_domain(g.tenant, domain_id)
    return _("%(host)s was removed: it no longer serves your shop.", host=host)
