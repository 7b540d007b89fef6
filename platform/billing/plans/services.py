"""Defining plans, paying and renewing them, expiry, and what a plan allows.

``plan_allows(tenant, feature, value=None)`` is the one question other code
asks. Features: ``custom_domain``, ``sub_shops``, ``own_gateway`` (its own
易支付 merchant account), ``staff`` (value: the staff
count wanted), ``markup`` (value: a markup in basis points), ``theme`` (value:
a theme name). The master, and a shop without a subscription (created by the
operator, not sold a plan), may do everything; an expired subscription allows
nothing. ``kameng.billing.plans.guard`` checks these on every write that
would exceed them, whichever code path makes it.

Paying a period (``pay_plan``) is one transaction: the payer's
``earnings_available`` (guarded) or the card's ``clearing_stripe`` pays; every
reseller on the way up earns its price minus the price of the plan it resells,
into its ``earnings_available``; the master's price goes to the platform's
``revenue``. Renewing extends from the current period's end; expiry after the
grace period suspends the shop (its storefront answers 503 "temporarily
closed"), paying again reopens it. Nothing is ever deleted.
"""
from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from kameng.billing.commissions import settings as billing_settings
from kameng.billing.ledger import services as ledger
from kameng.billing.plans.models import INTERVALS, Plan, PlanPayment, Subscription
from kameng.core.errors import Conflict, InvalidInput, NotFound, ServiceError
from kameng.core.extensions import db
from kameng.core.i18n import lazy_gettext as _l
from kameng.core.models import utcnow
from kameng.core.percent import format_percent
from kameng.core.scoping import all_tenants
from kameng.tenants.models import Tenant, User
from kameng.tenants.openshop import plan_paid_in_txn
from kameng.tenants.themes import available_themes

CODE_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,39}$")
FEATURES = ("custom_domain", "sub_shops", "own_gateway", "staff", "markup", "theme")


class PlanLimit(ServiceError):
    code = "plan_limit"
    status = 403


# ----- dates ---------------------------------------------------------------------------

def add_months(when: datetime, months: int) -> datetime:
    month = when.month - 1 + months
    year, month = when.year + month // 12, month % 12 + 1
    day = min(when.day, calendar.monthrange(year, month)[1])
    return when.replace(year=year, month=month, day=day)


def period_end(start: datetime, interval: str) -> datetime:
    return add_months(start, 12 if interval == "year" else 1)


# ----- defining plans --------------------------------------------------------------------

def get_plan(plan_id: int) -> Plan:
    with all_tenants():
        plan = db.session.get(Plan, int(plan_id))
    if plan is None:
        raise NotFound(_l("no such plan"), field="plan")
    return plan


def plan_by_code(tenant: Tenant, code: str) -> Plan:
    with all_tenants():
        plan = db.session.scalar(select(Plan).where(Plan.tenant_id == tenant.id,
                                                    Plan.code == (code or "").strip()))
    if plan is None:
        raise NotFound(_l("%(slug)s offers no plan %(code)r",
                          slug=tenant.slug, code=code), field="plan")
    return plan


def root_plan(plan: Plan) -> Plan:
    seen = set()
    while plan.base_plan_id is not None and plan.id not in seen:
        seen.add(plan.id)
        plan = get_plan(plan.base_plan_id)
    return plan


def create_plan(tenant: Tenant, code: str, name: str, price: int, interval: str = "month", *,
                base_plan_id: int | None = None, custom_domain: bool = False,
                sub_shops: bool = False, own_gateway: bool = False,
                max_markup_bp: int | None = None,
                max_staff: int | None = None, themes: list[str] | None = None) -> Plan:
    """The master defines a plan; any other shop resells one its parent offers it."""
    code = (code or "").strip().lower()
    name = (name or "").strip()
    if not CODE_RE.match(code):
        raise InvalidInput(_l("plan code: 1–40 lowercase letters, digits, '-' or '_'"),
                           field="code")
    if interval not in INTERVALS:
        raise InvalidInput(_l("interval is 'month' or 'year'"), field="interval")
    _check_terms(name, price, max_markup_bp, max_staff)
    if themes is not None:
        unknown = set(themes) - set(available_themes())
        if unknown:
            raise InvalidInput(_l("unknown theme %(name)r",
                                  name=sorted(unknown)[0]), field="themes")
    base = None
    if tenant.is_master:
        if base_plan_id is not None:
            raise InvalidInput(_l("the master's plans are not resold plans"), field="base_plan")
    else:
        if base_plan_id is None:
            raise InvalidInput(_l("a sub-shop resells a plan its parent offers: give the base "
                                  "plan"), field="base_plan")
        base = get_plan(base_plan_id)
        if base.tenant_id != tenant.parent_id or not base.active:
            raise NotFound(_l("your parent shop offers no such plan"), field="base_plan")
        if not plan_allows(tenant, "sub_shops"):
            raise PlanLimit(_l("your plan does not include opening sub-shops"))
        if price < base.price:
            raise InvalidInput(_l("the resale price cannot be below what the plan costs you"),
                               field="price")
        if interval != base.interval:
            raise InvalidInput(_l("a resold plan keeps its base plan's interval"), field="interval")
    with all_tenants():
        if db.session.scalar(select(Plan.id).where(Plan.tenant_id == tenant.id,
                                                   Plan.code == code)):
            raise Conflict(_l("a plan %(code)r exists already", code=code), field="code")
    root = root_plan(base) if base is not None else None
    plan = Plan(tenant_id=tenant.id, code=code, name=name, interval=interval, price=price,
                base_plan_id=base.id if base is not None else None,
                # a resold plan can grant no more than what it resells
                custom_domain=root.custom_domain if root else bool(custom_domain),
                sub_shops=root.sub_shops if root else bool(sub_shops),
                own_gateway=root.own_gateway if root else bool(own_gateway),
                max_markup_bp=root.max_markup_bp if root else max_markup_bp,
                max_staff=root.max_staff if root else max_staff,
                themes=root.themes if root else (list(themes) if themes is not None else None))
    db.session.add(plan)
    db.session.commit()
    return plan


def set_plan_active(plan: Plan, active: bool) -> Plan:
    plan.active = bool(active)  # retired plans keep their subscribers until they lapse
    db.session.commit()
    return plan


def update_plan(tenant: Tenant, plan_id: int, *, name: str, price: int,
                max_markup_bp: int | None = None, max_staff: int | None = None,
                custom_domain: bool | None = None, sub_shops: bool | None = None,
                own_gateway: bool | None = None) -> Plan:
    """Change a plan ``tenant`` sells: its name and price (from the next period paid on),
    and for the master's own plans what they allow. A resold plan keeps its base plan's
    limits (they always come from the master's plan) and its price stays at or above
    what the base plan costs. The code and interval never change."""
    plan = get_plan(plan_id)
    if plan.tenant_id != tenant.id:
        raise NotFound(_l("no such plan"), field="plan")
    name = (name or "").strip()
    _check_terms(name, price, max_markup_bp, max_staff)
    if plan.base_plan_id is not None:
        if price < get_plan(plan.base_plan_id).price:
            raise InvalidInput(_l("the resale price cannot be below what the plan costs you"),
                               field="price")
    else:
        plan.max_markup_bp, plan.max_staff = max_markup_bp, max_staff
        if custom_domain is not None:
            plan.custom_domain = bool(custom_domain)
        if sub_shops is not None:
            plan.sub_shops = bool(sub_shops)
        if own_gateway is not None:
            plan.own_gateway = bool(own_gateway)
    plan.name, plan.price = name, price
    db.session.commit()
    return plan


def retire_plan(tenant: Tenant, plan_id: int, retired: bool = True) -> Plan:
    """Retire (or bring back) a plan ``tenant`` sells: a retired plan takes no new
    subscriber and no renewal; a subscription to it runs until its paid period ends."""
    plan = get_plan(plan_id)
    if plan.tenant_id != tenant.id:
        raise NotFound(_l("no such plan"), field="plan")
    return set_plan_active(plan, not retired)


def plans_of(tenant: Tenant, active_only: bool = False) -> list[Plan]:
    """The plans ``tenant`` sells."""
    stmt = select(Plan).where(Plan.tenant_id == tenant.id)
    if active_only:
        stmt = stmt.where(Plan.active.is_(True))
    with all_tenants():
        return list(db.session.scalars(stmt.order_by(Plan.price, Plan.id)))


def offered_to(tenant: Tenant) -> list[Plan]:
    """The plans ``tenant`` can buy (its parent's)."""
    if tenant.parent_id is None:
        return []
    return plans_of(db.session.get(Tenant, tenant.parent_id), active_only=True)


# ----- what a plan allows -------------------------------------------------------------

def subscription_of(tenant: Tenant | int) -> Subscription | None:
    tid = tenant if isinstance(tenant, int) else tenant.id
    return db.session.scalar(select(Subscription).where(Subscription.tenant_id == tid)
                             .execution_options(all_tenants=True))


def is_limited(tenant: Tenant) -> bool:
    """Whether a plan limits this shop at all (the master and operator-made shops: no)."""
    return tenant.parent_id is not None and subscription_of(tenant) is not None


def plan_allows(tenant: Tenant, feature: str, value=None) -> bool:
    if feature not in FEATURES:
        raise InvalidInput(_l("unknown plan feature %(feature)r", feature=feature))
    if tenant is None or tenant.parent_id is None:
        return True
    sub = subscription_of(tenant)
    if sub is None:
        return True  # an operator-made shop: no plan limits it
    if sub.status == "expired":
        return False
    plan = root_plan(get_plan(sub.plan_id))
    if feature == "custom_domain":
        return bool(plan.custom_domain)
    if feature == "sub_shops":
        return bool(plan.sub_shops)
    if feature == "own_gateway":
        return bool(plan.own_gateway)
    if feature == "staff":
        return plan.max_staff is None or int(value or 0) <= plan.max_staff
    if feature == "markup":
        return plan.max_markup_bp is None or int(value or 0) <= plan.max_markup_bp
    return plan.themes is None or value in plan.themes  # theme


def require(tenant: Tenant, feature: str, value=None, detail=None) -> None:
    """Raise ``PlanLimit`` (403) when the shop's plan does not allow it.

    ``detail`` says why the value is what it is (a fixed markup as a share of a
    product's cost); the message then names the plan's cap too.
    """
    if not plan_allows(tenant, feature, value):
        sub = subscription_of(tenant) if detail is not None else None
        cap = (root_plan(get_plan(sub.plan_id)).max_markup_bp
               if sub is not None and sub.status != "expired" and feature == "markup" else None)
        if cap is not None:
            raise PlanLimit(_l("%(detail)s; your plan allows a markup of at most %(cap)s%% "
                               "of a product's cost — upgrade or renew your plan",
                               detail=detail, cap=format_percent(cap)))
        messages = {
            "custom_domain": _l("your plan does not include custom domains"),
            "sub_shops": _l("your plan does not include opening sub-shops"),
            "own_gateway": _l("your plan does not include your own payment gateway"),
            "staff": _l("your plan allows fewer staff accounts"),
            "markup": _l("this markup is above what your plan allows"),
            "theme": _l("your plan does not include this theme"),
        }
        raise PlanLimit(_l("%(limit)s — upgrade or renew your plan", limit=messages[feature]))


# ----- paying -----------------------------------------------------------------------------

def _legs(plan: Plan) -> list[tuple[Plan, int]]:
    """(plan, what its seller earns) from the bought plan up to the master's."""
    legs = []
    while plan.base_plan_id is not None:
        base = get_plan(plan.base_plan_id)
        legs.append((plan, plan.price - base.price))
        plan = base
    legs.append((plan, plan.price))  # the master's: platform revenue
    return legs


def _payment_entries(plan: Plan, source, currency: str) -> list:
    entries = [(source, -plan.price)]
    for leg_plan, earns in _legs(plan):
        if leg_plan.base_plan_id is None:
            entries.append((ledger.platform_account("revenue", currency), earns))
        else:
            seller = db.session.get(Tenant, leg_plan.tenant_id)
            entries.append((ledger.shop_account(seller, "earnings_available", currency), earns))
    return entries


def pay_plan(tenant: Tenant, plan_id: int, method: str = "balance", *,
             payment_method: str | None = None, actor: User | None = None,
             now: datetime | None = None, auto: bool = False) -> PlanPayment:
    """Pay one period of a plan the shop's parent offers; renews, or switches plans.

    ``method``: ``balance`` (the shop's available earnings) or ``card`` (a
    Stripe PaymentMethod id in ``payment_method``, charged with a PaymentIntent
    whose idempotency key is this period's). A renewal starts where the
    current period ends; a switch or a lapsed plan starts now.
    """
    now = now or utcnow()
    if tenant.parent_id is None:
        raise InvalidInput(_l("the master shop pays no plan"))
    if actor is not None and (actor.tenant_id != tenant.id or actor.role != "owner"):
        raise InvalidInput(_l("only the shop's owner pays its plan"), field="user")
    plan = get_plan(plan_id)
    if plan.tenant_id != tenant.parent_id or not plan.active:
        raise NotFound(_l("your parent shop offers no such plan"), field="plan")
    if method not in ("balance", "card"):
        raise InvalidInput(_l("pay from the balance or by card"), field="method")
    if method == "card" and not payment_method:
        raise InvalidInput(_l("a card payment needs a payment method"), field="payment_method")
    currency = tenant.currency
    sub = subscription_of(tenant)
    renewing = sub is not None and sub.plan_id == plan.id and sub.status in ("active", "grace")
    # a renewal continues the current period (also in grace); a switch or lapse starts now
    start = sub.current_period_end if renewing else now
    end = period_end(start, plan.interval)
    # a renewal's key is its period (racing renewals pay once); a new start is its own
    key = f"plan:{tenant.id}:{plan.id}:{start:%Y%m%dT%H%M%S}" + ("" if renewing else
                                                                f".{start:%f}")
    with all_tenants():
        done = db.session.scalar(select(PlanPayment).where(PlanPayment.key == key))
    if done is not None:
        return done  # this period is paid already

    provider_ref = None
    if method == "card" and plan.price > 0:
        charge = _Charge(tenant.id, tenant.slug, tenant.currency.lower(), plan.id, plan.code,
                         plan.price, sub.stripe_customer if sub is not None else None)
        # no transaction is open during the Stripe calls; the charge's idempotency key
        # is this period's, so a crash after it is recovered by paying again
        db.session.commit()
        customer = _card_customer(charge, payment_method, saved=auto)
        provider_ref = _charge_card(charge, payment_method, key, customer, off_session=auto)
    try:
        tx = None
        if plan.price > 0:
            if method == "balance":
                source = ledger.shop_account(tenant, "earnings_available", currency)
                guard = [source]
            else:
                source = ledger.platform_account("clearing_stripe", currency)
                guard = []
            tx = ledger.post_in_txn(key, "plan_payment", _payment_entries(plan, source, currency),
                                    guard=guard, reference=f"plan:{plan.code}",
                                    memo=f"{plan.name}: {start:%Y-%m-%d} – {end:%Y-%m-%d}",
                                    created_by=actor)
        if sub is None:
            sub = Subscription(tenant_id=tenant.id, plan_id=plan.id, status="active",
                               current_period_end=end, auto_renew=True)
            db.session.add(sub)
            db.session.flush()
        if method == "card" and plan.price > 0:
            # this card pays the renewals the balance cannot
            sub.stripe_customer, sub.card_payment_method = customer, payment_method
        _activate(tenant, sub, plan, end)
        payment = PlanPayment(tenant_id=tenant.id, subscription_id=sub.id, plan_id=plan.id,
                              key=key, method=method, amount=plan.price, currency=currency,
                              period_start=start, period_end=end, provider_ref=provider_ref,
                              transaction_id=tx.id if tx is not None else None)
        db.session.add(payment)
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        with all_tenants():
            done = db.session.scalar(select(PlanPayment).where(PlanPayment.key == key))
        if done is None:
            raise
        return done
    except ServiceError:
        db.session.rollback()
        raise
    return payment


def _activate(tenant: Tenant, sub: Subscription, plan: Plan, end: datetime) -> None:
    reopen = bool(sub.suspended_by_plan)
    result = db.session.execute(
        update(Subscription).where(Subscription.id == sub.id)
        .values(plan_id=plan.id, status="active", current_period_end=end, grace_until=None,
                suspended_by_plan=False)
        .execution_options(synchronize_session=False, all_tenants=True))
    assert result.rowcount == 1
    if reopen and tenant.status == "suspended":
        tenant.status = "active"  # the plan closed it; paying reopens it
    # a shop opened from its parent's site waiting for this payment opens now
    plan_paid_in_txn(tenant)
    db.session.expire(sub)


def subscribe_free_in_txn(tenant: Tenant, plan: Plan, now: datetime | None = None) -> None:
    """Start a new shop on a free plan its parent sells (no money moves; recorded as a
    payment of 0 so the plan's history reads like any other)."""
    now = now or utcnow()
    if plan.price != 0 or plan.tenant_id != tenant.parent_id or not plan.active:
        raise InvalidInput(_l("your parent shop offers no such plan"), field="plan")
    end = period_end(now, plan.interval)
    sub = Subscription(tenant_id=tenant.id, plan_id=plan.id, status="active",
                       current_period_end=end, auto_renew=True)
    db.session.add(sub)
    db.session.flush()
    db.session.add(PlanPayment(tenant_id=tenant.id, subscription_id=sub.id, plan_id=plan.id,
                               key=f"plan:{tenant.id}:{plan.id}:free:{now:%Y%m%dT%H%M%S%f}",
                               method="grant", amount=0, currency=tenant.currency,
                               period_start=now, period_end=end))


def grant_plan(tenant: Tenant, plan_id: int, until: datetime | None = None,
               now: datetime | None = None) -> Subscription:
    """The master gives a shop a plan without payment (a trial, a deal); commits."""
    now = now or utcnow()
    plan = get_plan(plan_id)
    if tenant.parent_id is None or plan.tenant_id != tenant.parent_id:
        raise NotFound(_l("the shop's parent offers no such plan"), field="plan")
    end = until or period_end(now, plan.interval)
    if end <= now:
        raise InvalidInput(_l("the plan must run until a future date"), field="until")
    sub = subscription_of(tenant)
    if sub is None:
        sub = Subscription(tenant_id=tenant.id, plan_id=plan.id, status="active",
                           current_period_end=end)
        db.session.add(sub)
        db.session.flush()
    _activate(tenant, sub, plan, end)
    db.session.add(PlanPayment(tenant_id=tenant.id, subscription_id=sub.id, plan_id=plan.id,
                               key=f"plan:{tenant.id}:{plan.id}:grant:{now:%Y%m%dT%H%M%S%f}",
                               method="grant", amount=0, currency=tenant.currency,
                               period_start=now, period_end=end))
    db.session.commit()
    return subscription_of(tenant)


def set_auto_renew(tenant: Tenant, on: bool) -> Subscription:
    sub = subscription_of(tenant)
    if sub is None:
        raise NotFound(_l("this shop has no plan"))
    sub.auto_renew = bool(on)
    db.session.commit()
    return sub


@dataclass(frozen=True)
class _Charge:
    """What the Stripe calls need, read before the transaction ends."""

    tenant_id: int
    slug: str
    currency: str
    plan_id: int
    plan_code: str
    amount: int
    customer: str | None


def _card_customer(charge: _Charge, payment_method: str, saved: bool) -> str:
    """The shop's Stripe Customer, with the card attached so renewals can reuse it."""
    import stripe

    from kameng.billing.payments.stripe_provider import client

    customer = charge.customer
    try:
        if customer is None:
            customer = client().v1.customers.create(
                params={"metadata": {"tenant_id": str(charge.tenant_id), "slug": charge.slug}},
                options={"idempotency_key": f"kameng:customer:{charge.tenant_id}"}).id
        if not saved:
            client().v1.payment_methods.attach(payment_method, params={"customer": customer})
    except stripe.StripeError as err:
        raise Conflict(_l("the card could not be saved: "
                          "%(reason)s",
                          reason=getattr(err, 'user_message', None) or err.__class__.__name__),
                       code="payment_failed", status=402) from None
    return customer


def _charge_card(charge: _Charge, payment_method: str, key: str,
                 customer: str | None = None, off_session: bool = False) -> str:
    import stripe

    from kameng.billing.payments.stripe_provider import client

    params = {"amount": charge.amount, "currency": charge.currency,
              "payment_method": payment_method, "confirm": True,
              "payment_method_types": ["card"],
              "metadata": {"tenant_id": str(charge.tenant_id), "plan_id": str(charge.plan_id),
                           "kind": "plan", "plan": charge.plan_code}}
    if customer:
        params["customer"] = customer
    if off_session:
        params["off_session"] = True  # a renewal: the owner is not there to confirm
    try:
        intent = client().v1.payment_intents.create(params=params,
                                                    options={"idempotency_key": key})
    except stripe.StripeError as err:
        raise Conflict(_l("the card was not charged: "
                          "%(reason)s",
                          reason=getattr(err, 'user_message', None) or err.__class__.__name__),
                       code="payment_failed", status=402) from None
    if intent.status != "succeeded":
        raise Conflict(_l("the card payment is %(intent_status)s",
                          intent_status=intent.status), code="payment_failed",
                       status=402)
    return intent.id


def payments_of(tenant: Tenant, limit: int = 50) -> list[PlanPayment]:
    with all_tenants():
        return list(db.session.scalars(select(PlanPayment)
                                       .where(PlanPayment.tenant_id == tenant.id)
                                       .order_by(PlanPayment.id.desc()).limit(limit)))


# ----- renewal, grace, expiry ------------------------------------------------------------

def sweep_subscriptions(now: datetime | None = None) -> dict:
    """Renew (auto, from the balance) or start the grace period of lapsed plans;
    expire those past grace and suspend their shops."""
    now = now or utcnow()
    grace_days = billing_settings.platform_settings().plan_grace_days
    counts = {"renewed": 0, "grace": 0, "expired": 0}
    with all_tenants():
        lapsed = list(db.session.scalars(select(Subscription).where(
            Subscription.status == "active", Subscription.current_period_end <= now)))
        for sub in lapsed:
            tenant = db.session.get(Tenant, sub.tenant_id)
            plan = get_plan(sub.plan_id)
            if sub.auto_renew and plan.active:
                if _auto_renew(tenant, sub, plan, now):
                    counts["renewed"] += 1
                    continue
            result = db.session.execute(
                update(Subscription).where(Subscription.id == sub.id,
                                           Subscription.status == "active",
                                           Subscription.current_period_end <= now)
                .values(status="grace",
                        grace_until=sub.current_period_end + timedelta(days=grace_days))
                .execution_options(synchronize_session=False))
            db.session.commit()
            counts["grace"] += result.rowcount
        overdue = list(db.session.scalars(select(Subscription).where(
            Subscription.status == "grace", Subscription.grace_until <= now)))
        for sub in overdue:
            tenant = db.session.get(Tenant, sub.tenant_id)
            close = tenant.status == "active"
            result = db.session.execute(
                update(Subscription).where(Subscription.id == sub.id,
                                           Subscription.status == "grace")
                .values(status="expired", suspended_by_plan=close)
                .execution_options(synchronize_session=False))
            if result.rowcount == 1:
                if close:
                    tenant.status = "suspended"  # storefront: 503 "temporarily closed"
                counts["expired"] += 1
            db.session.commit()
    return counts


def _auto_renew(tenant: Tenant, sub: Subscription, plan: Plan, now: datetime) -> bool:
    """From the balance first, else from the saved card; False starts the grace period."""
    try:
        pay_plan(tenant, plan.id, "balance", now=now, auto=True)
        return True
    except ServiceError:
        db.session.rollback()
    if not sub.card_payment_method:
        return False
    try:
        pay_plan(tenant, plan.id, "card", payment_method=sub.card_payment_method, now=now,
                 auto=True)
        return True
    except ServiceError:
        db.session.rollback()  # declined: the grace period starts, the owner is asked
        return False


def renewal_notice(tenant: Tenant) -> dict | None:
    """What the back office shows when the plan needs paying (grace or expired)."""
    sub = subscription_of(tenant)
    if sub is None or sub.status == "active":
        return None
    plan = get_plan(sub.plan_id)
    return {"status": sub.status, "plan": plan, "period_end": sub.current_period_end,
            "grace_until": sub.grace_until}


def _check_terms(name: str, price, max_markup_bp, max_staff) -> None:
    """What creating and editing a plan both refuse: a bad name, price or limit."""
    if not name or len(name) > 80:
        raise InvalidInput(_l("a plan needs a name (at most 80 characters)"), field="name")
    if isinstance(price, bool) or not isinstance(price, int) or price < 0 \
            or price > ledger.MAX_AMOUNT:
        raise InvalidInput(_l("price must be a non-negative amount in minor units"), field="price")
    for value, field in ((max_markup_bp, "max_markup_bp"), (max_staff, "max_staff")):
        if value is not None and (isinstance(value, bool) or not isinstance(value, int)
                                  or value < 0):
            raise InvalidInput(_l("%(field)s must be a non-negative whole number",
                                  field=field), field=field)
