"""A shop's back-office accounts: the owner(s) and staff with a role (manager, support,
finance). Each public operation owns its transaction; every change is audited.

A shop never ends up without an active owner: the last one cannot be demoted, disabled
or removed (not even by itself). A disabled account cannot sign in and every session it
had ends (``session_version``); enabling it again needs a new sign-in.
"""
from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from kameng.core import audit
from kameng.core.errors import Conflict, InvalidInput, NotFound
from kameng.core.extensions import db
from kameng.core.i18n import lazy_gettext as _l
from kameng.core.models import utcnow
from kameng.core.scoping import all_tenants
from kameng.core.txn import owning
from kameng.tenants.models import STAFF_ROLES, Tenant, User
from kameng.tenants.services import (
    create_user_in_txn,
    end_sessions_in_txn,
    mail_set_password_link_in_txn,
)

# what the staff page offers: the owner role, then the staff roles
BACK_OFFICE_ROLES = ("owner", *STAFF_ROLES)


def list_staff(tenant: Tenant) -> list[User]:
    """The shop's owners and staff, owners first."""
    with all_tenants():
        return list(db.session.scalars(
            select(User).where(User.tenant_id == tenant.id, User.role.in_(("owner", "staff")))
            .order_by(User.role, User.email)))


def get_staff(tenant: Tenant, user_id: int) -> User:
    """A back-office account of this shop (``NotFound`` for anyone else's, or a customer)."""
    with all_tenants():
        user = db.session.get(User, user_id)
    if user is None or user.tenant_id != tenant.id or not user.is_staff:
        raise NotFound(_l("no such staff account on this shop"))
    return user


def _check_role(role: str) -> str:
    role = (role or "").strip()
    if role not in BACK_OFFICE_ROLES:
        raise InvalidInput(_l("choose one of the roles"), field="role")
    return role


def _apply_role(user: User, role: str) -> None:
    user.role, user.staff_role = ("owner", None) if role == "owner" else ("staff", role)


def _active_owners(tenant: Tenant) -> int:
    with all_tenants():
        return db.session.scalar(select(func.count(User.id)).where(
            User.tenant_id == tenant.id, User.role == "owner",
            User.is_active_flag.is_(True), User.blocked_at.is_(None))) or 0


def _keep_an_owner(tenant: Tenant, user: User) -> None:
    """Refuse a change that would leave the shop without an active owner."""
    if user.role == "owner" and user.is_active and _active_owners(tenant) <= 1:
        raise Conflict(_l("the shop needs an active owner: make someone else owner first"),
                       field="role")


def add_staff_in_txn(tenant: Tenant, actor: User, email: str, role: str,
                     password: str | None, *, invite_url: Callable[[str], str] | None = None,
                     ) -> User:
    """A new back-office account. With ``password`` it can sign in at once; without, it
    is mailed a set-password link (the password-reset link, ``invite_url(token)``)."""
    role = _check_role(role)
    password = password or None
    if password is None and invite_url is None:
        raise InvalidInput(_l("give an initial password, or send a set-password e-mail"),
                           field="password")
    user = create_user_in_txn(tenant, email, "owner" if role == "owner" else "staff",
                              password, staff_role=None if role == "owner" else role)
    db.session.flush()   # the plan's staff limit is checked here (billing's flush guard)
    audit.record(actor, "staff.add", tenant_id=tenant.id, email=user.email, role=role)
    if password is None:
        mail_set_password_link_in_txn(tenant, user, invite_url)
    return user


add_staff = owning(add_staff_in_txn)


def change_role_in_txn(tenant: Tenant, actor: User, user_id: int, role: str) -> User:
    user = get_staff(tenant, user_id)
    role = _check_role(role)
    if role == user.back_office_role:
        return user
    if role != "owner":
        _keep_an_owner(tenant, user)
    before = user.back_office_role
    _apply_role(user, role)
    # a new role is a new set of pages: sign in again to get it
    end_sessions_in_txn(user)
    audit.record(actor, "staff.role", tenant_id=tenant.id, email=user.email,
                 before=before, after=role)
    return user


change_role = owning(change_role_in_txn)


def set_disabled_in_txn(tenant: Tenant, actor: User, user_id: int, disabled: bool) -> User:
    user = get_staff(tenant, user_id)
    if disabled and user.blocked_at is None:
        _keep_an_owner(tenant, user)
        user.blocked_at = utcnow()
        end_sessions_in_txn(user)
    elif not disabled and user.blocked_at is not None:
        user.blocked_at = None
    else:
        return user
    audit.record(actor, "staff.disable" if disabled else "staff.enable",
                 tenant_id=tenant.id, email=user.email)
    return user


set_disabled = owning(set_disabled_in_txn)


def remove_staff_in_txn(tenant: Tenant, actor: User, user_id: int) -> str:
    """Delete a back-office account with no history; one that acted on orders or money
    is kept for the record (``Conflict``: disable it instead). Returns its e-mail."""
    user = get_staff(tenant, user_id)
    _keep_an_owner(tenant, user)
    email = user.email
    try:
        with db.session.begin_nested():
            db.session.delete(user)
    except IntegrityError:
        raise Conflict(_l("%(email)s has history (orders, money, decisions): disable the "
                          "account instead", email=email), field="user") from None
    audit.record(actor, "staff.remove", tenant_id=tenant.id, email=email)
    return email


remove_staff = owning(remove_staff_in_txn)
