"""Back office: the payment methods a shop takes (owner only).

Routes on the ``admin`` blueprint; ``kameng.webapp`` imports this module before
registering the blueprint.
"""
from __future__ import annotations

from flask import abort, flash, g, redirect, render_template, url_for
from flask_babel import gettext as _

from kameng.admin.routes import Routes
from kameng.admin.views import owner_required
from kameng.billing.payments import services
from kameng.billing.payments.forms import FORMS
from kameng.billing.payments.models import PROVIDER_NAMES
from kameng.core.errors import ServiceError

bp = Routes()


def _forms(state: dict, bound: str | None = None) -> dict:
    forms = {}
    for name in PROVIDER_NAMES:
        cls = FORMS[name]
        if name == bound:
            forms[name] = cls(prefix=name)
            continue
        info = state[name]
        data = {"enabled": info["enabled"], **{k: v for k, v in info["settings"].items()
                                               if k != "key"}}
        forms[name] = cls(prefix=name, formdata=None, data=data)
    return forms


def _render(forms: dict, state: dict, status: int = 200):
    return render_template("admin/payments.html", forms=forms, state=state), status


@bp.route("/payments")
@owner_required
def payments():
    state = services.provider_settings(g.tenant)
    return _render(_forms(state), state)


@bp.route("/payments/<provider>", methods=["POST"])
@owner_required
def payments_save(provider: str):
    if provider not in PROVIDER_NAMES:
        abort(404)
    state = services.provider_settings(g.tenant)
    forms = _forms(state, bound=provider)
    form = forms[provider]
    if not form.validate_on_submit():
        return _render(forms, state, 422)
    settings, secrets = {}, {}
    if provider == "epay":
        settings = {"apiurl": form.apiurl.data, "pid": form.pid.data, "types": form.types.data}
        secrets = {"key": form.key.data or ""}
    try:
        services.save_provider_config(g.tenant, provider, enabled=form.enabled.data,
                                      settings=settings, secrets=secrets)
    except ServiceError as err:
        field = getattr(form, err.field, None) if err.field else None
        if field is not None:
            field.errors = [*field.errors, err.message]
        else:
            form.form_errors.append(err.message)
        return _render(forms, state, 422)
    flash(_("Payment settings saved."), "success")
    return redirect(url_for("admin.payments") + f"#{provider}")
