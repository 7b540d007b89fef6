"""Opening a shop from a shop's site (开通分站), invite links, and a parent's hand on the
shops below it (approve, suspend, resume).

A sign-up is one transaction: the shop (``<slug>.<base domain>``, under the shop whose
site it was opened on, with its theme), its owner, its plan (a free one starts at once,
a paid one waits for its first payment), its markup (the parent's default for new
sub-shops, or the invite's), the sign-up record and a one-time login link for the new
host. Anything refused leaves none of it. It composes tenants, shop (markup) and
billing (plans), so it lives here. Walk-through: docs/subshops.md.
"""
from __future__ import annotations

import re
import secrets
from collections import defaultdict
from dataclasses import dataclass
from datetime import timedelta

from flask import current_app
from sqlalchemy import or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import selectinload

from kameng.billing import reports
from kameng.billing.commissions import rollup
from kameng.billing.plans import services as plans
from kameng.billing.plans.models import Plan, Subscription
from kameng.core.addresses import clean_address
from kameng.core.errors import Conflict, InvalidInput, NotFound, ServiceError
from kameng.core.extensions import db
from kameng.core.i18n import lazy_gettext as _l
from kameng.core.models import utcnow
from kameng.core.percent import format_percent
from kameng.core.scoping import all_tenants
from kameng.core.txn import in_own_txn
from kameng.shop.pricing.services import set_markup_in_txn
from kameng.tenants import openshop
from kameng.tenants.api_keys import hash_key
from kameng.tenants.models import Tenant, User
from kameng.tenants.services import create_tenant_in_txn, create_user_in_txn, subtree_page
from kameng.tenants.signup_models import ShopInvite, ShopSignup
from kameng.tenants.themes import available_themes

FORM_ID_RE = re.compile(r"^[A-Za-z0-9_-]{16,64}$")
MAX_MARKUP_BP = 100_000   # 1000 %, as the markup page allows
MAX_INVITE_DAYS = 365


# ----- the parent's setting -----------------------------------------------------------------

def sign_up_plans(parent: Tenant) -> list[Plan]:
    """The plans ``parent`` offers on its sign-up form (its own, still sold), cheapest first."""
    wanted = set(openshop.signup_settings(parent)["plans"])
    return [p for p in plans.plans_of(parent, active_only=True) if p.id in wanted]


def may_have_sub_shops(tenant: Tenant) -> bool:
    """The master, and any shop whose plan includes sub-shops."""
    return tenant.is_master or plans.plan_allows(tenant, "sub_shops")


def takes_signups(parent: Tenant) -> bool:
    """Whether ``/open-shop`` on this shop's site takes sign-ups without an invite."""
    return (parent.serves_buyers and openshop.signup_settings(parent)["mode"] != "closed"
            and bool(sign_up_plans(parent)) and may_have_sub_shops(parent))


def set_signup_settings(parent: Tenant, mode: str, plan_ids: list[int],
                        markup_bp: int) -> None:
    """The owner's sign-up setting: closed / with approval / open, the plans offered, the
    new shops' markup (basis points). Commits."""
    in_own_txn(_set_signup_settings_in_txn, parent, mode, plan_ids, markup_bp)


def _set_signup_settings_in_txn(parent, mode, plan_ids, markup_bp) -> None:
    if mode != "closed" and not may_have_sub_shops(parent):
        plans.require(parent, "sub_shops")
    own = {p.id: p for p in plans.plans_of(parent, active_only=True)}
    chosen = []
    for pid in plan_ids:
        if pid not in own:
            raise InvalidInput(_l("Choose plans you sell."), field="plans")
        chosen.append(pid)
    if mode != "closed" and not chosen:
        raise InvalidInput(_l("Offer at least one plan, or close sign-ups."), field="plans")
    _check_markup(markup_bp, [own[pid] for pid in chosen], field="markup")
    openshop.write_signup_settings_in_txn(parent, mode, chosen, markup_bp)


def _check_markup(markup_bp, offered: list[Plan], field: str) -> None:
    if not isinstance(markup_bp, int) or not 0 <= markup_bp <= MAX_MARKUP_BP:
        raise InvalidInput(_l("The markup must be a percentage from 0 to 1000."), field=field)
    for plan in offered:
        cap = plans.root_plan(plan).max_markup_bp
        if cap is not None and markup_bp > cap:
            raise InvalidInput(_l("Plan %(plan)s allows a markup of at most %(cap)s%%.",
                                  plan=plan.name, cap=format_percent(cap)), field=field)


# ----- invites ----------------------------------------------------------------------------------

def create_invite(parent: Tenant, *, plan_id: int | None, markup_bp: int | None, days: int,
                  max_uses: int | None = None, note: str = "") -> str:
    """A new invite link's token (shown once; only its hash is kept). Commits."""
    return in_own_txn(_create_invite_in_txn, parent, plan_id, markup_bp, days, max_uses, note)


def _create_invite_in_txn(parent, plan_id, markup_bp, days, max_uses, note) -> str:
    if not may_have_sub_shops(parent):
        plans.require(parent, "sub_shops")
    plan = None
    if plan_id is not None:
        plan = next((p for p in plans.plans_of(parent, active_only=True) if p.id == plan_id),
                    None)
        if plan is None:
            raise InvalidInput(_l("Choose a plan you sell."), field="plan")
    elif not sign_up_plans(parent):
        raise InvalidInput(_l("Choose a plan: your sign-up form offers none."), field="plan")
    if markup_bp is not None:
        _check_markup(markup_bp, [plan] if plan else sign_up_plans(parent), field="markup")
    if not isinstance(days, int) or not 1 <= days <= MAX_INVITE_DAYS:
        raise InvalidInput(_l("An invite lasts 1 to 365 days."), field="days")
    if max_uses is not None and (not isinstance(max_uses, int) or max_uses < 1):
        raise InvalidInput(_l("Leave the number of uses empty, or give at least 1."),
                           field="max_uses")
    token = secrets.token_urlsafe(16)
    db.session.add(ShopInvite(tenant_id=parent.id, token_hash=hash_key(token),
                              note=(note or "").strip()[:120], plan_id=plan_id,
                              markup_bp=markup_bp, max_uses=max_uses,
                              expires_at=utcnow() + timedelta(days=days)))
    return token


def invites_of(parent: Tenant) -> list[ShopInvite]:
    return list(db.session.scalars(select(ShopInvite).where(ShopInvite.tenant_id == parent.id)
                                   .order_by(ShopInvite.id.desc()).limit(100)))


def revoke_invite(parent: Tenant, invite_id: int) -> None:
    in_own_txn(_revoke_invite_in_txn, parent, invite_id)


def _revoke_invite_in_txn(parent, invite_id) -> None:
    invite = db.session.get(ShopInvite, invite_id)
    if invite is None or invite.tenant_id != parent.id:
        raise NotFound(_l("no such invite"))
    if invite.revoked_at is None:
        invite.revoked_at = utcnow()


def invite_state(invite: ShopInvite) -> str:
    """``active``, ``revoked``, ``expired`` or ``used_up``."""
    if invite.revoked_at is not None:
        return "revoked"
    if invite.expires_at <= utcnow():
        return "expired"
    if invite.max_uses is not None and invite.uses >= invite.max_uses:
        return "used_up"
    return "active"


def invite_for(parent: Tenant, token: str | None) -> ShopInvite:
    """The usable invite of ``parent`` this token names; ``InvalidInput`` saying why not."""
    invite = None
    if token and len(token) <= 64:
        invite = db.session.scalar(select(ShopInvite).where(
            ShopInvite.token_hash == hash_key(token), ShopInvite.tenant_id == parent.id))
    if invite is None:
        raise InvalidInput(_l("This invite link is not valid: ask the shop for a new one."),
                           field="invite")
    state = invite_state(invite)
    messages = {"revoked": _l("This invite link was withdrawn: ask the shop for a new one."),
                "expired": _l("This invite link has expired: ask the shop for a new one."),
                "used_up": _l("This invite link has been used up: ask the shop for a new one.")}
    if state != "active":
        raise InvalidInput(messages[state], field="invite")
    return invite


def _spend_invite_in_txn(invite: ShopInvite) -> None:
    now = utcnow()
    spent = db.session.execute(
        update(ShopInvite)
        .where(ShopInvite.id == invite.id, ShopInvite.revoked_at.is_(None),
               ShopInvite.expires_at > now,
               (ShopInvite.max_uses.is_(None)) | (ShopInvite.uses < ShopInvite.max_uses))
        .values(uses=ShopInvite.uses + 1)
        .execution_options(synchronize_session=False))
    if spent.rowcount != 1:
        raise Conflict(_l("This invite link has been used up: ask the shop for a new one."),
                       field="invite")


# ----- the sign-up -----------------------------------------------------------------------------

@dataclass
class SignupRequest:
    email: str
    password: str
    shop_name: str
    slug: str
    plan: str | None = None        # a plan id as typed; may be left out (see plan_for)
    theme: str | None = None
    form_id: str | None = None
    invite: str | None = None      # the invite token, when opened through one


@dataclass
class Opened:
    tenant: Tenant
    user: User
    handover_token: str
    pending: bool

    def handover_url(self, **kwargs) -> str:
        return handover_url(self.tenant, self.handover_token, **kwargs)


def form_plans(parent: Tenant, invite: ShopInvite | None) -> list[Plan]:
    """The plans the form offers: the invite's preset one, else the sign-up plans."""
    if invite is not None and invite.plan_id is not None:
        plan = db.session.get(Plan, invite.plan_id)
        return [plan] if plan is not None and plan.active else []
    return sign_up_plans(parent)


def _plan_for(parent: Tenant, invite: ShopInvite | None, typed: str | None) -> Plan:
    offered = form_plans(parent, invite)
    typed = (typed or "").strip()
    if not typed:
        if len(offered) == 1 and (offered[0].price == 0 or invite is not None):
            return offered[0]
        raise InvalidInput(_l("Choose a plan."), field="plan")
    plan = next((p for p in offered if str(p.id) == typed), None)
    if plan is None:
        raise InvalidInput(_l("This plan is not offered here."), field="plan")
    return plan


def password_problem(password: str, email: str, slug: str) -> str | None:
    """Why a founder's password is too weak (None: fine). A shop's owner moves money:
    at least 10 characters, letters and something else, not the address or the slug."""
    password = password or ""
    if len(password) < 10 or len(password) > 128:
        return _l("Use 10 to 128 characters.")
    if not re.search(r"[A-Za-z]", password) or not re.search(r"[^A-Za-z]", password):
        return _l("Mix letters with digits or symbols.")
    lowered = password.lower()
    local = (email or "").split("@", 1)[0].lower()
    if (local and len(local) >= 4 and local in lowered) or (slug and len(slug) >= 4
                                                             and slug in lowered):
        return _l("Do not use your e-mail address or shop name in the password.")
    if len(set(lowered)) < 5:
        return _l("Use more different characters.")
    return None


def validate(parent: Tenant, req: SignupRequest,
             invite: ShopInvite | None) -> dict[str, str]:
    """Every problem of the form at once (field → message); reads only. ``open_shop``
    checks all of it again inside its transaction."""
    return _checked(parent, req, invite)[0]


def _checked(parent: Tenant, req: SignupRequest, invite: ShopInvite | None
             ) -> tuple[dict[str, str], str, str, Plan | None]:
    """(every problem of the form, the clean e-mail, slug and plan)."""
    errors: dict[str, str] = {}
    try:
        email = clean_address(req.email)
    except ServiceError as err:
        errors["email"] = err.message
        email = ""
    if email and _email_used(parent, email):
        errors["email"] = str(_l("This e-mail address has opened a shop here already: "
                                 "sign in to it instead."))
    slug = (req.slug or "").strip().lower()
    problem = openshop.slug_problem(slug)
    if problem is not None:
        errors["slug"] = problem.message
    weak = password_problem(req.password, email, slug)
    if weak is not None:
        errors["password"] = str(weak)
    name = (req.shop_name or "").strip()
    if not name or len(name) > 120:
        errors["shop_name"] = str(_l("Give your shop a name (at most 120 characters)."))
    plan = None
    try:
        plan = _plan_for(parent, invite, req.plan)
    except ServiceError as err:
        errors["plan"] = err.message
    theme = req.theme or parent.theme
    allowed = plans.root_plan(plan).themes if plan is not None else None
    if (req.theme and req.theme not in available_themes()) or \
            (allowed is not None and theme not in allowed):
        errors["theme"] = str(_l("Choose one of the themes your plan includes."))
    if req.form_id and _form_used(req.form_id):
        errors["form"] = str(_l("This form was sent already: your shop is being opened. "
                                "Reload the page to open another one."))
    return errors, email, slug, plan


def _email_used(parent: Tenant, email: str) -> bool:
    return db.session.scalar(select(ShopSignup.id).where(ShopSignup.parent_id == parent.id,
                                                         ShopSignup.email == email)) is not None


def _form_used(form_id: str) -> bool:
    return db.session.scalar(select(ShopSignup.id).where(ShopSignup.form_id == form_id)) \
        is not None


def handover_url(tenant: Tenant, token: str, *, scheme: str | None = None,
                 port: int | None = None) -> str:
    """The login link on the new shop's own host (``<slug>.<base domain>``), with the
    scheme and port the sign-up came in on (else the configured ones)."""
    cfg = current_app.config
    port = port or cfg.get("SERVER_PORT")
    host = f"{tenant.slug}.{cfg['BASE_DOMAIN']}" + (
        f":{port}" if port and int(port) not in (80, 443) else "")
    scheme = scheme or cfg.get("PREFERRED_URL_SCHEME") or "http"
    return f"{scheme}://{host}/_handover/{token}"


def open_shop(parent: Tenant, req: SignupRequest) -> Opened:
    """Open the shop, or raise the first problem (``InvalidInput``/``Conflict`` with its
    field) having written nothing. Two racing sign-ups for one slug: one shop."""
    try:
        return in_own_txn(_open_shop_in_txn, parent, req)
    except IntegrityError as err:
        db.session.rollback()
        raise _conflict(err) from None


def _conflict(err: IntegrityError) -> Conflict:
    text = str(err.orig).lower()
    if "form_id" in text:
        return Conflict(_l("This form was sent already: your shop is being opened. Reload "
                           "the page to open another one."), field="form")
    if "shop_signups" in text and "email" in text:
        return Conflict(_l("This e-mail address has opened a shop here already: sign in to "
                           "it instead."), field="email")
    return Conflict(_l("This name is taken: choose another."), field="slug")


def _open_shop_in_txn(parent: Tenant, req: SignupRequest) -> Opened:
    invite = invite_for(parent, req.invite) if req.invite else None
    if invite is None and not takes_signups(parent):
        raise InvalidInput(_l("This shop does not take sign-ups."), field="form")
    errors, email, slug, plan = _checked(parent, req, invite)
    if errors:
        field, message = next(iter(errors.items()))
        raise InvalidInput(message, field=field)
    if req.form_id is not None and not FORM_ID_RE.match(req.form_id):
        raise InvalidInput(_l("Reload the page and send the form again."), field="form")
    settings = openshop.signup_settings(parent)
    awaiting_approval = invite is None and settings["mode"] == "approval"
    awaiting_payment = plan.price > 0
    pending = awaiting_approval or awaiting_payment
    if invite is not None:
        _spend_invite_in_txn(invite)

    tenant = create_tenant_in_txn(slug, req.shop_name.strip(), parent.slug,
                                  theme=req.theme or parent.theme,
                                  status="pending" if pending else "active")
    user = create_user_in_txn(tenant, email, "owner", req.password,
                              display_name=req.shop_name.strip())
    db.session.add(ShopSignup(tenant_id=tenant.id, parent_id=parent.id, email=email,
                              form_id=req.form_id, plan_id=plan.id,
                              invite_id=invite.id if invite else None,
                              awaiting_approval=awaiting_approval,
                              awaiting_payment=awaiting_payment))
    db.session.flush()
    if not awaiting_payment:
        plans.subscribe_free_in_txn(tenant, plan)
    markup = invite.markup_bp if invite is not None and invite.markup_bp is not None \
        else settings["markup_bp"]
    if markup:
        set_markup_in_txn(tenant, kind="percent", value=markup, rounding="fen")
    # a paid plan: the founder lands on the plan page to pay it
    token = openshop.create_handover_in_txn(
        tenant, user, "/admin/plans" if awaiting_payment else "/admin/")
    db.session.flush()
    return Opened(tenant=tenant, user=user, handover_token=token, pending=pending)


# ----- the shops below me ----------------------------------------------------------------------

@dataclass
class SubshopRow:
    tenant: Tenant
    depth: int              # below the viewer: 1 for a direct child
    plan: str | None
    funded: int
    sales: int
    my_earnings: int
    awaiting_approval: bool
    awaiting_payment: bool
    suspended_by_plan: bool


def _below(viewer: Tenant, shop_id: int) -> Tenant:
    shop = db.session.get(Tenant, shop_id)
    if shop is None or shop.id == viewer.id or not shop.path.startswith(viewer.path):
        raise NotFound(_l("no such shop below yours"))
    return shop


SUBSHOP_PAGE = 50


def subshop_rows(viewer: Tenant, after: str | None = None, size: int | None = None
                 ) -> tuple[list[SubshopRow], str | None]:
    """One page of the shops below ``viewer``, in tree order after the path ``after``,
    with each one's plan, status, funded balance (预存款 with its parent), sales, and what
    ``viewer`` earned from its subtree's sales; and the ``after`` of the next page (None
    on the last one).

    A page costs what its own shops and their subtrees cost, not the viewer's whole
    subtree (the master's is every shop on the platform: all of them on one page took
    seconds): the shops come from the path index (keyset, no OFFSET), and every sum is
    read for the page's shops, the earnings for their subtrees."""
    page = subtree_page(viewer, after, size or SUBSHOP_PAGE, selectinload(Tenant.domains))
    shops = page.rows
    if not shops:
        return [], None
    ids = [s.id for s in shops]
    balances = {b.tenant_id: b for b in reports.balances(shops)}
    # my earnings from a shop: from its own sales and every shop below it, so each sale
    # counts for the shop it was made on and each of that shop's ancestors; the page's
    # topmost shops' subtrees hold every sale that counts for a shop of the page
    tops = [s for s in shops if not any(s.path.startswith(t.path) and s.id != t.id
                                        for t in shops)]
    sellers = dict(db.session.execute(select(Tenant.id, Tenant.path).where(
        or_(*(Tenant.path.startswith(t.path) for t in tops)))).all())
    # from the reports' running totals (a shop's sales of all time are many rows)
    earned_at = rollup.earned_from(viewer.id, sellers)
    with all_tenants():
        subs = {s.tenant_id: s for s in db.session.scalars(
            select(Subscription).where(Subscription.tenant_id.in_(ids)))}
        plan_names = {p.id: p.name for p in db.session.scalars(
            select(Plan).where(Plan.id.in_({s.plan_id for s in subs.values()})))}
    signups = {s.tenant_id: s for s in db.session.scalars(
        select(ShopSignup).where(ShopSignup.tenant_id.in_(ids)))}
    mine: dict[int, int] = defaultdict(int)
    for tid, v in earned_at.items():
        for ancestor in sellers[tid].strip("/").split("/"):
            mine[int(ancestor)] += int(v)
    rows = []
    for shop in shops:
        sub, signup = subs.get(shop.id), signups.get(shop.id)
        bal = balances[shop.id]
        rows.append(SubshopRow(
            tenant=shop, depth=shop.depth - viewer.depth,
            plan=plan_names.get(sub.plan_id) if sub else None, funded=bal.funded,
            sales=bal.sales, my_earnings=mine[shop.id],
            awaiting_approval=bool(signup and signup.awaiting_approval),
            awaiting_payment=bool(signup and signup.awaiting_payment),
            suspended_by_plan=bool(sub and sub.suspended_by_plan)))
    return rows, page.after


def approve(viewer: Tenant, shop_id: int) -> Tenant:
    """Approve a pending shop below ``viewer`` (it opens unless its plan is unpaid)."""
    return in_own_txn(_approve_in_txn, viewer, shop_id)


def _approve_in_txn(viewer, shop_id) -> Tenant:
    shop = _below(viewer, shop_id)
    openshop.approve_in_txn(shop)
    return shop


def suspend(viewer: Tenant, shop_id: int) -> Tenant:
    """Close an active shop below ``viewer`` to buyers and the API; its owner still signs
    in, nothing is deleted."""
    return in_own_txn(_suspend_in_txn, viewer, shop_id)


def _suspend_in_txn(viewer, shop_id) -> Tenant:
    shop = _below(viewer, shop_id)
    if shop.status != "active":
        raise Conflict(_l("Only an open shop can be suspended."), field="shop")
    shop.status = "suspended"
    shop.suspended_by_id = viewer.id
    return shop


def resume(viewer: Tenant, shop_id: int) -> Tenant:
    """Reopen a shop ``viewer`` (or a shop below ``viewer``) suspended; a shop above
    ``viewer`` suspended it → Conflict. One its expired plan closed reopens when the plan
    is paid."""
    return in_own_txn(_resume_in_txn, viewer, shop_id)


def _resume_in_txn(viewer, shop_id) -> Tenant:
    shop = _below(viewer, shop_id)
    if shop.status != "suspended":
        raise Conflict(_l("This shop is not suspended."), field="shop")
    sub = plans.subscription_of(shop)
    if sub is not None and sub.suspended_by_plan:
        raise Conflict(_l("This shop's plan has expired: it reopens when the plan is paid."),
                       field="shop")
    if not _may_reopen(viewer, shop):
        raise Conflict(_l("A shop above yours suspended this shop: only it can reopen it."),
                       field="shop")
    shop.status = "active"
    shop.suspended_by_id = None
    return shop


def _may_reopen(viewer: Tenant, shop: Tenant) -> bool:
    # the suspender and the viewer are both on the shop's path: the viewer may reopen when
    # it is the suspender or above it; a suspension of unknown origin, only the master
    if shop.suspended_by_id is None:
        return viewer.is_master
    above = [int(i) for i in shop.path.strip("/").split("/")]
    if shop.suspended_by_id not in above:
        return viewer.is_master
    return above.index(viewer.id) <= above.index(shop.suspended_by_id)
