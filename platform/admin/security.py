"""Back office: the signed-in owner's or staff member's two-factor sign-in, the master's
2FA policy, and the audit log (an owner reads its shop's, the master owner every shop's).

Every back-office write is recorded by the blueprint's hooks (``audit_request`` and
``record_audit``, installed by admin's ``init_app``); ``require_enrolment`` keeps a
user whom the master's policy requires to use 2FA on the enrolment pages until enrolled.
"""
from __future__ import annotations

from datetime import UTC, datetime, timedelta

import segno
from flask import flash, g, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_user
from flask_wtf import FlaskForm
from wtforms import SelectField, StringField
from wtforms.validators import DataRequired, Length

from kameng.admin.routes import Routes
from kameng.admin.views import (
    CsrfForm,
    guarded_action,
    master_owner_required,
    owner_required,
    staff_required,
)
from kameng.core import audit
from kameng.core.errors import ServiceError
from kameng.core.extensions import db
from kameng.core.i18n import lazy_gettext as _l
from kameng.core.pagination import requested_before
from kameng.sales.oversight import subtree_shops
from kameng.tenants import twofactor
from kameng.tenants.models import User
from kameng.tenants.services import user_ids_by_email

bp = Routes()

AUDIT_PAGE_SIZE = 50
# what a user who must enrol can still open
ENROLMENT_ENDPOINTS = frozenset({"admin.security", "admin.security_2fa_start",
                                 "admin.security_2fa_enrol", "admin.static"})
WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


class CodeForm(FlaskForm):
    code = StringField(_l("Code"), validators=[DataRequired(), Length(max=128)])


class PolicyForm(FlaskForm):
    depth = SelectField(_l("Two-factor sign-in required for owners and staff of"),
                        choices=[], validate_choice=True)


def _policy_choices():
    return [("", _("no shop (optional for everyone)")), ("0", _("the master shop only"))] + [
        (str(n), _("shops down to depth %(n)s", n=n)) for n in range(1, 4)]


def _user() -> User:
    return current_user._get_current_object()


# ----- hooks of the admin blueprint -------------------------------------------------

def _is_back_office_user() -> bool:
    return (current_user.is_authenticated and current_user.is_staff
            and current_user.tenant_id == g.tenant.id)


def require_enrolment():
    """``before_request``: a user the master's policy requires to use 2FA and who has
    not enrolled sees the enrolment pages and nothing else of the back office."""
    if request.endpoint in ENROLMENT_ENDPOINTS or not _is_back_office_user():
        return None
    user = _user()
    if twofactor.required(user, g.tenant) and not twofactor.enabled(user):
        flash(_("This shop requires two-factor sign-in: set it up to continue."), "warning")
        return redirect(url_for("admin.security"))
    return None


def audit_request():
    """``before_request``: count this request's commits (writes only)."""
    if request.method in WRITE_METHODS:
        audit.track_commits()


def record_audit(response):
    """``after_request``: every write of a signed-in user is recorded, success or not."""
    if request.method in WRITE_METHODS and current_user.is_authenticated:
        user = _user()
        audit.record_write(response, user=user, tenant_id=g.tenant.id)
    return response


# ----- two-factor sign-in ------------------------------------------------------------

def _security_page(status=200, policy_form=None, disable_form=None):
    user = _user()
    policy_form = policy_form or PolicyForm()
    policy_form.depth.choices = _policy_choices()
    depth = twofactor.require_depth(g.tenant)
    if not policy_form.is_submitted():
        policy_form.depth.data = "" if depth is None else str(depth)
    return render_template(
        "admin/security.html", form=CsrfForm(), disable_form=disable_form or CodeForm(),
        policy_form=policy_form, enabled=twofactor.enabled(user),
        required=twofactor.required(user, g.tenant), require_depth=depth,
        codes_left=twofactor.recovery_codes_left(user) if twofactor.enabled(user) else 0,
    ), status


@bp.route("/security")
@staff_required
def security():
    return _security_page()


@bp.route("/security/2fa/start", methods=["POST"])
@staff_required
def security_2fa_start():
    def run():
        twofactor.start_enrolment(_user())
        return _("Scan the code with your authenticator app, then enter a code it shows.")
    return guarded_action(run, _security_page, "admin.security_2fa_enrol")


@bp.route("/security/2fa/enrol", methods=["GET", "POST"])
@staff_required
def security_2fa_enrol():
    user = _user()
    if twofactor.enabled(user) or twofactor.pending_secret(user) is None:
        return redirect(url_for("admin.security"))
    form = CodeForm()
    status = 200
    if form.validate_on_submit():
        try:
            codes = twofactor.confirm_enrolment(user, form.code.data)
        except ServiceError as err:
            db.session.rollback()
            form.code.errors.append(err.message)
            status = 422
        else:
            db.session.refresh(user)     # its new session generation
            login_user(user)             # this session goes on; every other one ended
            return render_template("admin/security_codes.html", codes=codes)
    elif form.is_submitted():
        status = 422
    secret = twofactor.pending_secret(user)
    uri = twofactor.provisioning_uri(user, g.tenant.name)
    qr = segno.make(uri, error="m").svg_data_uri(scale=4, border=2)
    return render_template("admin/security_enrol.html", form=form, secret=secret, uri=uri,
                           qr=qr), status


@bp.route("/security/2fa/disable", methods=["POST"])
@staff_required
def security_2fa_disable():
    form = CodeForm()

    def run():
        twofactor.disable(_user(), form.code.data or "")
        return _("Two-factor sign-in is off.")
    return guarded_action(run, lambda status: _security_page(status, disable_form=form),
                          "admin.security")


@bp.route("/security/policy", methods=["POST"])
@master_owner_required
def security_policy():
    form = PolicyForm()
    form.depth.choices = _policy_choices()

    def run():
        if not form.validate():
            raise ServiceError(_l("not a valid depth"), status=422)
        twofactor.set_require_depth(g.tenant, int(form.depth.data) if form.depth.data else None,
                                    actor=_user())
        return _("Policy saved.")
    return guarded_action(run, lambda status: _security_page(status, policy_form=form),
                          "admin.security")


# ----- the audit log --------------------------------------------------------------------

def _date(name: str) -> datetime | None:
    raw = (request.args.get(name) or "").strip()
    if not raw:
        return None
    try:
        return datetime.strptime(raw, "%Y-%m-%d").replace(tzinfo=UTC)   # days in UTC
    except ValueError:
        return None


@bp.route("/audit")
@owner_required
def audit_log():
    master = g.tenant.is_master
    shops = subtree_shops(g.tenant) if master else [g.tenant]   # the master's tree is all
    shop_slug = (request.args.get("shop") or "").strip() if master else ""
    if master:
        chosen = next((s for s in shops if s.slug == shop_slug), None)
        tenant_ids = [chosen.id] if chosen else None
    else:
        tenant_ids = [g.tenant.id]
    email = (request.args.get("user") or "").strip().lower()[:254]
    user_ids = user_ids_by_email(email, tenant_ids) if email else None
    since, until = _date("from"), _date("to")
    page = audit.events(tenant_ids=tenant_ids, user_ids=user_ids, since=since,
                        until=until + timedelta(days=1) if until else None,
                        before=requested_before(), size=AUDIT_PAGE_SIZE)
    names = {s.id: s.name for s in shops}
    filters = {k: request.args.get(k, "") for k in ("shop", "user", "from", "to") if
               request.args.get(k)}
    return render_template("admin/audit.html", page=page, shops=shops if master else [],
                           shop_names=names, filters=filters)

