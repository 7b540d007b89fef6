"""Operations on tenants, domains and users. Each owns its transaction."""
from __future__ import annotations

import logging
import re
import secrets
from collections.abc import Callable

from flask import current_app
from itsdangerous import BadSignature, URLSafeTimedSerializer
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import lazyload

from kameng.core.addresses import clean_address
from kameng.core.errors import Conflict, InvalidInput, NotFound
from kameng.core.extensions import db
from kameng.core.i18n import lazy_gettext as _l
from kameng.core.models import utcnow
from kameng.core.pagination import ForwardPage, forward_page
from kameng.core.passwords import hash_password, needs_rehash, verify_password
from kameng.core.scoping import all_tenants
from kameng.core.txn import after_commit, in_own_txn, owning
from kameng.tenants.models import ROLES, STAFF_ROLES, Domain, Tenant, User
from kameng.tenants.themes import available_themes

log = logging.getLogger(__name__)
SLUG_RE = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")
HOST_RE = re.compile(r"^(?=.{1,253}$)(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)*"
                     r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")
RESERVED_SLUGS = {"www", "api", "admin", "static", "mail"}


def normalise_host(host: str) -> str:
    """'Shop.Example.com:8080' -> 'shop.example.com' (case and port do not matter)."""
    host = (host or "").strip().lower().rstrip(".")
    if host.startswith("["):  # IPv6 literal
        return host.split("]")[0] + "]"
    return host.split(":", 1)[0]


def validate_hostname(host: str) -> str:
    norm = normalise_host(host)
    if not HOST_RE.match(norm):
        raise InvalidInput(_l("not a valid hostname: %(host)r", host=host), field="domain")
    return norm


def tenant_by_slug(slug: str) -> Tenant:
    tenant = db.session.scalar(select(Tenant).where(Tenant.slug == slug))
    if tenant is None:
        raise NotFound(_l("no shop with slug %(slug)r", slug=slug))
    return tenant


def master() -> Tenant | None:
    return db.session.scalar(select(Tenant).where(Tenant.parent_id.is_(None)))


def _check_host_free(host: str) -> None:
    if db.session.scalar(select(Domain.id).where(Domain.hostname == host)):
        raise Conflict(_l("hostname %(host)r is already bound to a shop",
                          host=host), field="domain")


def create_tenant(slug: str, name: str, parent_slug: str | None = None,
                  domains: list[str] | tuple[str, ...] = (), theme: str | None = None,
                  locale: str | None = None, currency: str | None = None) -> Tenant:
    """Create a shop (the master when no parent is given) with its hostnames."""
    return in_own_txn(create_tenant_in_txn, slug, name, parent_slug, domains, theme=theme,
                      locale=locale, currency=currency)


def create_tenant_in_txn(slug: str, name: str, parent_slug: str | None = None,
                         domains: list[str] | tuple[str, ...] = (), theme: str | None = None,
                         locale: str | None = None, currency: str | None = None,
                         status: str = "active") -> Tenant:
    slug = (slug or "").strip().lower()
    name = (name or "").strip()
    if not SLUG_RE.match(slug) or slug in RESERVED_SLUGS:
        raise InvalidInput(_l("slug %(slug)r must be 1–63 lowercase letters, digits or '-'"
                              " and not a reserved word", slug=slug), field="slug")
    if not name or len(name) > 120:
        raise InvalidInput(_l("name is required (at most 120 characters)"), field="name")
    if db.session.scalar(select(Tenant.id).where(Tenant.slug == slug)):
        raise Conflict(_l("a shop with slug %(slug)r already exists", slug=slug), field="slug")
    if theme is not None and theme not in available_themes():
        raise InvalidInput(_l("unknown theme %(theme)r", theme=theme), field="theme")

    parent = None
    if parent_slug:
        parent = db.session.scalar(select(Tenant).where(Tenant.slug == parent_slug))
        if parent is None:
            raise NotFound(_l("no parent shop with slug %(parent_slug)r",
                              parent_slug=parent_slug), field="parent")
    elif master() is not None:
        raise Conflict(_l("a master shop already exists; give --parent to open a sub-shop"),
                       field="parent")

    base = current_app.config["BASE_DOMAIN"]
    hosts = [validate_hostname(h) for h in domains] or [f"{slug}.{base}"]
    if len(set(hosts)) != len(hosts):
        raise InvalidInput(_l("the same hostname was given twice"), field="domain")
    for host in hosts:
        _check_host_free(host)

    tenant = Tenant(
        slug=slug, name=name, parent=parent, depth=(parent.depth + 1) if parent else 0,
        theme=theme or (parent.theme if parent else "default"),
        locale=locale or (parent.locale if parent else current_app.config["DEFAULT_LOCALE"]),
        currency=currency or (parent.currency if parent else
                              current_app.config["DEFAULT_CURRENCY"]),
        settings={}, status=status,
    )
    db.session.add(tenant)
    db.session.flush()
    tenant.path = f"{parent.path if parent else '/'}{tenant.id}/"
    for i, host in enumerate(hosts):
        db.session.add(_new_domain(tenant, host, base, primary=(i == 0)))
    db.session.flush()
    return tenant


def _new_domain(tenant: Tenant, host: str, base: str, primary: bool = False) -> Domain:
    subdomain = host == base or host.endswith("." + base)
    return Domain(
        hostname=host, tenant_id=tenant.id, kind="subdomain" if subdomain else "custom",
        # subdomains of our own base domain need no proof of ownership
        verified_at=utcnow() if subdomain else None,
        token=secrets.token_hex(16), is_primary=primary,
    )


def add_domain(slug: str, host: str, verified: bool = False) -> Domain:
    """Bind ``host`` to the shop ``slug`` (see ``tenants.domains``)."""
    from kameng.tenants import domains

    return domains.add_domain(slug, host, verified=verified)


def verify_domain(hostname: str) -> Domain:
    """The operator's override: mark a domain verified without the DNS check."""
    from kameng.tenants import domains

    return domains.verify_without_dns(hostname)


def list_tenants() -> list[Tenant]:
    return list(db.session.scalars(select(Tenant).order_by(Tenant.path)))


def resolve_host(host: str) -> Tenant | None:
    """The one active tenant a Host header routes to, or None."""
    from kameng.tenants import hostcache

    row = hostcache.lookup(normalise_host(host), _tenant_for_host)
    if row is None or row.status == "closed":
        return None
    return row


def _tenant_for_host(host: str) -> Tenant | None:
    return db.session.execute(
        select(Tenant)
        .join(Domain, Domain.tenant_id == Tenant.id)
        .where(Domain.hostname == host, Domain.verified_at.is_not(None))
    ).scalar_one_or_none()


def primary_host(tenant: Tenant) -> str:
    for d in tenant.domains:
        if d.is_primary and d.verified_at is not None:
            return d.hostname
    verified = [d.hostname for d in tenant.domains if d.verified_at is not None]
    return verified[0] if verified else ""


# ----- users ---------------------------------------------------------------

def create_user(tenant: Tenant, email: str, role: str, password: str | None = None,
                display_name: str | None = None, staff_role: str | None = None) -> User:
    return in_own_txn(create_user_in_txn, tenant, email, role, password, display_name,
                      staff_role)


def create_user_in_txn(tenant: Tenant, email: str, role: str, password: str | None = None,
                       display_name: str | None = None, staff_role: str | None = None) -> User:
    """``staff_role`` (manager, support, finance) only for ``staff``; manager when not given
    (what a staff account could do before there were staff roles)."""
    email = clean_address(email)
    if role not in ROLES:
        raise InvalidInput(_l("role must be one of %(choices)s",
                              choices=', '.join(ROLES)), field="role")
    if role == "staff":
        staff_role = staff_role or "manager"
        if staff_role not in STAFF_ROLES:
            raise InvalidInput(_l("role must be one of %(choices)s",
                                  choices=', '.join(STAFF_ROLES)), field="role")
    elif staff_role is not None:
        raise InvalidInput(_l("only a staff account has a staff role"), field="role")
    if password is not None:
        _check_password(password)
    with all_tenants():
        taken = db.session.scalar(select(User.id).where(User.tenant_id == tenant.id,
                                                         User.email == email))
    if taken:
        raise Conflict(_l("%(email)s already has an account on %(slug)s",
                          email=email, slug=tenant.slug), field="email")
    user = User(tenant_id=tenant.id, email=email, role=role, display_name=display_name,
                staff_role=staff_role,
                password_hash=hash_password(password) if password else None)
    db.session.add(user)
    return user


# ----- signing up -----------------------------------------------------------

SIGN_UP_SALT = "kameng.sign-up"
SIGN_UP_MAX_AGE = 3 * 86400


def _sign_up_serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt=SIGN_UP_SALT)


def _mail_after_commit(to: str, subject, text) -> None:
    """Send once the transaction commits (no transaction open during SMTP); a failure
    is logged, never shown: the page must not differ with the address."""
    from kameng.core.mail import mail_configured, send_mail

    subject, text = str(subject), str(text)
    configured = mail_configured()

    def send():
        if not configured:
            log.warning("sign-up mail to %s not sent: KAMENG_SMTP_URL is not set", to)
            return
        try:
            send_mail(to, subject, text)
        except Exception:  # noqa: BLE001 - SMTP trouble must not change the answer
            log.exception("sign-up mail to %s failed", to)

    after_commit(send)


def sign_up(tenant: Tenant, email: str, password: str, display_name: str | None, *,
            confirm_url: Callable[[str], str], login_url: str) -> None:
    """A visitor asks for a customer account; the answer never says whether the address
    has one already.

    A free address gets an inactive account and a mail with a confirmation link
    (``confirm_url(token)``, valid ``SIGN_UP_MAX_AGE``); an address with an
    account gets a mail saying so (``login_url``) and nothing is written. The
    password is hashed either way, so both take the same time. Bad input (an
    address that is not one, a short password) raises ``InvalidInput`` as before,
    the same for either.
    """
    return in_own_txn(_sign_up_in_txn, tenant, email, password, display_name,
                      confirm_url, login_url)


def _sign_up_in_txn(tenant, email, password, display_name, confirm_url, login_url) -> None:
    email = clean_address(email)
    if password is None or len(password) < 8:
        raise InvalidInput(_l("password must have at least 8 characters"), field="password")
    password_hash = hash_password(password)
    with all_tenants():
        taken = db.session.scalar(select(User.id).where(User.tenant_id == tenant.id,
                                                         User.email == email))
    user = None
    if not taken:
        user = User(tenant_id=tenant.id, email=email, role="customer",
                    display_name=display_name, password_hash=password_hash,
                    is_active_flag=False, session_version=1)
        try:
            with db.session.begin_nested():   # a concurrent sign-up may have taken it
                db.session.add(user)
        except IntegrityError:
            user = None
    if user is None:
        _mail_after_commit(email, _l("Your account on %(shop)s", shop=tenant.name),
                           _l("Someone (perhaps you) asked to open an account on %(shop)s "
                              "with this address, which has one already. Sign in here:\n"
                              "%(url)s\n\nIf that was not you, ignore this mail.",
                              shop=tenant.name, url=login_url))
        return
    token = _sign_up_serializer().dumps([tenant.id, user.id, user.session_version])
    _mail_after_commit(email, _l("Confirm your account on %(shop)s", shop=tenant.name),
                       _l("Open this link within three days to confirm your account on "
                          "%(shop)s:\n%(url)s\n\nIf you did not ask for an account, ignore "
                          "this mail.", shop=tenant.name, url=confirm_url(token)))


def confirm_sign_up(tenant: Tenant, token: str) -> User:
    """The account a confirmation link names, now active (each link works once)."""
    return in_own_txn(_confirm_sign_up_in_txn, tenant, token)


def _confirm_sign_up_in_txn(tenant: Tenant, token: str) -> User:
    refused = InvalidInput(_l("this confirmation link is not valid (any more): sign in, "
                              "or sign up again"), field="token")
    try:
        tenant_id, user_id, version = _sign_up_serializer().loads(
            token or "", max_age=SIGN_UP_MAX_AGE)
    except (BadSignature, ValueError, TypeError):
        raise refused from None
    with all_tenants():
        user = db.session.get(User, user_id) if tenant_id == tenant.id else None
    if user is None or user.tenant_id != tenant.id or user.is_active \
            or user.session_version != version:
        raise refused
    user.is_active_flag = True
    user.session_version += 1   # the link is spent
    return user


# ----- password reset by e-mail ----------------------------------------------------

PASSWORD_RESET_SALT = "kameng.password-reset"
PASSWORD_RESET_MAX_AGE = 30 * 60


def _reset_serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt=PASSWORD_RESET_SALT)


def request_password_reset(tenant: Tenant, email: str, *,
                           reset_url: Callable[[str], str]) -> None:
    """Mail a reset link to an active account of this shop with that address (a buyer,
    staff or the owner); nothing for any other address — the caller answers the same
    either way. The link is signed, names the account's session generation (so it dies
    once used, or when the account signs out everywhere) and lasts 30 minutes."""
    in_own_txn(_request_password_reset_in_txn, tenant, email, reset_url)


def _request_password_reset_in_txn(tenant, email, reset_url) -> None:
    try:
        address = clean_address(email)
    except InvalidInput:
        return
    with all_tenants():
        user = db.session.scalar(select(User).where(User.tenant_id == tenant.id,
                                                    User.email == address))
    if user is None or not user.is_active:
        return
    token = _reset_serializer().dumps([tenant.id, user.id, user.session_version])
    _mail_after_commit(address, _l("Reset your password on %(shop)s", shop=tenant.name),
                       _l("Open this link within 30 minutes to choose a new password for "
                          "your account on %(shop)s:\n%(url)s\n\nIt works once. If you did "
                          "not ask for it, ignore this mail: your password stays as it is.",
                          shop=tenant.name, url=reset_url(token)))


def _reset_refused() -> InvalidInput:
    return InvalidInput(_l("this password reset link is not valid (any more): ask for a "
                           "new one"), field="token")


# a set-password link mailed to a new staff account (the reset page sets it) lasts longer
SET_PASSWORD_MAX_AGE = 3 * 86400


def mail_set_password_link_in_txn(tenant: Tenant, user: User,
                                  url: Callable[[str], str]) -> None:
    """Mail a new back-office account its link to choose a password (sent after commit);
    the reset page takes it, for ``SET_PASSWORD_MAX_AGE``, once."""
    token = _reset_serializer().dumps([tenant.id, user.id, user.session_version, "invite"])
    _mail_after_commit(user.email, _l("Your back-office account on %(shop)s", shop=tenant.name),
                       _l("An account on the back office of %(shop)s was opened for you. "
                          "Open this link within three days to choose your password:\n"
                          "%(url)s", shop=tenant.name, url=url(token)))


def password_reset_user(tenant: Tenant, token: str) -> User:
    """The account a reset link names, while the link is valid (``InvalidInput`` else)."""
    try:
        payload, signed_at = _reset_serializer().loads(
            token or "", max_age=SET_PASSWORD_MAX_AGE, return_timestamp=True)
        tenant_id, user_id, version, *kind = payload
    except (BadSignature, ValueError, TypeError):
        raise _reset_refused() from None
    # a reset link lasts 30 minutes; only a staff invitation lasts days
    if kind != ["invite"] and (utcnow() - signed_at).total_seconds() > PASSWORD_RESET_MAX_AGE:
        raise _reset_refused()
    with all_tenants():
        user = db.session.get(User, user_id) if tenant_id == tenant.id else None
    if user is None or user.tenant_id != tenant.id or not user.is_active \
            or user.session_version != version:
        raise _reset_refused()
    return user


def reset_password(tenant: Tenant, token: str, password: str) -> User:
    """Set the new password a valid link allows; the link is spent and every session of
    the account ends (``session_version``). Commits."""
    return in_own_txn(_reset_password_in_txn, tenant, token, password)


def _reset_password_in_txn(tenant: Tenant, token: str, password: str) -> User:
    user = password_reset_user(tenant, token)
    set_password_in_txn(user, password)
    from kameng.core import audit

    audit.record(user, "auth.password_reset", tenant_id=tenant.id)
    return user


def authenticate(tenant: Tenant, email: str, password: str) -> User | None:
    """The user of *this* shop with that e-mail and password, else None."""
    with all_tenants():
        user = db.session.scalar(select(User).where(User.tenant_id == tenant.id,
                                                    User.email == (email or "").strip().lower()))
    ok = verify_password(user.password_hash if user else None, password or "")
    if not ok or not user.is_active:
        return None
    if needs_rehash(user.password_hash):
        user.password_hash = hash_password(password)
        db.session.commit()
    return user


def _check_password(password: str) -> None:
    if len(password) < 8:
        raise InvalidInput(_l("password must have at least 8 characters"), field="password")


def user_by_email(tenant: Tenant, email: str) -> User:
    with all_tenants():
        user = db.session.scalar(select(User).where(User.tenant_id == tenant.id,
                                                    User.email == clean_address(email)))
    if user is None:
        raise NotFound(_l("no such account on this shop"), field="email")
    return user


def end_sessions_in_txn(user: User) -> None:
    """Every session of ``user`` issued so far stops working (its cookie names the old
    generation, ``User.get_id``): signing out, a new password."""
    user.session_version = User.session_version + 1


end_sessions = owning(end_sessions_in_txn)


def set_password_in_txn(user: User, password: str) -> None:
    """A new password for ``user``; every session signed in with the old one ends."""
    _check_password(password)
    user.password_hash = hash_password(password)
    end_sessions_in_txn(user)


set_password = owning(set_password_in_txn)


def load_session_user(tenant: Tenant | None, session_id: str) -> User | None:
    """Flask-Login's user loader: the session must belong to this host's tenant."""
    try:
        tid, uid, version = (int(x) for x in session_id.split(":"))
    except (ValueError, AttributeError):
        return None
    if tenant is None or tid != tenant.id:
        return None
    with all_tenants():
        user = db.session.get(User, uid)
    if user is None or user.tenant_id != tid or user.session_version != version \
            or user.blocked_at is not None:
        return None
    return user


def set_user_locale(user: User, code: str) -> None:
    user.locale = code
    db.session.commit()


# ----- appearance ----------------------------------------------------------

def update_appearance(tenant: Tenant, theme: str, values: dict) -> Tenant:
    """Switch the shop to ``theme`` and set its theme settings, published at once as a
    new version of its appearance (the studio's draft is left alone); commits.

    ``values`` maps setting keys of that theme's schema to new values; a blank
    value resets the setting to the theme's default, a key left out keeps its
    current value (if the new theme has that setting). Everything is validated
    before anything is written.
    """
    from kameng.tenants.appearance import publish_values_in_txn

    in_own_txn(publish_values_in_txn, tenant, theme, values)
    return tenant


def shops_by_id(ids) -> dict[int, Tenant]:
    """The shops with these ids (pages name shops, never show their ids)."""
    ids = {i for i in ids if i is not None}
    if not ids:
        return {}
    return {t.id: t for t in db.session.scalars(select(Tenant).where(Tenant.id.in_(ids)))}


def user_ids_by_email(email: str, tenant_ids: list[int] | None = None) -> list[int]:
    """The accounts with this e-mail, on these shops (every shop when None)."""
    query = select(User.id).where(User.email == email)
    if tenant_ids is not None:
        query = query.where(User.tenant_id.in_(tenant_ids))
    with all_tenants():
        return list(db.session.scalars(query))


def subtree_page(root: Tenant, after: str | None, size: int, *options) -> ForwardPage:
    """One page of the shops below ``root`` in tree order, after the path ``after`` (a
    key from outside ``root``'s subtree starts at its first shop): keyset on the path
    index, no OFFSET, so a page costs the same however big the subtree."""
    start = after if after and after.startswith(root.path) else root.path
    return forward_page(select(Tenant).where(Tenant.path.startswith(root.path))
                        .options(lazyload(Tenant.parent), *options), Tenant.path, size, start)
