"""Two-factor sign-in (TOTP, RFC 6238) for owners and staff, and the master's policy.

- The secret is sealed on the code key ring (``core.crypto.seal``, bound to the user's
  id); it is made when enrolment starts and is in use only once a first valid code
  has confirmed it (``totp_enabled_at``).
- A code is accepted for the current 30-second step or one step either side, and
  only for a step later than the last one accepted (``totp_last_step``, moved by a
  conditional UPDATE): the same code cannot be used twice, even by two requests at
  once.
- Ten recovery codes are made when 2FA is switched on, shown once and kept as
  SHA-256 hashes; each works once, in place of a code.
- **Policy**: the master owner sets a depth N (``require_depth``): owners and staff of
  every shop at depth ≤ N (0 = the master itself, 1 = its direct sub-shops, …) must
  use 2FA. ``None`` (the default) requires it of no one. It lives in the master
  shop's settings (``settings["security"]["require_2fa_depth"]``).
"""
from __future__ import annotations

import hashlib
import hmac
import secrets
import time

import pyotp
from sqlalchemy import or_, select, update

from kameng.core import audit, crypto
from kameng.core.errors import InvalidInput
from kameng.core.extensions import db
from kameng.core.i18n import lazy_gettext as _l
from kameng.core.models import utcnow
from kameng.core.passwords import verify_password
from kameng.core.txn import owning
from kameng.tenants.models import RecoveryCode, Tenant, User
from kameng.tenants.services import end_sessions_in_txn

ISSUER = "kameng"
RECOVERY_CODES = 10
# a shop can be no deeper than this in the policy's choice (deeper: "every shop")
MAX_POLICY_DEPTH = 9


# ----- the secret -------------------------------------------------------------

def totp_aad(user_id: int) -> bytes:
    """What a user's TOTP secret is sealed with (key rotation re-seals it with the same)."""
    return f"totp:{user_id}".encode()


def _secret(user: User) -> str | None:
    return crypto.unseal(user.totp_secret, totp_aad(user.id)) if user.totp_secret else None


def enabled(user: User) -> bool:
    return user.totp_enabled_at is not None and user.totp_secret is not None


def start_enrolment_in_txn(user: User) -> None:
    """A new secret, not yet in use (a first valid code confirms it)."""
    if enabled(user):
        raise InvalidInput(_l("two-factor sign-in is already on"))
    user.totp_secret = crypto.seal(pyotp.random_base32(), totp_aad(user.id))
    user.totp_last_step = None


start_enrolment = owning(start_enrolment_in_txn)


def pending_secret(user: User) -> str | None:
    """The secret being enrolled (None once enrolled or before enrolment starts)."""
    return None if enabled(user) else _secret(user)


def provisioning_uri(user: User, shop_name: str) -> str:
    """The ``otpauth://`` URI of the pending secret (for the QR code)."""
    return pyotp.TOTP(pending_secret(user)).provisioning_uri(
        name=user.email, issuer_name=f"{ISSUER} {shop_name}".strip())


def _matching_step(secret: str, code: str, now: float | None = None) -> int | None:
    code = "".join((code or "").split())
    if not (code.isdigit() and len(code) == 6):
        return None
    totp = pyotp.TOTP(secret)
    step = int((time.time() if now is None else now) // totp.interval)
    for candidate in (step, step - 1, step + 1):
        if hmac.compare_digest(totp.generate_otp(candidate), code):
            return candidate
    return None


def _claim_step_in_txn(user: User, step: int) -> bool:
    """Record ``step`` as used unless it (or a later one) already was: False then."""
    result = db.session.execute(
        update(User).where(User.id == user.id,
                           or_(User.totp_last_step.is_(None), User.totp_last_step < step))
        .values(totp_last_step=step).execution_options(synchronize_session=False))
    if result.rowcount != 1:
        return False
    user.totp_last_step = step
    return True


# ----- recovery codes ---------------------------------------------------------

_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"   # no 0/o, 1/l/i


def _hash_code(code: str) -> str:
    cleaned = "".join(ch for ch in (code or "").lower() if ch.isalnum())
    return hashlib.sha256(cleaned.encode()).hexdigest()


def _new_recovery_codes_in_txn(user: User) -> list[str]:
    db.session.execute(RecoveryCode.__table__.delete().where(RecoveryCode.user_id == user.id))
    codes = []
    for _ in range(RECOVERY_CODES):
        raw = "".join(secrets.choice(_ALPHABET) for _ in range(16))   # 16 × ~4.95 bits
        code = "-".join(raw[i:i + 4] for i in range(0, 16, 4))
        codes.append(code)
        db.session.add(RecoveryCode(user_id=user.id, code_hash=_hash_code(code)))
    return codes


def _use_recovery_code_in_txn(user: User, code: str) -> bool:
    result = db.session.execute(
        update(RecoveryCode).where(RecoveryCode.user_id == user.id,
                                   RecoveryCode.code_hash == _hash_code(code),
                                   RecoveryCode.used_at.is_(None))
        .values(used_at=utcnow()).execution_options(synchronize_session=False))
    return result.rowcount == 1


def recovery_codes_left(user: User) -> int:
    return len(db.session.scalars(select(RecoveryCode.id).where(
        RecoveryCode.user_id == user.id, RecoveryCode.used_at.is_(None))).all())


# ----- switching on and off, signing in -----------------------------------------

def confirm_enrolment_in_txn(user: User, code: str, now: float | None = None) -> list[str]:
    """Switch 2FA on with the first valid code of the pending secret; returns the
    recovery codes (shown once). Every session signed in before ends (one copied
    before need not pass the second step): the caller signs its own in again."""
    secret = pending_secret(user)
    if secret is None:
        raise InvalidInput(_l("start the enrolment first"))
    step = _matching_step(secret, code, now)
    if step is None or not _claim_step_in_txn(user, step):
        raise InvalidInput(_l("that code is not valid; check the time on your device"),
                           field="code")
    user.totp_enabled_at = utcnow()
    end_sessions_in_txn(user)
    return _new_recovery_codes_in_txn(user)


confirm_enrolment = owning(confirm_enrolment_in_txn)


def verify_in_txn(user: User, code: str, now: float | None = None) -> bool:
    """A second factor for signing in: a current code not used before, or an unused
    recovery code (spent by this). False for anything else."""
    if not enabled(user):
        return False
    step = _matching_step(_secret(user), code, now)
    if step is not None:
        return _claim_step_in_txn(user, step)
    return _use_recovery_code_in_txn(user, code)


verify = owning(verify_in_txn)


def disable_in_txn(user: User, code_or_password: str) -> None:
    """Switch 2FA off: needs a current code, a recovery code or the account's password."""
    if not enabled(user):
        raise InvalidInput(_l("two-factor sign-in is not on"))
    if not (verify_password(user.password_hash, code_or_password or "")
            or verify_in_txn(user, code_or_password)):
        raise InvalidInput(_l("wrong code or password"), field="code")
    reset_in_txn(user)


disable = owning(disable_in_txn)


def reset_in_txn(user: User, actor=None) -> None:
    """2FA off, secret and recovery codes gone (the operator's ``users reset-2fa``, which
    is audited as done by ``actor``)."""
    if actor is not None:
        audit.record(actor, "user.reset_2fa", tenant_id=user.tenant_id, user=user.id)
    user.totp_secret = None
    user.totp_enabled_at = None
    user.totp_last_step = None
    db.session.execute(RecoveryCode.__table__.delete().where(RecoveryCode.user_id == user.id))


reset = owning(reset_in_txn)


# ----- the master's policy ------------------------------------------------------

def _root(tenant: Tenant) -> Tenant:
    ids = tenant.ancestor_ids
    return tenant if not ids else db.session.get(Tenant, ids[0])


def require_depth(tenant: Tenant) -> int | None:
    """The depth down to which the master requires 2FA (None: nobody)."""
    value = ((_root(tenant).settings or {}).get("security") or {}).get("require_2fa_depth")
    return value if isinstance(value, int) else None


def set_require_depth_in_txn(master: Tenant, depth: int | None, actor=None) -> None:
    """The master's policy (audited with its value)."""
    if not master.is_master:
        raise InvalidInput(_l("only the master sets this"))
    if depth is not None and not (0 <= depth <= MAX_POLICY_DEPTH):
        raise InvalidInput(_l("not a valid depth"), field="depth")
    audit.record(actor or "system", "security.require_2fa_depth", tenant_id=master.id,
                 depth=depth)
    settings = dict(master.settings or {})
    security = dict(settings.get("security") or {})
    security["require_2fa_depth"] = depth
    settings["security"] = security
    master.settings = settings


set_require_depth = owning(set_require_depth_in_txn)


def required(user: User, tenant: Tenant) -> bool:
    """Must this owner or staff member of ``tenant`` use 2FA?"""
    if not user.is_staff:
        return False
    depth = require_depth(tenant)
    return depth is not None and tenant.depth <= depth
