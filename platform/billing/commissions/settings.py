"""Reading and changing billing settings (the master's rules, each shop's promoter percent)."""
from __future__ import annotations

from flask import current_app
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from kameng.billing.commissions.models import APPROVERS, FEE_PAYERS, BillingSettings
from kameng.core.database import listen_once
from kameng.core.errors import InvalidInput, ServiceError
from kameng.core.extensions import db
from kameng.core.i18n import lazy_gettext as _l
from kameng.core.percent import check_bp, percent_of
from kameng.tenants.models import Tenant

PROVIDERS = ("balance", "stripe", "epay")


_MEMO = "_kameng_platform_settings"


def master_tenant() -> Tenant:
    return db.session.scalar(select(Tenant).where(Tenant.parent_id.is_(None)))


def find_settings(tenant: Tenant | int) -> BillingSettings | None:
    tid = tenant if isinstance(tenant, int) else tenant.id
    return db.session.scalar(select(BillingSettings).where(BillingSettings.tenant_id == tid)
                             .execution_options(all_tenants=True))


def settings_for(tenant: Tenant | int) -> BillingSettings:
    """The saved row, or an unsaved one holding the defaults (reading creates nothing)."""
    found = find_settings(tenant)
    if found is not None:
        return found
    return _defaults(tenant if isinstance(tenant, int) else tenant.id)


def _defaults(tid: int) -> BillingSettings:
    return BillingSettings(tenant_id=tid, hold_days=None, provider_fees={}, withdraw_min=0,
                           withdraw_fee_fixed=0, withdraw_fee_bp=0, withdraw_approver="master",
                           plan_grace_days=3, promoter_bp=0)


def platform_settings() -> BillingSettings:
    """The master's settings, read once per database transaction (a commission asks
    thrice); any commit or rollback forgets them."""
    info = db.session.info
    cached = info.get(_MEMO)
    if cached is None:
        # the master and its saved settings (if any) in one query
        row = db.session.execute(
            select(Tenant.id, BillingSettings)
            .outerjoin(BillingSettings, BillingSettings.tenant_id == Tenant.id)
            .where(Tenant.parent_id.is_(None)).execution_options(all_tenants=True)).first()
        if row is None:
            cached = _defaults(0)
        else:
            cached = row[1] if row[1] is not None else _defaults(row[0])
        info[_MEMO] = cached
    return cached


def _forget_settings(session, transaction):
    if transaction.nested:
        return  # a SAVEPOINT ended: the settings read in this transaction still hold
    session.info.pop(_MEMO, None)


def install() -> None:
    listen_once(Session, "after_transaction_end", _forget_settings)


def hold_days() -> int:
    days = platform_settings().hold_days
    return int(current_app.config.get("HOLD_DAYS", 3) if days is None else days)


def fee_rule(method: str | None) -> dict | None:
    rule = (platform_settings().provider_fees or {}).get(method or "")
    return rule or None


def fee_for(method: str | None, amount: int) -> int:
    """The provider's fee on a payment: bp of the amount (half up) plus a fixed part."""
    rule = fee_rule(method)
    if not rule or amount <= 0:
        return 0
    bp, fixed = int(rule.get("bp", 0)), int(rule.get("fixed", 0))
    return min(amount, percent_of(amount, bp) + fixed)


def _minor(value, field: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise InvalidInput(_l("%(field)s must be a non-negative amount in minor units",
                              field=field), field=field)
    return value


def update_settings(tenant: Tenant, **values) -> BillingSettings:
    """Change settings; the platform-wide ones only on the master. Commits."""
    db.session.info.pop(_MEMO, None)
    platform_only = {"hold_days", "provider_fees", "withdraw_min", "withdraw_fee_fixed",
                     "withdraw_fee_bp", "withdraw_approver", "plan_grace_days"}
    unknown = set(values) - platform_only - {"promoter_bp"}
    if unknown:
        raise InvalidInput(_l("unknown setting %(name)r", name=sorted(unknown)[0]))
    if not tenant.is_master and set(values) & platform_only:
        raise ServiceError(_l("only the master shop sets the platform's billing rules"),
                           code="forbidden", status=403)
    clean = {}
    for key, value in values.items():
        if key in ("promoter_bp", "withdraw_fee_bp"):
            clean[key] = check_bp(value, key)
        elif key in ("withdraw_min", "withdraw_fee_fixed"):
            clean[key] = _minor(value, key)
        elif key in ("hold_days", "plan_grace_days"):
            if value is not None and (isinstance(value, bool) or not isinstance(value, int)
                                      or not 0 <= value <= 365):
                raise InvalidInput(_l("%(key)s must be 0–365 days", key=key), field=key)
            if key == "plan_grace_days" and value is None:
                value = 3
            clean[key] = value
        elif key == "withdraw_approver":
            if value not in APPROVERS:
                raise InvalidInput(_l("withdrawals are approved by 'master' or 'parent'"),
                                   field=key)
            clean[key] = value
        elif key == "provider_fees":
            clean[key] = _fees(value)
    row = find_settings(tenant)
    if row is None:
        row = settings_for(tenant)
        db.session.add(row)
    for key, value in clean.items():
        setattr(row, key, value)
    try:
        db.session.commit()
    except IntegrityError:
        db.session.rollback()  # created concurrently: apply to theirs
        row = find_settings(tenant)
        for key, value in clean.items():
            setattr(row, key, value)
        db.session.commit()
    return row


def _fees(value) -> dict:
    if not isinstance(value, dict):
        raise InvalidInput(_l("provider fees are a mapping of provider → rule"),
                           field="provider_fees")
    out = {}
    for provider, rule in value.items():
        if provider not in PROVIDERS:
            raise InvalidInput(_l("unknown payment provider %(provider)r",
                                  provider=provider), field="provider_fees")
        if not rule:
            continue
        payer = rule.get("payer", "seller")
        if payer not in FEE_PAYERS:
            raise InvalidInput(_l("the fee is booked to 'seller' or 'master'"),
                               field="provider_fees")
        out[provider] = {"bp": check_bp(rule.get("bp", 0), "fee bp"),
                         "fixed": _minor(rule.get("fixed", 0), "fixed fee"), "payer": payer}
    return out
